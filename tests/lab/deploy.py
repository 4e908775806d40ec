"""Deploy masakari with its own charm, driven through ops.testing, onto this machine.

The lab plays Juju and the counterpart charms: it fires the charm's events, feeds it the relation
data keystone, mysql-router and rabbitmq-server would send (computed from the lab's real
services) and does what those charms do with the data the masakari charm publishes: the database
grant, the vhost and user, the keystone service user, service and endpoints. Every file the
masakari daemons read is the charm's; LabSystem is the charm's system interface for this machine.

The charm's ops.testing State is kept between runs (STATE/charm/state.pickle), as a Juju unit
keeps its state, so a second `up` or a config change continues where the last run ended.
"""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import install, pacemaker, procs, prometheus, settings, vault
from .charm_unit import CharmUnit
from .procs import LabError

CHARM_STATE_DIR = settings.STATE / "charm"
STATE_FILE = CHARM_STATE_DIR / "state.pickle"
ENABLED_FILE = CHARM_STATE_DIR / "enabled-services.json"
SYSTEM_LOG = settings.LOGS / "charm-system.log"
TIMELINE_LOG = settings.LOGS / "charm-events.log"
UNIT = "masakari/0"
APACHE_ENABLED_DIRS = (
    "/etc/apache2/mods-enabled",
    "/etc/apache2/sites-enabled",
    "/etc/apache2/conf-enabled",
)
ENGINE_LOG = settings.LOGS / "masakari-engine.log"
# Where the charm's own logs end up (paths it renders), for error reports.
CHARM_LOGS = ("/var/log/apache2/masakari_error.log", str(ENGINE_LOG))


def charm_source() -> Path:
    """The repository holding charms/masakari and lib/charm_common (this one by default)."""
    return Path(os.environ.get("MASAKARI_LAB_CHARM_SOURCE", settings.REPO))


def charm_available() -> bool:
    root = charm_source()
    return (root / "charms/masakari/src/charm.py").exists() and (
        root / "lib/charm_common/system.py"
    ).exists()


def _import_charm():
    root = charm_source()
    for path in (root / "lib", root / "charms/masakari/src"):
        if str(path) in sys.path:
            sys.path.remove(str(path))
        sys.path.insert(0, str(path))
    if "charm" not in sys.modules:
        # Every charm has a `config` module (src/config.py): masakari's must be the one found.
        sys.modules.pop("config", None)
    import charm  # noqa: PLC0415 - the charm's own module name
    from charm_common import system as charm_system

    return charm, charm_system


# ---------------------------------------------------------------------------------------------
def _lab_system_class(base: type) -> type:
    """LabSystem derives from the charm library's HostSystem: real files, real apt, real
    commands; only services differ (lab-managed processes instead of systemd units)."""

    class LabSystem(base):
        """The charm's system interface on the lab's control node (this machine)."""

        def add_apt_source(self, source: str) -> None:
            raise RuntimeError(
                f"the lab runs Debian 12's packages only; openstack-origin "
                f"{source!r} is not available here (use distro)"
            )

        def install_packages(self, packages: Sequence[str]) -> None:
            _log_system(f"install_packages {' '.join(packages)}")
            install.apt_install(list(packages))

        def write_file(self, path: str, content, *, owner: str, group: str, mode: int) -> bool:
            _remember_original(path)
            changed = super().write_file(path, content, owner=owner, group=group, mode=mode)
            _log_system(
                f"write_file {path} {owner}:{group} {mode:04o}"
                f"{' (changed)' if changed else ' (unchanged)'}"
            )
            return changed

        def remove_file(self, path: str) -> bool:
            _remember_original(path)
            _log_system(f"remove_file {path}")
            return super().remove_file(path)

        def restart_service(self, name: str) -> None:
            _log_system(f"restart_service {name}")
            _set_enabled(name, True)
            start_service(name, restart=True)

        def stop_service(self, name: str) -> None:
            _log_system(f"stop_service {name}")
            procs.stop(name)

        def pause_service(self, name: str) -> None:
            _log_system(f"pause_service {name}")
            _set_enabled(name, False)
            procs.stop(name)

        def resume_service(self, name: str) -> None:
            _log_system(f"resume_service {name}")
            _set_enabled(name, True)
            start_service(name, restart=True)

        def service_running(self, name: str) -> bool:
            return procs.running(name)

        def run(self, argv: Sequence[str], *, timeout: float = 300):
            if list(argv[:1]) == ["systemctl"]:
                # No systemd here: daemon-reload and enable mean nothing, and start_service
                # runs what the charm's unit file says.
                from charm_common.system import RunResult

                _log_system(f"run {' '.join(argv)} -> 0 (no systemd in the lab)")
                return RunResult(0, "", "")
            if list(argv[:1]) == ["cibadmin"]:
                # This machine's cluster is the control side's (hacluster runs beside masakari).
                argv = pacemaker.control_command(argv)
            before = _enabled_links()
            result = super().run(argv, timeout=timeout)
            for link in _enabled_links() - before:  # a2ensite / a2enmod: undone by `down`
                install.record_created(link, kind="symlink")
            _log_system(f"run {' '.join(argv)} -> {result.returncode}")
            return result

        def fqdn(self) -> str:
            return socket.getfqdn()

    return LabSystem


