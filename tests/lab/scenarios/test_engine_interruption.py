"""Issue #15 "No recovery lost": masakari-engine dies or is restarted in the middle of a recovery.

The engine is killed (`kill -9`, as a crash or the OOM killer does) and started again the way
its unit would be, at three points: (a) a host recovery `running` before its first step (the
disable of the failed host's nova-compute), (b) the same recovery's re-run right after its
first `Call evacuate command` of three, (c) an instance restart after its stop call. The charm
restarts it during another host recovery: a config change first waits (the status names the
notification), a small `max-restart-delay` lets the restart through; (c) runs while that
recovery waits to be resumed, so one orphan-age wait serves both. Each ends with the
notification `finished`, every server ACTIVE where its recovery puts it, evacuated or started
exactly once, and no double run; each prints what the interruption cost.

What brings a recovery back is the charm's masakari-recovery-resumer (set `running` -> `error`
once nothing was recorded for the notification for the orphan age) and masakari-engine's own
`process_unfinished_notifications` (runs `error` ones again every `retry-interval`).
"""

from __future__ import annotations

import datetime
import re
import subprocess
import time
from collections.abc import Callable
from contextlib import contextmanager
from uuid import UUID

import pytest

from tests.functional import scenarios as shared

from .. import deploy, procs, services, settings
from .. import scenario_steps as steps
from ..lab_cloud import LabCloud
from ..procs import LabError
from .conftest import SCENARIO_CONFIG

ENGINE = "masakari-engine"
RESUMER_LOG = settings.LOGS / "masakari-recovery-resumer.out"
FAILED = settings.FAILED_HOST
TARGETS = {"virt-node-01.maas", "virt-node-10.maas"}
VM_HOST = "virt-node-10.maas"  # the instance restart's hypervisor
SEGMENT_HOSTS = ["virt-node-01.maas", FAILED, "virt-node-10.maas"]
RESUMER_EVERY = 30  # the charm's resumer period (masakari_workload.RESUME_EVERY)

# Recovery timers low enough that an orphan is resumed ~75 s after its last recorded step (the
# charm's orphan age: 60 + the largest of evacuation-delay and the three timeouts below), each
# still well above what its step takes here (a lab evacuation or stop is confirmed in 2-5 s).
# One recovery thread: the servers of a failed host are evacuated one after the other, so a
# kill right after the first evacuate call leaves the others for the re-run.
INTERRUPTION_CONFIG = {
    "evacuation-timeout": 15,
    "power-off-timeout": 15,
    "power-on-timeout": 15,
    "recovery-threads": 1,
}
ORPHAN_AGE = 60 + max(SCENARIO_CONFIG["evacuation-delay"], *(
    INTERRUPTION_CONFIG[k] for k in ("evacuation-timeout", "power-off-timeout", "power-on-timeout")
))  # fmt: skip
RETRY_INTERVAL = SCENARIO_CONFIG["retry-interval"]


@pytest.fixture(scope="module")
def interruptible(admin):
    sec = services.load_secrets()
    deploy.change_config(admin, sec, **INTERRUPTION_CONFIG)
    conf = open("/etc/masakari/masakari.conf").read()
    assert "host_failure_recovery_threads = 1\n" in conf
    yield admin
    # Also what the charm scenario changed (one config change, not two: each costs ~15 s).
    restore = {key: SCENARIO_CONFIG.get(key) for key in INTERRUPTION_CONFIG}
    deploy.change_config(admin, sec, **restore, debug=None, **{"max-restart-delay": None})


@pytest.fixture
def ready(interruptible):
    """A clean lab (no servers, no segments, every hypervisor up) with the timers above; the
    failed hypervisor whole again afterwards."""
    steps.reset(interruptible)
    yield interruptible
    heal_failed_hypervisor(interruptible)


