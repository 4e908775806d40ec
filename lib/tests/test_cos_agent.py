"""charm_common.cos_agent against what grafana-agent's cos_agent lib publishes: recorded data
(lib/tests/data/cos_agent-recorded.json names its sources) and cosl 1.11.3 itself (PyPI, a test
dependency only), whose AlertRules, LZMABase64 and DashboardPath40UID the lib calls."""

from __future__ import annotations

import json
import pathlib

import pytest
from cosl import DashboardPath40UID, JujuTopology, LZMABase64
from cosl.rules import AlertRules, generic_alert_groups

from charm_common import cos_agent

ROOT = pathlib.Path(__file__).resolve().parents[2]
RECORDED = json.loads((pathlib.Path(__file__).parent / "data/cos_agent-recorded.json").read_text())
TOPOLOGY = cos_agent.Topology(
    "openstack", "1a2b3c4d-0000-4000-8000-000000000000", "masakari-ha", "masakari"
)
CHARMS = ("masakari", "masakari-monitors")


def test_a_recorded_dashboard_decodes_and_ours_decode_with_cosl():
    recorded = RECORDED["dashboard"]
    assert cos_agent.decompress(recorded["encoded"]).decode() == recorded["decoded"]
    ours = cos_agent.compress(recorded["decoded"].encode())
    assert ours.startswith("/Td6WFoA")  # the xz magic, as the lib's strings start
    assert LZMABase64.decompress(ours) == recorded["decoded"]


def test_job_names_are_the_libs():
    recorded = RECORDED["scrape_jobs"]
    jobs = cos_agent.scrape_jobs(recorded["application"], recorded["given"])
    assert [job["job_name"] for job in jobs] == recorded["published_names"]
    # Everything else passes through untouched.
    assert jobs[0]["tls_config"] == {"insecure_skip_verify": True}


@pytest.mark.parametrize("charm", CHARMS)
def test_alert_rules_are_what_cosl_makes_of_the_charms_rule_files(charm):
    directory = ROOT / "charms" / charm / "src/prometheus_alert_rules"
    topology = JujuTopology(
        TOPOLOGY.model, TOPOLOGY.model_uuid, TOPOLOGY.application, charm_name=TOPOLOGY.charm
    )
    reference = AlertRules(query_type="promql", topology=topology)
    reference.add_path(str(directory))
    # What the lib adds after the charm's own groups (cosl has no cos-tool binary here, so
    # expressions are left as the placeholder removal made them, as in a charm without one).
    reference.add(generic_alert_groups.application_rules, group_name_prefix=topology.identifier)
    assert cos_agent.alert_rules(directory, TOPOLOGY) == reference.as_dict()


@pytest.mark.parametrize("charm", CHARMS)
def test_dashboards_get_the_libs_uid_and_charm_tag(charm):
    charm_dir = ROOT / "charms" / charm
    encoded = cos_agent.dashboards(charm_dir, "src/grafana_dashboards", charm)
    files = sorted((charm_dir / "src/grafana_dashboards").glob("*.json"))
    assert len(encoded) == len(files) >= 1
    for path, text in zip(files, encoded, strict=True):
        dashboard = json.loads(LZMABase64.decompress(text))
        relative = str(path.relative_to(charm_dir))
        assert dashboard["uid"] == DashboardPath40UID.generate(charm, relative)
        assert dashboard["tags"][-1] == f"charm: {charm}"
        # The Prometheus datasource is the variable grafana-agent's Grafana fills in.
        assert all(t["datasource"]["uid"] == "${prometheusds}"
                   for p in dashboard["panels"] for t in p.get("targets", []))  # fmt: skip


def test_the_unit_databag_holds_one_key_with_every_field_the_requirer_validates():
    fields = RECORDED["unit_data_fields"]
    job = cos_agent.scrape_job("masakari", "2001:db8::5", 9786)
    data = cos_agent.unit_data(topology=TOPOLOGY, charm_dir=ROOT / "charms/masakari", jobs=[job])
    assert list(data) == [fields["key"]]
    config = json.loads(data[fields["key"]])
    types = {"dict": dict, "list": list}
    for name, kind in fields["required"].items():
        assert isinstance(config[name], types[kind]), name
    for name, default in fields["optional"].items():
        assert config[name] == default
    assert config["metrics_scrape_jobs"][0]["static_configs"] == [
        {"targets": ["[2001:db8::5]:9786"]}
    ]
    assert all(isinstance(d, str) for d in config["dashboards"])
    assert all(isinstance(s, str) for s in config["log_slots"])


def test_a_file_that_is_not_a_rule_file_or_json_is_named(tmp_path):
    (tmp_path / "bad.rules").write_text("- alert: X\n")
    with pytest.raises(ValueError, match="bad.rules is not a Prometheus rule file"):
        cos_agent.alert_rules(tmp_path, TOPOLOGY)
    (tmp_path / "dash").mkdir()
    (tmp_path / "dash/broken.json").write_text("{")
    with pytest.raises(ValueError, match="broken.json is not JSON"):
        cos_agent.dashboards(tmp_path, "dash", "masakari")
