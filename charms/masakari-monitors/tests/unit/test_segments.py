"""segment-name and the set-reserved, maintenance and reinsert actions, against an in-memory
Masakari that answers masakari_segments.py's command lines as the script does (the script
itself is tested against an HTTP stub in tests/schema/test_masakari_segments.py)."""

from __future__ import annotations

import dataclasses
import itertools
import json
import pathlib

import pytest
from ops import testing

import masakari_monitors_workload as workload
from charm_common.system import RunResult
from charm_common.testing import FakeSystem

from .conftest import FQDN
from .relation_data import CREDENTIALS_PASSWORD, nova_compute

CRM_MON_XML = (pathlib.Path(__file__).parents[4] / "lib/tests/data/crm_mon-2.1.5.xml").read_text()
READY = "Unit is ready"


class FakeMasakari:
    """Segments and hosts as masakari_segments.py sees them; records each command line."""

    def __init__(self) -> None:
        self.hosts: dict[str, dict] = {}  # host name -> {segment, segment_uuid, host_uuid, ...}
        self.commands: list[list[str]] = []
        self.error: tuple[int, str] | None = None  # (exit code, stderr line) for every call
        self.failing = {"register", "unregister", "set-reserved", "maintenance", "reinsert"}
        self.steps = {"nova-compute": "disabled", "reserved": "set"}
        self._ids = itertools.count(1)

    def put(self, host: str, segment: str, **flags: bool) -> dict:
        record = {
            "segment": segment, "segment_uuid": f"seg-{segment}",
            "host_uuid": f"h{next(self._ids)}", "reserved": False, "on_maintenance": False,
            **flags,
        }  # fmt: skip
        self.hosts[host] = record
        return record

    def __call__(self, argv: list[str]) -> RunResult:
        assert argv[:4] == [workload.SYSTEM_PYTHON, workload.SEGMENTS_SCRIPT, "--config-file",
                            workload.MONITORS_CONF]  # fmt: skip
        assert CREDENTIALS_PASSWORD not in " ".join(argv)
        host, command, *args = argv[5:]
        self.commands.append([host, command, *args])
        if self.error and command in self.failing:
            return RunResult(self.error[0], "", f"Traceback...\n{self.error[1]}\n")
        options = dict(zip(args[::2], args[1::2], strict=True))
        if command == "register":
            found = self.hosts.get(host)
            if found:
                result = "present" if found["segment"] == options["--segment"] else "elsewhere"
            else:
                result, found = "added", self.put(host, options["--segment"])
            answer = {"result": result, "created_segment": False, **found}
        elif command == "unregister":
            gone = [n for n, h in self.hosts.items() if h["host_uuid"] == options["--host-uuid"]]
            for name in gone:
                del self.hosts[name]
            answer = {"result": "removed" if gone else "absent"}
        else:
            answer = {"host": host, "segment": "S1", "steps": dict(self.steps)}
        return RunResult(0, json.dumps(answer), "")


@pytest.fixture
def masakari(system: FakeSystem) -> FakeMasakari:
    fake = FakeMasakari()
    system.responders[(workload.SYSTEM_PYTHON, workload.SEGMENTS_SCRIPT)] = fake
    system.responders[("crm_mon",)] = lambda argv: RunResult(0, CRM_MON_XML, "")
    return fake


def with_config(state: testing.State, **config: object) -> testing.State:
    return dataclasses.replace(
        state, config={**state.config, **{k.replace("_", "-"): v for k, v in config.items()}}
    )


def in_segment(ctx, ready_state, name: str = "S1", **config: object) -> testing.State:
    return ctx.run(ctx.on.config_changed(), with_config(ready_state, segment_name=name, **config))


def added(state: testing.State) -> dict | None:
    stored = next(s for s in state.stored_states if s.owner_path == "MasakariMonitorsCharm")
    return stored.content.get("segment_added")


# Registration --------------------------------------------------------------------------------


def test_an_empty_segment_name_asks_masakari_nothing(ctx, system, masakari, ready_state):
    out = ctx.run(ctx.on.config_changed(), ready_state)
    out = ctx.run(ctx.on.update_status(), out)
    assert out.unit_status == testing.ActiveStatus(READY)
    assert masakari.commands == []
    assert not any(workload.SEGMENTS_SCRIPT in argv for argv in system.commands)


