"""Fixtures: the charm driven by ops.testing against an in-memory hypervisor."""

from __future__ import annotations

import pathlib

import pytest
from ops import testing

import masakari_monitors_workload as workload
from charm import MasakariMonitorsCharm
from charm_common.system import RunResult
from charm_common.testing import FakeSystem

from .relation_data import identity_credentials, nova_compute

CHARM_ROOT = pathlib.Path(__file__).resolve().parents[2]
FQDN = "virt-node-01.maas"
SITE = "/usr/local/lib/python3.12/dist-packages"
# Ubuntu noble's /usr/bin/python3 search path.
SYS_PATH = f"/usr/lib/python312.zip\n/usr/lib/python3.12\n{SITE}\n/usr/lib/python3/dist-packages\n"


@pytest.fixture
def system(monkeypatch: pytest.MonkeyPatch) -> FakeSystem:
    fake = FakeSystem(FQDN)
    fake.responders[(workload.SYSTEM_PYTHON, "-c")] = lambda argv: RunResult(0, SYS_PATH, "")
    monkeypatch.setattr(MasakariMonitorsCharm, "system", fake)
    return fake


@pytest.fixture
def ctx(system: FakeSystem) -> testing.Context:
    return testing.Context(MasakariMonitorsCharm, charm_root=CHARM_ROOT)


@pytest.fixture
def ready_state() -> testing.State:
    """On nova-compute, with keystone related and answering."""
    return testing.State(relations=[nova_compute(), identity_credentials()])
