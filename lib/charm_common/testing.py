"""An in-memory System for unit tests: records what a charm did to its machine; and a real
throwaway network namespace for what is cheap to run for real (routes)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator, Sequence

from charm_common.system import HostSystem, RunResult, System


@dataclasses.dataclass
class FakeFile:
    content: bytes
    owner: str
    group: str
    mode: int


class FakeSystem(System):
    def __init__(self, fqdn: str = "juju-machine-1.maas", hostname: str | None = None) -> None:
        self.fqdn_name = fqdn
        # socket.gethostname(): the FQDN unless a test sets the short name MAAS machines have.
        self.host_name = hostname or fqdn
        self.files: dict[str, FakeFile] = {}
        self.sources: list[str] = []
        self.installed: dict[str, str] = {}
        self.available_version = "2:17.0.0-0ubuntu1"
        self.running: set[str] = set()
        self.paused: set[str] = set()
        self.restarts: list[str] = []
        self.commands: list[list[str]] = []
        self.timeouts: list[float] = []  # each command's timeout, in step with commands
        # Maps a command's first words to a function that answers it.
        self.responders: dict[tuple[str, ...], Callable[[list[str]], RunResult]] = {}

    # Packages
    def add_apt_source(self, source: str) -> None:
        self.sources.append(source)

    def install_packages(self, packages: Sequence[str]) -> None:
        for package in packages:
            self.installed[package] = self.available_version

    def package_version(self, package: str) -> str | None:
        return self.installed.get(package)

    # Files
    def write_file(
        self, path: str, content: str | bytes, *, owner: str, group: str, mode: int
    ) -> bool:
        data = content.encode() if isinstance(content, str) else content
        new = FakeFile(data, owner, group, mode)
        changed = self.files.get(path) != new
        self.files[path] = new
        return changed

    def read_file(self, path: str) -> bytes | None:
        file = self.files.get(path)
        return file.content if file else None

    def text(self, path: str) -> str:
        return self.files[path].content.decode()

    def file_mode(self, path: str) -> tuple[str, str, int] | None:
        file = self.files.get(path)
        return (file.owner, file.group, file.mode) if file else None

    def remove_file(self, path: str) -> bool:
        return self.files.pop(path, None) is not None

    # Services
    def restart_service(self, name: str) -> None:
        self.restarts.append(name)
        if name not in self.paused:
            self.running.add(name)

    def stop_service(self, name: str) -> None:
        self.running.discard(name)

    def pause_service(self, name: str) -> None:
        self.paused.add(name)
        self.running.discard(name)

    def resume_service(self, name: str) -> None:
        self.paused.discard(name)
        self.running.add(name)

    def service_running(self, name: str) -> bool:
        return name in self.running

    # Commands
    def run(self, argv: Sequence[str], *, timeout: float = 300) -> RunResult:
        argv = list(argv)
        self.commands.append(argv)
        self.timeouts.append(timeout)
        for length in range(len(argv), 0, -1):
            responder = self.responders.get(tuple(argv[:length]))
            if responder:
                return responder(argv)
        return RunResult(0, "", "")

    def fqdn(self) -> str:
        return self.fqdn_name

    def hostname(self) -> str:
        return self.host_name


def can_make_network_namespaces() -> bool:
    """Root with iproute2: what `network_namespace` needs (CI has both)."""
    return os.geteuid() == 0 and shutil.which("ip") is not None


@contextlib.contextmanager
def network_namespace(setup: Sequence[Sequence[str]]) -> Iterator[str]:
    """A new network namespace with a veth pair `eth0`/`eth0-peer` up, then `ip -n <ns> <args>`
    for each args of setup; its name. Deleted on exit. Needs root."""
    name = f"charm-test-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        for args in (
            ("link", "add", "eth0", "type", "veth", "peer", "name", "eth0-peer"),
            ("link", "set", "eth0-peer", "up"),
            ("link", "set", "eth0", "up"),
            *setup,
        ):
            subprocess.run(["ip", "-n", name, *args], check=True, capture_output=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=True)


def in_namespace(netns: str) -> Callable[[list[str]], RunResult]:
    """A FakeSystem responder that runs the command for real inside `netns`."""
    return lambda argv: HostSystem().run(["ip", "netns", "exec", netns, *argv])
