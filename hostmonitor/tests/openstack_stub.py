"""A loopback stand-in for Keystone v3, Nova os-services and Masakari notifications.

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
            },
        }
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
                    found = [
                        s
                        for s in stub.services.values()
                        if s["host"] in query.get("host", [])
                        and s["binary"] in query.get("binary", [])
                    ]
                    return self._reply(200, {"services": found})
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
                            return self._reply(200, {"service": svc})
                return self._reply(404, {"error": f"no {path}"})

        return Handler
