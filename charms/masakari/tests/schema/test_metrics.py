"""masakari_metrics against a database Masakari's own `db sync` made and a loopback Keystone/Nova
(hostmonitor's stub, real keystoneauth1): the exposition is parsed with prometheus_client's own
parser, as Prometheus would read it. Runs in tox's `latest` env (Masakari 22's db sync)."""

from __future__ import annotations

import datetime
import importlib.util
import pathlib
import urllib.request

import masakari_metrics as metrics
import pytest
from masakari_db import add_notification, connect
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

ROOT = pathlib.Path(__file__).resolve().parents[4]
_spec = importlib.util.spec_from_file_location(
    "openstack_stub", ROOT / "hostmonitor/tests/openstack_stub.py"
)
openstack_stub = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(openstack_stub)

PASSWORD = "pa$ss word"  # masakari.conf holds it as pa$$ss word (oslo's escape)


@pytest.fixture(scope="module")
def cloud(masakari_conf):
    """Two segments, three notifications and a running one; Nova with a host in no segment."""
    from sqlalchemy import text

    now = metrics.recovery.utcnow()
    with connect(masakari_conf) as connection:
        for uuid, name, method in (("s-1", "S1", "reserved_host"), ("s-2", "S 2", "auto")):
            connection.execute(text(
                "INSERT INTO failover_segments (deleted, uuid, name, service_type, "
                "recovery_method) VALUES (0, :u, :n, 'COMPUTE', :m)"
            ), {"u": uuid, "n": name, "m": method})  # fmt: skip
        for uuid, name, segment, reserved, maintenance in (
            ("h-1", "virt-node-01.maas", "s-1", False, False),
            ("h-2", "virt-node-02.maas", "s-1", True, True),  # reserved, but on maintenance
            ("h-3", "virt-node-03.maas", "s-2", False, True),
        ):  # fmt: skip
            connection.execute(text(
                "INSERT INTO hosts (deleted, uuid, name, reserved, type, control_attributes, "
                "failover_segment_id, on_maintenance) VALUES (0, :u, :n, :r, 'COMPUTE', 'SSH', "
                ":s, :m)"
            ), {"u": uuid, "n": name, "r": reserved, "s": segment, "m": maintenance})  # fmt: skip
        # add_notification: generated 5 s before its last update.
        add_notification(connection, "quick", "finished", now - datetime.timedelta(hours=2))
        add_notification(connection, "failed", "failed", now - datetime.timedelta(hours=1))
        add_notification(connection, "running", "running", now - datetime.timedelta(minutes=9))
        connection.execute(
            text("UPDATE notifications SET generated_time = :g WHERE notification_uuid = 'quick'"),
            {"g": now - datetime.timedelta(hours=2, seconds=100)},
        )  # a 100 s recovery
    with openstack_stub.OpenStackStub() as stub:
        del stub.services["rem1"]
        for host in ("virt-node-01.maas", "virt-node-02.maas", "virt-node-03.maas",
                     "virt-node-10.maas"):  # fmt: skip
            stub.add_service(host)
        conf = pathlib.Path(masakari_conf)
        conf.write_text(
            conf.read_text() + "[DEFAULT]\nnova_catalog_admin_info = compute:nova:internalURL\n"
            f"[keystone_authtoken]\nauth_url = {stub.url}/v3\nusername = masakari\n"
            f"password = {PASSWORD.replace('$', '$$')}\nproject_name = services\n"
            "user_domain_name = service_domain\nproject_domain_name = service_domain\n"
            "region_name = RegionOne\n"
        )
        yield stub, masakari_conf


