"""The Masakari monitors workload: packages, files, services and commands. Knows nothing of ops."""

from __future__ import annotations

import dataclasses
import json
import pathlib
import re

import yaml

from charm_common.files import ManagedFile, template_environment
from charm_common.system import System

COMMON_PACKAGE = "masakari-monitors-common"
# What the fence-confirmed driver serves its metrics with (inside masakari-hostmonitor).
METRICS_PACKAGE = "python3-prometheus-client"
CONF_DIR = "/etc/masakarimonitors"
MONITORS_CONF = f"{CONF_DIR}/masakarimonitors.conf"
PROCESS_LIST = f"{CONF_DIR}/process_list.yaml"
KEYSTONE_CA = f"{CONF_DIR}/keystone-ca.pem"
DROP_IN_NAME = "masakari-monitors-charm.conf"
# Debian/Ubuntu build the monitors' python3 package for /usr/bin/python3.
SYSTEM_PYTHON = "/usr/bin/python3"
DEFAULT_DRIVER = "default"
FENCE_CONFIRMED_DRIVER = "fence-confirmed"
HOST_MONITORING_DRIVERS = (FENCE_CONFIRMED_DRIVER, DEFAULT_DRIVER)


@dataclasses.dataclass(frozen=True)
class Monitor:
    package: str
    service: str
    binary: str
    reads_libvirt: bool = False


# Keyed by the word in the charm's enable-<key>-monitor option; in start order.
MONITORS = {
    "host": Monitor("masakari-host-monitor", "masakari-host-monitor",
                    "/usr/bin/masakari-hostmonitor"),
    "instance": Monitor("masakari-instance-monitor", "masakari-instance-monitor",
                        "/usr/bin/masakari-instancemonitor", reads_libvirt=True),
    "process": Monitor("masakari-process-monitor", "masakari-process-monitor",
                       "/usr/bin/masakari-processmonitor"),
    "introspective": Monitor("masakari-introspective-instance-monitor",
                             "masakari-introspective-instance-monitor",
                             "/usr/bin/masakari-introspectiveinstancemonitor",
                             reads_libvirt=True),
}  # fmt: skip
SERVICES = tuple(m.service for m in MONITORS.values())
MONITORS_BY_SERVICE = {m.service: m for m in MONITORS.values()}

# process_list.yaml: every key the process monitor reads (it indexes all of them).
PROCESS_KEYS = (
    "process_name", "start_command", "pre_start_command", "post_start_command",
    "restart_command", "pre_restart_command", "post_restart_command", "run_as_root",
)  # fmt: skip
REQUIRED_PROCESS_KEYS = ("process_name", "start_command", "restart_command")
DEFAULT_PROCESS_LIST: tuple[dict[str, object], ...] = tuple(
    {"process_name": name, "start_command": f"systemctl start {unit}",
     "restart_command": f"systemctl restart {unit}", "run_as_root": True}
    for name, unit in (
        ("/usr/bin/nova-compute", "nova-compute"),
        ("/usr/sbin/libvirtd", "libvirtd"),
        ("/usr/sbin/pacemaker-remoted", "pacemaker_remote"),
    )
)  # fmt: skip

# Run from the charm's directory, not copied anywhere: only the charm runs it (in hooks and
# actions), so it is always the version the charm expects, there before the first reconcile
# succeeded (actions run with a bad config too), and nothing is left behind on remove.
SEGMENTS_SCRIPT = str(pathlib.Path(__file__).with_name("masakari_segments.py"))
SEGMENTS_TIMEOUT = 120.0  # seconds: a few API calls of 30 s at most, reinsert's 25 s watch
REFUSED = 3  # masakari_segments.py's exit code when it will not act now

_TEMPLATES = template_environment(pathlib.Path(__file__).parent.parent / "templates")
DAEMON_RELOAD = ("systemctl", "daemon-reload")  # systemd reads a changed drop-in only then


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class WorkloadError(RuntimeError):
    """The machine cannot take what the charm must install; the message says why and the fix."""


