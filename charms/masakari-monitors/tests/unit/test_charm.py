"""The masakari-monitors charm's behaviour, event by event, against an in-memory hypervisor."""

from __future__ import annotations

import base64
import configparser
import dataclasses

import pytest
import yaml
from ops import testing

import masakari_monitors_workload as workload
from charm_common import hostnames
from charm_common.system import RunResult
from charm_common.testing import FakeSystem

from .conftest import FQDN, SITE
from .relation_data import CREDENTIALS_PASSWORD, identity_credentials, nova_compute, vault

HOST, INSTANCE, PROCESS, INTROSPECTIVE = (m.service for m in workload.MONITORS.values())
DEFAULT_SERVICES = [HOST, INSTANCE, PROCESS]
CA = "-----BEGIN CERTIFICATE-----\nMIIBvault\n-----END CERTIFICATE-----"


def conf(system: FakeSystem) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, default_section="\0")
    parser.read_string(system.text(workload.MONITORS_CONF))
    return parser


def relation(state: testing.State, endpoint: str) -> testing.RelationBase:
    return next(r for r in state.relations if r.endpoint == endpoint)


def configured(state: testing.State, **config: object) -> testing.State:
    return dataclasses.replace(state, config={k.replace("_", "-"): v for k, v in config.items()})


# Install and missing pieces ----------------------------------------------------------------------


def test_install_alone_installs_the_enabled_monitors_and_asks_for_keystone(ctx, system):
    out = ctx.run(ctx.on.install(), testing.State(relations=[nova_compute()]))
    assert set(system.installed) == {
        "masakari-monitors-common", "masakari-host-monitor", "masakari-instance-monitor",
        "masakari-process-monitor",
    }  # fmt: skip
    assert out.unit_status == testing.BlockedStatus("Missing relations: identity-credentials")
    assert workload.MONITORS_CONF not in system.files
    assert system.restarts == []


def test_related_keystone_that_has_not_answered_is_waited_for(ctx, system):
    state = testing.State(relations=[nova_compute(), testing.Relation("identity-credentials")])
    out = ctx.run(ctx.on.config_changed(), state)
    assert out.unit_status == testing.WaitingStatus("Incomplete relations: identity-credentials")
    assert relation(out, "identity-credentials").local_unit_data["username"] == (
        "masakari-monitors"
    )


def test_failed_package_install_blocks_with_the_fix_and_no_traceback(ctx, system, monkeypatch):
    def broken(packages):
        raise RuntimeError("E: Unable to locate package masakari-host-monitor")

    monkeypatch.setattr(system, "install_packages", broken)
    out = ctx.run(ctx.on.install(), testing.State())
    assert out.unit_status.name == "blocked"
    assert out.unit_status.message.startswith("Package installation failed (RuntimeError)")


# What the charm sends and reads ------------------------------------------------------------------


def test_requests_its_keystone_user_in_the_services_project_and_nothing_else(
    ctx, system, ready_state
):
    out = ctx.run(ctx.on.config_changed(), ready_state)
    sent = relation(out, "identity-credentials").local_unit_data
    juju_keys = ("egress-subnets", "ingress-address", "private-address")
    ours = {k: v for k, v in sent.items() if k not in juju_keys}
    assert ours == {"username": "masakari-monitors", "project": "services"}


def test_ready_unit_renders_the_api_section_from_every_relation_field(ctx, system, ready_state):
    out = ctx.run(ctx.on.config_changed(), ready_state)
    assert out.unit_status == testing.ActiveStatus("Unit is ready")
    api = conf(system)["api"]
    assert dict(api) == {
        "auth_type": "password",
        "auth_url": "http://10.5.0.30:35357/v3",
        "username": "masakari-monitors",
        "password": CREDENTIALS_PASSWORD,
        "project_name": "services",
        "user_domain_name": "service_domain",
        "project_domain_name": "service_domain",
        "region": "RegionOne",
        "api_interface": "public",
    }
    assert conf(system)["DEFAULT"]["hostname"] == FQDN


