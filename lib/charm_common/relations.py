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
from collections.abc import Iterable, Mapping
from urllib.parse import quote

import ops


class RelationDataError(ValueError):
    """A remote unit sent data we cannot use; the message names the key, never its value."""


def remote_units_data(relation: ops.Relation) -> list[tuple[ops.Unit, Mapping[str, str]]]:
    return [(unit, relation.data[unit]) for unit in sorted(relation.units, key=lambda u: u.name)]


def publish(relation: ops.Relation, unit: ops.Unit, data: Mapping[str, str | None]) -> None:
    """Write keys to this unit's databag; None removes a key. Unchanged keys are not rewritten."""
    bag = relation.data[unit]
    for key, value in data.items():
        if value is None:
            bag.pop(key, None)
        elif bag.get(key) != value:
            bag[key] = value


def _port(data: Mapping[str, str], key: str, default: int | None = None) -> int:
    raw = data.get(key)
    if not raw:
        if default is None:
            raise RelationDataError(f"{key} is missing")
        return default
    try:
        port = int(raw)
    except ValueError:
        raise RelationDataError(f"{key} is not a port number") from None
    if not 0 < port < 65536:
        raise RelationDataError(f"{key} is not a port number")
    return port


def _protocol(data: Mapping[str, str], key: str) -> str:
    value = data.get(key) or "http"
    if value not in ("http", "https"):
        raise RelationDataError(f"{key} must be http or https")
    return value


def _host(value: str) -> str:
    """A host as it goes into a URL: IPv6 addresses in brackets."""
    try:
        return f"[{value}]" if ipaddress.ip_address(value).version == 6 else value
    except ValueError:
        return value


def decode_base64(value: str, what: str) -> bytes:
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise RelationDataError(f"{what} is not valid base64") from None
    if not decoded:
        raise RelationDataError(f"{what} is empty")
    return decoded


# identity-service (keystone) ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ServiceCredentials:
    """What keystone sends a service on identity-service (and, renamed, identity-credentials)."""

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
    required = ("service_host", "auth_host", "service_password", "service_username")
    for _unit, data in remote_units_data(relation):
        if not all(data.get(k) for k in required):
            continue
        if data.get("api_version", "3") != "3":
            raise RelationDataError("api_version must be 3 (keystone v2 is not supported)")
        domain = data.get("service_domain") or "default"
        return ServiceCredentials(
            service_protocol=_protocol(data, "service_protocol"),
            service_host=data["service_host"],
            service_port=_port(data, "service_port", 5000),
            auth_protocol=_protocol(data, "auth_protocol"),
            auth_host=data["auth_host"],
            auth_port=_port(data, "auth_port", 35357),
            username=data["service_username"],
            password=data["service_password"],
            project=data.get("service_tenant") or "services",
            user_domain=domain,
            project_domain=domain,
            region=data.get("region"),
            ca_cert=decode_base64(data["ca_cert"], "ca_cert") if data.get("ca_cert") else None,
        )
    return None


def read_identity_credentials(relation: ops.Relation) -> ServiceCredentials | None:
    """identity-credentials: keystone names the same facts credentials_*."""
    required = ("credentials_username", "credentials_password", "auth_host")
    for _unit, data in remote_units_data(relation):
        if not all(data.get(k) for k in required):
            continue
        if data.get("api_version", "3") != "3":
            raise RelationDataError("api_version must be 3 (keystone v2 is not supported)")
        domain = data.get("domain") or "default"
        return ServiceCredentials(
            service_protocol=_protocol(data, "credentials_protocol"),
            service_host=data.get("credentials_host") or data["auth_host"],
            service_port=_port(data, "credentials_port", 5000),
            auth_protocol=_protocol(data, "auth_protocol"),
            auth_host=data["auth_host"],
            auth_port=_port(data, "auth_port", 35357),
            username=data["credentials_username"],
            password=data["credentials_password"],
            project=data.get("credentials_project") or "services",
            user_domain=data.get("credentials_user_domain_name") or domain,
            project_domain=data.get("credentials_project_domain_name") or domain,
            region=data.get("region"),
            ca_cert=decode_base64(data["ca_cert"], "ca_cert") if data.get("ca_cert") else None,
        )
    return None


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
    for _unit, data in remote_units_data(relation):
        if not (data.get("db_host") and data.get("password")):
            continue
        if local_unit.name not in (data.get("allowed_units") or "").split():
            continue
        return Database(
            host=data["db_host"],
            port=_port(data, "db_port", 3306),
            database=database,
            username=username,
            password=data["password"],
        )
    return None


