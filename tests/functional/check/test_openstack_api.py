"""SdkOpenStackApi through real openstacksdk and keystoneauth against a local HTTP endpoint that
records what arrives: the paths, microversions and bodies are Nova's and Masakari's APIs."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import keystoneauth1.exceptions.http
import openstack
import pytest

from tests.functional.openstack_api import SdkOpenStackApi

SERVICES = [
    {"id": "5c3b", "host": "virt-node-01.maas", "status": "enabled", "state": "up"},
    {"id": "9f1e", "host": "virt-node-02.maas", "status": "enabled", "state": "up"},
]


class Recorder(http.server.BaseHTTPRequestHandler):
    requests: list[tuple[str, str, dict[str, str], Any]] = []
    replies: dict[tuple[str, str], tuple[int, Any]] = {}

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        path = self.path.rstrip("/")
        if path == "/compute/v2.1":  # version discovery
            status, reply = (
                200,
                {
                    "version": {
                        "id": "v2.1",
                        "status": "CURRENT",
                        "version": "2.96",
                        "min_version": "2.1",
                        "links": [{"rel": "self", "href": f"{base}/compute/v2.1/"}],
                    }
                },
            )
        elif path == "/instance-ha/v1":
            status, reply = (
                200,
                {
                    "version": {
                        "id": "v1.0",
                        "status": "CURRENT",
                        "version": "1.2",
                        "min_version": "1.0",
                        "links": [{"rel": "self", "href": f"{base}/instance-ha/v1/"}],
                    }
                },
            )
        else:
            self.requests.append((self.command, self.path, dict(self.headers), body))
            status, reply = self.replies.get((self.command, self.path), (200, {}))
        data = json.dumps(reply).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._answer()

    def do_PUT(self) -> None:  # noqa: N802
        self._answer()

    def do_POST(self) -> None:  # noqa: N802
        self._answer()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def api() -> Iterator[SdkOpenStackApi]:
    Recorder.requests, Recorder.replies = [], {}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    conn = openstack.connect(
        auth_type="none",
        load_yaml_config=False,
        load_envvars=False,
        compute_endpoint_override=f"{base}/compute/v2.1",
        instance_ha_endpoint_override=f"{base}/instance-ha/v1",
    )
    yield SdkOpenStackApi(conn)
    server.shutdown()


def test_compute_services_with_the_microversion_that_shows_forced_down(api) -> None:
    Recorder.replies[("GET", "/compute/v2.1/os-services?binary=nova-compute")] = (
        200,
        {"services": SERVICES},
    )
    assert [s["host"] for s in api.compute_services()] == [
        "virt-node-01.maas",
        "virt-node-02.maas",
    ]
    method, path, headers, _ = Recorder.requests[-1]
    assert headers["OpenStack-API-Version"] == "compute 2.53"


def test_service_changes_go_to_the_service_by_id(api) -> None:
    Recorder.replies[("GET", "/compute/v2.1/os-services?binary=nova-compute")] = (
        200,
        {"services": SERVICES},
    )
    api.set_compute_service("virt-node-02.maas", enabled=False)
    api.set_compute_service("virt-node-02.maas", enabled=True, forced_down=False)
    puts = [(m, p, b) for m, p, _, b in Recorder.requests if m == "PUT"]
    assert puts == [
        ("PUT", "/compute/v2.1/os-services/9f1e", {"status": "disabled"}),
        ("PUT", "/compute/v2.1/os-services/9f1e", {"status": "enabled", "forced_down": False}),
    ]


def test_server_and_its_instance_actions(api) -> None:
    Recorder.replies[("GET", "/compute/v2.1/servers/abc")] = (200, {"server": {"id": "abc"}})
    Recorder.replies[("GET", "/compute/v2.1/servers/abc/os-instance-actions")] = (
        200,
        {"instanceActions": [{"action": "evacuate", "start_time": "2026-11-25T17:33:06.000000"}]},
    )
    assert api.server("abc") == {"id": "abc"}
    assert api.server_actions("abc")[0]["action"] == "evacuate"


def test_masakari_calls_wrap_bodies_as_the_api_expects(api) -> None:
    Recorder.replies[("GET", "/instance-ha/v1/segments")] = (200, {"segments": [{"uuid": "s"}]})
    Recorder.replies[("POST", "/instance-ha/v1/segments")] = (200, {"segment": {"uuid": "s"}})
    assert api.segments() == [{"uuid": "s"}]
    assert api.create_segment("S1", "reserved_host") == {"uuid": "s"}
    api.update_segment("s", recovery_method="auto")
    api.create_segment_host("s", "virt-node-10.maas", reserved=True)
    api.update_segment_host("s", "h", on_maintenance=False)
    sent = [(m, p, b) for m, p, _, b in Recorder.requests if m != "GET"]
    assert sent == [
        (
            "POST",
            "/instance-ha/v1/segments",
            {
                "segment": {
                    "name": "S1",
                    "recovery_method": "reserved_host",
                    "service_type": "COMPUTE",
                }
            },
        ),
        ("PUT", "/instance-ha/v1/segments/s", {"segment": {"recovery_method": "auto"}}),
        (
            "POST",
            "/instance-ha/v1/segments/s/hosts",
            {
                "host": {
                    "name": "virt-node-10.maas",
                    "type": "COMPUTE",
                    "control_attributes": "SSH",
                    "reserved": True,
                }
            },
        ),
        ("PUT", "/instance-ha/v1/segments/s/hosts/h", {"host": {"on_maintenance": False}}),
    ]


def test_api_errors_are_raised_not_returned(api) -> None:
    Recorder.replies[("GET", "/instance-ha/v1/notifications?sort_key=created_at&sort_dir=asc")] = (
        403,
        {"error": "Policy doesn't allow"},
    )
    with pytest.raises(keystoneauth1.exceptions.http.Forbidden):
        api.notifications()
