"""The masakari charm's behaviour, event by event, against an in-memory machine."""

from __future__ import annotations

import configparser
import dataclasses
import json

import pytest
from ops import testing

import masakari_workload as workload
from charm_common.system import RunResult
from charm_common.testing import FakeSystem

from .relation_data import (
    DB_PASSWORD,
    RABBIT_PASSWORD,
    SERVICE_PASSWORD,
    cluster,
    hacluster,
    identity_service,
    rabbitmq,
    shared_db,
)


def conf(system: FakeSystem) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(system.text(workload.MASAKARI_CONF))
    return parser


def relation(state: testing.State, endpoint: str) -> testing.RelationBase:
    return next(r for r in state.relations if r.endpoint == endpoint)


# Install and missing pieces ---------------------------------------------------------------------


def test_install_alone_installs_packages_and_names_every_missing_relation(ctx, system):
    out = ctx.run(ctx.on.install(), testing.State(leader=True))
    assert set(workload.PACKAGES) <= set(system.installed)
    assert system.sources == []  # distro: no extra apt source
    assert out.unit_status == testing.BlockedStatus(
        "Missing relations: shared-db, amqp, identity-service"
    )


def test_cloud_archive_origin_is_added_before_installing(ctx, system):
    state = testing.State(config={"openstack-origin": "cloud:noble-flamingo"})
    ctx.run(ctx.on.install(), state)
    assert system.sources == ["cloud:noble-flamingo"]


def test_guides_bionic_stein_origin_parses_but_is_refused_on_another_series(ctx, system):
    out = ctx.run(
        ctx.on.install(), testing.State(config={"openstack-origin": "cloud:bionic-stein"})
    )
    assert out.unit_status == testing.BlockedStatus(
        "Invalid config: openstack-origin: cloud:bionic-stein is for Ubuntu bionic but this "
        "machine runs noble; use distro or cloud:noble-<release>"
    )
    assert system.installed == {}


def test_failed_package_install_blocks_with_the_fix_and_no_traceback(ctx, system, monkeypatch):
    def broken(packages):
        raise RuntimeError("E: Unable to locate package masakari-api")

    monkeypatch.setattr(system, "install_packages", broken)
    out = ctx.run(ctx.on.install(), testing.State())
    assert out.unit_status.name == "blocked"
    assert "Package installation failed (RuntimeError)" in out.unit_status.message
    assert "openstack-origin (distro)" in out.unit_status.message
    assert "openstack-origin" in out.unit_status.message


