"""`python -m tests.lab soak`: a sick but living hypervisor must not be fenced.

For `minutes`, one hypervisor runs under CPU and memory pressure (stress-ng inside it) while
its link loses a growing share of packets in both directions (5 %, 10 %, then 20 % of the
time each). This machine's kernel has no queueing disciplines (`tc netem` is unavailable:
no CONFIG_NET_SCHED), so loss is made with nftables (`numgen random`), and the delay and
jitter are TCP's own: every lost segment of the Pacemaker remote connection is resent after
a retransmission timeout of 200 ms or more, doubling on each loss in a row.

It samples every second what the cluster sees: how long a request over the node's connection
takes (`crm_mon` on the node goes through pacemaker_remoted and that same TLS connection to the
cluster, as the connection monitor's poke does; the monitor itself runs inside the
controller, which records no execution time for it), any failed monitor in the CIB's status
section, the connection's TCP round-trip time and retransmissions from `ss`, the node's state
and the fence history. It prints the margins against the connection monitor timeout the
pacemaker-remote charm set, and fails (exit 1) if the node was fenced or seen offline.
"""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET  # noqa: N817 - the usual name
from dataclasses import dataclass

from . import hosts, pacemaker, settings
from .hosts import LabError

HOST = settings.FAILED_HOST
LOSS_STEPS = (5, 10, 20)  # percent of packets dropped, each direction, one phase each
STRESS = "soak-stress"
TABLE = "masakari_lab_soak"
_RTT = re.compile(r"\brtt:([\d.]+)/([\d.]+)")
_RETRANS = re.compile(r"\bretrans:\d+/(\d+)")


@dataclass
class Margins:
    """What one phase of the soak saw; times in milliseconds."""

    loss: int
    samples: int = 0
    max_request_ms: int = 0
    failed_monitors: int = 0
    max_rtt_ms: float = 0.0
    retransmissions: int = 0
    offline_samples: int = 0
    fences: int = 0


def _set_loss(host: hosts.Host, percent: int) -> None:
    """Drop `percent` % of the host's packets in and out (nftables in its network namespace)."""
    rules = f"""
table inet {TABLE} {{
  chain input {{ type filter hook input priority 0; numgen random mod 100 < {percent} drop; }}
  chain output {{ type filter hook output priority 0; numgen random mod 100 < {percent} drop; }}
}}
"""
    _clear_loss(host)
    hosts.run(host, ["nft", "-f", "-"], input=rules, ns=[f"--net=/run/netns/{host.netns}"])


def _clear_loss(host: hosts.Host) -> None:
    hosts.run(
        host,
        ["nft", "delete", "table", "inet", TABLE],
        check=False,
        ns=[f"--net=/run/netns/{host.netns}"],
    )


def _monitor_ops(status_xml: str, node: str) -> list[ET.Element]:
    """The connection resource's monitor records (`lrm_rsc_op`) in the CIB's status section."""
    try:
        root = ET.fromstring(status_xml)  # noqa: S314 - our own cluster's CIB
    except ET.ParseError:
        return []
    return [
        op
        for resource in root.iter("lrm_resource")
        if resource.get("id") == node
        for op in resource.iter("lrm_rsc_op")
        if op.get("operation") == "monitor"
    ]


def _tcp(ip: str) -> tuple[float, int]:
    """Round-trip time (ms) and retransmissions of the cluster's connection to ip:3121."""
    out = hosts.sh(["ss", "-tin", "dst", f"{ip}:3121"], check=False)
    rtt = max((float(m.group(1)) for m in _RTT.finditer(out)), default=0.0)
    retrans = sum(int(m.group(1)) for m in _RETRANS.finditer(out))
    return rtt, retrans


def _fences(node: str) -> int:
    return pacemaker.fence_history_xml(node).count("<fence_event")


