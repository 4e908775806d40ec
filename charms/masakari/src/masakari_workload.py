"""The Masakari workload: packages, files, services and commands. Knows nothing of ops."""

from __future__ import annotations

import dataclasses
import pathlib

import jinja2

from charm_common.files import ManagedFile, services_to_restart, write_changed
from charm_common.origin import release_major, release_of
from charm_common.system import RunResult, System

PACKAGES = (
    "masakari-common",
    "masakari-api",
    "masakari-engine",
    "apache2",
    "libapache2-mod-wsgi-py3",
    "haproxy",
)
RELEASE_PACKAGE = "masakari-common"
SERVICES = ("haproxy", "apache2", "masakari-engine")

MASAKARI_CONF = "/etc/masakari/masakari.conf"
API_SITE = "/etc/apache2/sites-available/masakari-api.conf"
HAPROXY_CFG = "/etc/haproxy/haproxy.cfg"
KEYSTONE_CA = "/etc/masakari/keystone-ca.pem"
RABBIT_CA = "/etc/masakari/rabbit-ca.pem"

PUBLIC_PORT = 15868  # haproxy: what keystone's catalog points at
API_PORT = 15858  # apache2 mod_wsgi behind haproxy, as the reactive charm laid it out
_NAMES = {
    "keystone_ca": KEYSTONE_CA, "rabbit_ca": RABBIT_CA,
    "public_port": PUBLIC_PORT, "api_port": API_PORT,
}  # fmt: skip

_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(pathlib.Path(__file__).parent.parent / "templates"),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,  # noqa: S701 - renders ini files, not HTML
)


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
class Engine:
    """[DEFAULT] recovery timing and behaviour, by Masakari option name."""

    wait_period_after_service_update: int = 5
    wait_period_after_evacuation: int = 90
    wait_period_after_power_off: int = 180
    wait_period_after_power_on: int = 60
    verify_interval: int = 1
    host_failure_recovery_threads: int = 3
    notifications_expired_interval: int = 86400
    check_expired_notifications_interval: int = 600
    process_unfinished_notifications_interval: int = 120
    retry_notification_new_status_interval: int = 60
    duplicate_notification_detection_interval: int = 180


@dataclasses.dataclass(frozen=True)
class MasakariContext:
    release: str
    debug: bool
    use_syslog: bool
    region: str
    transport_url: str = dataclasses.field(repr=False)
    rabbit_ca: bytes | None
    database_url: str = dataclasses.field(repr=False)
    coordination_url: str | None = dataclasses.field(repr=False)
    keystone: Keystone
    nova_endpoint_type: str  # publicURL or internalURL
    engine: Engine
    evacuate_all_instances: bool
    ignore_instances_in_error_state: bool
    api_workers: int
    backends: tuple[tuple[str, str], ...]  # (unit name, address) of every masakari-api
    haproxy_timeouts: dict[str, int]
    secrets: tuple[str, ...] = dataclasses.field(repr=False)  # kept out of logs and statuses

    @property
    def wsgi_script(self) -> str:
        # masakari 20.0.0 removed the masakari-wsgi script; its module is a WSGI file itself.
        if release_major(self.release) >= 20:
            return "/usr/lib/python3/dist-packages/masakari/wsgi/api.py"
        return "/usr/bin/masakari-wsgi"


def render(ctx: MasakariContext) -> list[ManagedFile]:
    def template(name: str) -> bytes:
        return (
            _TEMPLATES.get_template(name)
            .render(ctx=ctx, engine=dataclasses.asdict(ctx.engine), names=_NAMES)
            .encode()
        )

    files = [
        # Holds the service, database and broker passwords: root-owned, group-readable only.
        ManagedFile(MASAKARI_CONF, template("masakari.conf.j2"), "root", "masakari", 0o640,
                    ("apache2", "masakari-engine")),
        ManagedFile(API_SITE, template("masakari-api.conf.j2"), "root", "root", 0o644,
                    ("apache2",)),
        ManagedFile(HAPROXY_CFG, template("haproxy.cfg.j2"), "root", "haproxy", 0o640,
                    ("haproxy",)),
    ]  # fmt: skip
    if ctx.keystone.ca_cert:
        files.append(ManagedFile(KEYSTONE_CA, ctx.keystone.ca_cert, "root", "masakari", 0o644,
                                 ("apache2", "masakari-engine")))  # fmt: skip
    if ctx.rabbit_ca:
        files.append(ManagedFile(RABBIT_CA, ctx.rabbit_ca, "root", "masakari", 0o644,
                                 ("apache2", "masakari-engine")))  # fmt: skip
    return files


def write_files(system: System, files: list[ManagedFile]) -> list[str]:
    """Write what changed; return the services to restart, in SERVICES order."""
    changed = write_changed(system, files)
    if any(file.path == API_SITE for file in changed):
        enable_api_site(system)
    return services_to_restart(changed, SERVICES)


def enable_api_site(system: System) -> None:
    for argv in (["a2enmod", "-q", "wsgi"], ["a2ensite", "-q", "masakari-api"]):
        result = system.run(argv, timeout=60)
        if not result.ok:
            raise WorkloadError(f"{argv[0]} failed: {result.stderr.strip()[-200:]}")


def install(system: System, source: str | None) -> None:
    if source:
        system.add_apt_source(source)
    system.install_packages(PACKAGES)


def installed_release(system: System) -> str | None:
    return release_of(system.package_version(RELEASE_PACKAGE))


def db_sync(system: System) -> RunResult:
    return system.run(
        ["masakari-manage", "--config-file", MASAKARI_CONF, "db", "sync"], timeout=600
    )


class WorkloadError(RuntimeError):
    pass
