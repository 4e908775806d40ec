"""The lab's Prometheus: grafana-agent's and COS's part of the suite's `cos-agent` relations.

grafana-agent reads each related unit's `config` (cos_agent's unit databag, written by
lib/charm_common/cos_agent.py), scrapes its `metrics_scrape_jobs` with the Juju topology labels
added (juju_model, juju_application, juju_unit, ...) and hands `metrics_alert_rules` to
Prometheus. The lab does the same with Debian 12's `prometheus` package: every unit's data as
the charm published it, scraped and evaluated every INTERVAL. One change, so that an alert
fires within a scenario: every rule's `for:` is cut to LAB_FOR (the expressions are the charms'
own). The alerts' `for:` values themselves are tested by `tox -e alerts`.
"""

from __future__ import annotations

import copy
import datetime
import json
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from . import procs, settings
from .procs import LabError

NAME = "prometheus"
BINARY = "/usr/bin/prometheus"
DIR = settings.DATA / "prometheus"
UNITS = DIR / "units"  # <unit>.json: what the agent read from each unit's cos-agent databag
CONFIG = DIR / "prometheus.yml"
INTERVAL = "5s"  # scrape and rule evaluation
LAB_FOR = "10s"  # every alert's `for:` in the lab
MODEL = {"juju_model": "lab", "juju_model_uuid": "00000000-0000-4000-8000-000000000001"}
URL = f"http://{settings.IP}:{settings.PROMETHEUS_PORT}"


def agent_reads(unit: str, databag: Mapping[str, str]) -> None:
    """Record what `unit` (`<app>/<n>`) published on cos-agent (its unit databag: `config`
    JSON, or nothing while unrelated); `apply()` puts it into effect."""
    UNITS.mkdir(parents=True, exist_ok=True)
    path = UNITS / (unit.replace("/", "-") + ".json")
    if "config" not in databag:
        path.unlink(missing_ok=True)
        return
    data = json.loads(databag["config"])  # ValueError: not what a cos_agent requirer reads
    path.write_text(json.dumps({"unit": unit, "config": data}, indent=1))


def published() -> dict[str, dict[str, Any]]:
    """{unit: its cos_agent data} as recorded by agent_reads."""
    units = {}
    for path in sorted(UNITS.glob("*.json")) if UNITS.exists() else []:
        record = json.loads(path.read_text())
        units[record["unit"]] = record["config"]
    return units


def render(units: Mapping[str, Mapping[str, Any]]) -> tuple[dict, dict]:
    """(prometheus.yml, rule file) for the units' cos_agent data.

    Scrape jobs: each unit's jobs, its targets labelled with the Juju topology as
    grafana-agent labels them; job names made unique per unit (the lib's names are per
    application). Rules: one unit's groups per application (every unit of an application
    publishes the same), `for:` cut to LAB_FOR.
    """
    jobs, groups, apps = [], [], set()
    for unit, data in sorted(units.items()):
        app = unit.split("/")[0]
        labels = {**MODEL, "juju_application": app, "juju_unit": unit, "juju_charm": app}
        for job in data.get("metrics_scrape_jobs") or []:
            job = copy.deepcopy(job)
            job["job_name"] = f"{job['job_name']}_{unit.replace('/', '_')}"
            for static in job.get("static_configs", []):
                static["labels"] = {**static.get("labels", {}), **labels}
            jobs.append(job)
        if app not in apps:
            apps.add(app)
            for group in (data.get("metrics_alert_rules") or {}).get("groups", []):
                group = copy.deepcopy(group)
                for rule in group["rules"]:
                    if "for" in rule:
                        rule["for"] = LAB_FOR
                groups.append(group)
    config = {
        "global": {"scrape_interval": INTERVAL, "evaluation_interval": INTERVAL},
        "rule_files": [str(DIR / "rules.yml")],
        "scrape_configs": jobs,
    }
    return config, {"groups": groups}


def apply() -> None:
    """Write the configuration for every recorded unit and start Prometheus, or have the
    running one reload it (its lifecycle endpoint) when it changed."""
    config, rules = render(published())
    DIR.mkdir(parents=True, exist_ok=True)
    # JSON is YAML: Prometheus reads both files as they are.
    text = json.dumps(config, indent=1, sort_keys=True)
    rules_text = json.dumps(rules, indent=1, sort_keys=True)
    changed = not CONFIG.exists() or CONFIG.read_text() != text
    changed |= not (DIR / "rules.yml").exists() or (DIR / "rules.yml").read_text() != rules_text
    CONFIG.write_text(text)
    (DIR / "rules.yml").write_text(rules_text)
    if not procs.running(NAME):
        procs.spawn(
            NAME,
            [
                BINARY,
                f"--config.file={CONFIG}",
                f"--storage.tsdb.path={DIR / 'tsdb'}",
                f"--web.listen-address={settings.IP}:{settings.PROMETHEUS_PORT}",
                "--web.enable-lifecycle",
            ],
        )
        procs.wait_port(NAME, settings.PROMETHEUS_PORT, timeout=60)
    elif changed:
        _request("/-/reload", method="POST")