# Invalid config --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        (
            "evacuation-delay",
            -1,
            "evacuation-delay: must be from 0 to 2147483647 seconds (got -1)",
        ),
        ("recovery-threads", 0, "recovery-threads: must be from 1 to 64 (got 0)"),
        ("openstack-origin", "cloud:noble", "openstack-origin: 'cloud:noble' is not distro"),
        ("openstack-origin", "cloud:noble-bogus", "unknown OpenStack release 'bogus'"),
        ("vip", "10.5.100.1 10.5.100.300", "vip: '10.5.100.300' is not an IP address"),
        ("vip_cidr", 200, "vip_cidr: must be from 1 to 128 (got 200)"),
        ("os-public-network", "10.0.0.0/33", "os-public-network: '10.0.0.0/33' is not a CIDR"),
        ("os-admin-hostname", "bad_name!", "os-admin-hostname: 'bad_name!' is not a host name"),
        ("region", "", "region: must not be empty"),
        (
            "worker-multiplier",
            -0.5,
            "worker-multiplier: must be a number greater than 0 and at most 32 (got -0.5)",
        ),
        ("haproxy-client-timeout", 0, "haproxy-client-timeout: must be from 1 to 2147483647 ms"),
        # The named inputs (issue 13): each a kind of fault, each refused here.
        ("worker-multiplier", 1e308, "worker-multiplier: must be a number greater than 0"),
        ("worker-multiplier", float("inf"), "worker-multiplier: must be a number greater than 0"),
        ("worker-multiplier", float("nan"), "worker-multiplier: must be a number greater than 0"),
        ("worker-multiplier", 1e6, "worker-multiplier: must be a number greater than 0"),
        (
            "region",
            "RegionOne\n[database]\nconnection = sqlite://",
            "region: must not contain control",
        ),
        ("region", "Region One", "region: must be a single word"),
        (
            "haproxy-server-timeout",
            2147483648,
            "haproxy-server-timeout: must be from 1 to 2147483647",
        ),
        ("vip", "fe80::1", "vip: fe80::1 is a link-local address"),
        ("vip", "127.0.0.5", "vip: 127.0.0.5 is a loopback address"),
        ("vip", "169.254.0.9", "vip: 169.254.0.9 is a link-local address"),
        ("vip_iface", "eth0\nfoo", "vip_iface: must not contain control characters"),
        (
            "vip_iface",
            "a-very-long-interface",
            "vip_iface: 'a-very-long-interface' is not a network",
        ),
        ("os-public-hostname", "host\nname", "os-public-hostname: must not contain control"),
        ("openstack-origin", "distro\ncloud:noble-caracal", "openstack-origin: must not contain"),
    ],
)
def test_invalid_config_blocks_naming_the_option_and_keeps_the_rendered_files(
    ctx, system, ready_state, option, value, message
):
    ready = ctx.run(ctx.on.config_changed(), ready_state)
    before = dict(system.files)
    restarts = len(system.restarts)
    bad = dataclasses.replace(ready, config={option: value})
    out = ctx.run(ctx.on.config_changed(), bad)
    assert out.unit_status.name == "blocked"
    assert out.unit_status.message.startswith("Invalid config: ")
    assert message in out.unit_status.message
    assert system.files == before
    assert len(system.restarts) == restarts
    # Nothing published either: every relation still carries what the good config sent.
    assert {r.endpoint: dict(r.local_unit_data) for r in out.relations} == {
        r.endpoint: dict(r.local_unit_data) for r in ready.relations
    }


# The happy path, and idempotence -----------------------------------------------------------------


def test_ready_unit_renders_migrates_restarts_and_is_active(ctx, system, ready_state):
    out = ctx.run(ctx.on.config_changed(), ready_state)
    assert out.unit_status == testing.ActiveStatus("Unit is ready")
    assert (
        system.commands.count(
            ["masakari-manage", "--config-file", workload.MASAKARI_CONF, "db", "sync"]
        )
        == 1
    )
    assert relation(out, "cluster").local_app_data["db-synced-release"] == "caracal"
    assert sorted(set(system.restarts)) == sorted(workload.SERVICES)
    assert system.file_mode(workload.MASAKARI_CONF) == ("root", "masakari", 0o640)
    assert system.file_mode(workload.HAPROXY_CFG) == ("root", "haproxy", 0o640)
    assert ["a2ensite", "-q", "masakari-api"] in system.commands


def test_second_identical_config_changed_restarts_nothing_and_does_not_migrate_again(
    ctx, system, ready_state
):
    first = ctx.run(ctx.on.config_changed(), ready_state)
    restarts, commands = len(system.restarts), len(system.commands)
    second = ctx.run(ctx.on.config_changed(), first)
    assert second.unit_status == testing.ActiveStatus("Unit is ready")
    assert len(system.restarts) == restarts
    # Only the reads of every hook: which remote nodes the local cluster has (none here).
    assert system.commands[commands:] == [["cibadmin", "--query", "--scope", "resources"]]


def test_changing_a_timer_restarts_only_the_services_that_read_masakari_conf(
    ctx, system, ready_state
):
    first = ctx.run(ctx.on.config_changed(), ready_state)
    restarts = len(system.restarts)
    ctx.run(ctx.on.config_changed(), dataclasses.replace(first, config={"evacuation-delay": 30}))
    # The resumer reads masakari.conf too (the database it watches).
    assert system.restarts[restarts:] == ["apache2", "masakari-engine", workload.RESUMER]
    assert conf(system)["DEFAULT"]["wait_period_after_service_update"] == "30"


