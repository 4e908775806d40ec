"""`python -m tests.lab <command>`: the lab's command line.

Commands register themselves in COMMANDS, so other parts of the lab can add their own.
`down`, `stop`, `status` and `pacemaker` (the cluster's own commands) use the standard library
only; the others first make sure the Debian packages and the lab's venv exist, then re-run
themselves under the venv's python.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

from . import hosts, install, procs, settings


@dataclass(frozen=True)
class Command:
    help: str
    run: Callable[[argparse.Namespace], int]
    needs_runtime: bool = True
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None


COMMANDS: dict[str, Command] = {}


def command(name: str, help: str, needs_runtime: bool = True, add_arguments=None):
    def register(func: Callable[[argparse.Namespace], int]):
        COMMANDS[name] = Command(help, func, needs_runtime, add_arguments)
        return func

    return register


@command("up", "install what is missing, start every service, deploy masakari with its charm")
def _up(args: argparse.Namespace) -> int:
    from . import lab

    lab.up()
    return 0


@command("demo", "reserved_host failover of a server on virt-node-02.maas, as a timeline")
def _demo(args: argparse.Namespace) -> int:
    from . import lab, scenario_steps

    lab.up()
    scenario_steps.demo()
    return 0


@command("status", "list the lab's processes (exit 1 if any died)", needs_runtime=False)
def _status(args: argparse.Namespace) -> int:
    from . import lab

    return lab.status()


@command("stop", "stop the lab's processes, keep its state for a quick `up`", needs_runtime=False)
def _stop(args: argparse.Namespace) -> int:
    from . import lab

    stopped = lab.stop_all()
    print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    return 0


@command(
    "down",
    "stop every process the lab started and remove everything it created",
    needs_runtime=False,
)
def _down(args: argparse.Namespace) -> int:
    from . import lab

    lab.down()
    left = hosts.leftovers()
    if left:
        print("left behind: " + ", ".join(left), file=sys.stderr)
        return 1
    return 0


@command(
    "test",
    "run the live scenarios (pytest tests/lab/scenarios; extra arguments go to pytest, "
    "e.g. -k demo)",
)
def _test(args: argparse.Namespace) -> int:
    import pytest

    os.environ["MASAKARI_LAB_RUN"] = "1"
    return int(
        pytest.main(
            [
                str(settings.REPO / "tests" / "lab" / "scenarios"),
                "-p",
                "no:cacheprovider",
                "-v",
                "-s",
                "-p",
                "no:logging",
                "--durations=0",
                *args.pytest_args,
            ]
        )
    )


def _bench_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--counts", default="1,10,50", help="instance counts, comma separated (default 1,10,50)"
    )
    parser.add_argument("--runs", type=int, default=5, help="runs per count (default 5)")
    parser.add_argument(
        "--defaults",
        default="suite,upstream",
        help="whose defaults: suite, upstream or both (default suite,upstream)",
    )
    parser.add_argument(
        "--engine-grid",
        metavar="THREADS/DELAYS",
        help="masakari-engine alone for each recovery-threads x evacuation-delay, e.g. "
        "3,8,16,32/0,1,5 (with --counts)",
    )
    parser.add_argument(
        "--crm-mon-cost", action="store_true", help="CPU cost of one host-monitor poll"
    )
    parser.add_argument(
        "--controller-stalls",
        type=int,
        metavar="RUNS",
        help="link down -> fence request, RUNS times without then with quickack on the "
        "cluster's route to the hypervisors",
    )


def _integers(text: str) -> list[int]:
    return [int(c) for c in text.split(",")]


@command(
    "bench",
    "link down -> last instance ACTIVE elsewhere, suite vs upstream defaults (P50/P95); "
    "exit 1 if an instance was evacuated before the power-off or ran twice",
    add_arguments=_bench_arguments,
)
def _bench(args: argparse.Namespace) -> int:
    from . import bench, lab, scenario_steps

    try:
        counts = _integers(args.counts)
        grid = (
            [_integers(part) for part in args.engine_grid.split("/")] if args.engine_grid else []
        )
    except ValueError:
        print("--counts, --engine-grid: comma-separated integers (THREADS/DELAYS for the grid)")
        return 2
    labels = tuple(args.defaults.split(","))
    if not set(labels) <= set(bench.PROFILES) or args.runs < 1 or len(grid) not in (0, 2):
        print(
            "--defaults: suite, upstream or suite,upstream; --runs: 1 or more; "
            "--engine-grid: THREADS/DELAYS, e.g. 3,8,16,32/0,1,5"
        )
        return 2
    lab.up()
    if args.crm_mon_cost:
        bench.crm_mon_cost()
        return 0
    if args.controller_stalls:
        scenario_steps.reset(scenario_steps.admin_cloud())
        bench.controller_stalls(args.controller_stalls)
        return 0
    if not grid:  # real guests up to bench.REAL_GUESTS
        results = bench.run_link_down(counts, args.runs, labels)
        return int(any(result.unsafe for result in results.values()))
    # The engine alone, on nova's fake driver (no guest process), then libvirt again.
    admin = scenario_steps.admin_cloud()
    scenario_steps.reset(admin)
    lab.use_compute_driver(admin, "fake")
    try:
        bench.engine_grid(counts, *grid)
    finally:
        scenario_steps.reset(admin)
        lab.use_compute_driver(admin, "libvirt")
    return 0


def _soak_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--minutes", type=float, default=10, help="how long (default 10)")
    parser.add_argument(
        "--loss",
        default="5,10,20",
        help="packet loss (%%) of each phase, comma separated (default 5,10,20)",
    )


@command(
    "soak",
    "a hypervisor under CPU, memory and packet-loss pressure must not be fenced (margins)",
    add_arguments=_soak_arguments,
)
def _soak(args: argparse.Namespace) -> int:
    from . import lab, soak

    try:
        losses = tuple(int(p) for p in args.loss.split(","))
    except ValueError:
        print(f"--loss: comma-separated integer percentages, e.g. 5,10,20 (got {args.loss!r})")
        return 2
    if not all(0 < p < 100 for p in losses) or args.minutes <= 0:
        print("--loss: percentages from 1 to 99; --minutes: more than 0")
        return 2
    lab.up()
    try:
        soak.run(args.minutes, losses)
    except hosts.LabError as error:
        print(error)
        return 1
    return 0


def _pacemaker_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="action")
    actions.add_parser("up", help="create the hypervisors, start the cluster, configure it")
    actions.add_parser(
        "down", help="stop the cluster and remove the hypervisors (exit 1 if anything is left)"
    )
    actions.add_parser("status", help="the cluster's view of the hypervisors")
    fail = actions.add_parser(
        "fail", help="ip link set eth0 down on HOST, print the fencing timeline"
    )
    fail.add_argument("host", metavar="HOST", help="a hypervisor, e.g. virt-node-02.maas")


@command(
    "pacemaker",
    "the Pacemaker part alone: up, down, status, fail HOST (root, the standard library only)",
    needs_runtime=False,
    add_arguments=_pacemaker_arguments,
)
def _pacemaker(args: argparse.Namespace) -> int:
    import time

    from . import pacemaker

    try:
        if args.action == "fail":
            timeline = pacemaker.fail_and_watch(hosts.load().host(args.host), "manual")
            print(timeline.render())
            return 0
        if args.action == "up":
            t0 = time.monotonic()
            hosts.up()
            timings = pacemaker.up()
            print(pacemaker.status())
            print(
                f"up in {time.monotonic() - t0:.1f}s "
                + " ".join(f"{k}={v:.1f}s" for k, v in timings.items())
            )
        elif args.action == "down":
            notes = pacemaker.down()
            print("down" + (": " + "; ".join(notes) if notes else ""))
            left = hosts.leftovers()
            if left:
                print("left behind: " + ", ".join(left), file=sys.stderr)
                return 1
        else:
            print(pacemaker.status())
    except hosts.LabError as err:
        print(err.report(), file=sys.stderr)
        if args.action == "up":
            print(
                "state and logs are kept; `python -m tests.lab pacemaker down` removes the lab",
                file=sys.stderr,
            )
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m tests.lab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    for name, cmd in COMMANDS.items():
        p = sub.add_parser(name, help=cmd.help)
        if cmd.add_arguments:
            cmd.add_arguments(p)
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "test":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.pytest_args = extra
    cmd = COMMANDS[args.command]
    try:
        if cmd.needs_runtime and not install.in_lab_python():
            if os.geteuid() != 0:
                print("the lab must run as root (it installs packages and starts daemons)")
                return 2
            print(f"[lab] checking Debian packages and {settings.VENV}", flush=True)
            timings: dict[str, float] = {}
            install.ensure(timings)
            print(f"[lab] apt: {timings['apt']:.1f} s, venv: {timings['venv']:.1f} s", flush=True)
            install.reexec_in_lab_python(argv)
        return cmd.run(args)
    except procs.LabError as exc:
        print(f"lab {args.command} failed: {exc}", file=sys.stderr)
        return 1
    except hosts.LabError as exc:  # the hypervisor side names the step and its log tail
        print(f"lab {args.command} failed: {exc.report()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; `python -m tests.lab down` cleans up", file=sys.stderr)
        return 130
