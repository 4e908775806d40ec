"""Fixtures of the live scenarios: the lab is brought up once per session and deployed with
the scenarios' faster recovery settings; every scenario starts from a clean lab."""

from __future__ import annotations

import pytest

# The order the scenarios run in: the engine scenarios, then the whole chain (fencing, the
# shared suite's failovers), the benchmark's short form. A file not named here runs after these.
# (The README's demo is `python3 -m tests.lab demo`, tox's `lab` env, which CI runs before them.)
RUN_ORDER = (
    "test_segment_cli.py",
    "test_tls.py",
    "test_host_failure.py",
    "test_instance_restart.py",
    "test_reinsertion.py",
    "test_charm_tuning.py",
    "test_fencing.py",
    "test_failover.py",
    "test_metrics.py",  # the dashboards' data comes from the failovers before it
    "test_engine_interruption.py",
    "test_bench.py",  # last: it leaves the charms' defaults, not SCENARIO_CONFIG's timers
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return RUN_ORDER.index(name) if name in RUN_ORDER else len(RUN_ORDER)

    items.sort(key=rank)  # stable: each file's tests keep their order


# Faster recovery for the scenarios. Safe because every injected host failure forces the
# nova-compute service down first (as the suite's host monitor does after fencing), so Nova
# needs no wait before it accepts evacuations. Restored to the charm's defaults afterwards.
SCENARIO_CONFIG = {
    "evacuation-delay": 1,  # wait_period_after_service_update (the charm's default)
    "evacuation-timeout": 30,  # per-instance evacuation confirmation (fallback cases)
    "retry-interval": 15,  # re-run of notifications left in error
    # A host failed again within this of its last failure is refused as a duplicate: the
    # scenarios fail hosts again within a minute.
    "duplicate-notification-window": 20,
}


@pytest.fixture(scope="session")
def admin():
    from .. import deploy, lab, scenario_steps, services

    lab.up()
    cloud = scenario_steps.admin_cloud()
    deploy.deploy(cloud, services.load_secrets(), config=SCENARIO_CONFIG)
    yield cloud
    deploy.deploy(
        scenario_steps.admin_cloud(),
        services.load_secrets(),
        config=dict.fromkeys(SCENARIO_CONFIG),
    )


@pytest.fixture
def clean(admin):
    """Every scenario starts with no servers, no segments and healthy hypervisors."""
    from .. import scenario_steps

    scenario_steps.reset(admin)
    return admin