def test_changing_a_haproxy_timeout_restarts_only_haproxy(ctx, system, ready_state):
    first = ctx.run(ctx.on.config_changed(), ready_state)
    restarts = len(system.restarts)
    state = dataclasses.replace(first, config={"haproxy-server-timeout": 30000})
    ctx.run(ctx.on.config_changed(), state)
    assert system.restarts[restarts:] == ["haproxy"]
    assert "timeout server 30000ms" in system.text(workload.HAPROXY_CFG)


def test_stopped_service_is_reported_with_where_to_look(ctx, system, ready_state):
    first = ctx.run(ctx.on.config_changed(), ready_state)
    system.running.discard("masakari-engine")
    out = ctx.run(ctx.on.update_status(), first)
    assert out.unit_status == testing.BlockedStatus(
        "Services not running: masakari-engine (see journalctl -u masakari-engine)"
    )


# masakari.conf contents --------------------------------------------------------------------------


def test_masakari_conf_carries_every_relation_and_option(ctx, system, ready_state):
    state = dataclasses.replace(ready_state, config={
        "debug": True, "region": "RegionTwo", "evacuate-all-instances": False,
        "ignore-instances-in-error-state": True, "evacuation-timeout": 45,
    })  # fmt: skip
    ctx.run(ctx.on.config_changed(), state)
    c = conf(system)
    default = c["DEFAULT"]
    assert default["debug"] == "True"
    assert default["transport_url"] == (
        f"rabbit://masakari:{RABBIT_PASSWORD}@10.5.0.20:5672,"
        f"masakari:{RABBIT_PASSWORD}@10.5.0.21:5672/masakari"
    )
    assert default["os_privileged_user_name"] == "masakari"
    assert default["os_privileged_user_password"] == SERVICE_PASSWORD
    assert default["os_privileged_user_tenant"] == "services"
    assert default["os_privileged_user_auth_url"] == "http://10.5.0.30:5000/v3"
    assert default["os_user_domain_name"] == "service_domain"
    assert default["os_region_name"] == "RegionTwo"
    assert default["nova_catalog_admin_info"] == "compute:nova:publicURL"
    assert default["wait_period_after_evacuation"] == "45"
    db_url = f"mysql+pymysql://masakari:{DB_PASSWORD}@10.5.0.10:3306/masakari?charset=utf8"
    assert c["database"]["connection"] == db_url
    assert c["taskflow"]["connection"] == db_url
    auth = c["keystone_authtoken"]
    assert auth["auth_type"] == "password"
    assert auth["auth_url"] == "http://10.5.0.30:35357/v3"
    assert auth["www_authenticate_uri"] == "http://10.5.0.30:5000/v3"
    assert auth["region_name"] == "RegionTwo"
    assert c["host_failure"]["evacuate_all_instances"] == "False"
    assert c["host_failure"]["ignore_instances_in_error_state"] == "True"
    assert c["instance_failure"]["process_all_instances"] == "False"
    assert c["oslo_concurrency"]["lock_path"] == "/var/lib/masakari/lock"
    assert not c.has_section("coordination")  # one unit: nothing to coordinate


def test_use_internal_endpoints_points_masakari_at_novas_internal_endpoint(
    ctx, system, ready_state
):
    state = dataclasses.replace(ready_state, config={"use-internal-endpoints": True})
    ctx.run(ctx.on.config_changed(), state)
    assert conf(system)["DEFAULT"]["nova_catalog_admin_info"] == "compute:nova:internalURL"


