"""Prometheus metrics of the fence-confirmed host monitor, served from masakari-hostmonitor.

`Metrics` is updated by the driver after each round and by the sender after each delivery, and
served with prometheus_client's `start_http_server` on the `[fence_confirmed] metrics_address`
and `metrics_port` the masakari-monitors charm renders (0: not served). Without the
prometheus_client package (python3-prometheus-client, which the charm installs) `create()` gives
a `NoMetrics` that does nothing, so the monitor itself never depends on it.

Metrics (units in the names; labels are peers' host names, events and reasons, never secrets):
- masakari_hostmonitor_last_round_timestamp_seconds: when the last successful round ended
  (crm_mon read, the cluster quorate, every peer judged); epoch seconds.
- masakari_hostmonitor_round_interval_seconds: `[host] monitoring_interval`, for the
  "silent for three rounds" alert.
- masakari_hostmonitor_peers_offline: peers not up in the last round.
- masakari_hostmonitor_fence_wait_seconds{peer}: how long a peer that is no longer up has been
  waiting for a confirmed fence (gone once confirmed or up again).
- masakari_hostmonitor_fence_confirmations_total{peer}: failures whose fence this monitor saw
  confirmed (one per failure episode).
- masakari_hostmonitor_notifications_sent_total{event}: notifications Masakari accepted.
- masakari_hostmonitor_notifications_failed_total{event,reason}: ones it did not: `unreachable`
  (retries exhausted), `rejected` (HTTP 400: Masakari does not know the host), `duplicate`
  (HTTP 409: already notified, or a recovery runs), `error` (anything unexpected).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from masakari_fence_confirmed.tracker import Report, Tracker

LOG = logging.getLogger(__name__)

EVENTS = ("STOPPED", "STARTED")
FAILURES = ("unreachable", "rejected", "duplicate", "error")
SENT = "sent"


class NoMetrics:
    """What the driver and sender call when prometheus_client is not installed."""

    def round_done(self, tracker: Tracker, now: float) -> None:
        pass

    def delivered(self, report: Report, outcome: str) -> None:
        pass

    def serve(self, address: str, port: int, interval: float) -> None:
        LOG.warning("python3-prometheus-client is not installed: no metrics on port %d", port)


class Metrics(NoMetrics):
    def __init__(self, registry=None) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge

        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.last_round = Gauge(
            "masakari_hostmonitor_last_round_timestamp_seconds",
            "When the host monitor's last successful round ended (epoch seconds)", registry=r,
        )  # fmt: skip
        self.round_interval = Gauge(
            "masakari_hostmonitor_round_interval_seconds",
            "Seconds between two rounds ([host] monitoring_interval)", registry=r,
        )  # fmt: skip
        self.peers_offline = Gauge(
            "masakari_hostmonitor_peers_offline", "Peers not up in the last round", registry=r
        )
        self.fence_wait = Gauge(
            "masakari_hostmonitor_fence_wait_seconds",
            "Seconds a peer no longer up has waited for a confirmed fence", ["peer"], registry=r,
        )  # fmt: skip
        self.confirmations = Counter(
            "masakari_hostmonitor_fence_confirmations",
            "Peer failures whose fence this monitor saw confirmed", ["peer"], registry=r,
        )  # fmt: skip
        self.sent = Counter(
            "masakari_hostmonitor_notifications_sent",
            "Notifications Masakari accepted", ["event"], registry=r,
        )  # fmt: skip
        self.failed = Counter(
            "masakari_hostmonitor_notifications_failed",
            "Notifications Masakari did not accept, by reason", ["event", "reason"], registry=r,
        )  # fmt: skip
        for event in EVENTS:  # exported as 0 from the start, so a first failure is an increase
            self.sent.labels(event)
            for reason in FAILURES:
                self.failed.labels(event, reason)
        self._waiting: set[str] = set()
        self._confirmed: set[tuple[str, int]] = set()

    def round_done(self, tracker: Tracker, now: float) -> None:
        """After a round the tracker judged (quorate view): its state as the gauges."""
        waiting = set()
        for name, host in tracker.hosts.items():
            if host.confirmed_at is not None and (name, host.episode) not in self._confirmed:
                self._confirmed.add((name, host.episode))
                self.confirmations.labels(name).inc()
            if host.state == "down" and host.confirmed_at is None and host.down_since:
                self.fence_wait.labels(name).set(max(0.0, now - host.down_since))
                waiting.add(name)
        for name in self._waiting - waiting:
            self.fence_wait.remove(name)
        self._waiting = waiting
        self.peers_offline.set(sum(host.state != "up" for host in tracker.hosts.values()))
        self.last_round.set(now)

    def delivered(self, report: Report, outcome: str) -> None:
        """The sender's outcome for a report: SENT, one of FAILURES, or anything else (dropped:
        the peer's state changed, or another monitor acted), which counts nowhere."""
        if outcome == SENT:
            self.sent.labels(report.event).inc()
        elif outcome in FAILURES:
            self.failed.labels(report.event, outcome).inc()

    def serve(self, address: str, port: int, interval: float) -> None:
        """Start the HTTP server (a daemon thread; a green thread under eventlet)."""
        from prometheus_client import start_http_server

        self.round_interval.set(interval)
        start_http_server(port, addr=address, registry=self.registry)
        LOG.info("Serving the host monitor's metrics on %s port %d.", address, port)


def create() -> NoMetrics:
    try:
        return Metrics()
    except ImportError:
        return NoMetrics()
