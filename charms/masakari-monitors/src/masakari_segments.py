"""This hypervisor in its Masakari segment, and its nova-compute service, through the APIs.

Run by the masakari-monitors charm with the machine's /usr/bin/python3, which has openstacksdk
and keystoneauth1 (masakari-monitors depends on them; the charm's own venv has neither), from
the charm's directory. It authenticates with the `[api]` section of the charm-rendered
masakarimonitors.conf (the monitors' Keystone user, admin in Masakari's and Nova's policy), so
no secret is ever on a command line; finds Nova and Masakari (`instance-ha`) in the catalog of
`[api] region` at `[api] api_interface`.

Every command takes `--host`, the name Nova registers (the segment host's name), prints one
JSON object on stdout and exits 0; it exits 1 with one line on stderr when an API fails, 3 when
it refuses (the line says why and what to do). Commands:
- `register --segment S --recovery-method M`: put the host in segment S (created with type
  COMPUTE and method M when missing); never moves a host from another segment.
  {"result": "added" | "present" | "elsewhere", "segment", "segment_uuid", "host_uuid",
  "created_segment", "reserved", "on_maintenance"} ("segment" is where the host is).
- `unregister --segment-uuid U --host-uuid H`: delete that host record (the one the charm
  added), {"result": "removed" | "absent"}.
- `set-reserved --reserved true|false`, `maintenance --on true|false`, `reinsert`: the actions;
  {"host", "segment" (absent when the host is in none), "steps": {step: what was done}}.
"""

from __future__ import annotations

import argparse
import configparser
import json
import sys
import time
from typing import Any
from urllib.parse import quote, urlencode

RECOVERY_METHODS = ("auto", "reserved_host", "auto_priority", "rh_priority")
NOVA_MICROVERSION = "2.53"  # service ids are UUIDs; status, disabled_reason, forced_down in a PUT
TIMEOUT = 30.0  # seconds, per API call
HEARTBEAT_WAIT = 25.0  # seconds: two of nova-compute's report_interval (10 s) and a margin
RESERVED_REASON = "Masakari reserved host (masakari-monitors set-reserved)"
MAINTENANCE_REASON = "Masakari maintenance (masakari-monitors maintenance)"


class ApiError(RuntimeError):
    """An API call failed; the message names the call and the API's own message."""


class Refused(RuntimeError):
    """The command will not act now; the message says why and what to do."""


def read_api(conf_path: str) -> dict[str, str]:
    """The `[api]` options of masakarimonitors.conf, oslo's `$$` read back as `$`."""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    if not parser.read(conf_path) or not parser.has_section("api"):
        raise ApiError(f"cannot read [api] from {conf_path}")
    return {key: value.replace("$$", "$") for key, value in parser["api"].items()}


def connect(api: dict[str, str]) -> Any:
    """An openstack.connection.Connection for the monitors' user (keystoneauth password auth)."""
    import openstack.connection
    from keystoneauth1 import session
    from keystoneauth1.identity import v3

    auth = v3.Password(
        auth_url=api["auth_url"],
        username=api["username"],
        password=api["password"],
        project_name=api.get("project_name"),
        user_domain_name=api.get("user_domain_name", "Default"),
        project_domain_name=api.get("project_domain_name", "Default"),
    )
    verify: str | bool = api.get("cafile") or True
    return openstack.connection.Connection(
        session=session.Session(auth=auth, verify=verify, timeout=TIMEOUT),
        region_name=api.get("region"),
        interface=api.get("api_interface", "public"),
    )


