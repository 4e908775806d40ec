"""The lab as a `tests.functional.cloud.Cloud`: the failover scenarios of the zaza suite run here.

Failure injection is the guide's (`ip link set eth0 down` inside the hypervisor); detection,
fencing (Pacemaker -> STONITH -> MAAS emulator), the fence-confirmed host monitor and Masakari
do the rest. Timers are read from what the charms rendered, not assumed.

Guests are real qemu processes (guests.py): `instance_process` is the guide's `pgrep -f
guest=<instance_name>` and `kill_instance_process` its `pkill -f -9 guest=<instance_name>`, both
run inside the hypervisor (its own PID namespace, so they see its guests only).
"""

from __future__ import annotations

import configparser
import datetime
import types

from keystoneauth1 import adapter

from tests.functional.cloud import (
    Cloud,
    FenceEvent,
    PacemakerNode,
    Timers,
    parse_crm_nodes,
    parse_fence_history,
)
from tests.functional.openstack_api import SdkOpenStackApi

from . import (
    double_run,
    guests,
    hosts,
    hypervisors,
    lab,
    maas_emulator,
    pacemaker,
    rest_client,
    scenario_steps,
    services,
    settings,
)
from .procs import LabError, wait_for

MASAKARI_CONF = "/etc/masakari/masakari.conf"
MONITORS_CONF = "/etc/masakarimonitors/masakarimonitors.conf"


