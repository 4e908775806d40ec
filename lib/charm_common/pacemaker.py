"""What Pacemaker says about its nodes, read the way masakari-hostmonitor reads it."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET  # noqa: N817 - the conventional name
from collections.abc import Mapping

from charm_common.system import System

# masakari-hostmonitor's own command; on a hypervisor it answers through pacemaker_remoted.
CRM_MON = ("crm_mon", "-X")
# A cut network makes crm_mon block for about 16 s; a hook must never wait on a hung cluster.
CRM_MON_TIMEOUT = 10.0


class ClusterStatusError(RuntimeError):
    """crm_mon gave no usable answer (no cluster connected, timed out, or garbage)."""


@dataclasses.dataclass(frozen=True)
class ClusterNode:
    name: str
    type: str  # "member" (corosync), "remote" (pacemaker_remoted) or "ping"
    online: bool
    unclean: bool


def parse_crm_mon(document: str) -> dict[str, ClusterNode]:
    """Nodes from `crm_mon -X` (or `--output-as=xml`), as masakari-hostmonitor reads them."""
    try:
        root = ET.fromstring(document)  # noqa: S314 - root-run local command, not remote input
    except ET.ParseError:
        raise ClusterStatusError("crm_mon output is not XML") from None
    nodes = root.find("nodes")
    if nodes is None:
        raise ClusterStatusError("crm_mon output lists no nodes")
    return {
        node.get("name", ""): ClusterNode(
            name=node.get("name", ""),
            type=node.get("type", ""),
            online=node.get("online") == "true",
            unclean=node.get("unclean") == "true",
        )
        for node in nodes.findall("node")
        if node.get("name")
    }


def cluster_nodes(system: System, timeout: float = CRM_MON_TIMEOUT) -> Mapping[str, ClusterNode]:
    """Ask Pacemaker for its nodes. Like hostmonitor, any stderr output means no answer."""
    result = system.run(CRM_MON, timeout=timeout)
    if result.returncode == 124:
        raise ClusterStatusError(f"crm_mon timed out after {timeout:g}s")
    errors = result.stderr.strip()
    if not result.ok or errors:
        last = errors.splitlines()[-1] if errors else f"exit {result.returncode}"
        raise ClusterStatusError(f"crm_mon failed: {last}")
    return parse_crm_mon(result.stdout)


# This node's connection resource ------------------------------------------------------------
# hacluster creates `primitive <node> ocf:pacemaker:remote ... op monitor interval=30s` once and
# never updates it; root on the remote node can change it through pacemaker_remoted, which
# proxies the cluster tools (checked against Debian 12's Pacemaker 2.1.5).

CIBADMIN_TIMEOUT = 10.0


@dataclasses.dataclass(frozen=True)
class ConnectionTiming:
    """The ops of a node's `ocf:pacemaker:remote` primitive, in seconds (None: not set)."""

    monitor_id: str | None
    monitor_interval: int | None
    monitor_timeout: int | None
    start_id: str | None
    start_timeout: int | None


def _seconds(value: str | None) -> int | None:
    """Pacemaker durations as this suite writes them: `30s`, `30`, `1m`, `1min`."""
    if not value:
        return None
    number = value.rstrip("smin")
    if not number.isdigit():
        return None
    return int(number) * (60 if value.endswith(("m", "min")) else 1)


def parse_connection_timing(primitive_xml: str, node: str) -> ConnectionTiming | None:
    """The monitor and start ops of `<primitive id=node>` from `cibadmin --query --xpath`."""
    try:
        root = ET.fromstring(primitive_xml)  # noqa: S314 - root-run local command, not remote input
    except ET.ParseError:
        raise ClusterStatusError("cibadmin output is not XML") from None
    primitive = root if root.get("id") == node else root.find(f".//primitive[@id='{node}']")
    if primitive is None:
        return None
    ops = {op.get("name"): op for op in primitive.iter("op")}
    monitor, start = ops.get("monitor"), ops.get("start")
    return ConnectionTiming(
        monitor_id=monitor.get("id") if monitor is not None else None,
        monitor_interval=_seconds(monitor.get("interval")) if monitor is not None else None,
        monitor_timeout=_seconds(monitor.get("timeout")) if monitor is not None else None,
        start_id=start.get("id") if start is not None else None,
        start_timeout=_seconds(start.get("timeout")) if start is not None else None,
    )


def connection_timing(system: System, node: str) -> ConnectionTiming | None:
    """This node's connection ops as the cluster has them; None before hacluster created it."""
    result = system.run(
        ["cibadmin", "--query", "--xpath", f"//primitive[@id='{node}']"], timeout=CIBADMIN_TIMEOUT
    )
    if result.returncode == 105:  # No such device or address: no such primitive (yet)
        return None
    if not result.ok:
        last = result.last_error
        raise ClusterStatusError(f"cibadmin --query failed: {last}")
    return parse_connection_timing(result.stdout, node)


def timing_changes(
    node: str, current: ConnectionTiming, interval: int, timeout: int, start_timeout: int
) -> list[str]:
    """The `cibadmin --modify --xml-text` documents that set what differs (0: leave it).

    The monitor op exists (hacluster's `<node>-monitor-30s`) and is modified in place by id:
    Pacemaker then cancels the old recurring monitor and starts the new one without stopping
    the connection. A start op does not exist at first: it goes in through the primitive, whose
    id-less `<operations>` matches the existing element.
    """
    changes = []
    wanted_monitor = (interval or current.monitor_interval, timeout or current.monitor_timeout)
    if current.monitor_id and (interval or timeout) and wanted_monitor != (
        current.monitor_interval, current.monitor_timeout
    ):  # fmt: skip
        attributes = f'id="{current.monitor_id}" name="monitor" interval="{wanted_monitor[0]}s"'
        if wanted_monitor[1]:
            attributes += f' timeout="{wanted_monitor[1]}s"'
        changes.append(f"<op {attributes}/>")
    if start_timeout and start_timeout != current.start_timeout:
        op_id = current.start_id or f"{node}-start-0"
        changes.append(
            f'<primitive id="{node}"><operations><op id="{op_id}" name="start" interval="0s" '
            f'timeout="{start_timeout}s"/></operations></primitive>'
        )
    return changes
