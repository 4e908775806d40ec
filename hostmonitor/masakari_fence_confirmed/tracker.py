"""Decide, from successive Pacemaker views, when a peer is confirmed dead.

Pure logic, no I/O: `Tracker.observe(view, now)` returns the reports to send.

Rules (the safety argument is in README.md):
* A peer is "up" only when online, clean and its connection resource is Started.
* A peer that stops being up starts a failure episode. It is reported STOPPED only when it is
  not unclean, no fencing of it is pending, and the fencing history holds a successful off/reboot
  of it that completed after every fencing seen while it was up (and not long before this
  monitor last saw it up). Nothing else (no fence, pending, failed) is ever reported.
* Within an episode, online/offline flapping (Pacemaker retrying the connection of a fenced
  remote) changes nothing: the peer is not up until its connection is Started again.
* Only the lowest-named up remote node reports, so one notification is sent per failure. If that
  node is gone too, the next one takes over (a rare duplicate is answered 409 by Masakari).
  In case the reporter's host is up but its monitor is not, the n-th next node becomes a backup
  once the failure has been confirmed for n x `backup_delay` seconds; the sender then reports
  only if Nova does not show the host forced down (the reporter forces it down first).
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass

from masakari_fence_confirmed.crm import ClusterView, RemoteNode

LOG = logging.getLogger(__name__)

STOPPED = "STOPPED"
STARTED = "STARTED"

# A fence that completed this long before the peer was last seen up belongs to an older
# failure. Generous against clock skew; far shorter than a real power-cycle and reconnect.
CLOCK_TOLERANCE = datetime.timedelta(seconds=60)

# Phases of a failure episode (also the log wording).
WAITING = "waiting for Pacemaker to fence it"
PENDING = "fencing is in progress"
FAILED = "FENCING FAILED; Pacemaker keeps retrying"
UNCONFIRMED = "offline but no successful fencing is recorded since it was last up"
CONFIRMED = "fencing confirmed"


@dataclass(frozen=True)
class Report:
    hostname: str
    event: str  # STOPPED or STARTED
    episode: int
    at: float  # time of the observation that produced it (epoch seconds)
    backup: bool = False  # sent by a backup: only if nobody has acted on the failure yet


@dataclass
class _Host:
    state: str  # "up", "down" or "unknown" (first seen down: an outage older than this monitor)
    last_up: datetime.datetime | None = None
    baseline: datetime.datetime | None = None  # latest power-off seen while up
    episode: int = 0
    confirmed_at: float | None = None
    reported: bool = False
    phase: str = ""
    down_since: float | None = None  # first observation of this episode (epoch seconds)


def _utc(ts: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc)


def _latest_power_off(view: ClusterView, name: str) -> datetime.datetime | None:
    stamps = [e.completed for e in view.fencing_of(name) if e.powered_off]
    return max(stamps) if stamps else None


def _later(a: datetime.datetime | None, b: datetime.datetime | None) -> datetime.datetime | None:
    if a is None or b is None:
        return a or b
    return max(a, b)


def _describe(node: RemoteNode) -> str:
    return (
        f"online={str(node.online).lower()} unclean={str(node.unclean).lower()} "
        f"connection={node.connection_role or 'unknown'}"
    )


class Tracker:
    def __init__(self, my_hostname: str, backup_delay: float = 180.0) -> None:
        self.my_hostname = my_hostname
        self.backup_delay = backup_delay
        self.hosts: dict[str, _Host] = {}
        self._warned_not_member = False

    def still_wanted(self, report: Report) -> bool:
        """Whether a report not yet delivered still describes the peer's current state."""
        host = self.hosts.get(report.hostname)
        if host is None or host.episode != report.episode:
            return False
        if report.event == STOPPED:
            return host.state == "down"
        return host.state == "up"

    def observe(self, view: ClusterView, now: float) -> list[Report]:
        if not view.quorate:
            LOG.warning("Pacemaker cluster has no quorum; skipping this round.")
            return []
        me = view.remotes.get(self.my_hostname)
        if me is None and not self._warned_not_member:
            LOG.error(
                "This host '%s' is not a pacemaker-remote node in crm_mon; it will never report. "
                "The host name must equal the Pacemaker node name.",
                self.my_hostname,
            )
            self._warned_not_member = True
        up_nodes = sorted(name for name, node in view.remotes.items() if node.up)

        reports = []
        for name in sorted(view.remotes):
            if name == self.my_hostname:
                continue
            # Every monitor sees the same cluster state, so they all agree on the order:
            # the lowest-named up remote other than the subject reports, the next are backups.
            order = [n for n in up_nodes if n != name]
            rank = order.index(self.my_hostname) if me is not None and me.up else None
            report = self._observe_peer(view, view.remotes[name], now, rank)
            if report is not None:
                reports.append(report)
        return reports

    def _observe_peer(
        self, view: ClusterView, node: RemoteNode, now: float, rank: int | None
    ) -> Report | None:
        name = node.name
        host = self.hosts.get(name)
        if host is None:
            return self._first_sighting(view, node, now)

        if node.up:
            report = None
            if host.state == "down" and host.confirmed_at is not None and rank == 0:
                report = Report(name, STARTED, host.episode, now)
            if host.state != "up":
                LOG.info("'%s' is up again (%s).", name, _describe(node))
            host.state = "up"
            host.last_up = _utc(now)
            host.baseline = _later(host.baseline, _latest_power_off(view, name))
            host.confirmed_at = None
            host.reported = False
            host.phase = ""
            host.down_since = None
            return report

        if host.state == "unknown":
            return None
        if host.state == "up":
            host.state = "down"
            host.episode += 1
            host.down_since = now
            LOG.warning("'%s' is no longer up (%s).", name, _describe(node))

        phase = self._phase(view, node, host)
        if phase != host.phase:
            log = LOG.info if phase == CONFIRMED else LOG.warning
            if phase == FAILED:
                log = LOG.error
            log(
                "'%s': %s; %s.",
                name,
                phase,
                "it may be reported" if phase == CONFIRMED else "NOT reporting it, still watching",
            )
            host.phase = phase
        if phase != CONFIRMED:
            return None
        if host.confirmed_at is None:
            host.confirmed_at = now
        if host.reported or rank is None:
            return None
        if rank == 0:
            host.reported = True
            return Report(name, STOPPED, host.episode, now)
        if now - host.confirmed_at >= rank * self.backup_delay:
            LOG.warning(
                "'%s' confirmed dead %.0f s ago and this monitor is backup #%d: reporting it "
                "unless Nova shows that another monitor already acted.",
                name,
                now - host.confirmed_at,
                rank,
            )
            host.reported = True
            return Report(name, STOPPED, host.episode, now, backup=True)
        return None

    def _first_sighting(self, view: ClusterView, node: RemoteNode, now: float) -> None:
        name = node.name
        if node.up:
            host = _Host(state="up", last_up=_utc(now), baseline=_latest_power_off(view, name))
            LOG.info("Recognized '%s' as a member of the cluster; it is up.", name)
        elif node.unclean:
            # Fencing has not been confirmed yet, so any success from now on is this failure's.
            host = _Host(
                state="down",
                last_up=_utc(now),
                episode=1,
                baseline=_latest_power_off(view, name),
                down_since=now,
            )
            LOG.warning(
                "Recognized '%s'; it is unclean (%s), waiting for its fencing.",
                name,
                _describe(node),
            )
        else:
            host = _Host(state="unknown")
            LOG.warning(
                "Recognized '%s'; it was already down (%s) when this monitor started, "
                "so it is not reported (as upstream).",
                name,
                _describe(node),
            )
        self.hosts[name] = host

    @staticmethod
    def _phase(view: ClusterView, node: RemoteNode, host: _Host) -> str:
        events = view.fencing_of(node.name)
        not_before = host.last_up - CLOCK_TOLERANCE if host.last_up else None

        def this_episode(stamp: datetime.datetime | None) -> bool:
            if stamp is None:
                return False
            if host.baseline is not None and stamp <= host.baseline:
                return False
            return not_before is None or stamp >= not_before

        if node.unclean:
            if any(e.status == "failed" and this_episode(e.completed) for e in events):
                return FAILED
            if any(e.status == "pending" for e in events):
                return PENDING
            return WAITING
        if any(e.status == "pending" for e in events):
            return PENDING
        if any(e.powered_off and this_episode(e.completed) for e in events):
            return CONFIRMED
        return UNCONFIRMED
