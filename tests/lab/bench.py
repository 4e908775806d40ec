"""`python -m tests.lab bench`: notification -> last instance ACTIVE on another host.

For each instance count, with the suite's default timers (the charm's defaults) and with
upstream Masakari's defaults, set through the charm's config. A measurement, not a test.
"""

from __future__ import annotations

from . import deploy, scenario_steps, services, settings

FAILED = settings.FAILED_HOST
TARGETS = {"virt-node-01.maas", "virt-node-10.maas"}
# Upstream Masakari's [DEFAULT] values for the options the charm sets differently.
UPSTREAM = {"evacuation-delay": 180}
SUITE = dict.fromkeys(UPSTREAM)  # None: the charm's own default


def run(counts: list[int]) -> list[tuple[str, int, float, float]]:
    admin = scenario_steps.admin_cloud()
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
                scenario_steps.reset(admin)
                scenario_steps.make_segment(admin, "S1", "auto", [*TARGETS, FAILED])
                ids = scenario_steps.boot(admin, "bench", FAILED, count=count, timeout=900)
                tl = scenario_steps.LiveTimeline(
                    f"bench: {count} instance(s), {label} "
                    f"(wait_period_after_service_update={delay})"
                )
                uuid = scenario_steps.fail_host(admin, tl, FAILED)
                scenario_steps.watch_failover(admin, tl, uuid, ids, TARGETS, timeout=1800)
                notified = next(
                    rel for rel, text in tl.events if text.startswith("COMPUTE_HOST notification")
                )
                last = max(rel for rel, text in tl.events if text.startswith("server "))
                results.append((label, count, float(delay), last - notified))
    finally:
        deploy.change_config(admin, sec, **SUITE)
        scenario_steps.reset(admin)
    print("\nnotification -> last instance ACTIVE on another host (auto, 3 recovery threads)")
    print(f"{'timers':18} {'wait (s)':>8} {'instances':>9} {'seconds':>8}")
    for label, count, delay, seconds in results:
        print(f"{label:18} {delay:8.0f} {count:9d} {seconds:8.1f}")
    return results


# --------------------------------------------------------------------------- the whole chain
# Upstream's values where the suite differs: Masakari's engine wait, masakari-monitors' driver
# and poll interval, hacluster's remote-node monitor (interval 30 s, Pacemaker's 20 s timeout).
# Both: a window shorter than a run, so the same host can fail again in the next run.
CHAIN_UPSTREAM = {
    "masakari": {"evacuation-delay": 180, "duplicate-notification-window": 20},
    "monitors": {"host-monitoring-driver": "default", "host-monitoring-interval": 60},
    "cluster": {"monitor_interval": "30s", "monitor_timeout": None},
}
CHAIN_SUITE = {
    "masakari": {"evacuation-delay": None, "duplicate-notification-window": 20},
    "monitors": {},
    "cluster": {},
}
CHAIN_RESET = {"evacuation-delay": None, "duplicate-notification-window": None}


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (P50 of 5 runs is the 3rd, P95 the 5th)."""
    ordered = sorted(values)
    return ordered[max(0, -(-len(ordered) * pct // 100) - 1)]


def configure_chain(admin, sec: dict[str, str], config: dict) -> None:
    from . import lab_cloud, pacemaker

    deploy.change_config(admin, sec, **config["masakari"])
    keys = set(CHAIN_UPSTREAM["monitors"])
    lab_cloud.configure_monitors({k: config["monitors"].get(k) for k in keys})
    pacemaker.reconfigure(pacemaker.ClusterSettings(**config["cluster"]))


def run_link_down(
    counts: list[int], runs: int, labels: tuple[str, ...] = ("suite", "upstream")
) -> dict[tuple[str, int], list[float]]:
    """`ip link set eth0 down` on the instances' host -> the last of N instances ACTIVE on
    another host, `runs` times per count, with the suite's defaults and with upstream's."""
    import time

    from tests.functional import scenarios as shared

    from . import hosts, lab_cloud, pacemaker, procs

    admin = scenario_steps.admin_cloud()
    sec = services.load_secrets()
    cloud = lab_cloud.LabCloud(admin)
    results: dict[tuple[str, int], list[float]] = {}
    configs = {"suite": CHAIN_SUITE, "upstream": CHAIN_UPSTREAM}
    try:
        for label in labels:
            configure_chain(admin, sec, configs[label])
            for count in counts:
                for run_index in range(runs):
                    scenario_steps.reset(admin)
                    shared.ensure_segment(
                        cloud, "S1", "auto", cloud.compute_hosts(), "virt-node-10.maas"
                    )
                    ids = scenario_steps.boot(admin, "bench", FAILED, count=count, timeout=900)
                    pacemaker.wait_idle(timeout=120)
                    timers = cloud.timers()
                    shared.wait_out_duplicate_window(
                        cloud, FAILED, cloud.api.notifications(), timers.duplicate_window
                    )
                    t0 = time.monotonic()
                    hosts.link_down(hosts.load().host(FAILED))

                    def moved(ids=ids) -> bool:
                        servers = [admin.server(i) for i in ids]
                        return all(
                            s["status"] == "ACTIVE"
                            and s["OS-EXT-STS:task_state"] is None
                            and s["OS-EXT-SRV-ATTR:host"] != FAILED
                            for s in servers
                        )

                    budget = timers.host_failover_budget(count) + 120
                    procs.wait_for(
                        f"{count} instance(s) moved",
                        moved,
                        timeout=budget,
                        interval=0.5,
                        ignore=(),
                    )
                    seconds = time.monotonic() - t0
                    results.setdefault((label, count), []).append(seconds)
                    print(
                        f"bench: {label} defaults, {count} instance(s), run {run_index + 1}: "
                        f"{seconds:.1f} s",
                        flush=True,
                    )
                    # Re-insertion is the next run's reset (with upstream's driver the other
                    # monitor's duplicate notification may still be running here).
                    cloud.restore_host(FAILED)
    finally:
        configure_chain(admin, sec, CHAIN_SUITE)
        deploy.change_config(admin, sec, **CHAIN_RESET)
        scenario_steps.reset(admin)
    print("\nip link set eth0 down -> last instance ACTIVE on another host (auto)")
    print(f"{'defaults':10} {'instances':>9} {'runs':>4} {'P50 (s)':>8} {'P95 (s)':>8}")
    for (label, count), values in results.items():
        print(
            f"{label:10} {count:9d} {len(values):4d} {percentile(values, 50):8.1f} "
            f"{percentile(values, 95):8.1f}"
        )
    return results
