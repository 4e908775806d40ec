"""The masakari unit sets quickack on its routes to the cluster's Pacemaker remote nodes (the
cluster's controller otherwise stalls when a hypervisor dies mid-message): real routes in a
throwaway network namespace, the CIB the lab's cluster recorded."""

from __future__ import annotations

import dataclasses
import json
import pathlib
import subprocess

import pytest
from ops import testing as ops_testing

from charm_common import testing
from charm_common.system import RunResult

CIB = (pathlib.Path(__file__).parents[4] / "lib/tests/data/cib-resources-lab.xml").read_text()
ROUTES = [("addr", "add", "10.213.0.1/24", "dev", "eth0")]

pytestmark = pytest.mark.skipif(
    not testing.can_make_network_namespaces(), reason="needs root and iproute2 (CI has both)"
)


def route(netns: str, dst: str) -> dict:
    out = subprocess.run(["ip", "-n", netns, "-j", "route", "show", dst], check=True,
                         capture_output=True, text=True).stdout  # fmt: skip
    return json.loads(out)[0]


def test_the_routes_to_the_remote_nodes_ack_at_once(ctx, system, ready_state):
    with testing.network_namespace(ROUTES) as netns:
        system.responders[("ip",)] = testing.in_namespace(netns)
        system.responders[("cibadmin",)] = lambda argv: RunResult(0, CIB, "")
        assert "metrics" not in route(netns, "10.213.0.0/24")
        out = ctx.run(ctx.on.config_changed(), ready_state)
        assert out.unit_status == ops_testing.ActiveStatus("Unit is ready")
        assert route(netns, "10.213.0.0/24")["metrics"] == [{"quickack": 1}]

        # The next hooks find it set and change nothing.
        def ip(verb: str) -> int:
            return len([c for c in system.commands if c[:1] == ["ip"] and verb in c])

        checks, changes = ip("get"), ip("change")
        assert changes == 1  # one route serves the three remote nodes
        ctx.run(ctx.on.update_status(), out)
        assert ip("get") == checks + 3 and ip("change") == changes


def test_a_route_it_cannot_rebuild_is_a_named_blocked_status(ctx, system, ready_state):
    setup = [("addr", "add", "10.50.0.1/24", "dev", "eth0"),
             ("route", "add", "10.213.0.0/24", "nexthop", "via", "10.50.0.2", "nexthop", "via",
              "10.50.0.3")]  # fmt: skip
    with testing.network_namespace(setup) as netns:
        system.responders[("ip",)] = testing.in_namespace(netns)
        system.responders[("cibadmin",)] = lambda argv: RunResult(0, CIB, "")
        out = ctx.run(ctx.on.config_changed(), ready_state)
        assert out.unit_status == ops_testing.BlockedStatus(
            "Cannot set quickack on the route to Pacemaker remote node 10.213.0.101: route "
            "10.213.0.0/24 has nexthops: left alone; retrying on the next hook "
            "(pacemaker-remote-quickack=false leaves the routes alone)"
        )
        config = {"pacemaker-remote-quickack": False}
        off = ctx.run(ctx.on.config_changed(), dataclasses.replace(out, config=config))
        assert off.unit_status == ops_testing.ActiveStatus("Unit is ready")


def test_no_cluster_on_this_machine_means_nothing_to_do(ctx, system, ready_state):
    system.responders[("cibadmin",)] = lambda argv: RunResult(
        102, "", "Could not connect to the CIB: Transport endpoint is not connected"
    )
    out = ctx.run(ctx.on.config_changed(), ready_state)
    assert out.unit_status == ops_testing.ActiveStatus("Unit is ready")
    assert not [c for c in system.commands if c[:1] == ["ip"]]
