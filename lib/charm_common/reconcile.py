"""The shape every charm of the suite shares: every event runs one reconcile."""

from __future__ import annotations

import ops

from charm_common.status import Unready
from charm_common.system import HostSystem, System


class ReconcilingCharm(ops.CharmBase):
    """Observes the lifecycle events and every event of RELATIONS with `_reconcile`.

    Subclasses implement `_converge()`, which brings the unit to what config and relations ask
    for and returns the status; whatever it finds missing it raises as Unready.
    """

    RELATIONS: tuple[str, ...] = ()
    # Production talks to the real machine; unit tests and the lab put their own System here.
    system: System = HostSystem()

    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
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

    def _reconcile(self, _event: ops.EventBase | None = None) -> None:
        try:
            self.unit.status = self._converge()
        except Unready as unready:
            self.unit.status = unready.status

    def _converge(self) -> ops.StatusBase:
        raise NotImplementedError
