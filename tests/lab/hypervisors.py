"""The hypervisor charms in the lab: pacemaker-remote and masakari-monitors on every lab host.

Each charm runs its own event handlers (ops.testing) once per lab host, against `InHost`: the
charms' system interface where files, commands and services live inside that host's network,
mount and UTS namespaces (hosts.py). The counterparts are played from what the charms publish:
- hacluster: sends its `pacemaker-key`; the lab's Pacemaker is configured from the
  pacemaker-remote units' data exactly as hacluster parses it (pacemaker.configure_from_relations);
- keystone: creates the `masakari-monitors` user the monitors charm asks for on
  identity-credentials (admin role in the service project) and sends its credentials.

Lab-only choice, a charm option an operator could set the same way: the process monitor is off
(the hosts have no systemd for it to restart units with; README says why). The instance monitor
is on: each hypervisor's libvirtd runs real guests (guests.py).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import hosts, install, pacemaker, prometheus, settings, vault
from .charm_unit import CharmUnit
from .procs import LabError

STATE_DIR = settings.STATE / "charms"
SYSTEM_LOG = settings.LOGS / "hypervisor-charms-system.log"
EVENT_LOG = settings.LOGS / "hypervisor-charms.log"
MONITORS_USER = "masakari-monitors"  # what the charm requests on identity-credentials
# What Debian's masakari-host-monitor unit runs as (User=/Group=).
MONITOR_USER = "masakari"
LAB_MONITORS_CONFIG = {"enable-instance-monitor": True, "enable-process-monitor": False}


@dataclasses.dataclass(frozen=True)
class CharmSpec:
    app: str
    directory: str
    class_name: str
    module: str  # unique per charm: every charm's entry module is called charm.py


PACEMAKER_REMOTE = CharmSpec(
    "pacemaker-remote", "charms/pacemaker-remote", "PacemakerRemoteCharm", "pr_charm"
)
MONITORS = CharmSpec(
    "masakari-monitors", "charms/masakari-monitors", "MasakariMonitorsCharm", "mm_charm"
)


def _charm_class(spec: CharmSpec) -> type:
    if spec.module not in sys.modules:
        for path in (
            settings.REPO / "lib",
            settings.REPO / "hostmonitor",
            settings.REPO / spec.directory / "src",
        ):
            if str(path) in sys.path:
                sys.path.remove(str(path))
            sys.path.insert(0, str(path))
        # Every charm has a `config` module (src/config.py): this charm's must be the one found.
        sys.modules.pop("config", None)
        source = settings.REPO / spec.directory / "src" / "charm.py"
        module_spec = importlib.util.spec_from_file_location(spec.module, source)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[spec.module] = module
        module_spec.loader.exec_module(module)
    return getattr(sys.modules[spec.module], spec.class_name)


def _log(path: Path, line: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(f"{time.strftime('%H:%M:%S')} {line}\n")


# ---------------------------------------------------------------------------------------------
def in_host_system(host: hosts.Host):
    """The charms' System for one lab host (a HostSystem whose machine is the namespace)."""
    from charm_common.system import HostSystem, RunResult

    class InHost(HostSystem):
        def _say(self, line: str) -> None:
            _log(SYSTEM_LOG, f"{host.short}: {line}")

        def add_apt_source(self, source: str) -> None:
            raise RuntimeError(f"the lab runs Debian 12's packages only, not {source!r}")

        def install_packages(self, packages: Sequence[str]) -> None:
            # /usr is the machine's, shared by every host; pacemaker-remote conflicts with the
            # control side's pacemaker, so its daemon comes from the extracted .deb instead.
            self._say(f"install_packages {' '.join(packages)}")
            install.apt_install([p for p in packages if p != "pacemaker-remote"])
            if "pacemaker-remote" in packages:
                pacemaker.ensure_software()

        def package_version(self, package: str) -> str | None:
            if package == "pacemaker-remote":
                extracted = pacemaker.REMOTE_ROOT / pacemaker.REMOTED.lstrip("/")
                return super().package_version("pacemaker") if extracted.exists() else None
            return super().package_version(package)

        def write_file(self, path: str, content, *, owner: str, group: str, mode: int) -> bool:
            data = content.encode() if isinstance(content, str) else content
            if path.startswith("/usr/"):  # the machine's own /usr (the driver's files)
                if not os.path.exists(path):
                    install.record_created(path)
                return super().write_file(path, data, owner=owner, group=group, mode=mode)
            if self.read_file(path) == data and self.file_mode(path) == (owner, group, mode):
                return False
            hosts.write_file(host, path, data, mode=mode, owner=owner, group=group)
            self._say(f"write_file {path} {owner}:{group} {mode:04o}")
            return True

        def read_file(self, path: str) -> bytes | None:
            proc = hosts.run(host, ["cat", path], input=b"", check=False)
            return proc.stdout if proc.returncode == 0 else None

        def file_mode(self, path: str) -> tuple[str, str, int] | None:
            proc = hosts.run(host, ["stat", "-c", "%U %G %a", path], check=False)
            if proc.returncode != 0:
                return None
            owner, group, mode = proc.stdout.split()
            return owner, group, int(mode, 8)

        def remove_file(self, path: str) -> bool:
            if path.startswith("/usr/"):
                return super().remove_file(path)
            removed = hosts.run(host, ["rm", path], check=False).returncode == 0
            self._say(f"remove_file {path} -> {removed}")
            return removed

        def restart_service(self, name: str) -> None:
            self._say(f"restart_service {name}")
            hosts.stop_daemon(host, name)
            start_service(host, name)

        def stop_service(self, name: str) -> None:
            self._say(f"stop_service {name}")
            hosts.stop_daemon(host, name)

        def pause_service(self, name: str) -> None:
            self._say(f"pause_service {name}")
            hosts.stop_daemon(host, name)
            hosts.set_boot(host, name, False)

        def resume_service(self, name: str) -> None:
            self._say(f"resume_service {name}")
            hosts.stop_daemon(host, name)
            start_service(host, name)

        def service_running(self, name: str) -> bool:
            return hosts.daemon_pid(host, name) is not None

        def run(self, argv: Sequence[str], *, timeout: float = 300) -> RunResult:
            if list(argv) == ["systemctl", "daemon-reload"]:
                return RunResult(0, "", "")  # no systemd: start_service reads the drop-ins
            try:
                proc = hosts.run(host, argv, check=False, timeout=timeout)
            except hosts.LabError as error:
                return RunResult(124, "", str(error))
            self._say(f"run {' '.join(argv)} -> {proc.returncode}")
            return RunResult(proc.returncode, proc.stdout, proc.stderr)

        def fqdn(self) -> str:
            return self._socket("getfqdn")

        def hostname(self) -> str:
            return self._socket("gethostname")

        def _socket(self, function: str) -> str:
            """What Python's socket module answers inside the hypervisor (its UTS namespace)."""
            out = hosts.run(host, ["python3", "-c", f"import socket; print(socket.{function}())"])
            return out.stdout.strip()

    return InHost()