def _log_system(line: str) -> None:
    SYSTEM_LOG.parent.mkdir(parents=True, exist_ok=True)
    with open(SYSTEM_LOG, "a") as f:
        f.write(f"{time.strftime('%H:%M:%S')} {line}\n")


def _remember_original(path: str) -> None:
    """Before the charm first touches a system file, keep the package's version for `down`."""
    created = install.load_created()
    if path in created.get("replaced", []) or path in created.get("file", []):
        return
    if os.path.exists(path):
        backup = settings.STATE / "system-backups" / path.lstrip("/")
        backup.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cp", "-a", path, str(backup)], check=True)
        install.record_created(path, kind="replaced")
    else:
        install.record_created(path, kind="file")


def _enabled_links() -> set[str]:
    links = set()
    for directory in APACHE_ENABLED_DIRS:
        if os.path.isdir(directory):
            links |= {os.path.join(directory, n) for n in os.listdir(directory)}
    return links


def _enabled() -> dict[str, bool]:
    try:
        return json.loads(ENABLED_FILE.read_text())
    except (OSError, ValueError):
        return {}


def _set_enabled(name: str, enabled: bool) -> None:
    data = _enabled()
    data[name] = enabled
    ENABLED_FILE.parent.mkdir(parents=True, exist_ok=True)
    ENABLED_FILE.write_text(json.dumps(data))


