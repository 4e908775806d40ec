"""The lab's Prometheus configuration from the charms' real cos-agent data (no lab needed)."""

from __future__ import annotations

import json
import sys

from . import prometheus, settings


def unit_data(app: str, address: str, port: int, name: str) -> dict:
    if str(settings.REPO / "lib") not in sys.path:
        sys.path.append(str(settings.REPO / "lib"))
    from charm_common import cos_agent

    model = prometheus.MODEL
    topology = cos_agent.Topology(model["juju_model"], model["juju_model_uuid"], app, app)
    job = cos_agent.scrape_job(name, address, port)
    data = cos_agent.unit_data(
        topology=topology, charm_dir=settings.REPO / "charms" / app, jobs=[job]
    )
    return json.loads(data["config"])


def test_each_units_jobs_are_labelled_as_grafana_agent_does_and_rules_loaded_once_per_app():
    units = {
        "masakari/0": unit_data("masakari", "10.213.0.1", 9786, "masakari"),
        "masakari-monitors/0": unit_data("masakari-monitors", "10.213.0.11", 9787, "hostmonitor"),
        "masakari-monitors/1": unit_data("masakari-monitors", "10.213.0.12", 9787, "hostmonitor"),
    }
    config, rules = prometheus.render(units)
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    assert len(jobs) == 3  # the lib's names are per application: made unique per unit
    targets = {
        s["labels"]["juju_unit"]: s["targets"] for j in jobs.values() for s in j["static_configs"]
    }
    assert targets == {
        "masakari/0": ["10.213.0.1:9786"],
        "masakari-monitors/0": ["10.213.0.11:9787"],
        "masakari-monitors/1": ["10.213.0.12:9787"],
    }
    names = [g["name"] for g in rules["groups"]]
    assert len(names) == len(set(names))  # each application's groups once
    alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"]}
    assert {"MasakariComputeHostInNoSegment", "MasakariFencePendingTooLong"} <= set(alerts)
    assert {r.get("for") for r in alerts.values()} <= {prometheus.LAB_FOR, None}
    # the expressions are the charms' own, untouched
    published = {
        r["alert"]: r["expr"]
        for data in units.values()
        for g in data["metrics_alert_rules"]["groups"]
        for r in g["rules"]
    }
    assert {a: r["expr"] for a, r in alerts.items()} == published