def start_service(host: hosts.Host, name: str) -> None:
    """What systemd would start for the unit, as a boot service of the host."""
    if name == pacemaker.REMOTE_SERVICE:
        pacemaker.start_remote(host)
        return
    drop_in = unit_drop_in(host, name)
    argv = drop_in.get("ExecStart")
    if not argv:
        raise LabError(f"the lab does not know how to run {name} on {host.fqdn}")
    # The user's groups (as systemd's User= gives them) plus the unit's SupplementaryGroups=.
    groups = hosts.run(host, ["id", "-Gn", MONITOR_USER]).stdout.split()
    groups += [g for g in drop_in.get("SupplementaryGroups", []) if g not in groups]
    hosts.start_daemon(
        host,
        name,
        ["setpriv", f"--reuid={MONITOR_USER}", f"--regid={MONITOR_USER}",
         f"--groups={','.join(groups)}", *argv],
    )  # fmt: skip


def unit_drop_in(host: hosts.Host, name: str) -> dict[str, list[str]]:
    """The last non-empty value of each setting in the unit's drop-in the charm wrote (the
    packaged unit's own ExecStart is replaced), split into words."""
    _charm_class(MONITORS)  # puts the charm's modules on sys.path
    import masakari_monitors_workload as workload

    proc = hosts.run(host, ["cat", workload.drop_in_path(name)], check=False)
    found: dict[str, list[str]] = {}
    for line in proc.stdout.splitlines():
        key, _, value = line.partition("=")
        if value.strip() and not line.startswith("#"):
            found[key.strip()] = value.split()
    return found


