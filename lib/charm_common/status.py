"""Every status the suite's charms can show, in one catalog, and the exception a reconcile stops
with.

A charm never builds an `ops.*Status` itself: it calls one of these messages, so README's status
table can list them all (tests/test_status_table.py compares the two). A `note` is appended to
an Active message after `; `.
"""

from __future__ import annotations

import dataclasses
import string
from collections.abc import Iterable
from urllib.parse import quote

import ops

from charm_common.origin import redact_credentials

MASAKARI, MONITORS, REMOTE = "masakari", "masakari-monitors", "pacemaker-remote"
ALL = (MASAKARI, MONITORS, REMOTE)
HYPERVISOR = (MONITORS, REMOTE)

_KINDS = {
    "active": ops.ActiveStatus,
    "blocked": ops.BlockedStatus,
    "maintenance": ops.MaintenanceStatus,
    "waiting": ops.WaitingStatus,
    "note": None,
}
CATALOG: list[Message] = []


class Unready(Exception):
    """Raised while reconciling: what is missing or wrong, as the status to show."""

    def __init__(self, status: ops.StatusBase) -> None:
        super().__init__(status.message)
        self.status = status


@dataclasses.dataclass(frozen=True)
class Message:
    """One status message: its kind, its template (str.format fields) and who shows it."""

    kind: str
    template: str
    charms: tuple[str, ...]

    def __post_init__(self) -> None:
        CATALOG.append(self)

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(f for _, f, _, _ in string.Formatter().parse(self.template) if f)

    def text(self, **fields: object) -> str:
        return self.template.format(**fields)

    def status(self, **fields: object) -> ops.StatusBase:
        return _KINDS[self.kind](self.text(**fields))

    def unready(self, **fields: object) -> Unready:
        return Unready(self.status(**fields))


def _message(kind: str, template: str, charms: tuple[str, ...] = ALL) -> Message:
    assert kind in _KINDS
    return Message(kind, template, charms)


# Shared by the three charms --------------------------------------------------------------------
READY = _message("active", "Unit is ready")
PAUSED = _message("maintenance", "Paused. Use the resume action to start services")
INSTALLING = _message("maintenance", "Installing {packages}")
INSTALL_FAILED = _message(
    "blocked", "Package installation failed ({error}); {fix}; retrying on the next hook"
)
INVALID_CONFIG = _message("blocked", "Invalid config: {option}: {why}")
INVALID_RELATION_DATA = _message("blocked", "Invalid relation data: {detail}")
MISSING_RELATIONS = _message("blocked", "Missing relations: {relations}")
INCOMPLETE_RELATIONS = _message("waiting", "Incomplete relations: {relations}")
STEP_FAILED = _message(
    "blocked", "{step} failed (see {log}); retrying on the next hook ({pending} pending)"
)
SERVICES_NOT_RUNNING = _message(
    "blocked", "Services not running: {services} (see journalctl -u {first})"
)
UNEXPECTED = _message(
    "blocked", "Unexpected {error} in {event} (see juju debug-log); retrying on the next hook"
)
RESTART_WAITS = _message(
    "waiting",
    "Restart of {service} waits for {what} (at the latest until {deadline} UTC)",
    (MASAKARI,),
)
WAITING_FOR_ADDRESS = _message("waiting", "Waiting for an address on the {endpoint} binding")

# masakari ---------------------------------------------------------------------------------------
READY_CLUSTERED = _message("active", "Unit is ready and clustered", (MASAKARI,))
UPGRADE_AVAILABLE = _message("note", "run openstack-upgrade to apply {origin}", (MASAKARI,))
NEWER_RELEASE = _message(
    "note",
    "Masakari {version} is newer than this charm knows: running with {release}'s templates",
    (MASAKARI,),
)
UNKNOWN_RELEASE = _message(
    "blocked",
    "Unknown Masakari release ({package} {version}): set openstack-origin to a supported one",
    (MASAKARI,),
)
WAITING_FOR_PEERS = _message("waiting", "Waiting for the cluster peer relation", (MASAKARI,))
WAITING_FOR_MIGRATION = _message(
    "waiting", "Waiting for the leader to migrate the database", (MASAKARI,)
)
MIGRATING = _message("maintenance", "Migrating the database to {release}", (MASAKARI,))
MIGRATION_FAILED = _message(
    "blocked", "Database migration failed: {detail}; retrying on the next hook", (MASAKARI,)
)
QUICKACK_FAILED = _message(
    "blocked",
    "Cannot set quickack on the route to Pacemaker remote node {address}: {detail}; retrying "
    "on the next hook (pacemaker-remote-quickack=false leaves the routes alone)",
    (MASAKARI,),
)

