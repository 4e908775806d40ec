"""Fencing in the lab: link down on a hypervisor -> Pacemaker -> STONITH -> MAAS power-off.

Runs on the whole lab (`python -m tests.lab test`): the hypervisors' pacemaker_remoted was set
up by the pacemaker-remote charm, the cluster configured from what that charm publishes. Hosts
are failed as the Charmed OpenStack guide does, printing a timeline per failure.
MASAKARI_LAB_RECORD=1 copies the crm_mon / fence-history XML recorded during the run into
tests/lab/recorded/.
"""

from __future__ import annotations

import datetime
import os
import shutil
import time
from pathlib import Path

import pytest

from tests.functional.cloud import FenceEvent, parse_fence_history
from tests.functional.scenarios import Timeline

from .. import hosts, maas_emulator, pacemaker, procs
from ..hosts import LabError

RECORDED = Path(__file__).parents[1] / "recorded"


# --------------------------------------------------------------------------- the lab


@pytest.fixture(scope="module")
def lab(admin):
    """The whole lab (brought up by the `admin` fixture), idle, every remote node online."""
    created = hosts.load()
    pacemaker.restore_hosts()  # an earlier scenario that stopped midway
    pacemaker.wait_idle([h.fqdn for h in created.hosts], 120)
    pacemaker.record("crm_mon-all-online", pacemaker.crm_mon_xml())
    pacemaker.record(
        f"crm_mon-all-online-seen-from-{created.hosts[1].short}",
        pacemaker.crm_mon_from_host(created.hosts[1]),
    )
    before = pacemaker.resource_usage()
    time.sleep(10)
    after = pacemaker.resource_usage()
    print(
        f"\nPacemaker side idle: {after['processes']} processes, RSS {after['rss_mib']:.0f} MiB, "
        f"PSS {after['pss_mib']:.0f} MiB, CPU "
        f"{100 * (after['cpu_seconds'] - before['cpu_seconds']) / 10:.1f}% of one core"
    )
    yield created
    if os.environ.get("MASAKARI_LAB_RECORD") == "1":
        RECORDED.mkdir(exist_ok=True)
        for path in pacemaker.RECORD_DIR.glob("*.xml"):
            shutil.copy(path, RECORDED / path.name)


def check_fence_order(timeline: Timeline, latency: float) -> None:
    """Offline/unclean, fence requested, powered off, and only then fence confirmed."""
    print("\n" + timeline.render())
    injected = timeline.marks[0][0]
    offline = timeline.first("offline in crm_mon (unclean=true)")
    requested = timeline.first("fence requested")
    power_off_requested = timeline.first("MAAS power_off_requested")
    powered_off = timeline.first("MAAS powered_off")
    confirmed = timeline.first("fence confirmed by fencer")
    fenced = timeline.first("fenced in crm_mon")
    assert None not in (offline, requested, power_off_requested, powered_off, confirmed, fenced), (
        timeline.render()
    )
    assert injected < offline <= fenced
    assert injected < requested <= power_off_requested
    # the BMC's delay was honoured
    assert (powered_off - power_off_requested).total_seconds() >= latency - 0.1
    # never confirmed before the power is off
    assert powered_off < confirmed <= fenced + datetime.timedelta(seconds=0.3)
    assert timeline.first("MAAS powered_on") > powered_off
    assert timeline.first("rejoined") > fenced


def fence_events(name: str, since: float) -> list[FenceEvent]:
    """The recorded history's events of this failure (newest first): the lab's hypervisors
    were fenced by earlier scenarios too. Pacemaker gives whole seconds; pending ones have none."""
    text = (pacemaker.RECORD_DIR / f"fence-history-{name}.xml").read_text()
    return [
        e
        for e in parse_fence_history(text)
        if e.completed is None or e.completed.timestamp() >= int(since)
    ]


