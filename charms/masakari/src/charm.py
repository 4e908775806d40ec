#!/usr/bin/env python3
"""The masakari charm: masakari-api and masakari-engine, wire compatible with Charmed OpenStack."""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import os
from urllib.parse import quote

import ops

import masakari_workload as workload
from charm_common import relations
from charm_common.hostnames import is_hostname
from charm_common.origin import UBUNTU_SERIES, Origin, OriginError, os_series, parse_origin
from charm_common.reconcile import ReconcilingCharm
from charm_common.services import restart_pending, stopped_services_status
from charm_common.status import (
    Config,
    Unready,
    incomplete_relations,
    invalid_config,
    missing_relations,
    redact,
)

logger = logging.getLogger(__name__)

SERVICE = "masakari"  # keystone service name (type instance-ha), database, user and vhost
ENDPOINT_TYPES = ("public", "internal", "admin")
REQUIRED_RELATIONS = ("shared-db", "amqp", "identity-service")
# charm option -> Masakari [DEFAULT] option; minimum accepted value.
ENGINE_OPTIONS = {
    "evacuation-delay": ("wait_period_after_service_update", 0),
    "evacuation-timeout": ("wait_period_after_evacuation", 1),
    "power-off-timeout": ("wait_period_after_power_off", 1),
    "power-on-timeout": ("wait_period_after_power_on", 1),
    "verify-interval": ("verify_interval", 1),
    "recovery-threads": ("host_failure_recovery_threads", 1),
    "notification-expiration": ("notifications_expired_interval", 1),
    "check-expired-interval": ("check_expired_notifications_interval", 1),
    "retry-interval": ("process_unfinished_notifications_interval", 1),
    "lost-notification-age": ("retry_notification_new_status_interval", 1),
    "duplicate-notification-window": ("duplicate_notification_detection_interval", 0),
}


@dataclasses.dataclass(frozen=True)
class Settings:
    """The charm config, validated."""

    origin: Origin
    action_managed_upgrade: bool
    region: str
    debug: bool
    use_syslog: bool
    use_internal_endpoints: bool
    vips: tuple[str, ...]
    vip_iface: str
    vip_cidr: int
    hostnames: dict[str, str]
    networks: dict[str, tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]]
    worker_multiplier: float | None
    haproxy_timeouts: dict[str, int]
    engine: workload.Engine
    evacuate_all_instances: bool
    ignore_instances_in_error_state: bool


