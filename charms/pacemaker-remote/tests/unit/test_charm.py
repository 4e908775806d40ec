"""The pacemaker-remote charm's behaviour, event by event, against an in-memory machine."""

from __future__ import annotations

import ast
import dataclasses
import json

import pytest
from ops import testing

import pacemaker_remote_workload as workload
from charm_common import hostnames, pacemaker
from charm_common.system import RunResult

from .conftest import DATA, FQDN, KEY, NEW_KEY, b64, hacluster, nova_compute

SENT_KEYS = {"remote-hostname", "remote-ip", "stonith-hostname", "enable-resources"}


def hacluster_parse(value: str):
    """charm-hacluster's parse_data: json.loads, falling back to ast.literal_eval."""
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return ast.literal_eval(value)


def sent(state: testing.State) -> dict[str, str]:
    data = hacluster_relation(state).local_unit_data
    return {k: v for k, v in data.items() if k in SENT_KEYS}


def with_keys(state: testing.State, *keys: str | None) -> testing.State:
    """The same relation, now with these keys from hacluster's units."""
    relations = [
        dataclasses.replace(r, remote_units_data=hacluster(*keys).remote_units_data)
        if r.endpoint == "pacemaker-remote" else r
        for r in state.relations
    ]  # fmt: skip
    return dataclasses.replace(state, relations=relations)


def hacluster_relation(state: testing.State) -> testing.Relation:
    return next(r for r in state.relations if r.endpoint == "pacemaker-remote")


def binding(address: str) -> testing.Network:
    return testing.Network("pacemaker-remote", bind_addresses=[testing.BindAddress(
        [testing.Address(address, cidr="10.0.0.0/24")], interface_name="ens3",
    )])  # fmt: skip


# Install ---------------------------------------------------------------------------------------


def test_install_alone_installs_pacemaker_remote_without_corosync(ctx, system):
    out = ctx.run(ctx.on.install(), testing.State(relations=[nova_compute()]))
    assert set(system.installed) == {"pacemaker-remote", "pacemaker-cli-utils"}
    assert out.unit_status == testing.BlockedStatus("Missing relations: pacemaker-remote")
    assert system.text(hostnames.REMOTE_NODE_NAME_FILE) == f"{FQDN}\n"
    assert out.opened_ports == {testing.TCPPort(3121)}


def test_failed_package_install_blocks_with_the_fix_and_no_traceback(ctx, system, monkeypatch):
    def broken(packages):
        raise RuntimeError("E: Unable to locate package pacemaker-remote")

    monkeypatch.setattr(system, "install_packages", broken)
    out = ctx.run(ctx.on.install(), testing.State())
    assert out.unit_status == testing.BlockedStatus(
        "Package installation failed (RuntimeError); check the machine's apt access; retrying "
        "on the next hook"
    )
    monkeypatch.delattr(system, "install_packages")  # apt works again
    ctx.run(ctx.on.update_status(), out)
    assert set(system.installed) == {"pacemaker-remote", "pacemaker-cli-utils"}


# What hacluster receives -----------------------------------------------------------------------


def test_every_sent_value_is_json_exactly_as_hacluster_parses_it(ctx, system, ready_state):
    state = dataclasses.replace(
        ready_state, config={"enable-stonith": True, "enable-resources": False},
        networks={binding("10.0.0.11")},
    )  # fmt: skip
    out = ctx.run(ctx.on.relation_joined(hacluster_relation(state)), state)
    data = sent(out)
    # The exact bytes on the wire.
    assert data == {
        "remote-hostname": '"virt-node-01.maas"',
        "remote-ip": '"10.0.0.11"',
        "stonith-hostname": '"virt-node-01.maas"',
        "enable-resources": "false",
    }
    decoded = {key: json.loads(value) for key, value in data.items()}
    assert decoded == {
        "remote-hostname": FQDN, "remote-ip": "10.0.0.11",
        "stonith-hostname": FQDN, "enable-resources": False,
    }  # fmt: skip
    assert {key: hacluster_parse(value) for key, value in data.items()} == decoded
    assert type(hacluster_parse(data["enable-resources"])) is bool  # hacluster checks the type
    # The round trip gives back the same bytes: nothing is double-encoded.
    assert {key: json.dumps(value) for key, value in decoded.items()} == data
    # The bare string a naive charm would send makes hacluster's hook fail.
    with pytest.raises((ValueError, SyntaxError)):
        hacluster_parse(FQDN)


