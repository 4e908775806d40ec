"""Relation encodings that other charms parse, and what the readers accept from them."""

import ast
import base64
import json
from typing import ClassVar

import ops
import pytest
from ops import testing

from charm_common import relations

PEM = b"-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUJ2m=\n-----END CERTIFICATE-----\n"
CA = base64.b64encode(PEM).decode()


def hacluster_parse(value: str):
    """charm-hacluster's parse_data: json.loads, then ast.literal_eval."""
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return ast.literal_eval(value)


def test_pacemaker_remote_values_survive_hacluster_parsing():
    data = relations.pacemaker_remote_data("virt-node-01.maas", "10.0.0.11", None, False)
    assert {k: hacluster_parse(v) for k, v in data.items()} == {
        "remote-hostname": "virt-node-01.maas",
        "remote-ip": "10.0.0.11",
        "stonith-hostname": None,
        "enable-resources": False,
    }
    assert type(hacluster_parse(data["enable-resources"])) is bool
    # What a naive charm would send breaks hacluster's hook:
    with pytest.raises((ValueError, SyntaxError)):
        hacluster_parse("virt-node-01.maas")


def test_ipv6_vip_keeps_the_upstream_resource_name():
    data = relations.ha_relation_data(
        "masakari", [relations.Vip("fd00::10")], detected_nics=(), bindiface="eth0"
    )
    resources = json.loads(data["json_resources"])
    assert resources["res_masakari_None_ipv6addr_vip"] == "ocf:heartbeat:IPv6addr"
    assert json.loads(data["json_groups"]) == {
        "grp_masakari_vips": "res_masakari_None_ipv6addr_vip"
    }


def test_database_and_broker_urls_quote_credentials():
    db = relations.Database("fd00::5", 3306, "masakari", "masakari", "p@ss/word")
    assert db.url == "mysql+pymysql://masakari:p%40ss%2Fword@[fd00::5]:3306/masakari?charset=utf8"
    bus = relations.MessageBus(("10.0.0.1", "10.0.0.2"), 5671, "masakari", "a:b", "masakari", None)
    assert bus.transport_url == (
        "rabbit://masakari:a%3Ab@10.0.0.1:5671,masakari:a%3Ab@10.0.0.2:5671/masakari"
    )
    assert "p@ss/word" not in repr(db) and "a:b" not in repr(bus)


def test_base64_errors_name_the_field_not_the_value():
    with pytest.raises(relations.RelationDataError, match="^x pacemaker-key from h/0: not valid"):
        relations.decode_base64("not base64!", "x pacemaker-key from h/0")
    with pytest.raises(relations.RelationDataError, match="^ssl_ca: empty$"):
        relations.decode_base64("", "ssl_ca")


# The readers through ops, with the remote unit names Juju gives -------------------------------

KEYSTONE = {
    "service_host": "10.5.0.30", "service_port": "5000", "service_protocol": "http",
    "auth_host": "10.5.0.30", "auth_port": "35357", "auth_protocol": "http",
    "service_username": "masakari", "service_password": "s3cret", "service_tenant": "services",
    "service_domain": "service_domain", "region": "RegionOne", "api_version": "3",
}  # fmt: skip
CREDENTIALS = {
    "credentials_host": "10.5.0.30", "credentials_port": "5000",
    "credentials_protocol": "http", "auth_host": "10.5.0.30", "auth_port": "35357",
    "auth_protocol": "http", "credentials_username": "masakari-monitors",
    "credentials_password": "s3cret", "credentials_project": "services",
    "domain": "service_domain", "region": "RegionOne", "api_version": "3",
}  # fmt: skip
DB = {"db_host": "10.5.0.10", "password": "dbpass", "allowed_units": "reader/0"}
REMOTES = {
    "identity-service": "keystone", "identity-credentials": "keystone",
    "shared-db": "mysql-router", "amqp": "rabbitmq-server", "pacemaker-remote": "hacluster",
}  # fmt: skip


