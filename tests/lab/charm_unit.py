"""One charm unit in the lab: an ops.testing Context whose State is kept between hook runs.

The masakari unit (deploy.py) and the hypervisor units (hypervisors.py) run their events the
same way: each run is printed and logged with the resulting status, a handler's exception
becomes a LabError naming the event and the logs, and the new State is saved (0600: relation
data holds passwords) so the next command continues from it, as a Juju unit would.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import time
import traceback
from pathlib import Path

from .procs import LabError


class ActionRefused(LabError):
    """The charm failed the action (action-fail), with its message."""


class CharmUnit:
    def __init__(
        self, name: str, ctx, state_file: Path, event_log: Path, system_log: Path, where=""
    ):
        self.name = name
        self.where = where  # the machine, when more than one unit runs in the lab
        self.ctx = ctx
        self.state_file = state_file
        self.event_log = event_log
        self.system_log = system_log

    def load(self):
        """The saved State, or None before the first deployment."""
        try:
            with open(self.state_file, "rb") as f:
                return pickle.load(f)  # noqa: S301 - the lab's own file, root only
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError):
            return None

    def save(self, state) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            pickle.dump(state, f)
        os.replace(tmp, self.state_file)

    def _log(self, text: str) -> None:
        self.event_log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.event_log, "a") as f:
            f.write(text + "\n")

    def run(self, event_name: str, event, state):
        t0 = time.monotonic()
        from ops import testing

        try:
            out = self.ctx.run(event, state)
        except testing.ActionFailed as refused:  # the charm's answer, for `action` to report
            self._log(f"{self.name} {event_name} failed: {refused.message}")
            raise
        except Exception as error:  # noqa: BLE001 - report the charm's failure, not ours
            self._log(f"{self.name} {event_name} raised:\n{traceback.format_exc()}")
            raise LabError(
                f"{self.name}{self.where}: the charm's {event_name} handler failed: "
                f"{type(error).__name__}: {error}; traceback in {self.event_log}, what it "
                f"asked of the machine in {self.system_log}"
            ) from None
        status = out.unit_status
        line = (
            f"{time.strftime('%H:%M:%S')} {self.name:20} {event_name:34} -> {status.name}: "
            f"{status.message} ({time.monotonic() - t0:.1f} s)"
        )
        print(f"  {line}", flush=True)
        self._log(line)
        self.save(out)
        return out

    @staticmethod
    def network(name: str, address: str):
        """Juju's binding `name` on `address` in the lab's subnet (ops.testing's Network)."""
        from ops import testing

        from .hosts import DEFAULT_SUBNET

        return testing.Network(
            name,
            bind_addresses=[testing.BindAddress([testing.Address(address, cidr=DEFAULT_SUBNET)])],
            ingress_addresses=[address],
            egress_subnets=[DEFAULT_SUBNET],
        )

    @staticmethod
    def relation(state, endpoint: str):
        return next((r for r in state.relations if r.endpoint == endpoint), None)

    @staticmethod
    def with_relation(state, relation):
        others = [r for r in state.relations if r.id != relation.id]
        return dataclasses.replace(state, relations=[*others, relation])

    def join(self, state, relation):
        """relation-joined by the remote unit 0 (the relation is added to the state if new)."""
        return self.run(
            f"{relation.endpoint}-relation-joined",
            self.ctx.on.relation_joined(relation, remote_unit=0),
            self.with_relation(state, relation),
        )

    def answer(self, state, endpoint: str, data: dict[str, str]):
        """The remote charm's reply: relation-changed with its unit's data."""
        relation = dataclasses.replace(self.relation(state, endpoint), remote_units_data={0: data})
        return self.run(
            f"{endpoint}-relation-changed",
            self.ctx.on.relation_changed(relation, remote_unit=0),
            self.with_relation(state, relation),
        )

    def action(self, name: str, params: dict, state) -> tuple[object, dict]:
        """`juju run <unit> <name> key=value ...`: the new State and the action's results.
        A refusal (the charm's action-fail) raises ActionRefused with the charm's message."""
        from ops import testing

        try:
            out = self.run(f"{name} action", self.ctx.on.action(name, params=params), state)
        except testing.ActionFailed as refused:
            if refused.state is not None:
                self.save(refused.state)
            print(f"  {self.name} {name} action failed: {refused.message}", flush=True)
            raise ActionRefused(refused.message) from None
        results = dict(self.ctx.action_results or {})
        print(f"  {self.name} {name} action: {results}", flush=True)
        return out, results

    def sent(self, state, endpoint: str) -> dict[str, str]:
        """What this unit published on `endpoint`."""
        relation = self.relation(state, endpoint)
        return dict(relation.local_unit_data) if relation else {}
