"""The lab's vault stand-in, without a lab: what it answers is what the masakari charm reads,
its certificates verify against its CA for the names asked, and it reissues like vault."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from . import settings
from .vault import VaultStandIn

sys.path.insert(0, str(settings.REPO / "lib"))
from charm_common import relations  # noqa: E402

UNIT = "masakari/0"
SANS = ["10.213.0.1", "masakari.lab.example", "10.213.0.1"]


@pytest.fixture
def vault(tmp_path):
    return VaultStandIn(tmp_path / "vault")


def request(sans=SANS):
    """What the masakari charm publishes on `certificates` (its own request builder)."""
    return relations.certificate_request(UNIT, {"10.213.0.1": sans})


def read(answer: dict[str, str]) -> relations.ServerCertificate:
    issued = relations.parse_server_certificate("certificates", [("vault/0", answer)], UNIT,
                                                "10.213.0.1")  # fmt: skip
    assert issued is not None
    return issued


def openssl(*args: str, stdin: str | None = None) -> str:
    return subprocess.run(["openssl", *args], input=stdin, capture_output=True, text=True,
                          check=True).stdout  # fmt: skip


def test_the_charm_reads_the_answer_and_the_leaf_verifies_for_every_name_asked(vault, tmp_path):
    answer = vault.answer(request())
    assert set(answer) == {"ca", "masakari_0.processed_requests"}
    issued = read(answer)
    (tmp_path / "ca.pem").write_text(issued.ca)
    (tmp_path / "leaf.pem").write_text(issued.certificate)
    assert "OK" in openssl(
        "verify", "-CAfile", str(tmp_path / "ca.pem"), str(tmp_path / "leaf.pem")
    )
    text = openssl("x509", "-noout", "-ext", "subjectAltName", stdin=issued.certificate)
    assert "IP Address:10.213.0.1" in text and "DNS:masakari.lab.example" in text
    # The key belongs to the certificate.
    modulus = openssl("x509", "-noout", "-modulus", stdin=issued.certificate)
    assert openssl("rsa", "-noout", "-modulus", stdin=issued.key) == modulus
    assert oct(vault.ca_key.stat().st_mode & 0o777) == "0o600"
    assert oct(vault.issued_file.stat().st_mode & 0o777) == "0o600"


def test_issued_once_until_the_sans_change_and_renewal_keeps_the_ca(vault):
    first = read(vault.answer(request()))
    assert read(vault.answer(request())).certificate == first.certificate
    moved = read(vault.answer(request([*SANS, "10.213.0.100"])))
    assert moved.certificate != first.certificate
    vault.renew()
    renewed = read(vault.answer(request([*SANS, "10.213.0.100"])))
    assert renewed.certificate != moved.certificate and renewed.key != moved.key
    assert renewed.ca == first.ca


def test_a_request_vault_cannot_read_is_refused(vault):
    with pytest.raises(ValueError, match="not JSON"):
        vault.answer({"unit_name": "masakari_0", "cert_requests": "{"})
    with pytest.raises(ValueError, match="unit_name"):
        vault.answer({"cert_requests": json.dumps({})})