def test_lab_hosts_are_namespaced_and_named(lab):
    for host in lab.hosts:
        out = hosts.run(
            host,
            [
                "sh",
                "-c",
                "hostname; python3 -c 'import socket; print(socket.getfqdn())'; ip -4 -o route",
            ],
        ).stdout
        name, fqdn, *routes = out.splitlines()
        assert name == fqdn == host.fqdn
        assert len(routes) == 1 and routes[0].startswith(f"{lab.subnet} dev eth0")  # no exit
        assert hosts.run(host, ["test", "-s", "/etc/pacemaker/authkey"]).returncode == 0
        assert hosts.run(
            host, ["stat", "-c", "%a %U %G", "/etc/pacemaker/authkey"]
        ).stdout.split() == ["640", "hacluster", "haclient"]  # the pacemaker-remote charm
    # The authkey went into the host's own /etc, not the machine's.
    assert (
        not Path("/etc/pacemaker/authkey").exists()
        or Path("/etc/pacemaker/authkey").read_bytes()
        != (hosts.RUN / "control/etc-pacemaker/authkey").read_bytes()
    )

    # What masakari-hostmonitor runs on a compute host: rc 0, nothing on stderr, all remotes.
    # (Right after a remote (re)connects, crm_mon may say "Could not connect to the CIB" with
    # rc 0 for a moment; the steady state must be clean.)
    def clean_answer():
        seen = hosts.run(lab.hosts[0], ["crm_mon", "-X"], check=False)
        return seen if (seen.returncode, seen.stderr) == (0, "") else None

    seen = procs.wait_for(
        "a clean crm_mon -X on a hypervisor",
        clean_answer,
        timeout=15,
        interval=0.5,
        ignore=(),
        error=LabError,
    )
    states = pacemaker.node_states(seen.stdout)
    assert all(
        states[h.fqdn]["type"] == "remote" and states[h.fqdn]["online"] == "true"
        for h in lab.hosts
    )
    listening = hosts.sh(["ss", "-ltnH", "sport", "=", ":5240"])
    assert f"{lab.control_ip}:5240" in listening and "0.0.0.0:5240" not in listening


def test_link_down_is_fenced_through_maas_and_host_rejoins(lab):
    host = lab.host("virt-node-01.maas")
    timeline = pacemaker.fail_and_watch(host, "link-down")
    check_fence_order(timeline, maas_emulator.DEFAULT_POWER_OFF_LATENCY)
    assert (timeline.first("fence confirmed") - timeline.marks[0][0]).total_seconds() < 45
    events = fence_events("link-down", timeline.t0.timestamp())
    assert [(e.status, e.action) for e in events] == [("success", "reboot")]
    assert events[0].target == host.fqdn
    assert hosts.daemon_pid(host, pacemaker.REMOTE_SERVICE)  # booted again


def test_slow_bmc_12s_fence_waits_for_power_off(lab):
    host = lab.host("virt-node-02.maas")
    maas_emulator.set_faults(power_off_latency=12)
    try:
        timeline = pacemaker.fail_and_watch(host, "bmc-delay-12s")
    finally:
        maas_emulator.set_faults(power_off_latency=maas_emulator.DEFAULT_POWER_OFF_LATENCY)
    check_fence_order(timeline, 12)
    assert (
        timeline.first("fence confirmed") - timeline.first("fence requested")
    ).total_seconds() >= 12


def test_maas_503_for_a_while_is_retried_until_power_off(lab):
    host = lab.host("virt-node-10.maas")
    maas_emulator.set_faults(unavailable_for=20)
    timeline = pacemaker.fail_and_watch(host, "maas-503")
    check_fence_order(timeline, maas_emulator.DEFAULT_POWER_OFF_LATENCY)
    answered_503 = [t for t, what in timeline.marks if what == "MAAS answered_503"]
    assert answered_503 and max(answered_503) < timeline.first("MAAS power_off_requested")
    assert timeline.first("fence attempt failed") < timeline.first("fence confirmed")
    statuses = [e.status for e in fence_events("maas-503", timeline.t0.timestamp())]
    assert statuses[0] == "success" and "failed" in statuses[1:]  # newest first
    # Recorded while MAAS still answered 503: failed attempts and the retry in progress.
    failing = fence_events("maas-503-while-failing", timeline.t0.timestamp())
    assert all(e.target == host.fqdn for e in failing)
    assert "failed" in {e.status for e in failing}
    assert "success" not in {e.status for e in failing}