class ReaderCharm(ops.CharmBase):
    """Runs every reader on update-status and keeps what each returned or raised."""

    results: ClassVar[dict[str, object]] = {}

    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        framework.observe(self.on.update_status, self._read)

    def _read(self, _event: ops.EventBase) -> None:
        readers = {
            "identity-service": relations.read_identity_service,
            "identity-credentials": relations.read_identity_credentials,
            "shared-db": lambda r: relations.read_shared_db(r, self.unit, "masakari", "masakari"),
            "amqp": lambda r: relations.read_amqp(r, "masakari", "masakari"),
            "pacemaker-remote": relations.read_pacemaker_key,
        }
        for name, read in readers.items():
            for relation in self.model.relations[name]:
                try:
                    ReaderCharm.results[name] = read(relation)
                except relations.RelationDataError as error:
                    ReaderCharm.results[name] = error


META = {"name": "reader", "requires": {name: {"interface": name} for name in REMOTES}}


def read(endpoint: str, *units: dict[str, str]) -> object:
    """What the reader of endpoint makes of these remote units' databags (unit 0, 1, ...)."""
    ReaderCharm.results = {}
    relation = testing.Relation(
        endpoint, remote_app_name=REMOTES[endpoint],
        remote_units_data=dict(enumerate(units)),
    )  # fmt: skip
    testing.Context(ReaderCharm, meta=META).run(
        testing.Context(ReaderCharm, meta=META).on.update_status(),
        testing.State(relations=[relation]),
    )
    return ReaderCharm.results[endpoint]


def refused(endpoint: str, *units: dict[str, str]) -> str:
    result = read(endpoint, *units)
    assert isinstance(result, relations.RelationDataError), result
    return str(result)


def test_complete_data_reads_through_ops():
    identity = read("identity-service", KEYSTONE)
    assert isinstance(identity, relations.ServiceCredentials)
    assert identity.public_auth_url == "http://10.5.0.30:5000/v3"
    credentials = read("identity-credentials", CREDENTIALS)
    assert isinstance(credentials, relations.ServiceCredentials)
    assert (credentials.username, credentials.project) == ("masakari-monitors", "services")
    database = read("shared-db", DB)
    assert isinstance(database, relations.Database)
    assert database.url == "mysql+pymysql://masakari:dbpass@10.5.0.10:3306/masakari?charset=utf8"


# The inputs: a newline in each value the charms render --------------------------------


def assert_newline_refused(endpoint: str, data: dict[str, str], key: str, value: str) -> None:
    """The reader refuses data[key] = value naming endpoint, key and unit; no part of it shown."""
    message = refused(endpoint, {**data, key: value})
    unit = f"{REMOTES[endpoint]}/0"
    assert message == (
        f"{endpoint} {key} from {unit}: contains a control character (e.g. a newline)"
    )
    assert not any(part in message for part in value.split("\n") if len(part) > 3)


def test_newline_in_shared_db_db_host_is_refused():
    assert_newline_refused("shared-db", DB, "db_host", "10.5.0.10\n[x]\nkey = v")


def test_newline_in_amqp_hostname_is_refused():
    assert_newline_refused("amqp", {"password": "p"}, "hostname", "10.5.0.20\nssl = False")


def test_newline_in_identity_service_service_host_is_refused():
    assert_newline_refused("identity-service", KEYSTONE, "service_host", "10.5.0.30\n[x]")


def test_newline_in_identity_service_service_username_is_refused():
    assert_newline_refused("identity-service", KEYSTONE, "service_username", "masakari\nx = 1")


def test_newline_in_identity_service_service_password_is_refused():
    assert_newline_refused("identity-service", KEYSTONE, "service_password", "s3cret\n[database]")


def test_newline_in_identity_credentials_auth_host_is_refused():
    assert_newline_refused("identity-credentials", CREDENTIALS, "auth_host", "10.5.0.30\r\n[x]")


def test_newline_in_identity_credentials_credentials_username_is_refused():
    assert_newline_refused("identity-credentials", CREDENTIALS, "credentials_username", "m\nx=1")


def test_newline_in_identity_credentials_credentials_password_is_refused():
    value = "s3cret\nregion_name = evil"
    assert_newline_refused("identity-credentials", CREDENTIALS, "credentials_password", value)