def test_stonith_off_sends_json_null_and_resources_default_to_enabled(ctx, system, ready_state):
    out = ctx.run(ctx.on.config_changed(), ready_state)
    data = sent(out)
    assert data["stonith-hostname"] == "null"
    assert hacluster_parse(data["stonith-hostname"]) is None
    assert data["enable-resources"] == "true"


def test_enabling_stonith_later_publishes_the_fqdn(ctx, system, ready_state):
    first = ctx.run(ctx.on.config_changed(), ready_state)
    out = ctx.run(
        ctx.on.config_changed(), dataclasses.replace(first, config={"enable-stonith": True})
    )
    assert json.loads(sent(out)["stonith-hostname"]) == FQDN


def test_remote_ip_is_the_binding_address_unless_remote_address_is_set(ctx, system, ready_state):
    state = dataclasses.replace(ready_state, networks={binding("10.0.0.11")})
    out = ctx.run(ctx.on.config_changed(), state)
    assert json.loads(sent(out)["remote-ip"]) == "10.0.0.11"
    state = dataclasses.replace(out, config={"remote-address": " fd00::11 "})
    out = ctx.run(ctx.on.config_changed(), state)
    assert json.loads(sent(out)["remote-ip"]) == "fd00::11"


@pytest.mark.parametrize("value", ["virt-node-01.maas", "10.0.0.300", "10.0.0.0/24"])
def test_remote_address_that_is_not_an_ip_blocks_naming_the_option(
    ctx, system, ready_state, value
):
    ready = ctx.run(ctx.on.config_changed(), ready_state)
    before, restarts = sent(ready), len(system.restarts)
    out = ctx.run(ctx.on.config_changed(), dataclasses.replace(ready, config={
        "remote-address": value,
    }))  # fmt: skip
    assert out.unit_status == testing.BlockedStatus(
        f"Invalid config: remote-address: {value!r} is not an IP address; leave it empty to "
        "use the pacemaker-remote binding's address"
    )
    assert sent(out) == before
    assert len(system.restarts) == restarts


def test_localhost_fqdn_blocks_and_publishes_nothing(ctx, system, ready_state):
    system.fqdn_name = system.host_name = "localhost"
    out = ctx.run(ctx.on.config_changed(), ready_state)
    assert out.unit_status.name == "blocked"
    assert out.unit_status == testing.BlockedStatus(
        "Invalid node name: Nova's host name 'localhost' (from `hostname`) is localhost; set "
        "the machine's host name to its MAAS name (hostnamectl set-hostname <name>)"
    )
    assert sent(out) == {}


# The authkey -------------------------------------------------------------------------------------


def test_no_key_yet_waits_and_writes_no_authkey(ctx, system, ready_state):
    out = ctx.run(ctx.on.config_changed(), with_keys(ready_state, None, None))
    assert out.unit_status == testing.WaitingStatus("Waiting for pacemaker key from hacluster")
    assert system.read_file(workload.AUTHKEY) is None
    assert sent(out)  # hacluster gets our data meanwhile
    assert system.restarts == []