class MasakariCharm(ReconcilingCharm):
    RELATIONS = (*REQUIRED_RELATIONS, "ha", "cluster")
    _stored = ops.StoredState()

    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        self._stored.set_default(applied_origin=None, paused=False, pending_restarts=[])
        framework.observe(self.on.pause_action, self._on_pause)
        framework.observe(self.on.resume_action, self._on_resume)
        framework.observe(self.on.restart_services_action, self._on_restart_services)
        framework.observe(self.on.openstack_upgrade_action, self._on_openstack_upgrade)
        framework.observe(self.on.security_checklist_action, self._on_security_checklist)

    # The one reconcile path -----------------------------------------------------------------

    def _converge(self) -> ops.StatusBase:
        settings = self._settings()
        upgrade_pending = self._ensure_installed(settings)
        release = workload.installed_release(self.system)
        if release is None:
            raise Unready(ops.BlockedStatus(
                f"Unknown Masakari release ({workload.RELEASE_PACKAGE} "
                f"{self.system.package_version(workload.RELEASE_PACKAGE)}): check openstack-origin"
            ))  # fmt: skip
        self._publish(settings)
        ctx = self._context(settings, release)
        files = workload.render(ctx)
        try:
            changed = workload.write_files(self.system, files)
        except workload.WorkloadError as error:
            raise Unready(ops.BlockedStatus(str(error))) from None
        self._add_pending_restarts(changed)
        self._ensure_database_migrated(release, ctx)
        if self._stored.paused:
            return ops.MaintenanceStatus("Paused. Use the resume action to start services")
        self._stored.pending_restarts, failed = restart_pending(
            self.system, list(self._stored.pending_restarts)
        )
        problem = failed or stopped_services_status(self.system, workload.SERVICES)
        if problem:
            return problem
        message = "Unit is ready"
        if self._clustered():
            message += " and clustered"
        if upgrade_pending:
            message += f"; run openstack-upgrade to apply {settings.origin.source}"
        return ops.ActiveStatus(message)

    # Config -----------------------------------------------------------------------------------

    def _settings(self) -> Settings:
        config = Config(self.config)
        try:
            origin = parse_origin(config.str("openstack-origin"))
        except OriginError as error:
            raise invalid_config("openstack-origin", str(error)) from None
        series = os_series(self.system.read_file("/etc/os-release"))
        if origin.series and series in UBUNTU_SERIES and origin.series != series:
            raise invalid_config(
                "openstack-origin",
                f"{origin.source} is for Ubuntu {origin.series} but this machine runs {series}; "
                f"use distro or cloud:{series}-<release>",
            )
        region = config.str("region")
        if not region:
            raise invalid_config("region", "must not be empty (e.g. RegionOne)")
        vips = tuple(config.str("vip").split())
        for vip in vips:
            try:
                ipaddress.ip_address(vip)
            except ValueError:
                raise invalid_config(
                    "vip", f"{vip!r} is not an IP address (space-separated addresses)"
                ) from None
        vip_cidr = config.int("vip_cidr", minimum=1)
        if vip_cidr > 128:
            raise invalid_config("vip_cidr", f"{vip_cidr} is not a prefix length (1-32 or 1-128)")
        vip_iface = config.str("vip_iface")
        if vips and not vip_iface:
            raise invalid_config("vip_iface", "must name a network interface when vip is set")
        hostnames, networks = {}, {}
        for kind in ENDPOINT_TYPES:
            hostname = config.str(f"os-{kind}-hostname")
            if hostname and not is_hostname(hostname):
                raise invalid_config(f"os-{kind}-hostname", f"{hostname!r} is not a host name")
            hostnames[kind] = hostname
            try:
                networks[kind] = tuple(
                    ipaddress.ip_network(cidr, strict=False)
                    for cidr in config.str(f"os-{kind}-network").split()
                )
            except ValueError:
                raise invalid_config(
                    f"os-{kind}-network", "must be CIDRs such as 10.0.0.0/24, space separated"
                ) from None
        engine = workload.Engine(**{
            masakari_option: config.int(option, minimum=minimum)
            for option, (masakari_option, minimum) in ENGINE_OPTIONS.items()
        })  # fmt: skip
        return Settings(
            origin=origin,
            action_managed_upgrade=config.bool("action-managed-upgrade"),
            region=region,
            debug=config.bool("debug"),
            use_syslog=config.bool("use-syslog"),
            use_internal_endpoints=config.bool("use-internal-endpoints"),
            vips=vips,
            vip_iface=vip_iface,
            vip_cidr=vip_cidr,
            hostnames=hostnames,
            networks=networks,
            worker_multiplier=config.optional_float("worker-multiplier"),
            haproxy_timeouts={
                kind: config.int(f"haproxy-{kind}-timeout", minimum=1)
                for kind in ("server", "client", "queue", "connect")
            },
            engine=engine,
            evacuate_all_instances=config.bool("evacuate-all-instances"),
            ignore_instances_in_error_state=config.bool("ignore-instances-in-error-state"),
        )

    # Packages ---------------------------------------------------------------------------------

    def _ensure_installed(self, settings: Settings) -> bool:
        """Install, or upgrade to a changed origin; True when an action-managed upgrade waits."""
        installed = workload.installed_release(self.system) is not None
        wanted = settings.origin.source
        if installed and self._stored.applied_origin == wanted:
            return False
        if installed and settings.action_managed_upgrade and self._stored.applied_origin:
            return True
        self._install(settings.origin)
        return False

    def _install(self, origin: Origin) -> None:
        self.unit.status = ops.MaintenanceStatus(f"Installing packages from {origin.source}")
        try:
            workload.install(self.system, origin.source if origin.needs_apt_source else None)
        except Exception as error:  # apt and add-apt-repository fail in many ways
            logger.error("package installation from %s failed: %s", origin.source, error)
            raise Unready(ops.BlockedStatus(
                f"Package installation from {origin.source} failed ({type(error).__name__}); "
                "check openstack-origin and the machine's apt access"
            )) from None  # fmt: skip
        self._stored.applied_origin = origin.source
        # New packages: every service runs the new code only after a restart.
        self._add_pending_restarts(workload.SERVICES)

    def _add_pending_restarts(self, services: tuple[str, ...] | list[str]) -> None:
        pending = set(self._stored.pending_restarts) | set(services)
        self._stored.pending_restarts = [s for s in workload.SERVICES if s in pending]

    # What we send -----------------------------------------------------------------------------

    def _publish(self, settings: Settings) -> None:
        unit = self.unit
        for relation in self.model.relations["shared-db"]:
            address = self._binding_address("shared-db", relation)
            relations.publish(relation, unit, {
                "database": SERVICE, "username": SERVICE, "hostname": address,
            })  # fmt: skip
        for relation in self.model.relations["amqp"]:
            relations.publish(relation, unit, {"username": SERVICE, "vhost": SERVICE})
        urls = {kind: self._endpoint_url(kind, settings) for kind in ENDPOINT_TYPES}
        for relation in self.model.relations["identity-service"]:
            relations.publish(relation, unit, {
                "service": SERVICE, "region": settings.region,
                "public_url": urls["public"], "internal_url": urls["internal"],
                "admin_url": urls["admin"],
            })  # fmt: skip
        for relation in self.model.relations["ha"]:
            relations.publish(relation, unit, self._ha_data(settings))
        peers = self.model.get_relation("cluster")
        if peers:
            relations.publish(peers, unit, {
                f"{kind}-address": self._address(kind, settings) for kind in ENDPOINT_TYPES
            })  # fmt: skip

    def _binding_address(self, endpoint: str, relation: ops.Relation | None = None) -> str:
        binding = self.model.get_binding(relation or endpoint)
        network = binding.network if binding else None
        address = network and (network.ingress_address or network.bind_address)
        if not address:
            raise Unready(ops.WaitingStatus(f"Waiting for an address on the {endpoint} binding"))
        return str(address)

    def _address(self, kind: str, settings: Settings) -> str:
        """This unit's address for one endpoint type: os-<kind>-network, else its binding."""
        if settings.networks[kind]:
            for interface in self._interfaces():
                if any(interface.address in net for net in settings.networks[kind]):
                    return str(interface.address)
            raise invalid_config(
                f"os-{kind}-network",
                "no address of this unit is in "
                + " ".join(str(n) for n in settings.networks[kind]),
            )
        return self._binding_address(kind)

    def _interfaces(self) -> list[ops.model.NetworkInterface]:
        found = []
        for name in (*ENDPOINT_TYPES, "cluster", "shared-db", "amqp", "identity-service"):
            binding = self.model.get_binding(name)
            if binding:
                found.extend(binding.network.interfaces)
        return found

    def _endpoint_url(self, kind: str, settings: Settings) -> str:
        host = settings.hostnames[kind]
        if not host and settings.vips and self._clustered():
            address = ipaddress.ip_address(self._address(kind, settings))
            in_network = [
                vip for vip in settings.vips
                for interface in self._interfaces()
                if interface.address == address and interface.subnet
                and ipaddress.ip_address(vip) in interface.subnet
            ]  # fmt: skip
            host = (in_network or list(settings.vips))[0]
        host = host or self._address(kind, settings)
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{workload.PUBLIC_PORT}/v1/%(tenant_id)s"

    def _ha_data(self, settings: Settings) -> dict[str, str]:
        vips, detected = [], []
        interfaces = self._interfaces()
        for vip in settings.vips:
            ip = ipaddress.ip_address(vip)
            nic = next((i.name for i in interfaces if i.subnet and ip in i.subnet), None)
            if nic:
                vips.append(relations.Vip(vip))
                detected.append(nic)
            else:
                vips.append(relations.Vip(vip, settings.vip_iface, settings.vip_cidr))
        return relations.ha_relation_data(
            SERVICE, vips, detected_nics=sorted(set(detected)), bindiface=settings.vip_iface
        )

    def _clustered(self) -> bool:
        relation = self.model.get_relation("ha")
        return bool(relation and relations.ha_clustered(relation))

    # What we read -----------------------------------------------------------------------------

    def _context(self, settings: Settings, release: str) -> workload.MasakariContext:
        required = list(REQUIRED_RELATIONS) + (["ha"] if settings.vips else [])
        missing = [name for name in required if not self.model.relations[name]]
        if missing:
            raise missing_relations(missing)
        try:
            database = relations.read_shared_db(
                self.model.relations["shared-db"][0], self.unit, SERVICE, SERVICE
            )
            bus = relations.read_amqp(self.model.relations["amqp"][0], SERVICE, SERVICE)
            identity = relations.read_identity_service(self.model.relations["identity-service"][0])
        except relations.RelationDataError as error:
            raise Unready(ops.BlockedStatus(f"Invalid relation data: {error}")) from None
        incomplete = [
            name for name, value in
            (("shared-db", database), ("amqp", bus), ("identity-service", identity))
            if value is None
        ]  # fmt: skip
        if incomplete:
            raise incomplete_relations(incomplete)
        assert database and bus and identity
        peers = self.model.get_relation("cluster")
        backends = [(self.unit.name.replace("/", "-"), self._address("internal", settings))]
        for unit in sorted(peers.units if peers else (), key=lambda u: u.name):
            address = peers.data[unit].get("internal-address")
            if address:
                backends.append((unit.name.replace("/", "-"), address))
        cpus = os.cpu_count() or 1
        workers = (
            max(1, round(cpus * settings.worker_multiplier))
            if settings.worker_multiplier else min(cpus, 4)
        )  # fmt: skip
        return workload.MasakariContext(
            release=release,
            debug=settings.debug,
            use_syslog=settings.use_syslog,
            region=settings.region,
            transport_url=bus.transport_url,
            rabbit_ca=bus.ssl_ca,
            database_url=database.url,
            coordination_url=self._coordination_url(database) if len(backends) > 1 else None,
            keystone=workload.Keystone(
                www_authenticate_uri=identity.public_auth_url,
                auth_url=identity.admin_auth_url,
                username=identity.username,
                password=identity.password,
                project=identity.project,
                user_domain=identity.user_domain,
                project_domain=identity.project_domain,
                ca_cert=identity.ca_cert,
            ),
            nova_endpoint_type="internalURL" if settings.use_internal_endpoints else "publicURL",
            engine=settings.engine,
            evacuate_all_instances=settings.evacuate_all_instances,
            ignore_instances_in_error_state=settings.ignore_instances_in_error_state,
            api_workers=workers,
            backends=tuple(backends),
            haproxy_timeouts=settings.haproxy_timeouts,
            secrets=(identity.password, database.password, bus.password),
        )

    @staticmethod
    def _coordination_url(database: relations.Database) -> str:
        # tooz's MySQL driver (GET_LOCK) on the database masakari already has: no new service.
        credentials = f"{quote(database.username, safe='')}:{quote(database.password, safe='')}"
        return f"mysql://{credentials}@{database.host}:{database.port}/{database.database}"

    # Database migration -----------------------------------------------------------------------

    def _ensure_database_migrated(self, release: str, ctx: workload.MasakariContext) -> None:
        peers = self.model.get_relation("cluster")
        if peers is None:
            raise Unready(ops.WaitingStatus("Waiting for the cluster peer relation"))
        if peers.data[self.app].get("db-synced-release") == release:
            return
        if not self.unit.is_leader():
            raise Unready(ops.WaitingStatus("Waiting for the leader to migrate the database"))
        self.unit.status = ops.MaintenanceStatus(f"Migrating the database to {release}")
        result = workload.db_sync(self.system)
        if not result.ok:
            detail = redact(result.stderr.strip() or result.stdout.strip(), ctx.secrets)
            logger.error("masakari-manage db sync failed: %s", detail)
            last = detail.splitlines()[-1][:120] if detail else f"exit {result.returncode}"
            raise Unready(ops.BlockedStatus(f"Database migration failed: {last}"))
        peers.data[self.app]["db-synced-release"] = release
        self._add_pending_restarts(("apache2", "masakari-engine"))

    # Actions ----------------------------------------------------------------------------------

    def _on_pause(self, event: ops.ActionEvent) -> None:
        for service in workload.SERVICES:
            self.system.pause_service(service)
        self._stored.paused = True
        self._reconcile()
        event.set_results({"paused": " ".join(workload.SERVICES)})

    def _on_resume(self, event: ops.ActionEvent) -> None:
        for service in workload.SERVICES:
            self.system.resume_service(service)
        self._stored.paused = False
        self._reconcile()
        event.set_results({"resumed": " ".join(workload.SERVICES)})

    def _on_restart_services(self, event: ops.ActionEvent) -> None:
        if self._stored.paused:
            event.fail("The unit is paused: run the resume action instead")
            return
        for service in workload.SERVICES:
            self.system.restart_service(service)
        self._stored.pending_restarts = []
        self._reconcile()
        event.set_results({"restarted": " ".join(workload.SERVICES)})

    def _on_openstack_upgrade(self, event: ops.ActionEvent) -> None:
        if not self.config.get("action-managed-upgrade"):
            event.fail(
                "action-managed-upgrade is false: a changed openstack-origin is applied on "
                "config change; set action-managed-upgrade=true to upgrade with this action"
            )
            return
        try:
            settings = self._settings()
        except Unready as unready:
            event.fail(unready.status.message)
            return
        if self._stored.applied_origin == settings.origin.source:
            event.set_results({"outcome": f"already at {settings.origin.source}: nothing to do"})
            return
        try:
            self._install(settings.origin)
        except Unready as unready:
            self.unit.status = unready.status
            event.fail(unready.status.message)
            return
        self._reconcile()
        release = workload.installed_release(self.system)
        event.set_results({"outcome": f"upgraded to {release} from {settings.origin.source}"})

    def _on_security_checklist(self, event: ops.ActionEvent) -> None:
        checks: dict[str, str | None] = {}
        for path, expected in (
            (workload.MASAKARI_CONF, ("root", "masakari", 0o640)),
            (workload.HAPROXY_CFG, ("root", "haproxy", 0o640)),
        ):
            actual = self.system.file_mode(path)
            name = f"{os.path.basename(path)}-permissions"
            if actual is None:
                checks[name] = f"{path} does not exist yet"
            elif actual[0] != expected[0] or actual[1] != expected[1] or actual[2] & 0o027:
                checks[name] = (
                    f"{path} is {actual[0]}:{actual[1]} {actual[2]:04o}, "
                    f"expected {expected[0]}:{expected[1]} {expected[2]:04o}"
                )
            else:
                checks[name] = None
        checks["debug-off"] = "debug=true logs request details" if self.config["debug"] else None
        relation = self.model.get_relation("identity-service")
        try:
            identity = relations.read_identity_service(relation) if relation else None
        except relations.RelationDataError as error:
            identity, checks["keystone-tls"] = None, str(error)
        if identity:
            plain = [
                url for url in (identity.public_auth_url, identity.admin_auth_url)
                if not url.startswith("https://")
            ]  # fmt: skip
            checks["keystone-tls"] = (
                f"keystone is reached over http: {plain[0]}" if plain else None
            )
        elif "keystone-tls" not in checks:
            checks["keystone-tls"] = "no identity-service relation to check"
        event.set_results({name: problem or "pass" for name, problem in checks.items()})
        failed = sorted(name for name, problem in checks.items() if problem)
        if failed:
            event.fail(f"{len(failed)} check(s) failed: {', '.join(failed)}")


if __name__ == "__main__":  # pragma: nocover
    ops.main(MasakariCharm)
