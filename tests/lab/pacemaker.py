"""The control side of the lab: corosync + Pacemaker playing charm-hacluster, and remote nodes.

The control side runs in the root network namespace (it owns the bridge address the hosts
reach) but in its own mount and UTS namespaces, so /etc/corosync, /etc/pacemaker,
/var/lib/pacemaker, /run and the STONITH plugin directory are the lab's, not the machine's.
Its single corosync member is named `lab-control`.

hacluster's role: `configure_from_relations` takes the unit data pacemaker-remote units send
(`remote-hostname`, `remote-ip`, `stonith-hostname`, `enable-resources`, JSON-encoded), parses it
as hacluster does (json.loads, then ast.literal_eval), and creates what hacluster creates:
an `ocf:pacemaker:remote` primitive per remote, `st-maas` (stonith:external/maas, the lab's
stand-in plugin from stonith.py) over the stonith host names and their short names, `st-null`
for the member, and the cluster properties.

Each remote primitive is hacluster's, `op monitor interval=30s` with Pacemaker's 20 s default
timeout; the pacemaker-remote charm then sets its own node's connection timing through
pacemaker_remoted (its connection-* options), so every speed-up the lab shows comes from the
suite's charms. One hacluster option is set as an operator may: `cluster_recheck_interval` 20 s
(hacluster's default 60 s), which only shortens how long a fenced node takes to rejoin.

Command line: `python -m tests.lab pacemaker up|down|status|fail HOST` (cli.py).
"""

from __future__ import annotations

import ast
import base64
import datetime
import ipaddress
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
import xml.etree.ElementTree as ET  # noqa: N817 - the usual name
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import hosts, maas_emulator, procs, stonith
from .hosts import LabError

if TYPE_CHECKING:
    from tests.functional.scenarios import Timeline

PACKAGES = (
    "pacemaker",
    "pacemaker-cli-utils",
    "corosync",
    "crmsh",
    "cluster-glue",
    "resource-agents",
    "iproute2",
    "util-linux",
    "python3",
)
CONTROL_NAME = "lab-control"
CONTROL_DIR = hosts.RUN / "control"
REMOTE_ROOT = hosts.STATE / "cache" / "pacemaker-remote"  # extracted .deb, kept across runs
REMOTED = "/usr/sbin/pacemaker-remoted"
KEY_FILE = hosts.RUN / "pacemaker-key"
PCMK_ENV = {
    "PCMK_logfile": "/var/log/pacemaker/pacemaker.log",
    "PCMK_logfacility": "none",
    "PCMK_debug": "no",
}
REMOTE_SERVICE = "pacemaker_remote"
# hacluster defaults (config.yaml) the lab keeps; the lab may shorten the recheck interval.
HACLUSTER_FAILURE_TIMEOUT = 180
RELATION_KEYS = ("remote-hostname", "remote-ip", "stonith-hostname", "enable-resources")


@dataclass(frozen=True)
class Remote:
    """One pacemaker-remote unit's data, decoded."""

    unit: str
    hostname: str
    ip: str
    stonith_hostname: str | None
    enable_resources: bool


@dataclass(frozen=True)
class ClusterSettings:
    """What hacluster's config decides (the lab's hacluster stand-in creates it)."""

    monitor_interval: str = "30s"  # hacluster's remote primitive
    monitor_timeout: str | None = None  # hacluster sets none: Pacemaker's 20 s
    reconnect_interval: int = 60
    cluster_recheck_interval: str = "20s"
    no_quorum_policy: str = "stop"


# --------------------------------------------------------------------------- relation data


def parse_relation_value(unit: str, key: str, raw: str | None):
    """Decode one relation value as hacluster's parse_data does: JSON, else a Python literal.

    hacluster lets a bad value crash its hook; the lab names the unit, key and fix instead.
    """
    if raw is None or raw == "":
        return None
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        pass
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError) as err:
        raise LabError(
            "relation data",
            f"{unit}: {key}={raw!r} is neither JSON nor a Python literal; the pacemaker-remote "
            f"unit must send json.dumps(value), e.g. {json.dumps(raw)}",
        ) from err