def test_a_unit_adds_its_hypervisor_under_novas_name_and_says_which_segment(
    ctx, system, masakari, ready_state
):
    out = in_segment(ctx, ready_state, segment_recovery_method="reserved_host")
    assert masakari.commands == [
        [FQDN, "register", "--segment", "S1", "--recovery-method", "reserved_host"]
    ]
    assert out.unit_status == testing.ActiveStatus(f"{READY}; protected by Masakari segment S1")
    assert added(out) == {
        "host": FQDN,
        "host_uuid": "h1",
        "segment": "S1",
        "segment_uuid": "seg-S1",
    }


def test_the_host_is_registered_under_nova_conf_host_when_it_is_set(
    ctx, system, masakari, ready_state
):
    system.host_name = "virt-node-01"
    in_segment(ctx, ready_state)
    assert masakari.commands[0][0] == "virt-node-01"


def test_a_host_the_operator_put_in_another_segment_blocks_and_is_never_moved(
    ctx, system, masakari, ready_state
):
    masakari.put(FQDN, "ops-segment")
    out = in_segment(ctx, ready_state)
    assert out.unit_status.name == "blocked"
    assert out.unit_status.message.startswith(
        f"Host {FQDN} is in Masakari segment ops-segment, not S1; the charm never moves"
    )
    assert [c[1] for c in masakari.commands] == ["register"]
    assert masakari.hosts[FQDN]["segment"] == "ops-segment"
    assert added(out) is None


def test_a_host_the_operator_added_is_shown_but_not_recorded_as_the_units(
    ctx, system, masakari, ready_state
):
    masakari.put(FQDN, "S1", reserved=True)
    out = in_segment(ctx, ready_state)
    assert out.unit_status == testing.ActiveStatus(
        f"{READY}; reserved host of Masakari segment S1"
    )
    assert added(out) is None
    ctx.run(ctx.on.remove(), out)
    assert FQDN in masakari.hosts  # not the unit's to remove


def test_a_host_on_maintenance_says_to_reinsert_it(ctx, system, masakari, ready_state):
    masakari.put(FQDN, "S1", on_maintenance=True)
    out = in_segment(ctx, ready_state)
    assert out.unit_status.message == (
        f"{READY}; on maintenance in Masakari segment S1, not protected: run the reinsert "
        "action once repaired"
    )


def test_a_changed_segment_name_moves_the_host_this_unit_added(ctx, system, masakari, ready_state):
    out = in_segment(ctx, ready_state, "S1")
    out = ctx.run(ctx.on.config_changed(), with_config(out, segment_name="S2"))
    assert [c[1] for c in masakari.commands] == ["register", "register", "unregister", "register"]
    assert masakari.commands[2][2:] == ["--segment-uuid", "seg-S1", "--host-uuid", "h1"]
    assert masakari.hosts[FQDN]["segment"] == "S2"
    assert out.unit_status == testing.ActiveStatus(f"{READY}; protected by Masakari segment S2")
    assert added(out)["segment"] == "S2"


def test_a_move_that_cannot_remove_the_old_record_keeps_it_and_retries(
    ctx, system, masakari, ready_state
):
    out = in_segment(ctx, ready_state, "S1")
    masakari.error, masakari.failing = (1, "ApiError: HTTP 409 Host h1 in-use"), {"unregister"}
    out = ctx.run(ctx.on.config_changed(), with_config(out, segment_name="S2"))
    assert out.unit_status == testing.BlockedStatus(
        f"Cannot update Masakari segment S1 for {FQDN}: ApiError: HTTP 409 Host h1 in-use; "
        "retrying on the next hook"
    )
    assert added(out)["segment"] == "S1" and masakari.hosts[FQDN]["segment"] == "S1"
    masakari.error = None
    out = ctx.run(ctx.on.update_status(), out)
    assert masakari.hosts[FQDN]["segment"] == "S2" and added(out)["segment"] == "S2"


def test_a_changed_segment_name_never_moves_an_operators_host(ctx, system, masakari, ready_state):
    masakari.put(FQDN, "S1")
    out = in_segment(ctx, ready_state, "S1")
    out = ctx.run(ctx.on.config_changed(), with_config(out, segment_name="S2"))
    assert "unregister" not in [c[1] for c in masakari.commands]
    assert out.unit_status.message.startswith(f"Host {FQDN} is in Masakari segment S1, not S2")