def test_key_arrival_writes_a_private_authkey_and_restarts_pacemaker_remote(
    ctx, system, ready_state
):
    waiting = ctx.run(ctx.on.config_changed(), with_keys(ready_state, None, None, None))
    assert system.restarts == []
    arrived = with_keys(waiting, b64(KEY), b64(KEY), b64(KEY))
    out = ctx.run(ctx.on.relation_changed(hacluster_relation(arrived)), arrived)
    assert system.read_file(workload.AUTHKEY) == KEY
    # Upstream wrote 0444; hacluster's own nodes use a group-readable key.
    assert system.file_mode(workload.AUTHKEY) == ("hacluster", "haclient", 0o640)
    assert system.restarts == ["pacemaker_remote"]
    assert out.unit_status == testing.ActiveStatus(f"Remote node {FQDN} online in cluster")
    assert any("restarting pacemaker_remote" in line.message for line in ctx.juju_log)
    assert not [line for line in ctx.juju_log if b64(KEY)[:16] in line.message]


def test_unchanged_key_restarts_nothing(ctx, system, ready_state):
    first = ctx.run(ctx.on.config_changed(), ready_state)
    second = ctx.run(ctx.on.update_status(), first)
    assert system.restarts == ["pacemaker_remote"]
    assert second.unit_status == first.unit_status


def test_changed_key_is_written_and_pacemaker_remote_restarted_again(ctx, system, ready_state):
    first = ctx.run(ctx.on.config_changed(), ready_state)
    changed = with_keys(first, b64(NEW_KEY), b64(NEW_KEY), b64(NEW_KEY))
    out = ctx.run(ctx.on.relation_changed(hacluster_relation(changed)), changed)
    assert system.read_file(workload.AUTHKEY) == NEW_KEY
    assert system.file_mode(workload.AUTHKEY) == ("hacluster", "haclient", 0o640)
    assert system.restarts == ["pacemaker_remote", "pacemaker_remote"]
    assert out.unit_status.name == "active"


def test_failed_restart_blocks_and_is_retried_on_the_next_hook(
    ctx, system, ready_state, monkeypatch
):
    restart = system.restart_service
    failures = ["Job for pacemaker_remote.service failed"]

    def fails_once(name):
        if failures:
            raise RuntimeError(failures.pop())
        restart(name)

    monkeypatch.setattr(system, "restart_service", fails_once)
    failed = ctx.run(ctx.on.config_changed(), ready_state)
    assert failed.unit_status == testing.BlockedStatus(
        "pacemaker_remote restart failed (see journalctl -u pacemaker_remote); retrying on "
        "the next hook (1 pending)"
    )
    assert system.restarts == []
    out = ctx.run(ctx.on.update_status(), failed)  # the key on disk is unchanged by now
    assert system.restarts == ["pacemaker_remote"]
    assert out.unit_status.name == "active"


def test_disagreeing_keys_block_naming_the_units_and_keep_the_old_key(ctx, system, ready_state):
    first = ctx.run(ctx.on.config_changed(), ready_state)
    out = ctx.run(ctx.on.config_changed(), with_keys(first, b64(KEY), b64(NEW_KEY), b64(NEW_KEY)))
    assert out.unit_status == testing.BlockedStatus(
        "Invalid relation data: pacemaker-remote pacemaker-key from hacluster/0, hacluster/1, "
        "hacluster/2: the hacluster units send different keys; wait for hacluster to settle, or "
        "check its leader's pacemaker-key"
    )
    assert system.read_file(workload.AUTHKEY) == KEY
    assert system.restarts == ["pacemaker_remote"]


def test_a_unit_that_has_not_sent_its_key_yet_is_no_disagreement(ctx, system, ready_state):
    out = ctx.run(ctx.on.config_changed(), with_keys(ready_state, b64(KEY), None))
    assert system.read_file(workload.AUTHKEY) == KEY
    assert out.unit_status.name == "active"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("not base64!", "pacemaker-remote pacemaker-key from hacluster/0: not valid base64"),
        ("QUJ", "pacemaker-remote pacemaker-key from hacluster/0: not valid base64"),
        ("   ", "pacemaker-remote pacemaker-key from hacluster/0: empty"),
    ],
)
def test_unusable_key_blocks_naming_the_unit_and_keeps_the_old_key(
    ctx, system, ready_state, bad, message
):
    first = ctx.run(ctx.on.config_changed(), ready_state)
    out = ctx.run(ctx.on.config_changed(), with_keys(first, bad, bad, bad))
    assert out.unit_status == testing.BlockedStatus(f"Invalid relation data: {message}")
    assert system.read_file(workload.AUTHKEY) == KEY
    assert system.restarts == ["pacemaker_remote"]


