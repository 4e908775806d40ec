"""`python -m tests.lab bench`: measurements, not tests; each prints a table.

- `run_link_down` (the default): `ip link set eth0 down` on the instances' hypervisor -> the
  last of N instances ACTIVE on another host, with the suite's defaults and upstream's side by
  side on the same cluster. Both start from hacluster's remote primitive (monitor every 30 s,
  Pacemaker's 20 s timeout); the suite's connection timing is set by its pacemaker-remote charm,
  every other value by the charms' config. Every run checks that no instance was evacuated
  before Pacemaker recorded its host's power-off, and counts the runs where that did not hold.
- `engine_grid`: masakari-engine alone (notification -> last instance ACTIVE elsewhere) for
  each recovery-threads x evacuation-delay, with Nova's health during the run.
- `crm_mon_cost`: what one round of the host monitor's poll costs, on the hypervisor and on
  the cluster's control side.
- `controller_stalls`: link down -> fence request, without and with quickack on the control
  side's route to the hypervisors, and whether the DC's controller stalled.
"""

from __future__ import annotations

import resource
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import deploy, hosts, pacemaker, procs, scenario_steps, services, settings

FAILED = settings.FAILED_HOST
TARGETS = {"virt-node-01.maas", "virt-node-10.maas"}

# Upstream's defaults for what the suite sets differently: Masakari's engine wait and threads,
# masakari-monitors' driver and poll, hacluster's connection monitor (the pacemaker-remote
# charm's options 0). Both profiles: a duplicate window shorter than a run, so the same host
# can fail again in the next run.
PROFILES = {
    "suite": {
        "masakari": {"evacuation-delay": None, "recovery-threads": None},
        "monitors": {"host-monitoring-driver": None, "host-monitoring-interval": None},
        "charm_timing": True,
    },
    "upstream": {
        "masakari": {"evacuation-delay": 180, "recovery-threads": 3},
        "monitors": {"host-monitoring-driver": "default", "host-monitoring-interval": 60},
        "charm_timing": False,
    },
}
BENCH_WINDOW = {"duplicate-notification-window": 20}
# The detector's findings that are a double run (others say how well it could watch).
DOUBLE_RUN = ("two qemu processes", "heartbeats of two boots interleave")
REAL_GUESTS = 10  # up to this many instances per run boot real guests (~200 MiB of RAM each)
CRM_MON = ["crm_mon", "--output-as=xml", "--fence-history=3"]  # the fence-confirmed driver's


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (P50 of 5 runs is the 3rd, P95 the 5th)."""
    ordered = sorted(values)
    return ordered[max(0, -(-len(ordered) * pct // 100) - 1)]


@dataclass
class Runs:
    """One profile's runs at one instance count: `seconds` from link down to the last instance
    ACTIVE elsewhere (one per run), `early` the runs in which an instance was evacuated before
    Pacemaker recorded its host's power-off, `doubled` those in which the double-run detector
    saw two qemu processes of one instance or interleaved heartbeats."""

    seconds: list[float] = field(default_factory=list)
    early: int = 0
    doubled: int = 0

    @property
    def unsafe(self) -> bool:
        """Whether any run broke fence-before-evacuate or ran an instance twice."""
        return bool(self.early or self.doubled)


def configure(admin, sec: dict[str, str], label: str) -> None:
    """One profile, applied only through the charms (and hacluster's primitive)."""
    from . import lab_cloud

    profile = PROFILES[label]
    deploy.change_config(admin, sec, **profile["masakari"], **BENCH_WINDOW)
    lab_cloud.configure_monitors(profile["monitors"])
    lab_cloud.use_hacluster_timing()
    if profile["charm_timing"]:
        lab_cloud.use_charm_timing()


def run_link_down(
    counts: list[int], runs: int, labels: tuple[str, ...] = ("suite", "upstream")
) -> dict[tuple[str, int], Runs]:
    """The runs (`Runs`: seconds from link down to the last instance ACTIVE elsewhere, runs with
    an early evacuation or a double run) per (profile, count).

    Up to REAL_GUESTS instances run as real guests with the double-run detector watching them;
    more run on nova's fake driver. Prints each run and a table: P50, P95, the upstream/suite
    ratio of the P50s, runs with an evacuation before the power-off and runs with a double run.
    Raises LabError when a run does not finish within its budget (the cloud's timers + 120 s).
    """
    from . import lab, lab_cloud

    admin = scenario_steps.admin_cloud()
    sec = services.load_secrets()
    cloud = lab_cloud.LabCloud(admin)
    results: dict[tuple[str, int], Runs] = {}
    configured = None  # the profile in place
    try:
        for count in counts:
            scenario_steps.reset(admin)
            lab.use_compute_driver(admin, "libvirt" if count <= REAL_GUESTS else "fake")
            for label in labels:
                configure(admin, sec, label)
                configured = label
                timing = pacemaker.connection_timing(FAILED)
                print(f"bench: {label} defaults; {FAILED}'s connection ops: {timing}", flush=True)
                for run_index in range(runs):
                    seconds, before, findings = _link_down_run(admin, cloud, count)
                    result = results.setdefault((label, count), Runs())
                    result.seconds.append(seconds)
                    result.early += before
                    result.doubled += any(f.startswith(DOUBLE_RUN) for f in findings)
                    print(
                        f"bench: {label} defaults, {count} instance(s), run {run_index + 1}: "
                        f"{seconds:.1f} s"
                        + ("; evacuated BEFORE the power-off" if before else "")
                        + "".join(f"; {finding}" for finding in findings),
                        flush=True,
                    )
    finally:
        scenario_steps.reset(admin)
        lab.use_compute_driver(admin, "libvirt")
        if configured != "suite":  # the suite's profile is the charms' defaults
            configure(admin, sec, "suite")
        deploy.change_config(admin, sec, **dict.fromkeys(BENCH_WINDOW))
    print("\n" + table(results))
    return results


def table(results: dict[tuple[str, int], Runs]) -> str:
    """run_link_down's results as a text table, a row per (profile, count) by count: runs,
    P50 and P95 in seconds, upstream's P50 over the suite's at the same count, and the runs
    with an evacuation before the power-off or a double run."""
    lines = [
        "ip link set eth0 down -> last instance ACTIVE on another host (auto)",
        f"{'defaults':10} {'instances':>9} {'guests':>6} {'runs':>4} {'P50 (s)':>8} "
        f"{'P95 (s)':>8} {'upstream/suite':>14} {'evacuated before power-off':>26} "
        f"{'double run':>10}",
    ]
    for (label, count), result in sorted(results.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        values = result.seconds
        suite = results.get(("suite", count))
        ratio = (
            f"{percentile(values, 50) / percentile(suite.seconds, 50):.1f}x"
            if label == "upstream" and suite
            else ""
        )
        guests = "real" if count <= REAL_GUESTS else "fake"
        lines.append(
            f"{label:10} {count:9d} {guests:>6} {len(values):4d} {percentile(values, 50):8.1f} "
            f"{percentile(values, 95):8.1f} {ratio:>14} "
            f"{f'{result.early} of {len(values)}':>26} {f'{result.doubled} of {len(values)}':>10}"
        )
    return "\n".join(lines)


def _link_down_run(admin, cloud, count: int) -> tuple[float, bool, list[str]]:
    """One run: seconds to the last instance ACTIVE elsewhere, whether an instance was
    evacuated before the power-off, and the double-run detector's findings (real guests)."""
    from tests.functional import scenarios as shared

    from . import procs

    scenario_steps.reset(admin)
    shared.ensure_segment(cloud, "S1", "auto", cloud.compute_hosts(), "virt-node-10.maas")
    ids = scenario_steps.boot(admin, "bench", FAILED, count=count, timeout=900)
    pacemaker.wait_idle(timeout=120)
    timers = cloud.timers()
    shared.wait_out_duplicate_window(
        cloud, FAILED, cloud.api.notifications(), timers.duplicate_window
    )
    watch = cloud.watch_guests(ids) if count <= REAL_GUESTS else None
    t0_wall = cloud.now()
    t0 = time.monotonic()
    hosts.link_down(hosts.load().host(FAILED))

    def moved() -> bool:
        servers = admin.servers_by_id(ids)
        return len(servers) == len(ids) and all(
            s["status"] == "ACTIVE"
            and s["OS-EXT-STS:task_state"] is None
            and s["OS-EXT-SRV-ATTR:host"] != FAILED
            for s in servers.values()
        )

    try:
        procs.wait_for(
            f"{count} instance(s) moved",
            moved,
            timeout=timers.host_failover_budget(count) + 120,
            interval=0.5,
            ignore=(),
        )
        seconds = time.monotonic() - t0
    finally:
        findings = watch.stop()[1] if watch else []
    fence = procs.wait_for(
        f"{FAILED}'s power-off in Pacemaker's fence history",
        lambda: shared.first_fence(cloud.fencing_history(FAILED), t0_wall),
        timeout=120,
        interval=1,
    )
    first = min(start for i in ids for start in shared.evacuations_since(cloud, i, t0_wall))
    # Re-insertion is the next run's reset (with upstream's driver the other monitor's
    # duplicate notification may still be running here).
    cloud.restore_host(FAILED)
    return seconds, first < fence.completed, findings


def _log_offsets() -> dict[Path, int]:
    return {p: p.stat().st_size for p in settings.LOGS.glob("nova-*.log")}


def _rpc_timeouts(offsets: dict[Path, int]) -> int:
    """MessagingTimeout lines Nova's services logged since `offsets`."""
    found = 0
    for path in settings.LOGS.glob("nova-*.log"):
        with open(path, errors="replace") as f:
            f.seek(offsets.get(path, 0))
            found += sum("MessagingTimeout" in line for line in f)
    return found


def engine_grid(counts: list[int], threads: list[int], delays: list[int]) -> list[tuple]:
    """masakari-engine alone: a COMPUTE_HOST notification (its host's nova-compute killed and
    forced down, as the suite's host monitor leaves it) -> the last instance ACTIVE elsewhere,
    for each recovery-threads x evacuation-delay. Rows: (threads, delay, count, seconds,
    instances in ERROR, Nova MessagingTimeout lines)."""
    from . import procs

    admin = scenario_steps.admin_cloud()
    sec = services.load_secrets()
    rows = []
    try:
        for thread_count in threads:
            for delay in delays:
                deploy.change_config(
                    admin, sec, **{"recovery-threads": thread_count, "evacuation-delay": delay}
                )
                for count in counts:
                    scenario_steps.reset(admin)
                    scenario_steps.make_segment(admin, "S1", "auto", [*TARGETS, FAILED])
                    ids = scenario_steps.boot(admin, "bench", FAILED, count=count, timeout=900)
                    tl = scenario_steps.LiveTimeline(
                        f"engine: {count} instance(s), recovery-threads {thread_count}, "
                        f"evacuation-delay {delay}"
                    )
                    offsets = _log_offsets()
                    uuid = scenario_steps.fail_host(admin, tl, FAILED)
                    notified = tl.events[-1][0]
                    try:
                        scenario_steps.watch_failover(admin, tl, uuid, ids, TARGETS, timeout=900)
                        last = max(rel for rel, text in tl.events if text.startswith("server "))
                        seconds = last - notified
                    except procs.LabError as error:
                        print(f"engine: not recovered: {error}", flush=True)
                        seconds = float("nan")
                    errors = sum(admin.server(i)["status"] == "ERROR" for i in ids)
                    rows.append(
                        (thread_count, delay, count, seconds, errors, _rpc_timeouts(offsets))
                    )
    finally:
        deploy.change_config(admin, sec, **{"recovery-threads": None, "evacuation-delay": None})
        scenario_steps.reset(admin)
    print("\nCOMPUTE_HOST notification -> last instance ACTIVE on another host (auto)")
    print(
        f"{'recovery-threads':>16} {'evacuation-delay':>16} {'instances':>9} {'seconds':>8} "
        f"{'ERROR':>5} {'RPC timeouts':>12}"
    )
    for row in rows:
        print(f"{row[0]:16d} {row[1]:16d} {row[2]:9d} {row[3]:8.1f} {row[4]:5d} {row[5]:12d}")
    return rows


def crm_mon_cost(rounds: int = 30) -> dict[str, float]:
    """One host-monitor poll (`crm_mon --output-as=xml --fence-history=3` on a hypervisor,
    through pacemaker_remoted): median wall seconds, and CPU milliseconds per round of crm_mon
    itself, of pacemaker_remoted on the hypervisor and of the control side's Pacemaker daemons,
    each less the same daemons' CPU over an idle stretch as long. Prints the cost per
    hypervisor at a few poll intervals."""
    lab = hosts.load()
    host = lab.host(FAILED)
    remoted = hosts.daemon_pid(host, pacemaker.REMOTE_SERVICE)
    control = pacemaker.control_pids()

    def daemons() -> tuple[float, float]:
        local = sum(pacemaker.cpu_seconds(p) for p in control if hosts.alive(p))
        return pacemaker.cpu_seconds(remoted), local

    walls = []
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    before = daemons()
    started = time.monotonic()
    for _ in range(rounds):
        t = time.monotonic()
        hosts.run(host, CRM_MON, timeout=30)
        walls.append(time.monotonic() - t)
    busy = time.monotonic() - started
    after = daemons()
    children1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    idle0 = daemons()
    time.sleep(busy)
    idle1 = daemons()
    own = (children1.ru_utime + children1.ru_stime) - (children0.ru_utime + children0.ru_stime)
    cost = {
        "wall_s": statistics.median(walls),
        "crm_mon_ms": 1000 * own / rounds,
        "remoted_ms": 1000 * ((after[0] - before[0]) - (idle1[0] - idle0[0])) / rounds,
        "control_ms": 1000 * ((after[1] - before[1]) - (idle1[1] - idle0[1])) / rounds,
    }
    print(
        f"\none poll on {FAILED} ({rounds} rounds): {cost['wall_s']:.2f} s wall (median); CPU "
        f"per round: crm_mon {cost['crm_mon_ms']:.1f} ms, pacemaker_remoted "
        f"{cost['remoted_ms']:.1f} ms, control side {cost['control_ms']:.1f} ms"
    )
    print(f"{'interval (s)':>12} {'hypervisor CPU %':>16} {'control CPU % per hypervisor':>29}")
    for interval in (1, 2, 5, 10, 60):
        hypervisor = (cost["crm_mon_ms"] + cost["remoted_ms"]) / 10 / interval
        print(f"{interval:12d} {hypervisor:16.2f} {cost['control_ms'] / 10 / interval:29.2f}")
    return cost


def controller_stalls(trials: int) -> dict[str, list[float]]:
    """Link down on a hypervisor whose cluster traffic is raised (four `crm_mon` polls in a
    loop, as four host monitors polling at once) -> Pacemaker's fence request, `trials` times
    with the control side's route to the hypervisors as it comes and then with `quickack 1` on it
    (what the masakari charm's pacemaker-remote-quickack sets). Prints each run's seconds to the
    fence request and whether pacemakerd found the DC's controller unresponsive meanwhile.
    Leaves quickack on, as the charm does. Returns {"default"|"quickack": [seconds, ...]}."""
    if str(settings.REPO / "lib") not in sys.path:  # the charms' library, as the charm runs it
        sys.path.insert(0, str(settings.REPO / "lib"))
    from charm_common import quickack
    from charm_common.system import HostSystem

    lab = hosts.load()
    host = lab.host(FAILED)
    family, table, route = quickack.route_to(HostSystem(), host.ip)
    loop = f"while :; do {' '.join(CRM_MON)} >/dev/null 2>&1; done"
    results: dict[str, list[float]] = {}
    for label, value in (("default", "0"), ("quickack", "1")):
        argv = quickack.change_command(family, table, {**route, "metrics": []})
        hosts.sh([*argv[:-1], value])  # the lab's own route: its kernel attributes only
        results[label] = []
        for run in range(1, trials + 1):
            for _ in range(4):  # the fence's power-off kills them with the host's processes
                hosts.run(host, ["sh", "-c", f"({loop}) >/dev/null 2>&1 &"])
            pacemaker.wait_idle()
            offset = pacemaker.control_log().stat().st_size
            t0 = time.time()
            hosts.link_down(host)

            def requested(t0: float = t0, offset: int = offset) -> float | None:
                marks = pacemaker.failure_marks(host, t0, offset)
                return next((t for t, what in marks if what.startswith("fence requested")), None)

            # A stalled controller may miss the node's unclean state, so this waits for the
            # request in the log rather than for crm_mon's view (fail_and_watch's).
            seconds = procs.wait_for("the fence request", requested, timeout=150) - t0
            procs.wait_for(
                "the fence's power-on",
                lambda t0=t0: any(
                    what == "MAAS powered_on" for _, what in pacemaker.failure_marks(host, t0)
                ),
                timeout=120,
            )
            pacemaker.wait_rejoin(host, None, 180)
            # pacemakerd asks each daemon every ~7 s; five unanswered asks and it kills it.
            lines = pacemaker.log_lines_since(pacemaker.control_log(), offset)
            unanswered = sum(1 for line in lines if "pacemaker-controld" in line
                             and "unresponsive to ipc" in line)  # fmt: skip
            killed = any("unresponsive to ipc" in line and "killed" in line for line in lines)
            results[label].append(seconds)
            note = (
                "; the controller stalled and pacemakerd killed it" if killed
                else f"; pacemakerd's ask went unanswered {unanswered}x" if unanswered else ""
            )  # fmt: skip
            print(
                f"{label:>9} run {run}: fence requested {seconds:5.1f} s after the link went "
                f"down{note}",
                flush=True,
            )
    for label, seconds in results.items():
        slow = sum(1 for s in seconds if not s < 30)
        print(
            f"{label:>9}: fence requested after P50 {statistics.median(seconds):.1f} s, "
            f"max {max(seconds):.1f} s; {slow} of {len(seconds)} runs 30 s or later"
        )
    return results
