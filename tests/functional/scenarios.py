"""The failover scenarios and their assertions, written once for every `cloud.Cloud`.

Each scenario breaks something as the Charmed OpenStack guide does, waits no longer than the
deployed timers allow, then checks Nova's, Masakari's and Pacemaker's view of what happened:

- host failover: one notification per failure, `finished`; the failed host disabled, forced
  down and on maintenance; every instance ACTIVE on the host the recovery method implies; a
  reserved target host no longer reserved and enabled; the failed host fenced before the first
  evacuation, and each instance evacuated exactly once;
- instance restart: one recoverable VM notification, `finished`; the instance ACTIVE on the
  same host with a new guest process; no evacuation; the host untouched;
- re-insertion: the powered-on host runs no copy of the evacuated instances, and after the
  guide's commands it is enabled, up and out of maintenance again.

`FailoverScenarios` strings them into the suite both the zaza tests and the lab run.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from .cloud import Cloud, FenceEvent, options_value, parse_time

T = TypeVar("T")

FINAL_STATUSES = ("finished", "failed", "ignored")
METHODS_WITH_RESERVED_HOSTS = ("reserved_host", "rh_priority")
RECOVERY_METHODS = ("auto", "reserved_host", "auto_priority", "rh_priority")
POWER_OFF_ACTIONS = ("off", "reboot")
POLL_INTERVAL = 5.0


class ScenarioFailed(AssertionError):
    """A scenario's outcome differs from what the guide promises; the message says how."""