def test_host_that_never_comes_back_is_reported(lab):
    host = lab.host("virt-node-01.maas")
    maas_emulator.set_faults(broken=[host.short])
    try:
        timeline = pacemaker.fail_and_watch(host, "never-back", rejoin=False)
        with pytest.raises(LabError) as err:
            pacemaker.wait_rejoin(host, timeline, timeout=10)
        assert err.value.step == f"power on {host.fqdn}"
        assert "power_on_ignored" in err.value.log_tail  # the emulator's last events
        assert hosts.processes(host) == []
    finally:
        maas_emulator.set_faults(broken=[])
    # The operator powers it on through the fencing device (the plugin's `on`); it takes the
    # emulated machine 3 s to boot.
    maas_emulator.set_faults(boot_delay=3)
    try:
        pacemaker.control_run(["stonith_admin", "--unfence", host.fqdn], timeout=60)
        pacemaker.wait_rejoin(host, timeline, timeout=60)
    finally:
        maas_emulator.set_faults(boot_delay=0)
    print("\n" + timeline.render())
    [on_requested] = [
        e["t"]
        for e in maas_emulator.events(timeline.t0.timestamp())
        if e["event"] == "power_on_requested" and e["machine"] == host.short
    ][1:]
    [booted] = [
        e["t"]
        for e in maas_emulator.events(timeline.t0.timestamp())
        if e["event"] == "powered_on" and e["machine"] == host.short
    ]
    assert booted - on_requested >= 3


def test_fence_that_fails_is_reported_with_the_plugin_log(lab):
    host = lab.host("virt-node-02.maas")
    # Up to the detection the pacemaker-remote charm set (interval + timeout) and however long
    # a first failed attempt takes on this machine, MAAS down all along; stopped at the first
    # failed attempt, well short of stonith-max-attempts.
    detection = pacemaker.detection_seconds(host.fqdn)
    maas_emulator.set_faults(unavailable_for=600)
    try:
        with pytest.raises(LabError) as err:
            pacemaker.fail_and_watch(
                host, "fence-fails", fence_timeout=detection + 60, stop_at_failed_fence=True
            )
        print("\n" + err.value.report())
        assert err.value.step == f"fence {host.fqdn}"
        assert "HTTP 503" in err.value.log_tail  # the plugin's own words, from its log
        assert "fence attempt failed" in err.value.message  # the timeline so far
        maas_emulator.set_faults(unavailable_for=0)
        # MAAS is back: Pacemaker's next retry fences the host, which then rejoins.
        procs.wait_for(
            "fence after MAAS is back",
            lambda: pacemaker.node_states().get(host.fqdn, {}).get("unclean") == "false",
            timeout=150,
            interval=0.5,
            ignore=(),
            error=LabError,
        )
        assert hosts.power_state(host) == "on"  # reset: powered off, then on again
        pacemaker.wait_rejoin(host)
    finally:
        pacemaker.restore_hosts()  # whatever failed above, the next scenario gets it back


def test_python_libmaas_client_works_against_the_emulator(lab):
    """The client library hacluster's real plugin uses (PyPI python-libmaas) talks to it."""
    client = pytest.importorskip("maas.client", reason="python-libmaas is not installed")
    host = lab.host("virt-node-10.maas")
    maas = client.connect(maas_emulator.url(lab), apikey=maas_emulator.credentials())
    assert maas.version.get().version == maas_emulator.MAAS_VERSION
    [machine] = maas.machines.list(hostnames=[host.fqdn])  # libmaas sends the short name
    assert (machine.hostname, machine.system_id) == (
        host.short,
        maas_emulator.system_id(host.fqdn),
    )
    assert machine.power_state.value == "on"
    assert machine.query_power_state().value == "on"
    stranger = client.connect(maas_emulator.url(lab), apikey="a:b:c")
    with pytest.raises(Exception, match="401"):
        stranger.machines.list(hostnames=[host.fqdn])
