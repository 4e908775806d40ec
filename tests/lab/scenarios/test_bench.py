"""The benchmark's short form, printed in every CI run: one run of `python3 -m tests.lab bench
--counts 10 --runs 1 --defaults suite` (link down -> the last of 10 real guests ACTIVE on another
host, the charms' defaults on hacluster's remote primitive), with its safety checks.

Last in the run order: it leaves the charms' defaults in place of the scenarios' timers."""

from __future__ import annotations

from .. import bench, deploy, services
from .conftest import SCENARIO_CONFIG


def test_ten_instances_with_the_suites_defaults(admin):
    # The charms' defaults for what the scenarios set (the bench then sets its own profile).
    deploy.change_config(admin, services.load_secrets(), **dict.fromkeys(SCENARIO_CONFIG))
    result = bench.run_link_down([10], 1, ("suite",))[("suite", 10)]
    assert result.early == 0, "an instance was evacuated before its host's power-off"
    assert result.doubled == 0, "the double-run detector saw an instance run twice"