def test_several_hacluster_applications_block(ctx, system, ready_state):
    other = testing.Relation("pacemaker-remote", remote_app_name="hacluster-other",
                             remote_units_data={0: {"pacemaker-key": b64(NEW_KEY)}})  # fmt: skip
    state = dataclasses.replace(ready_state, relations=[*ready_state.relations, other])
    out = ctx.run(ctx.on.config_changed(), state)
    assert out.unit_status == testing.BlockedStatus(
        "Related to several hacluster applications (hacluster, hacluster-other): a remote node "
        "belongs to one cluster"
    )
    assert system.read_file(workload.AUTHKEY) is None


def test_removing_hacluster_says_the_relation_is_missing(ctx, system, ready_state):
    ready = ctx.run(ctx.on.config_changed(), ready_state)
    out = ctx.run(ctx.on.relation_broken(hacluster_relation(ready)), ready)
    assert out.unit_status == testing.BlockedStatus("Missing relations: pacemaker-remote")


# Service and cluster status ----------------------------------------------------------------------


def test_stopped_pacemaker_remote_is_reported_with_where_to_look(ctx, system, ready_state):
    first = ctx.run(ctx.on.config_changed(), ready_state)
    system.running.discard("pacemaker_remote")
    out = ctx.run(ctx.on.update_status(), first)
    assert out.unit_status == testing.BlockedStatus(
        "Services not running: pacemaker_remote (see journalctl -u pacemaker_remote)"
    )


@pytest.mark.parametrize(
    ("fqdn", "status"),
    [
        ("virt-node-01.maas", testing.ActiveStatus(
            "Remote node virt-node-01.maas online in cluster")),
        ("virt-node-02.maas", testing.WaitingStatus(
            "Remote node virt-node-02.maas known to the cluster but offline")),
        ("virt-node-10.maas", testing.WaitingStatus(
            "Remote node virt-node-10.maas not yet known to the cluster")),
        ("virt-node-03.maas", testing.BlockedStatus(
            "Node name mismatch: the cluster has virt-node-03, nova-compute uses "
            "virt-node-03.maas; remove the old node from the cluster")),
    ],
)  # fmt: skip
def test_status_says_what_the_recorded_crm_mon_says_about_this_node(
    ctx, system, ready_state, fqdn, status
):
    system.fqdn_name = system.host_name = fqdn
    out = ctx.run(ctx.on.update_status(), ready_state)
    assert out.unit_status == status
    assert json.loads(sent(out)["remote-hostname"]) == fqdn
    assert system.text(hostnames.REMOTE_NODE_NAME_FILE) == f"{fqdn}\n"


def test_nova_registering_another_form_than_the_cluster_blocks_but_the_node_keeps_working(
    ctx, system, ready_state
):
    system.write_file(hostnames.NOVA_CONF, "[DEFAULT]\nhost = virt-node-01\n",
                      owner="root", group="nova", mode=0o640)  # fmt: skip
    out = ctx.run(ctx.on.config_changed(), ready_state)
    # The recorded cluster knows this host as virt-node-01.maas; Nova registers virt-node-01.
    assert out.unit_status == testing.BlockedStatus(
        "Node name mismatch: the cluster has virt-node-01.maas, nova-compute uses virt-node-01; "
        "remove the old node from the cluster"
    )
    assert system.read_file(workload.AUTHKEY) == KEY
    assert "pacemaker_remote" in system.running
    assert json.loads(sent(out)["remote-hostname"]) == "virt-node-01"  # Nova's name


def test_nova_conf_naming_the_fqdn_is_consistent(ctx, system, ready_state):
    system.write_file(hostnames.NOVA_CONF, f"[DEFAULT]\nhost = {FQDN}\n",
                      owner="root", group="nova", mode=0o640)  # fmt: skip
    out = ctx.run(ctx.on.config_changed(), ready_state)
    assert out.unit_status == testing.ActiveStatus(f"Remote node {FQDN} online in cluster")