class Cloud:
    """Plain REST through the SDK's service proxies: the APIs' own fields, any SDK release."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def call(self, service: str, method: str, path: str, body: dict | None = None) -> Any:
        proxy, extra = (
            (self.conn.compute, {"microversion": NOVA_MICROVERSION})
            if service == "nova" else (self.conn.instance_ha, {})
        )  # fmt: skip
        response = proxy.request(path, method, json=body, raise_exc=False, **extra)
        if response.status_code >= 400:
            raise ApiError(f"{service} {method} {path}: HTTP {response.status_code} "
                           f"{_message(response)}")  # fmt: skip
        return response.json() if response.content else {}

    # Nova -------------------------------------------------------------------------------------

    def compute_services(self, host: str) -> list[dict]:
        query = urlencode({"binary": "nova-compute", "host": host})
        found = self.call("nova", "GET", f"/os-services?{query}")["services"]
        found = [s for s in found if s.get("host") == host]
        if not found:
            raise Refused(f"Nova has no nova-compute service on host {host}")
        return found

    def update_services(self, services: list[dict], wanted: dict) -> bool:
        """Apply `wanted` to each service that differs; True when any changed."""
        changed = False
        for service in services:
            if any(service.get(k) != v for k, v in wanted.items() if k != "disabled_reason"):
                self.call("nova", "PUT", f"/os-services/{quote(str(service['id']))}", wanted)
                changed = True
        return changed

    def set_enabled(self, services: list[dict], enabled: bool, reason: str) -> str:
        """Enable or disable nova-compute; what was done, for the results."""
        if enabled:
            done = self.update_services(services, {"status": "enabled"})
            return "enabled" if done else "already enabled"
        done = self.update_services(services, {"status": "disabled", "disabled_reason": reason})
        return "disabled" if done else "already disabled"

    # Masakari ---------------------------------------------------------------------------------

    def segments(self) -> list[dict]:
        return self.call("masakari", "GET", "/segments")["segments"]

    def hosts(self, segment_uuid: str) -> list[dict]:
        return self.call("masakari", "GET", f"/segments/{segment_uuid}/hosts")["hosts"]

    def find_host(self, name: str) -> tuple[dict, dict] | None:
        """(segment, host) holding the host `name` (Masakari allows one), or None."""
        for segment in self.segments():
            for host in self.hosts(segment["uuid"]):
                if host["name"] == name:
                    return segment, host
        return None

    def segment_named(self, name: str) -> dict | None:
        return next((s for s in self.segments() if s["name"] == name), None)

    def create_segment(self, name: str, method: str) -> tuple[dict, bool]:
        """(the segment, whether this call created it): another unit may have at the same
        moment (Masakari refuses a second segment of that name)."""
        body = {"segment": {"name": name, "recovery_method": method, "service_type": "COMPUTE"}}
        try:
            return self.call("masakari", "POST", "/segments", body)["segment"], True
        except ApiError:
            found = self.segment_named(name)
            if found is None:
                raise
            return found, False

    def update_host(self, segment: dict, host: dict, **changes: bool) -> None:
        path = f"/segments/{segment['uuid']}/hosts/{host['uuid']}"
        self.call("masakari", "PUT", path, {"host": changes})


def _message(response: Any) -> str:
    """The API's own error message (Nova and Masakari: {"<kind>": {"message": ...}})."""
    try:
        body = response.json()
    except ValueError:
        return response.reason or ""
    for value in body.values() if isinstance(body, dict) else ():
        if isinstance(value, dict) and value.get("message"):
            return str(value["message"])[:300]
    return response.reason or ""


def _member(segment: dict, host: dict) -> dict:
    return {
        "segment": segment["name"], "segment_uuid": segment["uuid"], "host_uuid": host["uuid"],
        "reserved": bool(host.get("reserved")), "on_maintenance": bool(host.get("on_maintenance")),
    }  # fmt: skip


# Commands -------------------------------------------------------------------------------------


def register(cloud: Cloud, host: str, segment: str, method: str) -> dict:
    """Put `host` in `segment`, creating it when missing; never move it from another one."""
    found = cloud.find_host(host)
    if found:
        where, record = found
        result = "present" if where["name"] == segment else "elsewhere"
        return {"result": result, "created_segment": False, **_member(where, record)}
    target, created = cloud.segment_named(segment), False
    if target is None:
        target, created = cloud.create_segment(segment, method)
    body = {"host": {"name": host, "type": "COMPUTE", "control_attributes": "SSH"}}
    record = cloud.call("masakari", "POST", f"/segments/{target['uuid']}/hosts", body)["host"]
    return {"result": "added", "created_segment": created, **_member(target, record)}


def unregister(cloud: Cloud, segment_uuid: str, host_uuid: str) -> dict:
    try:
        cloud.call("masakari", "DELETE", f"/segments/{segment_uuid}/hosts/{host_uuid}")
    except ApiError as error:
        if ": HTTP 404 " not in f"{error} ":
            raise
        return {"result": "absent"}
    return {"result": "removed"}


def _in_segment(cloud: Cloud, host: str) -> tuple[dict, dict]:
    found = cloud.find_host(host)
    if found is None:
        raise Refused(
            f"{host} is in no Masakari segment: set the charm's segment-name, or "
            f"openstack segment host create {host} COMPUTE SSH <segment>"
        )
    return found


def set_reserved(cloud: Cloud, host: str, reserved: bool) -> dict:
    """Reserved: nova-compute disabled first (nothing new lands), then the flag; else the
    reverse, leaving nova-compute disabled while the host is on maintenance."""
    segment, record = _in_segment(cloud, host)
    services = cloud.compute_services(host)
    steps = {}
    if reserved:
        steps["nova-compute"] = cloud.set_enabled(services, False, RESERVED_REASON)
    if bool(record.get("reserved")) != reserved:
        cloud.update_host(segment, record, reserved=reserved)
        steps["reserved"] = "set" if reserved else "cleared"
    else:
        steps["reserved"] = "already set" if reserved else "was not set"
    if not reserved:
        steps["nova-compute"] = (
            "left disabled: the host is on maintenance (run the reinsert action)"
            if record.get("on_maintenance") else cloud.set_enabled(services, True, "")
        )  # fmt: skip
    return {"host": host, "segment": segment["name"], "steps": steps}


