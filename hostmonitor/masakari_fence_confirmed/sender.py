"""Deliver reports without ever blocking the monitoring loop.

Each report gets its own short-lived thread: it forces the dead host's nova-compute down
(STOPPED only), then posts the notification, retrying like upstream
(`[host] api_retry_max` x `api_retry_interval`) but giving up as soon as the report no longer
matches the cluster (the host came back, or a new failure episode began).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from masakari_fence_confirmed.metrics import NoMetrics
from masakari_fence_confirmed.tracker import STOPPED, Report

LOG = logging.getLogger(__name__)


class Sender:
    def __init__(
        self,
        notify: Callable[[Report], object],
        force_down: Callable[[str], str],
        retry_max: int,
        retry_interval: float,
        is_forced_down: Callable[[str], bool] = lambda host: False,
        sleep: Callable[[float], None] = time.sleep,
        metrics: NoMetrics | None = None,
    ) -> None:
        self._notify = notify
        self._force_down = force_down
        self._is_forced_down = is_forced_down
        self._retry_max = retry_max
        self._retry_interval = retry_interval
        self._sleep = sleep
        self._metrics = metrics or NoMetrics()

    def submit(self, report: Report, still_wanted: Callable[[], bool]) -> threading.Thread:
        thread = threading.Thread(
            target=self.deliver,
            args=(report, still_wanted),
            name=f"report-{report.hostname}-{report.event}",
            daemon=True,
        )
        thread.start()
        return thread

    def deliver(self, report: Report, still_wanted: Callable[[], bool]) -> bool:
        """Force down (STOPPED) and notify; True if Masakari accepted the notification.

        The outcome (metrics.SENT, a metrics.FAILURES reason, or "dropped") goes to the metrics.
        """
        outcome = "error"
        try:
            if report.event == STOPPED:
                if report.backup and self._handled_already(report.hostname):
                    outcome = "dropped"
                    return False
                self._try_force_down(report.hostname)
            outcome = self._send(report, still_wanted)
            return outcome == "sent"
        except Exception:  # a reporting thread must never die silently
            LOG.exception("Unexpected error while reporting %s %s.", report.hostname, report.event)
            return False
        finally:
            self._metrics.delivered(report, outcome)

    def _handled_already(self, host: str) -> bool:
        """For a backup: the first reporter forces the host down before it notifies."""
        try:
            forced = self._is_forced_down(host)
        except Exception as exc:
            # Unknown: report. A duplicate costs a 409; a missed report costs an evacuation.
            LOG.warning(
                "Could not read nova-compute on '%s' (%s); reporting as backup.", host, exc
            )
            return False
        if forced:
            LOG.info(
                "nova-compute on '%s' is already forced down: another monitor has acted; "
                "the backup does not report.",
                host,
            )
        return forced

    def _try_force_down(self, host: str) -> None:
        try:
            LOG.info("Nova: %s (nova-compute on '%s').", self._force_down(host), host)
        except Exception as exc:
            # Not fatal: only confirmed (fenced) failures get here, so the host is powered off
            # and evacuating it is safe. Without forced_down, Masakari's disable call and Nova's
            # service_down_time only make the recovery slower.
            LOG.error(
                "Could not force nova-compute on '%s' down (%s); notifying anyway "
                "because its fencing is confirmed.",
                host,
                exc,
            )

    def _send(self, report: Report, still_wanted: Callable[[], bool]) -> str:
        """ "sent", "dropped" (no longer wanted), or why it failed (metrics.FAILURES)."""
        for attempt in range(self._retry_max + 1):
            if not still_wanted():
                LOG.info(
                    "Dropping %s for '%s': the host's state has changed since.",
                    report.event,
                    report.hostname,
                )
                return "dropped"
            try:
                response = self._notify(report)
            except Exception as exc:
                status = getattr(exc, "status_code", None)
                if status in (400, 409):
                    # 409: same notification already sent, or host on maintenance (a recovery
                    # is already running). 400: Masakari does not know the host; retrying
                    # cannot help and would only deliver a stale notification later.
                    LOG.info(
                        "Masakari refused %s for '%s' (HTTP %s): %s",
                        report.event,
                        report.hostname,
                        status,
                        exc,
                    )
                    return "duplicate" if status == 409 else "rejected"
                if attempt >= self._retry_max:
                    LOG.error(
                        "Giving up sending %s for '%s' after %d attempts: %s",
                        report.event,
                        report.hostname,
                        attempt + 1,
                        exc,
                    )
                    return "unreachable"
                LOG.warning(
                    "Sending %s for '%s' failed (%s); retrying in %s s.",
                    report.event,
                    report.hostname,
                    exc,
                    self._retry_interval,
                )
                self._sleep(self._retry_interval)
                continue
            LOG.info("Sent %s for '%s': %s", report.event, report.hostname, response)
            return "sent"
        return "unreachable"
