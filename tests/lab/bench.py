"""`python -m tests.lab bench`: notification -> last instance ACTIVE on another host.

For each instance count, with the suite's default timers (the charm's defaults) and with
upstream Masakari's defaults, set through the charm's config. A measurement, not a test.
"""

from __future__ import annotations

from . import deploy, scenarios, services, settings

FAILED = settings.FAILED_HOST
TARGETS = {"virt-node-01.maas", "virt-node-10.maas"}
# Upstream Masakari's [DEFAULT] values for the options the charm sets differently.
UPSTREAM = {"evacuation-delay": 180}
SUITE = dict.fromkeys(UPSTREAM)  # None: the charm's own default


def run(counts: list[int]) -> list[tuple[str, int, float, float]]:
    admin = scenarios.admin_cloud()
    sec = services.load_secrets()
    results = []
    try:
        for label, config in (("suite defaults", SUITE), ("upstream defaults", UPSTREAM)):
            deploy.change_config(admin, sec, **config)
            conf = open("/etc/masakari/masakari.conf").read()
            delay = next(
                line.split("=")[1].strip()
                for line in conf.splitlines()
                if line.startswith("wait_period_after_service_update")
            )
            for count in counts:
                scenarios.reset(admin)
                scenarios.make_segment(admin, "S1", "auto", [*TARGETS, FAILED])
                ids = scenarios.boot(admin, "bench", FAILED, count=count, timeout=900)
                tl = scenarios.Timeline(
                    f"bench: {count} instance(s), {label} "
                    f"(wait_period_after_service_update={delay})"
                )
                uuid = scenarios.fail_host(admin, tl, FAILED)
                scenarios.watch_failover(admin, tl, uuid, ids, TARGETS, timeout=1800)
                notified = next(
                    rel for rel, text in tl.events if text.startswith("COMPUTE_HOST notification")
                )
                last = max(rel for rel, text in tl.events if text.startswith("server "))
                results.append((label, count, float(delay), last - notified))
    finally:
        deploy.change_config(admin, sec, **SUITE)
        scenarios.reset(admin)
    print("\nnotification -> last instance ACTIVE on another host (auto, 3 recovery threads)")
    print(f"{'timers':18} {'wait (s)':>8} {'instances':>9} {'seconds':>8}")
    for label, count, delay, seconds in results:
        print(f"{label:18} {delay:8.0f} {count:9d} {seconds:8.1f}")
    return results
