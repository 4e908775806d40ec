"""`Cloud` for a Juju model deployed by zaza: commands go through `juju exec` (zaza.model),
OpenStack through openstacksdk, power through MAAS.

Options come from tests.yaml `tests_options: masakari:` (see `OPTIONS`); the MAAS endpoint from
`TEST_MAAS_URL` / `TEST_MAAS_API_KEY` (the same values the overlay gives hacluster), or from the
Juju model's MAAS cloud credential when those are unset.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import shlex
import time
from collections.abc import Mapping
from typing import Any

import openstack
import tenacity
import zaza
import zaza.global_options
import zaza.model

from .cloud import (
    Cloud,
    FenceEvent,
    PacemakerNode,
    Timers,
    options_value,
    parse_crm_nodes,
    parse_fence_history,
)
from .openstack_api import SdkOpenStackApi
from .scenarios import wait_until

OPTIONS = {
    "segment-name": "S1",  # the guide's segment
    "recovery-method": "auto",  # the segment's method after configure
    "reserved-host": None,  # a compute host name; default: the last in sorted order
    "instance-name": "masakari-failover-test",
    "image-name": "masakari-test-image",
    "flavor-name": "masakari-test",
    "volume-size": 2,  # GiB, boot volume of the protected instance
    "compute-app": "nova-compute",
    "masakari-app": "masakari",
    "monitors-app": "masakari-monitors",
    "hacluster-app": "hacluster",
    "keystone-app": "keystone",
    "fail-interface": None,  # default: the interface holding the unit's private address
    "timers": {},  # overrides of cloud.Timers fields (seconds)
}

# masakari charm option -> Timers field
MASAKARI_TIMERS = {
    "evacuation-delay": "evacuation_delay",
    "evacuation-timeout": "evacuation_timeout",
    "power-off-timeout": "power_off_timeout",
    "power-on-timeout": "power_on_timeout",
    "recovery-threads": "recovery_threads",
    "retry-interval": "retry_interval",
    "duplicate-notification-window": "duplicate_window",
}


class FunctionalConfigError(Exception):
    """A test option or variable is missing or wrong; the message names it and the fix."""


def test_options() -> dict[str, Any]:
    """tests.yaml `tests_options: masakari:` merged over the defaults."""
    given = zaza.global_options.get_option("masakari", default=None) or {}
    if not isinstance(given, Mapping):
        raise FunctionalConfigError("tests_options masakari must be a mapping of options")
    known = {key.replace("_", "-") for key in given}
    unknown = sorted(known - set(OPTIONS))
    if unknown:
        raise FunctionalConfigError(
            f"tests_options masakari: unknown option(s) {', '.join(unknown)}; known: "
            + ", ".join(sorted(OPTIONS))
        )
    return {key: options_value(given, key, default) for key, default in OPTIONS.items()}


def admin_connection(keystone_app: str = "keystone") -> Any:
    """openstacksdk as the cloud admin: from OS_* variables / OS_CLOUD when OS_AUTH_URL or
    OS_CLOUD is set (an operator's openrc), else from the keystone charm's leader data."""
    if os.environ.get("OS_AUTH_URL") or os.environ.get("OS_CLOUD"):
        return openstack.connect()
    config = zaza.model.get_application_config(keystone_app)
    vip = str(config.get("vip", {}).get("value") or "").split()
    host = vip[0] if vip else zaza.model.get_app_ips(keystone_app)[0]
    password = str(config.get("admin-password", {}).get("value") or "")
    if password in ("", "None"):  # the charm generated one and keeps it in leader data
        password = zaza.model.run_on_leader(keystone_app, "leader-get admin_passwd")[
            "Stdout"
        ].strip()
    if not password:
        raise FunctionalConfigError(
            f"cannot read the admin password from {keystone_app}'s leader; source an openrc "
            "(OS_AUTH_URL, OS_USERNAME, OS_PASSWORD, ...) instead"
        )
    ca = zaza.model.file_contents(
        zaza.model.get_lead_unit_name(keystone_app),
        "/usr/local/share/ca-certificates/keystone_juju_ca_cert.crt",
    )
    verify: bool | str = False
    protocol = "http"
    if ca.strip().startswith("-----BEGIN"):
        path = os.path.expanduser("~/.masakari-functional-ca.crt")
        with open(path, "w") as f:
            f.write(ca)
        verify, protocol = path, "https"
    return openstack.connect(
        auth_url=f"{protocol}://{host}:5000/v3",
        username="admin",
        password=password,
        project_name="admin",
        user_domain_name="admin_domain",
        project_domain_name="admin_domain",
        region_name=os.environ.get("OS_REGION_NAME", "RegionOne"),
        identity_api_version="3",
        verify=verify,
        interface="public",
    )


async def _maas_power_on(maas_url: str, api_key: str, hostname: str) -> str:
    import maas.client  # python-libmaas, a dependency of zaza

    client = await maas.client.connect(maas_url, apikey=api_key)
    machines = await client.machines.list(hostnames=[hostname.split(".")[0]])
    if len(machines) != 1:
        raise FunctionalConfigError(f"MAAS knows {len(machines)} machines called {hostname}")
    machine = machines[0]
    await machine.power_on(comment="masakari functional test: re-insert a fenced host")
    return machine.system_id


maas_power_on = zaza.sync_wrapper(_maas_power_on)


def maas_endpoint() -> tuple[str, str]:
    url, key = os.environ.get("TEST_MAAS_URL"), os.environ.get("TEST_MAAS_API_KEY")
    if url and key:
        return url, key
    cloud = zaza.model.get_cloud_data()
    if cloud.cloud.type_ != "maas":
        raise FunctionalConfigError(
            "powering a fenced host back on needs MAAS: set TEST_MAAS_URL and "
            "TEST_MAAS_API_KEY (as for hacluster's maas_url / maas_credentials)"
        )
    return cloud.cloud["endpoint"], cloud.credential["attrs"]["maas-oauth"]


def find_interface(address: str) -> str:
    """Shell that sets $iface to the interface holding `address` (shell-expanded), e.g. `eth0`
    or `br-ex`; a VLAN's `@parent` suffix is dropped."""
    return (
        f'addr="{address}"; iface=$(ip -o addr show | awk -v a="$addr" '
        '\'{split($4, p, "/"); if (p[1] == a) {sub(/@.*/, "", $2); print $2; exit}}\')'
    )


def host_names(nova_conf: str = "/etc/nova/nova.conf") -> str:
    """Shell printing every name a compute machine goes by, one a line: `hostname` (Nova's
    default `host`), `hostname -f`, and nova.conf's `[DEFAULT] host` when set (the last one)."""
    return (
        "hostname; hostname -f 2>/dev/null; "
        "awk -F= '/^[[:space:]]*\\[/ {d = ($0 ~ /^[[:space:]]*\\[DEFAULT\\]/); next} "
        "d && $1 ~ /^[[:space:]]*host[[:space:]]*$/ {v = $2} "
        'END {gsub(/^[[:space:]]+|[[:space:]]+$/, "", v); if (v != "") print v}\' '
        f"{nova_conf} 2>/dev/null; true"
    )


class JujuCloud(Cloud):
    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.options = dict(options or test_options())
        self.compute_app = self.options["compute-app"]
        self.hacluster_app = self.options["hacluster-app"]
        self._api = SdkOpenStackApi(admin_connection(self.options["keystone-app"]))
        self._units: dict[str, str] = {}

    @property
    def api(self) -> SdkOpenStackApi:
        return self._api

    # ------------------------------------------------------------------ juju exec
    def run(self, unit: str, command: str, timeout: float = 120) -> str:
        result = zaza.model.run_on_unit(unit, command, timeout=timeout)
        if str(result.get("Code", "0")) != "0":
            raise RuntimeError(
                f"{unit}: `{command}` exited {result.get('Code')}: {result.get('Stderr', '')}"
            )
        return result.get("Stdout", "")

    def unit_for(self, host: str) -> str:
        """The nova-compute unit whose machine is called `host`: the name Nova registers
        (nova.conf `host`, else the bare host name), the short name or the FQDN."""
        if host not in self._units:
            for unit in zaza.model.get_units(self.compute_app):
                names = self.run(unit.entity_id, host_names()).split()
                for name in names:
                    self._units[name] = unit.entity_id
        if host not in self._units:
            raise FunctionalConfigError(
                f"no {self.compute_app} unit runs on {host}; known: {', '.join(self._units)}"
            )
        return self._units[host]

    # ------------------------------------------------------------------ Cloud
    def compute_hosts(self) -> list[str]:
        return sorted(s["host"] for s in self.api.compute_services())

    def timers(self) -> Timers:
        values: dict[str, Any] = {}
        config = zaza.model.get_application_config(self.options["masakari-app"])
        for option, field in MASAKARI_TIMERS.items():
            if option in config and config[option].get("value") is not None:
                values[field] = config[option]["value"]
        monitors = zaza.model.get_application_config(self.options["monitors-app"])
        interval = monitors.get("host-monitoring-interval", {}).get("value")
        if interval is not None:
            samples = monitors.get("host-monitoring-samples", {}).get("value") or 1
            values["host_monitor_interval"] = interval * samples
        overrides = dict(self.options["timers"] or {})
        unknown = set(overrides) - {f.name for f in dataclasses.fields(Timers)}
        if unknown:
            raise FunctionalConfigError(
                f"tests_options masakari.timers: unknown timer(s) {', '.join(sorted(unknown))}"
            )
        values.update(overrides)
        return Timers(**values)

    def fail_host(self, host: str) -> str:
        iface = self.options["fail-interface"]
        find = (
            f"iface={shlex.quote(iface)}"
            if iface
            else find_interface("$(unit-get private-address)")
        )
        # Detach, so `juju exec` returns before the link (and the agent's connection) drops.
        command = (
            f'{find}; [ -n "$iface" ] || {{ echo "no interface found" >&2; exit 1; }}; '
            'nohup sh -c "sleep 3; ip link set $iface down" >/dev/null 2>&1 & echo "$iface"'
        )
        iface_down = self.run(self.unit_for(host), command).strip()
        self.log(f"{host}: ip link set {iface_down} down")
        return f"ip link set {iface_down} down on {host} (3 s later, detached)"

    def restore_host(self, host: str) -> None:
        unit = self.unit_for(host)
        url, key = maas_endpoint()
        maas_power_on(url, key, host)
        timers = self.timers()
        deadline = time.monotonic() + timers.rejoin_budget()

        @tenacity.retry(
            wait=tenacity.wait_fixed(15),
            stop=tenacity.stop_after_delay(timers.host_boot_timeout),
            reraise=True,
        )
        def agent_back() -> None:
            self.run(unit, "true", timeout=30)

        agent_back()
        # As an operator does after a fence: forget the remote node's failed connection.
        self.run_on_cluster(f"crm_resource --cleanup --resource {shlex.quote(host)}")

        def online() -> bool:
            node = self.pacemaker_nodes().get(host)
            return bool(node and node.online and not node.unclean)

        wait_until(
            self,
            f"{host} powered on and online in Pacemaker",
            online,
            deadline - time.monotonic(),
            interval=10,
        )

    def instance_process(self, server_id: str, host: str) -> int | None:
        out = zaza.model.run_on_unit(
            self.unit_for(host), f"pgrep -u libvirt-qemu -f -- {shlex.quote(server_id)}"
        ).get("Stdout", "")
        pids = [int(word) for word in out.split()]
        return pids[0] if pids else None

    def kill_instance_process(self, server_id: str, host: str) -> int:
        pid = self.instance_process(server_id, host)
        if pid is None:
            raise AssertionError(f"no qemu process for {server_id} on {host}")
        self.run(self.unit_for(host), f"kill -9 {pid}")
        return pid

    def run_on_cluster(self, command: str) -> str:
        """Run on the first hacluster unit that answers: in the guide's layout one of them
        sits in a container on the hypervisor a scenario has just cut off."""
        errors = []
        for unit in zaza.model.get_units(self.hacluster_app):
            try:
                return self.run(unit.entity_id, command, timeout=60)
            except Exception as error:  # a lost unit times out: try the next one
                errors.append(f"{unit.entity_id}: {error}")
        raise RuntimeError(f"no {self.hacluster_app} unit ran `{command}`: " + "; ".join(errors))

    def fencing_history(self, host: str) -> list[FenceEvent]:
        xml_text = self.run_on_cluster(
            f"stonith_admin --history {shlex.quote(host)} --output-as=xml"
        )
        return parse_fence_history(xml_text)

    def pacemaker_nodes(self) -> dict[str, PacemakerNode]:
        return parse_crm_nodes(self.run_on_cluster("crm_mon -1 --output-as=xml"))

    def ensure_instance(self, name: str, host: str) -> str:
        conn = self.api.conn
        existing = conn.compute.find_server(name, ignore_missing=True)
        if existing is not None:
            return existing.id
        image = conn.image.find_image(self.options["image-name"], ignore_missing=False)
        flavor = conn.compute.find_flavor(self.options["flavor-name"], ignore_missing=False)
        server = conn.compute.create_server(
            name=name,
            flavor_id=flavor.id,
            networks="none",
            metadata={"HA_Enabled": "True"},
            availability_zone=f"nova:{host}",
            block_device_mapping=[
                {
                    "boot_index": 0,
                    "uuid": image.id,
                    "source_type": "image",
                    "destination_type": "volume",
                    "volume_size": int(self.options["volume-size"]),
                    "delete_on_termination": True,
                }
            ],
        )
        conn.compute.wait_for_server(server, status="ACTIVE", wait=600)
        return server.id

    def delete_instance(self, name: str) -> None:
        conn = self.api.conn
        server = conn.compute.find_server(name, ignore_missing=True)
        if server is not None:
            conn.compute.delete_server(server)
            conn.compute.wait_for_delete(server, wait=300)

    def now(self) -> datetime.datetime:
        return datetime.datetime.now(datetime.timezone.utc)
