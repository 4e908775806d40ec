"""The double-run detector: was an instance ever running twice during a failover?

Two witnesses, both needed:
- processes: from the failure to the end of recovery a thread samples every lab hypervisor's
  qemu processes, every SAMPLE_INTERVAL (the machine's /proc, each process mapped to its
  hypervisor by its network namespace, to its instance by libvirt's `-name guest=<instance>`);
  two processes of one instance in one sample is a double run;
- the disk: afterwards it reads each instance's disk (the shared instances directory) and the
  guest's heartbeats (guest_image.py): one lane per boot, so two boots that both wrote in the
  same span of time, one after the other's first and before its last record, ran together.
  Guest clocks have one-second resolution (`date +%s`), so only a boot whose first record is in
  an earlier second than another's last record counts.

Used through LabCloud.watch_guests by every failover scenario of the shared suite, and by the
lab's demo.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import threading
import time
from pathlib import Path

from . import guest_image, hosts
from .procs import LabError, wait_for

SAMPLE_INTERVAL = 0.1  # seconds between samples; the bound is 0.2
RECOVERED_BOOT_TIMEOUT = 60  # seconds for a guest's first heartbeat after it went ACTIVE
UTC = datetime.timezone.utc


@dataclasses.dataclass(frozen=True)
class Guest:
    server_id: str
    instance_name: str  # libvirt's domain name, instance-<id as 8 hex digits>
    disk: Path


def qemu_processes(lab: hosts.Lab) -> dict[str, list[tuple[str, int]]]:
    """instance name -> [(hypervisor FQDN, pid)] of every running qemu of the lab's hypervisors."""
    by_netns = {}
    for host in lab.hosts:
        try:
            by_netns[os.stat(f"/run/netns/{host.netns}").st_ino] = host.fqdn
        except OSError:
            continue
    found: dict[str, list[tuple[str, int]]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            if not argv[0].endswith(b"qemu-system-x86_64") or b"-name" not in argv:
                continue
            name = argv[argv.index(b"-name") + 1].split(b",")[0].removeprefix(b"guest=")
            netns = os.stat(f"/proc/{entry}/ns/net").st_ino
        except (OSError, IndexError):
            continue
        if netns in by_netns:
            found.setdefault(name.decode(), []).append((by_netns[netns], int(entry)))
    return found


@dataclasses.dataclass
class Boot:
    boot: str
    records: int
    first: int  # guest wall clock, seconds
    last: int


def boots(records: list[guest_image.Heartbeat]) -> list[Boot]:
    """Each boot's span of heartbeats, in order of its first record."""
    spans: dict[str, Boot] = {}
    for r in records:
        span = spans.setdefault(r.boot, Boot(r.boot, 0, r.wall, r.wall))
        span.records += 1
        span.first, span.last = min(span.first, r.wall), max(span.last, r.wall)
    return sorted(spans.values(), key=lambda b: (b.first, b.last))


def interleaved(spans: list[Boot]) -> list[tuple[Boot, Boot]]:
    """Pairs of boots where the later one began writing before the earlier one stopped."""
    return [(a, b) for i, a in enumerate(spans) for b in spans[i + 1 :] if b.first < a.last]


def _heartbeats(guest: Guest) -> list[guest_image.Heartbeat]:
    return guest_image.parse(guest_image.read_disk(guest.disk))


class Detector:
    """Samples from start() to stop(); stop() returns timeline marks and double-run findings,
    as the shared suite's `GuestWatch` (tests/functional/cloud.py) does."""

    def __init__(self, guests: list[Guest]) -> None:
        self.guests = guests
        self.lab = hosts.load()
        self.samples = 0
        self._before: dict[Guest, set[str]] = {}  # boot ids on each disk when sampling began
        self.max_gap = 0.0
        self.marks: list[tuple[datetime.datetime, str]] = []
        self.findings: list[str] = []
        self._seen: dict[tuple[str, str, int], float] = {}  # (instance, host, pid) -> last seen
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="double-run detector", daemon=True)

    def start(self) -> Detector:
        """Once every guest has written a heartbeat (at most RECOVERED_BOOT_TIMEOUT after it
        went ACTIVE: it boots for ~3 s, longer under load), sample until stop()."""
        waiting = list(self.guests)

        def beating() -> bool:
            waiting[:] = [g for g in waiting if not _heartbeats(g)]
            return not waiting

        try:
            wait_for(
                "a heartbeat from every guest",
                beating,
                timeout=RECOVERED_BOOT_TIMEOUT,
                interval=0.5,
                ignore=(),
            )
        except LabError:
            pass  # each guest still waiting is a finding
        self.findings += [
            f"no heartbeat from {g.instance_name} within {RECOVERED_BOOT_TIMEOUT} s before the "
            "failure: its guest does not run"
            for g in waiting
        ]
        self._before = {g: {b.boot for b in boots(_heartbeats(g))} for g in self.guests}
        self._thread.start()
        return self

    def _run(self) -> None:
        names = {g.instance_name for g in self.guests}
        last = None
        while not self._stop.is_set():
            now = time.time()
            if last is not None:
                self.max_gap = max(self.max_gap, now - last)
            last = now
            self._sample(now, {k: v for k, v in qemu_processes(self.lab).items() if k in names})
            self._stop.wait(max(0.0, SAMPLE_INTERVAL - (time.time() - now)))

    def _sample(self, now: float, running: dict[str, list[tuple[str, int]]]) -> None:
        self.samples += 1
        for name, procs in running.items():
            for host, pid in procs:
                if (name, host, pid) not in self._seen:
                    what = "runs" if self.samples == 1 else "started"
                    self._mark(now, f"qemu of {name} {what} on {host} (pid {pid})")
                self._seen[(name, host, pid)] = now
            if len(procs) > 1 and not any(name in f for f in self.findings):
                where = ", ".join(f"{h} (pid {p})" for h, p in procs)
                self.findings.append(f"two qemu processes of {name} at once: {where}")
                self._mark(now, f"DOUBLE RUN: qemu of {name} on {where}")
        for (name, host, pid), seen in list(self._seen.items()):
            if seen < now and all(p != pid for _, p in running.get(name, [])):
                self._mark(now, f"qemu of {name} on {host} (pid {pid}) gone")
                del self._seen[(name, host, pid)]

    def _mark(self, when: float, what: str) -> None:
        self.marks.append((datetime.datetime.fromtimestamp(when, UTC), what))

    def stop(self) -> tuple[list[tuple[datetime.datetime, str]], list[str]]:
        """Called once recovery is done: keeps sampling, at most RECOVERED_BOOT_TIMEOUT, until
        each guest's disk has heartbeats of a boot that was not there at start() (the recovered
        guest boots for ~3 s, more under load) and no instance has two qemu processes any more (a
        double run lasts until the old host's power-off): only then can the disk show whether
        two boots wrote at the same time."""
        waiting = list(self.guests)

        def recovered() -> bool:
            waiting[:] = [g for g in waiting if not any(
                b.boot not in self._before[g] for b in boots(_heartbeats(g)))]  # fmt: skip
            running = qemu_processes(self.lab)
            return not waiting and all(
                len(running.get(g.instance_name, [])) < 2 for g in self.guests
            )

        try:
            wait_for(
                "a new boot of every guest, and one qemu each",
                recovered,
                timeout=RECOVERED_BOOT_TIMEOUT,
                interval=0.5,
                ignore=(),
            )
        except LabError:
            pass  # each guest still waiting is a finding
        self.findings += [
            f"no heartbeat from a new boot of {g.instance_name} within "
            f"{RECOVERED_BOOT_TIMEOUT} s of its recovery: the recovered guest does not run"
            for g in waiting
        ]
        self._stop.set()
        self._thread.join(timeout=10)
        self._mark(
            time.time(),
            f"detector: {self.samples} samples, at most {self.max_gap * 1000:.0f} ms apart",
        )
        if self.max_gap > 2 * SAMPLE_INTERVAL:
            self.findings.append(
                f"the detector sampled at most {self.max_gap:.2f} s apart (bound 0.2 s): "
                "a short double run could have been missed"
            )
        for guest in self.guests:
            self._read_disk(guest)
        return self.marks, self.findings

    def _read_disk(self, guest: Guest) -> None:
        spans = boots(_heartbeats(guest))
        if not spans:
            self.findings.append(f"no heartbeat on the disk of {guest.instance_name}")
            return
        for span in spans:
            self.marks.append(
                (
                    datetime.datetime.fromtimestamp(span.first, UTC),
                    f"disk of {guest.instance_name}: boot {span.boot[:8]} wrote "
                    f"{span.records} heartbeats from here until "
                    f"{datetime.datetime.fromtimestamp(span.last, UTC):%H:%M:%S}",
                )
            )
        for a, b in interleaved(spans):
            self.findings.append(
                f"heartbeats of two boots interleave on the disk of {guest.instance_name}: "
                f"{a.boot[:8]} wrote until {a.last}, {b.boot[:8]} from {b.first} "
                f"({a.last - b.first} s together)"
            )
