#!/usr/bin/env python3
"""The pacemaker-remote charm: makes a nova-compute host a Pacemaker remote node of hacluster."""

from __future__ import annotations

import logging

import ops

import pacemaker_remote_workload as workload
from charm_common import hostnames, pacemaker, relations, status
from charm_common.lifecycle import ReconcilingCharm
from config import RemoteConfig

logger = logging.getLogger(__name__)

ENDPOINT = "pacemaker-remote"
REMOTE_PORT = 3121  # pacemaker_remoted's default; hacluster's ocf:pacemaker:remote uses it


class PacemakerRemoteCharm(ReconcilingCharm):
    RELATIONS = (ENDPOINT, "juju-info")

    def _services(self) -> tuple[str, ...]:
        return (workload.SERVICE,)

    # The one reconcile path -----------------------------------------------------------------

    def _converge(self) -> ops.StatusBase:
        config = self.load_typed_config(RemoteConfig)
        try:
            node_name = hostnames.hypervisor_node_name(self.system)
        except hostnames.NovaConfError as error:  # a NodeNameError: catch it first
            raise status.NOVA_CONF_UNREADABLE.unready(detail=str(error)) from None
        except hostnames.NodeNameError as error:
            raise status.INVALID_NODE_NAME.unready(why=str(error)) from None
        if not workload.installed(self.system):
            self.install(
                ", ".join(workload.PACKAGES),
                lambda: workload.install(self.system),
                "check the machine's apt access",
            )
        self.write_files([workload.node_name_file(node_name)])
        self.unit.set_ports(REMOTE_PORT)
        hacluster = self.model.relations[ENDPOINT]
        if not hacluster:
            raise status.MISSING_RELATIONS.unready(relations=ENDPOINT)
        if len(hacluster) > 1:
            apps = ", ".join(sorted(r.app.name for r in hacluster if r.app))
            raise status.SEVERAL_CLUSTERS.unready(apps=apps)
        relation = hacluster[0]
        try:
            key = relations.read_pacemaker_key(relation)
        except relations.RelationDataError as error:
            # The authkey written before stays: the node keeps talking to its cluster.
            raise status.INVALID_RELATION_DATA.unready(detail=str(error)) from None
        relations.publish(relation, self.unit, relations.pacemaker_remote_data(
            remote_hostname=node_name,
            remote_ip=config.address or self._binding_address(relation),
            stonith_hostname=node_name if config.enable_stonith else None,
            enable_resources=config.enable_resources,
        ))  # fmt: skip
        if key is None:
            raise status.WAITING_FOR_KEY.unready()
        # Also on a later key change: the old key would fail TLS-PSK with the cluster.
        self.write_files([workload.authkey_file(key)])
        self.apply_pending()
        self.check_running()
        # Checked last: fencing keeps working meanwhile, only Masakari would ignore the node.
        try:
            mismatch = hostnames.hostname_mismatch(self.system, node_name)
        except hostnames.NovaConfError as error:
            raise status.NOVA_CONF_UNREADABLE.unready(detail=str(error)) from None
        if mismatch:
            raise status.HOST_NAME_MISMATCH.unready(
                detail=mismatch.removeprefix("Host name mismatch: ")
            )
        return self._cluster_status(node_name, config)

    def _binding_address(self, relation: ops.Relation) -> str:
        binding = self.model.get_binding(relation)
        address = binding.network.bind_address if binding else None
        if not address:
            raise status.WAITING_FOR_ADDRESS.unready(endpoint=ENDPOINT)
        return str(address)

    def _cluster_status(self, node_name: str, config: RemoteConfig) -> ops.StatusBase:
        """What the cluster says of this node, when crm_mon answers through pacemaker_remoted."""
        try:
            nodes = pacemaker.cluster_nodes(self.system)
        except pacemaker.ClusterStatusError as error:
            # Normal until hacluster has created this node's connection resource.
            logger.info("no cluster status: %s", error)
            return status.READY.status()
        node = nodes.get(node_name)
        if node and node.online:
            return status.with_notes(
                status.NODE_ONLINE.status(node=node_name),
                [self._tune_connection(node_name, config)],
            )
        if node:
            return status.NODE_OFFLINE.status(node=node_name)
        short = node_name.split(".")[0]
        same_host = [
            n.name for n in nodes.values() if n.type == "remote" and n.name.split(".")[0] == short
        ]
        if same_host:
            # e.g. a node created by an old charm version under another form of the host name.
            return status.NODE_NAME_MISMATCH.status(cluster_name=same_host[0], node=node_name)
        return status.NODE_UNKNOWN.status(node=node_name)

    def _tune_connection(self, node_name: str, config: RemoteConfig) -> str:
        """Set this node's connection ops as configured (idempotent, every hook); the note
        saying what the cluster now has, or "" when nothing is configured."""
        wanted = (
            config.connection_monitor_interval, config.connection_monitor_timeout,
            config.connection_start_timeout,
        )  # fmt: skip
        if not any(wanted):
            return ""
        try:
            current = pacemaker.connection_timing(self.system, node_name)
        except pacemaker.ClusterStatusError as error:
            logger.info("connection settings not readable yet: %s", error)
            return ""
        if current is None:
            return ""
        for change in pacemaker.timing_changes(node_name, current, *wanted):
            result = self.system.run(
                ["cibadmin", "--modify", "--xml-text", change], timeout=pacemaker.CIBADMIN_TIMEOUT
            )
            if not result.ok:
                detail = result.last_error
                logger.error("cibadmin --modify %s failed: %s", change, detail)
                raise status.CLUSTER_REFUSED.unready(detail=detail[:120])
            logger.info("set %s on the cluster", change)
        try:
            current = pacemaker.connection_timing(self.system, node_name) or current
        except pacemaker.ClusterStatusError as error:
            logger.info("connection settings not readable after the change: %s", error)
        return status.CONNECTION_TIMING.text(
            interval=current.monitor_interval or "?",
            timeout=current.monitor_timeout or 20,
            start=current.start_timeout or 20,
        )

    # remove -----------------------------------------------------------------------------------

    def _uninstall(self) -> None:
        self.system.stop_service(workload.SERVICE)
        for path in workload.OWNED_FILES:
            self.system.remove_file(path)


if __name__ == "__main__":  # pragma: nocover
    ops.main(PacemakerRemoteCharm)