@pytest.mark.parametrize(
    ("overrides", "key", "expected"),
    [
        ({"auth_protocol": "https", "auth_port": "35358"}, "auth_url",
         "https://10.5.0.30:35358/v3"),
        ({"auth_host": "fd00::30"}, "auth_url", "http://[fd00::30]:35357/v3"),
        ({"credentials_username": "mm"}, "username", "mm"),
        ({"credentials_project": "ha"}, "project_name", "ha"),
        ({"credentials_user_domain_name": "users"}, "user_domain_name", "users"),
        ({"credentials_project_domain_name": "projects"}, "project_domain_name", "projects"),
        ({"credentials_user_domain_name": "", "domain": "d2"}, "user_domain_name", "d2"),
        ({"region": "RegionTwo"}, "region", "RegionTwo"),
        ({"region": "RegionTwo RegionThree"}, "region", "RegionTwo"),
        ({"region": ""}, "region", "RegionOne"),
    ],
)  # fmt: skip
def test_each_keystone_field_reaches_the_api_section(ctx, system, overrides, key, expected):
    state = testing.State(relations=[nova_compute(), identity_credentials(**overrides)])
    ctx.run(ctx.on.config_changed(), state)
    assert conf(system)["api"][key] == expected


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"auth_port": "admin"},
            "identity-credentials auth_port from keystone/0: not a port number (1-65535)",
        ),
        (
            {"auth_protocol": "gopher"},
            "identity-credentials auth_protocol from keystone/0: must be http or https",
        ),
        (
            {"api_version": "2"},
            "identity-credentials api_version from keystone/0: must be 3 (keystone v2 is not "
            "supported)",
        ),
        (
            {"ca_cert": "%%%not-base64"},
            "identity-credentials ca_cert from keystone/0: not valid base64",
        ),
    ],
)
def test_garbage_from_keystone_blocks_naming_the_key_without_a_traceback(
    ctx, system, overrides, message
):
    state = testing.State(relations=[nova_compute(), identity_credentials(**overrides)])
    out = ctx.run(ctx.on.config_changed(), state)
    assert out.unit_status == testing.BlockedStatus(f"Invalid relation data: {message}")
    assert workload.MONITORS_CONF not in system.files


def test_missing_credentials_wait_on_identity_credentials(ctx, system):
    state = testing.State(relations=[
        nova_compute(), identity_credentials(credentials_password=""),
    ])  # fmt: skip
    out = ctx.run(ctx.on.config_changed(), state)
    assert out.unit_status == testing.WaitingStatus("Incomplete relations: identity-credentials")


# Secrets and ownership ---------------------------------------------------------------------------


def test_config_is_0640_root_and_the_ubuntu_monitors_group(ctx, system, ready_state):
    ctx.run(ctx.on.config_changed(), ready_state)
    assert system.file_mode(workload.MONITORS_CONF) == ("root", "masakarimonitors", 0o640)
    assert system.file_mode(workload.PROCESS_LIST) == ("root", "masakarimonitors", 0o640)


def test_on_debian_the_monitors_group_is_masakari(ctx, system, ready_state):
    system.responders[("getent", "group", "masakarimonitors")] = lambda argv: RunResult(2, "", "")
    ctx.run(ctx.on.config_changed(), ready_state)
    assert system.file_mode(workload.MONITORS_CONF) == ("root", "masakari", 0o640)


def test_no_secret_reaches_the_log_or_status(ctx, system, ready_state):
    out = ctx.run(ctx.on.config_changed(), ready_state)
    text = " ".join(line.message for line in ctx.juju_log) + out.unit_status.message
    assert CREDENTIALS_PASSWORD not in text
    assert CREDENTIALS_PASSWORD in system.text(workload.MONITORS_CONF)


# CA handling -------------------------------------------------------------------------------------


def test_keystone_ca_cert_is_written_and_used(ctx, system):
    encoded = base64.b64encode(CA.encode()).decode()
    state = testing.State(relations=[nova_compute(), identity_credentials(ca_cert=encoded)])
    ctx.run(ctx.on.config_changed(), state)
    assert system.read_file(workload.KEYSTONE_CA) == CA.encode()
    assert system.file_mode(workload.KEYSTONE_CA) == ("root", "masakarimonitors", 0o644)
    assert conf(system)["api"]["cafile"] == workload.KEYSTONE_CA


