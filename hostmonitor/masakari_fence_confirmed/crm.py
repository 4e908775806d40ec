"""Read Pacemaker's XML status (`crm_mon --output-as=xml --fence-history=3`).

Only what the driver needs: quorum, the pacemaker-remote nodes and the fencing history.
Both root shapes are accepted: `<crm_mon>` (`crm_mon -X`) and `<pacemaker-result>`
(`crm_mon --output-as=xml`); their children are the same.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from xml.etree import ElementTree

# Fencing actions that leave the target powered off (or power-cycled). "on" is unfencing.
POWER_OFF_ACTIONS = frozenset({"off", "reboot"})
# A remote node is up only while its connection resource is Started: during a reconnect attempt
# to a fenced remote, Pacemaker shows online="true" with the connection "Starting".
_UP_ROLES = frozenset({"Started"})


class CrmMonError(ValueError):
    """The document is not a usable crm_mon status."""


@dataclass(frozen=True)
class FenceEvent:
    target: str
    action: str
    status: str  # success, failed or pending
    completed: datetime.datetime | None  # None while pending or if unparsable

    @property
    def powered_off(self) -> bool:
        """A completed, successful power-off or reboot of the target."""
        return (
            self.status == "success"
            and self.action in POWER_OFF_ACTIONS
            and self.completed is not None
        )


@dataclass(frozen=True)
class RemoteNode:
    name: str
    online: bool
    unclean: bool
    connection_role: str | None  # role of the ocf:pacemaker:remote resource, if shown

    @property
    def up(self) -> bool:
        """Really connected: online, clean and its connection resource Started."""
        role_ok = self.connection_role is None or self.connection_role in _UP_ROLES
        return self.online and not self.unclean and role_ok


@dataclass(frozen=True)
class ClusterView:
    quorate: bool
    remotes: dict[str, RemoteNode]
    fence_events: tuple[FenceEvent, ...]

    def fencing_of(self, name: str) -> list[FenceEvent]:
        return [e for e in self.fence_events if e.target == name]


def parse_completed(value: str | None) -> datetime.datetime | None:
    """Pacemaker's `completed` attribute (UTC), e.g. "2026-11-25 17:22:58Z"."""
    if not value:
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        stamp = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if stamp.tzinfo is None:  # Pacemaker prints UTC
        stamp = stamp.replace(tzinfo=datetime.timezone.utc)
    return stamp


def _flag(elem: ElementTree.Element, attr: str) -> bool:
    return elem.get(attr) == "true"


def parse(document: str) -> ClusterView:
    try:
        root = ElementTree.fromstring(document)  # noqa: S314 - crm_mon output, run as root locally
    except ElementTree.ParseError as exc:
        raise CrmMonError(f"crm_mon output is not XML: {exc}") from exc
    nodes = root.find("nodes")
    if nodes is None:
        raise CrmMonError("crm_mon output has no <nodes> element")

    dc = root.find("summary/current_dc")
    quorate = dc is not None and dc.get("with_quorum") == "true"

    roles: dict[str, str] = {}
    for res in root.iter("resource"):
        if res.get("resource_agent") == "ocf:pacemaker:remote" and res.get("id"):
            roles[res.get("id")] = res.get("role", "")

    remotes: dict[str, RemoteNode] = {}
    for node in nodes.iter("node"):
        name = node.get("name")
        if node.get("type") != "remote" or not name:
            continue
        remotes[name] = RemoteNode(
            name=name,
            online=_flag(node, "online"),
            unclean=_flag(node, "unclean"),
            connection_role=roles.get(name),
        )

    events = tuple(
        FenceEvent(
            target=ev.get("target", ""),
            action=ev.get("action", ""),
            status=ev.get("status", ""),
            completed=parse_completed(ev.get("completed")),
        )
        for ev in root.iterfind("fence_history/fence_event")
    )
    return ClusterView(quorate=quorate, remotes=remotes, fence_events=events)