# Every other key, each for its destination ---------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "why"),
    [
        ("service_host", "keystone_1.maas", "not a host name or IP address"),
        ("auth_host", "10.5.0.30 10.5.0.31", "not a host name or IP address"),
        ("auth_host", "fe80::1%eth0", "not a host name or IP address"),
        ("service_port", "0", "not a port number (1-65535)"),
        ("auth_port", "65536", "not a port number (1-65535)"),
        ("service_port", "5000/v3", "not a port number (1-65535)"),
        ("service_protocol", "ftp", "must be http or https"),
        ("auth_protocol", "https\n", "contains a control character (e.g. a newline)"),
        ("service_tenant", "services\t", "contains a control character (e.g. a newline)"),
        ("service_domain", "default\x00", "contains a control character (e.g. a newline)"),
        ("region", "RegionOne\n[database]", "contains a control character (e.g. a newline)"),
        ("ca_cert", "not base64!", "not valid base64"),
        ("ca_cert", base64.b64encode(b"hello").decode(), "not a PEM certificate"),
        ("ca_cert", base64.b64encode(b"\xff\xfe").decode(), "not a PEM certificate"),
        ("api_version", "2", "must be 3 (keystone v2 is not supported)"),
    ],
)
def test_identity_service_values_are_checked_for_their_destination(key, value, why):
    message = str(pytest.raises(
        relations.RelationDataError, relations.parse_identity_service,
        "identity-service", [("keystone/0", {**KEYSTONE, key: value})],
    ).value)  # fmt: skip
    assert message == f"identity-service {key} from keystone/0: {why}"


@pytest.mark.parametrize(
    ("key", "value"),
    [("credentials_host", "-bad-"), ("credentials_port", "x"), ("credentials_protocol", "tcp"),
     ("credentials_project", "p\x7f"), ("domain", "d\n"), ("credentials_user_domain_name", "\r"),
     ("credentials_project_domain_name", "a\u2028b"), ("region", "R\x85")],
)  # fmt: skip
def test_identity_credentials_values_are_checked_naming_the_key(key, value):
    with pytest.raises(relations.RelationDataError, match=f"^identity-credentials {key} from"):
        relations.parse_identity_credentials(
            "identity-credentials", [("keystone/0", {**CREDENTIALS, key: value})]
        )


@pytest.mark.parametrize(
    ("data", "message"),
    [({**DB, "db_port": "3306\n"}, "shared-db db_port from mysql-router/0: contains a control"),
     ({**DB, "db_port": "99999"}, "shared-db db_port from mysql-router/0: not a port number"),
     ({**DB, "password": "p\nw"}, "shared-db password from mysql-router/0: contains a control"),
     ({**DB, "db_host": "db host"}, "shared-db db_host from mysql-router/0: not a host name")],
)  # fmt: skip
def test_shared_db_values_are_checked(data, message):
    with pytest.raises(relations.RelationDataError, match=f"^{message}"):
        relations.parse_shared_db("shared-db", [("mysql-router/0", data)], "reader/0", "m", "m")


def test_shared_db_waits_for_access_before_checking_anything():
    # Data meant for another unit is not ours to judge.
    data = {**DB, "db_host": "bad\nhost", "allowed_units": "masakari/1"}
    assert relations.parse_shared_db("shared-db", [("r/0", data)], "reader/0", "m", "m") is None


@pytest.mark.parametrize(
    ("units", "message"),
    [([{"private-address": "10.5.0.20\n", "password": "p"}], "amqp private-address from r/0:"),
     ([{"hostname": "h", "password": "p"}, {"hostname": "_bad"}], "amqp hostname from r/1:"),
     ([{"clustered": "true", "vip": "10.5.0.9 10.5.0.8", "password": "p"}], "amqp vip from r/0:"),
     ([{"hostname": "10.5.0.20", "password": "p\n"}], "amqp password from r/0: contains a"),
     ([{"hostname": "h", "password": "p", "ssl_port": "5671 "}], "amqp ssl_port from r/0: not a"),
     ([{"hostname": "h", "password": "p", "ssl_port": "5671", "ssl_ca": "@"}],
      "amqp ssl_ca from r/0: not valid base64")],
)  # fmt: skip
def test_amqp_values_are_checked_naming_key_and_unit(units, message):
    named = [(f"r/{i}", data) for i, data in enumerate(units)]
    with pytest.raises(relations.RelationDataError, match=f"^{message}"):
        relations.parse_amqp("amqp", named, "masakari", "masakari")