def test_a_changed_host_name_registers_the_new_one_and_removes_only_the_old_one_it_added(
    ctx, system, masakari, ready_state
):
    out = in_segment(ctx, ready_state)
    system.write_file(
        "/etc/nova/nova.conf", "[DEFAULT]\nhost = virt-node-01\n", owner="root", group="root",
        mode=0o640,
    )  # fmt: skip
    out = ctx.run(ctx.on.update_status(), out)
    assert set(masakari.hosts) == {"virt-node-01"}
    assert masakari.commands[-1][:2] == [FQDN, "unregister"]
    assert added(out)["host"] == "virt-node-01"
    assert out.unit_status == testing.ActiveStatus(f"{READY}; protected by Masakari segment S1")


def test_emptying_segment_name_leaves_the_host_to_the_operator(ctx, system, masakari, ready_state):
    out = in_segment(ctx, ready_state)
    out = ctx.run(ctx.on.config_changed(), with_config(out, segment_name=""))
    assert out.unit_status == testing.ActiveStatus(READY)
    assert added(out) is None
    ctx.run(ctx.on.remove(), out)
    assert FQDN in masakari.hosts
    assert [c[1] for c in masakari.commands] == ["register"]


def test_a_removed_unit_removes_the_host_it_added_before_its_credentials(
    ctx, system, masakari, ready_state
):
    out = in_segment(ctx, ready_state)
    seen = []
    masakari_call = system.responders[(workload.SYSTEM_PYTHON, workload.SEGMENTS_SCRIPT)]

    def recording(argv):
        seen.append(workload.MONITORS_CONF in system.files)
        return masakari_call(argv)

    system.responders[(workload.SYSTEM_PYTHON, workload.SEGMENTS_SCRIPT)] = recording
    ctx.run(ctx.on.remove(), out)
    assert masakari.hosts == {}
    assert seen == [True]
    assert workload.MONITORS_CONF not in system.files


def test_masakari_failing_blocks_naming_its_answer_without_secrets(
    ctx, system, masakari, ready_state
):
    masakari.error = (
        1,
        f"ApiError: masakari POST /segments: HTTP 503 down {CREDENTIALS_PASSWORD}",
    )
    out = in_segment(ctx, ready_state)
    assert out.unit_status == testing.BlockedStatus(
        f"Cannot update Masakari segment S1 for {FQDN}: ApiError: masakari POST /segments: HTTP "
        "503 down ***; retrying on the next hook"
    )
    masakari.error = None
    out = ctx.run(ctx.on.update_status(), out)
    assert out.unit_status == testing.ActiveStatus(f"{READY}; protected by Masakari segment S1")


def test_a_stopped_monitor_shows_before_a_segment_problem(ctx, system, masakari, ready_state):
    masakari.error = (1, "ApiError: down")
    out = in_segment(ctx, ready_state)
    system.running.discard(workload.MONITORS["host"].service)
    out = ctx.run(ctx.on.update_status(), out)
    assert out.unit_status.message.startswith("Services not running: masakari-host-monitor")


def test_a_paused_unit_leaves_the_segment_alone(ctx, system, masakari, ready_state):
    out = ctx.run(ctx.on.action("pause"), with_config(ready_state, segment_name="S1"))
    ctx.run(ctx.on.update_status(), out)
    assert masakari.commands == []


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("S1\nS2", "must not contain control characters such as a newline"),
        (" S1", "must not start or end with white space"),
        ("S1\u00a0", "must not start or end with white space"),
        ("a" * 256, "must be at most 255 characters"),
        ("S\u2028x", "must be printable characters"),
        ("S\U0001f600", "must be printable characters"),
    ],
)
def test_a_segment_name_masakari_would_refuse_is_invalid_config(
    ctx, system, masakari, ready_state, name, why
):
    out = in_segment(ctx, ready_state, name)
    assert out.unit_status.message.startswith(f"Invalid config: segment-name: {why}")
    assert masakari.commands == []


@pytest.mark.parametrize("name", ["Rack 12 / zone-a (é)", "a; b", "雪" * 255])
def test_segment_names_masakari_takes_are_valid(ctx, system, masakari, ready_state, name):
    out = in_segment(ctx, ready_state, name)
    assert out.unit_status == testing.ActiveStatus(
        f"{READY}; protected by Masakari segment {name}"
    )


def test_an_unknown_recovery_method_is_invalid_config(ctx, system, masakari, ready_state):
    out = in_segment(ctx, ready_state, segment_recovery_method="evacuate")
    assert out.unit_status.message == (
        "Invalid config: segment-recovery-method: 'evacuate' is not one of auto, reserved_host, "
        "auto_priority, rh_priority"
    )


