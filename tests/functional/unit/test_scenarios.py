"""The shared failover scenarios against an in-memory cloud: they pass when the cloud behaves
as the suite promises, and each assertion fails when the cloud breaks that promise."""

from __future__ import annotations

import datetime
import unittest

import pytest

from tests.functional import scenarios
from tests.functional.cloud import UTC, Timers, parse_crm_nodes, parse_fence_history, parse_time
from tests.functional.unit.fake_cloud import FakeCloud

HOSTS = ["virt-node-01.maas", "virt-node-02.maas", "virt-node-10.maas"]
FAILED, OTHER, RESERVED = HOSTS
SEGMENT = "S1"

# Recorded from the lab: `stonith_admin --history virt-node-02.maas --output-as=xml`.
FENCE_HISTORY_XML = """\
<pacemaker-result api-version="2.25" request="stonith_admin --history virt-node-02.maas">
  <list name="fencing history" count="2">
    <fence_event action="reboot" target="virt-node-02.maas" client="pacemaker-controld.23682"
      origin="lab-control" status="success" delegate="lab-control"
      completed="2026-11-25 17:33:05Z"/>
    <fence_event action="off" target="virt-node-02.maas" client="stonith_admin.1"
      origin="lab-control" status="failed" completed="2026-11-25 17:32:01 +01:00"/>
  </list>
  <status code="0" message="OK"/>
</pacemaker-result>
"""

CRM_MON_XML = """\
<crm_mon version="2.1.5"><nodes>
  <node name="juju-a1-0" id="1" online="true" standby="false" unclean="false" type="member"/>
  <node name="virt-node-02.maas" id="virt-node-02.maas" online="false" unclean="true"
    type="remote"/>
</nodes></crm_mon>
"""


def make_cloud(*bugs: str, evacuation_delay: float = 0) -> FakeCloud:
    cloud = FakeCloud(HOSTS, set(bugs), evacuation_delay=evacuation_delay)
    scenarios.ensure_segment(cloud, SEGMENT, "auto", HOSTS, RESERVED)
    return cloud


def boot(cloud: FakeCloud, host: str = FAILED) -> str:
    return cloud.ensure_instance("protected", host)


# --------------------------------------------------------------------------- parsers, timers


def test_fence_history_is_read_from_pacemaker_xml() -> None:
    events = parse_fence_history(FENCE_HISTORY_XML)
    assert [(e.target, e.action, e.status) for e in events] == [
        ("virt-node-02.maas", "reboot", "success"),
        ("virt-node-02.maas", "off", "failed"),
    ]
    assert events[0].completed == datetime.datetime(2026, 11, 25, 17, 33, 5, tzinfo=UTC)
    assert events[1].completed == datetime.datetime(2026, 11, 25, 16, 32, 1, tzinfo=UTC)


def test_crm_mon_nodes_are_read_with_their_state() -> None:
    nodes = parse_crm_nodes(CRM_MON_XML)
    assert nodes["juju-a1-0"].online and not nodes["juju-a1-0"].unclean
    assert not nodes["virt-node-02.maas"].online and nodes["virt-node-02.maas"].unclean


def test_openstack_timestamps_are_utc() -> None:
    assert parse_time("2026-11-25T17:33:05.000000") == datetime.datetime(
        2026, 11, 25, 17, 33, 5, tzinfo=UTC
    )
    assert parse_time("2026-11-25 18:33:05 +0100") == datetime.datetime(
        2026, 11, 25, 17, 33, 5, tzinfo=UTC
    )
    assert parse_time(None) is None


def test_failover_budget_grows_with_the_charms_timers_and_instance_batches() -> None:
    timers = Timers(evacuation_delay=60, evacuation_timeout=90, recovery_threads=3)
    slower = Timers(evacuation_delay=180, evacuation_timeout=90, recovery_threads=3)
    assert slower.host_failover_budget() - timers.host_failover_budget() == 120
    assert timers.host_failover_budget(4) - timers.host_failover_budget(3) == 90
    assert timers.host_failover_budget() < 75 * 60 / 5  # never upstream's 75-minute wait


def test_first_fence_ignores_failures_power_on_and_older_fences() -> None:
    t0 = datetime.datetime(2026, 11, 25, 17, 33, 0, 600000, tzinfo=UTC)
    events = parse_fence_history(FENCE_HISTORY_XML)
    assert scenarios.first_fence(events, t0) == events[0]
    # same second as t0 counts (one-second resolution); the next second does not
    assert scenarios.first_fence(events, t0 + datetime.timedelta(seconds=5)) == events[0]
    assert scenarios.first_fence(events, t0 + datetime.timedelta(seconds=6)) is None


# --------------------------------------------------------------------------- setup