def test_several_units_coordinate_notification_intake_through_the_database(
    ctx, system, ready_state
):
    peers = cluster({1: {"internal-address": "10.5.0.41"}, 2: {"internal-address": "10.5.0.42"}})
    state = dataclasses.replace(
        ready_state, relations=[shared_db(), rabbitmq(), identity_service(), peers]
    )
    ctx.run(ctx.on.config_changed(), state)
    assert conf(system)["coordination"]["backend_url"] == (
        f"mysql://masakari:{DB_PASSWORD}@10.5.0.10:3306/masakari"
    )
    haproxy = system.text(workload.HAPROXY_CFG)
    for line in (
        "server masakari-0 192.0.2.0:15858 check",
        "server masakari-1 10.5.0.41:15858 check",
        "server masakari-2 10.5.0.42:15858 check",
    ):
        assert line in haproxy


@pytest.mark.parametrize("address", ["masakari-1.maas\n", "fe80::1%ens3", "10.5.0.41 "])
def test_a_peer_address_haproxy_cannot_take_blocks_and_reaches_no_file(
    ctx, system, ready_state, address
):
    peers = cluster({1: {"internal-address": address}})
    state = dataclasses.replace(
        ready_state, relations=[shared_db(), rabbitmq(), identity_service(), peers]
    )
    out = ctx.run(ctx.on.config_changed(), state)
    assert out.unit_status == testing.BlockedStatus(
        "Invalid relation data: cluster internal-address from masakari/1: not a host name or IP "
        "address"
    )
    assert workload.HAPROXY_CFG not in system.files


def test_release_specific_wsgi_entry_point(ctx, system, ready_state):
    system.available_version = "14.0.2-2"  # Debian 12's Zed
    ctx.run(ctx.on.config_changed(), ready_state)
    assert "WSGIScriptAlias / /usr/bin/masakari-wsgi" in system.text(workload.API_SITE)
    system.installed.clear()
    system.available_version = "20.0.0-0ubuntu1"  # masakari-wsgi was removed in 20.0.0
    ctx.run(ctx.on.config_changed(), dataclasses.replace(ready_state, config={"debug": True}))
    site = system.text(workload.API_SITE)
    assert "WSGIScriptAlias / /usr/lib/python3/dist-packages/masakari/wsgi/api.py" in site


def test_keystone_ca_is_written_and_used(ctx, system, ready_state):
    import base64

    ca = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    state = dataclasses.replace(ready_state, relations=[
        shared_db(), rabbitmq(), identity_service(ca_cert=base64.b64encode(ca).decode()),
        cluster(),
    ])  # fmt: skip
    ctx.run(ctx.on.config_changed(), state)
    assert system.read_file(workload.KEYSTONE_CA) == ca
    assert conf(system)["keystone_authtoken"]["cafile"] == workload.KEYSTONE_CA


# What the charm sends ---------------------------------------------------------------------------


def test_shared_db_amqp_and_identity_service_requests(ctx, system, ready_state):
    out = ctx.run(ctx.on.config_changed(), ready_state)
    assert relation(out, "shared-db").local_unit_data == {
        **relation(out, "shared-db").local_unit_data,
        "database": "masakari", "username": "masakari", "hostname": "192.0.2.0",
    }  # fmt: skip
    amqp = relation(out, "amqp").local_unit_data
    assert (amqp["username"], amqp["vhost"]) == ("masakari", "masakari")
    identity = relation(out, "identity-service").local_unit_data
    assert identity["service"] == "masakari"
    assert identity["region"] == "RegionOne"
    for kind in ("public", "internal", "admin"):
        assert identity[f"{kind}_url"] == "http://192.0.2.0:15868/v1/%(tenant_id)s"


def test_endpoints_use_os_hostnames_when_set(ctx, system, ready_state):
    state = dataclasses.replace(ready_state, config={
        "os-public-hostname": "masakari.example.com", "os-internal-hostname": "masakari.internal",
    })  # fmt: skip
    out = ctx.run(ctx.on.config_changed(), state)
    identity = relation(out, "identity-service").local_unit_data
    assert identity["public_url"] == "http://masakari.example.com:15868/v1/%(tenant_id)s"
    assert identity["internal_url"] == "http://masakari.internal:15868/v1/%(tenant_id)s"
    assert identity["admin_url"] == "http://192.0.2.0:15868/v1/%(tenant_id)s"


