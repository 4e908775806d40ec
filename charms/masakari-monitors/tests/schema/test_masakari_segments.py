"""masakari_segments.py against a loopback Keystone, Nova and Masakari (hostmonitor's stub), with
the real openstacksdk and keystoneauth1: URLs, microversions, bodies and error answers for real.

Runs in the tox envs that install masakari-monitors, and so openstacksdk (zed, latest).
"""

from __future__ import annotations

import importlib.util
import json
import pathlib
import subprocess
import sys

import pytest

import masakari_segments as segments

ROOT = pathlib.Path(__file__).resolve().parents[4]
_spec = importlib.util.spec_from_file_location(
    "openstack_stub", ROOT / "hostmonitor/tests/openstack_stub.py"
)
openstack_stub = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(openstack_stub)

HOST = "virt-node-01.maas"
PASSWORD = "pa$ss word"  # rendered by the charm as pa$$ss word (oslo's escape)


@pytest.fixture
def stub():
    with openstack_stub.OpenStackStub() as running:
        running.add_service(HOST)
        yield running


@pytest.fixture
def conf(stub, tmp_path) -> pathlib.Path:
    path = tmp_path / "masakarimonitors.conf"
    path.write_text(
        "[DEFAULT]\nhostname = virt-node-01.maas\n\n[api]\nauth_type = password\n"
        f"auth_url = {stub.url}/v3\nusername = masakari-monitors\n"
        f"password = {PASSWORD.replace('$', '$$')}\nproject_name = services\n"
        "user_domain_name = service_domain\nproject_domain_name = service_domain\n"
        "region = RegionOne\napi_interface = internal\n"
    )
    return path


def run(conf: pathlib.Path, capsys, *argv: str, host: str = HOST) -> tuple[int, object]:
    """The script's exit code and its JSON (0) or its one stderr line (otherwise)."""
    code = segments.main(["--config-file", str(conf), "--host", host, *argv])
    out, err = capsys.readouterr()
    if code == 0:
        assert err == ""
        return code, json.loads(out)
    assert out == "" and len(err.strip().splitlines()) == 1
    return code, err.strip()


def changes(stub, prefix: str) -> list[tuple[str, str, object]]:
    return [
        (r["method"], r["path"], r["body"])
        for r in stub.requests
        if r["method"] != "GET" and r["path"].startswith(prefix)
    ]


# register / unregister -------------------------------------------------------------------------


def test_register_creates_the_segment_and_the_host_then_finds_it_present(stub, conf, capsys):
    code, added = run(conf, capsys, "register", "--segment", "S1",
                      "--recovery-method", "reserved_host")  # fmt: skip
    assert code == 0 and added["result"] == "added" and added["created_segment"] is True
    (segment,) = stub.segments.values()
    assert (segment["name"], segment["recovery_method"], segment["service_type"]) == (
        "S1",
        "reserved_host",
        "COMPUTE",
    )
    host = stub.host_named(HOST)
    assert (host["type"], host["control_attributes"]) == ("COMPUTE", "SSH")
    assert added == {
        "result": "added", "created_segment": True, "segment": "S1",
        "segment_uuid": segment["uuid"], "host_uuid": host["uuid"], "reserved": False,
        "on_maintenance": False,
    }  # fmt: skip
    code, again = run(conf, capsys, "register", "--segment", "S1")
    assert again == {**added, "result": "present", "created_segment": False}
    # The monitors' own user, from the file (oslo's $$ read back), at [api] api_interface.
    token = stub.calls("POST", "/v3/auth/tokens")[-1]
    user = token["body"]["auth"]["identity"]["password"]["user"]
    assert (user["name"], user["password"]) == ("masakari-monitors", PASSWORD)
    assert all(r["path"].startswith(("/v3", "/instance-ha/v1")) for r in stub.requests)


def test_register_joins_an_existing_segment_keeping_its_method(stub, conf, capsys):
    segment = stub.add_segment("S1", "rh_priority")
    code, added = run(conf, capsys, "register", "--segment", "S1", "--recovery-method", "auto")
    assert added["created_segment"] is False and added["segment_uuid"] == segment["uuid"]
    assert segment["recovery_method"] == "rh_priority"


def test_units_racing_to_create_the_segment_end_in_the_same_one(stub, conf, capsys, monkeypatch):
    """Another unit creates S1 between this one's look and its create: Masakari answers 409
    (names are unique) and this unit joins that segment."""
    theirs = stub.add_segment("S1", "auto")
    looks = iter([None])
    found = segments.Cloud.segment_named
    monkeypatch.setattr(segments.Cloud, "segment_named",
                        lambda self, name: next(looks, found(self, name)))  # fmt: skip
    code, added = run(conf, capsys, "register", "--segment", "S1")
    assert (code, added["segment_uuid"], len(stub.segments)) == (0, theirs["uuid"], 1)
    assert added["created_segment"] is False
    assert [r["method"] for r in stub.calls("POST", "/instance-ha/v1/segments")] == ["POST"] * 2
    assert stub.host_named(HOST)["failover_segment_id"] == theirs["uuid"]


