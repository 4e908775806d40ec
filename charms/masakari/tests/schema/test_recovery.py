"""masakari_recovery against a database Masakari's own `db sync` created (notifications and
taskflow's logbooks, flowdetails, atomdetails), with SQLite standing in for MySQL."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys

from masakari_db import add_notification, add_progress, connect

import masakari_recovery as recovery

NOW = datetime.datetime(2026, 11, 30, 12, 0, 0)


def test_only_a_running_notification_without_recent_progress_is_orphaned(masakari_conf):
    with connect(masakari_conf) as connection:
        # Marked running 10 minutes ago; its flow recorded progress 30 s ago: a live engine.
        add_notification(connection, "live", "running", NOW - datetime.timedelta(minutes=10))
        add_progress(connection, "live", NOW - datetime.timedelta(seconds=30))
        # Marked running 10 minutes ago; progress stopped 5 minutes ago: its engine is gone.
        add_notification(connection, "orphan", "running", NOW - datetime.timedelta(minutes=10))
        add_progress(connection, "orphan", NOW - datetime.timedelta(minutes=5))
        # Finished long ago: never touched.
        add_notification(connection, "done", "finished", NOW - datetime.timedelta(hours=1))
        found = recovery.running(connection)
        assert {n["uuid"] for n in found} == {"live", "orphan"}
        orphans = recovery.orphaned(found, NOW, stale_after=240)
        assert [n["uuid"] for n in orphans] == ["orphan"]
        assert recovery.resume(connection, orphans[0], NOW) is True
        assert recovery.resume(connection, orphans[0], NOW) is False  # another unit won
        assert {n["uuid"] for n in recovery.running(connection)} == {"live"}


def test_the_command_line_prints_running_and_resumes_orphans(masakari_conf):
    with connect(masakari_conf) as connection:
        old = recovery.utcnow() - datetime.timedelta(minutes=20)
        add_notification(connection, "cli-orphan", "running", old)
    out = subprocess.run(
        [sys.executable, recovery.__file__, "--config-file", masakari_conf, "running"],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    assert "cli-orphan" in {n["uuid"] for n in json.loads(out)}
    out = subprocess.run(
        [sys.executable, recovery.__file__, "--config-file", masakari_conf, "resume",
         "--stale-after", "300"],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    assert "resumed notification cli-orphan" in out
    with connect(masakari_conf) as connection:
        from sqlalchemy import text

        status = connection.execute(text(
            "SELECT status FROM notifications WHERE notification_uuid = 'cli-orphan'"
        )).scalar()  # fmt: skip
    assert status == "error"  # masakari-engine's periodic task runs it again


def test_notifications_and_segments_as_the_actions_list_them(masakari_conf):
    from sqlalchemy import text

    with connect(masakari_conf) as connection:
        connection.execute(text(
            "INSERT INTO failover_segments (deleted, uuid, name, service_type, recovery_method) "
            "VALUES (0, 's-1', 'S1', 'COMPUTE', 'reserved_host')"
        ))  # fmt: skip
        for name, uuid, reserved, maintenance in (
            ("virt-node-01.maas", "h-0", True, False), ("virt-node-02.maas", "h-1", False, True),
        ):  # fmt: skip
            connection.execute(text(
                "INSERT INTO hosts (deleted, uuid, name, reserved, type, control_attributes, "
                "failover_segment_id, on_maintenance) VALUES (0, :u, :n, :r, 'COMPUTE', 'SSH', "
                "'s-1', :m)"
            ), {"u": uuid, "n": name, "r": reserved, "m": maintenance})  # fmt: skip
        add_notification(connection, "ended", "finished", NOW)  # generated 5 s before NOW
        listed = recovery.notifications(connection, limit=50)
        segments = recovery.segments(connection)
    ended = next(n for n in listed if n["uuid"] == "ended")
    assert (ended["host"], ended["status"], ended["duration"]) == (
        "virt-node-02.maas",
        "finished",
        5.0,
    )
    assert segments == [{
        "name": "S1", "uuid": "s-1", "recovery_method": "reserved_host",
        "service_type": "COMPUTE", "hosts": [
            {"name": "virt-node-01.maas", "reserved": True, "on_maintenance": False},
            {"name": "virt-node-02.maas", "reserved": False, "on_maintenance": True},
        ],
    }]  # fmt: skip
