"""The small cloud interface the failover scenarios are written against.

Two implementations: `juju_cloud.JujuCloud` (a Juju model, through zaza) and the lab's (a local
cloud of real services). Everything that differs between them (how a host is failed and powered
back on, how a guest process is found, where Pacemaker's fencing history is read, which timers
the charms configured) sits behind `Cloud`; everything OpenStack sits behind `OpenStackApi`, whose
production implementation (`openstack_api.SdkOpenStackApi`) both clouds share.

This module imports nothing beyond the standard library, so the scenarios and their tests run
anywhere.
"""

from __future__ import annotations

import abc
import dataclasses
import datetime
import re
import time
import xml.etree.ElementTree as ET  # noqa: S405 - parses Pacemaker's own output, not input
from collections.abc import Mapping
from typing import Any, Protocol

UTC = datetime.timezone.utc


def parse_time(value: str | None) -> datetime.datetime | None:
    """An OpenStack or Pacemaker timestamp as an aware UTC datetime (naive input is UTC)."""
    if not value:
        return None
    text = value.strip().replace("T", " ")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    text = text.replace(" +", "+").replace(" -", "-")
    text = re.sub(r"([+-]\d\d)(\d\d)$", r"\1:\2", text)  # Python 3.10 wants +HH:MM
    parsed = datetime.datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@dataclasses.dataclass(frozen=True)
class FenceEvent:
    """One entry of Pacemaker's fencing history (`stonith_admin --history <node>`)."""

    target: str
    action: str  # "off" or "reboot" power the node off; "on" does not
    status: str  # "success", "failed", "pending"
    completed: datetime.datetime | None


def parse_fence_history(xml_text: str) -> list[FenceEvent]:
    """`stonith_admin --history <node|*> --output-as=xml` -> events (Pacemaker 2.1 and later).

    Pacemaker prints `completed` to the second (e.g. "2026-11-25 17:33:05Z"); callers compare
    with that resolution.
    """
    root = ET.fromstring(xml_text)  # noqa: S314
    events = []
    for node in root.iter("fence_event"):
        events.append(
            FenceEvent(
                target=node.get("target", ""),
                action=node.get("action", ""),
                status=node.get("status", ""),
                completed=parse_time(node.get("completed")),
            )
        )
    return events


@dataclasses.dataclass(frozen=True)
class PacemakerNode:
    online: bool
    unclean: bool


def parse_crm_nodes(xml_text: str) -> dict[str, PacemakerNode]:
    """`crm_mon --as-xml` (or `-X`, `--output-as=xml`) -> {node name: state}."""
    root = ET.fromstring(xml_text)  # noqa: S314
    return {
        node.get("name", ""): PacemakerNode(
            online=node.get("online") == "true", unclean=node.get("unclean") == "true"
        )
        for node in root.iter("node")
        if node.get("name")
    }


