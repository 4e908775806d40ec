"""What real clouds send (issue 13): each named input is a test, each a kind of fault fixed."""

from __future__ import annotations

import configparser
import dataclasses
import json

import pytest
from ops import testing

import masakari_workload as workload
from charm_common.system import RunResult

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


def relation(state: testing.State, endpoint: str) -> testing.RelationBase:
    return next(r for r in state.relations if r.endpoint == endpoint)


def conf(system) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.read_string(system.text(workload.MASAKARI_CONF))
    return parser


def with_relation(state: testing.State, new: testing.RelationBase) -> testing.State:
    others = [r for r in state.relations if r.endpoint != new.endpoint]
    return dataclasses.replace(state, relations=[*others, new])


# A newline in a received value: Invalid relation data, masakari.conf untouched -------------------


@pytest.mark.parametrize(
    ("new", "key"),
    [
        (shared_db(db_host="10.5.0.10\n[database]\nconnection = sqlite://"), "db_host"),
        (rabbitmq(hostname="10.5.0.20\nssl = False"), "hostname"),
        (identity_service(service_host="10.5.0.30\nauth_type = none"), "service_host"),
        (identity_service(service_username="masakari\npassword = x"), "service_username"),
        (identity_service(service_password="secret\n[database]"), "service_password"),
    ],
    ids=["shared-db db_host", "amqp hostname", "service_host", "service_username",
         "service_password"],
)  # fmt: skip
def test_a_newline_in_a_received_value_blocks_naming_the_key_and_writes_nothing(
    ctx, system, ready_state, new, key
):
    ready = ctx.run(ctx.on.config_changed(), ready_state)
    before = system.text(workload.MASAKARI_CONF)
    out = ctx.run(ctx.on.config_changed(), with_relation(ready, new))
    assert out.unit_status.name == "blocked"
    assert out.unit_status.message.startswith(f"Invalid relation data: {new.endpoint} {key} ")
    assert "\n" not in out.unit_status.message and "secret" not in out.unit_status.message
    assert system.text(workload.MASAKARI_CONF) == before


# Publish only once everything is valid -----------------------------------------------------------


def test_os_hostname_with_a_network_the_unit_is_not_on_publishes_nothing(ctx, system, ready_state):
    ready = ctx.run(ctx.on.config_changed(), ready_state)
    sent = dict(relation(ready, "identity-service").local_unit_data)
    bad = dataclasses.replace(ready, config={
        "os-public-hostname": "masakari.example.com", "os-public-network": "203.0.113.0/24",
    })  # fmt: skip
    out = ctx.run(ctx.on.config_changed(), bad)
    assert out.unit_status.message.startswith(
        "Invalid config: os-public-network: no address of this unit is in 203.0.113.0/24"
    )
    assert dict(relation(out, "identity-service").local_unit_data) == sent


# A step that failed is retried until done --------------------------------------------------------


def test_a2ensite_failing_once_is_retried_then_apache2_and_the_engine_restart(
    ctx, system, ready_state
):
    failures = [RunResult(1, "", "ERROR: Site masakari-api does not exist!")]
    system.responders[("a2ensite",)] = lambda argv: (
        failures.pop() if failures else RunResult(0, "", "")
    )
    failed = ctx.run(ctx.on.config_changed(), dataclasses.replace(ready_state, config={
        "debug": True,
    }))  # fmt: skip
    assert failed.unit_status == testing.BlockedStatus(
        "a2ensite -q masakari-api failed (see juju debug-log); retrying on the next hook "
        "(7 pending)"
    )
    assert system.restarts == []
    assert conf(system)["DEFAULT"]["debug"] == "True"  # written, not yet in effect
    out = ctx.run(ctx.on.update_status(), failed)  # nothing changed on disk since
    assert [c for c in system.commands if c[0] == "a2ensite"] == [
        ["a2ensite", "-q", "masakari-api"]
    ] * 2
    assert system.restarts == list(workload.SERVICES)
    assert out.unit_status == testing.ActiveStatus("Unit is ready")


# RabbitMQ over TLS -------------------------------------------------------------------------------


@pytest.mark.parametrize("with_ca", [False, True])
def test_rabbitmq_tls_port_turns_ssl_on_with_or_without_a_ca(ctx, system, ready_state, with_ca):
    ca = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJ4ekNDQVhHZ0F3SUJBZ0lVRQotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg=="  # noqa: E501
    extra = {"ssl_port": "5671", **({"ssl_ca": ca} if with_ca else {})}
    out = ctx.run(ctx.on.config_changed(), with_relation(ready_state, rabbitmq(**extra)))
    assert out.unit_status.name == "active", out.unit_status
    rabbit = conf(system)["oslo_messaging_rabbit"]
    assert rabbit["ssl"] == "True"
    assert ":5671/" in conf(system)["DEFAULT"]["transport_url"]
    assert ("ssl_ca_file" in rabbit) is with_ca


# hacluster: a changed or removed VIP is deleted --------------------------------------------------


