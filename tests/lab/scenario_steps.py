"""The steps the lab's scenarios are made of (reset, segments, servers, failure injection,
watching a recovery, the engine's log) and the demo, each scenario printed as a timeline.

The engine scenarios inject a host failure as the suite's monitors report it: the failed
hypervisor's nova-compute and guests are killed and its service forced down in Nova (what the
suite's fence-confirmed host monitor does before it notifies), then a COMPUTE_HOST notification
with masakari-hostmonitor's payload is sent. The demo fails the host as the guide does.
"""

from __future__ import annotations

import datetime
import os
import re
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from tests.functional.scenarios import Timeline

from . import double_run, lab, procs, rest_client, services, settings, vault
from .procs import Fatal, LabError

HOST_DOWN_PAYLOAD = {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}
HOST_MONITOR = "masakari-host-monitor"  # the daemon (and its log) on each hypervisor
SEGMENT_HOST_COLUMNS = ["-c", "name", "-c", "reserved", "-c", "on_maintenance"]
SERVICE_COLUMNS = ["-c", "Host", "-c", "Status", "-c", "State", "--service", "nova-compute"]


class LiveTimeline(Timeline):
    """The shared Timeline, printed step by step: each mark with the seconds since the scenario
    began, or since the failure once `failure()` was called (t0 is then the failure)."""

    def __init__(self, title: str) -> None:
        super().__init__(title, datetime.datetime.now(datetime.timezone.utc))
        self.began = time.monotonic()
        self.zero: float | None = None
        self.zero_wall = time.time()
        self.events: list[tuple[float, str]] = []  # (seconds, what) as printed
        print(f"\n=== {title}", flush=True)

    def failure(self, what: str) -> None:
        self.zero = time.monotonic()
        self.zero_wall = time.time()
        self.t0 = datetime.datetime.fromtimestamp(self.zero_wall, datetime.timezone.utc)
        self.mark(what)

    def mark(self, what: str) -> float:
        now = time.monotonic()
        rel = now - (self.zero if self.zero is not None else self.began)
        label = "t+" if self.zero is not None else "  "
        self.events.append((rel, what))
        self.add(datetime.datetime.now(datetime.timezone.utc), what)
        print(f"{time.strftime('%H:%M:%S')} {label}{rel:6.1f}s  {what}", flush=True)
        return rel


def admin_cloud() -> rest_client.RestClient:
    return rest_client.RestClient(services.load_secrets()["admin"])