def scrape(registry) -> dict[str, dict[tuple, float]]:
    """{sample name: {sorted label items: value}} from the text exposition."""
    found: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def test_the_exposition_shows_notifications_segments_and_unprotected_hosts(cloud):
    stub, conf = cloud
    got = scrape(metrics.registry_for(conf))
    assert got["masakari_up"] == {(): 1.0}
    notifications = got["masakari_notifications"]
    assert notifications[(("status", "failed"), ("type", "COMPUTE_HOST"))] == 1
    assert notifications[(("status", "finished"), ("type", "COMPUTE_HOST"))] == 1
    assert notifications[(("status", "failed"), ("type", "VM"))] == 0  # exported, as 0
    # The 100 s recovery: in the 120 s bucket, not the 60 s one.
    buckets = got["masakari_recovery_duration_seconds_bucket"]
    assert buckets[(("le", "60.0"), ("type", "COMPUTE_HOST"))] == 0
    assert buckets[(("le", "120.0"), ("type", "COMPUTE_HOST"))] == 1
    assert buckets[(("le", "+Inf"), ("type", "COMPUTE_HOST"))] == 1
    assert got["masakari_recovery_duration_seconds_sum"] == {(("type", "COMPUTE_HOST"),): 100.0}
    assert got["masakari_notifications_running"] == {(): 1.0}
    age = got["masakari_oldest_running_notification_age_seconds"][()]
    assert 9 * 60 + 5 - 30 < age < 9 * 60 + 5 + 30  # generated 9 min 5 s ago
    assert got["masakari_segments"][(("recovery_method", "reserved_host"),)] == 1
    assert got["masakari_segments"][(("recovery_method", "rh_priority"),)] == 0
    assert got["masakari_segment_hosts"] == {(("segment", "S 2"),): 1, (("segment", "S1"),): 2}
    assert got["masakari_hosts_on_maintenance"] == {
        (("segment", "S 2"),): 1, (("segment", "S1"),): 1,
    }  # fmt: skip
    # S1's only reserved host is on maintenance: nothing left to evacuate to.
    assert got["masakari_segment_reserved_hosts_available"] == {
        (("recovery_method", "auto"), ("segment", "S 2")): 0,
        (("recovery_method", "reserved_host"), ("segment", "S1")): 0,
    }
    assert got["masakari_nova_up"] == {(): 1.0}
    assert got["masakari_compute_hosts_in_no_segment"] == {(): 1.0}
    assert got["masakari_compute_host_in_no_segment"] == {(("host", "virt-node-10.maas"),): 1}
    # Nova was asked through its internal endpoint, with the service's token.
    (call,) = stub.calls("GET", "/compute/v2.1/os-services")
    assert call["query"] == {"binary": ["nova-compute"]}
    assert PASSWORD not in generate_latest(metrics.registry_for(conf)).decode()


def test_nova_is_asked_once_per_cache_time_and_its_failure_shows_as_nova_up_0(cloud):
    stub, conf = cloud
    now = [0.0]
    nova = metrics.NovaHosts(metrics.nova_compute_hosts(conf), ttl=60, clock=lambda: now[0])
    before = len(stub.calls("GET", "/compute/v2.1/os-services"))
    assert "virt-node-10.maas" in nova.hosts()
    now[0] = 59
    nova.hosts()
    assert len(stub.calls("GET", "/compute/v2.1/os-services")) == before + 1
    stub.nova_status = 503
    try:
        now[0] = 60
        assert nova.hosts() is None
    finally:
        stub.nova_status = 200
    from prometheus_client import CollectorRegistry
    from sqlalchemy import create_engine

    registry = CollectorRegistry(auto_describe=False)
    engine = create_engine(metrics.recovery.database_url(conf))
    registry.register(metrics.MasakariCollector(engine, nova))
    got = scrape(registry)
    assert got["masakari_nova_up"] == {(): 0.0}
    assert "masakari_compute_hosts_in_no_segment" not in got  # unknown, not 0


def test_an_unreadable_database_shows_as_masakari_up_0_and_nothing_else(tmp_path):
    conf = tmp_path / "masakari.conf"
    conf.write_text(f"[database]\nconnection = sqlite:///{tmp_path}/missing/masakari.db\n")
    got = scrape(metrics.registry_for(str(conf), with_nova=False))
    assert got == {"masakari_up": {(): 0.0}}


def test_the_service_serves_the_metrics_over_http(cloud):
    """main()'s server, as the systemd unit starts it, on a free loopback port."""
    import socket
    import threading

    _, conf = cloud
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = threading.Thread(
        target=metrics.main,
        args=(["--config-file", conf, "--address", "127.0.0.1", "--port", str(port)],),
        daemon=True,
    )
    server.start()
    for _ in range(100):
        try:
            body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
            break
        except OSError:
            threading.Event().wait(0.05)
    families = {f.name for f in text_string_to_metric_families(body.decode())}
    assert {"masakari_up", "masakari_notifications", "masakari_segments"} <= families
