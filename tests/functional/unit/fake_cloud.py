"""An in-memory cloud on a simulated clock that behaves as the suite promises, or breaks on
request (`bugs`), so the scenarios' assertions can be shown to catch each kind of failure.

What it simulates, in order, after `fail_host`: Pacemaker loses the node, fences it through
MAAS (power off), the suite's host monitor forces the compute service down and notifies
Masakari once, the engine disables the service, puts the host on maintenance, evacuates each
instance once (to a reserved host for reserved_host, flipping it), and finishes the notification.
After `kill_instance_process`: one STOPPED_FAILED VM notification, stop, start, finished.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import heapq
import itertools
import uuid
from collections.abc import Callable
from typing import Any

from tests.functional.cloud import UTC, Cloud, FenceEvent, PacemakerNode, Timers

BUGS = {
    "evacuate-before-fence",  # the monitor reports the node as soon as it is offline
    "no-fence",  # STONITH never succeeds, the engine evacuates anyway
    "host-left-enabled",  # the engine does not disable nova-compute
    "no-force-down",  # the monitor does not force the service down
    "no-maintenance",  # the host is not put on maintenance
    "duplicate-notification",  # two monitors both get a notification through
    "double-evacuate",  # an instance is evacuated twice
    "wrong-target",  # reserved_host evacuates to a non-reserved host
    "reserved-not-flipped",  # the reserved host stays reserved and disabled
    "notification-failed",  # the engine gives up: notification failed, nothing moves
    "never-finishes",  # the notification stays running
    "guest-left-behind",  # the old host runs the instance again after power-on
    "restart-moves-instance",  # the instance restart evacuates instead
    "restart-ignored",  # the engine ignores the instance failure
    "stays-on-maintenance",  # clearing on_maintenance has no effect
}


def second(moment: datetime.datetime) -> str:
    """Timestamps as Nova and Masakari store them (MySQL DATETIME: whole seconds)."""
    return moment.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%S.000000")


@dataclasses.dataclass
class Host:
    name: str
    link_up: bool = True
    powered: bool = True
    online: bool = True
    unclean: bool = False
    service_enabled: bool = True
    forced_down: bool = False
    guests: dict[str, int] = dataclasses.field(default_factory=dict)


class FakeApi:
    """`OpenStackApi` over the fake cloud's state."""

    def __init__(self, cloud: FakeCloud) -> None:
        self.cloud = cloud

    def compute_services(self) -> list[dict[str, Any]]:
        services = []
        for host in self.cloud.hosts.values():
            silent = not (host.powered and host.link_up)
            services.append(
                {
                    "host": host.name,
                    "binary": "nova-compute",
                    "status": "enabled" if host.service_enabled else "disabled",
                    "state": "down" if host.forced_down or silent else "up",
                    "forced_down": host.forced_down,
                    "disabled_reason": None,
                }
            )
        return services

    def set_compute_service(
        self, host: str, *, enabled: bool | None = None, forced_down: bool | None = None
    ) -> None:
        if enabled is not None:
            self.cloud.hosts[host].service_enabled = enabled
        if forced_down is False and self.cloud.clock < self.cloud.refuse_up_until.get(
            host, self.cloud.clock
        ):
            raise RuntimeError(f"HTTP 400: nova-compute on {host} still cleaning up")
        if forced_down is not None:
            self.cloud.hosts[host].forced_down = forced_down

    def server(self, server_id: str) -> dict[str, Any]:
        return copy.deepcopy(self.cloud.servers[server_id])

    def server_actions(self, server_id: str) -> list[dict[str, Any]]:
        return copy.deepcopy(self.cloud.actions[server_id])

    def segments(self) -> list[dict[str, Any]]:
        return copy.deepcopy(list(self.cloud.segments.values()))

    def create_segment(self, name: str, recovery_method: str) -> dict[str, Any]:
        segment = {
            "uuid": str(uuid.uuid4()),
            "name": name,
            "recovery_method": recovery_method,
            "service_type": "COMPUTE",
        }
        self.cloud.segments[segment["uuid"]] = segment
        self.cloud.segment_members[segment["uuid"]] = {}
        return copy.deepcopy(segment)

    def update_segment(self, segment_uuid: str, **changes: Any) -> None:
        self.cloud.segments[segment_uuid].update(changes)

    def segment_hosts(self, segment_uuid: str) -> list[dict[str, Any]]:
        return copy.deepcopy(list(self.cloud.segment_members[segment_uuid].values()))

    def create_segment_host(self, segment_uuid: str, name: str, reserved: bool) -> None:
        if name not in self.cloud.hosts:
            raise ValueError(f"compute host {name} not found in nova")
        self.cloud.segment_members[segment_uuid][name] = {
            "uuid": str(uuid.uuid4()),
            "name": name,
            "reserved": reserved,
            "on_maintenance": False,
            "type": "COMPUTE",
        }

    def update_segment_host(self, segment_uuid: str, host_uuid: str, **changes: Any) -> None:
        for entry in self.cloud.segment_members[segment_uuid].values():
            if entry["uuid"] == host_uuid:
                if "stays-on-maintenance" in self.cloud.bugs:
                    changes.pop("on_maintenance", None)
                entry.update(changes)
                return
        raise KeyError(host_uuid)

    def notifications(self) -> list[dict[str, Any]]:
        return copy.deepcopy(self.cloud.notifications)