# ---------------------------------------------------------------------------------------------
class Unit(CharmUnit):
    """One subordinate unit on one lab host: its charm, its saved State, its events."""

    def __init__(self, spec: CharmSpec, host: hosts.Host, index: int) -> None:
        from ops import testing

        self.testing = testing
        self.spec = spec
        self.host = host
        self.charm_class = _charm_class(spec)
        super().__init__(
            f"{spec.app}/{index}",
            testing.Context(self.charm_class, charm_root=settings.REPO / spec.directory),
            STATE_DIR / spec.app / f"{host.fqdn}.pickle",
            EVENT_LOG,
            SYSTEM_LOG,
            where=f" on {host.fqdn}",
        )

    def run(self, event_name: str, event, state):
        self.charm_class.system = in_host_system(self.host)  # the class attribute charms read
        return super().run(event_name, event, state)

    def host_network(self, name: str):
        """The binding `name` on the host's address (its one network, the default space)."""
        return self.network(name, self.host.ip)

    def first_deploy(self, relations: list, config: dict[str, Any]):
        t = self.testing
        networks = {
            self.host_network(r.endpoint)
            for r in relations
            if not isinstance(r, t.SubordinateRelation)
        } | {self.host_network("juju-info")}
        state = t.State(leader=False, config=config, relations=relations, networks=networks)
        on = self.ctx.on
        state = self.run("install", on.install(), state)
        state = self.run("config-changed", on.config_changed(), state)
        state = self.run("start", on.start(), state)
        for endpoint in [
            r.endpoint for r in relations if not isinstance(r, t.SubordinateRelation)
        ]:
            state = self.join(state, self.relation(state, endpoint))
        return state

    def deployed(self, principal_endpoint: str, endpoint: str, remote_app: str, config: dict):
        """The saved state, or a first deployment: subordinate of nova-compute on
        `principal_endpoint`, related to `remote_app` on `endpoint` (which has not answered)."""
        state = self.load()
        if state is None:
            t = self.testing
            relations = [
                t.SubordinateRelation(principal_endpoint, remote_app_name="nova-compute"),
                t.Relation(endpoint, remote_app_name=remote_app, remote_units_data={0: {}}),
            ]
            state = self.first_deploy(relations, config)
        return state


# ---------------------------------------------------------------------------------------------
def deploy_pacemaker_remote(lab: hosts.Lab) -> dict[str, dict[str, str]]:
    """pacemaker-remote on every host with hacluster's key; returns what each unit publishes."""
    sent: dict[str, dict[str, str]] = {}
    key = pacemaker.hacluster_sends()
    # The operator's overlay: STONITH through MAAS, no resources on the hypervisors.
    config = {"enable-stonith": True, "enable-resources": False}
    for index, host in enumerate(lab.hosts):
        unit = Unit(PACEMAKER_REMOTE, host, index)
        state = unit.deployed("juju-info", "pacemaker-remote", "hacluster", config)
        state = unit.answer(state, "pacemaker-remote", key)
        sent[unit.name] = unit.sent(state, "pacemaker-remote")
        _check_active(unit, state, allow_waiting=True)
    return sent


def configure_pacemaker_remote(lab: hosts.Lab, options: dict[str, Any]) -> None:
    """`juju config pacemaker-remote key=value ...` (None: back to the charm's default), then
    each unit's config-changed, which sets its node's connection timing on the cluster."""
    for index, host in enumerate(lab.hosts):
        unit = Unit(PACEMAKER_REMOTE, host, index)
        state = unit.load()
        config = {k: v for k, v in {**state.config, **options}.items() if v is not None}
        state = dataclasses.replace(state, config=config)
        state = unit.run("config-changed", unit.ctx.on.config_changed(), state)
        _check_active(unit, state)


def settle_pacemaker_remote(lab: hosts.Lab) -> None:
    """update-status once the cluster knows the nodes: every unit reports its node online (and
    sets its connection timing on the primitive hacluster just created)."""
    for index, host in enumerate(lab.hosts):
        unit = Unit(PACEMAKER_REMOTE, host, index)
        state = unit.run("update-status", unit.ctx.on.update_status(), unit.load())
        _check_active(unit, state)
        if "online in cluster" not in state.unit_status.message:
            raise LabError(
                f"{unit.name}: {state.unit_status.message}; the cluster's view: "
                f"`python3 -m tests.lab pacemaker status`, its log: {pacemaker.control_log()}"
            )


