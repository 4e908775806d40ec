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