# ---------------------------------------------------------------------------------------------
# The charm's services as lab processes (what their systemd units run in production).
def service_argv(name: str) -> list[str]:
    if name == "apache2":
        # As apache2ctl does: Debian's envvars, run and lock dirs; in the foreground so the lab
        # owns the PID (mod_wsgi's daemon processes are its children).
        script = (
            '. /etc/apache2/envvars && mkdir -p "$APACHE_RUN_DIR" "$APACHE_LOCK_DIR" '
            '"$APACHE_LOG_DIR" && exec /usr/sbin/apache2 -DFOREGROUND'
        )
        return ["/bin/sh", "-c", script]
    if name == "haproxy":
        argv = ["/usr/sbin/haproxy", "-W", "-db", "-f", "/etc/haproxy/haproxy.cfg"]
        limit = max_open_files()
        if limit < 2 * HAPROXY_MAXCONN + 100:
            # haproxy needs ~2 files per connection for the charm's maxconn; where root may not
            # raise its hard limit (a container without CAP_SYS_RESOURCE) cap the connections
            # on the command line rather than fail (the rendered file is left as it is).
            argv[3:3] = ["-n", str((limit - 100) // 2)]
        return argv
    if name == "masakari-engine":
        # Debian's unit: User=masakari, --config-file and --log-file.
        return [
            "/usr/bin/setpriv",
            "--reuid=masakari",
            "--regid=masakari",
            "--init-groups",
            "/usr/bin/masakari-engine",
            "--config-file",
            "/etc/masakari/masakari.conf",
            "--log-file",
            str(ENGINE_LOG),
        ]
    unit_file = Path(f"/etc/systemd/system/{name}.service")
    if unit_file.exists():
        # The charm's own units (the recovery resumer, the metrics exporter): ExecStart as
        # their User (masakari, as both say).
        unit = unit_file.read_text()
        exec_start = next(
            line.split("=", 1)[1] for line in unit.splitlines() if line.startswith("ExecStart=")
        )
        return [
            "/usr/bin/setpriv", "--reuid=masakari", "--regid=masakari", "--init-groups",
            *exec_start.split(),
        ]  # fmt: skip
    raise LabError(f"the lab does not know how to run service {name!r}")


HAPROXY_MAXCONN = 20000  # the charm's global maxconn
SYSTEMD_NOFILE = 524288  # systemd's default hard LimitNOFILE


def max_open_files() -> int:
    """The highest open-files limit a service can get here (systemd's default if allowed)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard >= SYSTEMD_NOFILE:
        return SYSTEMD_NOFILE
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, SYSTEMD_NOFILE))
    except (ValueError, OSError):
        return hard
    return SYSTEMD_NOFILE


READY_PORTS = {"apache2": settings.MASAKARI_API_PORT, "haproxy": settings.MASAKARI_PUBLIC_PORT}


def start_service(name: str, restart: bool = False) -> None:
    if restart:
        procs.stop(name)
    elif procs.running(name):
        return
    if name == "masakari-engine":
        ENGINE_LOG.parent.mkdir(parents=True, exist_ok=True)
        ENGINE_LOG.touch()
        subprocess.run(["chown", "masakari:masakari", str(ENGINE_LOG)], check=True)
    # systemd's default LimitNOFILE is 1024:524288 (haproxy raises its own soft limit to
    # fit maxconn); Debian's masakari-engine unit sets 65535.
    limit = max_open_files()
    nofile = (min(65535, limit),) * 2 if name == "masakari-engine" else (1024, limit)
    procs.spawn(name, service_argv(name), log=settings.LOGS / f"{name}.out", nofile=nofile)
    port = READY_PORTS.get(name)
    if port:
        # As systemd would report: the unit started (the charm checks it is running next).
        try:
            procs.wait_port(name, port, timeout=20)
        except LabError as error:
            _log_system(f"{name} did not come up: {error}")


# ---------------------------------------------------------------------------------------------
class Deployment(CharmUnit):
    """The masakari unit: its charm, its State, and the counterpart charms' behaviour."""

    def __init__(self, admin, sec: dict[str, str]) -> None:
        from ops import testing

        self.testing = testing
        self.admin = admin
        self.sec = sec
        charm, charm_system = _import_charm()
        self.lab_system = _lab_system_class(charm_system.HostSystem)()
        charm.MasakariCharm.system = self.lab_system
        super().__init__(
            UNIT,
            testing.Context(charm.MasakariCharm, charm_root=charm_source() / "charms/masakari"),
            STATE_FILE,
            TIMELINE_LOG,
            SYSTEM_LOG,
        )

    def initial_state(self, config: dict[str, Any]):
        t = self.testing
        networks = {
            self.lab_network(name)
            for name in (
                "shared-db",
                "amqp",
                "identity-service",
                "cluster",
                "public",
                "internal",
                "admin",
                "certificates",
                "cos-agent",
            )
        }
        return t.State(leader=True, config=config, networks=networks)

    def lab_network(self, name: str):
        """The binding `name` on the lab's bridge address, as every binding of the unit is."""
        return self.network(name, settings.IP)

    # ---------------------------------------------------------------- events
    def add_relation(self, state, endpoint: str, remote_app: str, interface: str):
        """relation-joined with an empty remote side; the charm publishes its part."""
        relation = self.testing.Relation(
            endpoint, interface=interface, remote_app_name=remote_app, remote_units_data={0: {}}
        )
        return self.join(state, relation)

    # ---------------------------------------------------------------- counterparts
    def mysql_answer(self, request: dict[str, str]) -> dict[str, str]:
        """mysql-router/mysql-innodb-cluster: database, user and grant, then the credentials."""
        from . import services

        missing = [k for k in ("database", "username", "hostname") if not request.get(k)]
        if missing:
            raise LabError(f"the charm's shared-db request lacks {', '.join(missing)}")
        services.ensure_database(
            request["database"],
            request["username"],
            self.sec["masakari_db"],
            host=request["hostname"],
        )
        return {
            "db_host": settings.IP,
            "db_port": str(settings.DB_PORT),
            "password": self.sec["masakari_db"],
            "allowed_units": UNIT,
        }

    def rabbit_answer(self, request: dict[str, str]) -> dict[str, str]:
        """rabbitmq-server: the vhost and user the charm asked for."""
        from . import services

        missing = [k for k in ("username", "vhost") if not request.get(k)]
        if missing:
            raise LabError(f"the charm's amqp request lacks {', '.join(missing)}")
        services.ensure_rabbit_user(
            request["username"], self.sec["masakari_rabbit"], vhost=request["vhost"]
        )
        return {"hostname": settings.IP, "password": self.sec["masakari_rabbit"]}

    def keystone_answer(self, request: dict[str, str]) -> dict[str, str]:
        """keystone: service user, then the service (type from the name) and its endpoints."""
        missing = [
            k
            for k in ("service", "region", "public_url", "internal_url", "admin_url")
            if not request.get(k)
        ]
        if missing:
            raise LabError(f"the charm's identity-service request lacks {', '.join(missing)}")
        # keystone's charm maps service names to catalog types; masakari is instance-ha.
        service_type = {"masakari": "instance-ha"}.get(request["service"])
        if service_type is None:
            raise LabError(f"keystone does not know service {request['service']!r}")
        admin = self.admin
        domain = admin.find("domains", settings.SERVICE_DOMAIN)
        project = admin.find("projects", settings.SERVICE_PROJECT, domain_id=domain["id"])
        admin.ensure_user(
            request["service"], self.sec["masakari_keystone"], domain["id"], project["id"]
        )
        admin.ensure_service(
            request["service"],
            service_type,
            "",
            region=request["region"],
            urls={
                "public": request["public_url"],
                "internal": request["internal_url"],
                "admin": request["admin_url"],
            },
        )
        admin.session.invalidate()  # the admin's next token carries the new catalog
        return {
            "service_host": settings.IP,
            "service_port": str(settings.KEYSTONE_PORT),
            "service_protocol": "http",
            "auth_host": settings.IP,
            "auth_port": str(settings.KEYSTONE_PORT),
            "auth_protocol": "http",
            "internal_host": settings.IP,
            "internal_port": str(settings.KEYSTONE_PORT),
            "internal_protocol": "http",
            "api_version": "3",
            "service_username": request["service"],
            "service_password": self.sec["masakari_keystone"],
            "service_tenant": settings.SERVICE_PROJECT,
            "service_tenant_id": project["id"],
            "service_domain": settings.SERVICE_DOMAIN,
            "service_domain_id": domain["id"],
            "admin_domain_id": admin.find("domains", "Default")["id"],
            "region": request["region"],
        }

    # ---------------------------------------------------------------- the whole deployment
    def first_deploy(self, config: dict[str, Any]):
        on = self.ctx.on
        state = self.initial_state(config)
        state = self.run("install", on.install(), state)
        state = self.run("leader-elected", on.leader_elected(), state)
        state = self.run("config-changed", on.config_changed(), state)
        state = self.run("start", on.start(), state)
        peers = self.testing.PeerRelation("cluster", interface="openstack-ha")
        state = self.with_relation(state, peers)
        state = self.run("cluster-relation-created", on.relation_created(peers), state)
        for endpoint, remote, interface, answer in (
            ("shared-db", "mysql-router", "mysql-shared", self.mysql_answer),
            ("amqp", "rabbitmq-server", "rabbitmq", self.rabbit_answer),
            ("identity-service", "keystone", "keystone", self.keystone_answer),
            ("certificates", "vault", "tls-certificates", self.vault_answer),
        ):
            state = self.add_relation(state, endpoint, remote, interface)
            state = self.answer(state, endpoint, answer(self.sent(state, endpoint)))
        # grafana-agent (the lab's Prometheus plays it) answers nothing the charm reads.
        state = self.add_relation(state, "cos-agent", "grafana-agent", "cos_agent")
        # What the charm published after vault's answer (https endpoints) reaches keystone.
        return self.reconcile_counterparts(state)

    def vault_answer(self, request: dict[str, str]) -> dict[str, str]:
        """vault: its CA, and a certificate for every name the charm asked for."""
        try:
            return vault.VaultStandIn(settings.VAULT).answer(request)
        except ValueError as error:
            raise LabError(f"the charm's certificates request: {error}") from None

    def reconcile_counterparts(self, state):
        """Re-answer every relation from what the charm publishes now (idempotent)."""
        if self.relation(state, "certificates") is None:
            # A lab deployed before vault was in it: `juju integrate masakari vault`.
            state = self.add_relation(state, "certificates", "vault", "tls-certificates")
        if self.relation(state, "cos-agent") is None:
            # A lab deployed before its Prometheus: `juju integrate masakari grafana-agent`.
            if not any(n.binding_name == "cos-agent" for n in state.networks):
                networks = {*state.networks, self.lab_network("cos-agent")}
                state = dataclasses.replace(state, networks=networks)
            state = self.add_relation(state, "cos-agent", "grafana-agent", "cos_agent")
        for endpoint, answer in (
            ("shared-db", self.mysql_answer),
            ("amqp", self.rabbit_answer),
            # vault before keystone: with its certificate in place the charm publishes https
            # endpoints, which keystone then registers.
            ("certificates", self.vault_answer),
            ("identity-service", self.keystone_answer),
        ):
            if self.relation(state, endpoint) is not None:
                reply = answer(self.sent(state, endpoint))
                relation = self.relation(state, endpoint)
                if dict(relation.remote_units_data.get(0, {})) != reply:
                    state = self.answer(state, endpoint, reply)
        return state


def charm_config_overrides() -> dict[str, Any]:
    try:
        return json.loads((CHARM_STATE_DIR / "config.json").read_text())
    except (OSError, ValueError):
        return {}


def deploy(admin, sec: dict[str, str], config: dict[str, Any] | None = None, check: bool = True):
    """Bring the masakari unit to Active, from scratch or from its saved state; its status.

    config: charm options to set (merged into the lab's saved options); None keeps them.
    check: fail unless the unit ends Active (False: a scenario looks at the status itself).
    """
    for key in ("masakari_db", "masakari_rabbit", "masakari_keystone"):
        if key not in sec:
            raise LabError(f"secret {key} missing from {settings.STATE}/secrets.json")
    deployment = Deployment(admin, sec)
    options = charm_config_overrides()
    if config:
        options.update(config)
        # None means "back to the charm's default" (juju config --reset).
        options = {k: v for k, v in options.items() if v is not None}
        CHARM_STATE_DIR.mkdir(parents=True, exist_ok=True)
        (CHARM_STATE_DIR / "config.json").write_text(json.dumps(options, indent=1))
    state = deployment.load()
    if state is None:
        state = deployment.first_deploy(options)
    else:
        # A "reboot": systemd would start the enabled services; then Juju runs start.
        for name, enabled in _enabled().items():
            if enabled:
                start_service(name)
        state = deployment.reconcile_counterparts(state)
        if dict(state.config) != options:
            state = dataclasses.replace(state, config=options)
            state = deployment.run("config-changed", deployment.ctx.on.config_changed(), state)
        state = deployment.run("start", deployment.ctx.on.start(), state)
    prometheus.agent_reads(UNIT, deployment.sent(state, "cos-agent"))
    prometheus.apply()
    if check:
        check_deployed(state, admin)
    return state.unit_status


def check_deployed(state, admin) -> None:
    status = state.unit_status
    if status.name != "active":
        raise LabError(
            f"the masakari charm is {status.name}: {status.message}\n"
            f"what it asked of the machine: {SYSTEM_LOG}\n" + _log_tails()
        )
    for name in ("apache2", "haproxy", "masakari-engine"):
        proc = procs.get(name)
        if proc is None or not proc.alive:
            raise LabError(f"{name} is not running after deployment\n" + _log_tails(name))

    def api_ready() -> bool:
        admin.ha("GET", "/segments")
        return True

    procs.wait_for(
        "masakari-api through the keystone catalog",
        api_ready,
        timeout=90,
        procs=["apache2", "haproxy", "masakari-engine"],
    )


def _log_tails(name: str | None = None) -> str:
    paths = list(CHARM_LOGS)
    for proc_name in ("apache2", "haproxy", "masakari-engine"):
        if name in (None, proc_name):
            paths.append(str(settings.LOGS / f"{proc_name}.out"))
    return "".join(
        f"last lines of {p}:\n{procs.log_tail(p, 15)}\n" for p in paths if os.path.exists(p)
    )


def renew_certificate(admin, sec: dict[str, str]) -> None:
    """vault's `reissue-certificates`: new certificates under the same CA, and the charm's
    certificates-relation-changed (it writes them and restarts apache)."""
    vault.VaultStandIn(settings.VAULT).renew()
    deploy(admin, sec)


def change_config(admin, sec: dict[str, str], check: bool = True, **options: Any):
    """`juju config masakari key=value ...` for the lab: config-changed on the saved state;
    the unit's status after it."""
    return deploy(admin, sec, config=options, check=check)