def openstack(*args: str, show: bool = True, check: bool = True) -> str:
    """The openstack CLI as an operator types it (Debian's client, masakariclient plugin)."""
    env = dict(os.environ, **services.admin_env(services.load_secrets()))
    env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    result = subprocess.run(
        ["/usr/bin/openstack", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    if show:
        print(f"$ openstack {' '.join(args)}")
        if result.stdout.strip():
            print(result.stdout.rstrip())
    if check and result.returncode != 0:
        raise LabError(f"`openstack {' '.join(args)}` failed: {result.stderr.strip()[-600:]}")
    return result.stdout


# ---------------------------------------------------------------- lab state
def restore_computes(admin: rest_client.RestClient) -> None:
    """Every hypervisor running, enabled, not forced down, up."""
    for host in settings.COMPUTE_HOSTS:
        lab.start_compute(host)
    names = [f"nova-compute-{h}" for h in settings.COMPUTE_HOSTS]
    lab.enable_computes(admin)
    procs.wait_for(
        "all nova-compute services up",
        lambda: all(s["state"] == "up" for s in admin.compute_services()),
        timeout=120,
        procs=names,
    )


def reset(admin: rest_client.RestClient) -> None:
    """No servers, no segments, every hypervisor healthy."""
    from . import hosts, hypervisors, pacemaker

    for name in pacemaker.restore_hosts():
        print(f"  lab reset: {name}, failed by an earlier scenario, rejoined the cluster")

    admin.delete_all_servers()
    end_stale_notifications()
    procs.wait_for(
        "segments deletable",
        lambda: _segments_deletable(admin),
        timeout=120,
        interval=1,
        ignore=(LabError,),
    )
    restore_computes(admin)
    if hypervisors.saved_monitors_config().get("segment-name"):
        # A scenario let masakari-monitors build its segment: segments are the scenarios'
        # again (an empty segment-name asks nothing of Masakari). After restore_computes: the
        # units check their monitors run.
        options = {"segment-name": None, "segment-recovery-method": None}
        hypervisors.deploy_monitors(hosts.load(), admin, services.load_secrets(), options)


def end_stale_notifications() -> None:
    """Mark notifications an earlier scenario left unfinished as failed.

    A segment with a notification in new/running/error cannot be changed (409), and Masakari
    only gives up on one after notifications_expired_interval (a day). A notification stays
    `running` for good when masakari-engine restarts in the middle of its recovery (the
    scenarios restart it through config changes), so the lab's reset ends them in the database.
    """
    stale = services.sql_query(
        "SELECT notification_uuid, status FROM masakari.notifications "
        "WHERE status IN ('new', 'running', 'error') AND deleted = 0"
    )
    if stale.strip():
        services.sql(
            "UPDATE masakari.notifications SET status = 'failed' "
            "WHERE status IN ('new', 'running', 'error') AND deleted = 0;\n"
        )
        for line in stale.strip().splitlines():
            print(
                f"  lab reset: notification {line.split()[0]} was {line.split()[1]}, marked failed"
            )


def _segments_deletable(admin: rest_client.RestClient) -> bool:
    # A segment with unfinished notifications is "in use" (409) until they end.
    try:
        admin.delete_all_segments()
    except LabError as error:
        if "409" in str(error):
            return False
        raise
    return True


@dataclass
class Segment:
    name: str
    uuid: str
    method: str
    hosts: list[str]
    reserved: list[str] = field(default_factory=list)


def make_segment(
    admin: rest_client.RestClient,
    name: str,
    method: str,
    hosts: Iterable[str],
    reserved: Iterable[str] = (),
) -> Segment:
    """A segment as the guide sets one up; reserved hosts are disabled in Nova."""
    reserved = list(reserved)
    segment = admin.ha(
        "POST",
        "/segments",
        json={"segment": {"name": name, "recovery_method": method, "service_type": "COMPUTE"}},
    )["segment"]
    for host in hosts:
        admin.ha(
            "POST",
            f"/segments/{segment['uuid']}/hosts",
            json={
                "host": {
                    "name": host,
                    "type": "COMPUTE",
                    "control_attributes": "SSH",
                    "reserved": host in reserved,
                }
            },
        )
    for host in reserved:
        admin.set_compute_service(host, status="disabled", disabled_reason="reserved")
    return Segment(name, segment["uuid"], method, list(hosts), reserved)


def segment_by_charm(
    admin: rest_client.RestClient, name: str, method: str, reserved: Iterable[str] = ()
) -> Segment:
    """The segment as the masakari-monitors charm builds it, no `openstack segment` command:
    `juju config masakari-monitors segment-name=<name> segment-recovery-method=<method>` (each
    unit adds its hypervisor under Nova's name, the first creates the segment), then
    `juju run masakari-monitors/<n> set-reserved reserved=true` on each reserved host's unit
    (Masakari's reserved flag, its nova-compute disabled)."""
    from . import hosts, hypervisors

    lab_hosts = hosts.load()
    options = {"segment-name": name, "segment-recovery-method": method}
    hypervisors.deploy_monitors(lab_hosts, admin, services.load_secrets(), options)
    reserved = list(reserved)
    for host in reserved:
        hypervisors.monitors_action(lab_hosts, host, "set-reserved", reserved=True)
    segment = next(s for s in admin.segments() if s["name"] == name)
    members = sorted(h["name"] for h in admin.segment_hosts(segment["uuid"]))
    return Segment(name, segment["uuid"], segment["recovery_method"], members, reserved)


def boot(
    admin: rest_client.RestClient,
    name: str,
    host: str,
    count: int = 1,
    ha_enabled: bool = True,
    timeout: float = 300,
) -> list[str]:
    metadata = {"HA_Enabled": "True"} if ha_enabled else {}
    ids = admin.create_servers(name, count, host=host, metadata=metadata)

    def active() -> bool:
        servers = admin.servers_by_id(ids)
        errors = [s for s in servers.values() if s["status"] == "ERROR"]
        if errors:
            fault = errors[0].get("fault", {}).get("message", "")
            raise Fatal(
                f"servers went to ERROR while booting on {host}: "
                f"{', '.join(s['id'] for s in errors)} ({fault})"
            )
        return len(servers) == len(ids) and all(s["status"] == "ACTIVE" for s in servers.values())

    procs.wait_for(
        f"{count} server(s) ACTIVE on {host}",
        active,
        timeout=timeout,
        interval=0.25,
        ignore=(LabError,),
    )
    return ids


def host_of(server: dict) -> str:
    return server["OS-EXT-SRV-ATTR:host"]


# ---------------------------------------------------------------- failure injection
def fail_host(
    admin: rest_client.RestClient, tl: LiveTimeline, host: str, force_down: bool = True
) -> str:
    """Kill the hypervisor's nova-compute and its guests (its libvirt), force the service down,
    notify Masakari; the notification's uuid."""
    from . import guests, hosts

    procs.kill(f"nova-compute-{host}")
    hosts.stop_daemon(hosts.load().host(host), guests.DAEMON)
    tl.failure(f"{host} fails: its nova-compute and its guests are killed")
    if force_down:
        admin.set_compute_service(host, forced_down=True)
        tl.mark(
            f"nova-compute on {host} forced down (the suite's host monitor does this "
            "once fencing is confirmed)"
        )
    notification = admin.notify("COMPUTE_HOST", host, HOST_DOWN_PAYLOAD)
    tl.mark(
        f"COMPUTE_HOST notification {notification['notification_uuid']} accepted "
        f"(payload {HOST_DOWN_PAYLOAD})"
    )
    return notification["notification_uuid"]


def link_down(
    admin: rest_client.RestClient, tl: LiveTimeline, host: str, timeout: float = 180
) -> str:
    """The guide's failure: `ip link set eth0 down` on the hypervisor. Nothing else is done by
    hand: marks what Pacemaker, STONITH and the host monitor do until Masakari has the
    notification; returns its uuid. Raises LabError, with the surviving monitors' last log
    lines, after `timeout` seconds or as soon as one of them logs that Masakari refused it."""
    from tests.functional.cloud import parse_fence_history

    from . import hosts, pacemaker

    pacemaker.wait_idle(timeout=120)
    known = {n["notification_uuid"] for n in admin.ha("GET", "/notifications")["notifications"]}
    # The surviving monitors' logs from here on: a refusal they log ends the wait at once.
    monitor_logs = {
        path: path.stat().st_size if path.exists() else 0
        for peer in hosts.load().hosts
        if peer.fqdn != host
        for path in [hosts.daemon_log(peer, HOST_MONITOR)]
    }
    refused = f"Masakari refused STOPPED for '{host}'"
    hosts.link_down(hosts.load().host(host))
    tl.failure(f"ip link set eth0 down on {host}")
    seen: set[str] = set()

    def once(key: str, what: str) -> None:
        if key not in seen:
            seen.add(key)
            tl.mark(what)

    def notified() -> str | None:
        node = pacemaker.node_states().get(host, {})
        if node.get("online") == "false":
            once("offline", f"Pacemaker: {host} offline (unclean={node.get('unclean')})")
        if any(
            e.status == "success"
            and e.action in ("off", "reboot")
            and e.completed is not None
            and e.completed.timestamp() >= int(tl.zero_wall)  # whole seconds
            for e in parse_fence_history(pacemaker.fence_history_xml(host))
        ):
            once("fenced", f"Pacemaker: {host} fenced (MAAS powered it off)")
        if admin.compute_service(host)["forced_down"]:
            once("forced", f"host monitor: nova-compute on {host} forced down")
        uuids = {h["uuid"] for s in admin.segments() for h in admin.segment_hosts(s["uuid"])
                 if h["name"] == host}  # fmt: skip
        for n in admin.ha("GET", "/notifications")["notifications"]:
            if n["notification_uuid"] not in known and n["source_host_uuid"] in uuids:
                once("notified", f"host monitor: COMPUTE_HOST notification {n['payload']}")
                return n["notification_uuid"]
        if any(
            refused in line
            for path, offset in monitor_logs.items()
            for line in pacemaker.log_lines_since(path, offset)
        ):
            raise Fatal(f"no notification for {host}: a host monitor logged `{refused}`")
        return None

    try:
        return procs.wait_for(
            f"a notification for {host}",
            notified,
            timeout=timeout,
            interval=0.5,
            ignore=(LabError,),
        )
    except LabError as error:
        # The marks printed so far show the last step reached; the surviving monitors say why
        # they sent nothing (a refused notification, a fence still pending or failed).
        tails = [
            f"[{HOST_MONITOR} on {peer.short}]\n"
            + re.sub(r"\x1b\[[0-9;]*m", "", hosts.tail(hosts.daemon_log(peer, HOST_MONITOR), 12))
            for peer in hosts.load().hosts
            if peer.fqdn != host
        ]
        raise LabError("\n".join([str(error), *tails])) from None


def wait_notification(
    admin: rest_client.RestClient,
    tl: LiveTimeline,
    uuid: str,
    want: Iterable[str] = ("finished",),
    timeout: float = 600,
) -> str:
    seen: list[str] = []
    want = tuple(want)

    def done() -> str | None:
        status = admin.notification(uuid)["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
            tl.mark(f"notification {status}")
        return status if status in want or status in ("failed", "ignored") else None

    status = procs.wait_for(
        f"notification {uuid} to reach {'/'.join(want)}",
        done,
        timeout=timeout,
        interval=0.5,
        ignore=(LabError,),
    )
    if status not in want:
        raise LabError(
            f"notification {uuid} ended {status}, expected {'/'.join(want)}; "
            f"see {settings.LOGS}/masakari-engine.log"
        )
    return status


def watch_failover(
    admin: rest_client.RestClient,
    tl: LiveTimeline,
    uuid: str,
    ids: list[str],
    hosts: set[str],
    want: Iterable[str] = ("finished",),
    timeout: float = 600,
) -> dict[str, str]:
    """Poll the notification and the servers together until both are done; mark each step,
    then add masakari-engine's own steps from its log to the timeline."""
    want = tuple(want)
    arrived: dict[str, str] = {}
    status: list[str] = []

    def check() -> bool:
        current = admin.notification(uuid)["status"]
        if not status or status[-1] != current:
            status.append(current)
            tl.mark(f"notification {current}")
        if current in ("failed", "ignored") and current not in want:
            raise LabError(
                f"notification {uuid} ended {current}; see {settings.LOGS}/masakari-engine.log"
            )
        pending = [server_id for server_id in ids if server_id not in arrived]
        servers = admin.servers_by_id(pending) if pending else {}
        for server in (servers[i] for i in pending if i in servers):
            if server["status"] == "ACTIVE" and host_of(server) in hosts:
                arrived[server["id"]] = host_of(server)
                tl.mark(f"server {server['name']} ACTIVE on {host_of(server)}")
        return current in want and len(arrived) == len(ids)

    def details() -> str:
        # CI shows only the end of a run: the timeout message carries what the timeline printed.
        servers = [admin.server(server_id) for server_id in ids]
        engine = [line for _, line in engine_log_lines(tl.zero_wall)
                  if uuid in line or " ERROR " in line or " WARNING " in line]  # fmt: skip
        return "\n".join([
            f"\nnotification {uuid}: {' -> '.join(status)}",
            *(f"server {s['name']}: {s['status']} on {host_of(s)}" for s in servers),
            "timeline:", *(f"  t+{rel:6.1f}s  {what}" for rel, what in tl.events),
            "masakari-engine (this notification, errors, warnings):", *engine[-20:],
        ])  # fmt: skip

    try:
        procs.wait_for(
            f"notification {'/'.join(want)} and {len(ids)} server(s) ACTIVE "
            f"on {', '.join(sorted(hosts))}",
            check,
            timeout=timeout,
            interval=0.5,
            ignore=(LabError,),
            details=details,
        )
    finally:
        for rel, text in engine_steps(tl):
            print(f"         engine t+{rel:6.1f}s  {text}")
    return arrived


ENGINE_STEPS = (
    (re.compile(r"Disable nova-compute on (\S+)"), "disables nova-compute on {0}"),
    (
        re.compile(r"Sleeping (\d+) sec before starting recovery"),
        "sleeps {0} s (wait_period_after_service_update)",
    ),
    (re.compile(r"Enable nova-compute on (\S+)"), "enables nova-compute on {0}"),
    (
        re.compile(r"Call evacuate command for instance (\S+) on host (\S+)"),
        "evacuates {0} to {1}",
    ),
    (re.compile(r"Call stop server command for instance (\S+)"), "stops {0}"),
    (re.compile(r"Call start server command for instance (\S+)"), "starts {0}"),
    (re.compile(r"Notification (\S+) exits with status: (\w+)"), "notification {1}"),
)
_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) ")


def _log_time(stamp: str) -> float:
    return datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp()


def engine_log_lines(since_wall: float) -> list[tuple[float, str]]:
    path = settings.LOGS / "masakari-engine.log"
    lines = []
    for line in path.read_text(errors="replace").splitlines():
        match = _STAMP.match(line)
        if match and _log_time(match[1]) >= since_wall:
            lines.append((_log_time(match[1]), line))
    return lines


def engine_steps(tl: LiveTimeline) -> list[tuple[float, str]]:
    """masakari-engine's recovery steps since the failure, relative to it."""
    steps = []
    for t, line in engine_log_lines(tl.zero_wall):
        for pattern, text in ENGINE_STEPS:
            match = pattern.search(line)
            if match:
                steps.append((t - tl.zero_wall, text.format(*match.groups())))
    return steps


def engine_timings(since_wall: float) -> dict[str, float]:
    """From the engine's log: how long the disable call took and how long the engine waited
    after it (the sleep, up to the next step)."""
    times: dict[str, float] = {}
    disable = sleep = None
    for t, line in engine_log_lines(since_wall):
        if "Disable nova-compute on" in line and disable is None:
            disable = t
        elif "before starting recovery" in line and sleep is None:
            sleep = t
            if disable is not None:
                times["disable"] = t - disable
        elif sleep is not None and "wait" not in times and " INFO " in line:
            times["wait"] = t - sleep
    return times


def show_tables(segment: Segment, servers: Iterable[str] = ()) -> None:
    """The tables the guide shows."""
    openstack("compute", "service", "list", *SERVICE_COLUMNS)
    openstack("segment", "host", "list", *SEGMENT_HOST_COLUMNS, segment.name)
    for server in servers:
        openstack(
            "server", "show", server, "-c", "name", "-c", "OS-EXT-SRV-ATTR:host", "-c", "status"
        )


# ---------------------------------------------------------------- the demo
def demo() -> None:
    """The guide's reserved_host example: a server on virt-node-02.maas, its hypervisor fails,
    the server comes back on the reserved host virt-node-01.maas."""
    admin = admin_cloud()
    tl = LiveTimeline("demo: reserved_host failover (as in the guide's example)")
    reset(admin)
    tl.mark("lab reset: no servers, no segments, all hypervisors up")
    segment = segment_by_charm(admin, "S1", "reserved_host", reserved=[settings.RESERVED_HOST])
    tl.mark(
        f"segment S1 (reserved_host) of {', '.join(segment.hosts)}, built by masakari-monitors' "
        f"segment-name; {settings.RESERVED_HOST} reserved by its set-reserved action"
    )
    boot(admin, "focal-1", settings.FAILED_HOST)
    tl.mark(f"server focal-1 ACTIVE on {settings.FAILED_HOST}")
    print("\n--- before the failure")
    print(api_over_tls(admin))
    show_tables(segment, ["focal-1"])
    print()
    server = admin.servers(name="^focal-1$")[0]
    detector = double_run.Detector(
        [double_run.Guest(server["id"], server["OS-EXT-SRV-ATTR:instance_name"],
                          services.INSTANCES / server["id"] / "disk")]
    ).start()  # fmt: skip
    try:
        uuid = link_down(admin, tl, settings.FAILED_HOST)
        watch_failover(admin, tl, uuid, [server["id"]], {settings.RESERVED_HOST})
    finally:
        marks, double_runs = detector.stop()
        for when, what in sorted(marks):
            print(f"       guests t+{when.timestamp() - tl.zero_wall:6.1f}s  {what}")
    if double_runs:
        raise LabError("double run: " + "; ".join(double_runs))
    print("\n--- after the failover")
    show_tables(segment, ["focal-1"])
    check_reserved_host_outcome(admin, segment, settings.FAILED_HOST, settings.RESERVED_HOST)
    active = next(
        rel
        for rel, text in tl.events
        if text == f"server focal-1 ACTIVE on {settings.RESERVED_HOST}"
    )
    print(
        f"\ndemo passed: focal-1 moved {settings.FAILED_HOST} -> {settings.RESERVED_HOST}, "
        f"ACTIVE {active:.1f} s after the failure"
    )


def api_over_tls(admin: rest_client.RestClient) -> str:
    """One line: the Masakari API's public endpoint and the certificate it serves."""
    url = admin.session.get_endpoint(
        service_type="instance-ha", interface="public", region_name=settings.REGION
    )
    cert = vault.served_certificate()
    issuer = dict(pair[0] for pair in cert["issuer"])["commonName"]
    return (
        f"Masakari API {url}: {cert['tls_version']}, certificate issued by {issuer} "
        f"(the monitors and every client here trust only that CA: {settings.CA_FILE})"
    )


def check_reserved_host_outcome(
    admin: rest_client.RestClient, segment: Segment, failed: str, reserved: str
) -> None:
    """The guide's outcome; raises LabError naming what differs."""
    problems = []
    failed_service = admin.compute_service(failed)
    if failed_service["status"] != "disabled" or failed_service["state"] != "down":
        problems.append(
            f"{failed} is {failed_service['status']}/{failed_service['state']} "
            "in nova, expected disabled/down"
        )
    reserved_service = admin.compute_service(reserved)
    if reserved_service["status"] != "enabled":
        problems.append(
            f"reserved host {reserved} is {reserved_service['status']} in nova, expected enabled"
        )
    hosts = {h["name"]: h for h in admin.segment_hosts(segment.uuid)}
    if not hosts[failed]["on_maintenance"]:
        problems.append(f"{failed} is not on_maintenance in masakari")
    if hosts[reserved]["reserved"]:
        problems.append(f"{reserved} is still reserved in masakari")
    if problems:
        raise LabError("unexpected outcome: " + "; ".join(problems))
