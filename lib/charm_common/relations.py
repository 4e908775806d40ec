"""The classic Charmed OpenStack relation contracts, spoken from the ops side.

Each class reads what the remote charm sends and writes what it expects, with the key names and
encodings of the reactive interfaces (raw strings on identity-service, shared-db and amqp,
`json_*` CRM keys on ha, JSON values on pacemaker-remote), so the suite deploys next to today's
keystone, mysql-router, rabbitmq-server and hacluster charms.

Readers return None when the data is not there yet and raise RelationDataError when what arrived
cannot be used; the charms turn both into a status that names the relation.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import ops

from charm_common.hostnames import is_hostname

# One remote unit's databag: (unit name, data), e.g. ("keystone/0", {"service_host": ...}).
UnitData = tuple[str, Mapping[str, str]]

# C0 and C1 controls, DEL and the Unicode line/paragraph separators: any of them splits or
# corrupts an ini line, a URL or a command argument.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_PEM_CERTIFICATE = "-----BEGIN CERTIFICATE-----"
_PEM_BLOCK = re.compile(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.DOTALL)


def _is_pem_certificates(text: str) -> bool:
    """At least one certificate, and every one whole (BEGIN, a body, END): a truncated one
    would make the file OpenSSL loads as a CA or server certificate unusable. Text around the
    blocks (`openssl x509 -text` output) is allowed, as OpenSSL skips it."""
    bodies = _PEM_BLOCK.findall(text)
    return len(bodies) == text.count(_PEM_CERTIFICATE) > 0 and all(
        body.strip() and "-----" not in body for body in bodies
    )


class RelationDataError(ValueError):
    """A remote unit sent data we cannot use.

    The message is `<endpoint> <key> from <unit>: <why>`, e.g. `amqp hostname from
    rabbitmq-server/0: not a host name or IP address`: it names the key, never the value (values
    may be secrets). The charms show it as `Invalid relation data: <message>`.
    """


def has_control_character(value: str) -> bool:
    """True when value holds a character an ini line, URL or command argument cannot carry."""
    return bool(_CONTROL.search(value))


def remote_units_data(relation: ops.Relation) -> list[tuple[ops.Unit, Mapping[str, str]]]:
    """Every remote unit with its databag, sorted by unit name so readers are deterministic."""
    return [(unit, relation.data[unit]) for unit in sorted(relation.units, key=lambda u: u.name)]


def _units(relation: ops.Relation) -> list[UnitData]:
    return [(unit.name, data) for unit, data in remote_units_data(relation)]


def publish(relation: ops.Relation, unit: ops.Unit, data: Mapping[str, str | None]) -> None:
    """Write keys to this unit's databag; None removes a key. Unchanged keys are not rewritten."""
    bag = relation.data[unit]
    for key, value in data.items():
        if value is None:
            bag.pop(key, None)
        elif bag.get(key) != value:
            bag[key] = value


def decode_base64(value: str, what: str) -> bytes:
    """Strict base64 -> non-empty bytes; RelationDataError `<what>: <why>` otherwise."""
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise RelationDataError(f"{what}: not valid base64") from None
    if not decoded:
        raise RelationDataError(f"{what}: empty")
    return decoded