def test_register_never_moves_a_host_from_another_segment(stub, conf, capsys):
    other = stub.add_segment("ops")
    host = stub.add_host(other, HOST, reserved=True)
    code, found = run(conf, capsys, "register", "--segment", "S1")
    assert found == {
        "result": "elsewhere", "created_segment": False, "segment": "ops",
        "segment_uuid": other["uuid"], "host_uuid": host["uuid"], "reserved": True,
        "on_maintenance": False,
    }  # fmt: skip
    assert changes(stub, "/instance-ha") == []


def test_a_host_nova_does_not_know_fails_with_masakaris_message(stub, conf, capsys):
    code, line = run(conf, capsys, "register", "--segment", "S1", host="virt-node-09.maas")
    assert code == 1
    assert line.startswith("ApiError: masakari POST /segments/")
    assert line.endswith(
        "HTTP 400 Compute service with name virt-node-09.maas could not be found."
    )


def test_unregister_removes_that_host_record_once(stub, conf, capsys):
    segment = stub.add_segment("S1")
    host = stub.add_host(segment, HOST)
    args = ("unregister", "--segment-uuid", segment["uuid"], "--host-uuid", host["uuid"])
    assert run(conf, capsys, *args) == (0, {"result": "removed"})
    assert stub.hosts == {}
    assert run(conf, capsys, *args) == (0, {"result": "absent"})


def test_a_segment_under_recovery_refuses_changes_and_says_so(stub, conf, capsys):
    segment = stub.add_segment("S1")
    host = stub.add_host(segment, HOST)
    stub.segments_in_recovery.add(segment["uuid"])
    code, line = run(conf, capsys, "unregister", "--segment-uuid", segment["uuid"],
                     "--host-uuid", host["uuid"])  # fmt: skip
    assert code == 1 and "HTTP 409 Host" in line and "in-use" in line


# set-reserved / maintenance ---------------------------------------------------------------------


def test_set_reserved_disables_nova_compute_first_then_marks_the_host(stub, conf, capsys):
    segment = stub.add_segment("S1")
    host = stub.add_host(segment, HOST)
    service = stub.services[HOST]
    code, done = run(conf, capsys, "set-reserved", "--reserved", "true")
    assert done == {"host": HOST, "segment": "S1",
                    "steps": {"nova-compute": "disabled", "reserved": "set"}}  # fmt: skip
    assert [c[0] + " " + c[1].split("/")[1] for c in changes(stub, "/")] == [
        "POST v3", "PUT compute", "PUT instance-ha",
    ]  # fmt: skip
    assert (service["status"], service["disabled_reason"]) == (
        "disabled",
        segments.RESERVED_REASON,
    )
    assert host["reserved"] is True
    (put,) = stub.calls("PUT", "/compute")
    assert put["headers"].get("OpenStack-API-Version") == "compute 2.53"
    code, done = run(conf, capsys, "set-reserved", "--reserved", "false")
    assert done["steps"] == {"reserved": "cleared", "nova-compute": "enabled"}
    assert (service["status"], host["reserved"]) == ("enabled", False)


def test_releasing_a_host_on_maintenance_leaves_nova_compute_disabled(stub, conf, capsys):
    stub.add_host(stub.add_segment("S1"), HOST, reserved=True, on_maintenance=True)
    stub.services[HOST]["status"] = "disabled"
    code, done = run(conf, capsys, "set-reserved", "--reserved", "false")
    assert done["steps"]["nova-compute"].startswith("left disabled: the host is on maintenance")
    assert stub.services[HOST]["status"] == "disabled"


def test_maintenance_on_stops_masakari_acting_then_disables_nova_compute(stub, conf, capsys):
    host = stub.add_host(stub.add_segment("S1"), HOST)
    code, done = run(conf, capsys, "maintenance", "--on", "true")
    assert done["steps"] == {"on-maintenance": "set", "nova-compute": "disabled"}
    assert [c[1].split("/")[1] for c in changes(stub, "/")[1:]] == ["instance-ha", "compute"]
    assert host["on_maintenance"] is True
    assert stub.services[HOST]["disabled_reason"] == segments.MAINTENANCE_REASON
    code, done = run(conf, capsys, "maintenance", "--on", "false")
    assert done["steps"] == {"nova-compute": "enabled", "on-maintenance": "cleared"}
    assert (host["on_maintenance"], stub.services[HOST]["status"]) == (False, "enabled")


