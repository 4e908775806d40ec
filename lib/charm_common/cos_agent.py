"""The provider side of `cos_agent` (grafana-agent, opentelemetry-collector): one unit databag key.

The maintained implementation is a charm library (`charms.grafana_agent.v0.cos_agent`, LIBAPI 0,
LIBPATCH 26), fetched from Charmhub only; no PyPI package carries it, and `cosl` (PyPI) has its
helpers but no provider. Its wire format is small, so it is written here once for both charms
(facts: /work/shared/research/relation-formats-tls-cos.md, section B; the lib and cosl 1.11.3).

The provider writes `config` = JSON of CosAgentProviderUnitData into its own unit databag
(subordinate relations speak through unit data only):
- `metrics_alert_rules`: a Prometheus rule file {"groups": [...]}: the charm's rule files (each
  group renamed `<model>_<uuid[:8]>_<app>_<group>_rules`, juju_* labels added when absent,
  `%%juju_topology%%` removed from expressions) then the lib's generic HostHealth group;
- `log_alert_rules`: a Loki rule file, `{}` for none;
- `dashboards`: each file's bytes, lzma-compressed and base64-encoded (cosl's LZMABase64), its
  `uid` the lib's `shake_256("<charm>-<path under the charm>").hexdigest(20)` and a
  `charm: <name>` tag;
- `metrics_scrape_jobs`: Prometheus scrape_config dicts, `job_name` rewritten to
  `<app>_<name or default>_<blake2b-4 of the job without its name>`, sorted by it;
- `log_slots`: snap slots (`<snap>:<slot>`) to connect the agent's log plug to;
- `subordinate`, `tracing_protocols`: null (unused by the agent, no traces sent).
Extra keys are ignored by the requirer; a unit whose data does not validate is ignored whole,
so everything here is plain JSON types.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import hashlib
import json
import lzma
import pathlib
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import yaml

KEY = "config"
RULE_SUFFIXES = (".rule", ".rules", ".yml", ".yaml")
_LZMA_PRESET = 3  # cosl 1.11.3's; decompression does not depend on it
_NOT_IN_METRIC_NAME = re.compile(r"[^a-zA-Z0-9_:]")
_TOPOLOGY_PLACEHOLDER = re.compile(r"%%juju_topology%%,?")

# cosl's generic_alert_groups.application_rules, which the lib always adds (cosl/rules.py).
GENERIC_GROUP = {
    "name": "HostHealth",
    "rules": [
        {
            "alert": "HostDown",
            "expr": "up < 1",
            "for": "5m",
            "labels": {"severity": "critical"},
            "annotations": {
                "summary": "Host '{{ $labels.instance }}' is down.",
                "description": "Juju application '{{ $labels.juju_application }}' in model "
                "'{{ $labels.juju_model }}' is down. Prometheus has been unable to scrape it "
                "during at least the past five minutes.",
            },
        },
        {
            "alert": "HostMetricsMissing",
            "expr": "absent(up)",
            "for": "5m",
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "Unit '{{ $labels.juju_unit }}' of application "
                "'{{ $labels.juju_application }}' is down or failing to remote write.",
                "description": "`Up` missing for unit '{{ $labels.juju_unit }}' of application "
                "{{ $labels.juju_application }} in model {{ $labels.juju_model }}. Please ensure "
                "the unit or the collector scraping it is up and is able to successfully reach "
                "the metrics backend.",
            },
        },
    ],
}


@dataclasses.dataclass(frozen=True)
class Topology:
    """Where the rules come from, as cosl's JujuTopology labels them."""

    model: str
    model_uuid: str
    application: str
    charm: str

    @property
    def identifier(self) -> str:
        return f"{self.model}_{self.model_uuid[:8]}_{self.application}"

    @property
    def labels(self) -> dict[str, str]:
        return {
            "juju_model": self.model, "juju_model_uuid": self.model_uuid,
            "juju_application": self.application, "juju_charm": self.charm,
        }  # fmt: skip


