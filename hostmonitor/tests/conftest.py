"""Shared helpers: recorded crm_mon documents and their observation times."""

from __future__ import annotations

import datetime
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the package is tested from the source tree

FIXTURES = HERE / "fixtures"


def doc_time(document: str) -> float:
    """When crm_mon produced the document (its last_update; the lab ran in UTC)."""
    root = ElementTree.fromstring(document)  # noqa: S314 - recorded fixtures
    stamp = root.find("summary/last_update").get("time")
    parsed = datetime.datetime.strptime(stamp, "%a %b %d %H:%M:%S %Y")
    return parsed.replace(tzinfo=datetime.timezone.utc).timestamp()


def recording(scenario: str, observer: str) -> list[tuple[str, str]]:
    """(file name, document) as `observer` saw them, in time order."""
    paths = sorted((FIXTURES / scenario).glob(f"t*-{observer}.xml"))
    assert paths, f"no fixtures for {scenario}/{observer}"
    return [(p.name, p.read_text()) for p in paths]


def edit_node(document: str, name: str, **attrs: str) -> str:
    """A recorded document with attributes of node `name` (and its connection) changed."""
    root = ElementTree.fromstring(document)  # noqa: S314 - recorded fixtures
    node = root.find(f"nodes/node[@name='{name}']")
    role = attrs.pop("role", None)
    for key, value in attrs.items():
        node.set(key, value)
    if role is not None:
        root.find(f"resources/resource[@id='{name}']").set("role", role)
    return ElementTree.tostring(root, encoding="unicode")


@pytest.fixture
def rec():
    return recording


@pytest.fixture
def stub(tmp_path):
    """The loopback Keystone/Nova/Masakari, with masakari-monitors' CONF pointing at it."""
    import masakarimonitors.conf
    from openstack_stub import OpenStackStub

    CONF = masakarimonitors.conf.CONF  # noqa: N806 - the monitors' global, by its own name
    with OpenStackStub() as stub:
        conf = tmp_path / "masakarimonitors.conf"
        conf.write_text(f"""
[api]
region = RegionOne
api_interface = internal
auth_type = password
auth_url = {stub.url}/v3
username = masakari
password = s3cret
project_name = service
user_domain_name = Default
project_domain_name = Default
[host]
monitoring_interval = 1
api_retry_max = 2
api_retry_interval = 1
""")
        CONF(["--config-file", str(conf)], project="masakarimonitors")
        yield stub
        CONF.reset()
        CONF.clear()
