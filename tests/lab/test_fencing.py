"""Fencing in the lab: link down on a hypervisor -> Pacemaker -> STONITH -> MAAS power-off.

The first tests are pure (relation-data parsing, the crm configuration hacluster would write,
MAAS OAuth). The rest bring up the lab hosts and the control side once (module fixture; needs
root) and fail hosts as the Charmed OpenStack guide does, printing a timeline per failure
(run with -s to see them). MASAKARI_LAB_RECORD=1 copies the crm_mon / fence-history XML
recorded during the run into tests/lab/recorded/.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from tests.lab import hosts, maas_emulator, pacemaker
from tests.lab.hosts import LabError

RECORDED = Path(__file__).parent / "recorded"
KEY = "consumer:token:secret"


# --------------------------------------------------------------------------- pure


def unit(**values) -> dict[str, str]:
    data = {
        "remote-hostname": json.dumps("virt-node-01.maas"),
        "remote-ip": json.dumps("10.213.0.101"),
        "stonith-hostname": json.dumps("virt-node-01.maas"),
        "enable-resources": json.dumps(False),
    }
    data.update(values)
    return data


def test_relation_values_decode_as_hacluster_does():
    assert pacemaker.parse_relation_value("u/0", "k", '"virt-node-01.maas"') == "virt-node-01.maas"
    assert pacemaker.parse_relation_value("u/0", "k", "'legacy literal'") == "legacy literal"
    assert pacemaker.parse_relation_value("u/0", "k", "True") is True
    assert pacemaker.parse_relation_value("u/0", "k", "null") is None
    assert pacemaker.parse_relation_value("u/0", "k", None) is None


@pytest.mark.parametrize(
    "key,raw,expected",
    [
        ("remote-ip", "10.213.0.101", "remote-ip='10.213.0.101' is neither JSON"),
        ("remote-hostname", "virt-node-01.maas", "json.dumps"),
        ("remote-ip", '"not-an-ip"', "must be the IP address"),
        ("enable-resources", '"false"', "must be JSON true or false"),
        ("remote-hostname", '"virt-node-01"', "must be the host's FQDN"),
    ],
)
def test_bad_relation_data_names_unit_key_and_fix(key, raw, expected):
    with pytest.raises(LabError) as err:
        pacemaker.parse_remote_units({"pacemaker-remote/3": unit(**{key: raw})})
    assert "pacemaker-remote/3" in str(err.value)
    assert expected in str(err.value)


def test_crm_configuration_is_what_hacluster_creates():
    remotes = pacemaker.parse_remote_units(
        {
            "pacemaker-remote/0": unit(),
            "pacemaker-remote/1": unit(
                **{
                    "remote-hostname": '"virt-node-10.maas"',
                    "remote-ip": '"10.213.0.110"',
                    "stonith-hostname": '"virt-node-10.maas"',
                }
            ),
            "pacemaker-remote/2": {"remote-ip": '"10.213.0.102"'},  # not ready: skipped
        }
    )
    text = pacemaker.crm_configuration(
        remotes,
        "http://10.213.0.1:5240/MAAS",
        KEY,
        pacemaker.ClusterSettings(monitor_interval="30s", monitor_timeout=None),
    )
    lines = text.splitlines()
    assert (
        "primitive virt-node-01.maas ocf:pacemaker:remote params server=10.213.0.101 "
        "reconnect_interval=60 op monitor interval=30s"
    ) in lines
    assert (
        "primitive st-maas stonith:external/maas params url='http://10.213.0.1:5240/MAAS' "
        "apikey='consumer:token:secret' hostnames='virt-node-01 virt-node-01.maas "
        "virt-node-10 virt-node-10.maas' op monitor interval=25 start-delay=25 timeout=25"
    ) in lines
    assert "location loc-st-maas-lab-control st-maas 0: lab-control" in lines
    assert "location loc-virt-node-10.maas-lab-control virt-node-10.maas 200: lab-control" in lines
    properties = lines[0]
    assert "symmetric-cluster=false" in properties
    assert "stonith-enabled=true" in properties
    assert "virt-node-02" not in text


def test_no_stonith_hostname_means_no_st_maas_and_stonith_disabled():
    remotes = pacemaker.parse_remote_units(
        {"pacemaker-remote/0": unit(**{"stonith-hostname": "null", "enable-resources": "true"})}
    )
    text = pacemaker.crm_configuration(remotes, "http://x/MAAS", KEY, pacemaker.ClusterSettings())
    assert "st-maas" not in text
    assert "stonith-enabled=false" in text
    assert "symmetric-cluster=true" in text
    assert "location" not in text


def test_maas_oauth_plaintext_is_checked():
    libmaas_style = (
        'OAuth realm="OAuth", oauth_nonce="1", oauth_timestamp="2", '
        'oauth_version="1.0", oauth_signature_method="PLAINTEXT", '
        'oauth_consumer_key="consumer", oauth_token="token", '
        'oauth_signature="%26secret"'
    )
    assert maas_emulator.check_auth(libmaas_style, KEY) == 0
    assert maas_emulator.check_auth(libmaas_style.replace("%26secret", "&secret"), KEY) == 0
    assert maas_emulator.check_auth(libmaas_style.replace("secret", "guess"), KEY) == 401
    assert maas_emulator.check_auth(None, KEY) == 401
    assert maas_emulator.check_auth(libmaas_style.replace("PLAINTEXT", "HMAC-SHA1"), KEY) == 400


def test_plan_gives_stable_addresses_and_rejects_bad_names():
    lab = hosts.plan(hosts.DEFAULT_HOSTS, "10.213.0.0/24")
    assert [h.ip for h in lab.hosts] == ["10.213.0.101", "10.213.0.102", "10.213.0.110"]
    assert lab.control_ip == "10.213.0.1"
    with pytest.raises(LabError, match="lower-case FQDN"):
        hosts.plan(["Virt_Node"], "10.213.0.0/24")
    with pytest.raises(LabError, match="private IPv4"):
        hosts.plan(hosts.DEFAULT_HOSTS, "8.8.8.0/24")


# --------------------------------------------------------------------------- the lab

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (namespaces)")


@pytest.fixture(scope="module")
def lab():
    if hosts.is_up():
        pytest.fail("a lab is already up here; run `python -m tests.lab.pacemaker down` first")
    t0 = time.monotonic()
    try:
        created = hosts.up()
        timings = pacemaker.up()
    except LabError as err:
        pacemaker.down()
        pytest.fail(err.report())
    print(f"\nlab up in {time.monotonic() - t0:.1f}s ({timings})")
    pacemaker.record("crm_mon-all-online", pacemaker.crm_mon_xml())
    pacemaker.record(
        f"crm_mon-all-online-seen-from-{created.hosts[1].short}",
        pacemaker.crm_mon_from_host(created.hosts[1]),
    )
    before = pacemaker.resource_usage()
    time.sleep(10)
    after = pacemaker.resource_usage()
    print(
        f"idle: {after['processes']} processes, RSS {after['rss_mib']:.0f} MiB, "
        f"PSS {after['pss_mib']:.0f} MiB, CPU "
        f"{100 * (after['cpu_seconds'] - before['cpu_seconds']) / 10:.1f}% of one core"
    )
    yield created
    usage = pacemaker.resource_usage()
    print(
        f"\nat the end: {usage['processes']} processes, RSS {usage['rss_mib']:.0f} MiB, "
        f"CPU {usage['cpu_seconds']:.1f}s used by the lab daemons still running"
    )
    if os.environ.get("MASAKARI_LAB_RECORD") == "1":
        RECORDED.mkdir(exist_ok=True)
        for path in pacemaker.RECORD_DIR.glob("*.xml"):
            shutil.copy(path, RECORDED / path.name)
    t1 = time.monotonic()
    notes = pacemaker.down()
    print(f"\nlab down in {time.monotonic() - t1:.1f}s {notes or ''}")
    assert hosts.leftovers() == []


def check_fence_order(timeline: pacemaker.Timeline, latency: float) -> None:
    """Offline/unclean, fence requested, powered off, and only then fence confirmed."""
    print("\n" + timeline.render())
    injected = timeline.marks[0][0]
    offline = timeline.first("offline in crm_mon (unclean=true)")
    requested = timeline.first("fence requested")
    power_off_requested = timeline.first("MAAS power_off_requested")
    powered_off = timeline.first("MAAS powered_off")
    confirmed = timeline.first("fence confirmed by fencer")
    fenced = timeline.first("fenced in crm_mon")
    assert None not in (offline, requested, power_off_requested, powered_off, confirmed, fenced), (
        timeline.render()
    )
    assert injected < offline <= fenced
    assert injected < requested <= power_off_requested
    assert powered_off - power_off_requested >= latency - 0.1  # the BMC's delay was honoured
    assert powered_off < confirmed <= fenced + 0.3  # never confirmed before the power is off
    assert timeline.first("MAAS powered_on") > powered_off
    assert timeline.first("rejoined") > fenced


def fence_events(name: str) -> list[dict]:
    text = (pacemaker.RECORD_DIR / f"fence-history-{name}.xml").read_text()
    root = pacemaker.ET.fromstring(text)  # noqa: S314 - our own stonith_admin output
    return [dict(e.attrib) for e in root.iter("fence_event")]


@needs_root
def test_lab_hosts_are_namespaced_and_named(lab):
    for host in lab.hosts:
        out = hosts.run(
            host,
            [
                "sh",
                "-c",
                "hostname; python3 -c 'import socket; print(socket.getfqdn())'; ip -4 -o route",
            ],
        ).stdout
        name, fqdn, *routes = out.splitlines()
        assert name == fqdn == host.fqdn
        assert len(routes) == 1 and routes[0].startswith(f"{lab.subnet} dev eth0")  # no exit
        assert hosts.run(host, ["test", "-s", "/etc/pacemaker/authkey"]).returncode == 0
        assert hosts.run(
            host, ["stat", "-c", "%a %U %G", "/etc/pacemaker/authkey"]
        ).stdout.split() == ["440", "root", "haclient"]
    # The authkey went into the host's own /etc, not the machine's.
    assert (
        not Path("/etc/pacemaker/authkey").exists()
        or Path("/etc/pacemaker/authkey").read_bytes()
        != (hosts.RUN / "control/etc-pacemaker/authkey").read_bytes()
    )
    # What masakari-hostmonitor runs on a compute host: rc 0, nothing on stderr, all remotes.
    seen = hosts.run(lab.hosts[0], ["crm_mon", "-X"], check=False)
    assert (seen.returncode, seen.stderr) == (0, "")
    states = pacemaker.node_states(seen.stdout)
    assert all(
        states[h.fqdn]["type"] == "remote" and states[h.fqdn]["online"] == "true"
        for h in lab.hosts
    )
    listening = hosts.sh(["ss", "-ltnH", "sport", "=", ":5240"])
    assert f"{lab.control_ip}:5240" in listening and "0.0.0.0:5240" not in listening


@needs_root
def test_link_down_is_fenced_through_maas_and_host_rejoins(lab):
    host = lab.host("virt-node-01.maas")
    timeline = pacemaker.fail_and_watch(host, "link-down")
    check_fence_order(timeline, maas_emulator.DEFAULT_POWER_OFF_LATENCY)
    assert timeline.first("fence confirmed") - timeline.marks[0][0] < 45
    events = fence_events("link-down")
    assert [(e["status"], e["action"]) for e in events] == [("success", "reboot")]
    assert events[0]["target"] == host.fqdn
    assert hosts.daemon_pid(host, pacemaker.REMOTE_SERVICE)  # booted again


@needs_root
def test_slow_bmc_12s_fence_waits_for_power_off(lab):
    host = lab.host("virt-node-02.maas")
    maas_emulator.set_faults(power_off_latency=12)
    try:
        timeline = pacemaker.fail_and_watch(host, "bmc-delay-12s")
    finally:
        maas_emulator.set_faults(power_off_latency=maas_emulator.DEFAULT_POWER_OFF_LATENCY)
    check_fence_order(timeline, 12)
    assert timeline.first("fence confirmed") - timeline.first("fence requested") >= 12


@needs_root
def test_maas_503_for_a_while_is_retried_until_power_off(lab):
    host = lab.host("virt-node-10.maas")
    maas_emulator.set_faults(unavailable_for=20)
    timeline = pacemaker.fail_and_watch(host, "maas-503")
    check_fence_order(timeline, maas_emulator.DEFAULT_POWER_OFF_LATENCY)
    answered_503 = [t for t, what in timeline.marks if what == "MAAS answered_503"]
    assert answered_503 and max(answered_503) < timeline.first("MAAS power_off_requested")
    assert timeline.first("fence attempt failed") < timeline.first("fence confirmed")
    statuses = [e["status"] for e in fence_events("maas-503")]
    assert statuses[0] == "success" and "failed" in statuses[1:]  # newest first
    # Recorded while MAAS still answered 503: failed attempts and the retry in progress.
    failing = fence_events("maas-503-while-failing")
    assert all(e["target"] == host.fqdn for e in failing)
    assert "failed" in {e["status"] for e in failing}
    assert "success" not in {e["status"] for e in failing}


@needs_root
def test_host_that_never_comes_back_is_reported(lab):
    host = lab.host("virt-node-01.maas")
    maas_emulator.set_faults(broken=[host.short])
    try:
        timeline = pacemaker.fail_and_watch(host, "never-back", rejoin=False)
        with pytest.raises(LabError) as err:
            pacemaker.wait_rejoin(host, timeline, timeout=10)
        assert err.value.step == f"power on {host.fqdn}"
        assert "power_on_ignored" in err.value.log_tail  # the emulator's last events
        assert hosts.processes(host) == []
    finally:
        maas_emulator.set_faults(broken=[])
    # The operator powers it on through the fencing device (the plugin's `on`); it takes the
    # emulated machine 3 s to boot.
    maas_emulator.set_faults(boot_delay=3)
    try:
        pacemaker.control_run(["stonith_admin", "--unfence", host.fqdn], timeout=60)
        pacemaker.wait_rejoin(host, timeline, timeout=60)
    finally:
        maas_emulator.set_faults(boot_delay=0)
    print("\n" + timeline.render())
    [on_requested] = [
        e["t"]
        for e in maas_emulator.events(timeline.t0)
        if e["event"] == "power_on_requested" and e["machine"] == host.short
    ][1:]
    [booted] = [
        e["t"]
        for e in maas_emulator.events(timeline.t0)
        if e["event"] == "powered_on" and e["machine"] == host.short
    ]
    assert booted - on_requested >= 3


@needs_root
def test_fence_that_fails_is_reported_with_the_plugin_log(lab):
    host = lab.host("virt-node-02.maas")
    maas_emulator.set_faults(unavailable_for=600)
    try:
        with pytest.raises(LabError) as err:
            pacemaker.fail_and_watch(host, "fence-fails", fence_timeout=15)
    finally:
        maas_emulator.set_faults(unavailable_for=0)
    assert err.value.step == f"fence {host.fqdn}"
    assert "HTTP 503" in err.value.log_tail  # the plugin's own words, from its log
    assert "fence attempt failed" in err.value.message  # the timeline so far
    print("\n" + err.value.report())
    # MAAS is back: Pacemaker's next retry fences the host, which then rejoins.
    pacemaker.wait_for(
        "fence after MAAS is back",
        lambda: pacemaker.node_states().get(host.fqdn, {}).get("unclean") == "false",
        60,
    )
    assert hosts.power_state(host) == "on"  # reset: powered off, then on again
    pacemaker.wait_rejoin(host, timeout=60)


@needs_root
def test_python_libmaas_client_works_against_the_emulator(lab):
    """The client library hacluster's real plugin uses (PyPI python-libmaas) talks to it."""
    client = pytest.importorskip("maas.client", reason="python-libmaas is not installed")
    host = lab.host("virt-node-10.maas")
    maas = client.connect(maas_emulator.url(lab), apikey=maas_emulator.credentials())
    assert maas.version.get().version == maas_emulator.MAAS_VERSION
    [machine] = maas.machines.list(hostnames=[host.fqdn])  # libmaas sends the short name
    assert (machine.hostname, machine.system_id) == (
        host.short,
        maas_emulator.system_id(host.fqdn),
    )
    assert machine.power_state.value == "on"
    assert machine.query_power_state().value == "on"
    stranger = client.connect(maas_emulator.url(lab), apikey="a:b:c")
    with pytest.raises(Exception, match="401"):
        stranger.machines.list(hostnames=[host.fqdn])
