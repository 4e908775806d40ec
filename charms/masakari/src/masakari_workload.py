"""The Masakari workload: packages, files, services and commands. Knows nothing of ops."""

from __future__ import annotations

import dataclasses
import json
import pathlib
import re

from charm_common.files import ManagedFile, template_environment
from charm_common.origin import RELEASES, release_major, release_of
from charm_common.relations import ServerCertificate
from charm_common.system import RunResult, System

PACKAGES = (
    "masakari-common",
    "masakari-api",
    "masakari-engine",
    "apache2",
    "libapache2-mod-wsgi-py3",
    "haproxy",
    "python3-prometheus-client",  # the metrics exporter (masakari_metrics.py)
)
RELEASE_PACKAGE = "masakari-common"
ENGINE = "masakari-engine"
RESUMER = "masakari-recovery-resumer"  # the charm's own unit: see masakari_recovery.py
SERVICES = ("haproxy", "apache2", ENGINE, RESUMER)
# The charm's own unit (see masakari_metrics.py), run while cos-agent is related: services().
EXPORTER = "masakari-metrics-exporter"

MASAKARI_CONF = "/etc/masakari/masakari.conf"
API_SITE = "/etc/apache2/sites-available/masakari-api.conf"
HAPROXY_CFG = "/etc/haproxy/haproxy.cfg"
KEYSTONE_CA = "/etc/masakari/keystone-ca.pem"
RABBIT_CA = "/etc/masakari/rabbit-ca.pem"
# masakari_recovery.py beside this module, installed where an upgrade of the charm cannot move
# it from under the running resumer; the machine's python3 runs it (Masakari's SQLAlchemy).
RECOVERY_SCRIPT = "/usr/local/lib/charm-masakari/masakari_recovery.py"
# masakari_metrics.py beside it: it imports masakari_recovery from its own directory.
METRICS_SCRIPT = "/usr/local/lib/charm-masakari/masakari_metrics.py"
# vault's certificate for the API (leaf + chain) and its key, read by apache's root process.
TLS_CERT = "/etc/apache2/ssl/masakari/cert.pem"
TLS_KEY = "/etc/apache2/ssl/masakari/key.pem"
# vault's CA in the system trust store, for everything on the machine that calls the API or
# another service vault certified (the openstack client, masakari's own Nova/keystone calls).
TRUSTED_CA = "/usr/local/share/ca-certificates/masakari-certificates-ca.crt"
UPDATE_CA_CERTIFICATES = ("update-ca-certificates", "--fresh")
RESUMER_UNIT = f"/etc/systemd/system/{RESUMER}.service"
EXPORTER_UNIT = f"/etc/systemd/system/{EXPORTER}.service"
RESUME_EVERY = 30  # seconds between two looks for orphaned notifications
SYSTEM_PYTHON = "/usr/bin/python3"
_RECOVERY_SOURCE = pathlib.Path(__file__).with_name("masakari_recovery.py")
_METRICS_SOURCE = pathlib.Path(__file__).with_name("masakari_metrics.py")
DAEMON_RELOAD = ("systemctl", "daemon-reload")  # systemd reads a changed unit only then
ENABLE_MODULES = ("a2enmod", "-q")
# What `remove` takes away: the API site, the CAs and the resumer are the charm's alone
# (masakari.conf and haproxy.cfg are the packages' conffiles and stay for them).
OWNED_FILES = (
    API_SITE, KEYSTONE_CA, RABBIT_CA, RESUMER_UNIT, RECOVERY_SCRIPT, TLS_CERT, TLS_KEY,
    TRUSTED_CA, EXPORTER_UNIT, METRICS_SCRIPT,
)  # fmt: skip