class SegmentsError(RuntimeError):
    """masakari_segments.py failed (`refused`: it would not act now); the message is its one
    line of reason, which names no secret."""

    def __init__(self, message: str, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


class ProcessListError(ValueError):
    """process-list is not a usable process list; the message names the line."""


@dataclasses.dataclass(frozen=True)
class Api:
    """[api]: how the monitors authenticate and find the Masakari API in the catalog."""

    auth_url: str
    username: str
    password: str = dataclasses.field(repr=False)
    project: str
    user_domain: str
    project_domain: str
    region: str
    interface: str  # public or internal
    ca_cert: bytes | None = dataclasses.field(default=None, repr=False)


@dataclasses.dataclass(frozen=True)
class MonitorsContext:
    hostname: str
    group: str  # the monitors' service group: reads the config, nothing else does
    debug: bool
    use_syslog: bool
    api: Api
    enabled: tuple[str, ...]  # keys of MONITORS
    host_driver: str
    monitoring_interval: int
    monitoring_samples: int
    stonith_wait: int
    api_retry_max: int
    api_retry_interval: int
    process_check_interval: int
    process_list: tuple[dict[str, object], ...]
    libvirt_group: str | None  # added to the libvirt-reading monitors' units when it exists
    # Where the fence-confirmed driver serves its metrics (its [fence_confirmed] options); port
    # 0: no section (nothing served; upstream's masakari-monitors knows no such options).
    metrics_address: str = ""
    metrics_port: int = 0

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.api.password,)

    @property
    def services(self) -> tuple[str, ...]:
        return tuple(MONITORS[key].service for key in MONITORS if key in self.enabled)


def drop_in_path(service: str) -> str:
    return f"/etc/systemd/system/{service}.service.d/{DROP_IN_NAME}"


def render(ctx: MonitorsContext) -> list[ManagedFile]:
    def template(name: str, **extra: object) -> bytes:
        return (
            _TEMPLATES.get_template(name)
            .render(ctx=ctx, names={"process_list": PROCESS_LIST, "keystone_ca": KEYSTONE_CA},
                    **extra)
            .encode()
        )  # fmt: skip

    every = ctx.services
    files = [
        # Holds the monitors' Keystone password: root-owned, readable by their group only.
        ManagedFile(MONITORS_CONF, template("masakarimonitors.conf.j2"), "root", ctx.group,
                    0o640, every),
    ]  # fmt: skip
    if "process" in ctx.enabled:
        files.append(ManagedFile(PROCESS_LIST, render_process_list(ctx.process_list), "root",
                                 ctx.group, 0o640, (MONITORS["process"].service,)))  # fmt: skip
    if ctx.api.ca_cert:
        files.append(ManagedFile(KEYSTONE_CA, ctx.api.ca_cert, "root", ctx.group, 0o644, every))
    for key in ctx.enabled:
        monitor = MONITORS[key]
        content = template(
            "systemd-drop-in.conf.j2",
            monitor=monitor,
            groups=[ctx.libvirt_group] if monitor.reads_libvirt and ctx.libvirt_group else [],
            conf=MONITORS_CONF,
        )
        files.append(ManagedFile(drop_in_path(monitor.service), content, "root", "root", 0o644,
                                 (monitor.service,), (DAEMON_RELOAD,)))  # fmt: skip
    return files


def uninstall(system: System) -> None:
    """Take away what the charm put on the machine: drop-ins, its files, the driver."""
    for monitor in MONITORS.values():
        system.remove_file(drop_in_path(monitor.service))
    system.run(DAEMON_RELOAD, timeout=120)
    for path in (MONITORS_CONF, PROCESS_LIST, KEYSTONE_CA):
        system.remove_file(path)
    try:
        from masakari_fence_confirmed import __version__
        from masakari_fence_confirmed import install as fence_install
    except ImportError:
        return  # a build without the driver installed none
    site = local_site_dir(system)
    for relative in fence_install.wanted_files(__version__):
        system.remove_file(f"{site}/{relative}")


def segments_command(system: System, host: str, *command: str) -> dict:
    """What `masakari_segments.py --host <host> <command>` prints (one JSON object).

    It reads the credentials from MONITORS_CONF under the machine's python3 (openstacksdk), so
    no secret is on the command line. Raises SegmentsError with its last line otherwise.
    """
    result = system.run(
        [SYSTEM_PYTHON, SEGMENTS_SCRIPT, "--config-file", MONITORS_CONF, "--host", host,
         *command],
        timeout=SEGMENTS_TIMEOUT,
    )  # fmt: skip
    if result.ok:
        try:
            found = json.loads(result.stdout)
        except ValueError:
            found = None
        if isinstance(found, dict):
            return found
        raise SegmentsError(f"{pathlib.Path(SEGMENTS_SCRIPT).name} printed no JSON object")
    last = result.last_error
    raise SegmentsError(last[-300:], refused=result.returncode == REFUSED)


def render_process_list(processes: tuple[dict[str, object], ...]) -> bytes:
    # Every key present (the monitor indexes each one), in the order the sample documents them.
    full = [{key: process.get(key) for key in PROCESS_KEYS} for process in processes]
    header = "# Rendered by the masakari-monitors charm (option process-list); edits are lost.\n"
    return (header + yaml.safe_dump(full, sort_keys=False, default_flow_style=False)).encode()