class _Databag:
    """One remote unit's databag, read key by key and validated for where each value goes.

    Absent and empty keys read as None (the remote charm has not sent them yet); a value that is
    there but unusable raises RelationDataError naming endpoint, key and unit.
    """

    def __init__(self, endpoint: str, unit: str, data: Mapping[str, str]) -> None:
        self.endpoint, self.unit, self.data = endpoint, unit, data

    def error(self, key: str, why: str) -> RelationDataError:
        return RelationDataError(f"{self.endpoint} {key} from {self.unit}: {why}")

    def has(self, *keys: str) -> bool:
        return all(self.data.get(key) for key in keys)

    def text(self, key: str, default: str | None = None) -> str | None:
        """A value that goes into an ini file, URL or command: no control characters."""
        value = self.data.get(key)
        if not value:
            return default
        if has_control_character(value):
            raise self.error(key, "contains a control character (e.g. a newline)")
        return value

    def host(self, key: str) -> str | None:
        """A host name (RFC 1123) or an IP address without a zone, as sent."""
        value = self.text(key)
        if value is not None and not _is_host(value):
            raise self.error(key, "not a host name or IP address")
        return value

    def port(self, key: str, default: int) -> int:
        value = self.text(key)
        if value is None:
            return default
        if not (value.isascii() and value.isdigit() and 0 < int(value) < 65536):
            raise self.error(key, "not a port number (1-65535)")
        return int(value)

    def protocol(self, key: str) -> str:
        value = self.text(key, "http")
        if value not in ("http", "https"):
            raise self.error(key, "must be http or https")
        return value

    def certificate(self, key: str) -> bytes | None:
        """A base64-encoded PEM certificate (or chain), decoded."""
        value = self.text(key)
        if value is None:
            return None
        pem = decode_base64(value.strip(), f"{self.endpoint} {key} from {self.unit}")
        try:
            text = pem.decode("ascii")
        except UnicodeDecodeError:
            raise self.error(key, "not a PEM certificate") from None
        if not _is_pem_certificates(text):
            raise self.error(key, "not a PEM certificate")
        return pem

    def keystone_v3(self) -> None:
        if self.data.get("api_version", "3") != "3":
            raise self.error("api_version", "must be 3 (keystone v2 is not supported)")


def _is_host(value: str) -> bool:
    if is_hostname(value):
        return True
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return "%" not in value  # a zone (fe80::1%eth0) would need quoting in every URL


def _host(value: str) -> str:
    """A host as it goes into a URL: IPv6 addresses in brackets."""
    try:
        return f"[{value}]" if ipaddress.ip_address(value).version == 6 else value
    except ValueError:
        return value


# identity-service (keystone) ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ServiceCredentials:
    """What keystone sends a service on identity-service (and, renamed, identity-credentials).

    Every string is free of control characters; hosts are host names or IP addresses.
    """

    service_protocol: str
    service_host: str
    service_port: int
    auth_protocol: str
    auth_host: str
    auth_port: int
    username: str
    password: str = dataclasses.field(repr=False)
    project: str
    user_domain: str
    project_domain: str
    region: str | None
    ca_cert: bytes | None

    @property
    def public_auth_url(self) -> str:
        return f"{self.service_protocol}://{_host(self.service_host)}:{self.service_port}/v3"

    @property
    def admin_auth_url(self) -> str:
        return f"{self.auth_protocol}://{_host(self.auth_host)}:{self.auth_port}/v3"


def read_identity_service(relation: ops.Relation) -> ServiceCredentials | None:
    """identity-service as keystone sends it (charm-keystone `identity_changed`)."""
    return parse_identity_service(relation.name, _units(relation))


def parse_identity_service(endpoint: str, units: Sequence[UnitData]) -> ServiceCredentials | None:
    """The first unit that sent service_host, auth_host, service_username and service_password.

    None until one has; RelationDataError when what it sent cannot be used.
    """
    for unit, data in units:
        bag = _Databag(endpoint, unit, data)
        if not bag.has("service_host", "auth_host", "service_password", "service_username"):
            continue
        bag.keystone_v3()
        domain = bag.text("service_domain", "default")
        return ServiceCredentials(
            service_protocol=bag.protocol("service_protocol"),
            service_host=_required(bag.host("service_host")),
            service_port=bag.port("service_port", 5000),
            auth_protocol=bag.protocol("auth_protocol"),
            auth_host=_required(bag.host("auth_host")),
            auth_port=bag.port("auth_port", 35357),
            username=_required(bag.text("service_username")),
            password=_required(bag.text("service_password")),
            project=_required(bag.text("service_tenant", "services")),
            user_domain=_required(domain),
            project_domain=_required(domain),
            region=bag.text("region"),
            ca_cert=bag.certificate("ca_cert"),
        )
    return None


def read_identity_credentials(relation: ops.Relation) -> ServiceCredentials | None:
    """identity-credentials: keystone names the same facts credentials_*."""
    return parse_identity_credentials(relation.name, _units(relation))


