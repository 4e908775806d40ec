"""Hypervisors that really fail: the whole chain on the lab, no notification sent by hand.

`ip link set eth0 down` inside a lab host (as the guide does) -> Pacemaker loses the remote node
-> STONITH through the MAAS emulator powers it off -> the fence-confirmed host monitor on a
surviving hypervisor forces its nova-compute down and notifies Masakari -> the engine evacuates.

Every scenario goes through `tests.functional.scenarios.host_failover`, the zaza suite's own
assertions: one notification, finished; the failed host disabled, forced down, on maintenance;
each instance evacuated exactly once, to the host its recovery method implies; and the host's
power-off recorded by Pacemaker before the first evacuation. The zaza suite's class itself runs
here too (TestSharedFailoverScenarios).
"""

from __future__ import annotations

import time
import unittest

import pytest

from tests.functional import scenarios as shared
from tests.functional.scenarios import FailoverScenarios

from .. import hosts, maas_emulator, pacemaker, prometheus, scenario_steps, settings
from ..lab_cloud import LabCloud, configure_monitors, use_charm_timing, use_hacluster_timing
from ..procs import LabError, wait_for

SEGMENT = "S1"
# A slow BMC: long enough for the evacuated guest to boot and write while the old one runs.
BMC_DELAY = 20


