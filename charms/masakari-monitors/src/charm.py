#!/usr/bin/env python3
"""The masakari-monitors charm: Masakari's monitors on a nova-compute hypervisor (subordinate)."""

from __future__ import annotations

import dataclasses
import logging

import ops

import masakari_monitors_workload as workload
from charm_common import hostnames, relations
from charm_common.reconcile import ReconcilingCharm
from charm_common.services import restart_pending, stopped_services_status
from charm_common.status import (
    Config,
    Unready,
    incomplete_relations,
    invalid_config,
    missing_relations,
)

logger = logging.getLogger(__name__)

USERNAME = "masakari-monitors"  # the keystone user requested on identity-credentials
PROJECT = "services"
REQUIRED_RELATIONS = ("identity-credentials",)
# charm option -> minimum accepted value
INTEGER_OPTIONS = {
    "host-monitoring-interval": 1,
    "host-monitoring-samples": 1,
    "stonith-wait": 0,
    "api-retry-max": 0,
    "api-retry-interval": 1,
    "process-check-interval": 1,
}


@dataclasses.dataclass(frozen=True)
class Settings:
    """The charm config, validated."""

    debug: bool
    use_syslog: bool
    interface: str
    enabled: tuple[str, ...]
    host_driver: str
    integers: dict[str, int]
    process_list: tuple[dict[str, object], ...]


