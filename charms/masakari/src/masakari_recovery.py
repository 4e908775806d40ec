"""Recoveries Masakari is running, and the ones an engine left behind.

Runs under the machine's python3 beside Masakari (SQLAlchemy and the MySQL driver come with
it), reading Masakari's own database through the `[database] connection` of masakari.conf:
- `running`: the notifications in `running` with their last recorded activity, as JSON; the
  masakari charm asks before it restarts masakari-engine.
- `notifications` and `segments`: the latest notifications with their host and duration, and
  every segment with its hosts, as JSON, for the charm's `list-notifications` and
  `list-segments` actions.
- `notification_counts`, `recovery_durations`, `running`, `segments` are also what the charm's
  metrics exporter (masakari_metrics.py) reads on each scrape.
- `resume`: once, or every `--every` seconds, gives each orphaned notification back to
  Masakari by setting it to `error`, which masakari-engine's own periodic task
  (`process_unfinished_notifications`, every `retry-interval`) runs again.

The rule: a notification is orphaned when it is `running` and nothing has been recorded for it
for longer than `--stale-after` seconds. Masakari records a running recovery's progress in
taskflow's persistence (the logbook named by the notification's uuid: every task start, end
and progress message updates an `atomdetails` row). A live engine records something at least
once per task step; its longest silent wait is one of the recovery timers (Masakari's
`wait_period_after_*`), so the charm sets `--stale-after` above the largest of them. Masakari
records no engine liveness, so staleness is the one fact every unit can read. Several units may
resume at once: the update only applies while the row is unchanged since it was read, so one
wins. A re-run repeats no step that took effect: Masakari's flows list the instances still on
the failed host (those already evacuated are not), and disabling a compute service or putting
a host on maintenance again changes nothing.
"""

from __future__ import annotations

import argparse
import configparser
import datetime
import json
import sys
import time

RUNNING, ERROR = "running", "error"

# Masakari's notifications and taskflow's logbook -> flowdetails -> atomdetails (the logbook's
# uuid is the notification's: masakari/engine/drivers/taskflow/base.py).
_RUNNING = """
SELECT notification_uuid, type, generated_time, updated_at FROM notifications
WHERE status = 'running' AND deleted = 0
"""
_ACTIVITY = """
SELECT MAX(COALESCE(a.updated_at, a.created_at)) AS atoms,
       MAX(COALESCE(f.updated_at, f.created_at)) AS flows
FROM flowdetails f LEFT JOIN atomdetails a ON a.parent_uuid = f.uuid
WHERE f.parent_uuid = :uuid
"""
_RESUME = """
UPDATE notifications SET status = 'error', updated_at = :now
WHERE notification_uuid = :uuid AND status = 'running' AND updated_at = :seen
"""


def database_url(masakari_conf: str) -> str:
    """`[database] connection` of masakari.conf, with oslo.config's `$$` read back as `$`."""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    if not parser.read(masakari_conf):
        raise SystemExit(f"cannot read {masakari_conf}")
    return parser["database"]["connection"].replace("$$", "$")


def running(connection) -> list[dict]:
    """Every running notification: uuid, type, generated_at, updated_at and last_activity
    (naive UTC datetimes)."""
    from sqlalchemy import DateTime, text

    # Typed columns: MySQL returns datetimes, SQLite strings that DateTime parses.
    query = text(_RUNNING).columns(generated_time=DateTime, updated_at=DateTime)
    activity = text(_ACTIVITY).columns(atoms=DateTime, flows=DateTime)
    found = []
    for uuid, kind, generated, updated in connection.execute(query).fetchall():
        atoms, flows = connection.execute(activity, {"uuid": uuid}).fetchone()
        moments = [m for m in (updated, generated, atoms, flows) if m is not None]
        found.append({
            "uuid": uuid, "type": kind, "generated_at": generated, "updated_at": updated,
            "last_activity": max(moments) if moments else None,
        })  # fmt: skip
    return found


_NOTIFICATIONS = """
SELECT n.notification_uuid, n.type, n.status, h.name, n.generated_time, n.updated_at
FROM notifications n LEFT JOIN hosts h ON h.uuid = n.source_host_uuid AND h.deleted = 0
WHERE n.deleted = 0 ORDER BY n.generated_time DESC, n.id DESC LIMIT :limit
"""
_SEGMENTS = """
SELECT s.uuid, s.name, s.recovery_method, s.service_type, h.name, h.reserved, h.on_maintenance
FROM failover_segments s LEFT JOIN hosts h ON h.failover_segment_id = s.uuid AND h.deleted = 0
WHERE s.deleted = 0 ORDER BY s.name, h.name
"""
_DONE = ("finished", "failed", "ignored")