def parse_remote_units(units: Mapping[str, Mapping[str, str]]) -> list[Remote]:
    """Decode and validate every unit's data; units without remote-hostname are skipped."""
    remotes = []
    for unit, data in sorted(units.items()):
        values = {k: parse_relation_value(unit, k, data.get(k)) for k in RELATION_KEYS}
        hostname = values["remote-hostname"]
        if hostname is None:
            continue  # hacluster waits for this key too
        if not isinstance(hostname, str) or "." not in hostname:
            raise LabError(
                "relation data",
                f"{unit}: remote-hostname={hostname!r} must be the "
                "host's FQDN (socket.getfqdn()), a JSON string",
            )
        ip = values["remote-ip"]
        try:
            ipaddress.ip_address(ip)
        except (TypeError, ValueError) as err:
            raise LabError(
                "relation data",
                f"{unit}: remote-ip={ip!r} must be the IP address "
                "of the pacemaker-remote binding, a JSON string",
            ) from err
        stonith_hostname = values["stonith-hostname"]
        if stonith_hostname is not None and not isinstance(stonith_hostname, str):
            raise LabError(
                "relation data",
                f"{unit}: stonith-hostname={stonith_hostname!r} must be a JSON string or null",
            )
        enable = values["enable-resources"]
        if not isinstance(enable, bool):
            raise LabError(
                "relation data", f"{unit}: enable-resources={enable!r} must be JSON true or false"
            )
        remotes.append(Remote(unit, hostname, str(ip), stonith_hostname or None, enable))
    return remotes


def stand_in_remote_unit_data(
    lab: hosts.Lab, enable_stonith: bool = True, enable_resources: bool = False
) -> dict[str, dict[str, str]]:
    """What pacemaker-remote units on the lab hosts would send (until the charm drives this).

    The charm integration replaces this with the relation data the pacemaker-remote charm
    really wrote (ops.testing); the lab then feeds that to `configure_from_relations`.
    """
    units = {}
    for number, host in enumerate(lab.hosts):
        units[f"pacemaker-remote/{number}"] = {
            "remote-hostname": json.dumps(host.fqdn),
            "remote-ip": json.dumps(host.ip),
            "stonith-hostname": json.dumps(host.fqdn if enable_stonith else None),
            "enable-resources": json.dumps(enable_resources),
        }
    return units


def crm_configuration(
    remotes: Sequence[Remote],
    maas_url: str,
    maas_credentials: str,
    settings: ClusterSettings,
    members: Sequence[str] = (CONTROL_NAME,),
) -> str:
    """The crm configuration hacluster's leader would create for these remotes."""
    # One atomic `load update`, so there is no window with STONITH on and remotes unplaced
    # (the ordering problem of LP #1884284 cannot arise).
    properties = {
        "no-quorum-policy": settings.no_quorum_policy,
        "cluster-recheck-interval": settings.cluster_recheck_interval,
    }
    lines = [
        f"rsc_defaults rsc-options: resource-stickiness=100 "
        f"failure-timeout={HACLUSTER_FAILURE_TIMEOUT}"
    ]
    agreed = {r.enable_resources for r in remotes}
    if len(agreed) == 1:  # hacluster sets symmetry only when all remotes agree
        properties["symmetric-cluster"] = str(agreed.pop()).lower()
    opt_in = bool(remotes) and all(not r.enable_resources for r in remotes)
    monitor = f"op monitor interval={settings.monitor_interval}"
    if settings.monitor_timeout:
        monitor += f" timeout={settings.monitor_timeout}"
    for remote in remotes:
        lines.append(
            f"primitive {remote.hostname} ocf:pacemaker:remote params "
            f"server={remote.ip} reconnect_interval={settings.reconnect_interval} "
            f"{monitor}"
        )
        if opt_in:
            for number, member in enumerate(members):
                score = 200 if number == 0 else 0  # one member here: it is the preferred one
                lines.append(
                    f"location loc-{remote.hostname}-{member} {remote.hostname} {score}: {member}"
                )
    names = set()
    for remote in remotes:
        if remote.stonith_hostname:
            names.update({remote.stonith_hostname, remote.stonith_hostname.split(".")[0]})
    if names:
        st_op = "op monitor interval=25 start-delay=25 timeout=25"
        lines.append(
            f"primitive st-maas stonith:external/maas params url='{maas_url}' "
            f"apikey='{maas_credentials}' hostnames='{' '.join(sorted(names))}' {st_op}"
        )
        lines.append(
            f"primitive st-null stonith:null params hostlist='{' '.join(members)}' {st_op}"
        )
        if opt_in:
            for member in members:
                lines.append(f"location loc-st-maas-{member} st-maas 0: {member}")
                lines.append(f"location loc-st-null-{member} st-null 0: {member}")
    properties["stonith-enabled"] = "true" if names else "false"
    lines.insert(
        0, "property cib-bootstrap-options: " + " ".join(f"{k}={v}" for k, v in properties.items())
    )
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- control node


def control_command(argv: Sequence[str], env: Mapping[str, str] | None = None) -> list[str]:
    """argv prefixed to run on the control side (root netns, the control mount/UTS ns)."""
    env_args = [f"{k}={v}" for k, v in (env or {}).items()]
    return [
        "nsenter",
        f"--mount={hosts.NS_DIR / 'control.mnt'}",
        f"--uts={hosts.NS_DIR / 'control.uts'}",
        "--wd=/",
        "--",
        "env",
        f"PATH={hosts.SYSTEM_PATH}",
        *env_args,
        *argv,
    ]