def parse_process_list(text: str) -> tuple[dict[str, object], ...]:
    """The process-list option, checked the way the process monitor will use it."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        # At the end of the text the parser points past the last line: name the last one.
        where = f"line {min(mark.line + 1, len(text.splitlines()))}: " if mark else ""
        problem = getattr(error, "problem", None) or "not valid YAML"
        raise ProcessListError(f"{where}{problem}") from None
    if not isinstance(root, yaml.SequenceNode) or not root.value:
        line = root.start_mark.line + 1 if root is not None else 1
        raise ProcessListError(f"line {line}: must be a non-empty list of processes")
    key_lines: list[dict[str, int]] = []
    for entry in root.value:
        line = entry.start_mark.line + 1
        if not isinstance(entry, yaml.MappingNode):
            raise ProcessListError(f"line {line}: each process must be a mapping of keys")
        lines: dict[str, int] = {"": line}
        for key_node, _value in entry.value:
            key, key_line = key_node.value, key_node.start_mark.line + 1
            if key not in PROCESS_KEYS:
                raise ProcessListError(
                    f"line {key_line}: unknown key {key!r} (known: {', '.join(PROCESS_KEYS)})"
                )
            if key in lines:
                raise ProcessListError(f"line {key_line}: {key} is given twice")
            lines[key] = key_line
        key_lines.append(lines)
    try:
        loaded = yaml.safe_load(text)
    except Exception as error:  # noqa: BLE001 - constructors raise ValueError, KeyError, ...
        # Composes but cannot be built: a tag the safe loader refuses or cannot apply
        # (`!x a`, `!!int a`, `!!bool maybe`).
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        raise ProcessListError(
            f"{where}{getattr(error, 'problem', None) or 'not valid YAML'}"
        ) from None
    processes = []
    for process, lines in zip(loaded, key_lines, strict=True):
        for key, value in process.items():
            if key == "run_as_root":
                if not isinstance(value, bool):
                    raise ProcessListError(f"line {lines[key]}: run_as_root must be true or false")
            elif value is not None and not isinstance(value, str):
                raise ProcessListError(f"line {lines[key]}: {key} must be a string")
            elif value is not None and _CONTROL.search(value):
                raise ProcessListError(
                    f"line {lines[key]}: {key} must be one line, without control characters"
                )
        missing = [k for k in REQUIRED_PROCESS_KEYS if not process.get(k)]
        if missing:
            raise ProcessListError(f"line {lines['']}: missing {', '.join(missing)}")
        processes.append({"run_as_root": True, **process})
    return tuple(processes)


def packages(enabled: tuple[str, ...], metrics: bool = False) -> tuple[str, ...]:
    """The monitors' packages; with `metrics`, what the driver serves its metrics with."""
    wanted = (COMMON_PACKAGE, *(MONITORS[key].package for key in MONITORS if key in enabled))
    return (*wanted, METRICS_PACKAGE) if metrics else wanted


def group_exists(system: System, group: str) -> bool:
    return system.run(["getent", "group", group], timeout=30).ok


def service_group(system: System) -> str:
    """Ubuntu's packages run the monitors as masakarimonitors, Debian's as masakari."""
    return "masakarimonitors" if group_exists(system, "masakarimonitors") else "masakari"


def local_site_dir(system: System) -> str:
    """The /usr/local dist-packages directory the system Python (and so the monitors) scans."""
    result = system.run([SYSTEM_PYTHON, "-c", "import sys; print(*sys.path, sep='\\n')"])
    for entry in result.stdout.split() if result.ok else ():
        if entry.startswith("/usr/local/lib/python3") and entry.endswith("dist-packages"):
            return entry
    raise WorkloadError(f"{SYSTEM_PYTHON} scans no /usr/local/lib/python3*/dist-packages")


def install_fence_confirmed_driver(system: System) -> bool:
    """Put the fence-confirmed driver and its entry point where masakari-hostmonitor finds them.

    The package is staged next to the charm code (tools/build_charms.py); its own installer
    says which files make up an installed copy, and they are written through the System so
    ownership, atomic writes and the lab's roots apply. True when anything changed.
    """
    try:
        from masakari_fence_confirmed import __version__
        from masakari_fence_confirmed import install as fence_install
    except ImportError:
        raise WorkloadError(
            "this charm build lacks the fence-confirmed driver: rebuild it with "
            "tools/build_charms.py, or set host-monitoring-driver=default"
        ) from None
    site = local_site_dir(system)
    changed = False
    for relative, content in fence_install.wanted_files(__version__).items():
        changed |= system.write_file(
            f"{site}/{relative}", content, owner="root", group="root", mode=0o644
        )
    # An older version's dist-info would register the entry point twice after a charm upgrade.
    for stale in fence_install.stale_files(site, __version__):
        changed |= system.remove_file(str(stale))
    return changed