class FakeCloud(Cloud):
    DETECT = 12.0  # link down -> Pacemaker sees the node offline
    FENCE = 8.0  # offline -> MAAS confirms power off
    NOTIFY = 1.5  # fence confirmed -> notification created
    EVACUATE = 6.0  # evacuate call -> ACTIVE on the target
    BOOT = 90.0  # power on -> Pacemaker node online
    CLEANUP = 8.0  # restarted nova-compute -> Nova accepts the host up again

    def __init__(
        self,
        hosts: list[str],
        bugs: set[str] | frozenset[str] = frozenset(),
        evacuation_delay: float = 0,
    ) -> None:
        unknown = set(bugs) - BUGS
        if unknown:
            raise ValueError(f"unknown fake cloud bugs: {', '.join(sorted(unknown))}")
        self.bugs = set(bugs)
        self.clock = datetime.datetime(2026, 11, 25, 12, 0, 0, 250000, tzinfo=UTC)
        self.queue: list[tuple[datetime.datetime, int, Callable[[], None]]] = []
        self.order = itertools.count()
        self.pids = itertools.count(4000)
        self.hosts = {name: Host(name) for name in hosts}
        self.servers: dict[str, dict[str, Any]] = {}
        self.actions: dict[str, list[dict[str, Any]]] = {}
        self.segments: dict[str, dict[str, Any]] = {}
        self.segment_members: dict[str, dict[str, dict[str, Any]]] = {}
        self.notifications: list[dict[str, Any]] = []
        self.fences: list[FenceEvent] = []
        self.messages: list[str] = []
        self._timers = Timers(
            evacuation_delay=evacuation_delay,
            failure_detection=30,
            fence_timeout=30,
            host_monitor_interval=5,
            host_boot_timeout=300,
            margin=30,
        )
        self.engine_delay = evacuation_delay  # what the engine really sleeps
        self.refuse_up_until: dict[str, datetime.datetime] = {}
        self._api = FakeApi(self)

    # ------------------------------------------------------------------ Cloud
    @property
    def api(self) -> FakeApi:
        return self._api

    def compute_hosts(self) -> list[str]:
        return list(self.hosts)

    def timers(self) -> Timers:
        return self._timers

    def now(self) -> datetime.datetime:
        return self.clock

    def sleep(self, seconds: float) -> None:
        until = self.clock + datetime.timedelta(seconds=seconds)
        while self.queue and self.queue[0][0] <= until:
            when, _, action = heapq.heappop(self.queue)
            self.clock = max(self.clock, when)
            action()
        self.clock = until

    def log(self, message: str) -> None:
        self.messages.append(message)

    def fail_host(self, host: str) -> str:
        self.hosts[host].link_up = False
        self.after(self.DETECT, lambda: self._node_lost(host))
        return f"link down on {host}"

    def restore_host(self, host: str) -> None:
        state = self.hosts[host]
        state.powered = state.link_up = True
        if "guest-left-behind" in self.bugs:
            for server_id, server in self.servers.items():
                if server["OS-EXT-SRV-ATTR:host"] != host:
                    state.guests[server_id] = next(self.pids)
        self.sleep(self.BOOT)
        state.online, state.unclean = True, False
        # Nova refuses `--up` until the restarted nova-compute cleaned up evacuated guests.
        self.refuse_up_until[host] = self.clock + datetime.timedelta(seconds=self.CLEANUP)

    def instance_process(self, server_id: str, host: str) -> int | None:
        state = self.hosts[host]
        return state.guests.get(server_id) if state.powered else None

    def kill_instance_process(self, server_id: str, host: str) -> int:
        pid = self.hosts[host].guests.pop(server_id)
        self.servers[server_id]["status"] = "SHUTOFF"
        self.after(0.5, lambda: self._instance_failed(server_id, host))
        return pid

    def fencing_history(self, host: str) -> list[FenceEvent]:
        return [event for event in self.fences if event.target == host]

    def pacemaker_nodes(self) -> dict[str, PacemakerNode]:
        return {
            h.name: PacemakerNode(online=h.online, unclean=h.unclean) for h in self.hosts.values()
        }

    def ensure_instance(self, name: str, host: str) -> str:
        for server_id, server in self.servers.items():
            if server["name"] == name:
                return server_id
        server_id = str(uuid.uuid4())
        self.servers[server_id] = {
            "id": server_id,
            "name": name,
            "status": "ACTIVE",
            "metadata": {"HA_Enabled": "True"},
            "OS-EXT-SRV-ATTR:host": host,
            "OS-EXT-STS:task_state": None,
            "OS-EXT-STS:vm_state": "active",
            "updated": second(self.clock),
        }
        self.actions[server_id] = [{"action": "create", "start_time": second(self.clock)}]
        self.hosts[host].guests[server_id] = next(self.pids)
        return server_id

    def delete_instance(self, name: str) -> None:
        for server_id, server in list(self.servers.items()):
            if server["name"] == name:
                del self.servers[server_id]
                for host in self.hosts.values():
                    host.guests.pop(server_id, None)

    # ------------------------------------------------------------------ simulation
    def after(self, seconds: float, action: Callable[[], None]) -> None:
        when = self.clock + datetime.timedelta(seconds=seconds)
        heapq.heappush(self.queue, (when, next(self.order), action))

    def _node_lost(self, host: str) -> None:
        state = self.hosts[host]
        state.online, state.unclean = False, True
        if "evacuate-before-fence" in self.bugs:
            self.after(self.NOTIFY, lambda: self._monitor_reports(host))
        if "no-fence" in self.bugs:
            self.after(self.FENCE, lambda: self._monitor_reports(host))
        else:
            self.after(self.FENCE, lambda: self._fenced(host))

    def _fenced(self, host: str) -> None:
        state = self.hosts[host]
        state.powered, state.unclean = False, False
        state.guests.clear()
        self.fences.append(
            FenceEvent(host, "reboot", "success", self.clock.replace(microsecond=0))
        )
        if "evacuate-before-fence" not in self.bugs:
            self.after(self.NOTIFY, lambda: self._monitor_reports(host))

    def _member(self, host: str) -> tuple[str, dict[str, Any]]:
        for segment_uuid, members in self.segment_members.items():
            if host in members:
                return segment_uuid, members[host]
        raise KeyError(host)

    def _notify(self, kind: str, hostname: str, payload: dict[str, Any]) -> dict[str, Any]:
        notification = {
            "notification_uuid": str(uuid.uuid4()),
            "type": kind,
            "hostname": hostname,
            "status": "new",
            "payload": payload,
            "created_at": second(self.clock),
            "updated_at": None,
        }
        self.notifications.append(notification)
        return notification

    def _monitor_reports(self, host: str) -> None:
        if "no-force-down" not in self.bugs:
            self.hosts[host].forced_down = True
        payload = {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}
        notification = self._notify("COMPUTE_HOST", host, payload)
        if "duplicate-notification" in self.bugs:
            self._notify("COMPUTE_HOST", host, dict(payload))["status"] = "finished"
        self.after(0.5, lambda: self._recover_host(host, notification))

    def _set_status(self, notification: dict[str, Any], status: str) -> None:
        notification["status"] = status
        notification["updated_at"] = second(self.clock)

    def _recover_host(self, host: str, notification: dict[str, Any]) -> None:
        self._set_status(notification, "running")
        segment_uuid, member = self._member(host)
        if "no-maintenance" not in self.bugs:
            member["on_maintenance"] = True
        if "host-left-enabled" not in self.bugs:
            self.hosts[host].service_enabled = False
        if "notification-failed" in self.bugs:
            self.after(1, lambda: self._set_status(notification, "failed"))
            return
        method = self.segments[segment_uuid]["recovery_method"]
        members = self.segment_members[segment_uuid]
        reserved = [n for n, e in members.items() if e["reserved"] and not e["on_maintenance"]]
        if method in ("reserved_host", "rh_priority") and "wrong-target" not in self.bugs:
            target = reserved[0]
            if "reserved-not-flipped" not in self.bugs:
                members[target]["reserved"] = False
                self.hosts[target].service_enabled = True
        else:
            # Nova's scheduler: any enabled host (the guide keeps reserved hosts disabled)
            target = next(
                n for n, h in self.hosts.items() if n != host and h.service_enabled and h.powered
            )
        victims = [
            s for s, server in self.servers.items() if server["OS-EXT-SRV-ATTR:host"] == host
        ]

        def evacuate_all() -> None:
            for server_id in victims:
                self._evacuate(server_id, target)
                if "double-evacuate" in self.bugs:
                    self._evacuate(server_id, target)
            if "never-finishes" not in self.bugs:
                self.after(self.EVACUATE + 1, lambda: self._set_status(notification, "finished"))

        self.after(self.engine_delay + 1, evacuate_all)

    def _evacuate(self, server_id: str, target: str) -> None:
        server = self.servers[server_id]
        self.actions[server_id].append(
            {"action": "evacuate", "start_time": second(self.clock), "fake_target": target}
        )
        server["OS-EXT-STS:task_state"] = "rebuilding"
        server["OS-EXT-SRV-ATTR:host"] = target

        def spawned() -> None:
            server["OS-EXT-STS:task_state"] = None
            server["status"] = "ACTIVE"
            server["updated"] = second(self.clock)
            self.hosts[target].guests[server_id] = next(self.pids)

        self.after(self.EVACUATE, spawned)

    def _instance_failed(self, server_id: str, host: str) -> None:
        payload = {
            "event": "LIFECYCLE",
            "instance_uuid": server_id,
            "vir_domain_event": "STOPPED_FAILED",
        }
        notification = self._notify("VM", host, payload)
        if "restart-ignored" in self.bugs:
            self.after(1, lambda: self._set_status(notification, "ignored"))
            return
        if "restart-moves-instance" in self.bugs:
            target = next(n for n in self.hosts if n != host)
            self.after(1, lambda: self._evacuate(server_id, target))
            self.after(1 + self.EVACUATE, lambda: self._set_status(notification, "finished"))
            return

        def started() -> None:
            server = self.servers[server_id]
            server["status"] = "ACTIVE"
            server["updated"] = second(self.clock)
            self.hosts[host].guests[server_id] = next(self.pids)
            self._set_status(notification, "finished")
            # libvirt's STARTED event is reported too; the engine ignores it.
            started_payload = {
                "event": "LIFECYCLE",
                "instance_uuid": server_id,
                "vir_domain_event": "STARTED_BOOTED",
            }
            self._set_status(self._notify("VM", host, started_payload), "ignored")

        self.after(3, started)
