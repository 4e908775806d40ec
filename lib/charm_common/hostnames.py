"""Host names: what a valid one looks like, and the one name a hypervisor has everywhere.

nova-compute registers its service host as `socket.getfqdn()`. The same name must be the
Pacemaker remote node name (pacemaker-remote's `remote-hostname` and `stonith-hostname`),
masakari-monitors' `hostname` and the Masakari segment host: a mismatch silently disables
recovery. The hypervisor charms take the name from `hypervisor_node_name` so they cannot disagree.
"""

from __future__ import annotations

import re

from charm_common.system import System

# Where the pacemaker-remote charm records the node name it publishes, for operators, the lab
# and masakari-monitors to compare with their own.
REMOTE_NODE_NAME_FILE = "/var/lib/charm-pacemaker-remote/node-name"

_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


class NodeNameError(ValueError):
    """The machine's FQDN cannot name it in Nova, Pacemaker and MAAS."""


def is_hostname(value: str) -> bool:
    """A DNS host name (RFC 1123 labels), short or fully qualified."""
    return bool(_HOSTNAME.match(value))


def hypervisor_node_name(system: System) -> str:
    """The FQDN nova-compute registers, checked to be a name the cluster and MAAS can use."""
    name = system.fqdn().strip()
    if not is_hostname(name):
        raise NodeNameError(f"host name {name!r} is not a valid host name")
    if name.split(".")[0].lower() == "localhost":
        # MAAS STONITH looks machines up by the short name: localhost would fence nothing.
        raise NodeNameError(
            f"host name {name!r} is localhost; fix /etc/hosts so that `hostname --fqdn` "
            "gives the machine's MAAS name"
        )
    return name