def test_vaults_ca_and_chain_are_used_when_keystone_sends_none(ctx, system, ready_state):
    chain = "-----BEGIN CERTIFICATE-----\nMIIBroot\n-----END CERTIFICATE-----"
    state = dataclasses.replace(ready_state, relations=[*ready_state.relations, vault(CA, chain)])
    ctx.run(ctx.on.config_changed(), state)
    assert system.read_file(workload.KEYSTONE_CA) == f"{CA}\n{chain}\n".encode()
    assert conf(system)["api"]["cafile"] == workload.KEYSTONE_CA


def test_without_a_ca_nothing_is_written_and_the_system_store_is_used(ctx, system, ready_state):
    ctx.run(ctx.on.config_changed(), ready_state)
    assert workload.KEYSTONE_CA not in system.files
    assert "cafile" not in conf(system)["api"]


def test_a_new_ca_restarts_every_enabled_monitor(ctx, system, ready_state):
    first = ctx.run(ctx.on.config_changed(), ready_state)
    restarts = len(system.restarts)
    ctx.run(ctx.on.config_changed(), dataclasses.replace(
        first, relations=[*ready_state.relations, vault(CA)]
    ))  # fmt: skip
    assert system.restarts[restarts:] == DEFAULT_SERVICES


# Options and their effect on the rendered file ---------------------------------------------------


def test_host_section_is_fixed_for_pacemaker_remote_hypervisors(ctx, system, ready_state):
    ctx.run(ctx.on.config_changed(), ready_state)
    host = conf(system)["host"]
    assert host["monitoring_driver"] == "fence-confirmed"
    assert host["pacemaker_node_type"] == "remote"
    assert host["restrict_to_remotes"] == "True"
    assert host["disable_ipmi_check"] == "True"
    assert "corosync_multicast_interfaces" not in host  # only meaningful on cluster members
    assert conf(system)["libvirt"]["connection_uri"] == "qemu:///system"
    assert conf(system)["process"]["process_list_path"] == workload.PROCESS_LIST


