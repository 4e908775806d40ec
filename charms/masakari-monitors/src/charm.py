#!/usr/bin/env python3
"""The masakari-monitors charm: Masakari's monitors on a nova-compute hypervisor (subordinate)."""

from __future__ import annotations

import logging

import ops

import masakari_monitors_workload as workload
from charm_common import cos_agent, hostnames, pacemaker, relations, status
from charm_common.lifecycle import ActionFailed, ReconcilingCharm
from config import MonitorsConfig

logger = logging.getLogger(__name__)

USERNAME = "masakari-monitors"  # the keystone user requested on identity-credentials
PROJECT = "services"
REQUIRED_RELATIONS = ("identity-credentials",)


class MasakariMonitorsCharm(ReconcilingCharm):
    RELATIONS = ("container", "identity-credentials", "certificates", "cos-agent")

    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        # disabled: monitors this charm stopped because their enable-*-monitor option is false.
        # segment_added: the Masakari host record this unit created for its hypervisor
        # ({"segment", "segment_uuid", "host", "host_uuid"}), or None: only that one is ever
        # moved or removed by the charm.
        self._stored.set_default(disabled=[], segment_added=None)
        for action, handler in (
            ("set-reserved", self._set_reserved), ("maintenance", self._maintenance),
            ("reinsert", self._reinsert),
        ):  # fmt: skip
            self._observe_action(action, handler)

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
        for relation in self.model.relations["cos-agent"]:
            relations.publish(relation, self.unit, self._cos_agent_data(config, ctx))
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
        try:
            note, segment_problem = self._join_segment(config, node_name), None
        except status.Unready as unready:
            note, segment_problem = "", unready
        self.check_running(ctx.services)
        if segment_problem:
            raise segment_problem
        return status.with_notes(status.READY.status(), [note])

    def _cos_agent_data(
        self, config: MonitorsConfig, ctx: workload.MonitorsContext
    ) -> dict[str, str]:
        """Alert rules and dashboard for grafana-agent, and the driver's scrape job when the
        fence-confirmed driver runs (upstream's serves no metrics)."""
        topology = cos_agent.Topology(
            self.model.name, self.model.uuid, self.app.name, self.meta.name
        )
        jobs = [
            cos_agent.scrape_job("hostmonitor", ctx.metrics_address, ctx.metrics_port)
        ] if self._serves_metrics(config) else []  # fmt: skip
        return cos_agent.unit_data(topology=topology, charm_dir=self.charm_dir, jobs=jobs)

    def _serves_metrics(self, config: MonitorsConfig) -> bool:
        """The fence-confirmed driver serves metrics while cos-agent is related (the agent is
        what scrapes them); upstream's driver has none."""
        return config.fence_confirmed_host_monitor and bool(self.model.relations["cos-agent"])

    def _metrics_address(self) -> str:
        """The machine's address on its default space (the implicit juju-info binding:
        cos-agent is container-scoped, like every endpoint of this subordinate), which
        grafana-agent on this hypervisor and a Prometheus elsewhere both reach."""
        binding = self.model.get_binding("juju-info")
        address = binding.network.bind_address if binding else None
        if address is None:
            raise status.WAITING_FOR_ADDRESS.unready(endpoint="juju-info")
        return str(address)

    def _node_name(self) -> str:
        try:
            return hostnames.hypervisor_node_name(self.system)
        except hostnames.NovaConfError as error:  # a NodeNameError: catch it first
            raise status.NOVA_CONF_UNREADABLE.unready(detail=str(error)) from None
        except hostnames.NodeNameError as error:
            raise status.INVALID_NODE_NAME.unready(why=str(error)) from None

    # The Masakari segment ----------------------------------------------------------------------

    def _join_segment(self, config: MonitorsConfig, node_name: str) -> str:
        """Put this hypervisor in segment-name under node_name; the status note.

        Empty segment-name: nothing is asked or changed (a record of what this unit added is
        forgotten: the host stays, the operator's from now on). A host in another segment is
        moved only when this unit added it (segment-name changed); a record this unit added
        under an older host name is removed. Raises Unready (SEGMENT_ELSEWHERE, SEGMENT_FAILED).
        """
        added = dict(self._stored.segment_added or {})
        wanted = config.segment_name
        if not wanted:
            if added:
                logger.info(
                    "segment-name is empty: %s stays in Masakari segment %s, left to the "
                    "operator", added["host"], added["segment"],
                )  # fmt: skip
                self._stored.segment_added = None
            return ""

        def register() -> dict:
            return self._segments(wanted, node_name, "register", "--segment", wanted,
                                  "--recovery-method", config.segment_recovery_method)  # fmt: skip

        found = register()
        if found["result"] == "elsewhere" and found["host_uuid"] == added.get("host_uuid"):
            logger.info("segment-name changed: moving %s from segment %s to %s",
                        node_name, found["segment"], wanted)  # fmt: skip
            self._unregister(added)
            added = {}
            found = register()
        if found["result"] == "elsewhere":
            raise status.SEGMENT_ELSEWHERE.unready(
                host=node_name, other=found["segment"], segment=wanted
            )
        if added and added["host_uuid"] != found["host_uuid"]:
            logger.info("host name changed: removing %s, which this unit added, from segment %s",
                        added["host"], added["segment"])  # fmt: skip
            self._unregister(added)
            added = {}
        if found["result"] == "added":
            logger.info("added %s to Masakari segment %s%s", node_name, wanted,
                        " (created)" if found.get("created_segment") else "")  # fmt: skip
            added = {"host": node_name, "host_uuid": found["host_uuid"]}
        if added:
            added.update(segment=found["segment"], segment_uuid=found["segment_uuid"])
        self._stored.segment_added = added or None
        if found.get("on_maintenance"):
            return status.SEGMENT_MAINTENANCE_NOTE.text(segment=found["segment"])
        if found.get("reserved"):
            return status.SEGMENT_RESERVED_NOTE.text(segment=found["segment"])
        return status.SEGMENT_NOTE.text(segment=found["segment"])

    def _unregister(self, added: dict) -> None:
        """Delete the host record this unit added (by its uuids: a renamed segment or host
        is still found), and forget it."""
        self._segments(added["segment"], added["host"], "unregister", "--segment-uuid",
                       added["segment_uuid"], "--host-uuid", added["host_uuid"])  # fmt: skip
        self._stored.segment_added = None

    def _segments(self, segment: str, host: str, *command: str) -> dict:
        try:
            return workload.segments_command(self.system, host, *command)
        except workload.SegmentsError as error:
            detail = status.redact(str(error), self._secrets())[:200]
            raise status.SEGMENT_FAILED.unready(
                segment=segment, host=host, detail=detail
            ) from None

    # Actions ------------------------------------------------------------------------------------

    def _action_host(self) -> str:
        """The name Nova registers, once the credentials are rendered; else ActionFailed."""
        try:
            node_name = self._node_name()
        except status.Unready as unready:
            raise ActionFailed(unready.status.message) from None
        if self.system.file_mode(workload.MONITORS_CONF) is None:
            raise ActionFailed(
                f"No credentials yet ({workload.MONITORS_CONF}): relate identity-credentials "
                "to keystone and wait for the unit to render it"
            )
        return node_name

    def _segments_action(self, host: str, *command: str) -> dict:
        try:
            results = workload.segments_command(self.system, host, *command)
        except workload.SegmentsError as error:
            raise ActionFailed(status.redact(str(error), self._secrets())) from None
        self._reconcile()  # the status shows the new flags
        return results

    def _set_reserved(self, event: ops.ActionEvent) -> dict:
        reserved = "true" if event.params["reserved"] else "false"
        return self._segments_action(self._action_host(), "set-reserved", "--reserved", reserved)

    def _maintenance(self, event: ops.ActionEvent) -> dict:
        on = "true" if event.params["on"] else "false"
        return self._segments_action(self._action_host(), "maintenance", "--on", on)

    def _reinsert(self, _event: ops.ActionEvent) -> dict:
        """After a repair: refused until Pacemaker shows this node online (here, through
        pacemaker_remoted) and Nova its nova-compute service up; then forced-down cleared,
        nova-compute enabled, on_maintenance cleared (masakari_segments.py)."""
        host = self._action_host()
        try:
            node = pacemaker.cluster_nodes(self.system).get(host)
        except pacemaker.ClusterStatusError as error:
            raise ActionFailed(
                f"Cannot ask Pacemaker whether {host} is online ({error}): start pacemaker_remote "
                "(the pacemaker-remote charm's resume action) and wait for the cluster to connect"
            ) from None
        if node is None or not node.online:
            raise ActionFailed(
                f"Pacemaker shows {host} "
                f"{'offline' if node else 'nowhere among its nodes'}: wait until crm_mon shows "
                "it online (the cluster reconnects a remote node within its reconnect_interval)"
            )
        results = self._segments_action(host, "reinsert")
        return {**results, "steps": {"pacemaker": "online", **results.get("steps", {})}}

    # Packages and services ------------------------------------------------------------------

    def _ensure_installed(self, config: MonitorsConfig) -> None:
        wanted = workload.packages(config.enabled, metrics=self._serves_metrics(config))
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
            metrics_address=self._metrics_address() if self._serves_metrics(config) else "",
            metrics_port=config.metrics_port if self._serves_metrics(config) else 0,
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
        added = self._stored.segment_added
        if added:
            try:
                self._unregister(dict(added))
                logger.info("removed %s, which this unit added, from Masakari segment %s",
                            added["host"], added["segment"])  # fmt: skip
            except status.Unready as unready:
                logger.error("%s; remove it by hand: openstack segment host delete %s %s",
                             unready.status.message, added["segment"], added["host"])  # fmt: skip
        for service in workload.SERVICES:
            if self.system.package_version(workload.MONITORS_BY_SERVICE[service].package):
                self.system.stop_service(service)
        workload.uninstall(self.system)


if __name__ == "__main__":  # pragma: nocover
    ops.main(MasakariMonitorsCharm)