def maintenance(cloud: Cloud, host: str, on: bool) -> dict:
    """On: Masakari ignores the host's notifications first, then nova-compute is disabled.
    Off: nova-compute enabled (not for a reserved host), then on_maintenance cleared; a
    forced-down service (the host was fenced meanwhile) is left to reinsert, which checks that
    nova-compute runs again."""
    segment, record = _in_segment(cloud, host)
    services = cloud.compute_services(host)
    steps = {}
    if not on:
        steps["nova-compute"] = (
            "left disabled: reserved host" if record.get("reserved")
            else cloud.set_enabled(services, True, "")
        )  # fmt: skip
    if bool(record.get("on_maintenance")) != on:
        cloud.update_host(segment, record, on_maintenance=on)
        steps["on-maintenance"] = "set" if on else "cleared"
    else:
        steps["on-maintenance"] = "already set" if on else "was not set"
    if on:
        steps["nova-compute"] = cloud.set_enabled(services, False, MAINTENANCE_REASON)
    elif any(s.get("forced_down") for s in services):
        steps["forced-down"] = "still set (the host was fenced): run the reinsert action"
    return {"host": host, "segment": segment["name"], "steps": steps}


def compute_alive(cloud: Cloud, host: str, wait: float, poll: float = 2.0) -> list[dict]:
    """The host's nova-compute services once Nova shows them reporting; else Refused.

    Nova shows a forced-down service `down` whatever it does, so for one the heartbeat is
    watched instead: nova-compute updates its service record every report_interval (10 s), so
    a changed `updated_at` within `wait` seconds proves it runs, without comparing clocks.
    """
    services = cloud.compute_services(host)
    deadline = time.monotonic() + wait
    first = {s["id"]: s.get("updated_at") for s in services}
    while True:
        silent = [
            s for s in services
            if s.get("state") != "up"
            and not (s.get("forced_down") and s.get("updated_at") != first[s["id"]])
        ]  # fmt: skip
        if not silent:
            return services
        stuck = silent[0]
        if not stuck.get("forced_down") or time.monotonic() >= deadline:
            raise Refused(
                f"nova-compute on {host} is not up in Nova (state {stuck.get('state')}, last "
                f"report {stuck.get('updated_at')}): start nova-compute and wait until "
                "`openstack compute service list` shows it up"
                + (" (it is forced down: its reports are watched)" if stuck.get("forced_down")
                   else "")
            )  # fmt: skip
        time.sleep(poll)
        services = cloud.compute_services(host)


def reinsert(cloud: Cloud, host: str, wait: float = HEARTBEAT_WAIT) -> dict:
    """After a repair: forced-down cleared, nova-compute enabled, on_maintenance cleared."""
    services = compute_alive(cloud, host, wait)
    found = cloud.find_host(host)
    segment, record = found if found else (None, {})
    steps = {}
    done = cloud.update_services(services, {"forced_down": False})
    steps["forced-down"] = "cleared" if done else "was not set"
    steps["nova-compute"] = (
        "left disabled: reserved host" if record.get("reserved")
        else cloud.set_enabled(services, True, "")
    )  # fmt: skip
    if segment is None:
        steps["on-maintenance"] = "not in a segment"
    elif record.get("on_maintenance"):
        cloud.update_host(segment, record, on_maintenance=False)
        steps["on-maintenance"] = "cleared"
    else:
        steps["on-maintenance"] = "was not set"
    return {"host": host, "steps": steps, **({"segment": segment["name"]} if segment else {})}


def _bool(value: str) -> bool:
    if value.lower() not in ("true", "false"):
        raise argparse.ArgumentTypeError("true or false")
    return value.lower() == "true"


def main(argv: list[str] | None = None, cloud: Cloud | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config-file", default="/etc/masakarimonitors/masakarimonitors.conf")
    parser.add_argument("--host", required=True, help="the name Nova registers")
    commands = parser.add_subparsers(dest="command", required=True)
    adding = commands.add_parser("register")
    adding.add_argument("--segment", required=True)
    adding.add_argument("--recovery-method", choices=RECOVERY_METHODS, default="auto")
    removing = commands.add_parser("unregister")
    removing.add_argument("--segment-uuid", required=True)
    removing.add_argument("--host-uuid", required=True)
    commands.add_parser("set-reserved").add_argument("--reserved", type=_bool, required=True)
    commands.add_parser("maintenance").add_argument("--on", type=_bool, required=True)
    commands.add_parser("reinsert").add_argument("--heartbeat-wait", type=float,
                                                 default=HEARTBEAT_WAIT)  # fmt: skip
    args = parser.parse_args(argv)
    secret = ""
    try:
        if cloud is None:
            api = read_api(args.config_file)
            secret = api.get("password", "")
            cloud = Cloud(connect(api))
        if args.command == "register":
            result = register(cloud, args.host, args.segment, args.recovery_method)
        elif args.command == "unregister":
            result = unregister(cloud, args.segment_uuid, args.host_uuid)
        elif args.command == "set-reserved":
            result = set_reserved(cloud, args.host, args.reserved)
        elif args.command == "maintenance":
            result = maintenance(cloud, args.host, args.on)
        else:
            result = reinsert(cloud, args.host, args.heartbeat_wait)
    except Refused as refused:
        print(str(refused), file=sys.stderr)
        return 3
    except Exception as error:  # noqa: BLE001 - keystoneauth, requests and the APIs fail many ways
        line = " ".join(f"{type(error).__name__}: {error}".split())
        print(line.replace(secret, "***") if secret else line, file=sys.stderr)
        return 1
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