def heal_failed_hypervisor(admin) -> None:
    """scenario_steps.fail_host stops the hypervisor's libvirtd, and masakari-instancemonitor exits
    once it cannot reach libvirt: start both again (lab.start_compute does, as systemd would) so
    the next scenario, or the next `up`, finds the hypervisor whole."""
    steps.restore_computes(admin)


# ---------------------------------------------------------------- watching a notification
class Recovery:
    """One notification followed through its interruptions: its status changes (each with when
    it was first seen), and the resumer's line for it. `peers` are polled along with it, so a
    recovery that moves on while the scenario waits for another is seen all the same."""

    def __init__(self, admin, tl: steps.LiveTimeline, uuid: str, label: str = "") -> None:
        self.admin, self.tl, self.uuid = admin, tl, uuid
        self.label = label or "notification"
        self.statuses: list[tuple[float, str]] = []
        self.peers: list[Recovery] = []
        self.resumer_seen = len(resumer_lines())

    def sequence(self) -> list[str]:
        """The statuses seen, from the first `running` (a notification may be seen `new`)."""
        seen = [s for _, s in self.statuses]
        return seen[seen.index("running") :] if "running" in seen else seen

    def poll(self) -> str:
        status = self.admin.notification(self.uuid)["status"]
        if not self.statuses or self.statuses[-1][1] != status:
            self.statuses.append((time.time(), status))
            self.tl.mark(f"{self.label} {status}")
        if status in ("failed", "ignored"):
            raise procs.Fatal(f"notification {self.uuid} ended {status}: {engine_tail()}")
        return status

    def wait(self, what: str, check: Callable[[], object], timeout: float, interval=0.5):
        """Poll the notification (and its peers) until check() holds."""

        def polled():
            for recovery in (self, *self.peers):
                recovery.poll()
            return check()

        return procs.wait_for(what, polled, timeout=timeout, interval=interval)

    def seen(self, status: str, after: float = 0.0) -> float | None:
        """When the notification was first seen in `status` at or after `after` (epoch)."""
        return next((t for t, s in self.statuses if s == status and t >= after), None)

    def resumer_lines(self) -> list[str]:
        """The resumer's lines for this notification since the last hand-back."""
        return [line for line in resumer_lines()[self.resumer_seen :] if self.uuid in line]

    def wait_status(self, status: str, timeout: float, after: float = 0.0) -> float:
        return self.wait(f"{self.label} {status}", lambda: self.seen(status, after), timeout)

    def resumed(self, stopped: float, timeout: float = ORPHAN_AGE + RESUMER_EVERY + 120) -> dict:
        """Wait for the resumer to hand the notification back and the engine to run it again;
        print where the time from the engine's end (`stopped`) to the re-run went.

        The re-run is the engine's first "Processing notification <uuid>" line after `stopped`.
        `error` can last less than one poll (Masakari's periodic task may run just after the
        resumer's update): when no poll saw it, the resumer's line for the notification is the
        evidence, and `error` then `running` are recorded at the re-run's time."""
        processing = f"Processing notification {self.uuid}"

        def handed_back() -> float | None:
            rerun = next(
                (t for t, line in steps.engine_log_lines(stopped) if processing in line), None
            )
            return rerun if rerun is not None and self.resumer_lines() else None

        logged = self.wait(f"{self.label} run again", handed_back, timeout + RETRY_INTERVAL + 90)
        errored = self.seen("error", after=stopped)
        if errored is None:
            self.statuses += [(logged, "error"), (logged, "running")]
            self.statuses.sort()
            self.tl.mark(f"{self.label} error, then running again within one poll")
            errored = rerun = logged
        else:
            rerun = self.wait_status("running", RETRY_INTERVAL + 90, after=errored)
        lines = self.resumer_lines()
        self.resumer_seen = len(resumer_lines())
        assert len(lines) == 1, f"expected one resumer line for {self.uuid}, got {lines}"
        self.tl.mark(f"resumer: {lines[0]}")
        # The resumer's line names the last recorded activity (naive UTC, whole seconds).
        stamp = re.search(r"activity since (\S+ \S+) UTC", lines[0])[1]
        last = datetime.datetime.fromisoformat(stamp).replace(tzinfo=datetime.timezone.utc)
        cost = {
            "engine gone -> re-run": rerun - stopped,
            "last record before that": stopped - last.timestamp(),
            "orphan age": ORPHAN_AGE,
            "then the resumer's next look": errored - (last.timestamp() + ORPHAN_AGE),
            "then retry-interval's next run": rerun - errored,
        }
        print(
            f"  interruption cost ({self.label}): "
            + ", ".join(f"{k} {v:.1f} s" for k, v in cost.items())
            + f" (resumer every {RESUMER_EVERY} s, retry-interval {RETRY_INTERVAL} s)",
            flush=True,
        )
        return cost


