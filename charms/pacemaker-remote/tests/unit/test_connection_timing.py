"""This node's connection resource, tuned from the node itself through pacemaker_remoted."""

from __future__ import annotations

import dataclasses
import re

from ops import testing

from charm_common.system import RunResult

from .conftest import DATA, FQDN

CIB = (DATA / "crm_mon-2.1.5.cib.xml").read_text()


class Cluster:
    """cibadmin answering from the recorded CIB (hacluster's primitive: monitor 30s, r1-m)."""

    def __init__(self, system, refuse: bool = False, exists: bool = True) -> None:
        self.primitive = re.search(
            rf'<primitive id="{re.escape(FQDN)}".*?</primitive>', CIB, re.DOTALL
        )[0]
        self.modified: list[str] = []
        self.refuse, self.exists = refuse, exists
        system.responders[("cibadmin", "--query")] = self.query
        system.responders[("cibadmin", "--modify")] = self.modify

    def query(self, argv):
        if not self.exists:
            return RunResult(105, "", "Call cib_query failed (-6): No such device or address")
        return RunResult(0, self.primitive, "")

    def modify(self, argv):
        if self.refuse:
            return RunResult(78, "", "Call cib_modify failed (-203): Update does not conform")
        document = argv[-1]
        self.modified.append(document)
        if document.startswith("<op "):  # the monitor op, by id
            self.primitive = re.sub(r'<op id="r1-m"[^>]*/>', document, self.primitive)
        else:  # a start op through the primitive's operations
            start = re.search(r"<op [^>]*/>", document)[0]
            self.primitive = self.primitive.replace("</operations>", f"{start}</operations>")
        return RunResult(0, "", "")


TUNED = {
    "connection-monitor-interval": 5, "connection-monitor-timeout": 10,
    "connection-start-timeout": 15,
}  # fmt: skip


def test_zero_leaves_hacluster_s_settings(ctx, system, ready_state):
    cluster = Cluster(system)
    hacluster_s = dict.fromkeys(TUNED, 0)
    out = ctx.run(ctx.on.config_changed(), dataclasses.replace(ready_state, config=hacluster_s))
    assert cluster.modified == []
    assert out.unit_status == testing.ActiveStatus(f"Remote node {FQDN} online in cluster")


def test_the_defaults_are_the_measured_timing(ctx, system, ready_state):
    """5 s / 10 s / 15 s: what the lab's soak and benchmark chose (README)."""
    cluster = Cluster(system)
    ctx.run(ctx.on.config_changed(), dataclasses.replace(ready_state, config={}))
    assert len(cluster.modified) == 2
    assert 'interval="5s" timeout="10s"' in cluster.modified[0]
    assert 'timeout="15s"' in cluster.modified[1]


def test_configured_timing_is_set_on_the_cluster_once_and_shown(ctx, system, ready_state):
    cluster = Cluster(system)
    out = ctx.run(ctx.on.config_changed(), dataclasses.replace(ready_state, config=TUNED))
    assert cluster.modified == [
        '<op id="r1-m" name="monitor" interval="5s" timeout="10s"/>',
        f'<primitive id="{FQDN}"><operations><op id="{FQDN}-start-0" name="start" '
        'interval="0s" timeout="15s"/></operations></primitive>',
    ]
    assert out.unit_status == testing.ActiveStatus(
        f"Remote node {FQDN} online in cluster; connection checked every 5 s (timeout 10 s, "
        "start timeout 15 s)"
    )
    ctx.run(ctx.on.update_status(), out)
    assert len(cluster.modified) == 2  # idempotent: nothing differs any more


def test_a_recreated_resource_gets_the_settings_back(ctx, system, ready_state):
    cluster = Cluster(system)
    tuned = ctx.run(ctx.on.config_changed(), dataclasses.replace(ready_state, config=TUNED))
    Cluster.__init__(cluster, system)  # hacluster recreated the primitive with its own ops
    ctx.run(ctx.on.update_status(), tuned)
    assert len(cluster.modified) == 2


def test_a_refused_change_blocks_naming_the_options(ctx, system, ready_state):
    Cluster(system, refuse=True)
    out = ctx.run(ctx.on.config_changed(), dataclasses.replace(ready_state, config=TUNED))
    assert out.unit_status == testing.BlockedStatus(
        "The cluster refused this node's connection settings (Call cib_modify failed (-203): "
        "Update does not conform); check connection-monitor-interval, "
        "connection-monitor-timeout and connection-start-timeout"
    )


def test_before_hacluster_creates_the_node_nothing_is_changed(ctx, system, ready_state):
    cluster = Cluster(system, exists=False)
    ctx.run(ctx.on.config_changed(), dataclasses.replace(ready_state, config=TUNED))
    assert cluster.modified == []


def test_out_of_range_timing_is_invalid_config(ctx, system, ready_state):
    out = ctx.run(ctx.on.config_changed(), dataclasses.replace(
        ready_state, config={"connection-monitor-timeout": 7200}
    ))  # fmt: skip
    assert out.unit_status.message == (
        "Invalid config: connection-monitor-timeout: must be from 0 to 3600 seconds (got 7200)"
    )