def test_segment_setup_follows_the_guide() -> None:
    cloud = make_cloud()
    segment = scenarios.find_segment(cloud, SEGMENT)
    hosts = scenarios.segment_hosts(cloud, segment)
    assert sorted(hosts) == HOSTS
    assert [h for h, e in hosts.items() if e["reserved"]] == [RESERVED]
    assert scenarios.compute_service(cloud, RESERVED)["status"] == "disabled"
    scenarios.ensure_segment(cloud, SEGMENT, "reserved_host", HOSTS, RESERVED)  # idempotent
    assert len(cloud.api.segments()) == 1
    assert scenarios.find_segment(cloud, SEGMENT)["recovery_method"] == "reserved_host"


def test_segment_setup_names_a_reserved_host_that_is_not_a_compute_host() -> None:
    cloud = FakeCloud(HOSTS)
    with pytest.raises(ValueError, match="reserved-host 'virt-node-99.maas'"):
        scenarios.ensure_segment(cloud, SEGMENT, "auto", HOSTS, "virt-node-99.maas")


def test_unknown_recovery_method_is_refused() -> None:
    with pytest.raises(ValueError, match="'fastest' is not one of auto"):
        scenarios.set_recovery_method(make_cloud(), SEGMENT, "fastest")


# --------------------------------------------------------------------------- the good path


def test_whole_suite_passes_on_a_cloud_that_keeps_its_promises() -> None:
    cloud = make_cloud()

    class Suite(scenarios.FailoverScenarios, unittest.TestCase):
        pass

    Suite.cloud = cloud
    Suite.scenario_options = {"segment-name": SEGMENT, "reserved_host": RESERVED}
    result = unittest.TestResult()
    unittest.TestLoader().loadTestsFromTestCase(Suite).run(result)
    assert result.testsRun == 3
    assert not result.failures and not result.errors, result.failures + result.errors
    first, second = cloud.actions.values()  # every server the suite booted, in order
    # restart in place; the reserved host took the first instance
    assert [(a["action"], a.get("fake_target")) for a in first] == [
        ("create", None),
        ("evacuate", RESERVED),
    ]
    # the second started on the re-inserted host, which failed again under auto
    assert [a["action"] for a in second] == ["create", "evacuate"]
    assert second[1]["fake_target"] not in (FAILED, RESERVED)
    # and the class cleaned up: no instances, the guide's reserved host, every other host in use
    assert cloud.servers == {}
    hosts = scenarios.segment_hosts(cloud, scenarios.find_segment(cloud, SEGMENT))
    assert [name for name, entry in hosts.items() if entry["reserved"]] == [RESERVED]
    assert not any(entry["on_maintenance"] for entry in hosts.values())
    services = {s["host"]: s for s in cloud.api.compute_services()}
    assert [h for h, s in services.items() if s["status"] == "disabled"] == [RESERVED]
    assert all(s["state"] == "up" and not s["forced_down"] for s in services.values())
    assert any(m.startswith("timeline: host failover (reserved_host)") for m in cloud.messages)


def test_host_failover_reports_a_timeline_in_order() -> None:
    cloud = make_cloud()
    server = boot(cloud)
    timeline = scenarios.host_failover(cloud, SEGMENT, FAILED, [server], "reserved_host")
    order = [what for _, what in sorted(timeline.marks, key=lambda mark: mark[0])]
    assert order.index("fenced (reboot)") < order.index(f"evacuate {server}")
    assert cloud.api.server(server)["OS-EXT-SRV-ATTR:host"] == RESERVED


def test_failover_waits_no_longer_than_the_timers_allow() -> None:
    cloud = make_cloud()
    cloud.engine_delay = 2000  # the engine sleeps far longer than the charm configured
    server = boot(cloud)
    start = cloud.now()
    with pytest.raises(scenarios.ScenarioFailed, match="not reached within"):
        scenarios.host_failover(cloud, SEGMENT, FAILED, [server], "auto")
    waited = (cloud.now() - start).total_seconds()
    assert waited <= cloud.timers().host_failover_budget() + scenarios.POLL_INTERVAL


# --------------------------------------------------------------------------- broken promises

FAILOVER_BUGS = [
    ("evacuate-before-fence", "reserved_host", "before virt-node-01.maas was fenced"),
    ("no-fence", "reserved_host", "no successful power-off of virt-node-01.maas"),
    ("host-left-enabled", "reserved_host", "nova-compute on virt-node-01.maas is still enabled"),
    ("no-force-down", "reserved_host", "is not forced down"),
    ("no-maintenance", "reserved_host", "is not on maintenance"),
    ("duplicate-notification", "reserved_host", "exactly one host-failure notification"),
    ("double-evacuate", "auto", "was evacuated 2 times, expected once"),
    ("wrong-target", "reserved_host", "not to a reserved host (virt-node-10.maas)"),
    ("reserved-not-flipped", "reserved_host", "still reserved"),
    ("notification-failed", "auto", "ended failed"),
    ("never-finishes", "auto", "a final Masakari notification for virt-node-01.maas"),
]


