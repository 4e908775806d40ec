"""SdkOpenStackApi against recorded API answers: the fields the scenarios rely on."""

from __future__ import annotations

import json
from typing import Any

from tests.functional.openstack_api import SdkOpenStackApi

SEGMENT = {"uuid": "seg-1", "name": "S1", "recovery_method": "auto"}
HOSTS = [
    {"uuid": "h-01", "name": "virt-node-01.maas", "reserved": False, "on_maintenance": False},
    {"uuid": "h-02", "name": "virt-node-02.maas", "reserved": False, "on_maintenance": True},
]
# Masakari 14's GET /notifications item: no host name, only source_host_uuid.
NOTIFICATIONS = [
    {
        "notification_uuid": "n-1",
        "type": "COMPUTE_HOST",
        "source_host_uuid": "h-02",
        "status": "finished",
        "generated_time": "2026-11-29T07:43:17.000000",
        "created_at": "2026-11-29T07:43:17.000000",
        "payload": {"event": "STOPPED", "cluster_status": "OFFLINE", "host_status": "NORMAL"},
    },
    {"notification_uuid": "n-0", "type": "VM", "source_host_uuid": "gone", "status": "failed"},
]


class Response:
    def __init__(self, body: Any) -> None:
        self.content = json.dumps(body).encode()
        self.body = body

    def json(self) -> Any:
        return self.body


class InstanceHa:
    def __init__(self) -> None:
        self.paths: list[str] = []

    def request(self, path: str, method: str, **_: Any) -> Response:
        self.paths.append(path)
        if path == "/segments":
            return Response({"segments": [SEGMENT]})
        if path == "/segments/seg-1/hosts":
            return Response({"hosts": HOSTS})
        if path.startswith("/notifications"):
            return Response({"notifications": NOTIFICATIONS})
        raise AssertionError(f"unexpected {method} {path}")


class Conn:
    def __init__(self) -> None:
        self.instance_ha = InstanceHa()


def test_notifications_name_their_host_from_source_host_uuid():
    conn = Conn()
    notifications = SdkOpenStackApi(conn).notifications()
    assert [n["hostname"] for n in notifications] == ["virt-node-02.maas", None]
    assert notifications[0]["source_host_uuid"] == "h-02"  # the API's own fields stay
    assert "/notifications?sort_key=created_at&sort_dir=asc" in conn.instance_ha.paths
