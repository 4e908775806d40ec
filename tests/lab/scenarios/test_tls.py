"""TLS end to end: the Masakari API served with the lab vault's certificate, https endpoints in
keystone, the monitors notifying over https with vault's CA, and a renewal during a failover.

The lab relates masakari and masakari-monitors to its vault stand-in (tests/lab/vault.py) as
the shipped overlay relates them to vault; every client here trusts only that CA.
"""

from __future__ import annotations

import json
import socket
import threading

from .. import deploy, hosts, procs, services, settings
from .. import scenario_steps as lab
from ..vault import lab_ca, served_certificate

FAILED = settings.FAILED_HOST
OTHERS = [h for h in settings.COMPUTE_HOSTS if h != FAILED]
MONITORS_CA = "/etc/masakarimonitors/keystone-ca.pem"  # the monitors charm's KEYSTONE_CA


def test_the_api_is_https_with_vaults_certificate_and_the_monitors_trust_it(clean):
    endpoints = json.loads(
        lab.openstack("endpoint", "list", "--service", "instance-ha", "-f", "json")
    )
    urls = {e["Interface"]: e["URL"] for e in endpoints}
    assert set(urls) == {"public", "internal", "admin"}
    assert all(url.startswith(f"https://{settings.IP}:") for url in urls.values()), urls

    cert = served_certificate()
    issuer = dict(pair[0] for pair in cert["issuer"])
    assert issuer["commonName"].startswith("Vault Root Certificate Authority")
    assert ("IP Address", settings.IP) in cert["subjectAltName"]
    print(f"API: {urls['public']} served {cert['tls_version']}, issued by {issuer['commonName']}")

    # Plain HTTP on the https port gets no API answer (apache speaks TLS only).
    with socket.create_connection((settings.IP, settings.MASAKARI_PUBLIC_PORT), timeout=10) as s:
        s.sendall(b"GET /v1/ HTTP/1.0\r\n\r\n")
        reply = s.recv(4096)
    assert b'"versions"' not in reply and b"200 OK" not in reply

    # Every hypervisor's monitors hold vault's CA for the API's certificate.
    ca = lab_ca().read_text()
    for host in hosts.load().hosts:
        held = hosts.run(host, ["cat", MONITORS_CA], input=b"", check=False).stdout.decode()
        assert held.strip() == ca.strip(), f"{host.fqdn}: {MONITORS_CA} is not vault's CA"


def test_renewals_during_a_failover_lose_no_notification(clean):
    """vault reissues the API's certificate again and again while a hypervisor fails: every
    renewal restarts apache, and the monitors' notification still arrives once and recovers."""
    admin = clean
    segment = lab.make_segment(admin, "S1", "auto", settings.COMPUTE_HOSTS)
    (server_id,) = lab.boot(admin, "tls-1", FAILED)
    before = served_certificate()["serialNumber"]
    known = {n["notification_uuid"] for n in admin.ha("GET", "/notifications")["notifications"]}
    tl = lab.LiveTimeline("certificate renewals during a failover")
    stop, renewals, errors = threading.Event(), [], []

    def renew() -> None:
        try:
            while not stop.is_set():
                deploy.renew_certificate(lab.admin_cloud(), services.load_secrets())
                # apache is restarting with it: the first handshake that succeeds shows it.
                serial = procs.wait_for(
                    "apache to serve the renewed certificate",
                    lambda: served_certificate()["serialNumber"],
                    timeout=60,
                    ignore=(OSError,),
                )
                renewals.append(serial)
                tl.mark(f"vault reissued the API's certificate (serial {renewals[-1]})")
        except Exception as error:  # noqa: BLE001 - re-raised in the test's thread
            errors.append(error)

    renewer = threading.Thread(target=renew, daemon=True)
    renewer.start()
    try:
        uuid = lab.link_down(admin, tl, FAILED)
    finally:
        stop.set()
        renewer.join(timeout=120)
    assert not errors, f"a renewal failed: {errors[0]!r}"
    lab.watch_failover(admin, tl, uuid, [server_id], set(OTHERS))
    lab.show_tables(segment, ["tls-1"])

    notifications = [
        n for n in admin.ha("GET", "/notifications")["notifications"]
        if n["notification_uuid"] not in known
    ]  # fmt: skip
    print(f"{len(renewals)} renewals while the host failed; {len(notifications)} notification(s)")
    assert len(renewals) >= 1
    assert len(notifications) == 1 and notifications[0]["status"] == "finished"
    after = served_certificate()["serialNumber"]
    assert after != before and after == renewals[-1]