def notifications(connection, limit: int) -> list[dict]:
    """The `limit` latest notifications, newest first: uuid, type, status, host (its name in
    the segment), generated time and, once ended, its duration in seconds (generated -> last
    update, which Masakari writes when the recovery ends)."""
    from sqlalchemy import DateTime, text

    query = text(_NOTIFICATIONS).columns(generated_time=DateTime, updated_at=DateTime)
    found = []
    for uuid, kind, state, host, generated, updated in connection.execute(
        query, {"limit": limit}
    ).fetchall():
        ended = state in _DONE and generated is not None and updated is not None
        found.append({
            "uuid": uuid, "type": kind, "status": state, "host": host,
            "generated_at": generated,
            "duration": round((updated - generated).total_seconds(), 1) if ended else None,
        })  # fmt: skip
    return found


def segments(connection) -> list[dict]:
    """Every segment: name, uuid, recovery method, service type and its hosts (name, reserved,
    on maintenance), by name."""
    from sqlalchemy import text

    found: dict[str, dict] = {}
    for uuid, name, method, service, host, reserved, maintenance in connection.execute(
        text(_SEGMENTS)
    ).fetchall():
        segment = found.setdefault(uuid, {
            "name": name, "uuid": uuid, "recovery_method": method, "service_type": service,
            "hosts": [],
        })  # fmt: skip
        if host is not None:
            segment["hosts"].append({
                "name": host, "reserved": bool(reserved), "on_maintenance": bool(maintenance),
            })  # fmt: skip
    return list(found.values())


_BY_TYPE_AND_STATUS = """
SELECT type, status, COUNT(*) FROM notifications WHERE deleted = 0 GROUP BY type, status
"""
_FINISHED = """
SELECT type, generated_time, updated_at FROM notifications
WHERE deleted = 0 AND status = 'finished' AND generated_time IS NOT NULL
AND updated_at IS NOT NULL
"""


def notification_counts(connection) -> list[tuple[str, str, int]]:
    """(type, status, how many) of every notification in the database (not deleted)."""
    from sqlalchemy import text

    return [(k, s, int(n)) for k, s, n in connection.execute(text(_BY_TYPE_AND_STATUS))]


def recovery_durations(connection) -> list[tuple[str, float]]:
    """(type, seconds) of every finished notification: generated -> its last update, which
    Masakari writes when the recovery ends (as `notifications` reports its duration)."""
    from sqlalchemy import DateTime, text

    query = text(_FINISHED).columns(generated_time=DateTime, updated_at=DateTime)
    return [
        (kind, max(0.0, (updated - generated).total_seconds()))
        for kind, generated, updated in connection.execute(query).fetchall()
    ]


def orphaned(found: list[dict], now: datetime.datetime, stale_after: float) -> list[dict]:
    """Those of `found` with no recorded activity for more than `stale_after` seconds."""
    limit = datetime.timedelta(seconds=stale_after)
    return [n for n in found if n["last_activity"] is None or now - n["last_activity"] > limit]


def resume(connection, notification: dict, now: datetime.datetime) -> bool:
    """Hand one orphan back to Masakari (`error`); False when it changed since it was read."""
    from sqlalchemy import text

    if notification["updated_at"] is None:
        return False  # Masakari sets updated_at when it marks a notification running
    result = connection.execute(text(_RESUME), {
        "uuid": notification["uuid"], "seen": notification["updated_at"], "now": now,
    })  # fmt: skip
    return result.rowcount == 1


def utcnow() -> datetime.datetime:
    """Naive UTC, as Masakari and taskflow store their times (oslo_utils.timeutils.utcnow)."""
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def _as_json(notifications: list[dict]) -> str:
    return json.dumps(notifications, default=lambda value: value.isoformat(), sort_keys=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config-file", default="/etc/masakari/masakari.conf")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("running", help="print the running notifications as JSON")
    listing = commands.add_parser("notifications", help="print the latest notifications")
    listing.add_argument("--limit", type=int, default=20)
    commands.add_parser("segments", help="print every segment with its hosts as JSON")
    resume_parser = commands.add_parser("resume", help="give orphaned notifications back")
    resume_parser.add_argument("--stale-after", type=float, required=True, help="seconds")
    resume_parser.add_argument("--every", type=float, help="repeat every this many seconds")
    args = parser.parse_args(argv)

    from sqlalchemy import create_engine

    engine = create_engine(database_url(args.config_file), pool_pre_ping=True)
    if args.command in ("running", "notifications", "segments"):
        with engine.connect() as connection:
            if args.command == "running":
                print(_as_json(running(connection)))
            elif args.command == "notifications":
                print(_as_json(notifications(connection, args.limit)))
            else:
                print(_as_json(segments(connection)))
        return 0
    while True:
        try:
            with engine.begin() as connection:
                now = utcnow()
                for orphan in orphaned(running(connection), now, args.stale_after):
                    if resume(connection, orphan, now):
                        print(
                            f"resumed notification {orphan['uuid']}: running with no recorded "
                            f"activity since {orphan['last_activity']} UTC; set to error for "
                            "masakari-engine to run it again",
                            flush=True,
                        )
        except Exception as error:  # noqa: BLE001 - a database outage must not end the watch
            if not args.every:
                raise
            print(f"checking for orphaned notifications failed: {error}", file=sys.stderr)
        if not args.every:
            return 0
        time.sleep(args.every)


if __name__ == "__main__":
    sys.exit(main())
