"""Issue 18 on masakari-monitors: the fence-confirmed driver's metrics, the cos-agent relation."""

from __future__ import annotations

import configparser
import dataclasses
import json

from hypothesis import given, settings
from hypothesis import strategies as st
from ops import testing

import masakari_monitors_workload as workload
from charm_common import cos_agent
from tests.generated_inputs import GENERATED

from .relation_data import identity_credentials, nova_compute
from .test_generated import UNIT

ADDRESS = "192.0.2.0"  # ops.testing's default binding address


def cos_relation() -> testing.SubordinateRelation:
    return testing.SubordinateRelation("cos-agent", remote_app_name="grafana-agent")


def ready(**config: object) -> testing.State:
    return testing.State(
        relations=[nova_compute(), identity_credentials(), cos_relation()],
        config={k.replace("_", "-"): v for k, v in config.items()},
    )


def fence_confirmed_section(system) -> dict[str, str] | None:
    parser = configparser.ConfigParser(interpolation=None, default_section="\0")
    parser.read_string(system.text(workload.MONITORS_CONF))
    return dict(parser["fence_confirmed"]) if parser.has_section("fence_confirmed") else None


def test_the_driver_serves_metrics_where_the_job_says_and_its_package_is_installed(ctx, system):
    out = ctx.run(ctx.on.config_changed(), ready())
    assert out.unit_status.name == "active", out.unit_status
    assert fence_confirmed_section(system) == {"metrics_address": ADDRESS, "metrics_port": "9787"}
    assert workload.METRICS_PACKAGE in system.installed
    (relation,) = [r for r in out.relations if r.endpoint == "cos-agent"]
    data = json.loads(relation.local_unit_data["config"])
    (job,) = data["metrics_scrape_jobs"]
    assert job["static_configs"] == [{"targets": [f"{ADDRESS}:9787"]}]
    assert job["job_name"].startswith("masakari-monitors_hostmonitor_")
    rules = [r["alert"] for g in data["metrics_alert_rules"]["groups"] for r in g["rules"]]
    assert {"MasakariHostMonitorSilent", "MasakariFencePendingTooLong",
            "MasakariHostMonitorNotificationFailed", "HostDown"} <= set(rules)  # fmt: skip
    (dashboard,) = [json.loads(cos_agent.decompress(d)) for d in data["dashboards"]]
    assert dashboard["title"] == "Masakari host monitors"
    assert "charm: masakari-monitors" in dashboard["tags"]


def test_without_cos_agent_nothing_is_served_or_installed_for_metrics(ctx, system):
    state = testing.State(relations=[nova_compute(), identity_credentials()])
    out = ctx.run(ctx.on.config_changed(), state)
    assert out.unit_status.name == "active", out.unit_status
    assert fence_confirmed_section(system) is None
    assert workload.METRICS_PACKAGE not in system.installed


def test_upstreams_driver_serves_nothing_so_no_scrape_job_but_the_rules_still_go(ctx, system):
    out = ctx.run(ctx.on.config_changed(), ready(host_monitoring_driver="default"))
    assert out.unit_status.name == "active", out.unit_status
    assert fence_confirmed_section(system) is None  # upstream's driver knows no such options
    assert workload.METRICS_PACKAGE not in system.installed
    (relation,) = [r for r in out.relations if r.endpoint == "cos-agent"]
    data = json.loads(relation.local_unit_data["config"])
    assert data["metrics_scrape_jobs"] == []
    assert data["metrics_alert_rules"]["groups"]


def test_a_new_metrics_port_is_rendered_and_restarts_the_monitors_once(ctx, system):
    first = ctx.run(ctx.on.config_changed(), ready())
    restarts = len(system.restarts)
    out = ctx.run(ctx.on.config_changed(), dataclasses.replace(first, config={
        "metrics-port": 19787,
    }))  # fmt: skip
    assert out.unit_status.name == "active", out.unit_status
    # masakarimonitors.conf is every monitor's file: each restarts once, as for any option.
    assert sorted(system.restarts[restarts:]) == sorted(
        workload.MONITORS[k].service for k in ("host", "instance", "process")
    )
    assert fence_confirmed_section(system)["metrics_port"] == "19787"


# One integer: 150 examples (edges sampled outright) cover it.
@settings(GENERATED, max_examples=150)
@given(port=st.one_of(st.integers(-1, 70000), st.sampled_from([0, 1023, 1024, 65535, 65536])))
def test_generated_metrics_ports_reach_the_driver_or_name_the_option(port):
    state = ready(metrics_port=port)
    out, system, _ = UNIT.run(state)
    if 1024 <= port <= 65535:
        assert out.unit_status.name == "active", out.unit_status
        assert fence_confirmed_section(system)["metrics_port"] == str(port)
    else:
        assert out.unit_status.name == "blocked"
        assert out.unit_status.message.startswith("Invalid config: metrics-port: ")
        assert workload.MONITORS_CONF not in system.files
        (relation,) = [r for r in out.relations if r.endpoint == "cos-agent"]
        assert "config" not in relation.local_unit_data  # nothing published


def test_the_metrics_address_is_the_machines_juju_info_binding(ctx, system):
    """Not ops.testing's default: the address Juju gives the default space's binding."""
    network = testing.Network(
        "juju-info", bind_addresses=[testing.BindAddress([testing.Address("10.213.0.12")])]
    )
    out = ctx.run(ctx.on.config_changed(), dataclasses.replace(ready(), networks={network}))
    assert out.unit_status.name == "active", out.unit_status
    assert fence_confirmed_section(system)["metrics_address"] == "10.213.0.12"
    (relation,) = [r for r in out.relations if r.endpoint == "cos-agent"]
    (job,) = json.loads(relation.local_unit_data["config"])["metrics_scrape_jobs"]
    assert job["static_configs"] == [{"targets": ["10.213.0.12:9787"]}]