def control_run(
    argv: Sequence[str], *, check: bool = True, timeout: float = 60, input: str | None = None
) -> subprocess.CompletedProcess:  # noqa: A002
    try:
        proc = subprocess.run(
            control_command(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            check=False,
        )
    except subprocess.TimeoutExpired as err:
        raise LabError("control", f"{shlex.join(argv)} timed out ({timeout}s)") from err
    if check and proc.returncode != 0:
        raise LabError(
            "control",
            f"{shlex.join(argv)} exited {proc.returncode}",
            (proc.stdout + proc.stderr)[-2000:],
        )
    return proc


def control_log(name: str = "pacemaker") -> Path:
    return CONTROL_DIR / (
        "log-corosync/corosync.log" if name == "corosync" else "log-pacemaker/pacemaker.log"
    )


def ensure_software() -> None:
    """Debian packages, plus pacemaker-remoted from the pacemaker-remote .deb.

    pacemaker and pacemaker-remote conflict in Debian, so the remote daemon is extracted from
    its package and overlaid onto /usr/sbin inside the lab hosts only.
    """
    hosts.ensure_packages(PACKAGES)
    binary = REMOTE_ROOT / REMOTED.lstrip("/")
    if binary.exists():
        return
    download = hosts.STATE / "cache" / "download"
    download.mkdir(parents=True, exist_ok=True)
    version = hosts.sh(["dpkg-query", "-W", "-f=${Version}", "pacemaker"]).strip()
    hosts.sh(["apt-get", "download", f"pacemaker-remote={version}"], cwd=download, timeout=300)
    debs = sorted(download.glob("pacemaker-remote_*.deb"))
    if not debs:
        raise LabError("install", "apt-get download pacemaker-remote produced no .deb")
    shutil.rmtree(REMOTE_ROOT, ignore_errors=True)
    hosts.sh(["dpkg-deb", "-x", str(debs[-1]), str(REMOTE_ROOT)])
    if not binary.exists():
        raise LabError("install", f"{debs[-1].name} has no {REMOTED}")


def _check_root_ipc_free() -> None:
    out = hosts.sh(["ss", "-xlH"])
    if "@cib_rw" in out or "@pacemakerd" in out:
        raise LabError(
            "pacemaker up",
            "a Pacemaker already runs in the root network namespace "
            "(its IPC sockets are taken); stop it first",
        )


def _write_key() -> str:
    if not KEY_FILE.exists():
        fd = os.open(KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(base64.b64encode(os.urandom(4096)).decode())
    return KEY_FILE.read_text().strip()


def _create_control(lab: hosts.Lab, dc_deadtime: str) -> None:
    d = CONTROL_DIR
    dirs = {
        "etc-corosync": "/etc/corosync",
        "etc-pacemaker": "/etc/pacemaker",
        "lib-pacemaker": "/var/lib/pacemaker",
        "lib-corosync": "/var/lib/corosync",
        "log-pacemaker": "/var/log/pacemaker",
        "log-corosync": "/var/log/corosync",
        "stonith-external": "/usr/lib/stonith/plugins/external",
    }
    for sub in dirs:
        (d / sub).mkdir(parents=True, exist_ok=True)
    for sub in ("cib", "pengine", "blackbox", "cores"):
        (d / "lib-pacemaker" / sub).mkdir(exist_ok=True)
    hosts.sh(["cp", "-a", "/usr/lib/stonith/plugins/external/.", str(d / "stonith-external")])
    stonith.install_plugin(d / "stonith-external")
    (d / "etc-corosync" / "corosync.conf").write_text(_corosync_conf(lab))
    (d / "lib-pacemaker" / "cib" / "cib.xml").write_text(_seed_cib(dc_deadtime))
    os.chmod(d / "lib-pacemaker" / "cib" / "cib.xml", 0o600)
    key = base64.b64decode(_write_key())
    authkey = d / "etc-pacemaker" / "authkey"
    fd = os.open(authkey, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o440)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    hosts.sh(
        ["chown", "-R", "hacluster:haclient", str(d / "lib-pacemaker"), str(d / "log-pacemaker")]
    )
    hosts.sh(["chown", "root:haclient", str(authkey), str(d / "etc-pacemaker")])
    os.chmod(d / "etc-pacemaker", 0o750)  # noqa: S103 - as hacluster: root:haclient
    # Pacemaker logs CIB changes, st-maas's apikey included (as it does under hacluster).
    os.chmod(d / "log-pacemaker", 0o750)  # noqa: S103
    binds = "\n".join(f"mount --bind {d / sub} {target}" for sub, target in dirs.items())
    script = (
        binds + "\n"
        "mount -t tmpfs -o mode=0755,size=64m tmpfs /run\n"
        "mount -t tmpfs -o mode=1777,size=256m tmpfs /tmp\n"
        "mount -t tmpfs -o mode=1777,size=256m tmpfs /dev/shm\n"
        "mkdir -p /run/crm /run/lock && chown hacluster:haclient /run/crm && chmod 750 /run/crm\n"
    )
    hosts.make_namespaces("control", CONTROL_NAME, script)


def _corosync_conf(lab: hosts.Lab) -> str:
    # Braces on their own lines: corosync's parser rejects `node { ... }` on one line.
    return f"""totem {{
  version: 2
  cluster_name: masakari-lab
  transport: knet
  token: 3000
  crypto_cipher: none
  crypto_hash: none
}}
nodelist {{
  node {{
    ring0_addr: {lab.control_ip}
    name: {CONTROL_NAME}
    nodeid: 1
  }}
}}
quorum {{
  provider: corosync_votequorum
}}
logging {{
  to_logfile: yes
  logfile: /var/log/corosync/corosync.log
  to_syslog: no
  to_stderr: no
  timestamp: hires
}}
"""


def _seed_cib(dc_deadtime: str) -> str:
    # Without this the first DC election waits the 20 s default dc-deadtime.
    return f"""<cib validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0">
  <configuration>
    <crm_config>
      <cluster_property_set id="cib-bootstrap-options">
        <nvpair id="cib-bootstrap-options-dc-deadtime" name="dc-deadtime" value="{dc_deadtime}"/>
      </cluster_property_set>
    </crm_config>
    <nodes/><resources/><constraints/>
  </configuration>
  <status/>
</cib>
"""


def _start_control_daemon(name: str, argv: Sequence[str]) -> int:
    env = {"PATH": hosts.SYSTEM_PATH, "LANG": "C.UTF-8"}
    return hosts.spawn_detached(
        control_command(argv, PCMK_ENV),
        CONTROL_DIR / f"{name}.pid",
        CONTROL_DIR / f"{name}.out",
        env,
    )


def control_pids() -> list[int]:
    return hosts.pids_in_namespace("mnt", hosts.NS_DIR / "control.mnt")


# --------------------------------------------------------------------------- remotes


def install_remote_authkey(host: hosts.Host, key_b64: str) -> None:
    """Write /etc/pacemaker/authkey on a lab host: the pacemaker-remote charm's job.

    Stand-in until the charm's handler runs in the lab; the integration replaces this call with
    the charm reading `pacemaker-key` from hacluster's relation data (`hacluster_sends()`).
    """
    hosts.write_file(
        host,
        "/etc/pacemaker/authkey",
        base64.b64decode(key_b64),
        mode=0o440,
        owner="root",
        group="haclient",
    )


def hacluster_sends() -> dict[str, str]:
    """What each hacluster unit sends on the pacemaker-remote relation: the raw base64 key."""
    return {"pacemaker-key": _write_key()}


def start_remote(host: hosts.Host) -> int:
    """Start pacemaker_remoted on a host as a boot service (as the distro unit would)."""
    if hosts.run(host, ["test", "-x", REMOTED], check=False).returncode != 0:
        hosts.run(
            host,
            [
                "mount",
                "-t",
                "overlay",
                "overlay",
                "-o",
                f"lowerdir={REMOTE_ROOT}/usr/sbin:/usr/sbin",
                "/usr/sbin",
            ],
        )
    return hosts.start_daemon(host, REMOTE_SERVICE, [REMOTED], env=PCMK_ENV)


def remote_log_tail(host: hosts.Host, lines: int = 20) -> str:
    log = host.dir / "log" / "upper" / "pacemaker" / "pacemaker.log"
    return hosts.tail(log, lines) + "\n" + hosts.tail(hosts.daemon_log(host, REMOTE_SERVICE), 5)


# --------------------------------------------------------------------------- status


def crm_mon_xml(timeout: float = 10) -> str:
    proc = control_run(["crm_mon", "-1", "-X"], check=False, timeout=timeout)
    return proc.stdout


def node_states(xml_text: str | None = None) -> dict[str, dict[str, str]]:
    """Node name -> attributes of its <node> element in `crm_mon -X`."""
    text = xml_text if xml_text is not None else crm_mon_xml()
    try:
        root = ET.fromstring(text)  # noqa: S314 - our own crm_mon's output
    except ET.ParseError:
        return {}
    nodes = root.find("nodes")
    if nodes is None:
        return {}
    return {n.get("name"): dict(n.attrib) for n in nodes.iter("node") if n.get("name")}


def has_dc(xml_text: str) -> bool:
    try:
        dc = ET.fromstring(xml_text).find("summary/current_dc")  # noqa: S314
    except ET.ParseError:
        return False
    return dc is not None and dc.get("present") == "true"


def fence_history_xml(node: str) -> str:
    """All fencing actions against `node`, newest first (without --verbose, stonith_admin
    shows only the latest completed one)."""
    return control_run(
        ["stonith_admin", "--history", node, "--verbose", "--output-as=xml"],
        check=False,
        timeout=20,
    ).stdout


# --------------------------------------------------------------------------- failover watch

RECORD_DIR = hosts.RUN / "recorded"
_LOG_TIME = re.compile(r"^(\w{3} +\d+ \d\d:\d\d:\d\d\.\d{3}) ")


def _utc(epoch: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)


def _log_epoch(line: str) -> float | None:
    match = _LOG_TIME.match(line)
    if not match:
        return None
    stamp = time.strptime(f"{time.gmtime().tm_year} {match.group(1)}", "%Y %b %d %H:%M:%S.%f")
    return time.mktime(stamp) + float("0." + match.group(1).rsplit(".", 1)[1])


def log_lines_since(path: Path, offset: int) -> list[str]:
    try:
        with open(path, errors="replace") as f:
            f.seek(offset)
            return f.read().splitlines()
    except OSError:
        return []


def record(name: str, text: str) -> Path:
    RECORD_DIR.mkdir(parents=True, exist_ok=True)
    path = RECORD_DIR / f"{name}.xml"
    path.write_text(text)
    return path


def connection_timing(node: str):
    """The monitor/start ops of `node`'s connection primitive as the CIB has them now (after
    any pacemaker-remote charm tuning): charm_common.pacemaker.ConnectionTiming, or None."""
    import sys

    from . import settings

    if str(settings.REPO / "lib") not in sys.path:
        sys.path.append(str(settings.REPO / "lib"))
    from charm_common import pacemaker as charm_pacemaker  # the charms' own parser

    proc = control_run(
        ["cibadmin", "--query", "--xpath", f"//primitive[@id='{node}']"], check=False, timeout=30
    )
    return charm_pacemaker.parse_connection_timing(proc.stdout, node) if proc.stdout else None


def detection_seconds(node: str) -> float:
    """How long the cluster takes at most to notice `node` silent: its connection monitor's
    interval + timeout as the CIB has them (hacluster's 30 s and Pacemaker's 20 s when unset)."""
    timing = connection_timing(node)
    return float(
        ((timing and timing.monitor_interval) or 30) + ((timing and timing.monitor_timeout) or 20)
    )


def crm_mon_from_host(host: hosts.Host) -> str:
    """`crm_mon -X` as masakari-hostmonitor runs it on a compute host (remoted's IPC proxy)."""
    return hosts.run(host, ["crm_mon", "-X"], check=False, timeout=30).stdout


def fail_and_watch(
    host: hosts.Host,
    scenario: str,
    inject=hosts.link_down,
    fence_timeout: float = 120,
    rejoin_timeout: float = 150,
    rejoin: bool = True,
    stop_at_failed_fence: bool = False,
) -> Timeline:
    """Inject a failure into `host`, follow detection, fencing and (optionally) the rejoin.

    Raises LabError naming the step that did not happen, with that daemon's last log lines;
    with `stop_at_failed_fence`, as soon as the fence history shows a failed attempt (a
    scenario that makes fencing fail: no need to wait out `fence_timeout`).
    """
    # The shared suite's timeline; imported here: tox's unit env imports this module without
    # the repository on sys.path.
    from tests.functional.scenarios import Timeline

    wait_idle()
    lab = hosts.load()
    observer = next(h for h in lab.hosts if h != host)
    log = control_log()
    plugin_log = CONTROL_DIR / "log-pacemaker" / "external-maas.log"
    offset = log.stat().st_size
    timeline = Timeline(f"{scenario} on {host.fqdn}", _utc(time.time()))
    inject(host)
    timeline.add(_utc(time.time()), f"{inject.__name__} ({host.short})")
    seen_unclean = failing_recorded = False
    polls = 0
    node: dict[str, str] = {}

    def fenced() -> bool:
        nonlocal seen_unclean, failing_recorded, polls, node
        polls += 1
        text = crm_mon_xml()
        node = node_states(text).get(host.fqdn, {})
        now = _utc(time.time())
        if node.get("online") == "false" and timeline.first("offline") is None:
            timeline.add(now, f"offline in crm_mon (unclean={node.get('unclean')})")
            record(f"crm_mon-{scenario}-offline-unclean", text)
            record(
                f"crm_mon-{scenario}-offline-unclean-seen-from-{observer.short}",
                crm_mon_from_host(observer),
            )
        if node.get("unclean") == "true" and node.get("online") == "false":
            seen_unclean = True
        if seen_unclean and not failing_recorded and polls % 8 == 0:
            # Pacemaker drops failed attempts from the history once a fence succeeds: keep
            # one snapshot taken while they are there.
            history = fence_history_xml(host.fqdn)
            if 'status="failed"' in history:
                record(f"fence-history-{scenario}-while-failing", history)
                record(f"crm_mon-{scenario}-fence-failing", crm_mon_xml())
                failing_recorded = True
                if stop_at_failed_fence:
                    return True
        if seen_unclean and node.get("unclean") == "false":
            timeline.add(now, "fenced in crm_mon (online=false unclean=false)")
            record(f"crm_mon-{scenario}-fenced", text)
            return True
        return False

    def not_fenced(what: str, message: str = "", details: str = "") -> LabError:
        _add_log_marks(timeline, offset, host)
        fence_lines = [
            line
            for line in log_lines_since(log, offset)
            if "pacemaker-fenced" in line and "notice" in line
        ]
        return LabError(
            what,
            f"not fenced{' (a fence attempt failed)' if failing_recorded else ''} within "
            f"{fence_timeout:.0f}s (crm_mon: online="
            f"{node.get('online')} unclean={node.get('unclean')})\n" + timeline.render(),
            "[external/maas]\n"
            + hosts.tail(plugin_log, 6)
            + "\n[pacemaker-fenced]\n"
            + "\n".join(fence_lines[-6:]),
        )

    procs.wait_for(
        f"fence {host.fqdn}",
        fenced,
        timeout=fence_timeout,
        interval=0.25,
        ignore=(),
        error=not_fenced,
    )
    if stop_at_failed_fence and failing_recorded and node.get("unclean") != "false":
        raise not_fenced(f"fence {host.fqdn}")
    _add_log_marks(timeline, offset, host)
    record(f"fence-history-{scenario}", fence_history_xml(host.fqdn))
    if rejoin:
        wait_rejoin(host, timeline, rejoin_timeout)
    return timeline


def _add_log_marks(timeline: Timeline, offset: int, host: hosts.Host) -> None:
    for when, what in failure_marks(host, timeline.t0.timestamp(), offset):
        timeline.add(_utc(when), what)


def failure_marks(host: hosts.Host, since: float, offset: int = 0) -> list[tuple[float, str]]:
    """What the controller's log (from byte `offset`) and the MAAS emulator recorded about
    `host` since `since` (epoch seconds): connection lost, fence requested/confirmed/failed,
    power off/on."""
    patterns = [
        (
            re.compile(rf"Lost connection to Pacemaker Remote node {re.escape(host.fqdn)}"),
            "connection lost (controller log)",
        ),
        (
            re.compile(rf"Requesting fencing \((\w+)\) of node {re.escape(host.fqdn)}"),
            "fence requested ({0})",
        ),
        (
            re.compile(rf"Operation '(\w+)' targeting {re.escape(host.fqdn)} .*: OK"),
            "fence confirmed by fencer ({0})",
        ),
        (
            re.compile(
                rf"Operation '(\w+)' \[\d+\] targeting {re.escape(host.fqdn)} .*returned "
                r"([1-9]\d*)"
            ),
            "fence attempt failed ({0}, rc={1})",
        ),
    ]
    marks = []
    for line in log_lines_since(control_log(), offset):
        for pattern, label in patterns:
            match = pattern.search(line)
            when = _log_epoch(line)
            if match and when and when >= since:
                marks.append((when, label.format(*match.groups())))
    for event in maas_emulator.events(since):
        if event.get("machine") == host.short:
            marks.append((event["t"], f"MAAS {event['event']}"))
    return marks


def wait_rejoin(host: hosts.Host, timeline: Timeline | None = None, timeout: float = 150) -> None:
    """Wait for the host to be powered on again, clean up its failure, wait until online.

    Online means the cluster sees the node online and clean, and `crm_mon` on the node itself
    answers through pacemaker_remoted (what the monitors on the host rely on). Raises LabError
    after `timeout` seconds per stage.
    """
    procs.wait_for(
        f"power on {host.fqdn}",
        lambda: hosts.power_state(host) == "on" and hosts.daemon_pid(host, REMOTE_SERVICE),
        timeout=timeout,
        interval=0.5,
        ignore=(),
        details=lambda: "[MAAS emulator]\n" + hosts.tail(maas_emulator.EVENTS_FILE, 8),
        error=LabError,
    )
    # As an operator (and hacluster after creating a remote) does: forget the failed monitor.
    control_run(["crm_resource", "--cleanup", "--resource", host.fqdn], timeout=60)
    if timeline:
        timeline.add(_utc(time.time()), "crm_resource --cleanup")

    def online() -> bool:
        node = node_states().get(host.fqdn, {})
        if node.get("online") != "true" or node.get("unclean") != "false":
            return False
        # The cluster marks the node online a moment before pacemaker_remoted's IPC proxy
        # connects; until then crm_mon on the node (masakari-hostmonitor, the monitors charm's
        # actions) fails with "Could not connect to the CIB". Rejoined means both views work.
        seen = node_states(crm_mon_from_host(host)).get(host.fqdn, {})
        return seen.get("online") == "true"

    procs.wait_for(
        f"rejoin {host.fqdn}",
        online,
        timeout=timeout,
        interval=0.5,
        ignore=(),
        details=lambda: (
            f"[{host.fqdn} pacemaker_remote]\n"
            + remote_log_tail(host, 12)
            + "\n[control]\n"
            + hosts.tail(control_log(), 8)
        ),
        error=LabError,
    )
    if timeline:
        timeline.add(
            _utc(time.time()), "rejoined (online=true unclean=false, crm_mon on the node answers)"
        )


def restore_hosts(timeout: float = 150) -> list[str]:
    """Bring back every hypervisor an earlier scenario left failed, so that one scenario that
    stopped midway cannot fail the next: the MAAS emulator's faults cleared, a pending fence
    let finish (Pacemaker retries it once MAAS answers), powered on, link up, cleaned up and
    online (`wait_rejoin`).

    Returns the names of the hosts it restored ([] when all were healthy). Raises LabError
    after `timeout` seconds per stage.
    """
    lab = hosts.load()
    maas_emulator.set_faults(
        power_off_latency=maas_emulator.DEFAULT_POWER_OFF_LATENCY,
        boot_delay=0,
        unavailable_for=0,
        conflict_for=0,
        unavailable_from_next_power_action_for=0,
        broken=[],
    )
    states = node_states()
    restored = []
    for host in lab.hosts:
        node = states.get(host.fqdn, {})
        if (
            node.get("online") == "true"
            and node.get("unclean") == "false"
            and hosts.power_state(host) == "on"
            and hosts.link_is_up(host)
        ):
            continue
        restored.append(host.fqdn)
        if node.get("unclean") == "true":
            procs.wait_for(
                f"fence {host.fqdn}",
                lambda host=host: node_states().get(host.fqdn, {}).get("unclean") == "false",
                timeout=timeout,
                interval=0.5,
                ignore=(),
                details=lambda: "[control]\n" + hosts.tail(control_log(), 8),
                error=LabError,
            )
        if hosts.power_state(host) == "on" and hosts.processes(host):
            hosts.link_up(host)
        else:
            hosts.power_on(host)
        wait_rejoin(host, timeout=timeout)
    return restored


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used (/proc/<pid>/stat); OSError if gone."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def resource_usage() -> dict[str, float]:
    """RSS/PSS (MiB) and CPU seconds of every lab process (control, hosts, emulator)."""
    lab = hosts.load()
    pids = set(control_pids())
    for host in lab.hosts:
        pids.update(hosts.processes(host))
    emulator = maas_emulator.DIR / "emulator.pid"
    if emulator.exists():
        pids.add(int(emulator.read_text()))
    rss = pss = cpu = 0.0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1]) / 1024
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1]) / 1024
            cpu += cpu_seconds(pid)
        except (OSError, IndexError, ValueError):
            continue
    return {"processes": len(pids), "rss_mib": rss, "pss_mib": pss, "cpu_seconds": cpu}


