"""Restarting what changed, shared by the suite's charms."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import ops

from charm_common.system import System

logger = logging.getLogger(__name__)


def restart_pending(
    system: System, pending: Sequence[str]
) -> tuple[list[str], ops.StatusBase | None]:
    """Restart each pending service in order.

    Returns the services still pending and, when a restart failed, the status to show. A failed
    restart must not fail the hook: the files are already written, so a retried hook would see
    nothing changed and the restart would be lost; the caller keeps the rest pending instead.
    """
    for index, service in enumerate(pending):
        logger.info("restarting %s: its inputs changed", service)
        try:
            system.restart_service(service)
        except Exception as error:  # systemd fails in many ways
            logger.error("restarting %s failed: %s", service, error)
            return list(pending[index:]), ops.BlockedStatus(
                f"{service} failed to restart (see journalctl -u {service}); "
                "retrying on the next hook"
            )
    return [], None


def stopped_services_status(system: System, services: Sequence[str]) -> ops.StatusBase | None:
    stopped = [s for s in services if not system.service_running(s)]
    if not stopped:
        return None
    return ops.BlockedStatus(
        f"Services not running: {', '.join(stopped)} (see journalctl -u {stopped[0]})"
    )
