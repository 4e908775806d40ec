"""The one name a hypervisor has in Nova, Pacemaker, MAAS and Masakari."""

import pytest

from charm_common.hostnames import NodeNameError, hypervisor_node_name, is_hostname
from charm_common.testing import FakeSystem


@pytest.mark.parametrize(
    ("value", "valid"),
    [("virt-node-01.maas", True), ("virt-node-01", True), ("a" * 63, True), ("a" * 64, False),
     ("bad_name", False), ("-x.maas", False), ("", False), ("x." * 127 + "x", False)],
)  # fmt: skip
def test_is_hostname(value, valid):
    assert is_hostname(value) is valid


def test_node_name_is_the_fqdn_nova_compute_registers():
    assert hypervisor_node_name(FakeSystem(" virt-node-01.maas\n")) == "virt-node-01.maas"


@pytest.mark.parametrize(
    ("fqdn", "why"),
    [("localhost", "is localhost; fix /etc/hosts"),
     ("localhost.localdomain", "is localhost"),
     ("node_1.maas", "is not a valid host name")],
)  # fmt: skip
def test_unusable_fqdn_is_refused_naming_the_fix(fqdn, why):
    with pytest.raises(NodeNameError, match=why):
        hypervisor_node_name(FakeSystem(fqdn))
