"""Scenario a: the guide's segment commands, verbatim, against the charm-deployed API (found
through the keystone catalog, type instance-ha) with python-masakariclient's OSC plugin."""

from __future__ import annotations

from ..scenario_steps import SEGMENT_HOST_COLUMNS, openstack


def table(text: str) -> list[dict[str, str]]:
    """Rows of an openstack CLI table."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    if not lines:
        return []
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return [
        dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True))
        for line in lines[1:]
    ]


def hosts(segment: str) -> dict[str, dict[str, str]]:
    rows = table(openstack("segment", "host", "list", *SEGMENT_HOST_COLUMNS, segment))
    return {row["name"]: row for row in rows}


def test_guide_segment_commands(clean):
    openstack("segment", "create", "S1", "reserved_host", "COMPUTE")
    openstack("segment", "host", "create", "virt-node-10.maas", "COMPUTE", "SSH", "S1")
    openstack("segment", "host", "create", "virt-node-02.maas", "COMPUTE", "SSH", "S1")
    openstack(
        "segment",
        "host",
        "create",
        "--reserved",
        "True",
        "virt-node-01.maas",
        "COMPUTE",
        "SSH",
        "S1",
    )

    segments = {row["name"]: row for row in table(openstack("segment", "list"))}
    assert segments["S1"]["recovery_method"] == "reserved_host"
    assert segments["S1"]["service_type"] == "COMPUTE"
    assert {
        name: (row["reserved"], row["on_maintenance"]) for name, row in hosts("S1").items()
    } == {
        "virt-node-01.maas": ("True", "False"),
        "virt-node-10.maas": ("False", "False"),
        "virt-node-02.maas": ("False", "False"),
    }

    openstack("segment", "host", "update", "--on_maintenance=True", "S1", "virt-node-02.maas")
    assert hosts("S1")["virt-node-02.maas"]["on_maintenance"] == "True"
    openstack("segment", "host", "update", "--on_maintenance=False", "S1", "virt-node-02.maas")
    assert hosts("S1")["virt-node-02.maas"]["on_maintenance"] == "False"

    openstack("segment", "host", "update", "--reserved=False", "S1", "virt-node-01.maas")
    assert hosts("S1")["virt-node-01.maas"]["reserved"] == "False"

    openstack("segment", "update", "--recovery_method", "auto", "--service_type", "COMPUTE", "S1")
    segments = {row["name"]: row for row in table(openstack("segment", "list"))}
    assert segments["S1"]["recovery_method"] == "auto"

    openstack("segment", "host", "delete", "S1", "virt-node-10.maas")
    assert set(hosts("S1")) == {"virt-node-01.maas", "virt-node-02.maas"}

    for host in ("virt-node-01.maas", "virt-node-02.maas"):
        openstack("segment", "host", "delete", "S1", host)
    openstack("segment", "delete", "S1")
    assert "S1" not in {row["name"] for row in table(openstack("segment", "list"))}
