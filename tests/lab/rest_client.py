"""A small client for the lab's cloud: one keystone session, REST calls through the catalog.

Used for setup and for fast polling (each `openstack` CLI call costs 1.5-3 s of start-up, so the
lab keeps the CLI for what a person would type and polls through this session).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from . import settings, vault
from .procs import LabError, wait_for

NOVA_VERSION = "2.53"  # service ids are UUIDs; forced_down/status in one PUT


class RestClient:
    def __init__(
        self,
        password: str,
        username: str = settings.ADMIN_USER,
        project: str = "admin",
        domain: str = "Default",
    ) -> None:
        auth = v3.Password(
            auth_url=settings.KEYSTONE_URL,
            username=username,
            password=password,
            project_name=project,
            user_domain_name=domain,
            project_domain_name=domain,
        )
        # The Masakari API is https with the lab vault's certificate (keystone stays http).
        self.session = ks_session.Session(auth=auth, verify=str(vault.lab_ca()))

    # ------------------------------------------------------------------ raw calls
    def call(
        self,
        service: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        ok: tuple[int, ...] = (200, 201, 202, 204),
        headers: dict | None = None,
        data: bytes | None = None,
    ) -> Any:
        filt = {"service_type": service, "interface": "public", "region_name": settings.REGION}
        if service == "identity":
            filt = {"service_type": "identity", "interface": "public"}
        hdrs = dict(headers or {})
        if service == "compute":
            hdrs.setdefault("OpenStack-API-Version", f"compute {NOVA_VERSION}")
        try:
            resp = self.session.request(
                path,
                method,
                endpoint_filter=filt,
                json=json,
                headers=hdrs,
                data=data,
                raise_exc=False,
                connect_retries=3,  # a keep-alive connection closed by the server as we reuse it
            )
        except ks_exceptions.ConnectionError as error:
            # Refused, reset or a TLS handshake cut short: the service restarting (apache with a
            # renewed certificate), which a wait treats like any other LabError ("not yet").
            raise LabError(f"{service} {method} {path}: {type(error).__name__}: {error}") from None
        if resp.status_code not in ok:
            raise LabError(
                f"{service} {method} {path} -> HTTP {resp.status_code}: {resp.text[:400]}"
            )
        if resp.status_code == 204 or not resp.content:
            return None
        try:
            return resp.json()
        except ValueError:
            return resp.text

    # ------------------------------------------------------------------ keystone
    def find(self, kind: str, name: str, **query: str) -> dict | None:
        params = "&".join(f"{k}={v}" for k, v in {"name": name, **query}.items())
        items = self.call("identity", "GET", f"/{kind}?{params}")[kind]
        return items[0] if items else None

    def ensure(self, kind: str, body: dict, **query: str) -> dict:
        found = self.find(kind, body["name"], **query)
        if found:
            return found
        singular = kind[:-1]
        return self.call("identity", "POST", f"/{kind}", json={singular: body})[singular]

    def ensure_user(
        self, name: str, password: str, domain_id: str, project_id: str, role: str = "admin"
    ) -> dict:
        user = self.find("users", name, domain_id=domain_id)
        if user is None:
            user = self.call(
                "identity",
                "POST",
                "/users",
                json={"user": {"name": name, "password": password, "domain_id": domain_id}},
            )["user"]
        else:  # keep the password the lab last handed out
            self.call(
                "identity", "PATCH", f"/users/{user['id']}", json={"user": {"password": password}}
            )
        role_id = self.find("roles", role)["id"]
        self.call("identity", "PUT", f"/projects/{project_id}/users/{user['id']}/roles/{role_id}")
        return user

    def ensure_service(
        self,
        name: str,
        service_type: str,
        url: str,
        region: str = settings.REGION,
        urls: dict[str, str] | None = None,
    ) -> None:
        """Service plus public/internal/admin endpoints; endpoints are replaced if they moved."""
        services = self.call("identity", "GET", f"/services?type={service_type}")["services"]
        service = next((s for s in services if s["name"] == name), None)
        if service is None:
            service = self.call(
                "identity",
                "POST",
                "/services",
                json={"service": {"name": name, "type": service_type, "enabled": True}},
            )["service"]
        existing = self.call("identity", "GET", f"/endpoints?service_id={service['id']}")[
            "endpoints"
        ]
        urls = urls or {iface: url for iface in ("public", "internal", "admin")}
        for interface, want in urls.items():
            matches = [e for e in existing if e["interface"] == interface]
            if any(e["url"] == want and e["region_id"] == region for e in matches):
                continue
            for endpoint in matches:
                self.call("identity", "DELETE", f"/endpoints/{endpoint['id']}")
            self.call(
                "identity",
                "POST",
                "/endpoints",
                json={
                    "endpoint": {
                        "service_id": service["id"],
                        "interface": interface,
                        "url": want,
                        "region_id": region,
                    }
                },
            )

    # ------------------------------------------------------------------ nova
    def compute_services(self) -> list[dict]:
        return self.call("compute", "GET", "/os-services?binary=nova-compute")["services"]

    def compute_service(self, host: str) -> dict:
        for service in self.compute_services():
            if service["host"] == host:
                return service
        raise LabError(f"nova has no nova-compute service on {host}")

    def set_compute_service(self, host: str, **changes: Any) -> dict:
        """changes: status='enabled'|'disabled', disabled_reason=..., forced_down=bool."""
        service = self.compute_service(host)
        return self.call("compute", "PUT", f"/os-services/{service['id']}", json=changes)[
            "service"
        ]

    def hypervisors(self) -> list[dict]:
        return self.call("compute", "GET", "/os-hypervisors")["hypervisors"]

    def servers(self, **query: str) -> list[dict]:
        params = "&".join(f"{k}={v}" for k, v in {"all_tenants": "1", **query}.items())
        return self.call("compute", "GET", f"/servers/detail?{params}")["servers"]

    def servers_by_id(self, ids: Iterable[str]) -> dict[str, dict]:
        """The servers `ids` (those that exist) by id, from one `GET /servers/detail` across
        projects: a poll of N servers is one API call, not N, so watching 50 evacuations does
        not load the control plane that runs them (Nova's page limit, 1000, is never reached in
        the lab)."""
        wanted = set(ids)
        return {s["id"]: s for s in self.servers() if s["id"] in wanted}

    def server(self, server_id: str) -> dict:
        return self.call("compute", "GET", f"/servers/{server_id}")["server"]

    def server_actions(self, server_id: str) -> list[str]:
        actions = self.call("compute", "GET", f"/servers/{server_id}/os-instance-actions")
        # Nova lists newest first and start_time has whole seconds: reversing first keeps a
        # stop and start within one second in the order they happened (sorted() is stable).
        oldest_first = list(reversed(actions["instanceActions"]))
        return [a["action"] for a in sorted(oldest_first, key=lambda a: a["start_time"])]

    def create_servers(
        self,
        name: str,
        count: int,
        *,
        host: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> list[str]:
        body: dict[str, Any] = {
            "name": name,
            "flavorRef": self.flavor_id(),
            "imageRef": self.image_id(),
            "networks": "none",
            "min_count": count,
            "max_count": count,
            "metadata": metadata or {},
            "return_reservation_id": True,
        }
        if host:
            body["availability_zone"] = f"nova:{host}"
        reservation = self.call("compute", "POST", "/servers", json={"server": body})[
            "reservation_id"
        ]
        servers = self.servers(reservation_id=reservation)
        return [s["id"] for s in servers]

    def flavor_id(self) -> str:
        from .guests import FLAVOR

        for flavor in self.call("compute", "GET", "/flavors")["flavors"]:
            if flavor["name"] == FLAVOR["name"]:
                return flavor["id"]
        raise LabError(f"flavor {FLAVOR['name']} is missing; run `python -m tests.lab up`")

    def image_id(self) -> str:
        from .guests import IMAGE

        images = self.call("image", "GET", f"/v2/images?name={IMAGE}")["images"]
        if not images:
            raise LabError(f"image {IMAGE} is missing; run `python -m tests.lab up`")
        return images[0]["id"]

    def delete_all_servers(self, timeout: float = 120) -> None:
        for server in self.servers():
            self.call("compute", "DELETE", f"/servers/{server['id']}", ok=(204, 404))
        wait_for(
            "all servers deleted",
            lambda: not self.servers(),
            timeout=timeout,
            interval=0.25,
            ignore=(LabError,),
        )

    # ------------------------------------------------------------------ masakari
    def ha(self, method: str, path: str, json: Any = None, ok=(200, 201, 202, 204)) -> Any:
        return self.call(
            "instance-ha",
            method,
            path,
            json=json,
            ok=ok,
            headers={"OpenStack-API-Version": "instance-ha 1.0"},
        )

    def segments(self) -> list[dict]:
        return self.ha("GET", "/segments")["segments"]

    def segment_hosts(self, segment_id: str) -> list[dict]:
        return self.ha("GET", f"/segments/{segment_id}/hosts")["hosts"]

    def delete_all_segments(self) -> None:
        for segment in self.segments():
            for host in self.segment_hosts(segment["uuid"]):
                self.ha("DELETE", f"/segments/{segment['uuid']}/hosts/{host['uuid']}")
            self.ha("DELETE", f"/segments/{segment['uuid']}")

    def notify(self, kind: str, hostname: str, payload: dict) -> dict:
        now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
        body = {
            "notification": {
                "type": kind,
                "hostname": hostname,
                "generated_time": now.isoformat(timespec="microseconds"),
                "payload": payload,
            }
        }
        return self.ha("POST", "/notifications", json=body)["notification"]

    def notification(self, uuid: str) -> dict:
        return self.ha("GET", f"/notifications/{uuid}")["notification"]