def test_a_changed_vip_lists_the_old_resource_for_deletion(ctx, system, ready_state):
    network = testing.Network("internal", bind_addresses=[testing.BindAddress(
        [testing.Address("10.5.100.20", cidr="10.5.100.0/24")], interface_name="ens3"
    )], ingress_addresses=["10.5.100.20"])  # fmt: skip
    first = dataclasses.replace(
        ready_state, config={"vip": "10.5.100.1"}, networks={network},
        relations=[*ready_state.relations, hacluster(True)],
    )  # fmt: skip
    out = ctx.run(ctx.on.config_changed(), first)
    assert "res_masakari_242d562_vip" in json.loads(
        relation(out, "ha").local_unit_data["json_resources"]
    )
    out = ctx.run(ctx.on.config_changed(), dataclasses.replace(out, config={"vip": "10.5.100.2"}))
    data = relation(out, "ha").local_unit_data
    assert "res_masakari_242d562_vip" in json.loads(data["json_delete_resources"])
    assert "res_masakari_242d562_vip" not in json.loads(data["json_resources"])
    assert "242d562" not in data["json_groups"]


# Secrets in the origin ---------------------------------------------------------------------------


def test_credentials_in_a_deb_origin_never_reach_status_logs_or_action_output(
    ctx, system, ready_state, monkeypatch
):
    origin = "deb https://user:tok3n-s3cret@archive.example.com/ubuntu noble main"

    def broken(packages):
        raise RuntimeError(f"E: Failed to fetch {origin.split()[1]}/dists/noble/InRelease 401")

    monkeypatch.setattr(system, "install_packages", broken)
    out = ctx.run(ctx.on.install(), dataclasses.replace(ready_state, config={
        "openstack-origin": origin, "action-managed-upgrade": True,
    }))  # fmt: skip
    assert "Package installation failed" in out.unit_status.message
    assert "https://***@archive.example.com" in out.unit_status.message
    with pytest.raises(testing.ActionFailed) as failed:
        ctx.run(ctx.on.action("openstack-upgrade"), out)
    texts = [out.unit_status.message, str(failed.value.message), str(ctx.action_results),
             *(line.message for line in ctx.juju_log)]  # fmt: skip
    assert not [t for t in texts if "tok3n-s3cret" in t]


# Releases the charm does not know yet ------------------------------------------------------------


def test_a_newer_masakari_runs_with_the_newest_templates_and_says_so(ctx, system, ready_state):
    system.available_version = "2:29.0.0-0ubuntu1"
    out = ctx.run(ctx.on.config_changed(), ready_state)
    assert out.unit_status == testing.ActiveStatus(
        "Unit is ready; Masakari 2:29.0.0-0ubuntu1 is newer than this charm knows: running "
        "with 2026.2's templates"
    )
    assert relation(out, "cluster").local_app_data["db-synced-release"] == "2026.2"


def test_an_older_unknown_masakari_blocks_naming_the_version(ctx, system, ready_state):
    system.available_version = "1:5.0.0-0ubuntu1"
    out = ctx.run(ctx.on.config_changed(), ready_state)
    assert out.unit_status == testing.BlockedStatus(
        "Unknown Masakari release (masakari-common 1:5.0.0-0ubuntu1): set openstack-origin to "
        "a supported one"
    )


# oslo.config reads `$` as a substitution ---------------------------------------------------------


def test_a_dollar_in_a_password_is_escaped_for_oslo_config(ctx, system, ready_state):
    out = ctx.run(ctx.on.config_changed(), with_relation(
        ready_state, identity_service(service_password="pa$word")
    ))  # fmt: skip
    assert out.unit_status.name == "active"
    assert conf(system)["keystone_authtoken"]["password"] == "pa$$word"


# remove undoes what the charm put there ----------------------------------------------------------


def test_remove_takes_away_the_api_site_and_the_cas(ctx, system, ready_state):
    ready = ctx.run(ctx.on.config_changed(), ready_state)
    assert workload.API_SITE in system.files
    ctx.run(ctx.on.remove(), ready)
    assert workload.API_SITE not in system.files
    assert ["a2dissite", "-q", "masakari-api"] in system.commands


def test_the_api_port_is_opened(ctx, system, ready_state):
    out = ctx.run(ctx.on.config_changed(), ready_state)
    assert {p.port for p in out.opened_ports} == {workload.PUBLIC_PORT}


def test_no_secret_reaches_a_file_readable_by_others(ctx, system, ready_state):
    ctx.run(ctx.on.config_changed(), ready_state)
    for path, file in system.files.items():
        text = file.content.decode(errors="replace")
        if any(s in text for s in (DB_PASSWORD, RABBIT_PASSWORD, SERVICE_PASSWORD)):
            assert file.mode & 0o037 == 0, path


def test_cluster_relation_keeps_the_peer_addresses_out_of_haproxy_when_garbled(
    ctx, system, ready_state
):
    state = with_relation(ready_state, cluster(peers={1: {"internal-address": "x\nserver evil"}}))
    out = ctx.run(ctx.on.config_changed(), state)
    assert out.unit_status.message.startswith(
        "Invalid relation data: cluster internal-address from masakari/1"
    )