def _sample(host: hosts.Host, margins: Margins, seen_failures: set[str]) -> None:
    status = pacemaker.control_run(
        ["cibadmin", "--query", "--scope", "status"], check=False, timeout=20
    ).stdout
    for op in _monitor_ops(status, host.fqdn):
        if op.get("id", "").endswith("_last_failure_0"):
            key = op.get("last-rc-change", "") + op.get("exit-reason", "")
            if key not in seen_failures:
                seen_failures.add(key)
                margins.failed_monitors += 1
    t = time.monotonic()
    hosts.run(host, ["crm_mon", "--output-as=xml"], check=False, timeout=30)
    margins.max_request_ms = max(margins.max_request_ms, int(1000 * (time.monotonic() - t)))
    rtt, _ = _tcp(host.ip)
    margins.max_rtt_ms = max(margins.max_rtt_ms, rtt)
    node = pacemaker.node_states().get(host.fqdn, {})
    margins.offline_samples += node.get("online") != "true"
    margins.samples += 1


def run(minutes: float = 10.0, steps: tuple[int, ...] = LOSS_STEPS) -> list[Margins]:
    """Soak `HOST` for `minutes` (split evenly over `steps`); print and return the margins.

    Raises LabError if the node was fenced or seen offline during the soak.
    """
    lab = hosts.load()
    host = lab.host(HOST)
    hosts.ensure_packages(["stress-ng", "nftables"])
    timing = pacemaker.connection_timing(host.fqdn)
    if timing is None:
        raise LabError(f"no connection resource for {host.fqdn}: is the lab up?")
    timeout_ms = 1000 * (timing.monitor_timeout or 20)
    print(
        f"soak of {host.fqdn} for {minutes:g} min; its connection: monitor every "
        f"{timing.monitor_interval} s, timeout {timing.monitor_timeout or 20} s",
        flush=True,
    )
    seconds = 60 * minutes / len(steps)
    hosts.start_daemon(
        host,
        STRESS,
        [
            "stress-ng", "--cpu", "2", "--cpu-load", "90", "--vm", "1", "--vm-bytes", "1G",
            "--timeout", f"{int(60 * minutes) + 30}s",
        ],
        boot=False,
    )  # fmt: skip
    fences_before = _fences(host.fqdn)
    _, retrans_before = _tcp(host.ip)
    phases: list[Margins] = []
    seen_failures: set[str] = set()
    try:
        for percent in steps:
            margins = Margins(loss=percent)
            phases.append(margins)
            _set_loss(host, percent)
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                _sample(host, margins, seen_failures)
                time.sleep(1)
            _, retrans = _tcp(host.ip)
            # A new connection (after a fence) counts from zero again.
            margins.retransmissions = (
                retrans - retrans_before if retrans >= retrans_before else retrans
            )
            retrans_before = retrans
            margins.fences = _fences(host.fqdn) - fences_before
            print(
                f"loss {percent:2d} %: {margins.samples} samples, request over the connection "
                f"max {margins.max_request_ms} ms of {timeout_ms} ms, failed monitors "
                f"{margins.failed_monitors}, max TCP rtt {margins.max_rtt_ms:.0f} ms, "
                f"{margins.retransmissions} retransmissions, offline samples "
                f"{margins.offline_samples}, fences {margins.fences}",
                flush=True,
            )
    finally:
        _clear_loss(host)
        hosts.stop_daemon(host, STRESS)
    print(f"\nsoak of {host.fqdn}: margins against the {timeout_ms} ms monitor timeout")
    print(
        f"{'loss %':>6} {'request max (ms)':>16} {'margin (ms)':>11} {'failed':>6} "
        f"{'TCP rtt max (ms)':>16} {'retrans':>7} {'offline':>7} {'fenced':>6}"
    )
    for m in phases:
        print(
            f"{m.loss:6d} {m.max_request_ms:16d} {timeout_ms - m.max_request_ms:11d} "
            f"{m.failed_monitors:6d} {m.max_rtt_ms:16.0f} {m.retransmissions:7d} "
            f"{m.offline_samples:7d} {m.fences:6d}"
        )
    if any(m.fences or m.offline_samples for m in phases):
        raise LabError("soak", f"{host.fqdn} was fenced or seen offline (table above)")
    return phases