@pytest.mark.parametrize(("bug", "method", "message"), FAILOVER_BUGS)
def test_host_failover_catches(bug: str, method: str, message: str) -> None:
    cloud = make_cloud(bug)
    server = boot(cloud)
    with pytest.raises(scenarios.ScenarioFailed) as failed:
        scenarios.host_failover(cloud, SEGMENT, FAILED, [server], method)
    assert message in str(failed.value)


def test_reserved_host_flip_is_checked_for_its_nova_service_too() -> None:
    cloud = make_cloud()
    server = boot(cloud)
    original = cloud._recover_host

    def keep_target_disabled(host, notification):
        original(host, notification)
        cloud.after(0.1, lambda: setattr(cloud.hosts[RESERVED], "service_enabled", False))

    cloud._recover_host = keep_target_disabled
    with pytest.raises(scenarios.ScenarioFailed, match="its nova-compute is disabled"):
        scenarios.host_failover(cloud, SEGMENT, FAILED, [server], "reserved_host")


def test_auto_must_not_use_a_reserved_host() -> None:
    cloud = make_cloud()
    server = boot(cloud)
    cloud.hosts[OTHER].service_enabled = False
    # the fake's scheduler then picks the only enabled host left: none but the reserved one
    cloud.hosts[RESERVED].service_enabled = True
    with pytest.raises(scenarios.ScenarioFailed, match="went to reserved host virt-node-10.maas"):
        scenarios.host_failover(cloud, SEGMENT, FAILED, [server], "auto")


def test_failover_refuses_to_start_with_a_node_already_down() -> None:
    cloud = make_cloud()
    server = boot(cloud)
    cloud.hosts[OTHER].online = False
    with pytest.raises(scenarios.ScenarioFailed, match="Pacemaker node virt-node-02.maas is not"):
        scenarios.host_failover(cloud, SEGMENT, FAILED, [server], "auto")
    assert cloud.hosts[FAILED].link_up  # nothing was broken


def test_failover_needs_a_reserved_host_for_reserved_host() -> None:
    cloud = make_cloud()
    server = boot(cloud)
    segment = scenarios.find_segment(cloud, SEGMENT)
    entry = scenarios.segment_hosts(cloud, segment)[RESERVED]
    cloud.api.update_segment_host(segment["uuid"], entry["uuid"], reserved=False)
    with pytest.raises(scenarios.ScenarioFailed, match="no reserved host for reserved_host"):
        scenarios.host_failover(cloud, SEGMENT, FAILED, [server], "reserved_host")


RESTART_BUGS = [
    ("restart-moves-instance", "moved from virt-node-01.maas"),
    ("restart-ignored", "ended ignored"),
]


def test_instance_restart_passes_and_leaves_the_host_alone() -> None:
    cloud = make_cloud()
    server = boot(cloud)
    old = cloud.instance_process(server, FAILED)
    scenarios.instance_restart(cloud, server)
    assert cloud.instance_process(server, FAILED) not in (None, old)


@pytest.mark.parametrize(("bug", "message"), RESTART_BUGS)
def test_instance_restart_catches(bug: str, message: str) -> None:
    cloud = make_cloud(bug)
    server = boot(cloud)
    with pytest.raises(scenarios.ScenarioFailed) as failed:
        scenarios.instance_restart(cloud, server)
    assert message in str(failed.value)


def test_instance_restart_with_a_missing_restart_times_out_within_budget() -> None:
    cloud = make_cloud()
    server = boot(cloud)
    cloud._instance_failed = lambda server_id, host: None  # the monitor never notices
    start = cloud.now()
    with pytest.raises(scenarios.ScenarioFailed, match="a final VM notification"):
        scenarios.instance_restart(cloud, server)
    waited = (cloud.now() - start).total_seconds()
    assert waited <= cloud.timers().instance_restart_budget() + scenarios.POLL_INTERVAL


def test_restore_catches_a_guest_running_on_two_hosts() -> None:
    cloud = make_cloud("guest-left-behind")
    server = boot(cloud)
    scenarios.host_failover(cloud, SEGMENT, FAILED, [server], "reserved_host")
    with pytest.raises(scenarios.ScenarioFailed, match="still has a guest process"):
        scenarios.restore_and_reinsert(cloud, SEGMENT, FAILED, [server])


