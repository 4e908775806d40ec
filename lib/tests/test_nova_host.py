"""The hypervisor name checks, against nova.conf as the nova-compute charm writes it."""

import pytest

from charm_common import hostnames
from charm_common.testing import FakeSystem


def with_nova_conf(text: str | None, hostname: str = "virt-node-01") -> FakeSystem:
    system = FakeSystem("virt-node-01.maas", hostname=hostname)
    if text is not None:
        system.write_file(hostnames.NOVA_CONF, text, owner="root", group="nova", mode=0o640)
    return system


def publish(system: FakeSystem, name: str) -> None:
    system.write_file(hostnames.REMOTE_NODE_NAME_FILE, name + "\n",
                      owner="root", group="root", mode=0o644)  # fmt: skip


def test_without_nova_conf_there_is_nothing_to_compare():
    system = with_nova_conf(None)
    assert hostnames.nova_compute_host(system) is None
    assert hostnames.hostname_mismatch(system, "virt-node-01") is None


def test_nova_conf_without_host_means_nova_uses_gethostname_not_the_fqdn():
    system = with_nova_conf("[DEFAULT]\ndebug = False\n[libvirt]\nvirt_type = kvm\n")
    assert hostnames.nova_compute_host(system) == "virt-node-01"
    assert hostnames.hostname_mismatch(system, "virt-node-01") is None
    assert "registers virt-node-01 " in hostnames.hostname_mismatch(system, "virt-node-01.maas")


def test_matching_host_passes():
    system = with_nova_conf("[DEFAULT]\nhost = virt-node-01.maas\nmy_ip = 10.0.0.11\n")
    assert hostnames.hostname_mismatch(system, "virt-node-01.maas") is None


def test_a_name_other_than_novas_is_a_mismatch_naming_novas_source_and_the_fix():
    system = with_nova_conf("[DEFAULT]\nhost = virt-node-01\n", hostname="virt-node-01.maas")
    assert hostnames.hostname_mismatch(system, "virt-node-01.maas") == (
        "Host name mismatch: nova-compute registers virt-node-01 (from [DEFAULT] host in "
        "/etc/nova/nova.conf) but this unit uses virt-node-01.maas; restart nova-compute if "
        "/etc/nova/nova.conf changed, and this unit takes Nova's name on its next hook"
    )


def test_nova_conf_quirks_are_tolerated():
    # Repeated keys and literal % signs occur in real nova.conf files.
    system = with_nova_conf(
        "[DEFAULT]\nhost = a\nhost = virt-node-01.maas\n"
        "[DEFAULT]\nlogging_context_format_string = %(asctime)s %(message)s\n"
    )
    assert hostnames.nova_compute_host(system) == "virt-node-01.maas"


def test_unparsable_nova_conf_is_an_error_naming_the_file_and_the_fix():
    system = with_nova_conf("host = no section header\n")
    with pytest.raises(hostnames.NovaConfError) as raised:
        hostnames.hostname_mismatch(system, "virt-node-01")
    assert str(raised.value) == (
        "cannot parse /etc/nova/nova.conf (MissingSectionHeaderError): fix the file, or the "
        "nova-compute charm's config that renders it"
    )


def test_a_different_pacemaker_node_name_is_a_mismatch_saying_to_fix_the_pacemaker_node():
    system = with_nova_conf("[DEFAULT]\n")
    publish(system, "virt-node-01.maas")
    assert hostnames.hostname_mismatch(system, "virt-node-01") == (
        "Host name mismatch: nova-compute registers virt-node-01 but the Pacemaker remote node "
        "is virt-node-01.maas; fix the Pacemaker node's name: let pacemaker-remote republish "
        "(its next hook does), then on the hacluster leader remove the stale node: crm "
        "configure delete virt-node-01.maas; crm_node --force -R virt-node-01.maas"
    )
    publish(system, "virt-node-01")
    assert hostnames.hostname_mismatch(system, "virt-node-01") is None