def _request(path: str, params: Mapping[str, str] | None = None, method: str = "GET") -> Any:
    url = URL + path + ("?" + urllib.parse.urlencode(params) if params else "")
    request = urllib.request.Request(url, method=method)  # noqa: S310 - the lab's http URL
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            body = response.read()
    except OSError as error:
        raise LabError(f"Prometheus {method} {path}: {error}") from None
    return json.loads(body) if body.strip().startswith(b"{") else body


def query(expr: str) -> list[dict]:
    """Instant query: the result vector ([{"metric": {...}, "value": [t, "v"]}])."""
    return _request("/api/v1/query", {"query": expr})["data"]["result"]


def value(expr: str) -> float:
    """The single value of an aggregating expression; 0 when it has no result."""
    result = query(expr)
    if len(result) > 1:
        raise LabError(f"{expr!r} has {len(result)} series, expected one")
    return float(result[0]["value"][1]) if result else 0.0


def query_range(expr: str, start: float, end: float | None = None, step: int = 15) -> list:
    """Range query over [start, end] (epoch s): the matrix result."""
    end = end or time.time()
    params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": str(step)}
    return _request("/api/v1/query_range", params)["data"]["result"]


def all_alerts() -> list[dict]:
    """Every pending or firing alert now (Prometheus' own evaluation)."""
    return _request("/api/v1/alerts")["data"]["alerts"]


def alerts(name: str, state: str = "firing") -> list[dict]:
    """The alerts named `name` in that state now."""
    return [
        a for a in all_alerts() if a["labels"].get("alertname") == name and a["state"] == state
    ]


def targets_down() -> list[str]:
    """Scrape targets whose last scrape failed ("<job> <url>: <error>")."""
    active = _request("/api/v1/targets")["data"]["activeTargets"]
    return [
        f"{t['labels'].get('job')} {t['scrapeUrl']}: {t.get('lastError')}"
        for t in active
        if t["health"] == "down"
    ]


def wait_scraped(timeout: float = 60) -> None:
    """Every target scraped successfully at least once."""

    def healthy() -> bool:
        active = _request("/api/v1/targets")["data"]["activeTargets"]
        return bool(active) and all(t["health"] == "up" for t in active)

    procs.wait_for(
        "Prometheus scraped every exporter",
        healthy,
        timeout=timeout,
        interval=1,
        ignore=(LabError,),
        details=lambda: "\n" + "\n".join(targets_down()),
    )


def wait_alert(name: str, labels: Mapping[str, str], timeout: float = 90) -> dict:
    """Wait until alert `name` fires with (at least) `labels`; the alert. LabError on timeout,
    with the alerts Prometheus has and its failing targets."""

    def firing() -> dict | None:
        return next(
            (a for a in alerts(name) if labels.items() <= a["labels"].items()),
            None,
        )

    return procs.wait_for(
        f"alert {name} {dict(labels)} firing in Prometheus",
        firing,
        timeout=timeout,
        interval=1,
        ignore=(LabError,),
        details=lambda: (
            "\nalerts: "
            + json.dumps([(a["labels"]["alertname"], a["state"]) for a in all_alerts()])
            + "\n"
            + "\n".join(targets_down())
        ),
    )


def wait_value(expr: str, accept, timeout: float = 60) -> float:
    """Wait until `accept(value(expr))` holds (the next scrapes catch up); that value."""
    seen: list[float] = []

    def accepted() -> bool:
        seen.append(value(expr))
        return accept(seen[-1])

    procs.wait_for(
        f"{expr} in Prometheus",
        accepted,
        timeout=timeout,
        interval=1,
        ignore=(LabError,),
        details=lambda: (
            f"\nlast value: {seen[-1] if seen else None}\n" + "\n".join(targets_down())
        ),
    )
    return seen[-1]


def dashboards() -> list[tuple[str, dict]]:
    """(unit, dashboard) for every Grafana dashboard the units published, decoded as
    grafana-agent decodes them (the suite's own cos_agent encoding)."""
    if str(settings.REPO / "lib") not in sys.path:
        sys.path.append(str(settings.REPO / "lib"))
    from charm_common import cos_agent

    return [
        (unit, json.loads(cos_agent.decompress(encoded)))
        for unit, data in sorted(published().items())
        for encoded in data.get("dashboards") or []
    ]


def started_at() -> float:
    """When this Prometheus process started (epoch seconds)."""
    info = _request("/api/v1/status/runtimeinfo")["data"]
    return datetime.datetime.fromisoformat(info["startTime"].replace("Z", "+00:00")).timestamp()