def parse_identity_credentials(
    endpoint: str, units: Sequence[UnitData]
) -> ServiceCredentials | None:
    """The first unit that sent credentials_username, credentials_password and auth_host."""
    for unit, data in units:
        bag = _Databag(endpoint, unit, data)
        if not bag.has("credentials_username", "credentials_password", "auth_host"):
            continue
        bag.keystone_v3()
        domain = _required(bag.text("domain", "default"))
        auth_host = _required(bag.host("auth_host"))
        return ServiceCredentials(
            service_protocol=bag.protocol("credentials_protocol"),
            service_host=bag.host("credentials_host") or auth_host,
            service_port=bag.port("credentials_port", 5000),
            auth_protocol=bag.protocol("auth_protocol"),
            auth_host=auth_host,
            auth_port=bag.port("auth_port", 35357),
            username=_required(bag.text("credentials_username")),
            password=_required(bag.text("credentials_password")),
            project=_required(bag.text("credentials_project", "services")),
            user_domain=_required(bag.text("credentials_user_domain_name", domain)),
            project_domain=_required(bag.text("credentials_project_domain_name", domain)),
            region=bag.text("region"),
            ca_cert=bag.certificate("ca_cert"),
        )
    return None


def _required(value: str | None) -> str:
    # Only for keys checked present (or defaulted) just before: narrows the type.
    assert value is not None
    return value


# shared-db (mysql-router / percona-cluster / mysql-innodb-cluster) ------------------------------


@dataclasses.dataclass(frozen=True)
class Database:
    host: str
    port: int
    database: str
    username: str
    password: str = dataclasses.field(repr=False)

    @property
    def url(self) -> str:
        credentials = f"{quote(self.username, safe='')}:{quote(self.password, safe='')}"
        return (
            f"mysql+pymysql://{credentials}@{_host(self.host)}:{self.port}/{self.database}"
            "?charset=utf8"
        )


def read_shared_db(
    relation: ops.Relation, local_unit: ops.Unit, database: str, username: str
) -> Database | None:
    """Usable only once the database side lists this unit in allowed_units (access granted)."""
    return parse_shared_db(relation.name, _units(relation), local_unit.name, database, username)


def parse_shared_db(
    endpoint: str, units: Sequence[UnitData], local_unit: str, database: str, username: str
) -> Database | None:
    """The first unit that sent db_host and password and lists local_unit in allowed_units."""
    for unit, data in units:
        bag = _Databag(endpoint, unit, data)
        if not bag.has("db_host", "password"):
            continue
        if local_unit not in (data.get("allowed_units") or "").split():
            continue
        return Database(
            host=_required(bag.host("db_host")),
            port=bag.port("db_port", 3306),
            database=database,
            username=username,
            password=_required(bag.text("password")),
        )
    return None


# amqp (rabbitmq-server) -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class MessageBus:
    """rabbitmq-server's answer on amqp.

    `ssl` is True whenever rabbitmq-server sent `ssl_port` (its TLS listener), with or without
    `ssl_ca`: an operator may give rabbitmq-server a key and certificate and no CA, and then the
    clients use TLS and verify with the system's trust store. `ssl_ca` is PEM when sent.
    """

    hosts: tuple[str, ...]
    port: int
    username: str
    password: str = dataclasses.field(repr=False)
    vhost: str
    ssl_ca: bytes | None
    ssl: bool = False

    @property
    def transport_url(self) -> str:
        # Every broker is listed so oslo.messaging fails over between them.
        user = f"{quote(self.username, safe='')}:{quote(self.password, safe='')}"
        hosts = ",".join(f"{user}@{_host(h)}:{self.port}" for h in self.hosts)
        return f"rabbit://{hosts}/{quote(self.vhost, safe='')}"


def read_amqp(relation: ops.Relation, username: str, vhost: str) -> MessageBus | None:
    """amqp as rabbitmq-server sends it (charmhelpers AMQPContext reads the same keys)."""
    return parse_amqp(relation.name, _units(relation), username, vhost)


def parse_amqp(
    endpoint: str, units: Sequence[UnitData], username: str, vhost: str
) -> MessageBus | None:
    """password from any unit; hosts: a clustered unit's vip, else every unit's hostname or
    private-address; ssl_port/ssl_ca from the first unit that sends them. None until a password
    and a host arrived."""
    bags = [_Databag(endpoint, unit, data) for unit, data in units]
    password = next((bag.text("password") for bag in bags if bag.has("password")), None)
    if not password:
        return None
    hosts: list[str] = []
    for bag in bags:
        if bag.has("clustered", "vip"):
            hosts = [_required(bag.host("vip"))]
            break
        key = "hostname" if bag.has("hostname") else "private-address"
        host = bag.host(key)
        if host and host not in hosts:
            hosts.append(host)
    if not hosts:
        return None
    tls = next((bag for bag in bags if bag.has("ssl_port")), None)
    ca = next((bag for bag in bags if bag.has("ssl_ca")), None)
    return MessageBus(
        hosts=tuple(hosts),
        port=tls.port("ssl_port", 5671) if tls else 5672,
        username=username,
        password=password,
        vhost=vhost,
        ssl_ca=ca.certificate("ssl_ca") if ca else None,
        ssl=tls is not None,
    )


