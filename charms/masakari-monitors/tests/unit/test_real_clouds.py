"""What real clouds send (issue 13): each named input is a test, each a kind of fault fixed."""

from __future__ import annotations

import configparser
import dataclasses

import pytest
from ops import testing

import masakari_monitors_workload as workload
from charm_common.system import RunResult

from .relation_data import identity_credentials, nova_compute

HOST = workload.MONITORS["host"].service


def conf(system) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.read_string(system.text(workload.MONITORS_CONF))
    return parser


@pytest.mark.parametrize("key", ["auth_host", "credentials_username", "credentials_password"])
def test_a_newline_in_a_keystone_value_blocks_naming_the_key_and_writes_nothing(
    ctx, system, ready_state, key
):
    ready = ctx.run(ctx.on.config_changed(), ready_state)
    before = system.text(workload.MONITORS_CONF)
    bad = identity_credentials(**{key: "value\n[api]\nauth_type = none"})
    out = ctx.run(ctx.on.config_changed(), dataclasses.replace(
        ready, relations=[nova_compute(), bad]
    ))  # fmt: skip
    assert out.unit_status.message.startswith(
        f"Invalid relation data: identity-credentials {key} from keystone/0: "
    )
    assert system.text(workload.MONITORS_CONF) == before


def test_a_daemon_reload_failing_once_is_retried_and_the_monitors_then_restart(
    ctx, system, ready_state
):
    failures = [RunResult(1, "", "Failed to reload daemon: Connection timed out")]
    system.responders[("systemctl", "daemon-reload")] = lambda argv: (
        failures.pop() if failures else RunResult(0, "", "")
    )
    failed = ctx.run(ctx.on.config_changed(), ready_state)
    assert failed.unit_status.message.startswith(
        "systemctl daemon-reload failed (see juju debug-log); retrying on the next hook"
    )
    assert system.restarts == []
    out = ctx.run(ctx.on.update_status(), failed)
    assert system.commands.count(["systemctl", "daemon-reload"]) == 2
    assert set(system.restarts) == {m.service for k, m in workload.MONITORS.items()
                                    if k != "introspective"}  # fmt: skip
    assert out.unit_status == testing.ActiveStatus("Unit is ready")


def test_without_a_host_line_nova_registers_the_short_name_and_the_monitors_use_it(
    ctx, system, ready_state
):
    # A MAAS machine whose nova.conf predates `host = <fqdn>`: Nova uses gethostname().
    system.host_name = "virt-node-01"
    system.write_file("/etc/nova/nova.conf", "[DEFAULT]\ndebug = False\n",
                      owner="root", group="nova", mode=0o640)  # fmt: skip
    out = ctx.run(ctx.on.config_changed(), ready_state)
    assert out.unit_status == testing.ActiveStatus("Unit is ready")
    assert conf(system)["DEFAULT"]["hostname"] == "virt-node-01"


def test_remove_takes_away_drop_ins_files_and_the_driver(ctx, system, ready_state):
    ready = ctx.run(ctx.on.config_changed(), ready_state)
    ours = [p for p in system.files if p.startswith(("/etc/systemd/", "/etc/masakarimonitors",
                                                      "/usr/local/"))]  # fmt: skip
    assert ours
    ctx.run(ctx.on.remove(), ready)
    assert [p for p in ours if p in system.files] == []
    assert HOST not in system.running


def test_a_vault_ca_that_is_not_pem_blocks_naming_the_key(ctx, system, ready_state):
    from .relation_data import vault

    state = dataclasses.replace(ready_state, relations=[*ready_state.relations, vault("garbage")])
    out = ctx.run(ctx.on.config_changed(), state)
    assert out.unit_status == testing.BlockedStatus(
        "Invalid relation data: certificates ca from vault/0: not a PEM certificate"
    )


TRUNCATED = "-----BEGIN CERTIFICATE-----\nMIIBvault"  # cut before its END line


@pytest.mark.parametrize(
    ("relation", "message"),
    [
        ("vault-ca", "certificates ca from vault/0"),
        ("vault-chain", "certificates chain from vault/0"),
        ("keystone", "identity-credentials ca_cert from keystone/0"),
    ],
)
def test_a_truncated_ca_blocks_and_is_never_written(ctx, system, ready_state, relation, message):
    import base64

    from .relation_data import vault

    whole = "-----BEGIN CERTIFICATE-----\nMIIBvault\n-----END CERTIFICATE-----"
    related = {
        "vault-ca": [nova_compute(), identity_credentials(), vault(TRUNCATED)],
        "vault-chain": [nova_compute(), identity_credentials(), vault(whole, TRUNCATED)],
        "keystone": [nova_compute(), identity_credentials(
            ca_cert=base64.b64encode(f"{whole}\n{TRUNCATED}".encode()).decode()
        )],
    }[relation]  # fmt: skip
    out = ctx.run(ctx.on.config_changed(), dataclasses.replace(ready_state, relations=related))
    assert out.unit_status == testing.BlockedStatus(
        f"Invalid relation data: {message}: not a PEM certificate"
    )
    assert workload.KEYSTONE_CA not in system.files
