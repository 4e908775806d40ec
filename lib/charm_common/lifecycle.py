"""The lifecycle the suite's three charms share: one reconcile, pending steps, pause and resume.

Every event runs `_reconcile()`, which calls the charm's `_converge()`. Side effects that follow
a written file (a2ensite, systemctl daemon-reload, service restarts) are queued in the unit's
stored state before they run and leave the queue only once they succeeded: a step that failed
is retried on the next hook, and the unit is not ready while any is pending (a retried hook
would otherwise see the files unchanged and never run it).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterable, Sequence

import ops

from charm_common import status
from charm_common.config import ConfigError, TypedConfig
from charm_common.files import ManagedFile
from charm_common.system import HostSystem, System

logger = logging.getLogger(__name__)

RUN, RESTART = "run", "restart"


class ReconcilingCharm(ops.CharmBase):
    """Observes lifecycle and relation events with `_reconcile`; runs the shared actions.

    Subclasses set RELATIONS (the endpoints whose events matter) and implement `_converge()`
    (returns the status, raises status.Unready for what is missing) and `_services()` (the
    services this unit runs now, in start order). They may override `_uninstall()` (what
    `remove` undoes) and `_secrets()` (kept out of logs and action results).
    """

    RELATIONS: tuple[str, ...] = ()
    # Production talks to the real machine; unit tests and the lab put their own System here.
    system: System = HostSystem()
    _stored = ops.StoredState()

    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        # pending: [["run", *argv] | ["restart", service], ...] in the order they were queued.
        self._stored.set_default(paused=False, pending=[])
        self._adopt_previous_revision()
        for event in (
            self.on.install, self.on.upgrade_charm, self.on.config_changed, self.on.start,
            self.on.update_status, self.on.leader_elected,
        ):  # fmt: skip
            framework.observe(event, self._reconcile)
        for endpoint in self.RELATIONS:
            relation_events = self.on[endpoint]
            for event in (
                relation_events.relation_joined, relation_events.relation_changed,
                relation_events.relation_departed, relation_events.relation_broken,
            ):  # fmt: skip
                framework.observe(event, self._reconcile)
        framework.observe(self.on.remove, self._on_remove)
        self._action_handlers: dict[str, tuple[str, Callable[[ops.ActionEvent], dict]]] = {}
        for action, handler in (
            ("pause", self._pause), ("resume", self._resume),
            ("restart-services", self._restart_services),
        ):  # fmt: skip
            if action in self.meta.actions:
                self._observe_action(action, handler)

    def _adopt_previous_revision(self) -> None:
        """Queue the restarts the previous charm revision stored under its own keys.

        It kept failed restarts in `pending_restarts` (masakari, masakari-monitors) or
        `restart_pending` (pacemaker-remote); after upgrade-charm the files on disk are already
        the changed ones, so those keys are the only record that a restart is still due.
        """
        previous = list(getattr(self._stored, "pending_restarts", None) or [])
        if getattr(self._stored, "restart_pending", False):
            previous += self._services()
        if previous:
            self.queue(*((RESTART, str(service)) for service in previous))
        for key, empty in (("pending_restarts", []), ("restart_pending", False)):
            if getattr(self._stored, key, empty) != empty:
                setattr(self._stored, key, empty)

    # What a charm provides ----------------------------------------------------------------------

    def _converge(self) -> ops.StatusBase:
        raise NotImplementedError

    def _services(self) -> tuple[str, ...]:
        raise NotImplementedError

    def _uninstall(self) -> None:
        """Undo what the charm put on the machine; runs on `remove`."""

    def _secrets(self) -> tuple[str, ...]:
        return ()

    def _restart_waits(self, service: str) -> status.Unready | None:
        """Why a pending restart of `service` must wait (the status to show), or None."""
        return None

    # The one reconcile path ---------------------------------------------------------------------

    def _reconcile(self, event: ops.EventBase | None = None) -> None:
        try:
            self.unit.status = self._converge()
        except status.Unready as unready:
            self.unit.status = unready.status
        except Exception as error:  # noqa: BLE001 - a hook must end with a status, never a traceback
            name = type(event).__name__ if event else "action"
            logger.error(
                "unexpected error in %s:\n%s",
                name, status.redact(traceback.format_exc(), self._secrets()),
            )  # fmt: skip
            self.unit.status = status.UNEXPECTED.status(error=type(error).__name__, event=name)

    def load_typed_config(self, cls: type[TypedConfig]) -> TypedConfig:
        """The charm's typed config; a bad value stops the reconcile as `Invalid config: ...`."""
        try:
            return self.load_config(cls, errors="raise")
        except ConfigError as error:
            raise status.INVALID_CONFIG.unready(option=error.option, why=error.why) from None

    def install(self, what: str, do: Callable[[], None], fix: str) -> None:
        """Install (or upgrade) packages with `do`; then every service restarts on new code.

        A failure stops the reconcile as Blocked with `fix`; the next hook tries again.
        """
        self.unit.status = status.INSTALLING.status(packages=what)
        try:
            do()
        except Exception as error:  # noqa: BLE001 - apt and add-apt-repository fail in many ways
            logger.error(
                "installing %s failed: %s", what, status.redact(str(error), self._secrets())
            )
            raise status.INSTALL_FAILED.unready(error=type(error).__name__, fix=fix) from None
        self.queue(*((RESTART, service) for service in self._services()))

    # Pending steps ------------------------------------------------------------------------------

    def queue(self, *steps: Sequence[str]) -> None:
        """Add steps (`("run", *argv)` or `("restart", service)`) not already pending."""
        pending = [list(step) for step in self._stored.pending]
        for step in steps:
            if list(step) not in pending:
                pending.append(list(step))
        self._stored.pending = pending

    def write_files(self, files: Iterable[ManagedFile]) -> None:
        """Write every file; queue the commands and restarts of each one that changed."""
        for file in files:
            if self.system.write_file(
                file.path, file.content, owner=file.owner, group=file.group, mode=file.mode
            ):
                self.queue(*((RUN, *argv) for argv in file.commands))
                self.queue(*((RESTART, service) for service in file.restarts))

    def pending_steps(self) -> list[list[str]]:
        return [list(step) for step in self._stored.pending]

    def apply_pending(self) -> None:
        """Run the pending steps: commands first, in queue order, then restarts in service order.

        Restarts of services this unit no longer runs are dropped; while paused only commands
        run (resume starts the services with the files of that moment). The first failure stops
        here as Blocked, that step and the rest still pending.
        """
        services = self._services()
        pending = self.pending_steps()
        steps = [s for s in pending if s[0] == RUN]
        restarts = {s[1] for s in pending if s[0] == RESTART}
        ordered = [[RESTART, s] for s in services if s in restarts]
        kept: list[list[str]] = []
        if self._stored.paused:
            kept = ordered
        else:
            steps += ordered
        for index, step in enumerate(steps):
            waits = self._restart_waits(step[1]) if step[0] == RESTART else None
            if waits:
                self._stored.pending = [list(s) for s in steps[index:]] + kept
                raise waits
            error = self._run_step(step)
            if error:
                self._stored.pending = [list(s) for s in steps[index:]] + kept
                raise status.STEP_FAILED.unready(
                    step=error, log=_log_of(step), pending=len(steps) - index + len(kept)
                )
        self._stored.pending = kept
        if self._stored.paused:
            raise status.PAUSED.unready()

    def _run_step(self, step: Sequence[str]) -> str | None:
        """Run one step; None when done, else what failed (no secrets: commands carry none)."""
        kind, *args = step
        try:
            if kind == RESTART:
                logger.info("restarting %s: its inputs changed", args[0])
                self.system.restart_service(args[0])
                return None
            result = self.system.run(args, timeout=300)
        except Exception as error:  # noqa: BLE001 - systemd fails in many ways
            detail = status.redact(str(error), self._secrets())
            logger.error("%s %s failed: %s", kind, " ".join(args), detail)
            return f"{' '.join(args)} {'restart' if kind == RESTART else 'command'}"
        if result.ok:
            return None
        detail = status.redact(result.stderr.strip()[-300:], self._secrets())
        logger.error("%s failed (exit %d): %s", " ".join(args), result.returncode, detail)
        return " ".join(args)

    def check_running(self, services: Iterable[str] | None = None) -> None:
        """Stop the reconcile as Blocked when a service that should run does not."""
        services = self._services() if services is None else services
        stopped = [s for s in services if not self.system.service_running(s)]
        if stopped:
            raise status.SERVICES_NOT_RUNNING.unready(
                services=", ".join(stopped), first=stopped[0]
            )

    # Actions ------------------------------------------------------------------------------------

    def _observe_action(self, name: str, handler: Callable[[ops.ActionEvent], dict]) -> None:
        """Run `handler` for action `name`: it returns the results or raises ActionFailed."""
        kind = name.replace("-", "_") + "_action"
        self._action_handlers[kind] = (name, handler)
        self.framework.observe(getattr(self.on, kind), self._on_action)

    def _on_action(self, event: ops.ActionEvent) -> None:
        name, handler = self._action_handlers[event.handle.kind]
        try:
            results = handler(event)
        except ActionFailed as failed:
            event.fail(str(failed))
            return
        except Exception as error:  # noqa: BLE001 - an action ends with a message, not a traceback
            detail = status.redact(str(error), self._secrets())
            logger.error("action %s failed: %s", name, detail)
            event.fail(f"{name} failed: {type(error).__name__}: {detail}"[:500])
            return
        event.set_results(results)

    def _pause(self, _event: ops.ActionEvent) -> dict:
        services = self._services()
        for service in services:
            self.system.pause_service(service)
        self._stored.paused = True
        self._reconcile()
        return {"paused": " ".join(services)}

    def _resume(self, _event: ops.ActionEvent) -> dict:
        services = self._services()
        for service in services:
            self.system.resume_service(service)  # starts it with the files of this moment
        self._stored.paused = False
        self._drop_restarts(services)
        self._reconcile()
        return {"resumed": " ".join(services)}

    def _restart_services(self, _event: ops.ActionEvent) -> dict:
        if self._stored.paused:
            raise ActionFailed("The unit is paused: run the resume action instead")
        services = self._services()
        for service in services:
            self.system.restart_service(service)
        self._drop_restarts(services)
        self._reconcile()
        return {"restarted": " ".join(services)}

    def _drop_restarts(self, services: Iterable[str]) -> None:
        """Restarts `services` no longer need: they just started with the files of this moment.

        Not while a command is pending (daemon-reload, a2ensite): they started with the unit
        files or site before it, and restart once it ran.
        """
        if any(step[0] == RUN for step in self._stored.pending):
            return
        done = set(services)
        self._stored.pending = [
            list(s) for s in self._stored.pending if not (s[0] == RESTART and s[1] in done)
        ]

    # remove -------------------------------------------------------------------------------------

    def _on_remove(self, _event: ops.RemoveEvent) -> None:
        try:
            self._uninstall()
        except Exception as error:  # noqa: BLE001 - the unit goes away whatever is left
            logger.error("uninstalling left something behind: %s", error)


class ActionFailed(Exception):
    """An action refused or failed; the message is what `event.fail` shows."""


def _log_of(step: Sequence[str]) -> str:
    return f"journalctl -u {step[1]}" if step[0] == RESTART else "juju debug-log"
