"""Instance failure as the guide checks it: `pkill -f -9 guest=<instance_name>` on the hypervisor.

masakari-instancemonitor (deployed by the masakari-monitors charm) sees libvirt's
`Stopped / Failed` event and sends the VM notification; the engine stops and starts the server
on its own hypervisor, with a new qemu process. Without the HA_Enabled property and with
`evacuate-all-instances=false` the engine leaves the server alone.
"""

from __future__ import annotations

from .. import deploy, guests, hosts, scenario_steps, services
from ..procs import LabError, wait_for

HOST = "virt-node-10.maas"
SEGMENT_HOSTS = ["virt-node-01.maas", "virt-node-02.maas", HOST]


def kill_guest(admin, tl: scenario_steps.LiveTimeline, server_id: str) -> tuple[int, str]:
    """The guide's commands inside the hypervisor: pgrep, then pkill; the pid killed and the
    VM notification masakari-instancemonitor sent for it."""
    host = hosts.load().host(HOST)
    name = admin.server(server_id)["OS-EXT-SRV-ATTR:instance_name"]
    known = {n["notification_uuid"] for n in admin.ha("GET", "/notifications")["notifications"]}
    [pid] = guests.shell(host, ["pgrep", "-f", f"guest={name}"], check=True).stdout.split()
    guests.shell(host, ["pkill", "-f", "-9", f"guest={name}"], check=True)
    tl.failure(f"pkill -f -9 guest={name} on {HOST} (pid {pid} in the hypervisor)")

    def notified() -> str | None:
        for n in admin.ha("GET", "/notifications")["notifications"]:
            if n["notification_uuid"] not in known and n["type"] == "VM":
                tl.mark(f"instance monitor: VM notification {n['payload']}")
                return n["notification_uuid"]
        return None

    return int(pid), wait_for(
        "the VM notification", notified, timeout=60, interval=0.2, ignore=(LabError,)
    )


def test_guides_restart_check_restarts_the_server_on_its_host(clean):
    admin = clean
    scenario_steps.make_segment(admin, "S1", "auto", SEGMENT_HOSTS)
    (server_id,) = scenario_steps.boot(admin, "focal-1", HOST, ha_enabled=False)
    scenario_steps.openstack("server", "set", "--property", "HA_Enabled=True", "focal-1")
    tl = scenario_steps.LiveTimeline("instance failure: the guide's restart check")
    pid, uuid = kill_guest(admin, tl, server_id)
    scenario_steps.watch_failover(admin, tl, uuid, [server_id], {HOST})
    actions = admin.server_actions(server_id)
    tl.mark(f"nova actions on focal-1: {', '.join(actions)}")
    assert actions[-1] == "start"
    assert scenario_steps.host_of(admin.server(server_id)) == HOST
    name = admin.server(server_id)["OS-EXT-SRV-ATTR:instance_name"]
    [new_pid] = guests.shell(
        hosts.load().host(HOST), ["pgrep", "-f", f"guest={name}"]
    ).stdout.split()
    tl.mark(f"pgrep -f guest={name}: {new_pid} (was {pid})")
    assert int(new_pid) != pid


def test_server_without_ha_property_is_left_alone(clean):
    admin = clean
    deploy.change_config(admin, services.load_secrets(), **{"evacuate-all-instances": False})
    try:
        conf = open("/etc/masakari/masakari.conf").read()
        assert "process_all_instances = False" in conf
        scenario_steps.make_segment(admin, "S1", "auto", SEGMENT_HOSTS)
        (server_id,) = scenario_steps.boot(admin, "plain-1", HOST, ha_enabled=False)
        tl = scenario_steps.LiveTimeline(
            "instance failure: server without HA_Enabled, evacuate-all-instances=false"
        )
        _, uuid = kill_guest(admin, tl, server_id)
        scenario_steps.wait_notification(admin, tl, uuid)
        actions = admin.server_actions(server_id)
        tl.mark(f"nova actions on plain-1: {', '.join(actions)}")
        assert "start" not in actions
    finally:
        deploy.change_config(admin, services.load_secrets(), **{"evacuate-all-instances": None})