# --------------------------------------------------------------------------- up / down


def up(
    deploy_remotes: Callable[[], Mapping[str, Mapping[str, str]]] | None = None,
    settings: ClusterSettings | None = None,
    dc_deadtime: str = "5s",
    maas_latency: float = maas_emulator.DEFAULT_POWER_OFF_LATENCY,
    timeout: float = 120,
) -> dict[str, float]:
    """Bring up control side, MAAS emulator and remotes; configure as hacluster would.

    deploy_remotes: runs the pacemaker-remote charm on every host (it writes hacluster's key
    and starts pacemaker_remoted) and returns what its units publish; without it the lab's
    stand-in does the charm's part. The lab hosts must be up (`hosts.up()`). Returns the
    seconds each phase took.
    """
    settings = settings or ClusterSettings()
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    ensure_software()
    timings["software"] = time.monotonic() - t0
    lab = hosts.load()
    if control_pids():
        raise LabError("pacemaker up", "the control side is already up; run `down` first")
    _check_root_ipc_free()
    _create_control(lab, dc_deadtime)
    credentials = maas_emulator.start(lab, power_off_latency=maas_latency)
    _start_control_daemon("corosync", ["corosync", "-f"])
    procs.wait_for(
        "corosync start",
        lambda: control_run(["corosync-cfgtool", "-s"], check=False).returncode == 0,
        timeout=30,
        interval=0.2,
        ignore=(),
        details=lambda: hosts.tail(control_log("corosync")),
        error=LabError,
    )
    _start_control_daemon("pacemakerd", ["pacemakerd"])
    if deploy_remotes is None:
        units = stand_in_remote_unit_data(lab)
        for host in lab.hosts:
            install_remote_authkey(host, hacluster_sends()["pacemaker-key"])
            start_remote(host)
    else:
        units = deploy_remotes()
    remotes = parse_remote_units(units)
    for remote in remotes:
        host = lab.host(remote.hostname)  # the lab can only host its own machines
        if host.ip != remote.ip:
            raise LabError(
                "relation data",
                f"{remote.unit}: remote-ip {remote.ip} is not {host.fqdn}'s lab address {host.ip}",
            )
    procs.wait_for(
        "DC election",
        lambda: has_dc(crm_mon_xml()),
        timeout=timeout,
        interval=0.5,
        ignore=(),
        details=lambda: hosts.tail(control_log()),
        error=LabError,
    )
    timings["dc"] = time.monotonic() - t0
    configure_from_relations(units, credentials, settings)
    names = [r.hostname for r in remotes]

    wait_idle(names, timeout, require_idle=False)
    timings["total"] = time.monotonic() - t0
    return timings