@dataclasses.dataclass
class Timeline:
    """What happened when, relative to the failure injection (printed after every scenario).

    The one timeline of the suite: the shared scenarios', the lab's (its scenarios print theirs
    step by step, tests/lab/scenario_steps.py) and the lab's fencing watch's
    (tests/lab/pacemaker.py). Marks come as they are seen or afterwards from logs, in any order.
    """

    scenario: str
    t0: datetime.datetime
    marks: list[tuple[datetime.datetime, str]] = dataclasses.field(default_factory=list)

    def add(self, when: datetime.datetime | None, what: str) -> None:
        if when is not None:
            self.marks.append((when, what))

    def first(self, prefix: str) -> datetime.datetime | None:
        """When the first mark starting with `prefix` happened, if one did."""
        times = [when for when, what in self.marks if what.startswith(prefix)]
        return min(times) if times else None

    def render(self) -> str:
        lines = [f"timeline: {self.scenario} (t0 {self.t0:%H:%M:%S}Z)"]
        for when, what in sorted(self.marks, key=lambda mark: mark[0]):
            lines.append(f"  {(when - self.t0).total_seconds():+8.1f}s  {what}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- reading the cloud


def wait_until(
    cloud: Cloud,
    what: str,
    probe: Callable[[], T],
    timeout: float,
    interval: float = POLL_INTERVAL,
) -> T:
    """Poll `probe` until it returns something truthy; fail naming `what` and the last value."""
    deadline = cloud.now() + datetime.timedelta(seconds=timeout)
    while True:
        value = probe()
        if value:
            return value
        if cloud.now() >= deadline:
            raise ScenarioFailed(f"{what}: not reached within {timeout:.0f}s")
        cloud.sleep(interval)


def retry_call(cloud: Cloud, what: str, timeout: float, call: Callable[[], object]) -> None:
    """Repeat an API call the service refuses for a while; fail with its last answer."""
    last: list[Exception] = []

    def accepted() -> bool:
        try:
            call()
        except Exception as error:  # the API client's own HTTP errors differ by cloud
            last[:] = [error]
            return False
        return True

    try:
        wait_until(cloud, what, accepted, timeout, interval=2)
    except ScenarioFailed as failed:
        raise ScenarioFailed(f"{failed}; last answer: {last[0] if last else None}") from None


def compute_service(cloud: Cloud, host: str) -> dict[str, Any]:
    for service in cloud.api.compute_services():
        if service["host"] == host:
            return service
    raise ScenarioFailed(f"Nova has no nova-compute service on {host}")


def find_segment(cloud: Cloud, name: str) -> dict[str, Any]:
    for segment in cloud.api.segments():
        if segment["name"] == name:
            return segment
    raise ScenarioFailed(f"no Masakari segment named {name!r}; run the configure steps first")


def segment_hosts(cloud: Cloud, segment: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {host["name"]: host for host in cloud.api.segment_hosts(segment["uuid"])}


def server_host(server: Mapping[str, Any]) -> str | None:
    return server.get("OS-EXT-SRV-ATTR:host")


def is_settled_active(server: Mapping[str, Any]) -> bool:
    return server.get("status") == "ACTIVE" and server.get("OS-EXT-STS:task_state") is None


def new_notifications(cloud: Cloud, known: set[str], **match: Any) -> list[dict[str, Any]]:
    """Notifications created since `known` was taken, filtered on top-level or payload fields."""
    found = []
    for notification in cloud.api.notifications():
        if notification["notification_uuid"] in known:
            continue
        payload = notification.get("payload") or {}
        if all(notification.get(k, payload.get(k)) == v for k, v in match.items()):
            found.append(notification)
    return sorted(found, key=lambda n: n.get("created_at") or "")


def evacuations_since(
    cloud: Cloud, server_id: str, since: datetime.datetime
) -> list[datetime.datetime]:
    """Start times of the server's evacuate actions at or after `since` (second resolution)."""
    floor = since.replace(microsecond=0)
    starts = []
    for action in cloud.api.server_actions(server_id):
        started = parse_time(action.get("start_time"))
        if action.get("action") == "evacuate" and started is not None and started >= floor:
            starts.append(started)
    return sorted(starts)


def first_fence(events: Iterable[FenceEvent], since: datetime.datetime) -> FenceEvent | None:
    """The first successful power-off of the node completed at or after `since`."""
    floor = since.replace(microsecond=0)
    done = [
        event
        for event in events
        if event.status == "success"
        and event.action in POWER_OFF_ACTIONS
        and event.completed is not None
        and event.completed >= floor
    ]
    return min(done, key=lambda event: event.completed) if done else None


def check(failures: list[str], condition: bool, message: str) -> None:
    if not condition:
        failures.append(message)


def raise_failures(scenario: str, failures: list[str], timeline: Timeline) -> None:
    if failures:
        raise ScenarioFailed(
            f"{scenario}:\n  - " + "\n  - ".join(failures) + "\n" + timeline.render()
        )


# --------------------------------------------------------------------------- changing the cloud


def set_recovery_method(cloud: Cloud, segment_name: str, method: str) -> dict[str, Any]:
    """`openstack segment update --recovery_method <method> <segment>` (refused while busy)."""
    if method not in RECOVERY_METHODS:
        raise ValueError(f"recovery method {method!r} is not one of {', '.join(RECOVERY_METHODS)}")
    segment = find_segment(cloud, segment_name)
    if segment["recovery_method"] != method:
        cloud.api.update_segment(segment["uuid"], recovery_method=method)
        segment = find_segment(cloud, segment_name)
    return segment


def ensure_segment(
    cloud: Cloud, name: str, recovery_method: str, hosts: Iterable[str], reserved_host: str
) -> dict[str, Any]:
    """The guide's segment: `openstack segment create <name> <method> COMPUTE`, every compute
    host added (`openstack segment host create <host> COMPUTE SSH <segment>`), the reserved one
    marked and its nova-compute disabled. Idempotent."""
    hosts = list(hosts)
    if reserved_host not in hosts:
        raise ValueError(
            f"reserved-host {reserved_host!r} is not a compute host ({', '.join(hosts)}); set "
            "tests_options masakari.reserved-host to one of them"
        )
    try:
        segment = find_segment(cloud, name)
    except ScenarioFailed:
        segment = cloud.api.create_segment(name, recovery_method)
    segment = set_recovery_method(cloud, name, recovery_method)
    present = segment_hosts(cloud, segment)
    for host in hosts:
        if host not in present:
            cloud.api.create_segment_host(segment["uuid"], host, reserved=False)
    make_reserved(cloud, name, reserved_host)
    return find_segment(cloud, name)


def make_reserved(cloud: Cloud, segment_name: str, host: str) -> None:
    """The guide's reserved host: Masakari `--reserved True`, its nova-compute disabled so the
    scheduler keeps it free."""
    segment = find_segment(cloud, segment_name)
    entry = segment_hosts(cloud, segment)[host]
    if not entry["reserved"]:
        cloud.api.update_segment_host(segment["uuid"], entry["uuid"], reserved=True)
    if compute_service(cloud, host)["status"] != "disabled":
        cloud.api.set_compute_service(host, enabled=False)


def reinsert_host(cloud: Cloud, segment_name: str, host: str) -> None:
    """The guide's re-insertion of a repaired host, then wait until Nova and Masakari agree.

    `openstack compute service set --enable <host> nova-compute` and
    `openstack segment host update --on_maintenance False <segment> <host>`; the suite's host
    monitor forces a fenced host down in Nova, so that flag is cleared too
    (`openstack compute service set --up <host> nova-compute`).
    """
    segment = find_segment(cloud, segment_name)
    timeout = cloud.timers().service_down_time + cloud.timers().margin
    service = compute_service(cloud, host)
    if service["status"] != "enabled":
        cloud.api.set_compute_service(host, enabled=True)
    if service.get("forced_down"):
        # Nova answers 400 until the restarted nova-compute has cleaned up the instances
        # evacuated from it; retry until then.
        retry_call(
            cloud,
            f"unset forced_down of {host}",
            timeout,
            lambda: cloud.api.set_compute_service(host, forced_down=False),
        )
    entry = segment_hosts(cloud, segment)[host]
    if entry["on_maintenance"]:
        cloud.api.update_segment_host(segment["uuid"], entry["uuid"], on_maintenance=False)

    def back() -> bool:
        service = compute_service(cloud, host)
        entry = segment_hosts(cloud, segment)[host]
        return (
            service["status"] == "enabled"
            and service["state"] == "up"
            and not service.get("forced_down")
            and not entry["on_maintenance"]
        )

    wait_until(cloud, f"{host} enabled, up and out of maintenance", back, timeout)


# --------------------------------------------------------------------------- scenarios


def check_ready_for_host_failure(
    cloud: Cloud, segment: Mapping[str, Any], host: str, server_ids: Iterable[str]
) -> None:
    """Refuse to start from a state the scenario's assertions could not tell apart."""
    failures: list[str] = []
    nodes = cloud.pacemaker_nodes()
    for name in cloud.compute_hosts():
        node = nodes.get(name)
        check(
            failures,
            node is not None and node.online and not node.unclean,
            f"Pacemaker node {name} is not online ({node})",
        )
    entry = segment_hosts(cloud, segment).get(host)
    check(failures, entry is not None, f"{host} is not a host of segment {segment['name']}")
    check(
        failures,
        entry is None or not entry["on_maintenance"],
        f"{host} is already on maintenance in Masakari",
    )
    service = compute_service(cloud, host)
    check(
        failures,
        service["status"] == "enabled" and service["state"] == "up",
        f"nova-compute on {host} is not enabled and up: {service['status']}/{service['state']}",
    )
    for server_id in server_ids:
        server = cloud.api.server(server_id)
        check(
            failures,
            is_settled_active(server) and server_host(server) == host,
            f"server {server_id} is not ACTIVE on {host}: {server.get('status')} on "
            f"{server_host(server)}",
        )
    if failures:
        raise ScenarioFailed("cannot start host failover:\n  - " + "\n  - ".join(failures))


def wait_out_duplicate_window(
    cloud: Cloud, host: str, notifications: list[dict[str, Any]], window: float
) -> None:
    """Masakari would refuse the notification of a failure within `window` of the host's
    previous one as a duplicate (and recover nothing): a real second failure that soon is
    lost, which is the operator's to know (duplicate-notification-window), not this test's."""
    previous = [
        parse_time(n.get("created_at"))
        for n in notifications
        if n.get("hostname") == host
        and n.get("type") == "COMPUTE_HOST"
        and (n.get("payload") or {}).get("event") == "STOPPED"
    ]
    previous = [when for when in previous if when is not None]
    if previous:
        wait = window + 1 - (cloud.now() - max(previous)).total_seconds()
        if wait > 0:
            cloud.log(f"{host} failed {window - wait + 1:.0f}s ago: waiting {wait:.0f}s for "
                      "Masakari's duplicate-notification window to pass")  # fmt: skip
            cloud.sleep(wait)


def host_failover(
    cloud: Cloud, segment_name: str, host: str, server_ids: list[str], recovery_method: str
) -> Timeline:
    """Fail `host` (its instances `server_ids`) and check the recovery end to end."""
    segment = set_recovery_method(cloud, segment_name, recovery_method)
    check_ready_for_host_failure(cloud, segment, host, server_ids)
    before = segment_hosts(cloud, segment)
    reserved = sorted(
        name for name, entry in before.items() if entry["reserved"] and not entry["on_maintenance"]
    )
    if recovery_method in METHODS_WITH_RESERVED_HOSTS and not reserved:
        raise ScenarioFailed(
            f"segment {segment_name} has no reserved host for {recovery_method}: mark one with "
            "`openstack segment host update --reserved True`"
        )
    notifications = cloud.api.notifications()
    known = {n["notification_uuid"] for n in notifications}
    timers = cloud.timers()
    budget = timers.host_failover_budget(len(server_ids))
    scenario = f"host failover ({recovery_method}) of {host}"
    wait_out_duplicate_window(cloud, host, notifications, timers.duplicate_window)
    watch = cloud.watch_guests(server_ids)
    t0 = cloud.now()
    timeline = Timeline(scenario, t0)
    cloud.log(f"{scenario}: failing the host; budget {budget:.0f}s from the charms' timers")
    try:
        timeline.add(t0, cloud.fail_host(host))

        def notification_done() -> dict[str, Any] | None:
            found = new_notifications(cloud, known, type="COMPUTE_HOST", hostname=host)
            final = [n for n in found if n["status"] in FINAL_STATUSES]
            return final[0] if final else None

        def recovered() -> bool:
            for server_id in server_ids:
                server = cloud.api.server(server_id)
                if not is_settled_active(server) or server_host(server) == host:
                    return False
            return True

        deadline = t0 + datetime.timedelta(seconds=budget)
        notification = wait_until(
            cloud, f"a final Masakari notification for {host}", notification_done, budget
        )
        if notification["status"] == "finished":
            remaining = max((deadline - cloud.now()).total_seconds(), POLL_INTERVAL)
            wait_until(cloud, "every instance ACTIVE on another host", recovered, remaining)
    finally:
        marks, double_runs = watch.stop()

    failures: list[str] = list(double_runs)
    for when, what in marks:
        timeline.add(when, what)
    stopped = new_notifications(cloud, known, type="COMPUTE_HOST", hostname=host, event="STOPPED")
    for n in stopped:
        timeline.add(parse_time(n.get("created_at")), f"notification {n['status']} created")
        timeline.add(parse_time(n.get("updated_at")), f"notification {n['status']} last update")
    check(
        failures,
        len(stopped) == 1,
        f"expected exactly one host-failure notification for {host}, got {len(stopped)}: "
        + ", ".join(n["status"] for n in stopped),
    )
    check(
        failures,
        notification["status"] == "finished",
        f"notification {notification['notification_uuid']} ended {notification['status']}",
    )

    service = compute_service(cloud, host)
    check(failures, service["status"] == "disabled", f"nova-compute on {host} is still enabled")
    check(failures, bool(service.get("forced_down")), f"nova-compute on {host} is not forced down")
    after = segment_hosts(cloud, segment)
    check(failures, after[host]["on_maintenance"], f"{host} is not on maintenance in Masakari")

    fence = first_fence(cloud.fencing_history(host), t0)
    if fence is None:
        failures.append(f"Pacemaker has no successful power-off of {host} since the failure")
    else:
        timeline.add(fence.completed, f"fenced ({fence.action})")
    for when, what in cloud.failure_marks(host, t0):
        timeline.add(when, what)

    targets = set()
    for server_id in server_ids:
        server = cloud.api.server(server_id)
        target = server_host(server)
        targets.add(target)
        check(
            failures,
            is_settled_active(server) and target != host,
            f"server {server_id} is {server.get('status')}/"
            f"{server.get('OS-EXT-STS:task_state')} on {target}",
        )
        if recovery_method == "reserved_host":
            check(
                failures,
                target in reserved,
                f"server {server_id} went to {target}, not to a reserved host "
                f"({', '.join(reserved)})",
            )
        elif recovery_method == "auto":
            check(
                failures,
                target not in reserved,
                f"server {server_id} went to reserved host {target} under auto",
            )
        starts = evacuations_since(cloud, server_id, t0)
        check(
            failures,
            len(starts) == 1,
            f"server {server_id} was evacuated {len(starts)} times, expected once",
        )
        if starts:
            timeline.add(starts[0], f"evacuate {server_id}")
        if starts and is_settled_active(server) and target != host:
            timeline.add(parse_time(server.get("updated")), f"{server_id} ACTIVE on {target}")
        if starts and fence is not None and fence.completed is not None:
            # Both clocks have one-second resolution: an evacuation in an earlier second than
            # the power-off is a proven violation.
            check(
                failures,
                starts[0] >= fence.completed,
                f"server {server_id} was evacuated at {starts[0]:%H:%M:%S} before {host} was "
                f"fenced at {fence.completed:%H:%M:%S}",
            )

    for target in targets & set(reserved):
        check(
            failures,
            not after[target]["reserved"],
            f"reserved host {target} took instances but is still reserved",
        )
        check(
            failures,
            compute_service(cloud, target)["status"] == "enabled",
            f"reserved host {target} took instances but its nova-compute is disabled",
        )
    timeline.add(cloud.now(), "checked")
    raise_failures(scenario, failures, timeline)
    cloud.log(timeline.render())
    return timeline


def instance_restart(cloud: Cloud, server_id: str) -> Timeline:
    """Kill the server's guest process and check Masakari restarts it in place."""
    server = cloud.api.server(server_id)
    host = server_host(server)
    if not is_settled_active(server) or host is None:
        raise ScenarioFailed(f"cannot start instance restart: server {server_id} is not ACTIVE")
    if cloud.instance_process(server_id, host) is None:
        raise ScenarioFailed(f"cannot start instance restart: no guest process for {server_id}")
    known = {n["notification_uuid"] for n in cloud.api.notifications()}
    budget = cloud.timers().instance_restart_budget()
    scenario = f"instance restart of {server_id} on {host}"
    t0 = cloud.now()
    timeline = Timeline(scenario, t0)
    killed = cloud.kill_instance_process(server_id, host)
    timeline.add(t0, f"kill -9 {killed}")

    def recoverable() -> list[dict[str, Any]]:
        return new_notifications(
            cloud, known, type="VM", instance_uuid=server_id, vir_domain_event="STOPPED_FAILED"
        )

    def notification_done() -> dict[str, Any] | None:
        final = [n for n in recoverable() if n["status"] in FINAL_STATUSES]
        return final[0] if final else None

    deadline = t0 + datetime.timedelta(seconds=budget)
    notification = wait_until(
        cloud, f"a final VM notification for {server_id}", notification_done, budget
    )
    timeline.add(
        parse_time(notification.get("updated_at")), f"notification {notification['status']}"
    )
    failures: list[str] = []
    found = recoverable()
    check(
        failures,
        len(found) == 1,
        f"expected one STOPPED_FAILED notification for {server_id}, got {len(found)}",
    )
    check(
        failures,
        all(n["status"] == "finished" for n in found),
        "instance notification ended " + ", ".join(n["status"] for n in found),
    )

    def remaining() -> float:
        return max((deadline - cloud.now()).total_seconds(), POLL_INTERVAL)

    def active_server() -> dict[str, Any] | None:
        server = cloud.api.server(server_id)
        return server if is_settled_active(server) else None

    def new_guest_process() -> int | None:
        pid = cloud.instance_process(server_id, host)
        return pid if pid not in (None, killed) else None

    if notification["status"] == "finished":
        server = wait_until(cloud, f"{server_id} ACTIVE again", active_server, remaining())
        moved_to = server_host(server)
        check(failures, moved_to == host, f"server {server_id} moved from {host} to {moved_to}")
        if moved_to == host:
            new_pid = wait_until(
                cloud,
                f"{server_id} restarted with a new guest process",
                new_guest_process,
                remaining(),
            )
            timeline.add(cloud.now(), f"ACTIVE again, guest pid {new_pid}")
    others = new_notifications(cloud, known, instance_uuid=server_id)
    check(
        failures,
        not any(n["status"] in ("failed", "error") for n in others),
        "a notification for the instance failed: "
        + ", ".join(f"{n['payload']}={n['status']}" for n in others),
    )
    check(
        failures,
        not evacuations_since(cloud, server_id, t0),
        f"server {server_id} was evacuated, not restarted",
    )
    service = compute_service(cloud, host)
    check(
        failures,
        service["status"] == "enabled" and not service.get("forced_down"),
        f"an instance failure changed nova-compute on {host}",
    )
    check(
        failures,
        first_fence(cloud.fencing_history(host), t0) is None,
        f"an instance failure fenced {host}",
    )
    raise_failures(scenario, failures, timeline)
    cloud.log(timeline.render())
    return timeline


def restore_and_reinsert(
    cloud: Cloud, segment_name: str, host: str, evacuated: Iterable[str]
) -> None:
    """Power the fenced host back on, check it runs no copy of the evacuated instances, then
    re-insert it as the guide does."""
    cloud.restore_host(host)
    node = cloud.pacemaker_nodes().get(host)
    failures: list[str] = []
    check(
        failures,
        node is not None and node.online and not node.unclean,
        f"restored host {host} is not online in Pacemaker ({node})",
    )
    for server_id in evacuated:
        server = cloud.api.server(server_id)
        pid = cloud.instance_process(server_id, host)
        check(
            failures,
            pid is None,
            f"server {server_id} is ACTIVE on {server_host(server)} and still has a guest "
            f"process ({pid}) on {host}",
        )
    if failures:
        raise ScenarioFailed(f"restore of {host}:\n  - " + "\n  - ".join(failures))
    reinsert_host(cloud, segment_name, host)
    cloud.log(f"{host} restored and re-inserted")


def heal(cloud: Cloud, segment_name: str, reserved_host: str) -> list[str]:
    """Put the cloud back as the configure steps left it, after a scenario failed half-way:
    power fenced hosts back on, re-insert every other host, re-mark the reserved one. Returns
    what it did."""
    done = []
    nodes = cloud.pacemaker_nodes()
    segment = find_segment(cloud, segment_name)
    for host in cloud.compute_hosts():
        node = nodes.get(host)
        # Back in Pacemaker (STONITH's reboot) is not enough: its nova-compute must report too.
        if (
            node is None
            or not node.online
            or node.unclean
            or compute_service(cloud, host)["state"] != "up"
        ):
            cloud.restore_host(host)
            done.append(f"restored {host}")
        if host == reserved_host:
            continue
        service = compute_service(cloud, host)
        entry = segment_hosts(cloud, segment).get(host, {})
        if (
            service["status"] != "enabled"
            or service.get("forced_down")
            or entry.get("on_maintenance")
        ):
            reinsert_host(cloud, segment_name, host)
            done.append(f"re-inserted {host}")
    make_reserved(cloud, segment_name, reserved_host)
    return done


# --------------------------------------------------------------------------- the suite


class FailoverScenarios:
    """unittest mixin: the suite both the zaza tests and the lab run, in this order.

    The subclass sets `cloud` (a `Cloud`) and `scenario_options` (tests_options' `masakari`
    mapping) in setUpClass. Options: segment-name (default S1), recovery-method (the segment's
    method between scenarios, default auto), reserved-host (a compute host, default the last in
    sorted order), instance-name (default masakari-failover-test).

    Each test (re)creates the segment and the instance it needs, so a cloud reset between tests
    is fine; test 3 fails the host test 2 re-inserted. The class deletes its instances and heals
    the cloud at the end, so every run starts from the configure steps' state. Use:

        class TestFailover(FailoverScenarios, unittest.TestCase):
            @classmethod
            def setUpClass(cls):
                cls.cloud = MyCloud()  # a cloud.Cloud
                cls.scenario_options = {"reserved-host": "virt-node-10.maas"}
    """

    cloud: Cloud
    scenario_options: Mapping[str, Any] = {}
    reinserted_host: str | None = None

    @classmethod
    def option(cls, key: str, default: Any) -> Any:
        return options_value(cls.scenario_options, key, default)

    @classmethod
    def segment_name(cls) -> str:
        return str(cls.option("segment-name", "S1"))

    @classmethod
    def reserved_host(cls) -> str:
        return str(cls.option("reserved-host", sorted(cls.cloud.compute_hosts())[-1]))

    @classmethod
    def instance_names(cls) -> tuple[str, str]:
        name = str(cls.option("instance-name", "masakari-failover-test"))
        return name, f"{name}-2"

    def setUp(self) -> None:
        ensure_segment(
            self.cloud,
            self.segment_name(),
            str(self.option("recovery-method", "auto")),
            self.cloud.compute_hosts(),
            self.reserved_host(),
        )

    def instance(self) -> str:
        """The protected instance, started on a non-reserved host if it does not exist."""
        reserved = self.reserved_host()
        host = next(h for h in sorted(self.cloud.compute_hosts()) if h != reserved)
        return self.cloud.ensure_instance(self.instance_names()[0], host)

    @classmethod
    def tearDownClass(cls) -> None:
        """Delete the instances and heal the cloud, even after a scenario failed half-way."""
        for name in cls.instance_names():
            cls.cloud.delete_instance(name)
        for action in heal(cls.cloud, cls.segment_name(), cls.reserved_host()):
            cls.cloud.log(f"heal: {action}")
        super().tearDownClass()

    def test_1_instance_restart(self) -> None:
        instance_restart(self.cloud, self.instance())

    def test_2_host_failover_to_reserved_host(self) -> None:
        server_id = self.instance()
        host = server_host(self.cloud.api.server(server_id))
        assert host is not None
        host_failover(self.cloud, self.segment_name(), host, [server_id], "reserved_host")
        restore_and_reinsert(self.cloud, self.segment_name(), host, [server_id])
        type(self).reinserted_host = host

    def test_3_second_failure_after_reinsertion(self) -> None:
        """The host test 2 failed and re-inserted fails again, with a new instance, under
        `auto`: Masakari must protect it again (a host left on maintenance is refused)."""
        host = self.reinserted_host
        if host is None:
            self.fail("no host was re-inserted: test_2_host_failover_to_reserved_host failed")
        server_id = self.cloud.ensure_instance(self.instance_names()[1], host)
        host_failover(self.cloud, self.segment_name(), host, [server_id], "auto")
        restore_and_reinsert(self.cloud, self.segment_name(), host, [server_id])
