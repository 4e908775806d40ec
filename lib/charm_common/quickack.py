"""Immediate TCP ACKs on a cluster node's routes to its Pacemaker remote nodes.

Why (measured in the lab, Debian 12's Pacemaker 2.1.5; the same read is in Pacemaker's current
source): a remote node sends each message as two TLS records, the 40-byte header and then the
body, in two writes. Nagle's algorithm holds the body until the header is ACKed, and Linux
delays that ACK by up to 40 ms. The cluster's pacemaker-controld reads the body in a blocking
loop (`lrmd_tls_dispatch` -> `pcmk__read_remote_message` with a 60 s timeout), so its main loop
stops for ~40 ms per message, and for a whole minute when the remote node dies in that gap
(pacemakerd then kills the unresponsive controller, and fencing waits for a new one). `quickack
1` on the route makes this node ACK at once: the header -> body gap went from 40-49 ms to under
0.1 ms (tcpdump on a remote node's link).

The route used to reach each remote node (`ip route get`) is changed in place: the same entry
with the same attributes, plus `quickack 1` (ip-route(8)). A route with attributes this module
does not rebuild (multipath, encapsulation, an expiry) is left alone and named.
"""

from __future__ import annotations

import ipaddress
import json
import xml.etree.ElementTree as ET  # noqa: N817 - the conventional name

from charm_common.system import System

CIBADMIN_TIMEOUT = 10.0
IP_TIMEOUT = 10.0
# `ip -j route show` keys rebuilt into `ip route change`; any other key: the route is left alone.
_ROUTE_KEYS = {"dst", "gateway", "dev", "protocol", "scope", "prefsrc", "metric", "flags",
               "metrics", "pref", "type"}  # fmt: skip
_FLAGS = {"onlink": ["onlink"], "linkdown": [], "dead": []}  # linkdown/dead: link state only


class RouteError(RuntimeError):
    """The route to an address could not be read, rebuilt or changed (the message says why)."""


def remote_node_addresses(cib_resources_xml: str) -> list[str]:
    """The `server` parameter of every `ocf:pacemaker:remote` primitive, IP addresses only.

    Input: `cibadmin --query --scope resources`. hacluster sets `server=<remote-ip>` (the
    remote's pacemaker-remote binding address); a name instead of an address is skipped (its
    route would depend on the resolver at the moment of asking). Raises ValueError on non-XML.
    """
    try:
        root = ET.fromstring(cib_resources_xml)  # noqa: S314 - root-run local command
    except ET.ParseError as error:
        raise ValueError(f"cibadmin output is not XML: {error}") from None
    addresses = []
    for primitive in root.iter("primitive"):
        if (primitive.get("class"), primitive.get("provider"), primitive.get("type")) != (
            "ocf", "pacemaker", "remote"
        ):  # fmt: skip
            continue
        for nvpair in primitive.iter("nvpair"):
            if nvpair.get("name") != "server":
                continue
            try:
                address = str(ipaddress.ip_address(nvpair.get("value", "").strip()))
            except ValueError:
                continue
            if address not in addresses:
                addresses.append(address)
    return addresses


def cluster_remote_addresses(system: System) -> list[str]:
    """The remote nodes' addresses from the local cluster; [] while it cannot be asked (no
    cluster on this machine yet, or it does not answer): the next hook asks again."""
    result = system.run(["cibadmin", "--query", "--scope", "resources"], timeout=CIBADMIN_TIMEOUT)
    if not result.ok:
        return []
    try:
        return remote_node_addresses(result.stdout)
    except ValueError:
        return []


def _ip_json(system: System, argv: list[str]) -> list[dict]:
    result = system.run(["ip", "-j", *argv], timeout=IP_TIMEOUT)
    if not result.ok:
        last = result.last_error
        raise RouteError(f"ip {' '.join(argv)}: {last}")
    try:
        return json.loads(result.stdout or "[]")
    except json.JSONDecodeError:
        raise RouteError(f"ip {' '.join(argv)}: output is not JSON") from None


def _word(value: object) -> bool:
    """A value `ip` printed that can go back on its command line as one word."""
    return isinstance(value, (str, int)) and not isinstance(value, bool) and bool(
        str(value)
    ) and not any(c.isspace() for c in str(value))  # fmt: skip


def _network(dst: object, family: int) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """A route's destination as a network of `family`; None for what is not one."""
    if dst == "default":
        return ipaddress.ip_network("0.0.0.0/0" if family == 4 else "::/0")
    try:
        network = ipaddress.ip_network(dst, strict=False)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return network if network.version == family else None