def test_endpoints_move_to_the_vip_only_once_hacluster_says_clustered(ctx, system, ready_state):
    config = {"vip": "10.5.100.1"}
    waiting = dataclasses.replace(
        ready_state, config=config, relations=[*ready_state.relations, hacluster(False)]
    )
    out = ctx.run(ctx.on.config_changed(), waiting)
    assert (
        relation(out, "identity-service")
        .local_unit_data["public_url"]
        .startswith("http://192.0.2.0:")
    )
    assert out.unit_status == testing.ActiveStatus("Unit is ready")
    clustered = dataclasses.replace(
        ready_state, config=config, relations=[*ready_state.relations, hacluster(True)]
    )
    out = ctx.run(ctx.on.config_changed(), clustered)
    assert relation(out, "identity-service").local_unit_data["public_url"] == (
        "http://10.5.100.1:15868/v1/%(tenant_id)s"
    )
    assert out.unit_status == testing.ActiveStatus("Unit is ready and clustered")


def test_vip_without_ha_relation_is_a_missing_relation(ctx, system, ready_state):
    out = ctx.run(
        ctx.on.config_changed(), dataclasses.replace(ready_state, config={"vip": "10.5.100.1"})
    )
    assert out.unit_status == testing.BlockedStatus("Missing relations: ha")


def test_ha_data_matches_the_reactive_charm_for_a_vip_on_the_units_network(
    ctx, system, ready_state
):
    network = testing.Network(
        "internal",
        bind_addresses=[testing.BindAddress(
            [testing.Address("10.5.100.20", cidr="10.5.100.0/24")], interface_name="ens3"
        )],
        ingress_addresses=["10.5.100.20"],
    )  # fmt: skip
    state = dataclasses.replace(
        ready_state, config={"vip": "10.5.100.1"}, networks={network},
        relations=[*ready_state.relations, hacluster(False)],
    )  # fmt: skip
    out = ctx.run(ctx.on.config_changed(), state)
    data = relation(out, "ha").local_unit_data
    # What charm-interface-hacluster sends for masakari with vip=10.5.100.1 and vip_iface=eth0.
    assert json.loads(data["json_resources"]) == {
        "res_masakari_242d562_vip": "ocf:heartbeat:IPaddr2",
        "res_masakari_haproxy": "lsb:haproxy",
    }
    assert json.loads(data["json_resource_params"]) == {
        "res_masakari_242d562_vip": '  params ip="10.5.100.1"  meta migration-threshold='
        '"INFINITY" failure-timeout="5s"  op monitor timeout="20s" interval="10s" depth="0"',
        "res_masakari_haproxy": '  meta migration-threshold="INFINITY" failure-timeout="5s"  '
        'op monitor interval="5s"',
    }
    assert data["json_groups"] == '{"grp_masakari_vips": "res_masakari_242d562_vip"}'
    assert data["json_clones"] == '{"cl_res_masakari_haproxy": "res_masakari_haproxy"}'
    assert data["json_init_services"] == '["haproxy"]'
    assert json.loads(data["json_delete_resources"]) == ["res_masakari_ens3_vip"]
    assert data["corosync_bindiface"] == "eth0"
    assert data["corosync_mcastport"] == "4440"
    for key in ("json_ms", "json_orders", "json_colocations", "json_locations"):
        assert data[key] == "{}"


def test_ha_data_uses_the_configured_fallback_for_a_vip_on_no_known_network(
    ctx, system, ready_state
):
    state = dataclasses.replace(
        ready_state, config={"vip": "10.9.9.9", "vip_iface": "br-ex", "vip_cidr": 16},
        relations=[*ready_state.relations, hacluster(False)],
    )  # fmt: skip
    data = relation(ctx.run(ctx.on.config_changed(), state), "ha").local_unit_data
    assert json.loads(data["json_resources"])["res_masakari_br-ex_vip"] == "ocf:heartbeat:IPaddr2"
    params = json.loads(data["json_resource_params"])["res_masakari_br-ex_vip"]
    assert params.startswith('  params ip="10.9.9.9" nic="br-ex" cidr_netmask="16"  meta ')
    assert data["corosync_bindiface"] == "br-ex"


