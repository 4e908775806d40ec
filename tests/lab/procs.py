"""Start, watch and stop the lab's daemons without systemd.

Each daemon is started in its own session, so its PID is also its process group; the PID and
the kernel's start time of that process are recorded in RUN/<name>.json. Stopping signals that
group only if the recorded process is still the one the lab started (same start time), so a
recycled PID is never touched.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from . import settings

T = TypeVar("T")


class LabError(Exception):
    """A failure the lab reports in one clear message (no traceback)."""


class Fatal(LabError):
    """A failure that no amount of waiting fixes: pollers stop at once."""


def _stat_fields(pid: int) -> list[str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name in field 2 may contain spaces: split after its closing ')'.
    return stat.rsplit(")", 1)[1].split()


def _start_time(pid: int) -> str | None:
    """Kernel start time of a live process; None if it is gone or a zombie (exited, unreaped)."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return None
    return fields[19]


def process_exists(pid: int) -> bool:
    return _start_time(pid) is not None


@dataclass(frozen=True)
class Proc:
    name: str
    pid: int
    start_time: str
    argv: list[str]
    log: str
    started_at: float = 0.0  # wall clock (epoch seconds) when the lab started it

    @property
    def alive(self) -> bool:
        return _start_time(self.pid) == self.start_time


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes in the process group."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields and fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def _pidfile(name: str) -> Path:
    return settings.RUN / f"{name}.json"


def get(name: str) -> Proc | None:
    try:
        data = json.loads(_pidfile(name).read_text())
    except (OSError, ValueError):
        return None
    return Proc(**data)


def recorded() -> list[Proc]:
    if not settings.RUN.is_dir():
        return []
    procs = [get(p.stem) for p in sorted(settings.RUN.glob("*.json"))]
    return [p for p in procs if p is not None]


def running(name: str) -> bool:
    proc = get(name)
    return proc is not None and proc.alive


def spawn(
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    log: Path | None = None,
    nofile: tuple[int, int] | None = None,
) -> Proc:
    """Start argv in its own session with output appended to its log; record it.

    nofile: (soft, hard) open-files limit, as a systemd unit's LimitNOFILE sets it.
    """
    settings.RUN.mkdir(parents=True, exist_ok=True)
    settings.LOGS.mkdir(parents=True, exist_ok=True)
    log = log or settings.LOGS / f"{name}.log"
    full_env = dict(os.environ if env is None else env)
    with open(log, "ab") as out:
        out.write(f"\n=== lab: starting {name}: {' '.join(argv)}\n".encode())
        out.flush()
        popen = subprocess.Popen(  # noqa: S603 - argv is the lab's own
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=(lambda: resource.setrlimit(resource.RLIMIT_NOFILE, nofile))
            if nofile
            else None,
        )
    start = _start_time(popen.pid) or ""
    proc = Proc(
        name=name,
        pid=popen.pid,
        start_time=start,
        argv=list(argv),
        log=str(log),
        started_at=time.time(),
    )
    _pidfile(name).write_text(json.dumps(proc.__dict__))
    return proc


def _owned_group(proc: Proc) -> bool:
    """True if the process group recorded for proc is still the lab's.

    The leader is ours if its start time matches. If no process has that PID any more, the
    group's remaining members are the leader's children (Linux does not hand out a PID that is
    still some group's id). A different process under that PID is a recycled PID: not ours.
    """
    start = _start_time(proc.pid)
    if start is None:
        return bool(_group_members(proc.pid))
    return start == proc.start_time


def stop(name: str, timeout: float = 15.0) -> bool:
    """Stop the process group the lab started under this name. Returns True if one was there."""
    proc = get(name)
    if proc is None:
        return False
    found = _owned_group(proc)
    if found:
        # The leader first, as its service manager would: apache2 and uwsgi masters stop
        # their own children (signalling the whole group at once makes apache2 linger).
        if proc.alive:
            os.kill(proc.pid, signal.SIGTERM)
            _wait_group_gone(proc.pid, timeout)
        if _owned_group(proc):
            _signal_group(proc, signal.SIGTERM)
            _wait_group_gone(proc.pid, 3)
        if _owned_group(proc):
            _signal_group(proc, signal.SIGKILL)
            _wait_group_gone(proc.pid, 5)
    _pidfile(name).unlink(missing_ok=True)
    return found


