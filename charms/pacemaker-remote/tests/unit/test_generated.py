"""Generated config and relation data (issue 13): every outcome is a catalog status, no secret
leaks, nothing is published from a bad config. Seeds are fixed (tests/generated_inputs.py)."""

from __future__ import annotations

from hypothesis import given
from ops import testing

import pacemaker_remote_workload as workload
from charm import PacemakerRemoteCharm
from charm_common.testing import FakeSystem
from tests.generated_inputs import GENERATED, GeneratedUnit, check_outcome, configs, nasty_text

from .conftest import CHARM_ROOT, FQDN, KEY, b64, hacluster, nova_compute

UNIT = GeneratedUnit(PacemakerRemoteCharm, CHARM_ROOT, lambda: FakeSystem(FQDN))


@GENERATED
@given(config=configs(CHARM_ROOT / "charmcraft.yaml"))
def test_generated_configs_end_in_a_catalog_status(config):
    out, system, ctx = UNIT.run(
        testing.State(relations=[nova_compute(), hacluster()], config=config)
    )
    message = check_outcome(out, system, [b64(KEY)], {}, ctx.juju_log)
    address = str(config.get("remote-address", "")).strip()
    if any(c in address for c in "\n\r\x00 "):
        assert message.template.startswith("Invalid config: ")
    if message.template.startswith("Invalid config: "):
        relation = next(r for r in out.relations if r.endpoint == "pacemaker-remote")
        assert "remote-hostname" not in relation.local_unit_data  # nothing published


@GENERATED
@given(keys=nasty_text.flatmap(lambda k: nasty_text.map(lambda j: (k, j))))
def test_generated_pacemaker_keys_end_in_a_catalog_status(keys):
    out, system, ctx = UNIT.run(testing.State(relations=[nova_compute(), hacluster(*keys)]))
    check_outcome(out, system, [*keys, b64(KEY)], {}, ctx.juju_log)
    written = system.file_mode(workload.AUTHKEY)
    assert written is None or written[2] & 0o037 == 0
