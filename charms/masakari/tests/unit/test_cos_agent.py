"""Issue 18 on the masakari charm: the metrics exporter service and the cos-agent relation."""

from __future__ import annotations

import dataclasses
import json

from hypothesis import given, settings
from hypothesis import strategies as st
from ops import testing

import masakari_workload as workload
from charm_common import cos_agent
from tests.generated_inputs import GENERATED

from .test_generated import UNIT, ready_relations

ADDRESS = "192.0.2.0"  # ops.testing's default binding address


def cos_relation() -> testing.Relation:
    """grafana-agent's end is container-scoped, masakari's declares none (as the lib's users)."""
    return testing.Relation("cos-agent", remote_app_name="grafana-agent")


def with_cos(state: testing.State) -> testing.State:
    return dataclasses.replace(state, relations=[*state.relations, cos_relation()])


def test_the_exporter_runs_as_masakari_on_the_binding_address_and_metrics_port(
    ctx, system, ready_state
):
    out = ctx.run(ctx.on.config_changed(), with_cos(ready_state))
    assert out.unit_status == testing.ActiveStatus("Unit is ready")
    unit = system.text(workload.EXPORTER_UNIT)
    assert (
        f"ExecStart=/usr/bin/python3 {workload.METRICS_SCRIPT} --config-file "
        f"{workload.MASAKARI_CONF} --address {ADDRESS} --port 9786\n"
    ) in unit
    assert "User=masakari\n" in unit and "Group=masakari\n" in unit
    # It imports masakari_recovery from its own directory: both are installed side by side.
    assert system.read_file(workload.METRICS_SCRIPT) == workload._METRICS_SOURCE.read_bytes()
    assert workload.METRICS_SCRIPT.rsplit("/", 1)[0] == workload.RECOVERY_SCRIPT.rsplit("/", 1)[0]
    assert ["systemctl", "enable", workload.EXPORTER] in system.commands
    assert workload.EXPORTER in system.running
    assert "python3-prometheus-client" in system.installed


def test_no_exporter_runs_without_cos_agent_and_it_stops_when_the_relation_goes(
    ctx, system, ready_state
):
    alone = ctx.run(ctx.on.config_changed(), ready_state)
    assert alone.unit_status == testing.ActiveStatus("Unit is ready")
    assert workload.EXPORTER_UNIT not in system.files
    assert workload.EXPORTER not in system.running
    related = ctx.run(ctx.on.config_changed(), with_cos(alone))
    assert workload.EXPORTER in system.running
    # ops leaves the relation being broken out of model.relations.
    broken = ctx.run(ctx.on.relation_broken(related.get_relations("cos-agent")[0]), related)
    assert ["systemctl", "disable", "--now", workload.EXPORTER] in system.commands
    system.running.discard(workload.EXPORTER)  # what that command did
    gone = dataclasses.replace(broken, relations=alone.relations)
    out = ctx.run(ctx.on.update_status(), gone)
    assert out.unit_status == testing.ActiveStatus("Unit is ready")
    assert workload.EXPORTER_UNIT not in system.files
    assert workload.METRICS_SCRIPT not in system.files
    assert system.commands[-2:] == [
        ["systemctl", "daemon-reload"],
        ["cibadmin", "--query", "--scope", "resources"],
    ]


def test_an_upgraded_charm_installs_the_exporter_package_it_did_not_have(ctx, system, ready_state):
    ready = ctx.run(ctx.on.config_changed(), ready_state)
    del system.installed["python3-prometheus-client"]  # what the previous revision installed
    out = ctx.run(ctx.on.upgrade_charm(), ready)
    assert out.unit_status == testing.ActiveStatus("Unit is ready")
    assert "python3-prometheus-client" in system.installed
    assert system.restarts[-len(workload.SERVICES) :] == list(workload.SERVICES)


def test_cos_agent_gets_the_scrape_job_rules_and_dashboard(ctx, system, ready_state):
    out = ctx.run(ctx.on.config_changed(), with_cos(ready_state))
    assert out.unit_status == testing.ActiveStatus("Unit is ready")
    (relation,) = [r for r in out.relations if r.endpoint == "cos-agent"]
    data = json.loads(relation.local_unit_data["config"])
    (job,) = data["metrics_scrape_jobs"]
    assert job["static_configs"] == [{"targets": [f"{ADDRESS}:9786"]}]
    assert job["metrics_path"] == "/metrics"
    assert job["job_name"].startswith("masakari_masakari_")
    groups = {g["name"]: g for g in data["metrics_alert_rules"]["groups"]}
    model = out.model
    prefix = f"{model.name}_{model.uuid[:8]}_masakari"
    assert set(groups) == {f"{prefix}_masakari_rules", f"{prefix}_HostHealth_rules"}
    alerts = {r["alert"]: r for r in groups[f"{prefix}_masakari_rules"]["rules"]}
    assert {"MasakariNotificationFailed", "MasakariReservedHostsExhausted",
            "MasakariComputeHostInNoSegment"} <= set(alerts)  # fmt: skip
    assert alerts["MasakariNotificationFailed"]["labels"]["juju_charm"] == "masakari"
    (dashboard,) = [json.loads(cos_agent.decompress(d)) for d in data["dashboards"]]
    assert "charm: masakari" in dashboard["tags"]
    assert data["log_alert_rules"] == {} and data["log_slots"] == []


# One integer: 150 examples (edges sampled outright) cover it; the profile's 1000 cost 90 s.
@settings(GENERATED, max_examples=150)
@given(port=st.one_of(st.integers(-1, 70000), st.sampled_from([1023, 1024, 15858, 15868, 65535])))
def test_generated_metrics_ports_reach_the_exporter_or_name_the_option(port):
    ready, system = UNIT.ready(testing.State(leader=True, relations=ready_relations()))
    state = dataclasses.replace(
        ready, config={"metrics-port": port}, relations=[*ready.relations, cos_relation()]
    )
    out, system, _ = UNIT.run(state, system)
    if 1024 <= port <= 65535 and port not in (workload.API_PORT, workload.PUBLIC_PORT):
        assert out.unit_status == testing.ActiveStatus("Unit is ready")
        assert f"--port {port}\n" in system.text(workload.EXPORTER_UNIT)
        (relation,) = [r for r in out.relations if r.endpoint == "cos-agent"]
        (job,) = json.loads(relation.local_unit_data["config"])["metrics_scrape_jobs"]
        assert job["static_configs"] == [{"targets": [f"{ADDRESS}:{port}"]}]
    else:
        assert out.unit_status.name == "blocked"
        assert out.unit_status.message.startswith("Invalid config: metrics-port: ")
        assert workload.EXPORTER_UNIT not in system.files  # nothing written
        (relation,) = [r for r in out.relations if r.endpoint == "cos-agent"]
        assert "config" not in relation.local_unit_data  # nothing published