class MasakariMonitorsCharm(ReconcilingCharm):
    RELATIONS = ("container", "identity-credentials", "certificates")
    _stored = ops.StoredState()

    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        # disabled: monitors this charm stopped because their enable-*-monitor option is false.
        self._stored.set_default(paused=False, pending_restarts=[], disabled=[])
        framework.observe(self.on.pause_action, self._on_pause)
        framework.observe(self.on.resume_action, self._on_resume)
        framework.observe(self.on.restart_services_action, self._on_restart_services)

    # The one reconcile path -----------------------------------------------------------------

    def _converge(self) -> ops.StatusBase:
        settings = self._settings()
        self._ensure_installed(settings)
        self._publish()
        try:
            node_name = hostnames.hypervisor_node_name(self.system)
        except hostnames.NodeNameError as error:
            raise Unready(ops.BlockedStatus(f"Invalid node name: {error}")) from None
        ctx = self._context(settings, node_name)
        self._check_hostname(node_name)
        try:
            if settings.host_driver == workload.FENCE_CONFIRMED_DRIVER and "host" in ctx.enabled:
                if workload.install_fence_confirmed_driver(self.system):
                    self._add_pending_restarts([workload.MONITORS["host"].service])
            changed = workload.write_files(self.system, workload.render(ctx))
        except workload.WorkloadError as error:
            raise Unready(ops.BlockedStatus(str(error))) from None
        self._add_pending_restarts(changed)
        if self._stored.paused:
            return ops.MaintenanceStatus("Paused. Use the resume action to start services")
        self._apply_enablement(ctx)
        self._stored.pending_restarts, failed = restart_pending(
            self.system, [s for s in self._stored.pending_restarts if s in ctx.services]
        )
        problem = failed or stopped_services_status(self.system, ctx.services)
        if problem:
            return problem
        return ops.ActiveStatus("Unit is ready")

    # Config ---------------------------------------------------------------------------------

    def _settings(self) -> Settings:
        config = Config(self.config)
        integers = {
            name: config.int(name, minimum=minimum) for name, minimum in INTEGER_OPTIONS.items()
        }
        driver = config.str("host-monitoring-driver")
        if driver not in workload.HOST_MONITORING_DRIVERS:
            raise invalid_config(
                "host-monitoring-driver",
                f"{driver!r} is not one of {', '.join(workload.HOST_MONITORING_DRIVERS)}",
            )
        enabled = tuple(key for key in workload.MONITORS if config.bool(f"enable-{key}-monitor"))
        process_list = workload.DEFAULT_PROCESS_LIST
        text = str(self.config.get("process-list") or "")  # unstripped: errors name its lines
        if text.strip():
            try:
                process_list = workload.parse_process_list(text)
            except workload.ProcessListError as error:
                raise invalid_config("process-list", str(error)) from None
        return Settings(
            debug=config.bool("debug"),
            use_syslog=config.bool("use-syslog"),
            interface="internal" if config.bool("use-internal-endpoints") else "public",
            enabled=enabled,
            host_driver=driver,
            integers=integers,
            process_list=process_list,
        )

    # Packages and services ------------------------------------------------------------------

    def _ensure_installed(self, settings: Settings) -> None:
        wanted = workload.packages(settings.enabled)
        new = [p for p in wanted if self.system.package_version(p) is None]
        if not new:
            return
        self.unit.status = ops.MaintenanceStatus(f"Installing {', '.join(new)}")
        try:
            self.system.install_packages(wanted)
        except Exception as error:  # apt fails in many ways
            logger.error("installing %s failed: %s", " ".join(new), error)
            raise Unready(ops.BlockedStatus(
                f"Package installation failed ({type(error).__name__}); check the machine's "
                "apt sources (the monitors come from nova-compute's openstack-origin)"
            )) from None  # fmt: skip
        # A newly installed monitor runs only once it has the charm's configuration.
        self._add_pending_restarts(
            [m.service for m in workload.MONITORS.values() if m.package in new]
        )

    def _apply_enablement(self, ctx: workload.MonitorsContext) -> None:
        """Disabled monitors stay stopped across reboots; re-enabled ones start again."""
        disabled = list(self._stored.disabled)
        for key, monitor in workload.MONITORS.items():
            if key in ctx.enabled and monitor.service in disabled:
                self.system.resume_service(monitor.service)  # starts it with today's files
                disabled.remove(monitor.service)
                self._stored.pending_restarts = [
                    s for s in self._stored.pending_restarts if s != monitor.service
                ]
            elif key not in ctx.enabled and monitor.service not in disabled:
                if self.system.package_version(monitor.package) is not None:
                    logger.info("stopping %s: enable-%s-monitor is false", monitor.service, key)
                    self.system.pause_service(monitor.service)
                    disabled.append(monitor.service)
        self._stored.disabled = disabled

    def _add_pending_restarts(self, services: list[str] | tuple[str, ...]) -> None:
        pending = set(self._stored.pending_restarts) | set(services)
        self._stored.pending_restarts = [s for s in workload.SERVICES if s in pending]

    # Relations ------------------------------------------------------------------------------

    def _publish(self) -> None:
        # Only the user and project: keystone grants its admin role (`admin-role`, "Admin" by
        # default), which is what Masakari's API policy checks for every notification
        # (role:admin, compared case-insensitively). Asking for requested_roles=admin could make
        # keystone try to create a role that exists under another case and fail its hook.
        for relation in self.model.relations["identity-credentials"]:
            relations.publish(relation, self.unit, {"username": USERNAME, "project": PROJECT})

    def _context(self, settings: Settings, node_name: str) -> workload.MonitorsContext:
        missing = [name for name in REQUIRED_RELATIONS if not self.model.relations[name]]
        if missing:
            raise missing_relations(missing)
        try:
            identity = relations.read_identity_credentials(
                self.model.relations["identity-credentials"][0]
            )
        except relations.RelationDataError as error:
            raise Unready(ops.BlockedStatus(f"Invalid relation data: {error}")) from None
        if identity is None:
            raise incomplete_relations(["identity-credentials"])
        ca_cert = identity.ca_cert or self._certificates_ca()
        # keystone sends its `region` option, which may list several regions.
        region = (identity.region or "RegionOne").split()[0]
        return workload.MonitorsContext(
            hostname=node_name,
            group=workload.service_group(self.system),
            debug=settings.debug,
            use_syslog=settings.use_syslog,
            api=workload.Api(
                auth_url=identity.admin_auth_url,
                username=identity.username,
                password=identity.password,
                project=identity.project,
                user_domain=identity.user_domain,
                project_domain=identity.project_domain,
                region=region,
                interface=settings.interface,
                ca_cert=ca_cert,
            ),
            enabled=settings.enabled,
            host_driver=settings.host_driver,
            monitoring_interval=settings.integers["host-monitoring-interval"],
            monitoring_samples=settings.integers["host-monitoring-samples"],
            stonith_wait=settings.integers["stonith-wait"],
            api_retry_max=settings.integers["api-retry-max"],
            api_retry_interval=settings.integers["api-retry-interval"],
            process_check_interval=settings.integers["process-check-interval"],
            process_list=settings.process_list,
            libvirt_group="libvirt" if workload.group_exists(self.system, "libvirt") else None,
        )

    def _certificates_ca(self) -> bytes | None:
        """The CA (and chain) a tls-certificates provider such as vault publishes, PEM."""
        for relation in self.model.relations["certificates"]:
            for _unit, data in relations.remote_units_data(relation):
                if data.get("ca"):
                    parts = (data["ca"], data.get("chain") or "")
                    return "".join(f"{part.strip()}\n" for part in parts if part).encode()
        return None

    def _check_hostname(self, node_name: str) -> None:
        """Nova and Pacemaker must know this hypervisor by the name the monitors report."""
        try:
            mismatch = hostnames.hostname_mismatch(self.system, node_name)
        except hostnames.NovaConfError as error:
            raise Unready(ops.BlockedStatus(str(error))) from None
        if mismatch:
            raise Unready(ops.BlockedStatus(mismatch))

    # Actions ----------------------------------------------------------------------------------

    def _enabled_services(self) -> list[str]:
        return [
            m.service for key, m in workload.MONITORS.items()
            if self.config.get(f"enable-{key}-monitor")
        ]  # fmt: skip

    def _on_pause(self, event: ops.ActionEvent) -> None:
        services = self._enabled_services()
        for service in services:
            self.system.pause_service(service)
        self._stored.paused = True
        self._reconcile()
        event.set_results({"paused": " ".join(services)})

    def _on_resume(self, event: ops.ActionEvent) -> None:
        services = self._enabled_services()
        for service in services:
            self.system.resume_service(service)
        self._stored.paused = False
        self._reconcile()
        event.set_results({"resumed": " ".join(services)})

    def _on_restart_services(self, event: ops.ActionEvent) -> None:
        if self._stored.paused:
            event.fail("The unit is paused: run the resume action instead")
            return
        services = self._enabled_services()
        for service in services:
            self.system.restart_service(service)
        self._stored.pending_restarts = []
        self._reconcile()
        event.set_results({"restarted": " ".join(services)})


if __name__ == "__main__":  # pragma: nocover
    ops.main(MasakariMonitorsCharm)
