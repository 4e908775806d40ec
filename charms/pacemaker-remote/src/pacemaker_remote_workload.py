"""The pacemaker_remote workload: packages, files and the service. Knows nothing of ops."""

from __future__ import annotations

from charm_common.hostnames import REMOTE_NODE_NAME_FILE
from charm_common.system import System

# pacemaker-remote depends on no corosync: nothing here can start a corosync member on the
# hypervisor (which would make masakari-hostmonitor treat it as a full cluster node).
# pacemaker-cli-utils brings crm_mon, which masakari-hostmonitor and the status check use.
PACKAGES = ("pacemaker-remote", "pacemaker-cli-utils")
SERVICE = "pacemaker_remote"  # /usr/sbin/pacemaker-remoted, TCP 3121
AUTHKEY = "/etc/pacemaker/authkey"
# The same owner and group as on the cluster nodes; pacemaker reads it through haclient.
AUTHKEY_OWNER, AUTHKEY_GROUP, AUTHKEY_MODE = "hacluster", "haclient", 0o640


def installed(system: System) -> bool:
    return all(system.package_version(package) for package in PACKAGES)


def install(system: System) -> None:
    system.install_packages(PACKAGES)


def write_authkey(system: System, key: bytes) -> bool:
    """Write the cluster's shared key; True when pacemaker_remote must restart to use it."""
    return system.write_file(
        AUTHKEY, key, owner=AUTHKEY_OWNER, group=AUTHKEY_GROUP, mode=AUTHKEY_MODE
    )


def write_node_name(system: System, name: str) -> None:
    system.write_file(REMOTE_NODE_NAME_FILE, name + "\n", owner="root", group="root", mode=0o644)
