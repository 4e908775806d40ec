#!/usr/bin/env python3
"""The masakari charm: masakari-api and masakari-engine, wire compatible with Charmed OpenStack."""

from __future__ import annotations

import ipaddress
import logging
import os
import time
from urllib.parse import quote

import ops

import masakari_workload as workload
from charm_common import cos_agent, quickack, relations, status
from charm_common.hostnames import is_hostname
from charm_common.lifecycle import ActionFailed, ReconcilingCharm
from charm_common.origin import UBUNTU_SERIES, os_series
from config import ENDPOINT_TYPES, MasakariConfig

logger = logging.getLogger(__name__)

SERVICE = "masakari"  # keystone service name (type instance-ha), database, user and vhost
REQUIRED_RELATIONS = ("shared-db", "amqp", "identity-service")


class MasakariCharm(ReconcilingCharm):
    RELATIONS = (*REQUIRED_RELATIONS, "ha", "cluster", "certificates", "cos-agent")

    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        # restart_waits_since: when a restart of masakari-engine began waiting (epoch seconds).
        # tls_serving: apache serves vault's certificate, so keystone has https:// endpoints.
        self._stored.set_default(applied_origin=None, restart_waits_since=None, tls_serving=False)
        self._observe_action("openstack-upgrade", self._openstack_upgrade)
        self._observe_action("security-checklist", self._security_checklist)
        self._observe_action("list-notifications", self._list_notifications)
        self._observe_action("list-segments", self._list_segments)

    def _services(self) -> tuple[str, ...]:
        """The exporter only while cos-agent is related: the agent is what scrapes it."""
        return workload.services(metrics=self._serves_metrics())

    def _serves_metrics(self) -> bool:
        return bool(self.model.relations["cos-agent"])

    def _restart_waits(self, service: str) -> status.Unready | None:
        """masakari-engine restarts only once no recovery runs, or after max-restart-delay.

        A restart in the middle of a recovery leaves its notification `running` with part of
        the flow done; the resumer would hand it back to Masakari, but only after its orphan
        age. Other services restart at once. When the database cannot be asked (before the
        first migration, MySQL down) there is nothing to protect and the restart goes ahead.
        """
        if service != workload.ENGINE:
            return None
        running = workload.running_notifications(self.system) or []
        since = self._stored.restart_waits_since
        now = time.time()
        if not running:
            self._stored.restart_waits_since = None
            return None
        if since is None:
            self._stored.restart_waits_since = since = now
        delay = self.load_typed_config(MasakariConfig).max_restart_delay
        if now - since >= delay:
            logger.warning(
                "restarting masakari-engine while notification(s) %s run: waited %d s "
                "(max-restart-delay %d s); the resumer hands them back to Masakari",
                ", ".join(n["uuid"] for n in running), now - since, delay,
            )  # fmt: skip
            self._stored.restart_waits_since = None
            return None
        first = running[0]
        what = f"notification {first['uuid']} ({first['type']})"
        if len(running) > 1:
            what += f" and {len(running) - 1} more"
        deadline = time.strftime("%H:%M:%S", time.gmtime(since + delay))
        return status.RESTART_WAITS.unready(service=service, what=what, deadline=deadline)

    def _secrets(self) -> tuple[str, ...]:
        """The passwords MySQL, RabbitMQ and keystone sent and the private keys vault issued
        this unit, read raw (valid or not)."""
        found = [
            data[key]
            for endpoint in REQUIRED_RELATIONS
            for relation in self.model.relations[endpoint]
            for _unit, data in relations.remote_units_data(relation)
            for key in ("password", "service_password")
            if data.get(key)
        ]
        for relation in self.model.relations["certificates"]:
            for _unit, data in relations.remote_units_data(relation):
                found += relations.issued_keys(data, self.unit.name)
        return tuple(found)

    # The one reconcile path -----------------------------------------------------------------

    def _converge(self) -> ops.StatusBase:
        config = self._config()
        upgrade_pending = self._ensure_installed(config)
        release = workload.installed_release(self.system)
        if release is None:
            raise status.UNKNOWN_RELEASE.unready(
                package=workload.RELEASE_PACKAGE,
                version=self.system.package_version(workload.RELEASE_PACKAGE),
            )
        # Everything we send and everything we read is checked before anything is published.
        outgoing = self._outgoing(config)
        received = self._received()
        tls = self._certificate(config)
        for endpoint, data in outgoing:
            relations.publish(endpoint, self.unit, data)
        self.unit.set_ports(workload.PUBLIC_PORT)
        ctx = self._context(config, release.name, *received, tls)
        self.write_files(workload.render(ctx))
        if tls is None:
            self._remove_tls_files()
        if not self._serves_metrics() and workload.metrics_files_present(self.system):
            self._stop_exporter()
        self._ensure_database_migrated(release.name, ctx)
        self.apply_pending()
        self.check_running()
        if config.pacemaker_remote_quickack:
            self._quickack_remote_nodes()
        if self._stored.tls_serving != (tls is not None):
            # apache now serves what the endpoints must say: https once vault's certificate is
            # in place, http again once it is gone; keystone learns it in this same hook.
            self._stored.tls_serving = tls is not None
            for relation, data in self._outgoing(config):
                if relation.name == "identity-service":
                    relations.publish(relation, self.unit, data)
        ready = status.READY_CLUSTERED if self._clustered() else status.READY
        return status.with_notes(ready.status(), [
            status.UPGRADE_AVAILABLE.text(origin=config.origin.display) if upgrade_pending else "",
            status.NEWER_RELEASE.text(version=release.version, release=release.name)
            if not release.known else "",
        ])  # fmt: skip

    def _quickack_remote_nodes(self) -> None:
        """`quickack 1` on the routes to the local cluster's remote nodes (charm_common.quickack
        says why); nothing while this machine has no cluster or it has no remote node yet."""
        for address in quickack.cluster_remote_addresses(self.system):
            try:
                if quickack.ensure_quickack(self.system, address):
                    logger.info("quickack 1 on the route to Pacemaker remote node %s", address)
            except quickack.RouteError as error:
                raise status.QUICKACK_FAILED.unready(address=address, detail=error) from None

    def _config(self) -> MasakariConfig:
        config = self.load_typed_config(MasakariConfig)
        origin = config.origin
        series = os_series(self.system.read_file("/etc/os-release"))
        if origin.series and series in UBUNTU_SERIES and origin.series != series:
            raise status.INVALID_CONFIG.unready(
                option="openstack-origin",
                why=f"{origin.display} is for Ubuntu {origin.series} but this machine runs "
                f"{series}; use distro or cloud:{series}-<release>",
            )
        return config

    # Packages ---------------------------------------------------------------------------------

    def _ensure_installed(self, config: MasakariConfig) -> bool:
        """Install, or upgrade to a changed origin; True when an action-managed upgrade waits."""
        installed = workload.installed_release(self.system) is not None
        wanted = config.origin.source  # as the previous revision stored it: stripped
        complete = all(self.system.package_version(p) for p in workload.PACKAGES)
        if installed and self._stored.applied_origin == wanted:
            if not complete:  # a package this revision added (upgrade-charm)
                self._install(config)
            return False
        if installed and config.action_managed_upgrade and self._stored.applied_origin:
            return True
        self._install(config)
        return False

    def _install(self, config: MasakariConfig) -> None:
        origin = config.origin
        self.install(
            f"packages from {origin.display}",
            lambda: workload.install(
                self.system, origin.source if origin.needs_apt_source else None
            ),
            f"check openstack-origin ({origin.display}) and the machine's apt access",
        )
        self._stored.applied_origin = config.origin.source

    # What we send -----------------------------------------------------------------------------

    def _outgoing(self, config: MasakariConfig) -> list[tuple[ops.Relation, dict[str, str]]]:
        """(relation, data) for every relation we publish on; raises before anything is sent."""
        out: list[tuple[ops.Relation, dict[str, str]]] = []
        for relation in self.model.relations["shared-db"]:
            address = self._binding_address("shared-db", relation)
            out.append((relation, {"database": SERVICE, "username": SERVICE, "hostname": address}))
        for relation in self.model.relations["amqp"]:
            out.append((relation, {"username": SERVICE, "vhost": SERVICE}))
        for relation in self.model.relations["certificates"]:
            out.append((relation, relations.certificate_request(
                self.unit.name, {self._common_name(config): self._certificate_sans(config)}
            )))  # fmt: skip
        if self.model.relations["identity-service"]:
            urls = {kind: self._endpoint_url(kind, config) for kind in ENDPOINT_TYPES}
            for relation in self.model.relations["identity-service"]:
                out.append((relation, {
                    "service": SERVICE, "region": config.region,
                    "public_url": urls["public"], "internal_url": urls["internal"],
                    "admin_url": urls["admin"],
                }))  # fmt: skip
        for relation in self.model.relations["ha"]:
            out.append((relation, self._ha_data(config, relation)))
        for relation in self.model.relations["cos-agent"]:
            out.append((relation, self._cos_agent_data(config)))
        peers = self.model.get_relation("cluster")
        if peers:
            out.append((peers, {
                f"{kind}-address": self._address(kind, config) for kind in ENDPOINT_TYPES
            }))  # fmt: skip
        return out

    def _stop_exporter(self) -> None:
        """cos-agent is gone: disable and stop the exporter (a pending step), then, on a later
        hook, once it no longer runs, remove its unit and script and reload systemd."""
        disable = ["run", "systemctl", "disable", "--now", workload.EXPORTER]
        if disable in self.pending_steps():
            return
        if self.system.service_running(workload.EXPORTER):
            self.queue(disable)
            return
        workload.remove_metrics_files(self.system)
        self.queue(("run", *workload.DAEMON_RELOAD))

    def _cos_agent_data(self, config: MasakariConfig) -> dict[str, str]:
        """Scrape job, alert rules and dashboard for grafana-agent (cos_agent's `config`)."""
        topology = cos_agent.Topology(
            self.model.name, self.model.uuid, self.app.name, self.meta.name
        )
        job = cos_agent.scrape_job("masakari", self._metrics_address(), config.metrics_port)
        return cos_agent.unit_data(topology=topology, charm_dir=self.charm_dir, jobs=[job])

    def _metrics_address(self) -> str:
        """Where the exporter listens: this unit's address on the cos-agent binding, which
        grafana-agent on this machine and a Prometheus elsewhere both reach."""
        return self._binding_address("cos-agent")

    def _binding_address(self, endpoint: str, relation: ops.Relation | None = None) -> str:
        binding = self.model.get_binding(relation or endpoint)
        network = binding.network if binding else None
        address = network and (network.ingress_address or network.bind_address)
        if not address:
            raise status.WAITING_FOR_ADDRESS.unready(endpoint=endpoint)
        return str(address)

    def _address(self, kind: str, config: MasakariConfig) -> str:
        """This unit's address for one endpoint type: os-<kind>-network, else its binding."""
        networks = config.networks(kind)
        if networks:
            for interface in self._interfaces():
                if any(interface.address in net for net in networks):
                    return str(interface.address)
            raise status.INVALID_CONFIG.unready(
                option=f"os-{kind}-network",
                why="no address of this unit is in "
                + " ".join(str(n) for n in networks)
                + "; set a network this unit has an address on, or leave it empty",
            )
        return self._binding_address(kind)

    def _interfaces(self) -> list[ops.model.NetworkInterface]:
        found = []
        for name in (*ENDPOINT_TYPES, "cluster", "shared-db", "amqp", "identity-service"):
            binding = self.model.get_binding(name)
            if binding:
                found.extend(binding.network.interfaces)
        return found

    def _endpoint_url(self, kind: str, config: MasakariConfig) -> str:
        host = self._endpoint_host(kind, config)
        if ":" in host:
            host = f"[{host}]"
        scheme = "https" if self._stored.tls_serving else "http"
        return f"{scheme}://{host}:{workload.PUBLIC_PORT}/v1/%(tenant_id)s"

    def _endpoint_host(self, kind: str, config: MasakariConfig) -> str:
        """os-<kind>-hostname; the VIP once clustered; else this unit's address for <kind>."""
        host = config.hostname(kind)
        address = self._address(kind, config)  # checked even when a host name overrides it
        if not host and config.vips and self._clustered():
            ip = ipaddress.ip_address(address)
            in_network = [
                vip for vip in config.vips
                for interface in self._interfaces()
                if interface.address == ip and interface.subnet
                and ipaddress.ip_address(vip) in interface.subnet
            ]  # fmt: skip
            host = (in_network or list(config.vips))[0]
        return host or address

    def _common_name(self, config: MasakariConfig) -> str:
        """The CN asked of vault: os-public-hostname, else the first VIP, else the address
        (not whether hacluster has clustered yet, so the name does not change when it does)."""
        return config.hostname("public") or (config.vips or (self._address("public", config),))[0]

    def _certificate_sans(self, config: MasakariConfig) -> list[str]:
        """Every name and address a client may reach this unit's API by."""
        names = [config.hostname(kind) for kind in ENDPOINT_TYPES if config.hostname(kind)]
        addresses = [self._address(kind, config) for kind in ENDPOINT_TYPES]
        return [*names, *config.vips, *addresses, *(str(i.address) for i in self._interfaces())]

    def _certificate(self, config: MasakariConfig) -> relations.ServerCertificate | None:
        relation = self.model.get_relation("certificates")
        if relation is None:
            return None
        try:
            return relations.read_server_certificate(
                relation, self.unit.name, self._common_name(config)
            )
        except relations.RelationDataError as error:
            raise status.INVALID_RELATION_DATA.unready(detail=str(error)) from None

    def _remove_tls_files(self) -> None:
        """Back to plain HTTP: vault's key and CA leave the machine."""
        for path in (workload.TLS_CERT, workload.TLS_KEY):
            self.system.remove_file(path)
        if self.system.remove_file(workload.TRUSTED_CA):
            self.queue(("run", *workload.UPDATE_CA_CERTIFICATES))

    def _ha_data(self, config: MasakariConfig, relation: ops.Relation) -> dict[str, str]:
        vips, detected = [], []
        interfaces = self._interfaces()
        for vip in config.vips:
            ip = ipaddress.ip_address(vip)
            nic = next((i.name for i in interfaces if i.subnet and ip in i.subnet), None)
            if nic:
                vips.append(relations.Vip(vip))
                detected.append(nic)
            else:
                vips.append(relations.Vip(vip, config.vip_iface.strip(), config.vip_cidr))
        return relations.ha_relation_data(
            SERVICE, vips, detected_nics=sorted(set(detected)),
            bindiface=config.vip_iface.strip(), published=relation.data[self.unit],
        )  # fmt: skip

    def _clustered(self) -> bool:
        relation = self.model.get_relation("ha")
        return bool(relation and relations.ha_clustered(relation))

    # What we read -----------------------------------------------------------------------------

    def _received(
        self,
    ) -> tuple[
        relations.Database | None, relations.MessageBus | None, relations.ServiceCredentials | None
    ]:
        """What MySQL, RabbitMQ and keystone sent (None: not yet); invalid data stops here."""
        try:
            shared_db = self.model.get_relation("shared-db")
            amqp = self.model.get_relation("amqp")
            identity = self.model.get_relation("identity-service")
            received = (
                relations.read_shared_db(shared_db, self.unit, SERVICE, SERVICE)
                if shared_db
                else None,
                relations.read_amqp(amqp, SERVICE, SERVICE) if amqp else None,
                relations.read_identity_service(identity) if identity else None,
            )
            self._peer_backends()
        except relations.RelationDataError as error:
            raise status.INVALID_RELATION_DATA.unready(detail=str(error)) from None
        return received

    def _peer_backends(self) -> list[tuple[str, str]]:
        """(unit name, internal address) of every peer that sent one, for haproxy."""
        peers = self.model.get_relation("cluster")
        backends = []
        for unit in sorted(peers.units if peers else (), key=lambda u: u.name):
            address = peers.data[unit].get("internal-address")
            if not address:
                continue
            if not (is_hostname(address) or _is_ip(address)):
                raise relations.RelationDataError(
                    f"cluster internal-address from {unit.name}: not a host name or IP address"
                )
            backends.append((unit.name.replace("/", "-"), address))
        return backends

    def _context(
        self,
        config: MasakariConfig,
        release: str,
        database: relations.Database | None,
        bus: relations.MessageBus | None,
        identity: relations.ServiceCredentials | None,
        tls: relations.ServerCertificate | None,
    ) -> workload.MasakariContext:
        required = list(REQUIRED_RELATIONS) + (["ha"] if config.vips else [])
        missing = [name for name in required if not self.model.relations[name]]
        if missing:
            raise status.MISSING_RELATIONS.unready(relations=", ".join(missing))
        incomplete = [
            name for name, value in
            (("shared-db", database), ("amqp", bus), ("identity-service", identity))
            if value is None
        ]  # fmt: skip
        if incomplete:
            raise status.INCOMPLETE_RELATIONS.unready(relations=", ".join(incomplete))
        assert database and bus and identity
        backends = [
            (self.unit.name.replace("/", "-"), self._address("internal", config)),
            *self._peer_backends(),
        ]
        cpus = os.cpu_count() or 1
        workers = (
            max(1, round(cpus * config.worker_multiplier))
            if config.worker_multiplier else min(cpus, 4)
        )  # fmt: skip
        return workload.MasakariContext(
            release=release,
            debug=config.debug,
            use_syslog=config.use_syslog,
            region=config.region,
            transport_url=bus.transport_url,
            rabbit_ssl=bus.ssl,
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
            nova_endpoint_type="internalURL" if config.use_internal_endpoints else "publicURL",
            engine=config.engine,
            evacuate_all_instances=config.evacuate_all_instances,
            ignore_instances_in_error_state=config.ignore_instances_in_error_state,
            api_workers=workers,
            backends=tuple(backends),
            haproxy_timeouts=config.haproxy_timeouts,
            orphan_age=config.orphan_age,
            metrics_address=self._metrics_address() if self._serves_metrics() else "",
            metrics_port=config.metrics_port if self._serves_metrics() else 0,
            tls=tls,
        )

    @staticmethod
    def _coordination_url(database: relations.Database) -> str:
        # tooz's MySQL driver (GET_LOCK) on the database masakari already has: no new service.
        credentials = f"{quote(database.username, safe='')}:{quote(database.password, safe='')}"
        host = f"[{database.host}]" if ":" in database.host else database.host
        return f"mysql://{credentials}@{host}:{database.port}/{database.database}"

    # Database migration -----------------------------------------------------------------------

    def _ensure_database_migrated(self, release: str, ctx: workload.MasakariContext) -> None:
        peers = self.model.get_relation("cluster")
        if peers is None:
            raise status.WAITING_FOR_PEERS.unready()
        if peers.data[self.app].get("db-synced-release") == release:
            return
        if not self.unit.is_leader():
            raise status.WAITING_FOR_MIGRATION.unready()
        self.unit.status = status.MIGRATING.status(release=release)
        result = workload.db_sync(self.system)
        if not result.ok:
            detail = status.redact(result.stderr.strip() or result.stdout.strip(), self._secrets())
            logger.error("masakari-manage db sync failed: %s", detail)
            last = detail.splitlines()[-1][:120] if detail else f"exit {result.returncode}"
            raise status.MIGRATION_FAILED.unready(detail=last)
        peers.data[self.app]["db-synced-release"] = release
        self.queue(("restart", "apache2"), ("restart", "masakari-engine"))

    # remove -----------------------------------------------------------------------------------

    def _uninstall(self) -> None:
        for service in (workload.RESUMER, workload.EXPORTER):
            self.system.run(["systemctl", "disable", "--now", service], timeout=60)
        self.system.run(["a2dissite", "-q", "masakari-api"], timeout=60)
        for path in workload.OWNED_FILES:
            self.system.remove_file(path)
        self.system.run(list(workload.DAEMON_RELOAD), timeout=120)

    # Actions ----------------------------------------------------------------------------------

    def _openstack_upgrade(self, _event: ops.ActionEvent) -> dict:
        if not self.config.get("action-managed-upgrade"):
            raise ActionFailed(
                "action-managed-upgrade is false: a changed openstack-origin is applied on "
                "config change; set action-managed-upgrade=true to upgrade with this action"
            )
        try:
            config = self._config()
            if self._stored.applied_origin == config.origin.source:
                return {"outcome": f"already at {config.origin.display}: nothing to do"}
            self._install(config)
        except status.Unready as unready:
            self.unit.status = unready.status
            raise ActionFailed(unready.status.message) from None
        self._reconcile()
        release = workload.installed_release(self.system)
        name = release.name if release else "an unknown release"
        return {"outcome": f"upgraded to {name} from {config.origin.display}"}

    def _read_database(self, *command: str) -> list[dict]:
        try:
            return workload.read_database(self.system, *command)
        except workload.WorkloadError as error:
            detail = status.redact(str(error), self._secrets())
            raise ActionFailed(f"cannot read Masakari's database: {detail}") from None

    def _list_notifications(self, event: ops.ActionEvent) -> dict:
        found = self._read_database("notifications", "--limit", str(event.params["limit"]))
        lines = []
        for n in found:
            took = "" if n["duration"] is None else f"  {n['duration']} s"
            lines.append(
                f"{n['generated_at']}  {n['uuid']}  {n['type']:<12}  {n['status']:<8}  "
                f"{n['host'] or '-'}{took}"
            )
        return {"count": str(len(found)), "notifications": "\n".join(lines) or "none"}

    def _list_segments(self, _event: ops.ActionEvent) -> dict:
        found = self._read_database("segments")
        lines = []
        for segment in found:
            lines.append(
                f"{segment['name']} ({segment['recovery_method']}, {segment['service_type']}, "
                f"{segment['uuid']})"
            )
            for host in segment["hosts"]:
                flags = [
                    flag for flag, on in (
                        ("reserved", host["reserved"]), ("on maintenance", host["on_maintenance"])
                    ) if on
                ]  # fmt: skip
                lines.append(f"  {host['name']}{'  ' + ', '.join(flags) if flags else ''}")
        return {"count": str(len(found)), "segments": "\n".join(lines) or "none"}

    def _security_checklist(self, event: ops.ActionEvent) -> dict:
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
        results = {name: problem or "pass" for name, problem in checks.items()}
        failed = sorted(name for name, problem in checks.items() if problem)
        if failed:
            event.set_results(results)
            raise ActionFailed(f"{len(failed)} check(s) failed: {', '.join(failed)}")
        return results


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return "%" not in value  # a zone (fe80::1%eth0): haproxy takes no zone in a server address


if __name__ == "__main__":  # pragma: nocover
    ops.main(MasakariCharm)
