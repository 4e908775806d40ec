"""Relation encodings that other charms parse: checked against how they parse them."""

import ast
import json

import pytest

from charm_common import relations


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
    with pytest.raises(relations.RelationDataError, match="^pacemaker-key from hacluster/0 is"):
        relations.decode_base64("not base64!", "pacemaker-key from hacluster/0")
    with pytest.raises(relations.RelationDataError, match="is empty"):
        relations.decode_base64("", "ssl_ca")
