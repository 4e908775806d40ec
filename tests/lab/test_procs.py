"""The lab's process handling, on throwaway processes (no lab, no root needed)."""

from __future__ import annotations

import json
import os

import pytest

from . import procs, settings


@pytest.fixture(autouse=True)
def private_state(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "RUN", tmp_path / "run")
    monkeypatch.setattr(settings, "LOGS", tmp_path / "logs")


def test_a_daemon_that_dies_is_named_with_its_last_log_lines():
    procs.spawn("broken", ["sh", "-c", "echo cannot bind 127.0.0.1:1: boom; exit 3"])
    with pytest.raises(procs.LabError) as error:
        procs.wait_port("broken", 1, timeout=10, host="127.0.0.1")
    assert "broken exited" in str(error.value)
    assert "cannot bind 127.0.0.1:1: boom" in str(error.value)


def test_stop_ends_the_whole_process_group():
    proc = procs.spawn("parent", ["sh", "-c", "sleep 300 & sleep 300; wait"])
    members = procs.wait_for(
        "the child to start",
        lambda: found if len(found := procs._group_members(proc.pid)) >= 2 else None,
        timeout=5,
        interval=0.05,
    )
    assert len(members) >= 2
    assert procs.stop("parent", timeout=5) is True
    assert not any(procs.process_exists(pid) for pid in members)
    assert procs.get("parent") is None


def test_a_recycled_pid_is_never_signalled():
    proc = procs.spawn("victim", ["sleep", "300"])
    try:
        # The record says another process had this PID (another start time): not ours.
        record = settings.RUN / "victim.json"
        data = json.loads(record.read_text())
        data["start_time"] = "1"
        record.write_text(json.dumps(data))
        assert procs.stop("victim", timeout=1) is False
        assert procs.process_exists(proc.pid)
    finally:
        os.killpg(proc.pid, 9)
