"""A stand-in for vault on the `certificates` relation: a real CA, vault's classic databag.

What it answers is what charm-vault's leader publishes for a requirer unit (the classic
`tls-certificates` interface, ../shared/research/relation-formats-tls-cos.md, A.4): `ca` (the
root, raw PEM) and `<unit_name>.processed_requests`, JSON `{"<CN>": {"cert": <leaf PEM>, "key":
<PEM>}}` for each CN of the unit's `cert_requests`, the leaf signed by that CA with the requested
SANs (addresses as IP SANs, names as DNS SANs, as vault's `sort_sans` splits them). Like vault, a
request is issued once and answered from the cache until its SAN list changes; `renew` reissues
every certificate (vault's `reissue-certificates` action) under the same CA.

The CA's key and every issued key stay in the lab's state directory, 0600.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import tempfile
from pathlib import Path

CA_SUBJECT = "/CN=Vault Root Certificate Authority (charm-pki-local)"
DAYS = 30


class VaultStandIn:
    """vault's leader, as far as one requirer unit sees it; state under `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ca_cert = directory / "ca.pem"
        self.ca_key = directory / "ca.key"
        self.issued_file = directory / "issued.json"

    # ------------------------------------------------------------------ the CA
    def ensure_ca(self) -> str:
        """The root certificate (PEM), created on first use."""
        if not self.ca_cert.exists():
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            _openssl(
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
                "-days", str(DAYS), "-subj", CA_SUBJECT,
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                "-keyout", str(self.ca_key), "-out", str(self.ca_cert),
            )  # fmt: skip
            os.chmod(self.ca_key, 0o600)
        return self.ca_cert.read_text()

    # ------------------------------------------------------------------ the relation
    def answer(self, request: dict[str, str]) -> dict[str, str]:
        """vault's unit databag for the requirer that published `request` (its unit databag:
        `unit_name` and `cert_requests`). Raises ValueError for a request vault could not read."""
        ca = self.ensure_ca()
        unit_name = request.get("unit_name", "").replace("/", "_")
        if not unit_name:
            raise ValueError("the certificates request has no unit_name")
        try:
            wanted = json.loads(request.get("cert_requests") or "{}")
        except ValueError:
            raise ValueError("cert_requests is not JSON") from None
        issued = self._issued()
        processed = {}
        for cn, entry in sorted(wanted.items()):
            sans = sorted(set(entry.get("sans") or []))
            key = f"{unit_name}/{cn}"
            if key not in issued or issued[key]["sans"] != sans:
                issued[key] = {"sans": sans, **self._issue(cn, sans)}
            processed[cn] = {"cert": issued[key]["cert"], "key": issued[key]["key"]}
        self._save(issued)
        data = {"ca": ca}
        if processed:
            data[f"{unit_name}.processed_requests"] = json.dumps(processed, sort_keys=True)
        return data

    def renew(self) -> None:
        """Reissue every certificate (new key, new serial) under the same CA."""
        issued = self._issued()
        for key, entry in issued.items():
            cn = key.split("/", 1)[1]
            issued[key] = {"sans": entry["sans"], **self._issue(cn, entry["sans"])}
        self._save(issued)

    # ------------------------------------------------------------------ issuing
    def _issue(self, cn: str, sans: list[str]) -> dict[str, str]:
        self.ensure_ca()
        names = []
        for san in sans:
            try:
                names.append(f"IP:{ipaddress.ip_address(san)}")
            except ValueError:
                names.append(f"DNS:{san}")
        if cn not in sans:
            names.append(f"DNS:{cn}" if not _is_address(cn) else f"IP:{cn}")
        with tempfile.TemporaryDirectory(dir=self.directory) as tmp:
            key, csr, cert = (Path(tmp) / n for n in ("key.pem", "req.csr", "cert.pem"))
            ext = Path(tmp) / "ext.cnf"
            ext.write_text(
                "basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n"
                f"subjectAltName={','.join(names)}\n"
            )
            _openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}",
                     "-keyout", str(key), "-out", str(csr))  # fmt: skip
            _openssl(
                "x509", "-req", "-sha256", "-days", str(DAYS), "-in", str(csr),
                "-CA", str(self.ca_cert), "-CAkey", str(self.ca_key), "-set_serial",
                str(int.from_bytes(os.urandom(8), "big")), "-extfile", str(ext), "-out", str(cert),
            )  # fmt: skip
            return {"cert": cert.read_text(), "key": key.read_text()}

    def _issued(self) -> dict[str, dict]:
        try:
            return json.loads(self.issued_file.read_text())
        except (OSError, ValueError):
            return {}

    def _save(self, issued: dict[str, dict]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.issued_file.touch(mode=0o600)
        self.issued_file.write_text(json.dumps(issued, indent=1, sort_keys=True))


def _is_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _openssl(*args: str) -> None:
    result = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {result.stderr.strip()[-400:]}")


def lab_ca() -> Path:
    """The lab vault's root certificate file (created on first use), for the lab's clients."""
    from . import settings

    VaultStandIn(settings.VAULT).ensure_ca()
    return settings.CA_FILE


def served_certificate() -> dict:
    """The certificate behind the Masakari API's public port (ssl's getpeercert() dict, plus
    `tls_version`), verified against the lab vault's CA for the lab's address as every client
    does; raises ssl.SSLError if it does not verify."""
    import socket
    import ssl

    from . import settings

    context = ssl.create_default_context(cafile=str(lab_ca()))
    with socket.create_connection((settings.IP, settings.MASAKARI_PUBLIC_PORT), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=settings.IP) as tls:
            cert = tls.getpeercert()
            cert["tls_version"] = tls.version()
            return cert