def _wait_group_gone(pgid: int, timeout: float) -> None:
    try:
        wait_for(
            f"process group {pgid} to exit",
            lambda: not _group_members(pgid),
            timeout=timeout,
            interval=0.1,
            ignore=(),
        )
    except LabError:
        pass  # the caller signals harder


def kill(name: str) -> bool:
    """SIGKILL the process group the lab started under this name: a crash, not a stop."""
    proc = get(name)
    if proc is None or not _owned_group(proc):
        return False
    _signal_group(proc, signal.SIGKILL)
    _wait_group_gone(proc.pid, 5)
    _pidfile(name).unlink(missing_ok=True)
    return True


def _signal_group(proc: Proc, sig: signal.Signals) -> None:
    if not _owned_group(proc):
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def log_tail(path: str | Path, lines: int = 25) -> str:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def port_open(port: int, host: str = settings.IP) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_for(
    what: str,
    check: Callable[[], T],
    *,
    timeout: float,
    interval: float = 0.3,
    ignore: tuple[type[Exception], ...] = (Exception,),
    procs: Sequence[str] = (),
    details: Callable[[], str] | None = None,
    error: Callable[[str, str, str], Exception] | None = None,
) -> T:
    """The lab's one way to wait: call `check()` every `interval` seconds until it returns
    something truthy, and return that.

    - ignore: exceptions that mean "not yet" (by default any; the last one is named if time runs
      out); any other exception propagates at once, and so does a `Fatal`.
    - procs: the lab daemons (by name) the wait depends on: if one exits, fail at once with the
      last lines of its log; on a timeout their last log lines are part of the error.
    - details: more to say on a timeout (e.g. another daemon's log lines).
    - error: on a timeout, `error(what, message, details)` is raised (`hosts.LabError` has that
      shape); by default a LabError "timed out after <timeout> s waiting for <what>".
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = check()
        except Fatal:
            raise
        except ignore as exc:
            result, last_error = None, exc
        if result:
            return result
        for name in procs:
            proc = get(name)
            if proc is not None and not proc.alive:
                raise LabError(
                    f"{name} exited while waiting for {what}; last lines of {proc.log}:\n"
                    + log_tail(proc.log)
                )
        if time.monotonic() > deadline:
            last = f" (last error: {last_error})" if last_error else ""
            logs = "".join(
                f"\nlast lines of {p.log}:\n{log_tail(p.log)}"
                for p in (get(n) for n in procs)
                if p is not None
            ) + (details() if details else "")
            if error is not None:
                raise error(what, f"timed out after {timeout:.0f} s{last}", logs)
            raise LabError(f"timed out after {timeout:.0f} s waiting for {what}{last}{logs}")
        time.sleep(interval)


def wait_port(name: str, port: int, timeout: float = 60, host: str = settings.IP) -> None:
    wait_for(
        f"{name} to listen on {host}:{port}",
        lambda: port_open(port, host),
        timeout=timeout,
        procs=[name],
    )


def run(
    argv: Sequence[str],
    *,
    log: str,
    timeout: float = 600,
    env=None,
    check=True,
    input_text: str | None = None,
) -> subprocess.CompletedProcess:
    """Run a one-shot command, output appended to LOGS/<log>.log; raise LabError on failure."""
    settings.LOGS.mkdir(parents=True, exist_ok=True)
    path = settings.LOGS / f"{log}.log"
    with open(path, "ab") as out:
        out.write(f"\n=== lab: {' '.join(argv)}\n".encode())
        out.flush()
        try:
            result = subprocess.run(  # noqa: S603
                list(argv),
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                env=env,
                input=input_text.encode() if input_text is not None else None,
                stdin=None if input_text is not None else subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            raise LabError(
                f"`{' '.join(argv)}` timed out after {timeout:.0f} s; "
                f"last lines of {path}:\n{log_tail(path)}"
            ) from exc
    if check and result.returncode != 0:
        raise LabError(
            f"`{' '.join(argv)}` failed (exit {result.returncode}); "
            f"last lines of {path}:\n{log_tail(path)}"
        )
    return result