@pytest.mark.parametrize(
    ("option", "value", "settings"),
    [
        ("debug", True, [("DEFAULT", "debug", "True")]),
        ("use-syslog", True, [("DEFAULT", "use_syslog", "True")]),
        ("use-internal-endpoints", True, [("api", "api_interface", "internal")]),
        ("host-monitoring-driver", "default", [("host", "monitoring_driver", "default")]),
        ("host-monitoring-interval", 30, [("host", "monitoring_interval", "30")]),
        ("host-monitoring-samples", 3, [("host", "monitoring_samples", "3")]),
        ("stonith-wait", 45, [("host", "stonith_wait", "45")]),
        ("api-retry-max", 5, [("host", "api_retry_max", "5"), ("process", "api_retry_max", "5"),
                              ("callback", "retry_max", "5")]),
        ("api-retry-interval", 3, [("host", "api_retry_interval", "3"),
                                   ("process", "api_retry_interval", "3"),
                                   ("callback", "retry_interval", "3")]),
        ("process-check-interval", 20, [("process", "check_interval", "20")]),
    ],
)  # fmt: skip
def test_each_option_sets_its_masakari_option(ctx, system, ready_state, option, value, settings):
    ctx.run(ctx.on.config_changed(), ready_state)
    for section, key, expected in settings:
        assert conf(system)[section][key] != expected, "the default must differ to prove it"
    ctx.run(ctx.on.config_changed(), dataclasses.replace(ready_state, config={option: value}))
    for section, key, expected in settings:
        assert conf(system)[section][key] == expected


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("host-monitoring-interval", 0,
         "host-monitoring-interval: must be from 1 to 2147483647 seconds (got 0)"),
        ("host-monitoring-samples", 0, "host-monitoring-samples: must be from 1 to 1000 (got 0)"),
        ("stonith-wait", -1, "stonith-wait: must be from 0 to 2147483647 seconds (got -1)"),
        ("api-retry-max", -2, "api-retry-max: must be from 0 to 1000 (got -2)"),
        ("api-retry-interval", 0, "api-retry-interval: must be from 1 to 2147483647 seconds"),
        ("process-check-interval", 0,
         "process-check-interval: must be from 1 to 2147483647 seconds"),
        ("host-monitoring-driver", "consul",
         "host-monitoring-driver: 'consul' is not one of fence-confirmed, default"),
        ("process-list", "\n- process_name: [a\n",
         "process-list: line 2: expected ',' or ']', but got '<stream end>'"),
        ("process-list", "- process_name: x\n  start_command: a\n  restart_comand: b\n",
         "process-list: line 3: unknown key 'restart_comand' (known: process_name,"),
        # Tags the safe loader composes but cannot build (issue 13): named, not a traceback.
        ("process-list", "- process_name: !x a", "process-list: line 1: could not determine"),
        ("process-list", "- process_name: !!int a\n", "process-list: "),
        ("process-list", "- process_name: !!bool maybe\n", "process-list: "),
        ("process-list", "- process_name: !!float x\n  start_command: a\n", "process-list: "),
        ("process-list", "- process_name: a\n  start_command: \"a\\nb\"\n  restart_command: c\n",
         "process-list: line 2: start_command must be one line"),
    ],
)  # fmt: skip
def test_invalid_config_blocks_naming_the_option_and_keeps_the_rendered_files(
    ctx, system, ready_state, option, value, message
):
    ready = ctx.run(ctx.on.config_changed(), ready_state)
    before = dict(system.files)
    restarts = len(system.restarts)
    out = ctx.run(ctx.on.config_changed(), dataclasses.replace(ready, config={option: value}))
    assert out.unit_status.name == "blocked"
    assert out.unit_status.message.startswith(f"Invalid config: {message}")
    assert system.files == before
    assert len(system.restarts) == restarts


# process_list.yaml -------------------------------------------------------------------------------


def test_default_process_list_watches_nova_compute_libvirtd_and_pacemaker_remoted(
    ctx, system, ready_state
):
    ctx.run(ctx.on.config_changed(), ready_state)
    processes = yaml.safe_load(system.text(workload.PROCESS_LIST))
    assert [p["process_name"] for p in processes] == [
        "/usr/bin/nova-compute", "/usr/sbin/libvirtd", "/usr/sbin/pacemaker-remoted",
    ]  # fmt: skip
    assert processes[2]["restart_command"] == "systemctl restart pacemaker_remote"
    for process in processes:
        assert list(process) == list(workload.PROCESS_KEYS)  # the monitor indexes every key
        assert process["run_as_root"] is True


def test_process_list_override_is_rendered_with_every_key(ctx, system, ready_state):
    override = (
        "- process_name: /usr/sbin/ovs-vswitchd\n"
        "  start_command: systemctl start openvswitch-switch\n"
        "  restart_command: systemctl restart openvswitch-switch\n"
        "  post_restart_command: logger restarted ovs\n"
    )
    first = ctx.run(ctx.on.config_changed(), ready_state)
    restarts = len(system.restarts)
    ctx.run(ctx.on.config_changed(), dataclasses.replace(first, config={"process-list": override}))
    assert yaml.safe_load(system.text(workload.PROCESS_LIST)) == [{
        "process_name": "/usr/sbin/ovs-vswitchd",
        "start_command": "systemctl start openvswitch-switch",
        "pre_start_command": None,
        "post_start_command": None,
        "restart_command": "systemctl restart openvswitch-switch",
        "pre_restart_command": None,
        "post_restart_command": "logger restarted ovs",
        "run_as_root": True,
    }]  # fmt: skip
    assert system.restarts[restarts:] == [PROCESS]  # only the process monitor reads it


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("process_name: x\n", "line 1: must be a non-empty list of processes"),
        ("[]\n", "line 1: must be a non-empty list of processes"),
        ("- just a string\n", "line 1: each process must be a mapping of keys"),
        ("- process_name: x\n  start_command: a\n", "line 1: missing restart_command"),
        ("- process_name: x\n  start_command: a\n  restart_command: b\n  run_as_root: maybe\n",
         "line 4: run_as_root must be true or false"),
        ("- process_name: x\n  start_command: [a]\n  restart_command: b\n",
         "line 2: start_command must be a string"),
        ("- process_name: x\n  process_name: y\n", "line 2: process_name is given twice"),
        ("- process_name: x\n\t start_command: a\n", "line 2: "),
    ],
)  # fmt: skip
def test_process_list_errors_name_the_line(text, message):
    with pytest.raises(workload.ProcessListError) as error:
        workload.parse_process_list(text)
    assert str(error.value).startswith(message)


