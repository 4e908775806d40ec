"""Fixtures: the charm driven by ops.testing against an in-memory machine."""

from __future__ import annotations

import pathlib

import pytest
from ops import testing

from charm import MasakariCharm
from charm_common.testing import FakeSystem

from .relation_data import cluster, identity_service, rabbitmq, shared_db

CHARM_ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def system(monkeypatch: pytest.MonkeyPatch) -> FakeSystem:
    fake = FakeSystem()
    fake.write_file("/etc/os-release", b"ID=ubuntu\nVERSION_CODENAME=noble\n",
                    owner="root", group="root", mode=0o644)  # fmt: skip
    monkeypatch.setattr(MasakariCharm, "system", fake)
    return fake


@pytest.fixture
def ctx(system: FakeSystem) -> testing.Context:
    return testing.Context(MasakariCharm, charm_root=CHARM_ROOT)


@pytest.fixture
def ready_state() -> testing.State:
    """A leader with keystone, MySQL and RabbitMQ related and answering."""
    return testing.State(
        leader=True,
        relations=[shared_db(), rabbitmq(), identity_service(), cluster()],
    )
