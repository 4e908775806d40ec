"""The Masakari API over TLS with vault's certificates (classic tls-certificates, issue 17)."""

from __future__ import annotations

import dataclasses
import json

import pytest
from ops import testing

import masakari_workload as workload

# Shapes as charm-vault publishes them (PEM bodies shortened): leaf only in `cert`, the key in
# clear, `ca` and `chain` raw PEM, the response keyed by this unit's munged name.
CA = "-----BEGIN CERTIFICATE-----\nMIIDvaultroot\n-----END CERTIFICATE-----"
CHAIN = "-----BEGIN CERTIFICATE-----\nMIIDintermediate\n-----END CERTIFICATE-----"
LEAF = "-----BEGIN CERTIFICATE-----\nMIIDleaf-{n}\n-----END CERTIFICATE-----"
KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIEsecret-key-{n}\n-----END RSA PRIVATE KEY-----"
CN = "192.0.2.0"  # the public binding's address: no hostname, no VIP configured


def vault(issued: dict | None = None, **extra: str) -> testing.Relation:
    data = {"ca": CA, "chain": CHAIN, **extra}
    if issued is not None:
        data["masakari_0.processed_requests"] = json.dumps(issued, sort_keys=True)
    return testing.Relation("certificates", remote_app_name="vault", remote_units_data={0: data})


def issued(n: int = 1) -> dict:
    return {CN: {"cert": LEAF.format(n=n), "key": KEY.format(n=n)}}


def relation(state: testing.State, endpoint: str) -> testing.RelationBase:
    return next(r for r in state.relations if r.endpoint == endpoint)


def with_vault(state: testing.State, certificates: testing.Relation | None) -> testing.State:
    others = [r for r in state.relations if r.endpoint != "certificates"]
    return dataclasses.replace(state, relations=[*others, *filter(None, [certificates])])


def test_the_request_is_what_charmhelpers_sends_and_endpoints_stay_http_until_issued(
    ctx, system, ready_state
):
    out = ctx.run(ctx.on.config_changed(), with_vault(ready_state, vault()))
    sent = relation(out, "certificates").local_unit_data
    assert sent["unit_name"] == "masakari_0"
    requests = json.loads(sent["cert_requests"])
    assert list(requests) == [CN] and requests[CN]["sans"] == sorted(set(requests[CN]["sans"]))
    assert relation(out, "identity-service").local_unit_data["public_url"].startswith("http://")
    assert workload.TLS_KEY not in system.files
    assert out.unit_status.name == "active"


def test_an_issued_certificate_is_served_and_keystone_gets_https_in_the_same_hook(
    ctx, system, ready_state
):
    ready = ctx.run(ctx.on.config_changed(), ready_state)
    out = ctx.run(ctx.on.config_changed(), with_vault(ready, vault(issued())))
    assert system.text(workload.TLS_CERT) == f"{LEAF.format(n=1)}\n{CHAIN}\n"
    assert system.file_mode(workload.TLS_KEY) == ("root", "root", 0o600)
    assert system.file_mode(workload.TLS_CERT) == ("root", "root", 0o640)
    assert system.text(workload.TRUSTED_CA) == CA
    site = system.text(workload.API_SITE)
    assert "SSLEngine on" in site and f"SSLCertificateKeyFile {workload.TLS_KEY}" in site
    assert ["a2enmod", "-q", "ssl", "headers"] in system.commands
    assert ["update-ca-certificates", "--fresh"] in system.commands
    assert system.restarts[-1] == "apache2"
    urls = relation(out, "identity-service").local_unit_data
    for kind in ("public", "internal", "admin"):
        assert urls[f"{kind}_url"] == "https://192.0.2.0:15868/v1/%(tenant_id)s"
    assert out.unit_status == testing.ActiveStatus("Unit is ready")


def test_a_renewed_certificate_restarts_apache_and_keeps_https(ctx, system, ready_state):
    first = ctx.run(ctx.on.config_changed(), with_vault(ready_state, vault(issued(1))))
    restarts = len(system.restarts)
    out = ctx.run(ctx.on.config_changed(), with_vault(first, vault(issued(2))))
    assert "MIIEsecret-key-2" in system.text(workload.TLS_KEY)
    assert system.restarts[restarts:] == ["apache2"]
    assert relation(out, "identity-service").local_unit_data["public_url"].startswith("https")


def test_removing_vault_returns_to_http_and_takes_the_key_away(ctx, system, ready_state):
    serving = ctx.run(ctx.on.config_changed(), with_vault(ready_state, vault(issued())))
    out = ctx.run(ctx.on.config_changed(), with_vault(serving, None))
    assert workload.TLS_KEY not in system.files and workload.TRUSTED_CA not in system.files
    assert "SSLEngine" not in system.text(workload.API_SITE)
    assert relation(out, "identity-service").local_unit_data["public_url"].startswith("http://")
    assert system.commands.count(["update-ca-certificates", "--fresh"]) == 2
    assert out.unit_status == testing.ActiveStatus("Unit is ready")


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ({CN: {"cert": "not a cert", "key": KEY.format(n=1)}}, "is not a PEM certificate"),
        ({CN: {"cert": LEAF.format(n=1), "key": "MIIEsecret-key-9 but no PEM"}},
         "is not a PEM private key"),
    ],
)  # fmt: skip
def test_garbage_from_vault_blocks_naming_the_key_and_never_shows_it(
    ctx, system, ready_state, bad, why
):
    out = ctx.run(ctx.on.config_changed(), with_vault(ready_state, vault(bad)))
    assert out.unit_status.message.startswith(
        "Invalid relation data: certificates masakari_0.processed_requests from vault/0: "
    )
    assert why in out.unit_status.message
    assert "secret-key" not in out.unit_status.message
    assert not [line for line in ctx.juju_log if "secret-key" in line.message]
