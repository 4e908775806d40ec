"""The one name a hypervisor has in Nova, Pacemaker, MAAS and Masakari."""

import pytest

from charm_common import hostnames, relations
from charm_common.hostnames import NodeNameError, hypervisor_node_name, is_hostname
from charm_common.testing import FakeSystem


@pytest.mark.parametrize(
    ("value", "valid"),
    [("virt-node-01.maas", True), ("virt-node-01", True), ("a" * 63, True), ("a" * 64, False),
     ("bad_name", False), ("-x.maas", False), ("", False), ("x." * 127 + "x", False),
     ("virt-node-01.maas\n", False)],
)  # fmt: skip
def test_is_hostname(value, valid):
    assert is_hostname(value) is valid


def maas_machine(nova_conf: str | None) -> FakeSystem:
    """A MAAS machine: gethostname() is the short name, getfqdn() adds the MAAS domain."""
    system = FakeSystem("virt-node-01.maas", hostname="virt-node-01\n")
    if nova_conf is not None:
        system.write_file(hostnames.NOVA_CONF, nova_conf, owner="root", group="nova", mode=0o640)
    return system


def test_maas_machine_without_host_in_nova_conf_is_its_short_name_everywhere():
    # charm-nova-compute units installed before Stein: no `host` line, Nova registers
    # socket.gethostname().
    system = maas_machine("[DEFAULT]\ndebug = False\n[libvirt]\nvirt_type = kvm\n")
    name = hypervisor_node_name(system)
    assert name == "virt-node-01"
    assert hostnames.nova_compute_host(system) == "virt-node-01"
    published = relations.pacemaker_remote_data(name, "10.0.0.11", name, False)
    assert published["remote-hostname"] == published["stonith-hostname"] == '"virt-node-01"'
    system.write_file(hostnames.REMOTE_NODE_NAME_FILE, name + "\n",
                      owner="root", group="root", mode=0o644)  # fmt: skip
    assert hostnames.hostname_mismatch(system, name) is None


def test_host_in_nova_conf_names_the_hypervisor():
    system = maas_machine("[DEFAULT]\nhost = virt-node-01.maas\nmy_ip = 10.0.0.11\n")
    assert hypervisor_node_name(system) == "virt-node-01.maas"
    assert hostnames.hostname_mismatch(system, "virt-node-01.maas") is None


def test_without_nova_conf_the_name_is_what_nova_would_register():
    system = maas_machine(None)
    assert hypervisor_node_name(system) == "virt-node-01"
    assert hostnames.nova_compute_host(system) is None
    assert hostnames.hostname_mismatch(system, "virt-node-01") is None


@pytest.mark.parametrize(
    ("hostname", "nova_conf", "message"),
    [("localhost", None,
      "Nova's host name 'localhost' (from `hostname`) is localhost; set the "
      "machine's host name to its MAAS name (hostnamectl set-hostname <name>)"),
     ("virt-node-01", "[DEFAULT]\nhost = localhost.localdomain\n",
      "Nova's host name 'localhost.localdomain' (from [DEFAULT] host in /etc/nova/nova.conf) is "
      "localhost; set [DEFAULT] host in /etc/nova/nova.conf to the machine's MAAS name"),
     ("node_1", None,
      "Nova's host name 'node_1' (from `hostname`) is not a valid host name; set the machine's"),
     ("virt-node-01", "[DEFAULT]\nhost = compute 1\n",
      "Nova's host name 'compute 1' (from [DEFAULT] host in /etc/nova/nova.conf) is not a valid "
      "host name; set [DEFAULT] host")],
)  # fmt: skip
def test_unusable_name_is_refused_naming_its_source_and_the_fix(hostname, nova_conf, message):
    system = FakeSystem("virt-node-01.maas", hostname=hostname)
    if nova_conf is not None:
        system.write_file(hostnames.NOVA_CONF, nova_conf, owner="root", group="nova", mode=0o640)
    with pytest.raises(NodeNameError) as raised:
        hypervisor_node_name(system)
    assert str(raised.value).startswith(message)


def test_unparsable_nova_conf_is_a_node_name_error_naming_the_file():
    system = maas_machine("host = no section header\n")
    with pytest.raises(NodeNameError, match=r"^cannot parse /etc/nova/nova.conf \("):
        hypervisor_node_name(system)