# amqp (rabbitmq-server) -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class MessageBus:
    hosts: tuple[str, ...]
    port: int
    username: str
    password: str = dataclasses.field(repr=False)
    vhost: str
    ssl_ca: bytes | None

    @property
    def transport_url(self) -> str:
        # Every broker is listed so oslo.messaging fails over between them.
        user = f"{quote(self.username, safe='')}:{quote(self.password, safe='')}"
        hosts = ",".join(f"{user}@{_host(h)}:{self.port}" for h in self.hosts)
        return f"rabbit://{hosts}/{quote(self.vhost, safe='')}"


def read_amqp(relation: ops.Relation, username: str, vhost: str) -> MessageBus | None:
    units = remote_units_data(relation)
    password = next((d["password"] for _, d in units if d.get("password")), None)
    if not password:
        return None
    hosts: list[str] = []
    ssl_port = ssl_ca = None
    for _unit, data in units:
        if data.get("clustered") and data.get("vip"):
            hosts = [data["vip"]]
            break
        host = data.get("hostname") or data.get("private-address")
        if host and host not in hosts:
            hosts.append(host)
    for _unit, data in units:
        ssl_port = ssl_port or data.get("ssl_port")
        ssl_ca = ssl_ca or data.get("ssl_ca")
    if not hosts:
        return None
    return MessageBus(
        hosts=tuple(hosts),
        port=_port({"ssl_port": ssl_port or "5672"}, "ssl_port"),
        username=username,
        password=password,
        vhost=vhost,
        ssl_ca=decode_base64(ssl_ca, "ssl_ca") if ssl_ca else None,
    )


# ha (hacluster) ---------------------------------------------------------------------------------

CRM_KEYS = (
    "resources", "resource_params", "delete_resources", "groups", "ms", "orders",
    "colocations", "clones", "locations", "init_services", "systemd_services",
)  # fmt: skip
_META = 'meta migration-threshold="INFINITY" failure-timeout="5s"'


@dataclasses.dataclass(frozen=True)
class Vip:
    address: str
    # The NIC and prefix length, only when the unit has no interface on the VIP's network and
    # the vip_iface/vip_cidr fallback is used (hacluster then names the resource by NIC).
    fallback_nic: str | None = None
    fallback_cidr: int | None = None


def ha_relation_data(
    service: str, vips: Iterable[Vip], *, detected_nics: Iterable[str] = (), bindiface: str
) -> dict[str, str]:
    """The `ha` databag, byte-for-byte what charm-interface-hacluster sends for an API service.

    Resource names must not change across charm versions: hacluster never renames, it only
    deletes what is listed in delete_resources, so a rename would run two copies of a VIP.
    """
    crm: dict[str, object] = {key: {} for key in CRM_KEYS}
    crm["delete_resources"] = [f"res_{service}_{nic}_vip" for nic in detected_nics]
    crm["init_services"] = ["haproxy"]
    crm["systemd_services"] = []
    resources: dict[str, str] = {}
    params: dict[str, str] = {}
    for vip in vips:
        ip = ipaddress.ip_address(vip.address)
        name_part = vip.fallback_nic or hashlib.sha1(vip.address.encode()).hexdigest()[:7]  # noqa: S324 - a resource name, not a secret
        if ip.version == 4:
            key, agent, spec = f"res_{service}_{name_part}_vip", "ocf:heartbeat:IPaddr2", "ip"
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
    data = {f"json_{k}": json.dumps(v, sort_keys=True) for k, v in crm.items()}
    data["corosync_bindiface"] = bindiface
    data["corosync_mcastport"] = "4440"
    return data


def ha_clustered(relation: ops.Relation) -> bool:
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
    """The authkey every hacluster unit sends; they must agree."""
    keys = {
        unit.name: data["pacemaker-key"]
        for unit, data in remote_units_data(relation)
        if data.get("pacemaker-key")
    }
    if not keys:
        return None
    if len(set(keys.values())) > 1:
        raise RelationDataError(
            "hacluster units disagree on pacemaker-key: " + ", ".join(sorted(keys))
        )
    unit, key = next(iter(keys.items()))
    return decode_base64(key.strip(), f"pacemaker-key from {unit}")