# Actions ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "params", "command"),
    [
        ("set-reserved", {"reserved": True}, ["set-reserved", "--reserved", "true"]),
        ("set-reserved", {"reserved": False}, ["set-reserved", "--reserved", "false"]),
        ("maintenance", {"on": True}, ["maintenance", "--on", "true"]),
        ("maintenance", {"on": False}, ["maintenance", "--on", "false"]),
    ],
)
def test_flag_actions_run_the_script_for_this_host_and_return_its_steps(
    ctx, system, masakari, ready_state, action, params, command
):
    ready = ctx.run(ctx.on.config_changed(), ready_state)
    ctx.run(ctx.on.action(action, params=params), ready)
    assert masakari.commands == [[FQDN, *command]]
    assert ctx.action_results == {"host": FQDN, "segment": "S1", "steps": masakari.steps}


def test_actions_refuse_before_the_credentials_are_rendered(ctx, system, masakari):
    state = testing.State(relations=[nova_compute()])
    with pytest.raises(testing.ActionFailed, match="No credentials yet"):
        ctx.run(ctx.on.action("maintenance", params={"on": True}), state)
    assert masakari.commands == []


def test_a_script_refusal_fails_the_action_with_its_reason(ctx, system, masakari, ready_state):
    ready = ctx.run(ctx.on.config_changed(), ready_state)
    masakari.error = (3, f"{FQDN} is in no Masakari segment: set the charm's segment-name")
    with pytest.raises(testing.ActionFailed) as failed:
        ctx.run(ctx.on.action("set-reserved", params={"reserved": True}), ready)
    assert (
        failed.value.message == f"{FQDN} is in no Masakari segment: set the charm's segment-name"
    )


def test_reinsert_reports_every_step_once_pacemaker_shows_the_node_online(
    ctx, system, masakari, ready_state
):
    masakari.steps = {"forced-down": "cleared", "nova-compute": "enabled",
                      "on-maintenance": "cleared"}  # fmt: skip
    ready = ctx.run(ctx.on.config_changed(), ready_state)
    ctx.run(ctx.on.action("reinsert"), ready)
    assert masakari.commands == [[FQDN, "reinsert"]]
    assert ctx.action_results == {
        "host": FQDN, "segment": "S1",
        "steps": {"pacemaker": "online", "forced-down": "cleared", "nova-compute": "enabled",
                  "on-maintenance": "cleared"},
    }  # fmt: skip


@pytest.mark.parametrize(
    ("crm_mon", "reason"),
    [
        (RunResult(0, CRM_MON_XML.replace(f'name="{FQDN}" id="{FQDN}" online="true"',
                                          f'name="{FQDN}" id="{FQDN}" online="false"'), ""),
         f"Pacemaker shows {FQDN} offline: wait until crm_mon shows it online"),
        (RunResult(0, CRM_MON_XML.replace(FQDN, "virt-node-09.maas"), ""),
         f"Pacemaker shows {FQDN} nowhere among its nodes"),
        (RunResult(102, "", "crm_mon: Error: cluster is not available on this node"),
         f"Cannot ask Pacemaker whether {FQDN} is online (crm_mon failed: crm_mon: Error: "
         "cluster is not available on this node)"),
    ],
)  # fmt: skip
def test_reinsert_is_refused_until_pacemaker_shows_the_node_online(
    ctx, system, masakari, ready_state, crm_mon, reason
):
    ready = ctx.run(ctx.on.config_changed(), ready_state)
    system.responders[("crm_mon",)] = lambda argv: crm_mon
    with pytest.raises(testing.ActionFailed) as failed:
        ctx.run(ctx.on.action("reinsert"), ready)
    assert failed.value.message.startswith(reason)
    assert masakari.commands == []


def test_reinsert_is_refused_while_nova_compute_is_down(ctx, system, masakari, ready_state):
    ready = ctx.run(ctx.on.config_changed(), ready_state)
    masakari.error = (3, f"nova-compute on {FQDN} is not up in Nova (state down, last report x)")
    with pytest.raises(testing.ActionFailed, match="is not up in Nova"):
        ctx.run(ctx.on.action("reinsert"), ready)


def test_an_action_refreshes_the_status_note(ctx, system, masakari, ready_state):
    out = in_segment(ctx, ready_state)
    masakari.hosts[FQDN]["on_maintenance"] = True
    out = ctx.run(ctx.on.action("maintenance", params={"on": True}), out)
    assert "on maintenance in Masakari segment S1" in out.unit_status.message