def wait_idle(
    names: Sequence[str] | None = None, timeout: float = 90, require_idle: bool = True
) -> None:
    """Wait until the remotes are online and clean and (require_idle) the controller is idle.

    Call it before injecting a failure: while a transition runs (for the first 25 s after
    `up`, the STONITH monitors' start-delay), a fence request waits for that transition.
    """
    lab = hosts.load()
    names = list(names) if names is not None else [h.fqdn for h in lab.hosts]

    def idle() -> bool:
        text = crm_mon_xml()
        states = node_states(text)
        if not all(
            states.get(n, {}).get("online") == "true"
            and states.get(n, {}).get("unclean") == "false"
            for n in names
        ):
            return False
        if not require_idle:
            return True
        if re.search(r'pending="(?!false")', text):  # an operation (a monitor's start-delay)
            return False
        state = control_run(["crmadmin", "-q", "-S", CONTROL_NAME], check=False, timeout=10)
        return state.stdout.strip() == "S_IDLE"

    procs.wait_for(
        "remote nodes online and cluster idle",
        idle,
        timeout=timeout,
        interval=0.5,
        ignore=(),
        details=lambda: (
            "\n".join(f"[{n}]\n{remote_log_tail(lab.host(n), 8)}" for n in names)
            + "\n[control]\n"
            + hosts.tail(control_log(), 15)
        ),
        error=LabError,
    )


