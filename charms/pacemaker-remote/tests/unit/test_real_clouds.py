"""What real clouds send (issue 13): each named input is a test, each a kind of fault fixed."""

from __future__ import annotations

import json

from ops import testing

import pacemaker_remote_workload as workload
from charm_common import hostnames


def sent(state: testing.State) -> dict[str, str]:
    relation = next(r for r in state.relations if r.endpoint == "pacemaker-remote")
    return dict(relation.local_unit_data)


def test_without_a_host_line_the_node_is_named_as_nova_registers_it(ctx, system, ready_state):
    # A MAAS machine whose nova.conf predates `host = <fqdn>`: Nova uses gethostname().
    system.host_name = "virt-node-01"
    system.write_file("/etc/nova/nova.conf", "[DEFAULT]\ndebug = False\n",
                      owner="root", group="nova", mode=0o640)  # fmt: skip
    out = ctx.run(ctx.on.config_changed(), ready_state)
    assert json.loads(sent(out)["remote-hostname"]) == "virt-node-01"
    assert system.text(hostnames.REMOTE_NODE_NAME_FILE) == "virt-node-01\n"
    # The recorded cluster still has the node under its FQDN, as an older charm named it.
    assert out.unit_status == testing.BlockedStatus(
        "Node name mismatch: the cluster has virt-node-01.maas, nova-compute uses virt-node-01; "
        "remove the old node from the cluster"
    )


def test_remove_stops_the_daemon_and_takes_away_the_key_and_the_node_name(
    ctx, system, ready_state
):
    ready = ctx.run(ctx.on.config_changed(), ready_state)
    assert workload.AUTHKEY in system.files
    ctx.run(ctx.on.remove(), ready)
    assert workload.AUTHKEY not in system.files
    assert hostnames.REMOTE_NODE_NAME_FILE not in system.files
    assert workload.SERVICE not in system.running


def test_restart_services_restarts_pacemaker_remote(ctx, system, ready_state):
    ready = ctx.run(ctx.on.config_changed(), ready_state)
    ctx.run(ctx.on.action("restart-services"), ready)
    assert ctx.action_results == {"restarted": "pacemaker_remote"}
    assert system.restarts[-1] == "pacemaker_remote"
