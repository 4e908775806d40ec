"""The driver's Prometheus metrics, from recorded crm_mon documents through the real driver, its
sender and the loopback Keystone/Nova/Masakari; the exposition parsed by prometheus_client."""

import socket
import time
import urllib.request

import pytest
from conftest import doc_time, recording
from masakari_fence_confirmed.driver import CONF, FenceConfirmedDriver
from masakari_fence_confirmed.metrics import Metrics
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from test_driver import Replay, run_to_report, wait_for


def scrape(metrics: Metrics) -> dict[str, dict[tuple, float]]:
    found: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(generate_latest(metrics.registry).decode()):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def replay(scenario: str, metrics: Metrics, observer: str = "rem2") -> tuple[Replay, object]:
    docs = Replay(recording(scenario, observer))
    driver = FenceConfirmedDriver(
        crm_mon=docs, hostname=observer, clock=lambda: docs.now, metrics=metrics
    )
    return docs, driver


def test_a_confirmed_failure_counts_one_confirmation_and_one_notification_sent(stub):
    metrics = Metrics()
    docs, driver = replay("clean", metrics)
    before = scrape(metrics)
    assert (
        before["masakari_hostmonitor_notifications_failed_total"][
            (("event", "STOPPED"), ("reason", "unreachable"))
        ]
        == 0
    )  # exported before any failure
    run_to_report(driver, 3)
    assert wait_for(lambda: scrape(metrics)["masakari_hostmonitor_notifications_sent_total"][
        (("event", "STOPPED"),)] == 1)  # fmt: skip
    got = scrape(metrics)
    assert got["masakari_hostmonitor_last_round_timestamp_seconds"] == {(): docs.now}
    assert got["masakari_hostmonitor_fence_confirmations_total"] == {(("peer", "rem1"),): 1}
    assert got["masakari_hostmonitor_peers_offline"] == {(): 1}
    assert "masakari_hostmonitor_fence_wait_seconds" not in got  # confirmed: nobody waits
    run_to_report(driver, 2)  # the reconnect flaps: the same episode, counted once
    assert scrape(metrics)["masakari_hostmonitor_fence_confirmations_total"] == {
        (("peer", "rem1"),): 1
    }


def test_a_failing_fence_shows_how_long_the_peer_has_waited(stub):
    metrics = Metrics()
    docs = recording("failed", "rem2")
    _, driver = replay("failed", metrics)
    waits = []
    for _ in docs:
        driver.poll_once()
        waits.append(scrape(metrics).get("masakari_hostmonitor_fence_wait_seconds", {}))
    # Up in the first document; from the first one where rem1 is not up, the wait grows with the
    # documents' own clock (crm_mon's last_update), and no fence is ever confirmed.
    first_down = next(i for i, w in enumerate(waits) if w)
    assert waits[first_down] == {(("peer", "rem1"),): 0.0}
    assert waits[-1] == {
        (("peer", "rem1"),): doc_time(docs[-1][1]) - doc_time(docs[first_down][1])
    }
    assert "masakari_hostmonitor_fence_confirmations_total" not in scrape(metrics)


@pytest.mark.parametrize(("status", "reason"), [(400, "rejected"), (409, "duplicate"),
                                                (500, "unreachable")])  # fmt: skip
def test_a_notification_masakari_does_not_accept_counts_as_failed_with_its_reason(
    stub,
    status,
    reason,
):
    stub.notification_status = status
    metrics = Metrics()
    _, driver = replay("clean", metrics)
    run_to_report(driver, 3)
    failed = (("event", "STOPPED"), ("reason", reason))
    assert wait_for(
        lambda: scrape(metrics)["masakari_hostmonitor_notifications_failed_total"][failed] == 1
    )
    assert scrape(metrics)["masakari_hostmonitor_notifications_sent_total"] == {
        (("event", "STOPPED"),): 0, (("event", "STARTED"),): 0,
    }  # fmt: skip


def test_monitor_hosts_serves_the_metrics_on_the_configured_address_and_port(stub):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    CONF.set_override("metrics_port", port, group="fence_confirmed")
    CONF.set_override("metrics_address", "127.0.0.1", group="fence_confirmed")
    docs = recording("clean", "rem2")
    polls = []

    def crm_mon():
        polls.append(1)
        if len(polls) == 2:
            body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
            polls.append(body.decode())
            driver.stop()
        return docs[min(len(polls), len(docs)) - 1][1]

    try:
        driver = FenceConfirmedDriver(crm_mon=crm_mon, hostname="rem2")
        driver.monitor_hosts()
    finally:
        CONF.clear_override("metrics_port", group="fence_confirmed")
        CONF.clear_override("metrics_address", group="fence_confirmed")
    families = {f.name: f for f in text_string_to_metric_families(polls[2])}
    (interval,) = families["masakari_hostmonitor_round_interval_seconds"].samples
    assert interval.value == 1  # [host] monitoring_interval of the test config
    (last,) = families["masakari_hostmonitor_last_round_timestamp_seconds"].samples
    assert abs(last.value - time.time()) < 30  # the first round, a moment ago


def test_the_driver_runs_without_prometheus_client(stub, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_prometheus(name, *args, **kwargs):
        if name.startswith("prometheus_client"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_prometheus)
    docs = Replay(recording("clean", "rem2"))
    driver = FenceConfirmedDriver(crm_mon=docs, hostname="rem2", clock=lambda: docs.now)
    assert [r.hostname for r in run_to_report(driver, 3)] == ["rem1"]
    assert wait_for(lambda: stub.calls("POST", "/instance-ha/v1/notifications"))