def test_reinsertion_clears_what_the_failure_set() -> None:
    cloud = make_cloud()
    server = boot(cloud)
    scenarios.host_failover(cloud, SEGMENT, FAILED, [server], "reserved_host")
    scenarios.restore_and_reinsert(cloud, SEGMENT, FAILED, [server])
    service = scenarios.compute_service(cloud, FAILED)
    assert (service["status"], service["state"], service["forced_down"]) == (
        "enabled",
        "up",
        False,
    )
    entry = scenarios.segment_hosts(cloud, scenarios.find_segment(cloud, SEGMENT))[FAILED]
    assert not entry["on_maintenance"]


def test_reinsertion_that_does_not_take_fails() -> None:
    cloud = make_cloud("stays-on-maintenance")
    server = boot(cloud)
    scenarios.host_failover(cloud, SEGMENT, FAILED, [server], "reserved_host")
    with pytest.raises(scenarios.ScenarioFailed, match="out of maintenance"):
        scenarios.restore_and_reinsert(cloud, SEGMENT, FAILED, [server])


def test_second_failure_is_refused_to_start_without_reinsertion() -> None:
    cloud = make_cloud()
    server = boot(cloud)
    scenarios.host_failover(cloud, SEGMENT, FAILED, [server], "reserved_host")
    cloud.restore_host(FAILED)  # powered on, but not re-inserted
    other = cloud.ensure_instance("second", FAILED)
    with pytest.raises(scenarios.ScenarioFailed, match="already on maintenance"):
        scenarios.host_failover(cloud, SEGMENT, FAILED, [other], "auto")


def test_heal_restores_a_cloud_left_broken_by_a_failed_scenario() -> None:
    cloud = make_cloud("notification-failed")
    server = boot(cloud)
    with pytest.raises(scenarios.ScenarioFailed):
        scenarios.host_failover(cloud, SEGMENT, FAILED, [server], "auto")
    assert not cloud.hosts[FAILED].powered
    cloud.bugs.clear()
    assert scenarios.heal(cloud, SEGMENT, RESERVED) == [
        f"restored {FAILED}",
        f"re-inserted {FAILED}",
    ]
    assert scenarios.heal(cloud, SEGMENT, RESERVED) == []  # nothing left to do
    segment = scenarios.find_segment(cloud, SEGMENT)
    assert scenarios.segment_hosts(cloud, segment)[RESERVED]["reserved"]
    other = cloud.ensure_instance("after-heal", FAILED)
    scenarios.host_failover(cloud, SEGMENT, FAILED, [other], "reserved_host")


def test_reinsertion_retries_until_nova_accepts_the_host_up() -> None:
    cloud = make_cloud()
    server = boot(cloud)
    scenarios.host_failover(cloud, SEGMENT, FAILED, [server], "reserved_host")
    cloud.restore_host(FAILED)
    with pytest.raises(RuntimeError, match="HTTP 400"):  # what a single call would get
        cloud.api.set_compute_service(FAILED, forced_down=False)
    scenarios.reinsert_host(cloud, SEGMENT, FAILED)
    assert not scenarios.compute_service(cloud, FAILED)["forced_down"]


def test_reinsertion_names_the_last_refusal_when_nova_never_accepts() -> None:
    cloud = make_cloud()
    server = boot(cloud)
    scenarios.host_failover(cloud, SEGMENT, FAILED, [server], "reserved_host")
    cloud.restore_host(FAILED)
    cloud.refuse_up_until[FAILED] = cloud.now() + datetime.timedelta(days=1)
    with pytest.raises(scenarios.ScenarioFailed, match="last answer: HTTP 400: nova-compute"):
        scenarios.reinsert_host(cloud, SEGMENT, FAILED)


def test_suite_reports_each_broken_promise_and_still_heals_the_cloud() -> None:
    cloud = make_cloud("notification-failed")

    class Suite(scenarios.FailoverScenarios, unittest.TestCase):
        pass

    Suite.cloud = cloud
    Suite.scenario_options = {"segment-name": SEGMENT}
    result = unittest.TestResult()
    unittest.TestLoader().loadTestsFromTestCase(Suite).run(result)
    failed = {test.id().rsplit(".", 1)[1]: text for test, text in result.failures}
    assert sorted(failed) == [
        "test_2_host_failover_to_reserved_host",
        "test_3_second_failure_after_reinsertion",
    ]
    assert "ended failed" in failed["test_2_host_failover_to_reserved_host"]
    assert "no host was re-inserted" in failed["test_3_second_failure_after_reinsertion"]
    assert not result.errors
    assert f"heal: restored {FAILED}" in cloud.messages
    assert cloud.hosts[FAILED].powered and cloud.servers == {}
