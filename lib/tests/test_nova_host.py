"""The hypervisor name checks, against nova.conf as the nova-compute charm writes it."""

import pytest

from charm_common import hostnames
from charm_common.testing import FakeSystem


def with_nova_conf(text: str | None, fqdn: str = "virt-node-01.maas") -> FakeSystem:
    system = FakeSystem(fqdn)
    if text is not None:
        system.write_file(hostnames.NOVA_CONF, text, owner="root", group="nova", mode=0o640)
    return system


def test_without_nova_conf_there_is_nothing_to_compare():
    system = with_nova_conf(None)
    assert hostnames.nova_compute_host(system) is None
    assert hostnames.hostname_mismatch(system, "virt-node-01.maas") is None


def test_nova_conf_without_host_means_nova_uses_the_fqdn():
    system = with_nova_conf("[DEFAULT]\ndebug = False\n[libvirt]\nvirt_type = kvm\n")
    assert hostnames.nova_compute_host(system) == "virt-node-01.maas"
    assert hostnames.hostname_mismatch(system, "virt-node-01.maas") is None


def test_matching_host_passes():
    system = with_nova_conf("[DEFAULT]\nhost = virt-node-01.maas\nmy_ip = 10.0.0.11\n")
    assert hostnames.hostname_mismatch(system, "virt-node-01.maas") is None


def test_short_host_in_nova_conf_is_a_mismatch_naming_both_and_the_fix():
    system = with_nova_conf("[DEFAULT]\nhost = virt-node-01\n")
    message = hostnames.hostname_mismatch(system, "virt-node-01.maas")
    assert message == (
        "Host name mismatch: this hypervisor is virt-node-01.maas (FQDN) but nova-compute "
        "registers virt-node-01 (/etc/nova/nova.conf [DEFAULT] host); make them equal, or "
        "Masakari ignores its failures"
    )


def test_nova_conf_quirks_are_tolerated():
    # Repeated keys and literal % signs occur in real nova.conf files.
    system = with_nova_conf(
        "[DEFAULT]\nhost = a\nhost = virt-node-01.maas\n"
        "[DEFAULT]\nlogging_context_format_string = %(asctime)s %(message)s\n"
    )
    assert hostnames.nova_compute_host(system) == "virt-node-01.maas"


def test_unparsable_nova_conf_is_an_error_naming_the_file():
    system = with_nova_conf("host = no section header\n")
    with pytest.raises(hostnames.NovaConfError, match="cannot parse /etc/nova/nova.conf"):
        hostnames.hostname_mismatch(system, "virt-node-01.maas")


def test_a_different_name_published_by_pacemaker_remote_is_a_mismatch():
    system = with_nova_conf(None)
    system.write_file(hostnames.REMOTE_NODE_NAME_FILE, "virt-node-01\n",
                      owner="root", group="root", mode=0o644)  # fmt: skip
    message = hostnames.hostname_mismatch(system, "virt-node-01.maas")
    assert message == (
        "Host name mismatch: this hypervisor is virt-node-01.maas (FQDN) but pacemaker-remote "
        "published virt-node-01; the FQDN changed: fix it, or let pacemaker-remote republish"
    )
    system.write_file(hostnames.REMOTE_NODE_NAME_FILE, "virt-node-01.maas\n",
                      owner="root", group="root", mode=0o644)  # fmt: skip
    assert hostnames.hostname_mismatch(system, "virt-node-01.maas") is None
