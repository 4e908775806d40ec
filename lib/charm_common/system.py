"""The system interface: everything a charm does to its machine goes through one of these.

Production uses HostSystem (apt, systemd, the real file system). Unit tests use the in-memory
FakeSystem from charm_common.testing; the lab implements the same interface for its hosts.
"""

from __future__ import annotations

import abc
import dataclasses
import grp
import os
import pwd
import socket
import subprocess
import tempfile
from collections.abc import Sequence


@dataclasses.dataclass(frozen=True)
class RunResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def last_error(self) -> str:
        """The last line of stderr, or `exit <code>` when stderr is empty: what a status or log
        line quotes of a failed command."""
        return (self.stderr.strip().splitlines() or [f"exit {self.returncode}"])[-1]


class System(abc.ABC):
    """What a charm may ask of the machine it runs on."""

    @abc.abstractmethod
    def add_apt_source(self, source: str) -> None:
        """Add an apt source (`cloud:<series>-<release>`, `ppa:...`, `deb ...`)."""

    @abc.abstractmethod
    def install_packages(self, packages: Sequence[str]) -> None:
        """Install (or upgrade to the candidate version) the given packages."""

    @abc.abstractmethod
    def package_version(self, package: str) -> str | None:
        """The installed version of a package, or None when it is not installed."""

    @abc.abstractmethod
    def write_file(
        self, path: str, content: str | bytes, *, owner: str, group: str, mode: int
    ) -> bool:
        """Write a file atomically with the given ownership; say whether anything changed."""

    @abc.abstractmethod
    def read_file(self, path: str) -> bytes | None:
        """A file's content, or None when it does not exist."""

    @abc.abstractmethod
    def file_mode(self, path: str) -> tuple[str, str, int] | None:
        """(owner, group, mode) of a file, or None when it does not exist."""

    @abc.abstractmethod
    def remove_file(self, path: str) -> bool:
        """Remove a file; say whether it existed."""

    @abc.abstractmethod
    def restart_service(self, name: str) -> None: ...

    @abc.abstractmethod
    def stop_service(self, name: str) -> None: ...

    @abc.abstractmethod
    def pause_service(self, name: str) -> None:
        """Stop a service and keep it from starting again until resumed (survives reboots)."""

    @abc.abstractmethod
    def resume_service(self, name: str) -> None:
        """Undo pause_service and start the service."""

    @abc.abstractmethod
    def service_running(self, name: str) -> bool: ...

    @abc.abstractmethod
    def run(self, argv: Sequence[str], *, timeout: float = 300) -> RunResult:
        """Run a command; a command that outlives its timeout returns code 124."""

    @abc.abstractmethod
    def fqdn(self) -> str:
        """The machine's fully qualified host name, `socket.getfqdn()`."""

    @abc.abstractmethod
    def hostname(self) -> str:
        """`socket.gethostname()`: what nova-compute registers when nova.conf sets no `host`.

        Nova's own default for `[DEFAULT] host` (nova/conf/netconf.py); on MAAS machines it is
        usually the short name, e.g. `virt-node-01`.
        """


class HostSystem(System):
    """The real machine: apt, systemd and the local file system."""

    def add_apt_source(self, source: str) -> None:
        # charmhelpers alone knows the Ubuntu Cloud Archive `cloud:` pockets and their keys.
        from charmhelpers.fetch.ubuntu import add_source

        add_source(source)

    def install_packages(self, packages: Sequence[str]) -> None:
        from charmlibs import apt

        apt.update()
        for package in packages:
            # Latest, not Present: after an origin change this is what upgrades the release.
            apt.DebianPackage.from_system(package).ensure(apt.PackageState.Latest)

    def package_version(self, package: str) -> str | None:
        result = self.run(["dpkg-query", "--show", "--showformat=${Version}", package])
        return (result.stdout.strip() or None) if result.ok else None

    def write_file(
        self, path: str, content: str | bytes, *, owner: str, group: str, mode: int
    ) -> bool:
        data = content.encode() if isinstance(content, str) else content
        uid, gid = pwd.getpwnam(owner).pw_uid, grp.getgrnam(group).gr_gid
        if self.read_file(path) == data:
            st = os.stat(path)
            if (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (uid, gid, mode):
                return False
        directory = os.path.dirname(path)
        os.makedirs(directory, exist_ok=True)
        # Write to a private temporary file first so a secret is never readable with wrong modes.
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
        try:
            os.fchown(fd, uid, gid)
            os.fchmod(fd, mode)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return True

    def read_file(self, path: str) -> bytes | None:
        try:
            with open(path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def file_mode(self, path: str) -> tuple[str, str, int] | None:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None
        return (
            pwd.getpwuid(st.st_uid).pw_name,
            grp.getgrgid(st.st_gid).gr_name,
            st.st_mode & 0o7777,
        )

    def remove_file(self, path: str) -> bool:
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        return True

    def restart_service(self, name: str) -> None:
        from charmlibs import systemd

        systemd.service_restart(name)

    def stop_service(self, name: str) -> None:
        from charmlibs import systemd

        systemd.service_stop(name)

    def pause_service(self, name: str) -> None:
        from charmlibs import systemd

        systemd.service_pause(name)

    def resume_service(self, name: str) -> None:
        from charmlibs import systemd

        systemd.service_resume(name)

    def service_running(self, name: str) -> bool:
        from charmlibs import systemd

        return systemd.service_running(name)

    def run(self, argv: Sequence[str], *, timeout: float = 300) -> RunResult:
        try:
            proc = subprocess.run(
                list(argv), capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as e:
            return RunResult(
                124, _text(e.stdout), _text(e.stderr) + f"\ntimed out after {timeout}s"
            )
        except FileNotFoundError as e:
            return RunResult(127, "", str(e))
        return RunResult(proc.returncode, proc.stdout, proc.stderr)

    def fqdn(self) -> str:
        return socket.getfqdn()

    def hostname(self) -> str:
        return socket.gethostname()


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value
