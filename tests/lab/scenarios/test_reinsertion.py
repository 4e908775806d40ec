"""Scenario d: the failed node is repaired and re-inserted with the guide's two commands, then
takes the next failover as the new reserved host."""

from __future__ import annotations

from .. import lab, scenario_steps, settings
from ..procs import LabError, wait_for
from ..scenario_steps import openstack

FAILED = settings.FAILED_HOST  # virt-node-02.maas
RESERVED = settings.RESERVED_HOST  # virt-node-01.maas


def test_reinserted_node_takes_the_next_failover(clean):
    admin = clean
    segment = scenario_steps.make_segment(
        admin, "S1", "reserved_host", ["virt-node-10.maas", FAILED, RESERVED], reserved=[RESERVED]
    )
    (server_id,) = scenario_steps.boot(admin, "focal-1", FAILED)
    tl = scenario_steps.LiveTimeline(
        "re-insertion of a failed node, then a second failover onto it"
    )
    uuid = scenario_steps.fail_host(admin, tl, FAILED)
    scenario_steps.watch_failover(admin, tl, uuid, [server_id], {RESERVED})

    # The node is repaired: nova-compute runs again and the host monitor, seeing the node
    # back online, lifts the forced-down flag it set. The operator waits for its compute to
    # report before re-inserting it.
    lab.start_compute(FAILED)
    wait_for(
        f"nova to accept {FAILED} as up again",
        lambda: admin.set_compute_service(FAILED, forced_down=False),
        timeout=120,
        interval=1,
        ignore=(LabError,),
    )
    wait_for(
        f"{FAILED}'s restarted nova-compute to report",
        lambda: lab.reporting(admin.compute_service(FAILED)),
        timeout=120,
        interval=1,
        ignore=(LabError,),
    )
    tl.mark(f"{FAILED} repaired: nova-compute running and reporting, no longer forced down")
    openstack("compute", "service", "set", "--enable", FAILED, "nova-compute")
    openstack("segment", "host", "update", "--on_maintenance=False", "S1", FAILED)
    tl.mark(f"{FAILED} re-inserted with the guide's two commands")
    scenario_steps.show_tables(segment)
    service = admin.compute_service(FAILED)
    assert (service["status"], service["state"]) == ("enabled", "up")
    hosts = {h["name"]: h for h in admin.segment_hosts(segment.uuid)}
    assert hosts[FAILED]["on_maintenance"] is False

    # It becomes the reserved host (the guide's commands), then the server's host fails.
    openstack("segment", "host", "update", "--reserved=True", "S1", FAILED)
    openstack("compute", "service", "set", "--disable", FAILED, "nova-compute")
    uuid = scenario_steps.fail_host(admin, tl, RESERVED)
    scenario_steps.watch_failover(admin, tl, uuid, [server_id], {FAILED})
    scenario_steps.show_tables(segment, ["focal-1"])
    scenario_steps.check_reserved_host_outcome(admin, segment, RESERVED, FAILED)
