"""The name a hypervisor is known by, and the check that every component agrees on it.

Nova's compute service host, the Pacemaker remote node name, the monitors' `hostname` and the
Masakari segment host must be the same string: Masakari matches them exactly and, when they
differ, silently does nothing. The suite's charms use the machine's FQDN everywhere and compare
it with the host nova-compute registers.
"""

from __future__ import annotations

import configparser

from charm_common.system import System

NOVA_CONF = "/etc/nova/nova.conf"


class NovaConfError(ValueError):
    """nova.conf exists but cannot be read as an ini file."""


def node_name(system: System) -> str:
    """The name this hypervisor goes by in Pacemaker, Masakari and (it must be) Nova."""
    return system.fqdn()


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
    host = parser.defaults().get("host", "").strip()
    return host or system.fqdn()


def hostname_mismatch(system: System) -> str | None:
    """None when nova-compute registers the name this unit uses; else what is wrong and the fix."""
    ours = node_name(system)
    nova = nova_compute_host(system)
    if nova is None or nova == ours:
        return None
    return (
        f"Host name mismatch: this hypervisor is {ours} (FQDN) but nova-compute registers "
        f"{nova} ({NOVA_CONF} [DEFAULT] host); make them equal, or Masakari ignores its failures"
    )
