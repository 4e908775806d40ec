"""zaza test classes (tests.yaml `tests:`): the shared scenarios on a Juju model."""

from __future__ import annotations

import json
import shlex
import unittest
import xml.etree.ElementTree as ET  # noqa: N817 - the conventional name

import zaza.model

from . import scenarios
from .juju_cloud import JujuCloud, test_options


class MasakariFailoverTest(scenarios.FailoverScenarios, unittest.TestCase):
    """Instance restart, host failover to the reserved host, re-insertion, and a second
    failure under `auto`, with every assertion of `scenarios`."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.scenario_options = test_options()
        cls.cloud = JujuCloud(cls.scenario_options)


class MasakariApiTest(unittest.TestCase):
    """The API endpoint answers the guide's segment commands (smoke: no failure injected)."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.options = test_options()
        cls.cloud = JujuCloud(cls.options)

    def test_segment_lists_every_compute_host(self) -> None:
        segment = scenarios.find_segment(self.cloud, self.options["segment-name"])
        hosts = scenarios.segment_hosts(self.cloud, segment)
        self.assertEqual(sorted(hosts), self.cloud.compute_hosts())
        self.assertEqual(
            [name for name, host in hosts.items() if host["reserved"]],
            [self.options["reserved-host"] or self.cloud.compute_hosts()[-1]],
        )

    def test_every_compute_host_is_a_pacemaker_remote_node_online(self) -> None:
        nodes = self.cloud.pacemaker_nodes()
        for host in self.cloud.compute_hosts():
            self.assertIn(host, nodes, f"{host} is no Pacemaker node (host names must match)")
            self.assertTrue(nodes[host].online, f"Pacemaker node {host} is offline")

    def test_instance_ha_endpoints_are_https_when_vault_is_related(self) -> None:
        """The shipped overlay relates masakari:certificates to vault: every catalog entry of
        the instance-ha service must be https, and the API must answer over it."""
        conn = self.cloud.api.conn
        service = next(s for s in conn.identity.services() if s.type == "instance-ha")
        urls = {e.interface: e.url for e in conn.identity.endpoints(service_id=service.id)}
        self.assertEqual(sorted(urls), ["admin", "internal", "public"])
        for interface, url in urls.items():
            self.assertTrue(url.startswith("https://"), f"{interface} endpoint {url} is not TLS")
        self.assertIsInstance(self.cloud.api.segments(), list)  # verified against vault's CA

    def test_the_cluster_nodes_ack_the_hypervisors_at_once(self) -> None:
        """masakari's pacemaker-remote-quickack (default true): on every masakari unit (the
        hacluster nodes), the route to each Pacemaker remote node carries `quickack 1`."""
        resources = ET.fromstring(  # noqa: S314 - the cluster's own CIB
            self.cloud.run_on_cluster("cibadmin --query --scope resources")
        )
        addresses = [
            nvpair.get("value", "").strip()
            for primitive in resources.iter("primitive")
            if primitive.get("type") == "remote"
            for nvpair in primitive.iter("nvpair")
            if nvpair.get("name") == "server"
        ]
        self.assertTrue(addresses, "the cluster has no ocf:pacemaker:remote resource")
        for unit in zaza.model.get_units(self.options["masakari-app"]):
            for address in addresses:
                command = f"ip -j route get {shlex.quote(address)}"
                route = json.loads(self.cloud.run(unit.entity_id, command))[0]
                metrics = {k: v for m in route.get("metrics", []) for k, v in m.items()}
                self.assertEqual(
                    metrics.get("quickack"), 1,
                    f"{unit.entity_id}: no quickack on the route to {address}: {route}",
                )  # fmt: skip