# ha (hacluster) ---------------------------------------------------------------------------------

CRM_KEYS = (
    "resources", "resource_params", "delete_resources", "groups", "ms", "orders",
    "colocations", "clones", "locations", "init_services", "systemd_services",
)  # fmt: skip
_META = 'meta migration-threshold="INFINITY" failure-timeout="5s"'
# The address in a VIP's resource_params, as ha_relation_data writes it.
_VIP_ADDRESS = re.compile(r'\b(?:ip|ipv6addr)="([^"]+)"')


@dataclasses.dataclass(frozen=True)
class Vip:
    address: str
    # The NIC and prefix length, only when the unit has no interface on the VIP's network and
    # the vip_iface/vip_cidr fallback is used (hacluster then names the resource by NIC).
    fallback_nic: str | None = None
    fallback_cidr: int | None = None


def ha_relation_data(
    service: str,
    vips: Iterable[Vip],
    *,
    detected_nics: Iterable[str] = (),
    bindiface: str,
    published: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The `ha` databag, byte-for-byte what charm-interface-hacluster sends for an API service.

    `published` is what this unit sent on the relation before (its own databag): a VIP resource
    it listed in json_resources that is no longer wanted (a changed or removed `vip`, a VIP that
    moved between NIC-named and hash-named) goes to json_delete_resources, as charms.openstack's
    `_add_ha_vips_config` does through interface-hacluster's `remove_vip`: the hash name of every
    address no longer configured, then the NIC-named leftovers. Names listed before stay listed
    (hacluster deletes on every hook while a name is listed, and may never see an intermediate
    databag) unless they are wanted again. Deleted names are out of json_resources,
    json_resource_params and the VIP group, as the interface's `remove_deleted_resources` does.

    Resource names must not change across charm versions: hacluster never renames, it only
    deletes what is listed in delete_resources, so a rename would run two copies of a VIP.
    """
    crm: dict[str, object] = {key: {} for key in CRM_KEYS}
    crm["init_services"] = ["haproxy"]
    crm["systemd_services"] = []
    resources: dict[str, str] = {}
    params: dict[str, str] = {}
    vips = list(vips)
    for vip in vips:
        ip = ipaddress.ip_address(vip.address)
        if ip.version == 4:
            key = _vip_resource_name(service, vip.address)
            if vip.fallback_nic:
                key = f"res_{service}_{vip.fallback_nic}_vip"
            agent, spec = "ocf:heartbeat:IPaddr2", "ip"
        else:
            # Upstream names IPv6 VIPs by NIC even when there is none ("None"); kept for
            # wire compatibility with deployments that move from the reactive charm.
            key = f"res_{service}_{vip.fallback_nic}_ipv6addr_vip"
            agent, spec = "ocf:heartbeat:IPv6addr", "ipv6addr"
        vip_params = f'{spec}="{vip.address}"'
        if vip.fallback_nic:
            vip_params += f' nic="{vip.fallback_nic}" cidr_netmask="{vip.fallback_cidr}"'
        resources[key] = agent
        params[key] = (
            f'  params {vip_params}  {_META}  op monitor timeout="20s" interval="10s" depth="0"'
        )
    haproxy = f"res_{service}_haproxy"
    resources[haproxy] = "lsb:haproxy"
    params[haproxy] = f'  {_META}  op monitor interval="5s"'
    crm["resources"] = resources
    crm["resource_params"] = params
    vip_names = sorted(k for k in resources if k.endswith("_vip"))
    if vip_names:
        crm["groups"] = {f"grp_{service}_vips": " ".join(vip_names)}
    crm["clones"] = {f"cl_{haproxy}": haproxy}
    addresses = {vip.address for vip in vips}
    deletes = _deleted_vip_resources(service, published or {}, resources, addresses)
    deletes += [f"res_{service}_{nic}_vip" for nic in detected_nics]
    crm["delete_resources"] = list(dict.fromkeys(n for n in deletes if n not in resources))
    data = {f"json_{k}": json.dumps(v, sort_keys=True) for k, v in crm.items()}
    data["corosync_bindiface"] = bindiface
    data["corosync_mcastport"] = "4440"
    return data


def _vip_resource_name(service: str, address: str) -> str:
    """interface-hacluster's `remove_vip(name, vip)` name: the hash of the address."""
    return f"res_{service}_{hashlib.sha1(address.encode()).hexdigest()[:7]}_vip"  # noqa: S324 - a resource name, not a secret


def _deleted_vip_resources(
    service: str, published: Mapping[str, str], wanted: Mapping[str, str], addresses: set[str]
) -> list[str]:
    """What an earlier databag of ours still needs deleted, in interface-hacluster's order.

    Listed before, then the hash name of each published VIP address no longer in `addresses`
    (upstream's remove_vip), then each published VIP resource no longer in `wanted`.
    """
    deleted = _json(published.get("json_delete_resources"), list)
    resources = _json(published.get("json_resources"), dict)
    params = _json(published.get("json_resource_params"), dict)
    ours = sorted(n for n in resources if n.startswith(f"res_{service}_") and n.endswith("_vip"))
    for name in ours:
        match = _VIP_ADDRESS.search(str(params.get(name, "")))
        if match and match[1] not in addresses:
            deleted.append(_vip_resource_name(service, match[1]))
    return [str(name) for name in deleted] + [name for name in ours if name not in wanted]


def _json(value: str | None, kind: type) -> Any:
    """Our own earlier JSON value, or an empty one when absent or not of that kind."""
    try:
        parsed = json.loads(value or "null")
    except ValueError:
        return kind()
    return parsed if isinstance(parsed, kind) else kind()


def ha_clustered(relation: ops.Relation) -> bool:
    """True once any hacluster unit says `clustered` yes/true (interface-hacluster's test).

    Only compared, never rendered: any other value means not clustered yet.
    """
    return any(
        (data.get("clustered") or "").lower() in ("yes", "true")
        for _, data in remote_units_data(relation)
    )


# pacemaker-remote (hacluster) --------------------------------------------------------------------


def pacemaker_remote_data(
    remote_hostname: str, remote_ip: str, stonith_hostname: str | None, enable_resources: bool
) -> dict[str, str]:
    """JSON-encoded, because hacluster parses these with json.loads then ast.literal_eval:
    a bare host name fails both, and the hacluster hook errors."""
    return {
        "remote-hostname": json.dumps(remote_hostname),
        "remote-ip": json.dumps(remote_ip),
        "stonith-hostname": json.dumps(stonith_hostname),
        "enable-resources": json.dumps(enable_resources),
    }


def read_pacemaker_key(relation: ops.Relation) -> bytes | None:
    """The authkey every hacluster unit sends (base64 `pacemaker-key`); they must agree."""
    return parse_pacemaker_key(relation.name, _units(relation))


def parse_pacemaker_key(endpoint: str, units: Sequence[UnitData]) -> bytes | None:
    """The decoded key; None until a unit sent one; RelationDataError when units disagree or it
    is not base64."""
    # Compared as hacluster means them: surrounding whitespace is not part of the key.
    keys = {unit: key.strip() for unit, data in units if (key := data.get("pacemaker-key"))}
    if not keys:
        return None
    if len(set(keys.values())) > 1:
        raise RelationDataError(
            f"{endpoint} pacemaker-key from {', '.join(sorted(keys))}: the hacluster units send "
            "different keys; wait for hacluster to settle, or check its leader's pacemaker-key"
        )
    unit, key = next(iter(keys.items()))
    return decode_base64(key, f"{endpoint} pacemaker-key from {unit}")


# certificates (vault, classic tls-certificates) -------------------------------------------------
# The format charm-vault and the classic OpenStack charms exchange (interface-tls-certificates'
# requires/provides and charmhelpers' cert_utils), not the newer CSR-based tls-certificates v4:
# vault speaks only this one. Unit databags on both sides.

_PEM_KEY = re.compile(r"-----BEGIN (?:RSA |EC )?PRIVATE KEY-----")


@dataclasses.dataclass(frozen=True)
class ServerCertificate:
    """What vault issued for one common name: leaf certificate, its key, the CA (and chain)."""

    common_name: str
    certificate: str  # PEM, the leaf only (vault's data.certificate)
    key: str = dataclasses.field(repr=False)  # PEM, in clear in the relation: a secret
    ca: str  # PEM, vault's root
    chain: str | None  # PEM intermediates, when vault sends any

    @property
    def certificate_with_chain(self) -> bytes:
        """Leaf then chain, as apache's SSLCertificateFile wants it (charmhelpers' install_certs
        appends the chain the same way)."""
        parts = [self.certificate, self.chain or ""]
        return "".join(f"{part.strip()}\n" for part in parts if part.strip()).encode()


def certificate_request(unit_name: str, requests: Mapping[str, Iterable[str]]) -> dict[str, str]:
    """This unit's request: `unit_name` (`masakari/0` -> `masakari_0`, as charmhelpers sends it)
    and `cert_requests`, JSON `{"<CN>": {"sans": [sorted, unique]}}` with sorted keys."""
    return {
        "unit_name": unit_name.replace("/", "_"),
        "cert_requests": json.dumps(
            {cn: {"sans": sorted(set(sans))} for cn, sans in requests.items()}, sort_keys=True
        ),
    }


def read_server_certificate(
    relation: ops.Relation, unit_name: str, common_name: str
) -> ServerCertificate | None:
    """The certificate vault issued this unit for `common_name`; None until it has."""
    return parse_server_certificate(relation.name, _units(relation), unit_name, common_name)


def parse_server_certificate(
    endpoint: str, units: Sequence[UnitData], unit_name: str, common_name: str
) -> ServerCertificate | None:
    """Every vault unit republishes what the leader issued; the first (by unit name) that has
    this unit's `<unit>.processed_requests` entry for `common_name` answers."""
    key = f"{unit_name.replace('/', '_')}.processed_requests"
    for unit, data in units:
        bag = _Databag(endpoint, unit, data)
        raw = bag.data.get(key)
        if not raw or not bag.data.get("ca"):
            continue
        try:
            issued = json.loads(raw)
        except ValueError:
            raise bag.error(key, "not JSON") from None
        entry = issued.get(common_name) if isinstance(issued, dict) else None
        if entry is None:
            continue
        if not isinstance(entry, dict):
            raise bag.error(key, f"{common_name} is not a cert and key")
        cert, private_key = entry.get("cert"), entry.get("key")
        if not isinstance(cert, str) or not _is_pem_certificates(cert):
            raise bag.error(key, f"the cert for {common_name} is not a PEM certificate")
        if not isinstance(private_key, str) or not _PEM_KEY.search(private_key):
            raise bag.error(key, f"the key for {common_name} is not a PEM private key")
        return ServerCertificate(
            common_name=common_name,
            certificate=cert,
            key=private_key,
            ca=_pem(bag, "ca"),
            chain=_pem(bag, "chain") if bag.data.get("chain") else None,
        )
    return None


def read_certificates_ca(relation: ops.Relation) -> bytes | None:
    """vault's CA, then its chain, as one PEM bundle; None until a vault unit sends `ca`."""
    for unit, data in _units(relation):
        bag = _Databag(relation.name, unit, data)
        if bag.data.get("ca"):
            parts = [_pem(bag, "ca"), _pem(bag, "chain") if bag.data.get("chain") else ""]
            return "".join(f"{part.strip()}\n" for part in parts if part.strip()).encode()
    return None


def issued_keys(data: Mapping[str, str], unit_name: str) -> list[str]:
    """Every private key a vault unit's databag holds for this unit (raw, for redaction)."""
    raw = data.get(f"{unit_name.replace('/', '_')}.processed_requests") or ""
    try:
        issued = json.loads(raw)
    except ValueError:
        return [raw] if raw else []
    entries = issued.values() if isinstance(issued, dict) else ()
    return [e["key"] for e in entries if isinstance(e, dict) and isinstance(e.get("key"), str)]


def _pem(bag: _Databag, key: str) -> str:
    value = bag.data[key]
    if not _is_pem_certificates(value):
        raise bag.error(key, "not a PEM certificate")
    return value
