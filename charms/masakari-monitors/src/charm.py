#!/usr/bin/env python3
"""The masakari-monitors charm: Masakari's monitors on a nova-compute hypervisor (subordinate)."""

from __future__ import annotations

import logging

import ops

import masakari_monitors_workload as workload
from charm_common import hostnames, relations, status
from charm_common.lifecycle import ReconcilingCharm
from config import MonitorsConfig

logger = logging.getLogger(__name__)

USERNAME = "masakari-monitors"  # the keystone user requested on identity-credentials
PROJECT = "services"
REQUIRED_RELATIONS = ("identity-credentials",)


class MasakariMonitorsCharm(ReconcilingCharm):
    RELATIONS = ("container", "identity-credentials", "certificates")

    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        # disabled: monitors this charm stopped because their enable-*-monitor option is false.
        self._stored.set_default(disabled=[])

    def _services(self) -> tuple[str, ...]:
        """The enabled monitors' services (read raw: actions run even with a bad config)."""
        return tuple(
            monitor.service for key, monitor in workload.MONITORS.items()
            if self.config.get(f"enable-{key}-monitor")
        )  # fmt: skip

    def _secrets(self) -> tuple[str, ...]:
        return tuple(
            data["credentials_password"]
            for relation in self.model.relations["identity-credentials"]
            for _unit, data in relations.remote_units_data(relation)
            if data.get("credentials_password")
        )

    # The one reconcile path -----------------------------------------------------------------

    def _converge(self) -> ops.StatusBase:
        config = self.load_typed_config(MonitorsConfig)
        self._ensure_installed(config)
        node_name = self._node_name()
        identity, vault_ca = self._received()
        for relation in self.model.relations["identity-credentials"]:
            # Only the user and project: keystone grants its admin role (`admin-role`, "Admin"
            # by default), which Masakari's API policy checks for every notification
            # (role:admin, compared case-insensitively). Asking for requested_roles=admin could
            # make keystone try to create a role that exists under another case and fail.
            relations.publish(relation, self.unit, {"username": USERNAME, "project": PROJECT})
        ctx = self._context(config, node_name, identity, vault_ca)
        self._check_hostname(node_name)
        if (
            config.host_monitoring_driver == workload.FENCE_CONFIRMED_DRIVER
            and "host" in ctx.enabled
        ):
            try:
                if workload.install_fence_confirmed_driver(self.system):
                    self.queue(("restart", workload.MONITORS["host"].service))
            except workload.WorkloadError as error:
                raise status.DRIVER_UNAVAILABLE.unready(detail=str(error)) from None
        self.write_files(workload.render(ctx))
        if not self._stored.paused:
            self._apply_enablement(ctx)
        self.apply_pending()
        self.check_running(ctx.services)
        return status.READY.status()

    def _node_name(self) -> str:
        try:
            return hostnames.hypervisor_node_name(self.system)
        except hostnames.NovaConfError as error:  # a NodeNameError: catch it first
            raise status.NOVA_CONF_UNREADABLE.unready(detail=str(error)) from None
        except hostnames.NodeNameError as error:
            raise status.INVALID_NODE_NAME.unready(why=str(error)) from None

    # Packages and services ------------------------------------------------------------------

    def _ensure_installed(self, config: MonitorsConfig) -> None:
        wanted = workload.packages(config.enabled)
        new = [p for p in wanted if self.system.package_version(p) is None]
        if not new:
            return
        self.install(
            ", ".join(new),
            lambda: self.system.install_packages(wanted),
            "check the machine's apt sources (the monitors come from nova-compute's "
            "openstack-origin)",
        )

    def _apply_enablement(self, ctx: workload.MonitorsContext) -> None:
        """Disabled monitors stay stopped across reboots; re-enabled ones start again."""
        disabled = list(self._stored.disabled)
        for key, monitor in workload.MONITORS.items():
            if key in ctx.enabled and monitor.service in disabled:
                self.system.resume_service(monitor.service)  # starts it with today's files
                disabled.remove(monitor.service)
                self._drop_restarts([monitor.service])
            elif key not in ctx.enabled and monitor.service not in disabled:
                if self.system.package_version(monitor.package) is not None:
                    logger.info("stopping %s: enable-%s-monitor is false", monitor.service, key)
                    self.system.pause_service(monitor.service)
                    disabled.append(monitor.service)
        self._stored.disabled = disabled

    # Relations ------------------------------------------------------------------------------

    def _received(self) -> tuple[relations.ServiceCredentials | None, bytes | None]:
        """keystone's credentials, and the CA (and chain) vault publishes on `certificates`."""
        identity = self.model.get_relation("identity-credentials")
        vault = self.model.get_relation("certificates")
        try:
            return (
                relations.read_identity_credentials(identity) if identity else None,
                relations.read_certificates_ca(vault) if vault else None,
            )
        except relations.RelationDataError as error:
            raise status.INVALID_RELATION_DATA.unready(detail=str(error)) from None

    def _context(
        self,
        config: MonitorsConfig,
        node_name: str,
        identity: relations.ServiceCredentials | None,
        vault_ca: bytes | None,
    ) -> workload.MonitorsContext:
        missing = [name for name in REQUIRED_RELATIONS if not self.model.relations[name]]
        if missing:
            raise status.MISSING_RELATIONS.unready(relations=", ".join(missing))
        if identity is None:
            raise status.INCOMPLETE_RELATIONS.unready(relations="identity-credentials")
        # keystone sends its `region` option, which may list several regions.
        region = (identity.region or "RegionOne").split()[0]
        return workload.MonitorsContext(
            hostname=node_name,
            group=workload.service_group(self.system),
            debug=config.debug,
            use_syslog=config.use_syslog,
            api=workload.Api(
                auth_url=identity.admin_auth_url,
                username=identity.username,
                password=identity.password,
                project=identity.project,
                user_domain=identity.user_domain,
                project_domain=identity.project_domain,
                region=region,
                interface=config.interface,
                ca_cert=identity.ca_cert or vault_ca,
            ),
            enabled=config.enabled,
            host_driver=config.host_monitoring_driver,
            monitoring_interval=config.host_monitoring_interval,
            monitoring_samples=config.host_monitoring_samples,
            stonith_wait=config.stonith_wait,
            api_retry_max=config.api_retry_max,
            api_retry_interval=config.api_retry_interval,
            process_check_interval=config.process_check_interval,
            process_list=config.processes,
            libvirt_group="libvirt" if workload.group_exists(self.system, "libvirt") else None,
        )

    def _check_hostname(self, node_name: str) -> None:
        """Nova and Pacemaker must know this hypervisor by the name the monitors report."""
        try:
            mismatch = hostnames.hostname_mismatch(self.system, node_name)
        except hostnames.NovaConfError as error:
            raise status.NOVA_CONF_UNREADABLE.unready(detail=str(error)) from None
        if mismatch:
            raise status.HOST_NAME_MISMATCH.unready(
                detail=mismatch.removeprefix("Host name mismatch: ")
            )

    # remove -----------------------------------------------------------------------------------

    def _uninstall(self) -> None:
        for service in workload.SERVICES:
            if self.system.package_version(workload.MONITORS_BY_SERVICE[service].package):
                self.system.stop_service(service)
        workload.uninstall(self.system)


if __name__ == "__main__":  # pragma: nocover
    ops.main(MasakariMonitorsCharm)