# Services: enable/disable, drop-ins, restarts ----------------------------------------------------


def test_every_enabled_monitor_reads_the_charms_file_through_a_drop_in(ctx, system, ready_state):
    ctx.run(ctx.on.config_changed(), ready_state)
    for key in ("host", "instance", "process"):
        monitor = workload.MONITORS[key]
        drop_in = system.text(workload.drop_in_path(monitor.service))
        assert "ExecStart=\n" in drop_in  # clears the packaged ExecStart first
        assert (
            f"ExecStart={monitor.binary} --config-file=/etc/masakarimonitors/masakarimonitors.conf"
            in drop_in
        )
        assert ("SupplementaryGroups=libvirt" in drop_in) == (key == "instance")
    assert system.commands.count(["systemctl", "daemon-reload"]) == 1
    assert workload.drop_in_path(INTROSPECTIVE) not in system.files


def test_ready_unit_starts_each_enabled_monitor_once(ctx, system, ready_state):
    ctx.run(ctx.on.config_changed(), ready_state)
    assert system.restarts == DEFAULT_SERVICES
    assert system.running == set(DEFAULT_SERVICES)


def test_second_identical_event_writes_and_restarts_nothing(ctx, system, ready_state):
    first = ctx.run(ctx.on.config_changed(), ready_state)
    restarts, commands = len(system.restarts), len(system.commands)
    second = ctx.run(ctx.on.update_status(), first)
    third = ctx.run(ctx.on.config_changed(), second)
    assert third.unit_status == testing.ActiveStatus("Unit is ready")
    assert len(system.restarts) == restarts
    assert ["systemctl", "daemon-reload"] not in system.commands[commands:]


def test_changing_debug_restarts_every_enabled_monitor_once(ctx, system, ready_state):
    first = ctx.run(ctx.on.config_changed(), ready_state)
    restarts = len(system.restarts)
    ctx.run(ctx.on.config_changed(), dataclasses.replace(first, config={"debug": True}))
    assert system.restarts[restarts:] == DEFAULT_SERVICES


@pytest.mark.parametrize("key", ["host", "instance", "process"])
def test_disabling_a_monitor_stops_it_for_good_and_enabling_starts_it_again(
    ctx, system, ready_state, key
):
    service = workload.MONITORS[key].service
    first = ctx.run(ctx.on.config_changed(), ready_state)
    off = ctx.run(ctx.on.config_changed(), configured(first, **{f"enable_{key}_monitor": False}))
    assert off.unit_status == testing.ActiveStatus("Unit is ready")
    assert service in system.paused and service not in system.running
    others = [s for s in DEFAULT_SERVICES if s != service]
    assert system.running == set(others)
    restarts = len(system.restarts)
    ctx.run(ctx.on.update_status(), off)  # stays off, nothing restarts
    assert service in system.paused and len(system.restarts) == restarts
    ctx.run(ctx.on.config_changed(), configured(off, **{f"enable_{key}_monitor": True}))
    assert service not in system.paused and service in system.running


def test_disabled_process_monitor_has_no_process_list(ctx, system, ready_state):
    ctx.run(ctx.on.config_changed(), configured(ready_state, enable_process_monitor=False))
    assert workload.PROCESS_LIST not in system.files
    assert "masakari-process-monitor" not in system.installed


