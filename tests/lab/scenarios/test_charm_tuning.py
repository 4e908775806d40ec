"""Scenario e: a recovery timer set through the charm's config reaches masakari-engine: the
engine's measured wait after disabling the failed host follows `evacuation-delay`; and the
charm's quickack on the routes to the cluster's remote nodes is in place."""

from __future__ import annotations

import json

from .. import deploy, hosts, scenario_steps, services, settings
from .conftest import SCENARIO_CONFIG

FAILED = settings.FAILED_HOST


def failover_wait(admin, delay: int) -> float:
    """The engine's wait after disabling the failed host, with `evacuation-delay` in place."""
    conf = open("/etc/masakari/masakari.conf").read()
    assert f"wait_period_after_service_update = {delay}\n" in conf
    scenario_steps.reset(admin)
    scenario_steps.make_segment(
        admin, "S1", "auto", ["virt-node-01.maas", FAILED, "virt-node-10.maas"]
    )
    ids = scenario_steps.boot(admin, "vm", FAILED)
    tl = scenario_steps.LiveTimeline(f"charm config evacuation-delay={delay}")
    uuid = scenario_steps.fail_host(admin, tl, FAILED)
    scenario_steps.watch_failover(admin, tl, uuid, ids, {"virt-node-01.maas", "virt-node-10.maas"})
    wait = scenario_steps.engine_timings(tl.zero_wall)["wait"]
    tl.mark(f"engine waited {wait:.1f} s after disabling {FAILED}")
    return wait


def test_evacuation_delay_reaches_the_engine(clean):
    short_delay = SCENARIO_CONFIG["evacuation-delay"]  # in place: one config change, not two
    long_delay = short_delay + 15
    short = failover_wait(clean, short_delay)
    try:
        deploy.change_config(clean, services.load_secrets(), **{"evacuation-delay": long_delay})
        long = failover_wait(clean, long_delay)
    finally:
        deploy.change_config(clean, services.load_secrets(), **{"evacuation-delay": short_delay})
    print(
        f"measured engine wait: {short:.1f} s with evacuation-delay={short_delay}, "
        f"{long:.1f} s with evacuation-delay={long_delay}"
    )
    assert short >= short_delay and long >= long_delay
    assert 13 <= long - short <= 17


def test_the_charm_acks_the_hypervisors_at_once(clean):
    """pacemaker-remote-quickack: the masakari charm found the cluster's remote nodes (the
    control side's CIB, as hacluster beside it) and set quickack on the route to each."""
    routes = {}
    for host in hosts.load().hosts:
        out = hosts.sh(["ip", "-j", "route", "show", "match", host.ip])
        routes[host.fqdn] = json.loads(out)[-1]  # the longest prefix comes last
        print(f"route to {host.fqdn} ({host.ip}): {routes[host.fqdn]}")
    for fqdn, route in routes.items():
        metrics = {k: v for m in route.get("metrics", []) for k, v in m.items()}
        assert metrics.get("quickack") == 1, f"no quickack on the route to {fqdn}: {route}"
    log = deploy.SYSTEM_LOG.read_text()
    assert "cibadmin --query --scope resources -> 0" in log
