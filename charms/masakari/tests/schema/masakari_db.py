"""A database made by Masakari's own `db sync` (SQLite standing in for MySQL), and rows as
Masakari and taskflow write them: shared by the tests of masakari_recovery and masakari_metrics.
Import `masakari_conf` into a test module to use the fixture (one database per module)."""

from __future__ import annotations

import datetime
import shutil
import subprocess
import sys

import pytest

import masakari_recovery as recovery


@pytest.fixture(scope="module")
def masakari_conf(tmp_path_factory) -> str:
    manage = shutil.which("masakari-manage", path=str(sys.prefix) + "/bin")
    directory = tmp_path_factory.mktemp("db")
    conf = directory / "masakari.conf"
    url = f"sqlite:///{directory}/masakari.db"
    conf.write_text(f"[database]\nconnection = {url}\n[taskflow]\nconnection = {url}\n")
    result = subprocess.run(
        [manage, "--config-file", str(conf), "db", "sync"],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    if result.returncode and "cannot import name 'migration'" in result.stderr:
        pytest.skip("Masakari 14's db sync needs sqlalchemy-migrate, which this env lacks")
    assert result.returncode == 0, result.stderr[-2000:]
    return str(conf)


def connect(masakari_conf: str):
    from sqlalchemy import create_engine

    return create_engine(recovery.database_url(masakari_conf)).begin()


def add_notification(connection, uuid: str, status: str, updated: datetime.datetime) -> None:
    from sqlalchemy import text

    connection.execute(text(
        "INSERT INTO notifications (created_at, updated_at, deleted, notification_uuid, "
        "generated_time, source_host_uuid, type, payload, status) VALUES "
        "(:t, :u, 0, :uuid, :t, 'h-1', 'COMPUTE_HOST', '{}', :status)"
    ), {"t": updated - datetime.timedelta(seconds=5), "u": updated, "uuid": uuid,
        "status": status})  # fmt: skip


def add_progress(connection, uuid: str, when: datetime.datetime) -> None:
    """What taskflow records for a running flow: logbook (the notification), flow, atom."""
    from sqlalchemy import text

    connection.execute(text(
        "INSERT INTO logbooks (created_at, name, uuid) VALUES (:t, 'host:recovery', :uuid)"
    ), {"t": when, "uuid": uuid})  # fmt: skip
    connection.execute(text(
        "INSERT INTO flowdetails (created_at, parent_uuid, name, state, uuid) "
        "VALUES (:t, :uuid, 'flow', 'RUNNING', :f)"
    ), {"t": when, "uuid": uuid, "f": f"f-{uuid}"})  # fmt: skip
    connection.execute(text(
        "INSERT INTO atomdetails (created_at, updated_at, parent_uuid, name, state, uuid, "
        "atom_type) VALUES (:c, :t, :f, 'EvacuateInstancesTask', 'RUNNING', :a, 'TASK')"
    ), {"c": when - datetime.timedelta(seconds=60), "t": when, "f": f"f-{uuid}",
        "a": f"a-{uuid}"})  # fmt: skip
