"""quickack on the routes to Pacemaker remote nodes: the CIB the lab's cluster recorded, and real
routes in a throwaway network namespace (root only; CI runs as root)."""

from __future__ import annotations

import json
import pathlib
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from charm_common import quickack, testing
from charm_common.system import RunResult

DATA = pathlib.Path(__file__).parent / "data"


def test_remote_node_addresses_from_the_labs_cib():
    text = (DATA / "cib-resources-lab.xml").read_text()
    assert quickack.remote_node_addresses(text) == ["10.213.0.101", "10.213.0.102", "10.213.0.110"]


def test_remote_node_addresses_skips_names_other_agents_and_padding():
    text = """<resources>
      <primitive id="a" class="ocf" provider="pacemaker" type="remote"><instance_attributes>
        <nvpair name="server" value=" 2001:db8::5&#10;"/></instance_attributes></primitive>
      <primitive id="b" class="ocf" provider="pacemaker" type="remote"><instance_attributes>
        <nvpair name="server" value="compute-1.maas"/></instance_attributes></primitive>
      <primitive id="c" class="ocf" provider="heartbeat" type="IPaddr2"><instance_attributes>
        <nvpair name="server" value="10.0.0.9"/></instance_attributes></primitive>
    </resources>"""
    assert quickack.remote_node_addresses(text) == ["2001:db8::5"]
    with pytest.raises(ValueError, match="not XML"):
        quickack.remote_node_addresses("Could not connect to the CIB")


SETUP = [
    ("addr", "add", "10.50.0.1/24", "dev", "eth0"),
    ("-6", "addr", "add", "2001:db8::1/64", "dev", "eth0", "nodad"),
    ("route", "add", "default", "via", "10.50.0.254", "dev", "eth0", "proto", "static"),
    ("route", "add", "10.60.0.0/16", "via", "10.50.0.253", "dev", "eth0", "proto", "static",
     "metric", "100", "mtu", "1400", "src", "10.50.0.1"),
    ("-6", "route", "add", "2001:db8:1::/48", "via", "2001:db8::fe", "dev", "eth0", "metric",
     "512", "pref", "high"),
    ("route", "add", "10.70.0.0/16", "nexthop", "via", "10.50.0.251", "nexthop", "via",
     "10.50.0.252"),
    # Policy routing: a rule sends 10.80.0.0/16 through table 100 (main has only the default).
    ("rule", "add", "to", "10.80.0.0/16", "table", "100"),
    ("route", "add", "10.80.0.0/16", "via", "10.50.0.250", "dev", "eth0", "table", "100"),
]  # fmt: skip


@pytest.fixture
def netns():
    if not testing.can_make_network_namespaces():
        pytest.skip("needs root and iproute2 (CI has both)")
    with testing.network_namespace(SETUP) as name:

        def ip(*args: str) -> None:
            subprocess.run(["ip", "-n", name, *args], check=True, capture_output=True)

        system = testing.FakeSystem()  # every command the module runs is `ip`: for real
        system.responders[("ip",)] = testing.in_namespace(name)
        yield system, ip


def routes(system: testing.FakeSystem, family: int) -> dict[str, dict]:
    out = system.run(["ip", "-j", f"-{family}", "route", "show", "table", "main"]).stdout
    return {r["dst"]: r for r in json.loads(out)}


@pytest.mark.parametrize(
    ("address", "family", "dst"),
    [
        ("10.50.0.77", 4, "10.50.0.0/24"),  # the kernel's link route
        ("10.60.3.4", 4, "10.60.0.0/16"),  # gateway, proto, metric, mtu, src
        ("192.0.2.9", 4, "default"),
        ("2001:db8:1::9", 6, "2001:db8:1::/48"),  # metric and pref
    ],
)
def test_quickack_is_added_and_nothing_else_changes(netns, address, family, dst):
    system, _ip = netns
    before = routes(system, family)
    assert not quickack.has_quickack(before[dst])
    assert quickack.ensure_quickack(system, address) is True
    after = routes(system, family)
    assert quickack.has_quickack(after[dst])
    metrics = {k: v for m in before[dst].get("metrics", []) for k, v in m.items()}
    assert after[dst]["metrics"] == [{**metrics, "quickack": 1}]
    assert {k: v for k, v in after[dst].items() if k != "metrics"} == {
        k: v for k, v in before[dst].items() if k != "metrics"
    }
    # Every other route is untouched, and a second pass changes nothing.
    assert {d: r for d, r in after.items() if d != dst} == {
        d: r for d, r in before.items() if d != dst
    }
    assert quickack.ensure_quickack(system, address) is False
    assert routes(system, family) == after


def test_a_multipath_route_is_left_alone_and_named(netns):
    system, _ip = netns
    before = routes(system, 4)
    with pytest.raises(quickack.RouteError, match="10.70.0.0/16"):
        quickack.ensure_quickack(system, "10.70.1.1")
    assert routes(system, 4) == before


def test_no_route_is_an_error_not_a_traceback(netns):
    system, ip = netns
    ip("route", "del", "default")
    with pytest.raises(quickack.RouteError, match="192.0.2.9"):
        quickack.ensure_quickack(system, "192.0.2.9")


def test_a_route_a_policy_rule_chose_is_changed_in_its_own_table(netns):
    system, _ip = netns
    main = routes(system, 4)

    def table_100() -> list[dict]:
        out = system.run(["ip", "-j", "-4", "route", "show", "table", "100"]).stdout
        return json.loads(out)

    before = table_100()
    assert quickack.ensure_quickack(system, "10.80.1.1") is True
    assert table_100() == [{**before[0], "metrics": [{"quickack": 1}]}]
    assert routes(system, 4) == main  # main's default route, which `get` did not use, is kept


_VALUE = st.one_of(
    st.text(max_size=20),
    st.integers(-5, 2**32),
    st.none(),
    st.booleans(),
    st.lists(st.dictionaries(st.text(max_size=8), st.integers(0, 9)), max_size=2),
)
_ROUTE = st.dictionaries(
    st.sampled_from(["dst", "gateway", "dev", "protocol", "scope", "prefsrc", "metric", "flags",
                     "metrics", "pref", "type", "nexthops", "encap", "expires", "table"]),
    _VALUE,
)  # fmt: skip
_DST = st.sampled_from(["default", "10.0.0.0/8", "10.1.0.0/16", "10.1.2.3", "", "garbage", "::/0"])


@settings(max_examples=300, derandomize=True, database=None, deadline=None)
@given(
    table=st.lists(st.builds(lambda r, d: {**r, "dst": d}, _ROUTE, _DST), max_size=5),
    resolved=st.lists(_ROUTE, max_size=2),
)
def test_any_route_table_gives_a_route_or_a_route_error(table, resolved):
    """Whatever `ip -j` prints, the charm gets a route it can change or a RouteError (its
    Blocked status), never another exception."""
    system = testing.FakeSystem()
    system.responders[("ip", "-j", "-4", "route", "get")] = lambda argv: RunResult(
        0, json.dumps(resolved), ""
    )
    system.responders[("ip", "-j", "-4", "route", "show")] = lambda argv: RunResult(
        0, json.dumps(table), ""
    )
    try:
        family, name, route = quickack.route_to(system, "10.1.2.3")
        quickack.has_quickack(route)
        argv = quickack.change_command(family, name, route)
    except quickack.RouteError:
        return
    assert argv[:4] == ["ip", "-4", "route", "change"] and argv[-2:] == ["quickack", "1"]
    assert all(isinstance(word, str) and "\n" not in word for word in argv)