@dataclasses.dataclass(frozen=True)
class Timers:
    """The timers the deployed charms configured, in seconds; every wait is derived from them.

    masakari charm: evacuation-delay, evacuation-timeout, power-off-timeout, power-on-timeout,
    recovery-threads, retry-interval, duplicate-notification-window; masakari-monitors:
    host-monitoring-interval x host-monitoring-samples. The rest come from hacluster /
    pacemaker-remote and Nova, or the cloud's own knowledge of how long a host takes to boot.
    """

    evacuation_delay: float = 60  # wait_period_after_service_update
    evacuation_timeout: float = 90  # wait_period_after_evacuation, per batch of instances
    power_off_timeout: float = 180  # wait_period_after_power_off
    power_on_timeout: float = 60  # wait_period_after_power_on
    recovery_threads: int = 3  # host_failure_recovery_threads
    retry_interval: float = 120  # process_unfinished_notifications_interval
    # duplicate_notification_detection_interval: Masakari refuses (409) a host's next
    # failure notification until this long after its previous one.
    duplicate_window: float = 180
    failure_detection: float = 60  # Pacemaker notices the node is gone (remote monitor + timeout)
    fence_timeout: float = 120  # STONITH through MAAS, power off confirmed
    host_monitor_interval: float = 60  # masakari-hostmonitor poll
    instance_monitor_latency: float = 30  # libvirt event -> VM notification
    service_down_time: float = 60  # Nova marks a silent nova-compute down
    host_boot_timeout: float = 600  # power on -> pacemaker_remote online again
    margin: float = 60  # API calls, scheduling, slow machines

    def host_failover_budget(self, instances: int = 1) -> float:
        """Failure injected -> every instance ACTIVE elsewhere and the notification finished."""
        batches = -(-max(instances, 1) // max(self.recovery_threads, 1))
        return (
            self.failure_detection
            + self.fence_timeout
            + self.host_monitor_interval
            + self.evacuation_delay
            + batches * self.evacuation_timeout
            + self.margin
        )

    def instance_restart_budget(self) -> float:
        return (
            self.instance_monitor_latency
            + self.power_off_timeout
            + self.power_on_timeout
            + self.margin
        )

    def rejoin_budget(self) -> float:
        return self.host_boot_timeout + self.failure_detection + self.margin


class OpenStackApi(Protocol):
    """The Nova and Masakari calls the scenarios make; dicts carry the APIs' own field names.

    Nova (microversion 2.53 or later, so service ids are UUIDs and `forced_down` is shown):
    services have `host`, `status` ("enabled"/"disabled"), `state` ("up"/"down"),
    `forced_down`, `disabled_reason`; servers have `id`, `name`, `status`, `metadata`,
    `OS-EXT-SRV-ATTR:host`, `OS-EXT-STS:task_state`, `OS-EXT-STS:vm_state`, `updated`;
    instance actions have `action`, `start_time`, `request_id`.
    Masakari: segments have `uuid`, `name`, `recovery_method`; hosts have `uuid`, `name`,
    `reserved`, `on_maintenance`; notifications have `notification_uuid`, `type`,
    `source_host_uuid`, `status`, `created_at`, `payload`, and `hostname` (not an API field:
    the host's name, looked up from `source_host_uuid`).
    """

    def compute_services(self) -> list[dict[str, Any]]: ...

    def set_compute_service(
        self, host: str, *, enabled: bool | None = None, forced_down: bool | None = None
    ) -> None: ...

    def server(self, server_id: str) -> dict[str, Any]: ...

    def server_actions(self, server_id: str) -> list[dict[str, Any]]: ...

    def segments(self) -> list[dict[str, Any]]: ...

    def create_segment(self, name: str, recovery_method: str) -> dict[str, Any]: ...

    def update_segment(self, segment_uuid: str, **changes: Any) -> None: ...

    def segment_hosts(self, segment_uuid: str) -> list[dict[str, Any]]: ...

    def create_segment_host(self, segment_uuid: str, name: str, reserved: bool) -> None: ...

    def update_segment_host(self, segment_uuid: str, host_uuid: str, **changes: Any) -> None: ...

    def notifications(self) -> list[dict[str, Any]]: ...


class GuestWatch:
    """What a cloud saw of some instances' guests while they failed over; this one sees nothing
    (a cloud whose hypervisors' processes and disks the tests cannot read)."""

    def stop(self) -> tuple[list[tuple[datetime.datetime, str]], list[str]]:
        """Stop watching: marks for the timeline, and each double run seen (an instance whose
        guest ran on two hosts at once), as failure messages."""
        return [], []


class Cloud(abc.ABC):
    """A deployed cloud the scenarios can break and repair.

    Host names are Nova's compute service hosts, which the suite keeps equal to the Pacemaker
    remote node names and the Masakari segment host names.
    """

    @property
    @abc.abstractmethod
    def api(self) -> OpenStackApi:
        """Nova and Masakari, as the cloud admin."""

    @abc.abstractmethod
    def compute_hosts(self) -> list[str]:
        """Every hypervisor's host name."""

    @abc.abstractmethod
    def timers(self) -> Timers:
        """The timers the deployed charms (and Nova, Pacemaker) were configured with."""

    @abc.abstractmethod
    def fail_host(self, host: str) -> str:
        """Cut the host off as the guide does (`ip link set <primary iface> down`); return at once
        with what was done, for the timeline.

        Nothing else: detection, fencing and recovery are the suite's job.
        """

    @abc.abstractmethod
    def restore_host(self, host: str) -> None:
        """Bring a fenced host back: power it on (through MAAS), wait until it booted and its
        Pacemaker remote node is online again (cleaning up the node's failed operations as an
        operator would). No OpenStack changes: re-insertion is the scenarios' job."""

    @abc.abstractmethod
    def instance_process(self, server_id: str, host: str) -> int | None:
        """Process id of the server's guest (qemu) on `host`, or None when there is none."""

    @abc.abstractmethod
    def kill_instance_process(self, server_id: str, host: str) -> int:
        """`kill -9` the server's guest process on `host`; return the pid killed."""

    @abc.abstractmethod
    def fencing_history(self, host: str) -> list[FenceEvent]:
        """Pacemaker's fencing history for `host`, oldest first."""

    @abc.abstractmethod
    def pacemaker_nodes(self) -> dict[str, PacemakerNode]:
        """Pacemaker's view of every node (remote nodes included), from `crm_mon`."""

    @abc.abstractmethod
    def ensure_instance(self, name: str, host: str) -> str:
        """The id of the server called `name`, wherever it runs now; if there is none, boot it on
        `host` with metadata HA_Enabled=True (from a volume where the cloud has shared storage)
        and wait until it is ACTIVE."""

    @abc.abstractmethod
    def delete_instance(self, name: str) -> None:
        """Delete the server called `name` (and its volume) if it exists; wait until gone."""

    def failure_marks(
        self, host: str, since: datetime.datetime
    ) -> list[tuple[datetime.datetime, str]]:
        """Steps of the failure of `host` since `since` that only the cluster's logs show
        (connection lost, fence requested, BMC power-off), for the timeline; none by default."""
        return []

    def watch_guests(self, server_ids: list[str]) -> GuestWatch:
        """Start watching the servers' guests for a double run, from just before a failure to
        the end of its recovery; by default nothing is watched."""
        return GuestWatch()

    # Time, overridable so the scenarios can run against a simulated cloud.
    def now(self) -> datetime.datetime:
        return datetime.datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def log(self, message: str) -> None:
        print(message, flush=True)


def options_value(options: Mapping[str, Any], key: str, default: Any) -> Any:
    """tests_options values accept both kebab-case and snake_case keys."""
    if key in options:
        return options[key]
    return options.get(key.replace("-", "_"), default)