def configure_from_relations(
    units: Mapping[str, Mapping[str, str]],
    maas_credentials: str,
    settings: ClusterSettings | None = None,
) -> str:
    """Act as the hacluster leader on pacemaker-remote relation data; returns the crm text."""
    lab = hosts.load()
    settings = settings or ClusterSettings()
    text = crm_configuration(
        parse_remote_units(units), maas_emulator.url(lab), maas_credentials, settings
    )
    (CONTROL_DIR / "relation-units.json").write_text(json.dumps(units))
    fd = os.open(CONTROL_DIR / "hacluster.crm", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    control_run(
        ["crm", "configure", "load", "update", str(CONTROL_DIR / "hacluster.crm")], timeout=120
    )
    return text


def reconfigure(settings: ClusterSettings) -> None:
    """hacluster's config changed: the same remotes, other cluster settings."""
    units = json.loads((CONTROL_DIR / "relation-units.json").read_text())
    configure_from_relations(units, maas_emulator.credentials(), settings)
    wait_idle(timeout=120)


def down() -> list[str]:
    """Stop pacemaker, remotes, corosync and the emulator, then the hosts. Safe to repeat."""
    notes: list[str] = []
    pidfile = CONTROL_DIR / "pacemakerd.pid"
    pacemakerd = int(pidfile.read_text()) if pidfile.exists() else None
    if pacemakerd in control_pids():  # only while that pid is still ours (no recycled pid)
        # pacemakerd stops its children and the remote connections in order.
        hosts.kill_all([pacemakerd], signal.SIGTERM)
        if hosts.wait_until_dead(
            lambda: [p for p in control_pids() if "corosync" not in _comm(p)], 40
        ):
            notes.append("pacemaker did not stop in 40 s")
    maas_emulator.stop()
    left = control_pids()
    hosts.kill_all(left, signal.SIGTERM)
    left = hosts.wait_until_dead(control_pids, 15)
    if left:
        notes.append(f"control: SIGKILL {left}")
        hosts.kill_all(left)
        hosts.wait_until_dead(control_pids, 5)
    for suffix in ("mnt", "uts"):
        ns_file = hosts.NS_DIR / f"control.{suffix}"
        if ns_file.exists():
            subprocess.run(["umount", str(ns_file)], capture_output=True, check=False)
    notes += hosts.down()
    hosts.release_ns_dir()
    return notes


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def status() -> str:
    lab = hosts.load()
    lines = [f"subnet {lab.subnet}, control {CONTROL_NAME} at {lab.control_ip}"]
    states = node_states()
    for host in lab.hosts:
        node = states.get(host.fqdn, {})
        lines.append(
            f"{host.fqdn:22} {host.ip:15} power={hosts.power_state(host):4} "
            f"online={node.get('online', '?')} unclean={node.get('unclean', '?')} "
            f"processes={len(hosts.processes(host))}"
        )
    return "\n".join(lines)
