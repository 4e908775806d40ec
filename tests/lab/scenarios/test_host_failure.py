"""Scenario b: a hypervisor fails; Masakari falls back when the segment's method has no target.

The failed host is always virt-node-02.maas with two servers; the guide's reserved host is
virt-node-01.maas (disabled in Nova while reserved).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from .. import prometheus, scenario_steps, settings
from .conftest import SCENARIO_CONFIG

FAILED = settings.FAILED_HOST
RESERVED = settings.RESERVED_HOST
OTHER = "virt-node-10.maas"
# The exporters' failed COMPUTE_HOST notifications, as the lab's Prometheus scraped them.
FAILED_NOTIFICATIONS = (
    "max without (instance, job, juju_unit) "
    '(masakari_notifications{type="COMPUTE_HOST", status="failed"})'
)


@dataclass(frozen=True)
class Case:
    method: str
    reserved: tuple[str, ...]
    disabled: tuple[str, ...]  # hosts disabled in Nova besides reserved ones (no capacity)
    targets: frozenset[str]  # where the servers may land; empty: they must stay (error)
    uses_reserved: bool = False
    # Masakari disables the failed host before evacuating; with no reserved host at all it
    # gives up before that step.
    disables_failed_host: bool = True


# Each method's plain case runs on the whole chain (link down, fencing, the host monitor's
# notification) in test_failover.py, reserved_host also in the demo: here, the fallbacks Masakari
# takes when a method's first choice is not there.
CASES = {
    "rh_priority, no reserved host left -> auto": Case(
        "rh_priority", (), (), frozenset({RESERVED, OTHER})
    ),
    "auto_priority, no capacity -> reserved host": Case(
        "auto_priority", (RESERVED,), (OTHER,), frozenset({RESERVED}), True
    ),
    "reserved_host, no reserved host left -> error": Case(
        "reserved_host", (), (), frozenset(), disables_failed_host=False
    ),
    "auto, no capacity -> error": Case("auto", (), (RESERVED, OTHER), frozenset()),
}


@pytest.mark.parametrize("name", list(CASES))
def test_host_failure_recovery(clean, name):
    case = CASES[name]
    admin = clean
    tl = scenario_steps.LiveTimeline(f"host failure: {name}")
    segment = scenario_steps.make_segment(
        admin, "S1", case.method, [OTHER, FAILED, RESERVED], reserved=case.reserved
    )
    for host in case.disabled:
        admin.set_compute_service(host, status="disabled", disabled_reason="lab: no capacity")
    ids = scenario_steps.boot(admin, "vm", FAILED, count=2)
    failed_before = prometheus.value(FAILED_NOTIFICATIONS)
    tl.mark(
        f"segment {case.method} (reserved: {', '.join(case.reserved) or 'none'}; "
        f"disabled: {', '.join(case.disabled) or 'none'}); 2 servers ACTIVE on {FAILED}"
    )

    uuid = scenario_steps.fail_host(admin, tl, FAILED)
    if case.targets:
        arrived = scenario_steps.watch_failover(admin, tl, uuid, ids, set(case.targets))
        assert set(arrived.values()) <= case.targets
    else:
        # error, re-run once after retry-interval, then failed.
        scenario_steps.watch_failover(admin, tl, uuid, [], set(), want=("failed",), timeout=300)
        assert {scenario_steps.host_of(admin.server(i)) for i in ids} == {FAILED}
        # What an operator sees: the failed count one higher, and the alert that says so.
        failed = prometheus.wait_value(FAILED_NOTIFICATIONS, lambda v: v > failed_before)
        assert failed == failed_before + 1
        prometheus.wait_alert("MasakariNotificationFailed", {"type": "COMPUTE_HOST"})
        tl.mark("Prometheus: MasakariNotificationFailed firing, failed count +1")
        if case.method == "reserved_host":
            prometheus.wait_alert("MasakariReservedHostsExhausted", {"segment": "S1"})
            tl.mark("Prometheus: MasakariReservedHostsExhausted firing for S1")
    scenario_steps.show_tables(segment)

    failed_service = admin.compute_service(FAILED)
    assert failed_service["state"] == "down"
    assert (failed_service["status"] == "disabled") is case.disables_failed_host
    final = {admin.server(i)["status"] for i in ids}
    tl.mark(f"servers' final status: {', '.join(sorted(final))}")
    hosts = {h["name"]: h for h in admin.segment_hosts(segment.uuid)}
    assert hosts[FAILED]["on_maintenance"] is True
    if case.uses_reserved:
        assert admin.compute_service(RESERVED)["status"] == "enabled"
        assert hosts[RESERVED]["reserved"] is False


def test_disable_blocks_without_forced_down(clean):
    """Masakari 14 never forces the failed service down: its disable call then waits for
    Nova's RPC timeout, and evacuation needs a wait past Nova's service_down_time."""
    from .. import deploy, services

    admin = clean
    # Longer than Nova's service_down_time (20 s here), or Nova refuses to evacuate.
    deploy.change_config(admin, services.load_secrets(), **{"evacuation-delay": 25})
    try:
        segment = scenario_steps.make_segment(admin, "S1", "auto", [OTHER, FAILED, RESERVED])
        ids = scenario_steps.boot(admin, "vm", FAILED, count=1)
        tl = scenario_steps.LiveTimeline(
            "host failure without forced down (monitor without fencing)"
        )
        uuid = scenario_steps.fail_host(admin, tl, FAILED, force_down=False)
        scenario_steps.watch_failover(admin, tl, uuid, ids, {RESERVED, OTHER})
        timings = scenario_steps.engine_timings(tl.zero_wall)
        print(
            f"disable call {timings.get('disable', -1):.1f} s (Nova rpc_response_timeout "
            f"{settings.NOVA_RPC_TIMEOUT} s), then wait {timings.get('wait', -1):.1f} s"
        )
        scenario_steps.show_tables(segment)
        # Blocked on the RPC to the dead compute: far longer than a forced-down disable.
        assert timings["disable"] > 10
        assert admin.compute_service(FAILED)["status"] == "disabled"
    finally:
        restore = {"evacuation-delay": SCENARIO_CONFIG["evacuation-delay"]}
        deploy.change_config(admin, services.load_secrets(), **restore)