def test_peers_learn_this_units_addresses(ctx, system, ready_state):
    out = ctx.run(ctx.on.config_changed(), ready_state)
    peer = relation(out, "cluster").local_unit_data
    assert peer["internal-address"] == peer["public-address"] == "192.0.2.0"


# What the charm reads ---------------------------------------------------------------------------


def test_database_is_unusable_until_this_unit_is_allowed(ctx, system, ready_state):
    state = dataclasses.replace(
        ready_state, relations=[shared_db(allowed_units="masakari/1"), rabbitmq(),
                                identity_service(), cluster()],
    )  # fmt: skip
    out = ctx.run(ctx.on.config_changed(), state)
    assert out.unit_status == testing.WaitingStatus("Incomplete relations: shared-db")
    assert workload.MASAKARI_CONF not in system.files


def test_related_but_silent_peers_are_incomplete_relations(ctx, system):
    state = testing.State(leader=True, relations=[
        testing.Relation("shared-db"), testing.Relation("amqp"),
        testing.Relation("identity-service"), cluster(),
    ])  # fmt: skip
    out = ctx.run(ctx.on.config_changed(), state)
    assert out.unit_status == testing.WaitingStatus(
        "Incomplete relations: shared-db, amqp, identity-service"
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"service_port": "fivethousand"},
            "identity-service service_port from keystone/0: not a port number (1-65535)",
        ),
        (
            {"auth_protocol": "gopher"},
            "identity-service auth_protocol from keystone/0: must be http or https",
        ),
        (
            {"api_version": "2"},
            "identity-service api_version from keystone/0: must be 3 (keystone v2 is not "
            "supported)",
        ),
        (
            {"ca_cert": "%%%not-base64"},
            "identity-service ca_cert from keystone/0: not valid base64",
        ),
    ],
)
def test_garbage_from_keystone_blocks_naming_the_key_without_a_traceback(
    ctx, system, overrides, message
):
    state = testing.State(leader=True, relations=[
        shared_db(), rabbitmq(), identity_service(**overrides), cluster(),
    ])  # fmt: skip
    out = ctx.run(ctx.on.config_changed(), state)
    assert out.unit_status == testing.BlockedStatus(f"Invalid relation data: {message}")


def test_non_leader_waits_for_the_leaders_migration_then_runs(ctx, system, ready_state):
    follower = dataclasses.replace(ready_state, leader=False)
    out = ctx.run(ctx.on.config_changed(), follower)
    assert out.unit_status == testing.WaitingStatus(
        "Waiting for the leader to migrate the database"
    )
    assert not any("db" in c for c in system.commands)
    migrated = dataclasses.replace(
        out,
        relations=[
            shared_db(),
            rabbitmq(),
            identity_service(),
            cluster(**{"db-synced-release": "caracal"}),
        ],
    )
    out = ctx.run(ctx.on.update_status(), migrated)
    assert out.unit_status == testing.ActiveStatus("Unit is ready")
    assert sorted(set(system.restarts)) == sorted(workload.SERVICES)


def test_failed_migration_blocks_without_leaking_the_database_password(ctx, system, ready_state):
    system.responders[("masakari-manage",)] = lambda argv: RunResult(
        1, "", f"DBConnectionError: (1045) Access denied: mysql+pymysql://masakari:{DB_PASSWORD}@x"
    )
    out = ctx.run(ctx.on.config_changed(), ready_state)
    assert out.unit_status.name == "blocked"
    assert out.unit_status.message.startswith("Database migration failed: ")
    assert DB_PASSWORD not in out.unit_status.message
    assert all(DB_PASSWORD not in line.message for line in ctx.juju_log)


