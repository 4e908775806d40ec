"""Generated config and relation data (issue 13): every outcome is a catalog status, every
rendered ini parses back with only its template's keys, no secret leaks, and a bad config
writes and publishes nothing. Seeds are fixed (tests/generated_inputs.py)."""

from __future__ import annotations

import dataclasses
import json

from hypothesis import given
from hypothesis import strategies as st
from ops import testing

import masakari_workload as workload
from charm import MasakariCharm
from charm_common.testing import FakeSystem
from tests.generated_inputs import (
    GENERATED,
    GeneratedUnit,
    check_outcome,
    configs,
    ini_keys,
    mutated,
    nasty_text,
)

from .conftest import CHARM_ROOT
from .relation_data import (
    DB_PASSWORD,
    RABBIT_PASSWORD,
    SERVICE_PASSWORD,
    cluster,
    identity_service,
    rabbitmq,
    shared_db,
)

INIS = {workload.MASAKARI_CONF: ini_keys(CHARM_ROOT / "templates/masakari.conf.j2")}
SECRETS = [DB_PASSWORD, RABBIT_PASSWORD, SERVICE_PASSWORD]
GOOD = {
    "vip": st.sampled_from(["10.5.100.1", "10.5.100.1 10.6.100.1", "2001:db8::10"]),
    "openstack-origin": st.sampled_from(["distro", "cloud:noble-dalmatian", "ppa:a/b"]),
    "os-public-hostname": st.sampled_from(["masakari.example.com", "api"]),
    "os-public-network": st.sampled_from(["10.0.0.0/24", "192.0.2.0/24 10.0.0.0/8"]),
}


def machine() -> FakeSystem:
    system = FakeSystem()
    system.write_file("/etc/os-release", b"ID=ubuntu\nVERSION_CODENAME=noble\n",
                      owner="root", group="root", mode=0o644)  # fmt: skip
    return system


UNIT = GeneratedUnit(MasakariCharm, CHARM_ROOT, machine)


def ready_relations() -> list:
    return [shared_db(), rabbitmq(), identity_service(), cluster()]


def published(state: testing.State) -> dict[str, dict[str, str]]:
    return {r.endpoint: dict(r.local_unit_data) for r in state.relations}


@GENERATED
@given(config=configs(CHARM_ROOT / "charmcraft.yaml", GOOD))
def test_generated_configs_end_in_a_catalog_status_and_a_bad_one_changes_nothing(config):
    ready, system = UNIT.ready(testing.State(leader=True, relations=ready_relations()))
    files = dict(system.files)
    out, system, ctx = UNIT.run(dataclasses.replace(ready, config=config), system)
    message = check_outcome(out, system, SECRETS, INIS, ctx.juju_log)
    strings = [v for v in config.values() if isinstance(v, str)]
    if any(c in v for v in strings for c in "\n\r\x00"):
        assert message.template.startswith("Invalid config: "), out.unit_status
    if message.template.startswith("Invalid config: "):
        assert system.files == files
        assert published(out) == published(ready)


def relation_sets():
    db = shared_db().remote_units_data[0]
    bus = rabbitmq().remote_units_data
    identity = identity_service().remote_units_data[0]
    vault = {
        "ca": "-----BEGIN CERTIFICATE-----\nMIIroot\n-----END CERTIFICATE-----",
        "masakari_0.processed_requests": json.dumps({"192.0.2.0": {
            "cert": "-----BEGIN CERTIFICATE-----\nMIIleaf\n-----END CERTIFICATE-----",
            "key": "-----BEGIN RSA PRIVATE KEY-----\nMIIEvault-issued-key\n-----END RSA "
            "PRIVATE KEY-----",
        }}),
    }  # fmt: skip
    return st.tuples(
        mutated(db), mutated(bus[0]), mutated(bus[1]), mutated(identity), mutated(vault),
        st.dictionaries(st.sampled_from(["internal-address", "private-address"]), nasty_text,
                        max_size=2),
    )  # fmt: skip


@GENERATED
@given(data=relation_sets())
def test_generated_relation_data_ends_in_a_catalog_status_and_a_clean_masakari_conf(data):
    db, bus0, bus1, identity, vault, peer = data
    state = testing.State(leader=True, relations=[
        dataclasses.replace(shared_db(), remote_units_data={0: db}),
        dataclasses.replace(rabbitmq(), remote_units_data={0: bus0, 1: bus1}),
        dataclasses.replace(identity_service(), remote_units_data={0: identity}),
        cluster(peers={1: peer}),
        testing.Relation("certificates", remote_app_name="vault", remote_units_data={0: vault}),
    ])  # fmt: skip
    out, system, ctx = UNIT.run(state)
    sent = [d.get(k, "") for d in (db, bus0, bus1, identity)
            for k in ("password", "service_password")]  # fmt: skip
    sent.append("MIIEvault-issued-key")  # the key vault issued (when the mutation kept it)
    check_outcome(out, system, [*SECRETS, *sent], INIS, ctx.juju_log)
