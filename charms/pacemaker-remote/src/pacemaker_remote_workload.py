"""The pacemaker_remote workload: packages, files and the service. Knows nothing of ops."""

from __future__ import annotations

from charm_common.files import ManagedFile
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
OWNED_FILES = (AUTHKEY, REMOTE_NODE_NAME_FILE)


def installed(system: System) -> bool:
    return all(system.package_version(package) for package in PACKAGES)


def install(system: System) -> None:
    system.install_packages(PACKAGES)


def authkey_file(key: bytes) -> ManagedFile:
    """The cluster's shared key; pacemaker_remote restarts to use a changed one."""
    return ManagedFile(AUTHKEY, key, AUTHKEY_OWNER, AUTHKEY_GROUP, AUTHKEY_MODE, (SERVICE,))


def node_name_file(name: str) -> ManagedFile:
    """The node name this unit publishes, for operators, the lab and masakari-monitors."""
    return ManagedFile(REMOTE_NODE_NAME_FILE, (name + "\n").encode(), "root", "root", 0o644)