class LabCloud(Cloud):
    def __init__(self, admin: rest_client.RestClient) -> None:
        self.admin = admin
        # connect_retries: apache closes idle keep-alive connections behind haproxy after 5 s;
        # a request sent on one just as it closes fails with "Remote end closed connection".
        filters = {"interface": "public", "region_name": settings.REGION, "connect_retries": 3}
        conn = types.SimpleNamespace(
            compute=adapter.Adapter(admin.session, service_type="compute", **filters),
            instance_ha=adapter.Adapter(admin.session, service_type="instance-ha", **filters),
        )
        self._api = SdkOpenStackApi(conn)  # the same client the zaza suite uses

    @property
    def api(self) -> SdkOpenStackApi:
        return self._api

    def compute_hosts(self) -> list[str]:
        return list(settings.COMPUTE_HOSTS)

    def timers(self) -> Timers:
        """What the charms rendered: masakari.conf's engine timers (all in [DEFAULT]), the
        monitors' poll interval; Pacemaker's remote monitor and the BMC's delay from the lab."""
        engine = configparser.ConfigParser(interpolation=None)
        engine.read(MASAKARI_CONF)
        conf = engine.defaults()
        monitor = configparser.ConfigParser(interpolation=None)
        monitor.read_string(
            hosts.read_file(hosts.load().hosts[0], MONITORS_CONF).decode(errors="replace")
        )
        latency = float(maas_emulator.get_faults().get("power_off_latency", 0))
        return Timers(
            evacuation_delay=float(conf.get("wait_period_after_service_update", 180)),
            evacuation_timeout=float(conf.get("wait_period_after_evacuation", 90)),
            power_off_timeout=float(conf.get("wait_period_after_power_off", 180)),
            power_on_timeout=float(conf.get("wait_period_after_power_on", 60)),
            recovery_threads=int(conf.get("host_failure_recovery_threads", 3)),
            retry_interval=float(conf.get("process_unfinished_notifications_interval", 120)),
            duplicate_window=float(conf.get("duplicate_notification_detection_interval", 180)),
            # As the cluster has it now: hacluster's primitive, tuned by pacemaker-remote.
            failure_detection=pacemaker.detection_seconds(settings.FAILED_HOST),
            fence_timeout=latency + 30,  # the plugin's polling and Pacemaker's own steps
            host_monitor_interval=float(monitor["host"]["monitoring_interval"])
            * int(monitor["host"]["monitoring_samples"]),
            service_down_time=settings.NOVA_SERVICE_DOWN_TIME,
            host_boot_timeout=60,
            margin=45,
        )

    def fail_host(self, host: str) -> str:
        hosts.link_down(hosts.load().host(host))
        return f"ip link set eth0 down on {host}"

    def restore_host(self, host: str) -> None:
        """The fenced host was rebooted by its STONITH (power off, then on): wait for it, clean
        its failed connection up, and start its nova-compute as its boot would."""
        lab_host = hosts.load().host(host)
        pacemaker.wait_rejoin(lab_host, timeout=self.timers().rejoin_budget())
        lab.start_compute(host)

    def instance_process(self, server_id: str, host: str) -> int | None:
        pids = guests.guest_pids(hosts.load().host(host), self.instance_name(server_id))
        return pids[0] if pids else None

    def kill_instance_process(self, server_id: str, host: str) -> int:
        pid = self.instance_process(server_id, host)
        if pid is None:
            raise LabError(f"no qemu process of {server_id} on {host}")
        name = self.instance_name(server_id)
        guests.shell(hosts.load().host(host), ["pkill", "-f", "-9", f"guest={name}"], check=True)
        return pid

    def watch_guests(self, server_ids: list[str]) -> double_run.Detector:
        watched = [
            double_run.Guest(i, self.instance_name(i), services.INSTANCES / i / "disk")
            for i in server_ids
        ]
        return double_run.Detector(watched).start()

    def instance_name(self, server_id: str) -> str:
        return self.admin.server(server_id)["OS-EXT-SRV-ATTR:instance_name"]

    def fencing_history(self, host: str) -> list[FenceEvent]:
        events = parse_fence_history(pacemaker.fence_history_xml(host))
        return sorted(events, key=lambda e: (e.completed is None, e.completed))

    def failure_marks(
        self, host: str, since: datetime.datetime
    ) -> list[tuple[datetime.datetime, str]]:
        marks = pacemaker.failure_marks(hosts.load().host(host), since.timestamp())
        return [(datetime.datetime.fromtimestamp(t, datetime.timezone.utc), w) for t, w in marks]

    def pacemaker_nodes(self) -> dict[str, PacemakerNode]:
        return parse_crm_nodes(pacemaker.crm_mon_xml())

    def ensure_instance(self, name: str, host: str) -> str:
        for server in self.admin.servers(name=f"^{name}$"):
            if server["status"] != "DELETED":
                return server["id"]
        [server_id] = scenario_steps.boot(self.admin, name, host)
        return server_id

    def delete_instance(self, name: str) -> None:
        def gone() -> bool:
            servers = self.admin.servers(name=f"^{name}$")
            for server in servers:  # again on every poll: a delete may have been refused
                if server["status"] != "DELETED" and not server["OS-EXT-STS:task_state"]:
                    self.admin.call("compute", "DELETE", f"/servers/{server['id']}", ok=(204, 404))
            return not servers

        wait_for(f"{name} deleted", gone, timeout=120, interval=1, ignore=(LabError,))

    def log(self, message: str) -> None:
        print(message, flush=True)


# The pacemaker-remote charm's options for its node's connection resource; 0 leaves it alone.
CONNECTION_OPTIONS = (
    "connection-monitor-interval", "connection-monitor-timeout", "connection-start-timeout",
)  # fmt: skip


def use_hacluster_timing() -> None:
    """Remote connections exactly as hacluster creates them (monitor every 30 s, Pacemaker's
    20 s timeouts): the pacemaker-remote charm's connection options set to 0, then hacluster's
    primitives applied again (which drops what the charm had set)."""
    hypervisors.configure_pacemaker_remote(hosts.load(), dict.fromkeys(CONNECTION_OPTIONS, 0))
    pacemaker.reconfigure(pacemaker.ClusterSettings())


def use_charm_timing() -> None:
    """The pacemaker-remote charm's connection options back to their defaults (it sets them)."""
    hypervisors.configure_pacemaker_remote(hosts.load(), dict.fromkeys(CONNECTION_OPTIONS))


def configure_monitors(options: dict[str, object]) -> None:
    """`juju config masakari-monitors key=value ...` in the lab (None: back to the default)."""
    hypervisors.deploy_monitors(
        hosts.load(), scenario_steps.admin_cloud(), services.load_secrets(), options
    )