def test_no_secret_reaches_the_log_or_status(ctx, system, ready_state):
    out = ctx.run(ctx.on.config_changed(), ready_state)
    text = " ".join(line.message for line in ctx.juju_log) + out.unit_status.message
    for secret in (DB_PASSWORD, RABBIT_PASSWORD, SERVICE_PASSWORD):
        assert secret not in text
        assert secret in system.text(workload.MASAKARI_CONF)


# Actions ---------------------------------------------------------------------------------------


def test_pause_stops_services_and_keeps_them_stopped_across_hooks(ctx, system, ready_state):
    ready = ctx.run(ctx.on.config_changed(), ready_state)
    paused = ctx.run(ctx.on.action("pause"), ready)
    assert system.paused == set(workload.SERVICES)
    assert paused.unit_status == testing.MaintenanceStatus(
        "Paused. Use the resume action to start services"
    )
    restarts = len(system.restarts)
    changed = ctx.run(ctx.on.config_changed(), dataclasses.replace(paused, config={"debug": True}))
    assert len(system.restarts) == restarts  # config changes while paused start nothing
    assert changed.unit_status.name == "maintenance"
    resumed = ctx.run(ctx.on.action("resume"), changed)
    assert system.paused == set()
    assert resumed.unit_status == testing.ActiveStatus("Unit is ready")


def test_restart_services_restarts_everything_or_refuses_while_paused(ctx, system, ready_state):
    ready = ctx.run(ctx.on.config_changed(), ready_state)
    restarts = len(system.restarts)
    ctx.run(ctx.on.action("restart-services"), ready)
    assert system.restarts[restarts:] == list(workload.SERVICES)
    assert ctx.action_results == {"restarted": " ".join(workload.SERVICES)}
    paused = ctx.run(ctx.on.action("pause"), ready)
    with pytest.raises(testing.ActionFailed, match="paused: run the resume action"):
        ctx.run(ctx.on.action("restart-services"), paused)


def test_openstack_upgrade_refuses_unless_action_managed(ctx, system, ready_state):
    ready = ctx.run(ctx.on.config_changed(), ready_state)
    with pytest.raises(testing.ActionFailed, match="action-managed-upgrade is false"):
        ctx.run(ctx.on.action("openstack-upgrade"), ready)


def test_action_managed_upgrade_waits_for_the_action_then_upgrades_and_migrates(
    ctx, system, ready_state
):
    managed = {"action-managed-upgrade": True}
    ready = ctx.run(ctx.on.config_changed(), dataclasses.replace(ready_state, config=managed))
    system.available_version = "2:20.0.0-0ubuntu1"
    new_origin = {**managed, "openstack-origin": "cloud:noble-flamingo"}
    waiting = ctx.run(ctx.on.config_changed(), dataclasses.replace(ready, config=new_origin))
    assert system.sources == []  # nothing upgraded yet
    assert waiting.unit_status == testing.ActiveStatus(
        "Unit is ready; run openstack-upgrade to apply cloud:noble-flamingo"
    )
    upgraded = ctx.run(ctx.on.action("openstack-upgrade"), waiting)
    assert system.sources == ["cloud:noble-flamingo"]
    assert ctx.action_results == {"outcome": "upgraded to flamingo from cloud:noble-flamingo"}
    assert relation(upgraded, "cluster").local_app_data["db-synced-release"] == "flamingo"
    assert upgraded.unit_status == testing.ActiveStatus("Unit is ready")


def test_origin_change_upgrades_on_config_change_when_not_action_managed(ctx, system, ready_state):
    ready = ctx.run(ctx.on.config_changed(), ready_state)
    system.available_version = "2:20.0.0-0ubuntu1"
    restarts = len(system.restarts)
    out = ctx.run(ctx.on.config_changed(), dataclasses.replace(
        ready, config={"openstack-origin": "cloud:noble-flamingo"}
    ))  # fmt: skip
    assert system.sources == ["cloud:noble-flamingo"]
    assert relation(out, "cluster").local_app_data["db-synced-release"] == "flamingo"
    assert sorted(system.restarts[restarts:]) == sorted(workload.SERVICES)


