"""Scenario c: instance failure. masakari-instancemonitor reports a killed qemu process with a
VM notification; the engine stops and starts the server on its own hypervisor."""

from __future__ import annotations

from . import deploy, scenarios, services

HOST = "virt-node-10.maas"


def vm_down(admin, server_id: str) -> str:
    """The notification masakari-instancemonitor sends when a guest's process is killed."""
    payload = {
        "event": "LIFECYCLE",
        "instance_uuid": server_id,
        "vir_domain_event": "STOPPED_FAILED",
    }
    return admin.notify("VM", HOST, payload)["notification_uuid"]


def test_ha_enabled_server_is_restarted_on_its_host(clean):
    admin = clean
    scenarios.make_segment(admin, "S1", "auto", ["virt-node-01.maas", "virt-node-02.maas", HOST])
    (server_id,) = scenarios.boot(admin, "focal-1", HOST, ha_enabled=True)
    tl = scenarios.Timeline("instance failure: HA_Enabled=True server")
    tl.failure("the qemu process of focal-1 is killed")
    uuid = vm_down(admin, server_id)
    tl.mark(f"VM notification {uuid} accepted")
    scenarios.watch_failover(admin, tl, uuid, [server_id], {HOST})
    actions = admin.server_actions(server_id)
    tl.mark(f"nova actions on focal-1: {', '.join(actions)}")
    assert actions[-2:] == ["stop", "start"]
    assert scenarios.host_of(admin.server(server_id)) == HOST


def test_server_without_ha_property_is_left_alone(clean):
    admin = clean
    deploy.change_config(admin, services.load_secrets(), **{"evacuate-all-instances": False})
    try:
        conf = open("/etc/masakari/masakari.conf").read()
        assert "process_all_instances = False" in conf
        scenarios.make_segment(
            admin, "S1", "auto", ["virt-node-01.maas", "virt-node-02.maas", HOST]
        )
        (server_id,) = scenarios.boot(admin, "plain-1", HOST, ha_enabled=False)
        tl = scenarios.Timeline(
            "instance failure: server without HA_Enabled, evacuate-all-instances=false"
        )
        tl.failure("the qemu process of plain-1 is killed")
        uuid = vm_down(admin, server_id)
        scenarios.watch_failover(admin, tl, uuid, [server_id], {HOST})
        actions = admin.server_actions(server_id)
        tl.mark(f"nova actions on plain-1: {', '.join(actions)}")
        assert "stop" not in actions and "start" not in actions
    finally:
        deploy.change_config(admin, services.load_secrets(), **{"evacuate-all-instances": None})