def test_live_answer_through_pacemaker_remoted_says_online(ctx, system, ready_state):
    recorded = (DATA / "crm_mon-2.1.5-on-remote.xml").read_text()
    system.responders[("crm_mon",)] = lambda argv: RunResult(0, recorded, "")
    out = ctx.run(ctx.on.update_status(), ready_state)
    assert out.unit_status == testing.ActiveStatus(f"Remote node {FQDN} online in cluster")


def test_crm_mon_runs_with_a_timeout_and_a_hung_cluster_does_not_hang_the_hook(
    ctx, system, ready_state
):
    system.responders[("crm_mon",)] = lambda argv: RunResult(124, "", "timed out after 10s")
    out = ctx.run(ctx.on.update_status(), ready_state)
    assert out.unit_status == testing.ActiveStatus("Unit is ready")
    runs = [t for argv, t in zip(system.commands, system.timeouts, strict=True)
            if argv == ["crm_mon", "-X"]]  # fmt: skip
    assert runs == [pacemaker.CRM_MON_TIMEOUT]


def test_no_cluster_connected_yet_is_ready(ctx, system, ready_state):
    # What crm_mon 2.1.5 answers beside a pacemaker_remoted no cluster has connected to.
    system.responders[("crm_mon",)] = lambda argv: RunResult(
        0, '<crm_mon version="2.1.5"/>\n',
        "Could not connect to the CIB: Transport endpoint is not connected\n",
    )  # fmt: skip
    out = ctx.run(ctx.on.update_status(), ready_state)
    assert out.unit_status == testing.ActiveStatus("Unit is ready")


# Actions -----------------------------------------------------------------------------------------


def test_pause_stops_pacemaker_remote_until_resume_even_when_the_key_changes(
    ctx, system, ready_state
):
    ready = ctx.run(ctx.on.config_changed(), ready_state)
    paused = ctx.run(ctx.on.action("pause"), ready)
    assert system.paused == {"pacemaker_remote"}
    assert "pacemaker_remote" not in system.running
    assert ctx.action_results == {"paused": "pacemaker_remote"}
    assert paused.unit_status == testing.MaintenanceStatus(
        "Paused. Use the resume action to start services"
    )
    changed = ctx.run(ctx.on.config_changed(), with_keys(paused, b64(NEW_KEY)))
    assert system.read_file(workload.AUTHKEY) == NEW_KEY  # ready for the resume
    assert system.restarts == ["pacemaker_remote"]  # but nothing started while paused
    assert "pacemaker_remote" not in system.running
    assert changed.unit_status.name == "maintenance"
    resumed = ctx.run(ctx.on.action("resume"), changed)
    assert system.paused == set() and "pacemaker_remote" in system.running
    assert system.restarts == ["pacemaker_remote"]  # resume started it with the new key
    assert resumed.unit_status == testing.ActiveStatus(f"Remote node {FQDN} online in cluster")


# upgrade-charm from the previous revision -------------------------------------------------------


def test_upgrade_charm_keeps_the_previous_revisions_pending_restart(ctx, system, ready_state):
    """The previous revision stored `restart_pending` (a failed restart after a new authkey);
    the authkey on disk is unchanged by now, so only that flag says pacemaker_remote still
    runs with the old key."""
    first = ctx.run(ctx.on.config_changed(), ready_state)
    system.restarts.clear()
    old = testing.StoredState(
        owner_path="PacemakerRemoteCharm", content={"paused": False, "restart_pending": True}
    )
    out = ctx.run(ctx.on.upgrade_charm(), dataclasses.replace(first, stored_states={old}))
    assert system.restarts == ["pacemaker_remote"]
    assert out.unit_status.name == "active"
    again = ctx.run(ctx.on.update_status(), out)
    assert system.restarts == ["pacemaker_remote"]
    assert again.unit_status.name == "active"
