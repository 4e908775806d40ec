"""The driver as masakari-hostmonitor runs it: real [api] options, real keystoneauth and
openstacksdk clients, against a loopback Keystone/Nova/Masakari stand-in."""

import time

import masakarimonitors.conf
import pytest
from conftest import doc_time, recording
from masakari_fence_confirmed import nova
from masakari_fence_confirmed.driver import FenceConfirmedDriver, make_event
from masakari_fence_confirmed.tracker import STOPPED, Report

CONF = masakarimonitors.conf.CONF


class Replay:
    """crm_mon stand-in: hands out recorded documents one per call; its clock follows them."""

    def __init__(self, docs):
        self.docs = [doc for _, doc in docs]
        self.now = 0.0

    def __call__(self):
        doc = self.docs.pop(0)
        self.now = doc_time(doc)
        return doc

    def driver(self, hostname="rem2"):
        return FenceConfirmedDriver(crm_mon=self, hostname=hostname, clock=lambda: self.now)


def run_to_report(driver, polls):
    reports = []
    for _ in range(polls):
        reports += driver.poll_once()
    return reports


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_clean_failure_forces_down_then_notifies(stub):
    driver = Replay(recording("clean", "rem2")).driver()
    reports = run_to_report(driver, 3)
    assert [(r.hostname, r.event) for r in reports] == [("rem1", STOPPED)]
    assert wait_for(lambda: stub.calls("POST", "/instance-ha/v1/notifications"))

    (lookup,) = stub.calls("GET", "/compute/v2.1/os-services")
    assert lookup["query"] == {"host": ["rem1"], "binary": ["nova-compute"]}
    assert lookup["headers"]["OpenStack-API-Version"] == "compute 2.53"
    (put,) = stub.calls("PUT", "/compute/v2.1/os-services/")
    assert put["body"] == {"forced_down": True}
    assert put["headers"]["OpenStack-API-Version"] == "compute 2.53"
    assert stub.services["rem1"]["forced_down"] is True

    (post,) = stub.calls("POST", "/instance-ha/v1/notifications")
    assert put["at"] < post["at"]  # Nova knows the host is down before Masakari hears of it
    sent = post["body"]["notification"]
    assert sent["type"] == "COMPUTE_HOST" and sent["hostname"] == "rem1"
    assert sent["payload"] == {
        "event": "STOPPED",
        "cluster_status": "OFFLINE",
        "host_status": "NORMAL",
    }
    assert sent["generated_time"].startswith("2026-11-25T17:22:59")

    # The reconnect flaps that follow send nothing more.
    assert run_to_report(driver, 2) == []
    time.sleep(0.2)
    assert len(stub.calls("POST", "/instance-ha/v1/notifications")) == 1


def test_force_down_failure_still_notifies_a_confirmed_failure(stub):
    stub.nova_status = 503
    driver = Replay(recording("clean", "rem2")).driver()
    run_to_report(driver, 3)
    assert wait_for(lambda: stub.calls("POST", "/instance-ha/v1/notifications"))
    assert stub.services["rem1"]["forced_down"] is False


def test_unknown_compute_host_gives_a_clear_error(stub):
    stub.services.clear()
    with pytest.raises(nova.NovaError, match="no nova-compute service on host 'rem1'"):
        FenceConfirmedDriver(hostname="rem2")._force_down("rem1")


def test_failed_notification_never_blocks_monitoring(stub):
    stub.notification_status = 500
    stub.notification_delay = 0.5
    driver = Replay(recording("clean", "rem2")).driver()
    started = time.monotonic()
    reports = run_to_report(driver, 3)
    assert reports and time.monotonic() - started < 0.4  # the loop did not wait for the API
    # Retries happen in the background: 1 + api_retry_max attempts, api_retry_interval apart.
    assert wait_for(lambda: len(stub.calls("POST", "/instance-ha/v1/notifications")) == 3)
    time.sleep(1.5)
    assert len(stub.calls("POST", "/instance-ha/v1/notifications")) == 3


def test_duplicate_answer_stops_retrying(stub):
    stub.notification_status = 409
    driver = Replay(recording("clean", "rem2")).driver()
    run_to_report(driver, 3)
    assert wait_for(lambda: stub.calls("POST", "/instance-ha/v1/notifications"))
    time.sleep(1.5)
    assert len(stub.calls("POST", "/instance-ha/v1/notifications")) == 1


def test_failed_fence_sends_nothing(stub):
    driver = Replay(recording("failed", "rem2")).driver()
    assert run_to_report(driver, len(recording("failed", "rem2"))) == []
    time.sleep(0.2)
    assert stub.calls("PUT", "/compute") == [] and stub.calls("POST", "/instance-ha") == []


def test_crm_mon_failure_skips_the_round(stub):
    docs = iter([None, "garbage"])
    driver = FenceConfirmedDriver(crm_mon=lambda: next(docs), hostname="rem2")
    assert driver.poll_once() == [] and driver.poll_once() == []


def test_monitor_hosts_loops_until_stopped(stub):
    docs = recording("clean", "rem2")
    polls = []

    def crm_mon():
        polls.append(1)
        if len(polls) == 2:
            driver.stop()
        return docs[len(polls) - 1][1]

    driver = FenceConfirmedDriver(crm_mon=crm_mon, hostname="rem2")
    started = time.monotonic()
    driver.monitor_hosts()
    assert len(polls) == 2 and time.monotonic() - started >= 1.0  # [host] monitoring_interval


def test_started_event_matches_upstream_shape():
    event = make_event(Report("rem1", "STARTED", 1, 0.0))
    assert event["payload"] == {
        "event": "STARTED",
        "cluster_status": "ONLINE",
        "host_status": "NORMAL",
    }
    assert event["generated_time"].isoformat() == "1970-01-01T00:00:00"


@pytest.mark.parametrize("already_forced", [True, False])
def test_backup_report_checks_nova_first(stub, already_forced):
    stub.services["rem1"]["forced_down"] = already_forced
    driver = FenceConfirmedDriver(hostname="rem3")
    backup = Report("rem1", STOPPED, 1, 0.0, backup=True)
    assert driver.sender.deliver(backup, lambda: True) is not already_forced
    assert len(stub.calls("GET", "/compute/v2.1/os-services")) == (1 if already_forced else 2)
    assert len(stub.calls("POST", "/instance-ha")) == (0 if already_forced else 1)


def test_node_name_comes_from_the_rendered_hostname_not_the_short_host_name():
    CONF.set_override("hostname", "virt-node-02.maas")
    try:
        assert (
            FenceConfirmedDriver(crm_mon=lambda: None).tracker.my_hostname == "virt-node-02.maas"
        )
    finally:
        CONF.clear_override("hostname")
