"""list-notifications and list-segments: Masakari's database, read through this unit."""

from __future__ import annotations

import json

import pytest
from ops import testing

import masakari_workload as workload
from charm_common.system import RunResult

QUERY = (workload.SYSTEM_PYTHON, workload.RECOVERY_SCRIPT)


def answering(system, command: str, rows) -> None:
    def answer(argv):
        assert argv[4] == command
        return RunResult(0, json.dumps(rows), "")

    system.responders[QUERY] = answer


def test_list_notifications_shows_status_host_and_duration(ctx, system, ready_state):
    ready = ctx.run(ctx.on.config_changed(), ready_state)
    answering(system, "notifications", [
        {"uuid": "5d1e", "type": "COMPUTE_HOST", "status": "finished",
         "host": "virt-node-02.maas", "generated_at": "2026-11-30T12:00:00", "duration": 41.3},
        {"uuid": "77aa", "type": "VM", "status": "running", "host": "virt-node-10.maas",
         "generated_at": "2026-11-30T12:05:00", "duration": None},
    ])  # fmt: skip
    ctx.run(ctx.on.action("list-notifications", params={"limit": 5}), ready)
    assert system.commands[-1][-3:] == ["notifications", "--limit", "5"]
    assert ctx.action_results["count"] == "2"
    lines = ctx.action_results["notifications"].splitlines()
    assert lines[0].split() == [
        "2026-11-30T12:00:00", "5d1e", "COMPUTE_HOST", "finished", "virt-node-02.maas",
        "41.3", "s",
    ]  # fmt: skip
    assert lines[1].split()[-2:] == ["running", "virt-node-10.maas"]


def test_list_segments_shows_hosts_and_their_flags(ctx, system, ready_state):
    ready = ctx.run(ctx.on.config_changed(), ready_state)
    answering(system, "segments", [{
        "name": "S1", "uuid": "s-1", "recovery_method": "reserved_host",
        "service_type": "COMPUTE", "hosts": [
            {"name": "virt-node-01.maas", "reserved": True, "on_maintenance": False},
            {"name": "virt-node-02.maas", "reserved": False, "on_maintenance": True},
            {"name": "virt-node-10.maas", "reserved": False, "on_maintenance": False},
        ],
    }])  # fmt: skip
    ctx.run(ctx.on.action("list-segments"), ready)
    assert ctx.action_results["segments"].splitlines() == [
        "S1 (reserved_host, COMPUTE, s-1)",
        "  virt-node-01.maas  reserved",
        "  virt-node-02.maas  on maintenance",
        "  virt-node-10.maas",
    ]


def test_an_unreadable_database_fails_the_action_without_a_secret(ctx, system, ready_state):
    ready = ctx.run(ctx.on.config_changed(), ready_state)
    system.responders[QUERY] = lambda argv: RunResult(
        1, "", "OperationalError: (1045, \"Access denied for user 'masakari' (db-secret-8f3a)\")"
    )
    with pytest.raises(testing.ActionFailed) as failed:
        ctx.run(ctx.on.action("list-segments"), ready)
    assert failed.value.message.startswith("cannot read Masakari's database: OperationalError")
    assert "db-secret-8f3a" not in failed.value.message