def route_to(system: System, address: str) -> tuple[int, str, dict]:
    """(4 or 6, the routing table, the entry in it that `ip route get <address>` resolves to),
    the entry as `ip -j route show table <table>` prints it. `ip route get` names the table
    when a policy rule chose one other than main. Raises RouteError when no entry matches."""
    family = ipaddress.ip_address(address).version
    resolved = _ip_json(system, [f"-{family}", "route", "get", address])
    if not resolved or not isinstance(resolved[0], dict) or not _word(resolved[0].get("dev")):
        raise RouteError(f"no route to {address}")
    dev, gateway = resolved[0]["dev"], resolved[0].get("gateway")
    table = resolved[0].get("table", "main")
    if not _word(table):
        raise RouteError(f"the route to {address} names table {table!r}")
    target = ipaddress.ip_address(address)
    candidates = [
        route for route in _ip_json(system, [f"-{family}", "route", "show", "table", str(table)])
        if isinstance(route, dict) and route.get("type", "unicast") == "unicast"
        and target in (_network(route.get("dst"), family) or ())
    ]  # fmt: skip

    def rank(route: dict) -> tuple[int, bool, int]:
        # Longest prefix first; among equals, the one `ip route get` chose, then the lowest metric.
        chosen = (route.get("dev"), route.get("gateway")) == (dev, gateway)
        metric = route.get("metric")
        return (
            _network(route["dst"], family).prefixlen,
            chosen,
            -metric if isinstance(metric, int) else 0,
        )

    best = max(candidates, key=rank, default=None)
    if best is None or ("nexthops" not in best and best.get("dev") != dev):
        raise RouteError(f"the route to {address} (dev {dev}) is not in table {table}")
    return family, str(table), best


def has_quickack(route: dict) -> bool:
    """Whether `ip -j route show` printed `quickack 1` among the route's metrics."""
    metrics = route.get("metrics", [])
    return isinstance(metrics, list) and any(
        m.get("quickack") == 1 for m in metrics if isinstance(m, dict)
    )


def change_command(family: int, table: str, route: dict) -> list[str]:
    """`ip route change` of `route` in `table` that keeps its every attribute and adds
    `quickack 1`.

    Raises RouteError for a route carrying what this does not rebuild (ip-route(8) names).
    """
    unknown = sorted(set(route) - _ROUTE_KEYS)
    if unknown:
        raise RouteError(f"route {route.get('dst')} has {', '.join(unknown)}: left alone")
    odd = [key for key in ("dst", "gateway", "dev", "protocol", "scope", "prefsrc", "metric",
                           "pref") if key in route and not _word(route[key])]  # fmt: skip
    if not _word(route.get("dst")) or not _word(route.get("dev")) or odd:
        raise RouteError(f"route {route.get('dst')!r} has unexpected {odd or ['dst/dev']}")
    argv = ["ip", f"-{family}", "route", "change", str(route["dst"]), "table", table]
    if "gateway" in route:
        argv += ["via", str(route["gateway"])]
    argv += ["dev", str(route["dev"])]
    for key, word in (("protocol", "proto"), ("scope", "scope"), ("prefsrc", "src"),
                      ("metric", "metric"), ("pref", "pref")):  # fmt: skip
        if key in route:
            argv += [word, str(route[key])]
    flags, metrics = route.get("flags", []), route.get("metrics", [])
    if not isinstance(flags, list) or not isinstance(metrics, list):
        raise RouteError(f"route {route['dst']} has unexpected flags or metrics")
    for flag in flags:
        if not isinstance(flag, str) or flag not in _FLAGS:
            raise RouteError(f"route {route['dst']} has flag {flag}: left alone")
        argv += _FLAGS[flag]
    for metric in metrics:
        for name, value in metric.items() if isinstance(metric, dict) else [(metric, None)]:
            if name == "quickack":
                continue
            if not _word(name) or not isinstance(value, int) or isinstance(value, bool):
                raise RouteError(f"route {route['dst']} has {name} {value}: left alone")
            argv += [str(name), str(value)]
    return [*argv, "quickack", "1"]


def ensure_quickack(system: System, address: str) -> bool:
    """Make the route to `address` ACK at once; True if it was changed now, False if it
    already did. Re-reads the route and checks that nothing else about it changed.

    Raises RouteError (route not found, not rebuildable, `ip` refused, or changed otherwise).
    """
    family, table, before = route_to(system, address)
    if has_quickack(before):
        return False
    argv = change_command(family, table, before)
    result = system.run(argv, timeout=IP_TIMEOUT)
    if not result.ok:
        last = result.last_error
        raise RouteError(f"{' '.join(argv[1:])}: {last}")
    _, _, after = route_to(system, address)
    expected = dict(before, metrics=[*before.get("metrics", []), {"quickack": 1}])
    if _comparable(after) != _comparable(expected):
        raise RouteError(f"route {before['dst']} changed otherwise: {after} (was {before})")
    return True


def _comparable(route: dict) -> dict:
    metrics = {}
    for metric in route.get("metrics", []):
        metrics.update(metric if isinstance(metric, dict) else {})
    return dict(route, metrics=metrics, flags=sorted(route.get("flags", [])))
