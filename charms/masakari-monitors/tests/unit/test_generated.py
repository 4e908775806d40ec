"""Generated config and relation data (issue 13): every outcome is a catalog status, every
rendered ini parses back with only its template's keys, no secret leaks, and a bad config
writes and publishes nothing. Seeds are fixed (tests/generated_inputs.py)."""

from __future__ import annotations

import dataclasses
import json

from hypothesis import given
from hypothesis import strategies as st
from ops import testing

import masakari_monitors_workload as workload
from charm import MasakariMonitorsCharm
from charm_common.system import RunResult
from charm_common.testing import FakeSystem
from tests.generated_inputs import (
    GENERATED,
    GeneratedUnit,
    check_outcome,
    configs,
    ini_keys,
    mutated,
    nasty_text,
)

from .conftest import CHARM_ROOT, FQDN, SYS_PATH
from .relation_data import CREDENTIALS_PASSWORD, identity_credentials, nova_compute, vault

INIS = {workload.MONITORS_CONF: ini_keys(CHARM_ROOT / "templates/masakarimonitors.conf.j2")}
GOOD = {
    "process-list": st.sampled_from([
        "- process_name: /usr/sbin/libvirtd\n  start_command: systemctl start libvirtd\n"
        "  restart_command: systemctl restart libvirtd\n",
        "- process_name: !x a", "- process_name: !!int a", "- process_name: !!bool maybe",
        "- {process_name: a, start_command: b, restart_command: c, run_as_root: 1}",
        "- process_name: a\n  start_command: b\n  restart_command: c\n  bogus: 1\n", "[]", "{}",
        "- &a {process_name: x, start_command: y, restart_command: z}\n- *a\n",
    ]),
    "host-monitoring-driver": st.sampled_from(["default", "fence-confirmed", "Default"]),
    "segment-name": st.sampled_from(["S1", "Rack 12 / zone-a", "a; b", "é" * 255, " S1"]),
    "segment-recovery-method": st.sampled_from(["reserved_host", "rh_priority", "Auto"]),
}  # fmt: skip


def joins_segment(argv: list[str]) -> RunResult:
    """masakari_segments.py register: the host is added to the segment it was given."""
    segment = argv[argv.index("--segment") + 1] if "--segment" in argv else "S1"
    return RunResult(0, json.dumps({
        "result": "added", "created_segment": True, "segment": segment, "segment_uuid": "s",
        "host_uuid": "h", "reserved": False, "on_maintenance": False,
    }), "")  # fmt: skip


def machine() -> FakeSystem:
    system = FakeSystem(FQDN)
    system.responders[(workload.SYSTEM_PYTHON, "-c")] = lambda argv: RunResult(0, SYS_PATH, "")
    system.responders[(workload.SYSTEM_PYTHON, workload.SEGMENTS_SCRIPT)] = joins_segment
    return system


UNIT = GeneratedUnit(MasakariMonitorsCharm, CHARM_ROOT, machine)


@GENERATED
@given(config=configs(CHARM_ROOT / "charmcraft.yaml", GOOD))
def test_generated_configs_end_in_a_catalog_status_and_a_bad_one_changes_nothing(config):
    ready, system = UNIT.ready(testing.State(relations=[nova_compute(), identity_credentials()]))
    files = dict(system.files)
    out, system, ctx = UNIT.run(dataclasses.replace(ready, config=config), system)
    message = check_outcome(out, system, [CREDENTIALS_PASSWORD], INIS, ctx.juju_log)
    if message.template.startswith("Invalid config: "):
        assert system.files == files


@GENERATED
@given(
    identity=mutated(identity_credentials().remote_units_data[0]),
    ca=st.one_of(st.none(), nasty_text),
)
def test_generated_relation_data_ends_in_a_catalog_status_and_a_clean_ini(identity, ca):
    relations = [nova_compute(), dataclasses.replace(
        identity_credentials(), remote_units_data={0: identity}
    )]  # fmt: skip
    if ca is not None:
        relations.append(vault(ca))
    out, system, ctx = UNIT.run(testing.State(relations=relations))
    secrets = [CREDENTIALS_PASSWORD, identity.get("credentials_password", "")]
    check_outcome(out, system, secrets, INIS, ctx.juju_log)
