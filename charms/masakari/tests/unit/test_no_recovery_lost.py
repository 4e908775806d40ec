"""masakari-engine restarts wait for running recoveries; the resumer is deployed (issue 15)."""

from __future__ import annotations

import dataclasses
import json

from ops import testing

import masakari_workload as workload
from charm_common.system import RunResult

RUNNING = [{"uuid": "5d1e", "type": "COMPUTE_HOST", "updated_at": "2026-11-30T12:00:00",
            "last_activity": "2026-11-30T12:01:00"}]  # fmt: skip
QUERY = (workload.SYSTEM_PYTHON, workload.RECOVERY_SCRIPT)


def answering(system, notifications) -> None:
    system.responders[QUERY] = lambda argv: RunResult(0, json.dumps(notifications), "")


def test_an_engine_restart_waits_for_the_running_recovery_then_happens(
    ctx, system, ready_state, monkeypatch
):
    ready = ctx.run(ctx.on.config_changed(), ready_state)
    answering(system, RUNNING)
    monkeypatch.setattr("time.time", lambda: 1_764_504_000.0)  # 12:00:00 UTC
    restarts = len(system.restarts)
    waiting = ctx.run(ctx.on.config_changed(), dataclasses.replace(ready, config={"debug": True}))
    assert waiting.unit_status == testing.WaitingStatus(
        "Restart of masakari-engine waits for notification 5d1e (COMPUTE_HOST) (at the latest "
        "until 12:30:00 UTC)"
    )
    assert system.restarts[restarts:] == ["apache2"]  # the API restarts at once
    answering(system, [])
    done = ctx.run(ctx.on.update_status(), waiting)
    assert system.restarts[restarts:] == ["apache2", "masakari-engine", workload.RESUMER]
    assert done.unit_status == testing.ActiveStatus("Unit is ready")


def test_past_max_restart_delay_the_engine_restarts_and_the_log_says_which_recovery(
    ctx, system, ready_state, monkeypatch
):
    ready = ctx.run(ctx.on.config_changed(), ready_state)
    answering(system, RUNNING)
    clock = [1_764_504_000.0]
    monkeypatch.setattr("time.time", lambda: clock[0])
    config = {"debug": True, "max-restart-delay": 600}
    waiting = ctx.run(ctx.on.config_changed(), dataclasses.replace(ready, config=config))
    assert waiting.unit_status.name == "waiting"
    clock[0] += 601
    out = ctx.run(ctx.on.update_status(), waiting)
    assert system.restarts[-2:] == ["masakari-engine", workload.RESUMER]
    assert out.unit_status == testing.ActiveStatus("Unit is ready")
    assert any("notification(s) 5d1e run: waited 601 s" in line.message for line in ctx.juju_log)


def test_an_unreachable_database_does_not_hold_a_restart(ctx, system, ready_state):
    ready = ctx.run(ctx.on.config_changed(), ready_state)
    system.responders[QUERY] = lambda argv: RunResult(1, "", "OperationalError: (2003, ...)")
    out = ctx.run(ctx.on.config_changed(), dataclasses.replace(ready, config={"debug": True}))
    assert system.restarts[-3:] == ["apache2", "masakari-engine", workload.RESUMER]
    assert out.unit_status == testing.ActiveStatus("Unit is ready")


def test_the_resumer_runs_with_an_orphan_age_above_every_recovery_timer(ctx, system, ready_state):
    out = ctx.run(ctx.on.config_changed(), dataclasses.replace(ready_state, config={
        "power-off-timeout": 300,
    }))  # fmt: skip
    assert out.unit_status == testing.ActiveStatus("Unit is ready")
    unit = system.text(workload.RESUMER_UNIT)
    assert "resume --stale-after 360 --every 30" in unit
    assert f"/usr/bin/python3 {workload.RECOVERY_SCRIPT} " in unit
    assert system.read_file(workload.RECOVERY_SCRIPT) == (workload._RECOVERY_SOURCE.read_bytes())
    assert ["systemctl", "enable", workload.RESUMER] in system.commands
    assert workload.RESUMER in system.running


def test_remove_stops_and_removes_the_resumer(ctx, system, ready_state):
    ready = ctx.run(ctx.on.config_changed(), ready_state)
    ctx.run(ctx.on.remove(), ready)
    assert ["systemctl", "disable", "--now", workload.RESUMER] in system.commands
    assert workload.RESUMER_UNIT not in system.files
    assert workload.RECOVERY_SCRIPT not in system.files