PUBLIC_PORT = 15868  # haproxy: what keystone's catalog points at
API_PORT = 15858  # apache2 mod_wsgi behind haproxy, as the reactive charm laid it out
_NAMES = {
    "keystone_ca": KEYSTONE_CA, "rabbit_ca": RABBIT_CA,
    "public_port": PUBLIC_PORT, "api_port": API_PORT, "masakari_conf": MASAKARI_CONF,
    "recovery_script": RECOVERY_SCRIPT, "resume_every": RESUME_EVERY,
    "metrics_script": METRICS_SCRIPT,
    "tls_cert": TLS_CERT, "tls_key": TLS_KEY,
}  # fmt: skip
_TEMPLATES = template_environment(pathlib.Path(__file__).parent.parent / "templates")


@dataclasses.dataclass(frozen=True)
class Release:
    """The installed Masakari: the release whose templates apply, and whether we know it."""

    name: str  # e.g. "caracal"
    version: str  # the package version, e.g. "2:17.0.0-0ubuntu1"
    known: bool  # False: newer than RELEASES; `name` is then the newest release we know


@dataclasses.dataclass(frozen=True)
class Keystone:
    www_authenticate_uri: str
    auth_url: str
    username: str
    password: str = dataclasses.field(repr=False)
    project: str
    user_domain: str
    project_domain: str
    ca_cert: bytes | None = dataclasses.field(default=None, repr=False)


@dataclasses.dataclass(frozen=True)
class MasakariContext:
    release: str
    debug: bool
    use_syslog: bool
    region: str
    transport_url: str = dataclasses.field(repr=False)
    rabbit_ssl: bool
    rabbit_ca: bytes | None
    database_url: str = dataclasses.field(repr=False)
    coordination_url: str | None = dataclasses.field(repr=False)
    keystone: Keystone
    nova_endpoint_type: str  # publicURL or internalURL
    engine: dict[str, int]  # Masakari [DEFAULT] option -> value
    evacuate_all_instances: bool
    ignore_instances_in_error_state: bool
    api_workers: int
    backends: tuple[tuple[str, str], ...]  # (unit name, address) of every masakari-api
    haproxy_timeouts: dict[str, int]
    orphan_age: int  # seconds without progress after which a running notification is resumed
    # Where the exporter listens (this unit's cos-agent binding address); port 0: no exporter.
    metrics_address: str
    metrics_port: int
    tls: ServerCertificate | None = dataclasses.field(default=None, repr=False)  # from vault

    @property
    def wsgi_script(self) -> str:
        # masakari 20.0.0 removed the masakari-wsgi script; its module is a WSGI file itself.
        if release_major(self.release) >= 20:
            return "/usr/lib/python3/dist-packages/masakari/wsgi/api.py"
        return "/usr/bin/masakari-wsgi"


