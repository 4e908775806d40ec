"""What an operator sees through COS, from the lab's own Prometheus (tests/lab/prometheus.py),
which scrapes the charms' exporters and loads their alert rules as grafana-agent hands them on.

The failovers' series are checked where they happen (test_failover.py, test_host_failure.py);
here: the unprotected-hypervisor alert, and every dashboard query over the session so far.
Runs after the failover scenarios (conftest's RUN_ORDER), whose recoveries, fences and refused
notification are the data the dashboards show.
"""

from __future__ import annotations

import time

from .. import prometheus, scenario_steps, settings

IN_NO_SEGMENT = "max without (instance, job, juju_unit) (masakari_compute_hosts_in_no_segment)"


def test_a_hypervisor_in_no_segment_fires_its_alert_until_a_segment_lists_it(clean):
    """No segment at all after the reset: every hypervisor is unprotected, each one alerted
    by name; once a segment lists them all, the count drops to 0 (segments are read from
    Masakari's database on every scrape)."""
    hosts = sorted(settings.COMPUTE_HOSTS)
    prometheus.wait_value(IN_NO_SEGMENT, lambda v: v == len(hosts), timeout=120)
    for host in hosts:
        alert = prometheus.wait_alert("MasakariComputeHostInNoSegment", {"host": host})
        print(f"firing: {alert['labels']['alertname']} {host}: {alert['annotations']['summary']}")
    scenario_steps.make_segment(clean, "S1", "auto", hosts)
    assert prometheus.wait_value(IN_NO_SEGMENT, lambda v: v == 0) == 0


def test_every_dashboard_query_returns_data():
    """Each panel query of both charms' dashboards (as published over cos-agent) has data
    over the session (at most its last 6 h): Grafana would draw every panel."""
    start = max(prometheus.started_at(), time.time() - 6 * 3600)
    empty, checked = [], 0
    found = prometheus.dashboards()
    for unit, dashboard in found:
        for panel in _panels(dashboard["panels"]):
            for target in panel.get("targets", []):
                checked += 1
                result = prometheus.query_range(target["expr"], start, step=15)
                if not any(series["values"] for series in result):
                    empty.append(f"{unit} {dashboard['title']}: {panel['title']}: "
                                 f"{target['expr']}")  # fmt: skip
    print(f"{checked} panel queries over {len(found)} published dashboards")
    assert {d["title"] for _, d in found} == {"Masakari instance HA", "Masakari host monitors"}
    assert not empty, "no data:\n" + "\n".join(empty)


def _panels(panels: list[dict]):
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))
