#!/usr/bin/env python3
"""The pacemaker-remote charm: makes a nova-compute host a Pacemaker remote node of hacluster."""

from __future__ import annotations

import dataclasses
import ipaddress
import logging

import ops

import pacemaker_remote_workload as workload
from charm_common import hostnames, pacemaker, relations
from charm_common.reconcile import ReconcilingCharm
from charm_common.services import restart_pending
from charm_common.status import Config, Unready, invalid_config, missing_relations

logger = logging.getLogger(__name__)

ENDPOINT = "pacemaker-remote"
REMOTE_PORT = 3121  # pacemaker_remoted's default; hacluster's ocf:pacemaker:remote uses it


@dataclasses.dataclass(frozen=True)
class Settings:
    """The charm config, validated."""

    enable_stonith: bool
    enable_resources: bool
    remote_address: str | None  # None: the pacemaker-remote binding's address


class PacemakerRemoteCharm(ReconcilingCharm):
    RELATIONS = (ENDPOINT, "juju-info")
    _stored = ops.StoredState()

    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        self._stored.set_default(paused=False, restart_pending=False)
        framework.observe(self.on.pause_action, self._on_pause)
        framework.observe(self.on.resume_action, self._on_resume)

    # The one reconcile path -----------------------------------------------------------------

    def _converge(self) -> ops.StatusBase:
        settings = self._settings()
        try:
            node_name = hostnames.hypervisor_node_name(self.system)
        except hostnames.NodeNameError as error:
            raise Unready(ops.BlockedStatus(f"Invalid node name: {error}")) from None
        self._ensure_installed()
        workload.write_node_name(self.system, node_name)
        self.unit.set_ports(REMOTE_PORT)
        hacluster = self.model.relations[ENDPOINT]
        if not hacluster:
            raise missing_relations([ENDPOINT])
        if len(hacluster) > 1:
            apps = ", ".join(sorted(r.app.name for r in hacluster if r.app))
            raise Unready(ops.BlockedStatus(
                f"Related to several hacluster applications ({apps}): a remote node belongs to "
                "one cluster"
            ))  # fmt: skip
        relation = hacluster[0]
        relations.publish(relation, self.unit, relations.pacemaker_remote_data(
            remote_hostname=node_name,
            remote_ip=settings.remote_address or self._binding_address(relation),
            stonith_hostname=node_name if settings.enable_stonith else None,
            enable_resources=settings.enable_resources,
        ))  # fmt: skip
        try:
            key = relations.read_pacemaker_key(relation)
        except relations.RelationDataError as error:
            # The authkey written before stays: the node keeps talking to its cluster.
            raise Unready(ops.BlockedStatus(str(error))) from None
        if key is None:
            raise Unready(ops.WaitingStatus("Waiting for pacemaker key from hacluster"))
        if workload.write_authkey(self.system, key):
            # Also on a later key change: the old key would fail TLS-PSK with the cluster.
            self._stored.restart_pending = True
        if self._stored.paused:
            return ops.MaintenanceStatus("Paused. Use the resume action to start services")
        if self._stored.restart_pending:
            still_pending, failed = restart_pending(self.system, [workload.SERVICE])
            self._stored.restart_pending = bool(still_pending)
            if failed:
                return failed
        if not self.system.service_running(workload.SERVICE):
            return ops.BlockedStatus(
                f"{workload.SERVICE} not running (see journalctl -u {workload.SERVICE})"
            )
        # Checked last: fencing keeps working meanwhile, only Masakari would ignore the node.
        try:
            mismatch = hostnames.hostname_mismatch(self.system, node_name)
        except hostnames.NovaConfError as error:
            return ops.BlockedStatus(str(error))
        if mismatch:
            return ops.BlockedStatus(mismatch)
        return self._cluster_status(node_name)

    # Config -----------------------------------------------------------------------------------

    def _settings(self) -> Settings:
        config = Config(self.config)
        address = config.str("remote-address")
        if address:
            try:
                address = str(ipaddress.ip_address(address))
            except ValueError:
                raise invalid_config(
                    "remote-address",
                    f"{address!r} is not an IP address (leave it empty to use the "
                    f"{ENDPOINT} binding's address)",
                ) from None
        return Settings(
            enable_stonith=config.bool("enable-stonith"),
            enable_resources=config.bool("enable-resources"),
            remote_address=address or None,
        )

    # The machine ------------------------------------------------------------------------------

    def _ensure_installed(self) -> None:
        if workload.installed(self.system):
            return
        self.unit.status = ops.MaintenanceStatus("Installing packages")
        try:
            workload.install(self.system)
        except Exception as error:  # apt fails in many ways
            logger.error("package installation failed: %s", error)
            raise Unready(ops.BlockedStatus(
                f"Package installation failed ({type(error).__name__}); check the machine's "
                "apt access (retried on the next hook)"
            )) from None  # fmt: skip

    def _binding_address(self, relation: ops.Relation) -> str:
        binding = self.model.get_binding(relation)
        address = binding.network.bind_address if binding else None
        if not address:
            raise Unready(ops.WaitingStatus(f"Waiting for an address on the {ENDPOINT} binding"))
        return str(address)

    def _cluster_status(self, node_name: str) -> ops.StatusBase:
        """What the cluster says of this node, when crm_mon answers through pacemaker_remoted."""
        try:
            nodes = pacemaker.cluster_nodes(self.system)
        except pacemaker.ClusterStatusError as error:
            # Normal until hacluster has created this node's connection resource.
            logger.info("no cluster status: %s", error)
            return ops.ActiveStatus("Unit is ready")
        node = nodes.get(node_name)
        if node and node.online:
            return ops.ActiveStatus(f"Remote node {node_name} online in cluster")
        if node:
            return ops.WaitingStatus(f"Remote node {node_name} known to the cluster but offline")
        short = node_name.split(".")[0]
        same_host = [
            n.name for n in nodes.values() if n.type == "remote" and n.name.split(".")[0] == short
        ]
        if same_host:
            # e.g. a node created by an old charm version under the short host name.
            return ops.BlockedStatus(
                f"Node name mismatch: the cluster has {same_host[0]}, nova-compute uses "
                f"{node_name}"
            )
        return ops.WaitingStatus(f"Remote node {node_name} not yet known to the cluster")

    # Actions ----------------------------------------------------------------------------------

    def _on_pause(self, event: ops.ActionEvent) -> None:
        self.system.pause_service(workload.SERVICE)
        self._stored.paused = True
        self._reconcile()
        event.set_results({"paused": workload.SERVICE})

    def _on_resume(self, event: ops.ActionEvent) -> None:
        self.system.resume_service(workload.SERVICE)
        self._stored.paused = False
        # resume_service started it with the authkey on disk: nothing left to restart for.
        self._stored.restart_pending = False
        self._reconcile()
        event.set_results({"resumed": workload.SERVICE})


if __name__ == "__main__":  # pragma: nocover
    ops.main(PacemakerRemoteCharm)