def render(ctx: MasakariContext) -> list[ManagedFile]:
    def template(name: str) -> bytes:
        return _TEMPLATES.get_template(name).render(ctx=ctx, names=_NAMES).encode()

    files = [
        # Holds the service, database and broker passwords: root-owned, group-readable only.
        ManagedFile(MASAKARI_CONF, template("masakari.conf.j2"), "root", "masakari", 0o640,
                    ("apache2", ENGINE, RESUMER, EXPORTER)),
        ManagedFile(API_SITE, template("masakari-api.conf.j2"), "root", "root", 0o644,
                    ("apache2",), ((*ENABLE_MODULES, "wsgi"), ("a2ensite", "-q", "masakari-api"))),
        ManagedFile(HAPROXY_CFG, template("haproxy.cfg.j2"), "root", "haproxy", 0o640,
                    ("haproxy",)),
    ]  # fmt: skip
    files += [
        ManagedFile(RECOVERY_SCRIPT, _RECOVERY_SOURCE.read_bytes(), "root", "root", 0o644,
                    (RESUMER, EXPORTER)),
        ManagedFile(RESUMER_UNIT, template("masakari-recovery-resumer.service.j2"), "root",
                    "root", 0o644, (RESUMER,), (DAEMON_RELOAD, ("systemctl", "enable", RESUMER))),
    ]  # fmt: skip
    if ctx.metrics_port:
        files += [
            # The exporter imports masakari_recovery: a new copy of either restarts it.
            ManagedFile(METRICS_SCRIPT, _METRICS_SOURCE.read_bytes(), "root", "root", 0o644,
                        (EXPORTER,)),
            ManagedFile(EXPORTER_UNIT, template("masakari-metrics-exporter.service.j2"), "root",
                        "root", 0o644, (EXPORTER,),
                        (DAEMON_RELOAD, ("systemctl", "enable", EXPORTER))),
        ]  # fmt: skip
    if ctx.tls:
        site_commands = ((*ENABLE_MODULES, "ssl", "headers"),)
        files += [
            # Leaf and key: apache's root process reads them at (re)start.
            ManagedFile(TLS_CERT, ctx.tls.certificate_with_chain, "root", "root", 0o640,
                        ("apache2",), site_commands),
            ManagedFile(TLS_KEY, ctx.tls.key.encode(), "root", "root", 0o600, ("apache2",)),
            ManagedFile(TRUSTED_CA, ctx.tls.ca.encode(), "root", "root", 0o644, (),
                        (UPDATE_CA_CERTIFICATES,)),
        ]  # fmt: skip
    if ctx.keystone.ca_cert:
        files.append(ManagedFile(KEYSTONE_CA, ctx.keystone.ca_cert, "root", "masakari", 0o644,
                                 ("apache2", "masakari-engine")))  # fmt: skip
    if ctx.rabbit_ca:
        files.append(ManagedFile(RABBIT_CA, ctx.rabbit_ca, "root", "masakari", 0o644,
                                 ("apache2", "masakari-engine")))  # fmt: skip
    return files


def services(metrics: bool) -> tuple[str, ...]:
    """The services a unit runs, in start order; the exporter with `metrics`."""
    return (*SERVICES, EXPORTER) if metrics else SERVICES


def metrics_files_present(system: System) -> bool:
    return system.file_mode(EXPORTER_UNIT) is not None


def remove_metrics_files(system: System) -> None:
    """After `systemctl disable --now` of the exporter: its unit and script go."""
    for path in (EXPORTER_UNIT, METRICS_SCRIPT):
        system.remove_file(path)


def read_database(system: System, *command: str) -> list[dict]:
    """What masakari_recovery.py `command` prints from Masakari's database (a JSON list).

    Raises WorkloadError with the last line it printed when the database cannot be read (not
    yet migrated, MySQL down).
    """
    result = system.run(
        [SYSTEM_PYTHON, RECOVERY_SCRIPT, "--config-file", MASAKARI_CONF, *command], timeout=60
    )
    try:
        if result.ok:
            return json.loads(result.stdout)
    except ValueError:
        pass
    last = result.last_error
    raise WorkloadError(last[-200:])


def running_notifications(system: System) -> list[dict] | None:
    """The notifications Masakari's database shows `running` ({"uuid", "type",
    "last_activity"} each); None when the database cannot be asked."""
    try:
        return read_database(system, "running")
    except WorkloadError:
        return None


class WorkloadError(RuntimeError):
    """Masakari's database or machine could not answer; the message says what failed."""


def install(system: System, source: str | None) -> None:
    if source:
        system.add_apt_source(source)
    system.install_packages(PACKAGES)


def installed_release(system: System) -> Release | None:
    """The installed release; None when Masakari is not installed or older than we support.

    A release newer than the charm knows runs with the newest templates (options are added far
    more often than removed, and the schema tests load them with the newest Masakari).
    """
    version = system.package_version(RELEASE_PACKAGE)
    name = release_of(version)
    if name:
        return Release(name, version, known=True)
    match = re.match(r"(?:\d+:)?(\d+)\.", version or "")
    if match and int(match[1]) > max(RELEASES):
        return Release(RELEASES[max(RELEASES)], version, known=False)
    return None


def db_sync(system: System) -> RunResult:
    return system.run(
        ["masakari-manage", "--config-file", MASAKARI_CONF, "db", "sync"], timeout=600
    )