def test_security_checklist_passes_on_a_default_unit_and_names_failures(ctx, system, ready_state):
    ready = ctx.run(ctx.on.config_changed(), ready_state)
    with pytest.raises(testing.ActionFailed, match="1 check\\(s\\) failed: keystone-tls"):
        ctx.run(ctx.on.action("security-checklist"), ready)
    assert ctx.action_results["masakari.conf-permissions"] == "pass"
    assert ctx.action_results["debug-off"] == "pass"
    assert ctx.action_results["keystone-tls"].startswith("keystone is reached over http")
    tls = dataclasses.replace(ready, relations=[
        shared_db(), rabbitmq(), cluster(),
        identity_service(service_protocol="https", auth_protocol="https"),
    ])  # fmt: skip
    ctx.run(ctx.on.action("security-checklist"), tls)
    assert set(ctx.action_results.values()) == {"pass"}
    system.files[workload.MASAKARI_CONF].mode = 0o644
    with pytest.raises(testing.ActionFailed, match="masakari.conf-permissions"):
        ctx.run(ctx.on.action("security-checklist"), tls)
    assert "0644" in ctx.action_results["masakari.conf-permissions"]


def test_a_failed_restart_blocks_and_is_retried_on_the_next_hook(ctx, system, ready_state):
    ready = ctx.run(ctx.on.config_changed(), ready_state)

    def broken(name):
        raise RuntimeError("Job for apache2.service failed")

    original, system.restart_service = system.restart_service, broken
    changed = ctx.run(ctx.on.config_changed(), dataclasses.replace(ready, config={"debug": True}))
    assert changed.unit_status == testing.BlockedStatus(
        "apache2 restart failed (see journalctl -u apache2); retrying on the next hook (3 pending)"
    )
    system.restart_service = original
    restarts = len(system.restarts)
    retried = ctx.run(ctx.on.update_status(), changed)
    assert system.restarts[restarts:] == ["apache2", "masakari-engine", workload.RESUMER]
    assert retried.unit_status == testing.ActiveStatus("Unit is ready")


# upgrade-charm from the previous revision -------------------------------------------------------


def test_upgrade_charm_keeps_the_previous_revisions_pending_restarts(ctx, system, ready_state):
    """The previous revision stored `pending_restarts` (restarts that failed after a changed
    file); the files on disk are unchanged by now, so only that list says they are due."""
    first = ctx.run(ctx.on.config_changed(), ready_state)
    system.restarts.clear()
    old = testing.StoredState(owner_path="MasakariCharm", content={
        "applied_origin": "distro", "paused": False, "pending_restarts": ["apache2"],
    })  # fmt: skip
    out = ctx.run(ctx.on.upgrade_charm(), dataclasses.replace(first, stored_states={old}))
    assert system.restarts == ["apache2"]
    assert out.unit_status == testing.ActiveStatus("Unit is ready")
    ctx.run(ctx.on.update_status(), out)
    assert system.restarts == ["apache2"]


@pytest.mark.parametrize("managed", [True, False])
def test_upgrade_charm_with_the_previous_revisions_applied_origin_reinstalls_nothing(
    ctx, system, ready_state, managed
):
    """The previous revision stored the parsed origin (surrounding white space stripped); the
    same origin, written with a trailing space or newline-free padding, is no upgrade."""
    config = {"openstack-origin": " cloud:noble-epoxy ", "action-managed-upgrade": managed}
    first = ctx.run(ctx.on.config_changed(), dataclasses.replace(ready_state, config=config))
    system.sources.clear()
    restarts = len(system.restarts)
    old = testing.StoredState(owner_path="MasakariCharm", content={
        "applied_origin": "cloud:noble-epoxy", "paused": False, "pending_restarts": [],
    })  # fmt: skip
    out = ctx.run(ctx.on.upgrade_charm(), dataclasses.replace(first, stored_states={old}))
    assert out.unit_status == testing.ActiveStatus("Unit is ready")
    assert system.sources == []
    assert system.restarts[restarts:] == []