# the hypervisor charms --------------------------------------------------------------------------
INVALID_NODE_NAME = _message("blocked", "Invalid node name: {why}", HYPERVISOR)
HOST_NAME_MISMATCH = _message("blocked", "Host name mismatch: {detail}", HYPERVISOR)
NOVA_CONF_UNREADABLE = _message("blocked", "Cannot read nova.conf: {detail}", HYPERVISOR)
DRIVER_UNAVAILABLE = _message(
    "blocked", "Cannot install the fence-confirmed driver: {detail}", (MONITORS,)
)
SEGMENT_NOTE = _message("note", "protected by Masakari segment {segment}", (MONITORS,))
SEGMENT_RESERVED_NOTE = _message(
    "note", "reserved host of Masakari segment {segment}", (MONITORS,)
)
SEGMENT_MAINTENANCE_NOTE = _message(
    "note",
    "on maintenance in Masakari segment {segment}, not protected: run the reinsert action "
    "once repaired",
    (MONITORS,),
)
SEGMENT_ELSEWHERE = _message(
    "blocked",
    "Host {host} is in Masakari segment {other}, not {segment}; the charm never moves a host "
    "it did not add: set segment-name to that segment, or delete the host there (openstack "
    "segment host delete <segment> <host>)",
    (MONITORS,),
)
SEGMENT_FAILED = _message(
    "blocked",
    "Cannot update Masakari segment {segment} for {host}: {detail}; retrying on the next hook",
    (MONITORS,),
)
SEVERAL_CLUSTERS = _message(
    "blocked",
    "Related to several hacluster applications ({apps}): a remote node belongs to one cluster",
    (REMOTE,),
)
WAITING_FOR_KEY = _message("waiting", "Waiting for pacemaker key from hacluster", (REMOTE,))
NODE_ONLINE = _message("active", "Remote node {node} online in cluster", (REMOTE,))
NODE_OFFLINE = _message(
    "waiting", "Remote node {node} known to the cluster but offline", (REMOTE,)
)
NODE_UNKNOWN = _message("waiting", "Remote node {node} not yet known to the cluster", (REMOTE,))
CONNECTION_TIMING = _message(
    "note",
    "connection checked every {interval} s (timeout {timeout} s, start timeout {start} s)",
    (REMOTE,),
)
CLUSTER_REFUSED = _message(
    "blocked",
    "The cluster refused this node's connection settings ({detail}); check "
    "connection-monitor-interval, connection-monitor-timeout and connection-start-timeout",
    (REMOTE,),
)
NODE_NAME_MISMATCH = _message(
    "blocked",
    "Node name mismatch: the cluster has {cluster_name}, nova-compute uses {node}; "
    "remove the old node from the cluster",
    (REMOTE,),
)


def with_notes(status: ops.StatusBase, notes: Iterable[str]) -> ops.StatusBase:
    """An Active status with notes appended (`Unit is ready; <note>; <note>`)."""
    notes = [n for n in notes if n]
    if not notes:
        return status
    return type(status)("; ".join([status.message, *notes]))


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Remove secrets from text before it reaches a status, log or action result.

    Each secret is removed as given and in the forms the charms write it in: URL-quoted
    (transport and database URLs) and with `$` doubled (oslo.config's escape); so is the
    userinfo of every URL (an apt source's `https://user:token@host`).
    """
    text = redact_credentials(text)
    for secret in secrets:
        if not secret:
            continue
        for form in {secret, quote(secret, safe=""), quote(secret), secret.replace("$", "$$")}:
            text = text.replace(form, "***")
    return text
