"""The lab's Pacemaker side without the lab: relation data parsed as hacluster does, the crm
configuration hacluster would write, MAAS OAuth, host address planning (no root needed)."""

from __future__ import annotations

import json
import time

import pytest

from . import hosts, maas_emulator, pacemaker
from .hosts import LabError

KEY = "consumer:token:secret"


def unit(**values) -> dict[str, str]:
    data = {
        "remote-hostname": json.dumps("virt-node-01.maas"),
        "remote-ip": json.dumps("10.213.0.101"),
        "stonith-hostname": json.dumps("virt-node-01.maas"),
        "enable-resources": json.dumps(False),
    }
    data.update(values)
    return data


def test_relation_values_decode_as_hacluster_does():
    assert pacemaker.parse_relation_value("u/0", "k", '"virt-node-01.maas"') == "virt-node-01.maas"
    assert pacemaker.parse_relation_value("u/0", "k", "'legacy literal'") == "legacy literal"
    assert pacemaker.parse_relation_value("u/0", "k", "True") is True
    assert pacemaker.parse_relation_value("u/0", "k", "null") is None
    assert pacemaker.parse_relation_value("u/0", "k", None) is None


@pytest.mark.parametrize(
    "key,raw,expected",
    [
        ("remote-ip", "10.213.0.101", "remote-ip='10.213.0.101' is neither JSON"),
        ("remote-hostname", "virt-node-01.maas", "json.dumps"),
        ("remote-ip", '"not-an-ip"', "must be the IP address"),
        ("enable-resources", '"false"', "must be JSON true or false"),
        ("remote-hostname", '"virt-node-01"', "must be the host's FQDN"),
    ],
)
def test_bad_relation_data_names_unit_key_and_fix(key, raw, expected):
    with pytest.raises(LabError) as err:
        pacemaker.parse_remote_units({"pacemaker-remote/3": unit(**{key: raw})})
    assert "pacemaker-remote/3" in str(err.value)
    assert expected in str(err.value)


def test_crm_configuration_is_what_hacluster_creates():
    remotes = pacemaker.parse_remote_units(
        {
            "pacemaker-remote/0": unit(),
            "pacemaker-remote/1": unit(
                **{
                    "remote-hostname": '"virt-node-10.maas"',
                    "remote-ip": '"10.213.0.110"',
                    "stonith-hostname": '"virt-node-10.maas"',
                }
            ),
            "pacemaker-remote/2": {"remote-ip": '"10.213.0.102"'},  # not ready: skipped
        }
    )
    text = pacemaker.crm_configuration(
        remotes,
        "http://10.213.0.1:5240/MAAS",
        KEY,
        pacemaker.ClusterSettings(),  # the lab's default is hacluster's primitive
    )
    lines = text.splitlines()
    assert (
        "primitive virt-node-01.maas ocf:pacemaker:remote params server=10.213.0.101 "
        "reconnect_interval=60 op monitor interval=30s"
    ) in lines
    assert (
        "primitive st-maas stonith:external/maas params url='http://10.213.0.1:5240/MAAS' "
        "apikey='consumer:token:secret' hostnames='virt-node-01 virt-node-01.maas "
        "virt-node-10 virt-node-10.maas' op monitor interval=25 start-delay=25 timeout=25"
    ) in lines
    assert "location loc-st-maas-lab-control st-maas 0: lab-control" in lines
    assert "location loc-virt-node-10.maas-lab-control virt-node-10.maas 200: lab-control" in lines
    properties = lines[0]
    assert "symmetric-cluster=false" in properties
    assert "stonith-enabled=true" in properties
    assert "virt-node-02" not in text


def test_no_stonith_hostname_means_no_st_maas_and_stonith_disabled():
    remotes = pacemaker.parse_remote_units(
        {"pacemaker-remote/0": unit(**{"stonith-hostname": "null", "enable-resources": "true"})}
    )
    text = pacemaker.crm_configuration(remotes, "http://x/MAAS", KEY, pacemaker.ClusterSettings())
    assert "st-maas" not in text
    assert "stonith-enabled=false" in text
    assert "symmetric-cluster=true" in text
    assert "location" not in text


def test_maas_oauth_plaintext_is_checked():
    libmaas_style = (
        'OAuth realm="OAuth", oauth_nonce="1", oauth_timestamp="2", '
        'oauth_version="1.0", oauth_signature_method="PLAINTEXT", '
        'oauth_consumer_key="consumer", oauth_token="token", '
        'oauth_signature="%26secret"'
    )
    assert maas_emulator.check_auth(libmaas_style, KEY) == 0
    assert maas_emulator.check_auth(libmaas_style.replace("%26secret", "&secret"), KEY) == 0
    assert maas_emulator.check_auth(libmaas_style.replace("secret", "guess"), KEY) == 401
    assert maas_emulator.check_auth(None, KEY) == 401
    assert maas_emulator.check_auth(libmaas_style.replace("PLAINTEXT", "HMAC-SHA1"), KEY) == 400


def test_plan_gives_stable_addresses_and_rejects_bad_names():
    lab = hosts.plan(hosts.DEFAULT_HOSTS, "10.213.0.0/24")
    assert [h.ip for h in lab.hosts] == ["10.213.0.101", "10.213.0.102", "10.213.0.110"]
    assert lab.control_ip == "10.213.0.1"
    with pytest.raises(LabError, match="lower-case FQDN"):
        hosts.plan(["Virt_Node"], "10.213.0.0/24")
    with pytest.raises(LabError, match="private IPv4"):
        hosts.plan(hosts.DEFAULT_HOSTS, "8.8.8.0/24")


def test_a_503_window_set_for_the_next_power_action_opens_there_once(tmp_path, monkeypatch):
    monkeypatch.setattr(maas_emulator, "FAULTS_FILE", tmp_path / "faults.json")
    maas_emulator.set_faults(unavailable_from_next_power_action_for=20)
    assert maas_emulator.get_faults().get("unavailable_until", 0) == 0  # not open yet
    opened = maas_emulator.faults_for_power_action()
    assert 19 < opened["unavailable_until"] - time.time() <= 20
    again = maas_emulator.faults_for_power_action()  # the next action: the same window
    assert again["unavailable_until"] == opened["unavailable_until"]
