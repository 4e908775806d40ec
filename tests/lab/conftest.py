"""The OpenStack scenarios need the running lab and Debian's OpenStack clients: they are
collected only under `python -m tests.lab test`, which brings the lab up first."""

from __future__ import annotations

import os

import pytest

from .settings import SCENARIO_FILES

if not os.environ.get("MASAKARI_LAB_RUN"):
    collect_ignore = list(SCENARIO_FILES)

# Faster recovery for the scenarios. Safe because every injected host failure forces the
# nova-compute service down first (as the suite's host monitor does after fencing), so Nova
# needs no wait before it accepts evacuations. Restored to the charm's defaults afterwards.
SCENARIO_CONFIG = {
    "evacuation-delay": 5,  # wait_period_after_service_update
    "evacuation-timeout": 30,  # per-instance evacuation confirmation (fallback cases)
    "retry-interval": 15,  # re-run of notifications left in error
    # A host failed again within this of its last failure is refused as a duplicate: the
    # scenarios fail hosts again within a minute.
    "duplicate-notification-window": 20,
}


@pytest.fixture(scope="session")
def admin():
    from . import deploy, lab, scenario_steps, services

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
    from . import scenario_steps

    scenario_steps.reset(admin)
    return admin