# amqp over TLS -------------------------------------------------------------------------------


def test_amqp_ssl_port_without_ssl_ca_is_tls_verified_by_the_system_trust_store():
    bus = read("amqp", {"hostname": "10.5.0.20", "password": "p", "ssl_port": "5671"})
    assert isinstance(bus, relations.MessageBus)
    assert (bus.ssl, bus.port, bus.ssl_ca) == (True, 5671, None)


def test_amqp_ssl_port_with_ssl_ca_carries_the_pem():
    bus = read("amqp", {"hostname": "10.5.0.20", "password": "p"},
               {"hostname": "10.5.0.21", "ssl_port": "5671", "ssl_ca": CA})  # fmt: skip
    assert isinstance(bus, relations.MessageBus)
    assert (bus.ssl, bus.port, bus.ssl_ca, bus.hosts) == (
        True, 5671, PEM, ("10.5.0.20", "10.5.0.21")
    )  # fmt: skip


def test_amqp_without_ssl_port_is_plain():
    bus = read("amqp", {"hostname": "10.5.0.20", "password": "p"})
    assert isinstance(bus, relations.MessageBus)
    assert (bus.ssl, bus.port, bus.ssl_ca) == (False, 5672, None)


# pacemaker-key -------------------------------------------------------------------------------


def test_pacemaker_key_disagreement_names_the_units_and_what_to_do():
    key = base64.b64encode(b"k" * 32).decode()
    message = refused("pacemaker-remote", {"pacemaker-key": key}, {"pacemaker-key": "b3RoZXI="})
    assert message == (
        "pacemaker-remote pacemaker-key from hacluster/0, hacluster/1: the hacluster units send "
        "different keys; wait for hacluster to settle, or check its leader's pacemaker-key"
    )
    assert read("pacemaker-remote", {"pacemaker-key": key}, {}) == b"k" * 32
    assert refused("pacemaker-remote", {"pacemaker-key": "%%"}) == (
        "pacemaker-remote pacemaker-key from hacluster/0: not valid base64"
    )


# hacluster: a changed or removed VIP is deleted ----------------------------------------------
# The expected databags are what the reactive masakari charm sends: charms.openstack
# charms_openstack/charm/classes.py `_add_ha_vips_config` (remove_vip for every address no
# longer in `vip`, add_vip, delete_resource of the old NIC name) driving
# openstack/charm-interface-hacluster interface_hacluster/common.py (`remove_vip`,
# `CRM.add_delete_resource` + `remove_deleted_resources`, `manage_resources`:
# json.dumps(sort_keys=True) of every key, empty ones included). The deletion list lives in the
# reactive charm's local state and is sent on every later hook too.

_VIP_PARAMS = (
    '  params ip=\\"{ip}\\"{fallback}  meta migration-threshold=\\"INFINITY\\" '
    'failure-timeout=\\"5s\\"  op monitor timeout=\\"20s\\" interval=\\"10s\\" depth=\\"0\\"'
)
_HAPROXY_PARAMS = (
    '"res_masakari_haproxy": "  meta migration-threshold=\\"INFINITY\\" failure-timeout=\\"5s\\"'
    '  op monitor interval=\\"5s\\""'
)


def reactive_databag(vip_name: str, ip: str, deletes: str, fallback: str = "") -> dict[str, str]:
    params = _VIP_PARAMS.format(ip=ip, fallback=fallback)
    return {
        "corosync_bindiface": "eth0",
        "corosync_mcastport": "4440",
        "json_clones": '{"cl_res_masakari_haproxy": "res_masakari_haproxy"}',
        "json_colocations": "{}",
        "json_delete_resources": deletes,
        "json_groups": f'{{"grp_masakari_vips": "{vip_name}"}}',
        "json_init_services": '["haproxy"]',
        "json_locations": "{}",
        "json_ms": "{}",
        "json_orders": "{}",
        "json_resource_params": f'{{"{vip_name}": "{params}", {_HAPROXY_PARAMS}}}',
        "json_resources": (
            f'{{"{vip_name}": "ocf:heartbeat:IPaddr2", "res_masakari_haproxy": "lsb:haproxy"}}'
        ),
        "json_systemd_services": "[]",
    }


