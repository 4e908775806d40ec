"""Host names: what a valid one looks like, and the one name a hypervisor has everywhere.

nova-compute registers its service host as `socket.getfqdn()`. The same name must be the
Pacemaker remote node name (pacemaker-remote's `remote-hostname` and `stonith-hostname`),
masakari-monitors' `hostname` and the Masakari segment host: a mismatch silently disables
recovery. The hypervisor charms take the name from `hypervisor_node_name` so they cannot disagree.
"""

from __future__ import annotations

import configparser
import re

from charm_common.system import System

NOVA_CONF = "/etc/nova/nova.conf"
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


class NovaConfError(ValueError):
    """nova.conf exists but cannot be read as an ini file."""


def nova_compute_host(system: System) -> str | None:
    """`[DEFAULT] host` from the principal's nova.conf, else the FQDN; None without nova.conf.

    The nova-compute charm writes `host` when it overrides the name; otherwise it registers the
    machine's FQDN.
    """
    content = system.read_file(NOVA_CONF)
    if content is None:
        return None
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(content.decode(errors="replace"), source=NOVA_CONF)
    except configparser.Error as error:
        raise NovaConfError(f"cannot parse {NOVA_CONF}: {type(error).__name__}") from None
    return parser.defaults().get("host", "").strip() or system.fqdn().strip()


def hostname_mismatch(system: System, node_name: str) -> str | None:
    """None when nova-compute and pacemaker-remote use node_name; else what is wrong and the fix.

    Masakari matches the names exactly and, when they differ, silently does nothing.
    """
    nova = nova_compute_host(system)
    if nova is not None and nova != node_name:
        return (
            f"Host name mismatch: this hypervisor is {node_name} (FQDN) but nova-compute "
            f"registers {nova} ({NOVA_CONF} [DEFAULT] host); make them equal, or Masakari "
            "ignores its failures"
        )
    published = (system.read_file(REMOTE_NODE_NAME_FILE) or b"").decode().strip()
    if published and published != node_name:
        return (
            f"Host name mismatch: this hypervisor is {node_name} (FQDN) but pacemaker-remote "
            f"published {published}; the FQDN changed: fix it, or let pacemaker-remote republish"
        )
    return None