def alert_rules(directory: pathlib.Path, topology: Topology) -> dict[str, Any]:
    """Every rule file in `directory` (not recursive; official `groups` format), named and
    labelled for `topology`, then the generic HostHealth group. Raises ValueError naming a file
    that is not a rule file (the lib would silently drop it; a charm ships only good ones)."""
    groups: list[dict] = []
    files = sorted(p for p in directory.glob("*") if p.suffix in RULE_SUFFIXES)
    for path in files:
        loaded = yaml.safe_load(path.read_text())
        if not isinstance(loaded, dict) or not isinstance(loaded.get("groups"), list):
            raise ValueError(f"{path.name} is not a Prometheus rule file with groups")
        groups += [_labelled(group, topology) for group in loaded["groups"]]
    groups.append(_labelled(GENERIC_GROUP, topology))
    return {"groups": groups}


def _labelled(group: Mapping[str, Any], topology: Topology) -> dict[str, Any]:
    group = copy.deepcopy(dict(group))
    name = f"{topology.identifier}_{group['name']}"
    name = name if name.endswith("_rules") else f"{name}_rules"
    group["name"] = _NOT_IN_METRIC_NAME.sub("_", name)
    for rule in group["rules"]:
        labels = rule.setdefault("labels", {})
        for label, value in topology.labels.items():
            labels.setdefault(label, value)
        rule["expr"] = _TOPOLOGY_PLACEHOLDER.sub("", rule["expr"])
    return group


def compress(content: bytes) -> str:
    """cosl's LZMABase64.compress: base64 of the xz stream (starts `/Td6WFoA`)."""
    return base64.b64encode(lzma.compress(content, preset=_LZMA_PRESET)).decode()


def decompress(encoded: str) -> bytes:
    return lzma.decompress(base64.b64decode(encoded))


def dashboard_uid(charm: str, relative_path: str) -> str:
    """cosl's DashboardPath40UID.generate(charm, path): 40 hex digits."""
    return hashlib.shake_256(f"{charm}-{relative_path}".encode()).hexdigest(20)


def dashboards(charm_dir: pathlib.Path, directory: str, charm: str) -> list[str]:
    """Every JSON file of `directory` (relative to the charm), uid and charm tag set, encoded.

    Raises ValueError naming a file that is not JSON (the lib would publish nothing at all).
    """
    encoded = []
    for path in sorted((charm_dir / directory).glob("*.json")):
        try:
            dashboard = json.loads(path.read_text())
        except ValueError as error:
            raise ValueError(f"{path.name} is not JSON: {error}") from None
        dashboard["uid"] = dashboard_uid(charm, str(path.relative_to(charm_dir)))
        tags = dashboard.setdefault("tags", [])
        if not any(str(tag).startswith("charm: ") for tag in tags):
            tags.append(f"charm: {charm}")
        encoded.append(compress(json.dumps(dashboard).encode()))
    return encoded


def scrape_jobs(application: str, jobs: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Scrape configs with the lib's deterministic job names (LIBPATCH 25 on), sorted by them."""
    named = []
    for job in jobs:
        job = copy.deepcopy(dict(job))
        name = job.pop("job_name", None) or "default"
        digest = hashlib.blake2b(
            json.dumps(job, sort_keys=True).encode(), digest_size=4
        ).hexdigest()
        named.append({**job, "job_name": f"{application}_{name}_{digest}"})
    return sorted(named, key=lambda job: job["job_name"])


def unit_data(
    *,
    topology: Topology,
    charm_dir: pathlib.Path,
    jobs: Sequence[Mapping[str, Any]],
    rules_dir: str = "src/prometheus_alert_rules",
    dashboards_dir: str = "src/grafana_dashboards",
    log_slots: Sequence[str] = (),
) -> dict[str, str]:
    """The provider's unit databag: {"config": <JSON>}."""
    config = {
        "metrics_alert_rules": alert_rules(charm_dir / rules_dir, topology),
        "log_alert_rules": {},
        "dashboards": dashboards(charm_dir, dashboards_dir, topology.charm),
        "subordinate": None,
        "metrics_scrape_jobs": scrape_jobs(topology.application, jobs),
        "log_slots": list(log_slots),
        "tracing_protocols": None,
    }
    return {KEY: json.dumps(config, sort_keys=True)}


def scrape_job(name: str, address: str, port: int) -> dict[str, Any]:
    """One plain-HTTP job scraping /metrics at address:port (IPv6 bracketed)."""
    host = f"[{address}]" if ":" in address else address
    return {
        "job_name": name,
        "metrics_path": "/metrics",
        "static_configs": [{"targets": [f"{host}:{port}"]}],
    }