def test_introspective_monitor_is_installed_configured_and_run_only_when_enabled(
    ctx, system, ready_state
):
    first = ctx.run(ctx.on.config_changed(), ready_state)
    assert not conf(system).has_section("introspectiveinstancemonitor")
    assert "masakari-introspective-instance-monitor" not in system.installed
    on = ctx.run(ctx.on.config_changed(), configured(first, enable_introspective_monitor=True))
    assert on.unit_status == testing.ActiveStatus("Unit is ready")
    assert "masakari-introspective-instance-monitor" in system.installed
    section = conf(system)["introspectiveinstancemonitor"]
    assert section["guest_monitoring_interval"] == "10"
    assert INTROSPECTIVE in system.running
    assert "SupplementaryGroups=libvirt" in system.text(workload.drop_in_path(INTROSPECTIVE))


def test_without_a_libvirt_group_no_supplementary_group_is_set(ctx, system, ready_state):
    system.responders[("getent", "group", "libvirt")] = lambda argv: RunResult(2, "", "")
    ctx.run(ctx.on.config_changed(), ready_state)
    assert "SupplementaryGroups" not in system.text(workload.drop_in_path(INSTANCE))


def test_stopped_monitor_is_reported_with_where_to_look(ctx, system, ready_state):
    first = ctx.run(ctx.on.config_changed(), ready_state)
    system.running.discard(HOST)
    out = ctx.run(ctx.on.update_status(), first)
    assert out.unit_status == testing.BlockedStatus(
        f"Services not running: {HOST} (see journalctl -u {HOST})"
    )


# The fence-confirmed driver ----------------------------------------------------------------------


def test_fence_confirmed_driver_is_installed_where_the_system_python_finds_it(
    ctx, system, ready_state
):
    ctx.run(ctx.on.config_changed(), ready_state)
    package = f"{SITE}/masakari_fence_confirmed"
    assert system.file_mode(f"{package}/driver.py") == ("root", "root", 0o644)
    entry_points = next(
        path for path in system.files if path.endswith(".dist-info/entry_points.txt")
    )
    assert entry_points.startswith(f"{SITE}/masakari_fence_confirmed-")
    assert system.text(entry_points) == (
        "[hostmonitor.driver]\n"
        "fence-confirmed = masakari_fence_confirmed.driver:FenceConfirmedDriver\n"
    )


def test_a_changed_driver_restarts_only_the_host_monitor(ctx, system, ready_state):
    first = ctx.run(ctx.on.config_changed(), ready_state)
    system.files[f"{SITE}/masakari_fence_confirmed/tracker.py"].content = b"stale"
    restarts = len(system.restarts)
    ctx.run(ctx.on.update_status(), first)
    assert system.restarts[restarts:] == [HOST]
    assert system.text(f"{SITE}/masakari_fence_confirmed/tracker.py") != "stale"


def test_upstream_driver_needs_no_extra_files(ctx, system, ready_state):
    ctx.run(ctx.on.config_changed(), configured(ready_state, host_monitoring_driver="default"))
    assert not any(path.startswith(SITE) for path in system.files)
    assert conf(system)["host"]["monitoring_driver"] == "default"


def test_a_python_without_a_local_dist_packages_blocks_with_the_fix(ctx, system, ready_state):
    system.responders[(workload.SYSTEM_PYTHON, "-c")] = lambda argv: RunResult(
        0, "/usr/lib/python3.12\n", ""
    )
    out = ctx.run(ctx.on.config_changed(), ready_state)
    assert out.unit_status == testing.BlockedStatus(
        "Cannot install the fence-confirmed driver: /usr/bin/python3 scans no "
        "/usr/local/lib/python3*/dist-packages"
    )


# The hostname rule -------------------------------------------------------------------------------


def test_nova_confs_host_is_the_name_the_monitors_report(ctx, system, ready_state):
    system.write_file("/etc/nova/nova.conf", "[DEFAULT]\nhost = virt-node-01\n",
                      owner="root", group="nova", mode=0o640)  # fmt: skip
    out = ctx.run(ctx.on.config_changed(), ready_state)
    assert out.unit_status == testing.ActiveStatus("Unit is ready")
    assert conf(system)["DEFAULT"]["hostname"] == "virt-node-01"


