"""Fixtures: the charm driven by ops.testing against an in-memory machine."""

from __future__ import annotations

import base64
import pathlib

import pytest
from ops import testing

from charm import PacemakerRemoteCharm
from charm_common.system import RunResult
from charm_common.testing import FakeSystem

CHARM_ROOT = pathlib.Path(__file__).resolve().parents[2]
# Recorded from Debian 12's crm_mon 2.1.5 (see lib/tests/test_pacemaker.py): virt-node-01.maas
# online, virt-node-02.maas offline, virt-node-03 online under its short name.
DATA = CHARM_ROOT.parents[1] / "lib/tests/data"
CRM_MON_XML = (DATA / "crm_mon-2.1.5.xml").read_text()
FQDN = "virt-node-01.maas"
KEY = bytes(range(256)) * 16  # 4096 bytes, as `dd if=/dev/urandom bs=4096 count=1` makes
NEW_KEY = bytes(reversed(KEY))


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def hacluster(*keys: str | None) -> testing.Relation:
    """hacluster with one unit per key; each sends its raw (not JSON) base64 pacemaker-key."""
    return testing.Relation(
        "pacemaker-remote", remote_app_name="hacluster",
        remote_units_data={
            unit: ({"pacemaker-key": key} if key is not None else {})
            for unit, key in enumerate(keys or (b64(KEY),) * 3)
        },
    )  # fmt: skip


def nova_compute() -> testing.SubordinateRelation:
    return testing.SubordinateRelation("juju-info", remote_app_name="nova-compute")


@pytest.fixture
def system(monkeypatch: pytest.MonkeyPatch) -> FakeSystem:
    fake = FakeSystem(FQDN)
    # pacemaker_remoted is up and a cluster is connected to it.
    fake.responders[("crm_mon",)] = lambda argv: RunResult(0, CRM_MON_XML, "")
    monkeypatch.setattr(PacemakerRemoteCharm, "system", fake)
    return fake


@pytest.fixture
def ctx(system: FakeSystem) -> testing.Context:
    return testing.Context(PacemakerRemoteCharm, charm_root=CHARM_ROOT)


@pytest.fixture
def ready_state() -> testing.State:
    """Related to nova-compute and to three hacluster units that agree on the key."""
    return testing.State(relations=[nova_compute(), hacluster()])
