"""A loopback stand-in for Keystone v3, Nova os-services and Masakari notifications, segments
and segment hosts.

Real keystoneauth/openstacksdk clients talk to it over HTTP, so URLs, headers (microversions),
bodies and status handling are exercised for real; only the services are fake.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class OpenStackStub:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.requests: list[dict] = []  # method, path, query, headers, body, at, wall, client
        self.services = {  # nova-compute services by host
            "rem1": {
                "id": str(uuid.uuid4()),
                "host": "rem1",
                "binary": "nova-compute",
                "forced_down": False,
                "state": "up",
                "status": "enabled",
                "disabled_reason": None,
                "updated_at": "2020-01-01T00:00:00.000000",
            },
        }
        # Masakari's segments and hosts by uuid; a host's `failover_segment_id` is its segment's.
        self.segments: dict[str, dict] = {}
        self.hosts: dict[str, dict] = {}
        self.segments_in_recovery: set[str] = set()  # their hosts answer 409 HostInUse
        # Hosts whose nova-compute reports: updated_at moves on at every read of os-services.
        self.heartbeat: set[str] = {"rem1"}
        self.notification_status = 202  # or e.g. 409, 500
        self.notification_delay = 0.0
        self.nova_status = 200
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer((host, port), self._handler())
        self.url = f"http://{host}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> OpenStackStub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def calls(self, method: str, prefix: str) -> list[dict]:
        with self.lock:
            return [
                r for r in self.requests if r["method"] == method and r["path"].startswith(prefix)
            ]

    def _catalog(self) -> list[dict]:
        def entry(stype: str, path: str) -> dict:
            return {
                "type": stype,
                "name": stype,
                "id": stype,
                "endpoints": [
                    {
                        "id": f"{stype}-{i}",
                        "interface": i,
                        "region": "RegionOne",
                        "region_id": "RegionOne",
                        "url": f"{self.url}{path}",
                    }
                    for i in ("public", "internal", "admin")
                ],
            }

        return [
            entry("identity", "/v3"),
            entry("compute", "/compute/v2.1"),
            entry("instance-ha", "/instance-ha/v1"),
        ]

    def add_service(self, host: str, **fields) -> dict:
        """A nova-compute service on `host` (up, enabled, reporting unless told otherwise)."""
        service = {
            "id": str(uuid.uuid4()), "host": host, "binary": "nova-compute",
            "forced_down": False, "state": "up", "status": "enabled", "disabled_reason": None,
            "updated_at": "2020-01-01T00:00:00.000000", **fields,
        }  # fmt: skip
        self.services[host] = service
        self.heartbeat.add(host)
        return service

    def add_segment(self, name: str, recovery_method: str = "auto") -> dict:
        segment = {
            "uuid": str(uuid.uuid4()), "name": name, "recovery_method": recovery_method,
            "service_type": "COMPUTE", "description": None, "enabled": True,
        }  # fmt: skip
        self.segments[segment["uuid"]] = segment
        return segment

    def add_host(self, segment: dict, name: str, **flags) -> dict:
        host = {
            "uuid": str(uuid.uuid4()), "name": name, "type": "COMPUTE",
            "control_attributes": "SSH", "reserved": False, "on_maintenance": False,
            "failover_segment_id": segment["uuid"], **flags,
        }  # fmt: skip
        self.hosts[host["uuid"]] = host
        return host

    def host_named(self, name: str) -> dict | None:
        return next((h for h in self.hosts.values() if h["name"] == name), None)

    def _beat(self) -> None:
        for service in self.services.values():
            if service["host"] in self.heartbeat:
                seconds = int(service["updated_at"][17:19]) + 1
                service["updated_at"] = f"2020-01-01T00:00:{seconds % 60:02d}.000000"

    def _masakari(self, method: str, path: str, body: dict | None) -> tuple[int, dict | None]:
        """/instance-ha/v1/segments[/<uuid>[/hosts[/<uuid>]]] as Masakari answers them."""
        parts = path.removeprefix("/instance-ha/v1/").strip("/").split("/")
        segment = self.segments.get(parts[1]) if len(parts) > 1 else None
        if len(parts) > 1 and segment is None:
            return 404, {"itemNotFound": {"code": 404, "message": f"segment {parts[1]} not found"}}
        if len(parts) == 1:
            if method == "GET":
                return 200, {"segments": list(self.segments.values())}
            wanted = body["segment"]
            if any(s["name"] == wanted["name"] for s in self.segments.values()):
                return 409, {"conflictingRequest": {"code": 409, "message": "segment exists"}}
            return 200, {"segment": self.add_segment(wanted["name"], wanted["recovery_method"])}
        if len(parts) == 3 and method == "GET":
            found = [h for h in self.hosts.values() if h["failover_segment_id"] == segment["uuid"]]
            return 200, {"hosts": found}
        if len(parts) == 3 and method == "POST":
            wanted = body["host"]
            if wanted["name"] not in self.services:
                message = f"Compute service with name {wanted['name']} could not be found."
                return 400, {"badRequest": {"code": 400, "message": message}}
            if self.host_named(wanted["name"]):
                return 409, {"conflictingRequest": {"code": 409, "message": "host exists"}}
            flags = {k: wanted[k] for k in ("reserved", "on_maintenance") if k in wanted}
            return 200, {"host": self.add_host(segment, wanted["name"], **flags)}
        host = self.hosts.get(parts[3]) if len(parts) == 4 else None
        if host is None or host["failover_segment_id"] != segment["uuid"]:
            return 404, {"itemNotFound": {"code": 404, "message": "host not found"}}
        if method != "GET" and segment["uuid"] in self.segments_in_recovery:
            message = f"Host {host['uuid']} can't be updated as it is in-use"
            return 409, {"conflictingRequest": {"code": 409, "message": message}}
        if method == "PUT":
            host.update(body["host"])
        elif method == "DELETE":
            del self.hosts[host["uuid"]]
            return 204, None
        return 200, {"host": host}

    def _handler(self):
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _reply(self, code: int, body: dict | None = None, headers: dict | None = None):
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _record(self) -> tuple[str, dict, dict | None]:
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                with stub.lock:
                    stub.requests.append(
                        {
                            "method": self.command,
                            "path": url.path,
                            "query": parse_qs(url.query),
                            "headers": dict(self.headers),
                            "body": body,
                            "at": time.monotonic(),
                            "wall": time.time(),
                            "client": self.client_address[0],
                        }
                    )
                return url.path, parse_qs(url.query), body

            def do_GET(self) -> None:
                path, query, _ = self._record()
                if path.rstrip("/") == "/v3":
                    return self._reply(
                        200,
                        {
                            "version": {
                                "id": "v3.14",
                                "status": "stable",
                                "updated": "2020-01-01T00:00:00Z",
                                "links": [{"rel": "self", "href": f"{stub.url}/v3/"}],
                                "media-types": [],
                            }
                        },
                    )
                if path == "/compute/v2.1/os-services":
                    if stub.nova_status != 200:
                        return self._reply(stub.nova_status, {"error": "stub"})
                    stub._beat()
                    found = [
                        s
                        for s in stub.services.values()
                        if s["host"] in query.get("host", [s["host"]])
                        and s["binary"] in query.get("binary", [s["binary"]])
                    ]
                    return self._reply(200, {"services": found})
                if path.startswith("/instance-ha/v1/segments"):
                    return self._reply(*stub._masakari("GET", path, None))
                return self._reply(404, {"error": f"no {path}"})

            def do_POST(self) -> None:
                path, _, body = self._record()
                if path == "/v3/auth/tokens":
                    token = {
                        "methods": ["password"],
                        "expires_at": "2099-01-01T00:00:00Z",
                        "issued_at": "2020-01-01T00:00:00Z",
                        "user": {
                            "id": "u",
                            "name": "masakari",
                            "domain": {"id": "default", "name": "Default"},
                        },
                        "project": {
                            "id": "p",
                            "name": "service",
                            "domain": {"id": "default", "name": "Default"},
                        },
                        "roles": [{"id": "r", "name": "admin"}],
                        "catalog": stub._catalog(),
                    }
                    return self._reply(201, {"token": token}, {"X-Subject-Token": "tok"})
                if path == "/instance-ha/v1/notifications":
                    time.sleep(stub.notification_delay)
                    if stub.notification_status >= 300:
                        return self._reply(
                            stub.notification_status,
                            {
                                "conflictingRequest": {
                                    "message": "stub says no",
                                    "code": stub.notification_status,
                                }
                            },
                        )
                    notification = dict(
                        body["notification"], notification_uuid=str(uuid.uuid4()), status="new"
                    )
                    return self._reply(202, {"notification": notification})
                if path.startswith("/instance-ha/v1/segments"):
                    return self._reply(*stub._masakari("POST", path, body))
                return self._reply(404, {"error": f"no {path}"})

            def do_PUT(self) -> None:
                path, _, body = self._record()
                prefix = "/compute/v2.1/os-services/"
                if path.startswith(prefix):
                    if stub.nova_status != 200:
                        return self._reply(stub.nova_status, {"error": "stub"})
                    for svc in stub.services.values():
                        if svc["id"] == path[len(prefix) :]:
                            svc.update(body)
                            if "forced_down" in body:  # Nova: forced down is down
                                reporting = svc["host"] in stub.heartbeat
                                up = reporting and not body["forced_down"]
                                svc["state"] = "up" if up else "down"
                            return self._reply(200, {"service": svc})
                if path.startswith("/instance-ha/v1/segments"):
                    return self._reply(*stub._masakari("PUT", path, body))
                return self._reply(404, {"error": f"no {path}"})

            def do_DELETE(self) -> None:
                path, _, body = self._record()
                if path.startswith("/instance-ha/v1/segments"):
                    return self._reply(*stub._masakari("DELETE", path, body))
                return self._reply(404, {"error": f"no {path}"})

        return Handler