def test_matching_nova_host_is_ready_and_monitors_use_that_name(ctx, system, ready_state):
    system.write_file("/etc/nova/nova.conf", f"[DEFAULT]\nhost = {FQDN}\n",
                      owner="root", group="nova", mode=0o640)  # fmt: skip
    out = ctx.run(ctx.on.config_changed(), ready_state)
    assert out.unit_status == testing.ActiveStatus("Unit is ready")
    assert conf(system)["DEFAULT"]["hostname"] == FQDN


def test_the_name_pacemaker_remote_published_must_match_too(ctx, system, ready_state):
    system.write_file(hostnames.REMOTE_NODE_NAME_FILE, "virt-node-01\n",
                      owner="root", group="root", mode=0o644)  # fmt: skip
    out = ctx.run(ctx.on.config_changed(), ready_state)
    assert out.unit_status == testing.BlockedStatus(
        "Host name mismatch: nova-compute registers virt-node-01.maas but the Pacemaker remote "
        "node is virt-node-01; fix the Pacemaker node's name: let pacemaker-remote republish "
        "(its next hook does), then on the hacluster leader remove the stale node: crm "
        "configure delete virt-node-01; crm_node --force -R virt-node-01"
    )


def test_an_unusable_fqdn_blocks_naming_the_fix(ctx, system, ready_state):
    system.fqdn_name = system.host_name = "localhost"
    out = ctx.run(ctx.on.config_changed(), ready_state)
    assert out.unit_status.name == "blocked"
    assert out.unit_status.message.startswith(
        "Invalid node name: Nova's host name 'localhost' (from `hostname`) is localhost; set "
    )
    assert workload.MONITORS_CONF not in system.files


def test_unreadable_nova_conf_blocks_naming_the_file(ctx, system, ready_state):
    system.write_file("/etc/nova/nova.conf", "host = x\n", owner="root", group="nova", mode=0o640)
    out = ctx.run(ctx.on.config_changed(), ready_state)
    assert out.unit_status == testing.BlockedStatus(
        "Cannot read nova.conf: cannot parse /etc/nova/nova.conf (MissingSectionHeaderError): "
        "fix the file, or the nova-compute charm's config that renders it"
    )


# Actions -----------------------------------------------------------------------------------------


def test_pause_stops_monitors_and_keeps_them_stopped_across_hooks(ctx, system, ready_state):
    ready = ctx.run(ctx.on.config_changed(), ready_state)
    paused = ctx.run(ctx.on.action("pause"), ready)
    assert system.paused == set(DEFAULT_SERVICES)
    assert ctx.action_results == {"paused": " ".join(DEFAULT_SERVICES)}
    assert paused.unit_status == testing.MaintenanceStatus(
        "Paused. Use the resume action to start services"
    )
    restarts = len(system.restarts)
    changed = ctx.run(ctx.on.config_changed(), dataclasses.replace(paused, config={"debug": True}))
    assert len(system.restarts) == restarts
    resumed = ctx.run(ctx.on.action("resume"), changed)
    assert system.paused == set()
    assert system.running == set(DEFAULT_SERVICES)
    assert resumed.unit_status == testing.ActiveStatus("Unit is ready")


def test_restart_services_restarts_enabled_monitors_or_refuses_while_paused(
    ctx, system, ready_state
):
    ready = ctx.run(ctx.on.config_changed(), configured(ready_state, enable_process_monitor=False))
    restarts = len(system.restarts)
    ctx.run(ctx.on.action("restart-services"), ready)
    assert system.restarts[restarts:] == [HOST, INSTANCE]
    assert ctx.action_results == {"restarted": f"{HOST} {INSTANCE}"}
    paused = ctx.run(ctx.on.action("pause"), ready)
    with pytest.raises(testing.ActionFailed, match="paused: run the resume action"):
        ctx.run(ctx.on.action("restart-services"), paused)


# upgrade-charm from the previous revision -------------------------------------------------------