def keystone_credentials(admin, sec: dict[str, str], request: dict[str, str]) -> dict[str, str]:
    """keystone's identity-credentials answer for the user the charm requested."""
    if request.get("username") != MONITORS_USER:
        raise LabError(f"masakari-monitors asked keystone for {request!r}")
    domain = admin.find("domains", settings.SERVICE_DOMAIN)
    project = admin.find("projects", settings.SERVICE_PROJECT, domain_id=domain["id"])
    admin.ensure_user(MONITORS_USER, sec["masakari_monitors_keystone"], domain["id"],
                      project["id"])  # fmt: skip
    return {
        "auth_host": settings.IP,
        "auth_port": str(settings.KEYSTONE_PORT),
        "auth_protocol": "http",
        "credentials_host": settings.IP,
        "credentials_port": str(settings.KEYSTONE_PORT),
        "credentials_protocol": "http",
        "credentials_username": MONITORS_USER,
        "credentials_password": sec["masakari_monitors_keystone"],
        "credentials_project": settings.SERVICE_PROJECT,
        "credentials_project_id": project["id"],
        "api_version": "3",
        "region": settings.REGION,
        "domain": settings.SERVICE_DOMAIN,
        "credentials_user_domain_name": settings.SERVICE_DOMAIN,
        "credentials_project_domain_name": settings.SERVICE_DOMAIN,
    }


def deploy_monitors(lab: hosts.Lab, admin, sec: dict[str, str], config: dict | None = None):
    """masakari-monitors on every host, with keystone's answer; Active, monitor running."""
    options = {**LAB_MONITORS_CONFIG, **saved_monitors_config()}
    if config:
        options = {k: v for k, v in {**options, **config}.items() if v is not None}
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        (STATE_DIR / "monitors-config.json").write_text(json.dumps(options, indent=1))
    for index, host in enumerate(lab.hosts):
        unit = Unit(MONITORS, host, index)
        state = unit.deployed("container", "identity-credentials", "keystone", options)
        if dict(state.config) != options:
            state = dataclasses.replace(state, config=options)
            state = unit.run("config-changed", unit.ctx.on.config_changed(), state)
        reply = keystone_credentials(admin, sec, unit.sent(state, "identity-credentials"))
        if dict(unit.relation(state, "identity-credentials").remote_units_data[0]) != reply:
            state = unit.answer(state, "identity-credentials", reply)
        else:
            state = unit.run("update-status", unit.ctx.on.update_status(), state)
        # vault publishes its CA to every unit related to it: the monitors trust the
        # Masakari API's certificate through it.
        ca = {"ca": vault.lab_ca().read_text()}
        if unit.relation(state, "certificates") is None:
            empty = unit.testing.Relation("certificates", remote_app_name="vault",
                                          remote_units_data={0: {}})  # fmt: skip
            state = unit.join(state, empty)
        if dict(unit.relation(state, "certificates").remote_units_data[0]) != ca:
            state = unit.answer(state, "certificates", ca)
        if unit.relation(state, "cos-agent") is None:
            # grafana-agent on the same hypervisor, played by the lab's Prometheus.
            if not any(n.binding_name == "juju-info" for n in state.networks):
                networks = {*state.networks, unit.host_network("juju-info")}
                state = dataclasses.replace(state, networks=networks)
            agent = unit.testing.SubordinateRelation("cos-agent", remote_app_name="grafana-agent")
            state = unit.join(state, agent)
        prometheus.agent_reads(unit.name, unit.sent(state, "cos-agent"))
        _check_active(unit, state)
    prometheus.apply()


def monitors_action(lab: hosts.Lab, host: str, name: str, **params: Any) -> dict:
    """`juju run masakari-monitors/<n> <name> ...` on the unit of hypervisor `host`: its
    results; ActionRefused with the charm's message when it refuses."""
    index, lab_host = next((i, h) for i, h in enumerate(lab.hosts) if h.fqdn == host)
    unit = Unit(MONITORS, lab_host, index)
    state = unit.load()
    if state is None:
        raise LabError(f"masakari-monitors is not deployed on {host}")
    return unit.action(name, params, state)[1]


def saved_monitors_config() -> dict[str, Any]:
    try:
        return json.loads((STATE_DIR / "monitors-config.json").read_text())
    except (OSError, ValueError):
        return {}


def _check_active(unit: Unit, state, allow_waiting: bool = False) -> None:
    status = state.unit_status
    if status.name == "active" or (allow_waiting and status.name == "waiting"):
        return
    raise LabError(
        f"{unit.name} on {unit.host.fqdn} is {status.name}: {status.message}\n"
        f"what it asked of the host: {SYSTEM_LOG}"
    )
