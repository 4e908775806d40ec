"""`tox -e alerts`: every charm's Prometheus alert rules checked and unit-tested with promtool.

promtool comes from Debian's (or Ubuntu's) `prometheus` package: when it is missing and this runs
as root, `apt-get update` then `apt-get install -y prometheus` (nothing else is downloaded);
otherwise it says what to install. Then:
- `promtool check rules` on every charms/*/src/prometheus_alert_rules/* file;
- `promtool test rules` on every tests/alerts/*.test.yaml (series -> expected alerts);
- every alert of every rule file has a test case expecting it to fire, so none ships untested;
- `promtool check rules` on what each charm publishes over cos-agent (charm_common.cos_agent:
  groups renamed, juju labels added, the generic HostHealth group), so the wire form loads too.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))

from charm_common import cos_agent  # noqa: E402 - the shared library, from the source tree

RULES = sorted(ROOT.glob("charms/*/src/prometheus_alert_rules/*.rules"))
TESTS = sorted(ROOT.glob("tests/alerts/*.test.yaml"))


def promtool() -> str:
    found = shutil.which("promtool")
    if found:
        return found
    if os.geteuid() != 0:
        sys.exit("promtool is missing: apt-get install prometheus (as root), then run again")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # CI builds the lab beside bin/tox: wait for its apt run rather than fail on the lock.
    apt = ["apt-get", "-o", "DPkg::Lock::Timeout=900", "-qq"]
    # `update` takes apt's lists lock, which the lock timeout does not cover: try again.
    for _ in range(60):
        if subprocess.run([*apt, "update"], check=False, env=env).returncode == 0:
            break
        time.sleep(10)
    else:
        sys.exit("apt-get update kept failing for 10 minutes")
    subprocess.run([*apt, "install", "-y", "prometheus"], check=True, env=env)
    return shutil.which("promtool") or sys.exit("apt installed prometheus but no promtool")


def alerts(path: pathlib.Path) -> set[str]:
    groups = yaml.safe_load(path.read_text())["groups"]
    return {rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule}


def tested(path: pathlib.Path) -> set[str]:
    """Alerts some test case of `path` expects to fire."""
    cases = yaml.safe_load(path.read_text())["tests"]
    return {
        check["alertname"] for case in cases for check in case.get("alert_rule_test", [])
        if check.get("exp_alerts")
    }  # fmt: skip


def main() -> int:
    if not RULES or not TESTS:
        sys.exit("no rule files or no rule tests found")
    tool = promtool()
    subprocess.run([tool, "check", "rules", *map(str, RULES)], check=True)
    subprocess.run([tool, "test", "rules", *map(str, TESTS)], check=True, cwd=ROOT)
    with tempfile.TemporaryDirectory() as tmp:
        published = []
        for charm_dir in sorted({path.parents[2] for path in RULES}):
            name = charm_dir.name
            topology = cos_agent.Topology("model", "00000000-0000-4000-8000-000000000000",
                                          name, name)  # fmt: skip
            rules = cos_agent.alert_rules(charm_dir / "src/prometheus_alert_rules", topology)
            path = pathlib.Path(tmp) / f"{name}.published.rules"
            path.write_text(yaml.safe_dump(rules))
            published.append(str(path))
        subprocess.run([tool, "check", "rules", *published], check=True)
    untested = set().union(*map(alerts, RULES)) - set().union(*map(tested, TESTS))
    if untested:
        sys.exit(f"alerts without a test that makes them fire: {', '.join(sorted(untested))}")
    print(f"{len(RULES)} rule files, every alert tested to fire")
    return 0


if __name__ == "__main__":
    sys.exit(main())