def ha(vips, published=None, nics=()):
    return relations.ha_relation_data(
        "masakari", vips, detected_nics=nics, bindiface="eth0", published=published
    )


def test_changed_vip_deletes_the_old_resource_as_the_reactive_charm_does():
    before = ha([relations.Vip("10.5.100.1")])
    assert before == reactive_databag("res_masakari_242d562_vip", "10.5.100.1", "[]")
    after = ha([relations.Vip("10.5.100.2")], published=before)
    assert after == reactive_databag(
        "res_masakari_4c2a33d_vip", "10.5.100.2", '["res_masakari_242d562_vip"]'
    )
    # The next hook sends the same: hacluster deletes while the name is listed.
    assert ha([relations.Vip("10.5.100.2")], published=after) == after


def test_changed_vip_on_a_detected_nic_keeps_the_old_nic_name_first():
    before = ha([relations.Vip("10.5.100.1")], nics=["eth0"])
    assert before == reactive_databag(
        "res_masakari_242d562_vip", "10.5.100.1", '["res_masakari_eth0_vip"]'
    )
    after = ha([relations.Vip("10.5.100.2")], published=before, nics=["eth0"])
    assert after == reactive_databag(
        "res_masakari_4c2a33d_vip", "10.5.100.2",
        '["res_masakari_eth0_vip", "res_masakari_242d562_vip"]',
    )  # fmt: skip


def test_changed_fallback_vip_keeps_its_nic_name_and_lists_the_old_hash_name():
    fallback = ' nic=\\"eth0\\" cidr_netmask=\\"24\\"'
    before = ha([relations.Vip("10.5.100.1", "eth0", 24)])
    assert before == reactive_databag("res_masakari_eth0_vip", "10.5.100.1", "[]", fallback)
    after = ha([relations.Vip("10.5.100.2", "eth0", 24)], published=before)
    assert after == reactive_databag(
        "res_masakari_eth0_vip", "10.5.100.2", '["res_masakari_242d562_vip"]', fallback
    )


def test_removed_vip_is_deleted_and_leaves_resources_and_groups():
    # The reactive charm skips its VIP code when `vip` is empty and so never deletes it.
    after = ha([], published=ha([relations.Vip("10.5.100.1")]))
    assert json.loads(after["json_delete_resources"]) == ["res_masakari_242d562_vip"]
    assert json.loads(after["json_resources"]) == {"res_masakari_haproxy": "lsb:haproxy"}
    assert json.loads(after["json_groups"]) == {}
    assert "242d562" not in after["json_resource_params"]


def test_vip_moving_from_fallback_to_detected_deletes_the_nic_named_resource():
    before = ha([relations.Vip("10.5.100.1", "eth1", 24)])
    after = ha([relations.Vip("10.5.100.1")], published=before)
    assert json.loads(after["json_delete_resources"]) == ["res_masakari_eth1_vip"]


def test_ipv6_vip_change_lists_the_hash_name_as_upstream_and_keeps_the_shared_name():
    after = ha([relations.Vip("fd00::11")], published=ha([relations.Vip("fd00::10")]))
    assert json.loads(after["json_resources"])["res_masakari_None_ipv6addr_vip"]
    deletes = json.loads(after["json_delete_resources"])
    assert deletes == [relations._vip_resource_name("masakari", "fd00::10")]


def test_a_vip_configured_again_is_no_longer_deleted():
    first = ha([relations.Vip("10.5.100.1")])
    second = ha([relations.Vip("10.5.100.2")], published=first)
    back = ha([relations.Vip("10.5.100.1")], published=second)
    assert json.loads(back["json_delete_resources"]) == ["res_masakari_4c2a33d_vip"]
    assert "res_masakari_242d562_vip" in json.loads(back["json_resources"])


def test_unreadable_published_data_is_ignored():
    published = {"json_resources": "{'legacy': 1}", "json_delete_resources": '{"a": 1}'}
    assert json.loads(ha([], published=published)["json_delete_resources"]) == []