def test_maintenance_off_leaves_a_reserved_host_disabled(stub, conf, capsys):
    stub.add_host(stub.add_segment("S1"), HOST, reserved=True, on_maintenance=True)
    stub.services[HOST]["status"] = "disabled"
    code, done = run(conf, capsys, "maintenance", "--on", "false")
    assert done["steps"] == {"nova-compute": "left disabled: reserved host",
                             "on-maintenance": "cleared"}  # fmt: skip
    assert stub.services[HOST]["status"] == "disabled"


def test_maintenance_off_leaves_forced_down_to_reinsert(stub, conf, capsys):
    stub.add_host(stub.add_segment("S1"), HOST, on_maintenance=True)
    stub.services[HOST].update(forced_down=True, state="down", status="disabled")
    code, done = run(conf, capsys, "maintenance", "--on", "false")
    assert done["steps"]["forced-down"] == (
        "still set (the host was fenced): run the reinsert action"
    )
    assert stub.services[HOST]["forced_down"] is True


def test_flag_actions_refuse_for_a_host_in_no_segment(stub, conf, capsys):
    code, line = run(conf, capsys, "maintenance", "--on", "true")
    assert code == 3
    assert line == (
        f"{HOST} is in no Masakari segment: set the charm's segment-name, or openstack segment "
        f"host create {HOST} COMPUTE SSH <segment>"
    )
    assert changes(stub, "/compute") == []


# reinsert --------------------------------------------------------------------------------------


def after_failure(stub) -> dict:
    """What a recovered failure leaves: forced down, disabled, on maintenance."""
    host = stub.add_host(stub.add_segment("S1"), HOST, on_maintenance=True)
    stub.services[HOST].update(forced_down=True, state="down", status="disabled")
    return host


def test_reinsert_clears_forced_down_enables_then_clears_maintenance_in_that_order(
    stub, conf, capsys
):
    host = after_failure(stub)  # nova-compute reports again (the stub's heartbeat)
    code, done = run(conf, capsys, "reinsert")
    assert done == {"host": HOST, "segment": "S1", "steps": {
        "forced-down": "cleared", "nova-compute": "enabled", "on-maintenance": "cleared",
    }}  # fmt: skip
    assert [c[2] for c in changes(stub, "/compute")] == [
        {"forced_down": False},
        {"status": "enabled"},
    ]
    assert host["on_maintenance"] is False
    assert stub.services[HOST]["forced_down"] is False
    code, again = run(conf, capsys, "reinsert")
    assert again["steps"] == {"forced-down": "was not set", "nova-compute": "already enabled",
                              "on-maintenance": "was not set"}  # fmt: skip


def test_reinsert_refuses_while_a_forced_down_nova_compute_does_not_report(stub, conf, capsys):
    host = after_failure(stub)
    stub.heartbeat.discard(HOST)
    code, line = run(conf, capsys, "reinsert", "--heartbeat-wait", "0.5")
    assert code == 3
    assert line.startswith(f"nova-compute on {HOST} is not up in Nova (state down, last report ")
    assert line.endswith("(it is forced down: its reports are watched)")
    assert changes(stub, "/compute") == [] and host["on_maintenance"] is True


def test_reinsert_refuses_at_once_when_nova_shows_nova_compute_down(stub, conf, capsys):
    stub.services[HOST]["state"] = "down"
    code, line = run(conf, capsys, "reinsert")
    assert code == 3 and "is not up in Nova" in line


def test_reinsert_of_a_host_in_no_segment_still_returns_it_to_nova(stub, conf, capsys):
    stub.services[HOST].update(status="disabled")
    code, done = run(conf, capsys, "reinsert")
    assert "segment" not in done and done["steps"]["on-maintenance"] == "not in a segment"
    assert stub.services[HOST]["status"] == "enabled"


# As the charm runs it ---------------------------------------------------------------------------


def test_as_a_process_it_prints_json_or_one_line_and_never_the_password(stub, conf):
    script = ROOT / "charms/masakari-monitors/src/masakari_segments.py"

    def process(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(script), "--config-file", str(conf), "--host", HOST, *argv],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    done = process("register", "--segment", "S1")
    assert done.returncode == 0 and json.loads(done.stdout)["result"] == "added"
    stub.server.shutdown()  # Keystone gone
    stub.server.server_close()
    failed = process("register", "--segment", "S1")
    assert failed.returncode == 1 and failed.stdout == ""
    assert len(failed.stderr.strip().splitlines()) == 1
    assert PASSWORD not in failed.stderr and "pa$$ss" not in failed.stderr
    unreadable = subprocess.run(
        [sys.executable, str(script), "--config-file", "/nonexistent", "--host", HOST,
         "reinsert"], capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (unreadable.returncode, unreadable.stderr.strip()) == (
        1,
        "ApiError: cannot read [api] from /nonexistent",
    )