def test_upgrade_charm_keeps_the_previous_revisions_pending_restarts(ctx, system, ready_state):
    """The previous revision stored `pending_restarts`; the files on disk are unchanged by now,
    so only that list says the monitor still runs with its old configuration."""
    first = ctx.run(ctx.on.config_changed(), ready_state)
    system.restarts.clear()
    service = workload.MONITORS["instance"].service
    old = testing.StoredState(owner_path="MasakariMonitorsCharm", content={
        "paused": False, "disabled": [], "pending_restarts": [service],
    })  # fmt: skip
    out = ctx.run(ctx.on.upgrade_charm(), dataclasses.replace(first, stored_states={old}))
    assert system.restarts == [service]
    assert out.unit_status == testing.ActiveStatus("Unit is ready")


# Actions with commands still pending -------------------------------------------------------------


@pytest.mark.parametrize("action", ["resume", "restart-services"])
def test_a_service_started_before_a_pending_daemon_reload_is_restarted_after_it(
    ctx, system, ready_state, monkeypatch, action
):
    """A drop-in changed (libvirt's group appeared) while daemon-reload failed: a monitor the
    action starts before that reload runs with the old unit; it restarts once the reload ran."""
    system.responders[("getent", "group", "libvirt")] = lambda argv: RunResult(2, "", "")
    state = ctx.run(ctx.on.config_changed(), ready_state)
    if action == "resume":
        state = ctx.run(ctx.on.action("pause"), state)
    del system.responders[("getent", "group", "libvirt")]
    reload_fails = [RunResult(1, "", "Failed to reload daemon: Connection timed out")]
    system.responders[("systemctl", "daemon-reload")] = lambda argv: (
        reload_fails.pop() if reload_fails else RunResult(0, "", "")
    )
    state = ctx.run(ctx.on.update_status(), state)
    assert "SupplementaryGroups=libvirt" in system.text(workload.drop_in_path(INSTANCE))
    assert ["run", "systemctl", "daemon-reload"] in state.get_stored_state(
        "_stored", owner_path="MasakariMonitorsCharm"
    ).content["pending"]
    log: list[str] = []

    def recorded(name, original):
        def record(*args, **kwargs):
            log.append(" ".join([name, *(a if isinstance(a, str) else " ".join(a) for a in args)]))
            return original(*args, **kwargs)

        return record

    for name in ("restart_service", "resume_service", "run"):
        monkeypatch.setattr(system, name, recorded(name, getattr(system, name)))
    out = ctx.run(ctx.on.action(action), state)
    reload_at = log.index("run systemctl daemon-reload")
    assert f"restart_service {INSTANCE}" in log[reload_at:]
    assert out.unit_status == testing.ActiveStatus("Unit is ready")


def test_a_re_enabled_monitor_whose_drop_in_changed_restarts_after_the_daemon_reload(
    ctx, system, ready_state, monkeypatch
):
    """While the instance monitor was disabled libvirt's group appeared: enabling it writes a
    new drop-in, and the monitor, started before daemon-reload, restarts after it."""
    system.responders[("getent", "group", "libvirt")] = lambda argv: RunResult(2, "", "")
    state = ctx.run(ctx.on.config_changed(), ready_state)
    state = ctx.run(ctx.on.config_changed(), configured(state, enable_instance_monitor=False))
    del system.responders[("getent", "group", "libvirt")]
    log: list[str] = []
    for name in ("restart_service", "resume_service", "run"):
        original = getattr(system, name)

        def record(arg, *rest, name=name, original=original, **kwargs):
            log.append(f"{name} {arg if isinstance(arg, str) else ' '.join(arg)}")
            return original(arg, *rest, **kwargs)

        monkeypatch.setattr(system, name, record)
    out = ctx.run(ctx.on.config_changed(), configured(state, enable_instance_monitor=True))
    assert "SupplementaryGroups=libvirt" in system.text(workload.drop_in_path(INSTANCE))
    assert f"restart_service {INSTANCE}" in log[log.index("run systemctl daemon-reload") :]
    assert out.unit_status == testing.ActiveStatus("Unit is ready")