def kill_engine(tl: steps.LiveTimeline, why: str) -> float:
    """`kill -9` of masakari-engine (its whole process group, as the lab started it)."""
    pid = procs.get(ENGINE).pid
    if not procs.kill(ENGINE):
        raise LabError(f"{ENGINE} (pid {pid}) was not running")
    tl.mark(f"kill -9 {ENGINE} (pid {pid}): {why}")
    return time.time()


def start_engine(tl: steps.LiveTimeline) -> None:
    deploy.start_service(ENGINE)
    tl.mark(f"{ENGINE} started again (pid {procs.get(ENGINE).pid}), as its unit would")


def resumer_lines() -> list[str]:
    try:
        text = RESUMER_LOG.read_text(errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if line.startswith("resumed notification")]


def engine_tail() -> str:
    return procs.log_tail(str(deploy.ENGINE_LOG), 15)


def engine_logged(pattern: str, since: float) -> re.Match | None:
    """The first line of masakari-engine's log since `since` (epoch) matching `pattern`."""
    for _, line in steps.engine_log_lines(since):
        match = re.search(pattern, line)
        if match:
            return match
    return None


@contextmanager
def engine_held_before_first_step(host_uuid: str):
    """Hold the failed host's row in Masakari's database (SELECT ... FOR UPDATE in an open
    transaction): the engine sets the notification `running`, then blocks on its first write,
    the host's `on_maintenance`, before any recovery step: the point (a) every time, however
    fast the engine is. InnoDB makes it wait up to innodb_lock_wait_timeout (50 s)."""
    host_uuid = str(UUID(host_uuid))  # only a UUID goes into the statement
    client = subprocess.Popen(  # noqa: S603 - the lab's own database client
        ["mariadb", f"--defaults-file={settings.ETC / 'mysql' / 'my.cnf'}", "-uroot",
         "--batch", "--skip-column-names", "--unbuffered", "masakari"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        client.stdin.write(
            f"BEGIN; SELECT 'held' FROM hosts WHERE uuid = '{host_uuid}' FOR UPDATE;\n"  # noqa: S608
        )
        client.stdin.flush()
        if client.stdout.readline().strip() != "held":
            raise LabError(f"could not hold host {host_uuid} in masakari's database")
        yield
    finally:
        client.communicate("ROLLBACK;\n", timeout=30)


def segment_host_uuid(admin, segment: steps.Segment, name: str) -> str:
    return next(h["uuid"] for h in admin.segment_hosts(segment.uuid) if h["name"] == name)


def evacuations(cloud: LabCloud, server_id: str, since: float) -> list[datetime.datetime]:
    return shared.evacuations_since(
        cloud, server_id, datetime.datetime.fromtimestamp(since, datetime.timezone.utc)
    )


def watch(cloud: LabCloud, ids: list[str]):
    return cloud.watch_guests(ids)


def stop_watch(tl: steps.LiveTimeline, detector) -> list[str]:
    marks, double_runs = detector.stop()
    for when, what in sorted(marks):
        print(f"       guests t+{when.timestamp() - tl.zero_wall:6.1f}s  {what}")
    return double_runs


# ---------------------------------------------------------------- (a) and (b): a host recovery
def test_host_recovery_survives_engine_killed_before_disable_and_after_first_evacuate(ready):
    admin = ready
    cloud = LabCloud(admin)
    segment = steps.make_segment(admin, "S1", "auto", SEGMENT_HOSTS)
    ids = steps.boot(admin, "ha", FAILED, count=3)
    tl = steps.LiveTimeline("engine killed twice during one host recovery (auto, 3 servers)")
    detector = watch(cloud, ids)
    try:
        with engine_held_before_first_step(segment_host_uuid(admin, segment, FAILED)):
            uuid = steps.fail_host(admin, tl, FAILED)
            recovery = Recovery(admin, tl, uuid)
            recovery.wait_status("running", 60)
            # (a): `running`, nothing done: nova-compute still enabled, no step recorded.
            assert admin.compute_service(FAILED)["status"] == "enabled"
            assert engine_logged(r"Disable nova-compute on", tl.zero_wall) is None
            killed_a = kill_engine(tl, "notification running, before the disable")
        start_engine(tl)
        recovery.resumed(killed_a)

        # (b): the re-run's first evacuate call has reached Nova; the other two wait their turn.
        def first_evacuate() -> str | None:
            match = engine_logged(r"Call evacuate command for instance (\S+)", killed_a)
            if match and evacuations(cloud, match[1], killed_a):
                return match[1]
            return None

        first = recovery.wait("the re-run's first evacuate", first_evacuate, 120, interval=0.1)
        killed_b = kill_engine(tl, f"after the first evacuate call ({first})")
        started = {i: evacuations(cloud, i, tl.zero_wall) for i in ids}
        assert [i for i in ids if started[i]] == [first], f"evacuate calls at the kill: {started}"
        start_engine(tl)
        recovery.resumed(killed_b)
        recovery.wait_status("finished", 300)
        arrived = steps.watch_failover(admin, tl, uuid, ids, TARGETS, timeout=120)
    finally:
        double_runs = stop_watch(tl, detector)
    steps.show_tables(segment)

    assert recovery.sequence() == ["running", "error", "running", "error", "running", "finished"]
    assert not double_runs, double_runs
    assert set(arrived.values()) <= TARGETS
    for server_id in ids:
        starts = evacuations(cloud, server_id, tl.zero_wall)
        assert len(starts) == 1, f"{server_id} evacuated {len(starts)} times"
        # Masakari locks a server while it evacuates it and unlocks it once confirmed: the
        # killed run never did, and its re-run no longer lists the server (not on the failed
        # host): it stays locked until an operator unlocks it.
        locked = admin.server(server_id)["locked"]
        tl.mark(f"server {server_id}: evacuated once, locked={locked}")
        assert locked is (server_id == first)
    # The first server's evacuation is the killed run's; the re-run moved only the others.
    assert evacuations(cloud, first, tl.zero_wall)[0].timestamp() < int(killed_b) + 1
    service = admin.compute_service(FAILED)
    assert (service["status"], service["forced_down"]) == ("disabled", True)
    hosts = {h["name"]: h for h in admin.segment_hosts(segment.uuid)}
    assert hosts[FAILED]["on_maintenance"] is True
    print(f"  kill (a) -> finished: {recovery.statuses[-1][0] - killed_a:.1f} s")


# ---------------------------------------------------------------- the charm; (c)
def test_charm_restart_mid_host_recovery_and_engine_killed_mid_instance_restart(ready):
    """The charm's restart first waits for a host recovery (status names it), then goes
    through with a small max-restart-delay; while that recovery waits for its orphan age,
    masakari-engine is killed during an instance restart (c). Both are resumed."""
    admin = ready
    sec = services.load_secrets()
    cloud = LabCloud(admin)
    segment = steps.make_segment(admin, "S1", "auto", SEGMENT_HOSTS)
    (evacuated,) = steps.boot(admin, "ha", FAILED)
    (restarted,) = steps.boot(admin, "vm", VM_HOST)
    tl = steps.LiveTimeline("the charm restarts masakari-engine during a host recovery")
    detector = watch(cloud, [evacuated, restarted])
    try:
        with engine_held_before_first_step(segment_host_uuid(admin, segment, FAILED)):
            uuid = steps.fail_host(admin, tl, FAILED)
            host = Recovery(admin, tl, uuid, "host notification")
            host.wait_status("running", 60)
            engine = procs.get(ENGINE).pid
            # An operator turns debug on: masakari.conf changes, the engine's restart waits.
            status = deploy.change_config(admin, sec, check=False, debug=True)
            tl.mark(f"juju config masakari debug=true -> {status.name}: {status.message}")
            assert status.name == "waiting"
            assert f"Restart of masakari-engine waits for notification {uuid}" in status.message
            assert procs.get(ENGINE).pid == engine and host.poll() == "running"
            # The operator will not wait: the next hook restarts it anyway.
            status = deploy.change_config(admin, sec, check=False, **{"max-restart-delay": 1})
            tl.mark(f"juju config masakari max-restart-delay=1 -> {status.name}: {status.message}")
            charm_restart = time.time()
            assert status.name == "active"
            assert procs.get(ENGINE).pid != engine
            assert host.poll() == "running"  # interrupted, not finished

        # (c) while the host recovery waits out its orphan age: the guide's restart check.
        known = {
            n["notification_uuid"] for n in admin.ha("GET", "/notifications")["notifications"]
        }
        pid = cloud.kill_instance_process(restarted, VM_HOST)
        tl.mark(f"pkill -f -9 guest={cloud.instance_name(restarted)} on {VM_HOST} (pid {pid})")

        def notified() -> str | None:
            found = [n for n in admin.ha("GET", "/notifications")["notifications"]
                     if n["notification_uuid"] not in known and n["type"] == "VM"]  # fmt: skip
            return found[0]["notification_uuid"] if found else None

        vm = Recovery(
            admin,
            tl,
            procs.wait_for("the VM notification", notified, timeout=60, interval=0.2),
            "VM notification",
        )
        vm.peers, host.peers = [host], [vm]

        # Masakari asked Nova to stop the server (its first step) and waits for it.
        def stopping() -> bool:
            return bool(
                engine_logged(f"Call stop server command for instance {restarted}", tl.zero_wall)
            ) and "stop" in admin.server_actions(restarted)

        vm.wait("the engine's stop call", stopping, 60, interval=0.1)
        killed = kill_engine(tl, "after its stop call, before the start")
        assert "start" not in admin.server_actions(restarted)
        start_engine(tl)
        host.resumed(charm_restart)
        vm.resumed(killed)
        host.wait_status("finished", 300)
        vm.wait_status("finished", 300)
        steps.watch_failover(admin, tl, uuid, [evacuated], TARGETS, timeout=120)
        new_pid = vm.wait(
            "a new qemu process", lambda: cloud.instance_process(restarted, VM_HOST), 60
        )
    finally:
        double_runs = stop_watch(tl, detector)  # debug and max-restart-delay: reset by the fixture
    assert not double_runs, double_runs
    assert host.sequence() == ["running", "error", "running", "finished"]
    assert vm.sequence() == ["running", "error", "running", "finished"]
    assert len(evacuations(cloud, evacuated, tl.zero_wall)) == 1
    actions = admin.server_actions(restarted)
    tl.mark(f"nova actions on vm: {', '.join(actions)}; qemu pid {new_pid} (was {pid})")
    assert actions.count("start") == 1 and actions[-1] == "start"
    assert not evacuations(cloud, restarted, tl.zero_wall)
    assert steps.host_of(admin.server(restarted)) == VM_HOST and new_pid != pid
    print(
        f"  charm restart -> host notification finished: "
        f"{host.seen('finished') - charm_restart:.1f} s; "
        f"kill (c) -> VM notification finished: {vm.seen('finished') - killed:.1f} s"
    )
