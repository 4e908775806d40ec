"""Host names: what a valid one looks like, and the one name a hypervisor has everywhere.

nova-compute registers its service under `[DEFAULT] host` from /etc/nova/nova.conf when that is
set, else under `socket.gethostname()`: Nova's own default (nova/conf/netconf.py,
`cfg.StrOpt("host", default=socket.gethostname())`). charm-nova-compute writes `host` only on
units installed with its FQDN hint (Stein on), so older units register the bare host name, on
MAAS usually the short one (`virt-node-01`, not `virt-node-01.maas`). The same name must be the
Pacemaker remote node name (pacemaker-remote's `remote-hostname` and `stonith-hostname`),
masakari-monitors' `hostname` and the Masakari segment host: Masakari matches them exactly and a
mismatch silently disables recovery. The hypervisor charms take the name from
`hypervisor_node_name` so they cannot disagree. MAAS fencing works with either form: hacluster
lists each stonith-hostname and its short form, and the MAAS plugin looks machines up by the
short name.
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
    """The name Nova registers cannot name the hypervisor in Pacemaker and MAAS."""


class NovaConfError(NodeNameError):
    """nova.conf exists but cannot be read as an ini file (a NodeNameError: no name without it)."""


def is_hostname(value: str) -> bool:
    """A DNS host name (RFC 1123 labels), short or fully qualified."""
    return bool(_HOSTNAME.fullmatch(value))  # `$` alone would let a trailing newline through


def _nova_conf_host(system: System) -> str | None:
    """`[DEFAULT] host` from nova.conf, stripped; None when the file or the key is absent.

    Read as oslo.config does for our purpose: the last value of a repeated key wins, `%` is
    literal. Raises NovaConfError when the file is not an ini file.
    """
    content = system.read_file(NOVA_CONF)
    if content is None:
        return None
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(content.decode(errors="replace"), source=NOVA_CONF)
    except configparser.Error as error:
        raise NovaConfError(
            f"cannot parse {NOVA_CONF} ({type(error).__name__}): fix the file, or the "
            "nova-compute charm's config that renders it"
        ) from None
    return parser.defaults().get("host", "").strip() or None


def _nova_name(system: System) -> tuple[str, str]:
    """(name Nova registers, where it comes from), unvalidated."""
    host = _nova_conf_host(system)
    if host is not None:
        return host, f"from [DEFAULT] host in {NOVA_CONF}"
    return system.hostname().strip(), "from `hostname`"


def hypervisor_node_name(system: System) -> str:
    """The name nova-compute registers: nova.conf `[DEFAULT] host`, else `socket.gethostname()`.

    Before the principal writes nova.conf this is the bare host name, what Nova would register.
    Raises NodeNameError (NovaConfError for an unreadable nova.conf) when the name cannot name a
    Pacemaker node and a MAAS machine, with the fix.
    """
    name, source = _nova_name(system)
    fix = (
        f"set [DEFAULT] host in {NOVA_CONF} to the machine's MAAS name"
        if "[DEFAULT]" in source
        else "set the machine's host name to its MAAS name (hostnamectl set-hostname <name>)"
    )
    what = f"Nova's host name {name!r} ({source})"
    if not is_hostname(name):
        raise NodeNameError(f"{what} is not a valid host name; {fix}")
    if name.split(".")[0].lower() == "localhost":
        # MAAS STONITH looks machines up by the short name: localhost would fence nothing.
        raise NodeNameError(f"{what} is localhost; {fix}")
    return name


def nova_compute_host(system: System) -> str | None:
    """The name nova-compute registers (nova.conf `host`, else `socket.gethostname()`); None
    without nova.conf (no nova-compute here yet). Raises NovaConfError for an unreadable one."""
    if system.read_file(NOVA_CONF) is None:
        return None
    return _nova_name(system)[0]


def hostname_mismatch(system: System, node_name: str) -> str | None:
    """None when Nova and the Pacemaker remote node use node_name; else which to fix, and how.

    node_name is the name this charm uses (from `hypervisor_node_name`). Compared with what
    nova-compute registers and with what pacemaker-remote published to hacluster (its
    REMOTE_NODE_NAME_FILE). Masakari matches the names exactly and, when they differ, silently
    does nothing. Raises NovaConfError for an unreadable nova.conf.
    """
    nova = nova_compute_host(system)
    if nova is not None and nova != node_name:
        source = _nova_name(system)[1]
        return (
            f"Host name mismatch: nova-compute registers {nova} ({source}) but this unit uses "
            f"{node_name}; restart nova-compute if {NOVA_CONF} changed, and this unit takes "
            "Nova's name on its next hook"
        )
    published = (system.read_file(REMOTE_NODE_NAME_FILE) or b"").decode(errors="replace").strip()
    if published and published != node_name:
        return (
            f"Host name mismatch: nova-compute registers {node_name} but the Pacemaker remote "
            f"node is {published}; fix the Pacemaker node's name: let pacemaker-remote "
            f"republish (its next hook does), then on the hacluster leader remove the stale "
            f"node: crm configure delete {published}; crm_node --force -R {published}"
        )
    return None
