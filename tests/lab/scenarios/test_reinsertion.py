"""Scenario d: a hypervisor really fails and is fenced; after its repair the masakari-monitors
charm's `reinsert` action returns it to service (refusing while its nova-compute is not up),
and the same hypervisor's second failure is recovered.

The segment comes from the charm too (segment-name), so no `openstack segment` command is run;
the guide's own re-insertion commands run in test_failover.py (the shared suite's
restore_and_reinsert) and its segment commands in test_segment_cli.py.
"""

from __future__ import annotations

import pytest

from .. import hosts, hypervisors, lab, pacemaker, procs, scenario_steps, settings
from ..charm_unit import ActionRefused

FAILED = settings.FAILED_HOST  # virt-node-02.maas
OTHERS = {h for h in settings.COMPUTE_HOSTS if h != FAILED}


def test_reinsert_action_after_a_real_failure_then_the_host_fails_again(clean):
    admin = clean
    segment = scenario_steps.segment_by_charm(admin, "S1", "auto")
    assert set(segment.hosts) == set(settings.COMPUTE_HOSTS)
    (first,) = scenario_steps.boot(admin, "reinsert-1", FAILED)
    tl = scenario_steps.LiveTimeline("re-insertion by the reinsert action, then a second failure")
    uuid = scenario_steps.link_down(admin, tl, FAILED)
    scenario_steps.watch_failover(admin, tl, uuid, [first], OTHERS)

    # STONITH's reboot brings the node back into Pacemaker; its nova-compute is not up yet.
    lab_hosts = hosts.load()
    pacemaker.wait_rejoin(lab_hosts.host(FAILED), timeout=180)
    tl.mark(f"{FAILED} back online in Pacemaker after its fence")
    with pytest.raises(ActionRefused) as refused:
        hypervisors.monitors_action(lab_hosts, FAILED, "reinsert")
    tl.mark(f"reinsert refused: {refused.value}")
    assert "nova-compute" in str(refused.value)

    # Its boot starts nova-compute; the action watches a forced-down service's heartbeat for
    # 25 s, so it is run again (as an operator would) until the first report came.
    lab.start_compute(FAILED)

    def reinserted() -> dict | None:
        try:
            return hypervisors.monitors_action(lab_hosts, FAILED, "reinsert")
        except ActionRefused as again:
            tl.mark(f"reinsert refused: {again}")
            return None

    results = procs.wait_for(
        f"reinsert of {FAILED} to be accepted",
        reinserted,
        timeout=180,
        interval=1,
        ignore=(procs.LabError,),
    )
    tl.mark(f"reinsert: {results}")
    assert results["steps"]["forced-down"] == "cleared"
    assert results["steps"]["on-maintenance"] == "cleared"
    service = admin.compute_service(FAILED)
    assert (service["status"], service["state"], service["forced_down"]) == (
        "enabled",
        "up",
        False,
    )
    entry = {h["name"]: h for h in admin.segment_hosts(segment.uuid)}[FAILED]
    assert entry["on_maintenance"] is False
    scenario_steps.show_tables(segment)

    # The re-inserted hypervisor takes a server and fails again: Masakari protects it again.
    (second,) = scenario_steps.boot(admin, "reinsert-2", FAILED)
    uuid = scenario_steps.link_down(admin, tl, FAILED)
    scenario_steps.watch_failover(admin, tl, uuid, [second], OTHERS)
    scenario_steps.show_tables(segment, ["reinsert-1", "reinsert-2"])