@pytest.mark.usefixtures("admin")  # session scope: the lab is up before setUpClass runs
class TestSharedFailoverScenarios(FailoverScenarios, unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        admin = scenario_steps.admin_cloud()
        scenario_steps.reset(admin)
        cls.cloud = LabCloud(admin)
        cls.scenario_options = {"segment-name": SEGMENT}
        super().setUpClass()


class KillRemotedCloud(LabCloud):
    """The host's pacemaker_remoted dies instead of its link: Pacemaker fences it all the same."""

    def fail_host(self, host: str) -> str:
        lab_host = hosts.load().host(host)
        pid = hosts.daemon_pid(lab_host, pacemaker.REMOTE_SERVICE)
        assert pid, f"pacemaker_remoted is not running on {host}"
        hosts.kill_all([pid])
        return f"pacemaker_remoted (pid {pid}) killed on {host}"


@pytest.fixture
def cloud(admin):
    """A clean lab (no servers, no segments, every hypervisor up) with segment S1."""
    scenario_steps.reset(admin)
    lab_cloud = LabCloud(admin)
    reserved = sorted(lab_cloud.compute_hosts())[-1]
    shared.ensure_segment(lab_cloud, SEGMENT, "auto", lab_cloud.compute_hosts(), reserved)
    pacemaker.wait_idle(lab_cloud.compute_hosts(), 120)
    yield lab_cloud
    maas_emulator.set_faults(
        power_off_latency=maas_emulator.DEFAULT_POWER_OFF_LATENCY,
        unavailable_for=0,
        unavailable_from_next_power_action_for=0,
    )
    for action in shared.heal(lab_cloud, SEGMENT, reserved):
        print(f"heal: {action}")


def fail_and_recover(cloud: LabCloud, method: str, name: str) -> shared.Timeline:
    host = sorted(cloud.compute_hosts())[0]
    server_id = cloud.ensure_instance(name, host)
    timeline = shared.host_failover(cloud, SEGMENT, host, [server_id], method)
    shared.restore_and_reinsert(cloud, SEGMENT, host, [server_id])
    return timeline


def failover_series(host: str) -> dict[str, float]:
    """What the lab's Prometheus has of host failovers now: the exporters' finished
    COMPUTE_HOST notifications and recovery durations, and the surviving host monitors'
    fence confirmations and accepted STOPPED notifications (the failed host's own monitor
    restarts with it, so its counters start again from 0)."""
    survivors = f'instance!~"{hosts.load().host(host).ip}:.*"'
    every_unit = "max without (instance, job, juju_unit)"
    return {
        "finished": prometheus.value(
            f'{every_unit} (masakari_notifications{{type="COMPUTE_HOST", status="finished"}})'
        ),
        "durations": prometheus.value(
            f'{every_unit} (masakari_recovery_duration_seconds_count{{type="COMPUTE_HOST"}})'
        ),
        "fences confirmed": prometheus.value(
            f"sum(masakari_hostmonitor_fence_confirmations_total{{{survivors}}})"
        ),
        "STOPPED sent": prometheus.value(
            f'sum(masakari_hostmonitor_notifications_sent_total{{event="STOPPED", {survivors}}})'
        ),
    }


@pytest.mark.parametrize("method", ["auto", "auto_priority", "rh_priority"])
def test_link_down_is_recovered_by_each_method(cloud, method):
    """reserved_host is TestSharedFailoverScenarios' test 2. Each failover shows in the
    lab's Prometheus: one notification sent and finished, its duration, the fence."""
    host = sorted(cloud.compute_hosts())[0]
    before = failover_series(host)
    fail_and_recover(cloud, method, f"ha-{method}")

    def grown() -> dict[str, float] | None:
        now = failover_series(host)
        return now if all(now[k] > before[k] for k in now) else None

    after = wait_for(
        "the failover in Prometheus",
        grown,
        timeout=60,
        interval=1,
        ignore=(LabError,),
        details=lambda: f"\nbefore: {before}\nnow: {failover_series(host)}",
    )
    print(f"Prometheus before: {before}\nPrometheus after: {after}")
    assert after["finished"] == before["finished"] + 1
    assert after["durations"] == before["durations"] + 1
    assert after["STOPPED sent"] == before["STOPPED sent"] + 1  # one monitor notified, once


def test_killed_pacemaker_remoted_is_fenced_and_recovered(cloud):
    killer = KillRemotedCloud(cloud.admin)
    fail_and_recover(killer, "auto", "ha-remoted")


def test_slow_bmc_12s_still_fences_before_evacuating(cloud):
    maas_emulator.set_faults(power_off_latency=12)
    timeline = fail_and_recover(cloud, "auto", "ha-slow-bmc")
    print(timeline.render())


def test_maas_503_during_fencing_is_retried_then_recovered(cloud):
    """MAAS answers 503 for 20 s from the fencer's first power action: fencing retries until
    it can (the window opens at that action, however long detection took)."""
    since = time.time()
    maas_emulator.set_faults(unavailable_from_next_power_action_for=20)
    fail_and_recover(cloud, "auto", "ha-maas-503")
    answered = [e for e in maas_emulator.events(since) if e["event"] == "answered_503"]
    assert answered, "the MAAS emulator never answered 503: the fault was not exercised"


def test_refused_notification_is_reported_with_the_monitors_log(clean):
    """A failed host Masakari does not know (in no segment): its notification is refused, and
    the lab names the step that never came with what the surviving monitors logged."""
    host = settings.FAILED_HOST
    tl = scenario_steps.LiveTimeline(f"link down on {host}, which is in no segment")
    try:
        with pytest.raises(LabError) as raised:
            # Pacemaker alone may take ~40 s to see the host lost (seen when its remote
            # connection was still starting after an earlier scenario's reboot).
            scenario_steps.link_down(clean, tl, host, timeout=120)
    finally:
        LabCloud(clean).restore_host(host)
    message = str(raised.value)
    print(message)
    # Ended by the refusal, not by the timeout.
    assert f"no notification for {host}: a host monitor logged" in message
    assert f"Masakari refused STOPPED for '{host}' (HTTP 400)" in message


def test_fence_confirmed_driver_waits_for_the_power_off_where_upstreams_does_not(cloud):
    """The race the fence-confirmed driver closes, made deterministic.

    hacluster's own remote monitor (`interval=30s`, 20 s timeout) notices the host only after
    Nova has already marked its nova-compute down (20 s without heartbeats), and a BMC that
    takes BMC_DELAY to power off. The monitors poll every second. With `default` (upstream's
    driver) the notification goes out as soon as the node is offline, Masakari's disable call
    returns at once and the evacuation starts while the old host still runs its guest: the
    double-run detector sees two qemu processes of the instance, and the guest's disk shows
    what the two did to it. With `fence-confirmed` nothing is sent until Pacemaker has
    confirmed the power-off.
    """
    use_hacluster_timing()
    maas_emulator.set_faults(power_off_latency=BMC_DELAY)
    try:
        configure_monitors({"host-monitoring-interval": 1})
        print(fail_and_recover(cloud, "auto", "ha-fence-confirmed").render())
        configure_monitors({"host-monitoring-driver": "default"})
        pacemaker.wait_idle(timeout=120)
        host = sorted(cloud.compute_hosts())[0]
        t0 = cloud.now()
        with pytest.raises(shared.ScenarioFailed) as failed:
            fail_and_recover(cloud, "auto", "ha-upstream-driver")
        print(f"\nwith the default driver, as expected:\n{failed.value}")
        fence = wait_for(
            f"the power-off of {host}",
            lambda: shared.first_fence(cloud.fencing_history(host), t0),
            timeout=120,
            interval=1,
            ignore=(),
        )
        server_id = cloud.ensure_instance("ha-upstream-driver", host)  # found, not booted
        [evacuated] = shared.evacuations_since(cloud, server_id, t0)
        print(
            f"default driver: evacuate call at +{(evacuated - t0).total_seconds():.0f}s, "
            f"{host} powered off at +{(fence.completed - t0).total_seconds():.0f}s"
        )
        assert evacuated < fence.completed  # the instance was rebuilt while its host still ran
        assert "two qemu processes of" in str(failed.value)  # and ran on two hosts at once
    finally:
        configure_monitors({"host-monitoring-driver": None, "host-monitoring-interval": None})
        use_charm_timing()
