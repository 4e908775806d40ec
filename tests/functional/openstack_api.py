"""`OpenStackApi` over openstacksdk: plain REST through the SDK's service proxies, so the
fields are the APIs' own and any openstacksdk release with `instance_ha` works."""

from __future__ import annotations

from typing import Any

NOVA_MICROVERSION = "2.53"  # service ids are UUIDs; `forced_down` in one PUT


class SdkOpenStackApi:
    def __init__(self, conn: Any) -> None:
        """conn: an `openstack.connection.Connection` for the cloud admin."""
        self.conn = conn

    def _nova(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.conn.compute.request(
            path, method, json=body, microversion=NOVA_MICROVERSION, raise_exc=True
        )
        return response.json() if response.content else None

    def _masakari(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.conn.instance_ha.request(path, method, json=body, raise_exc=True)
        return response.json() if response.content else None

    # Nova
    def compute_services(self) -> list[dict[str, Any]]:
        return self._nova("GET", "/os-services?binary=nova-compute")["services"]

    def set_compute_service(
        self, host: str, *, enabled: bool | None = None, forced_down: bool | None = None
    ) -> None:
        service = next(s for s in self.compute_services() if s["host"] == host)
        body: dict[str, Any] = {}
        if enabled is not None:
            body["status"] = "enabled" if enabled else "disabled"
        if forced_down is not None:
            body["forced_down"] = forced_down
        self._nova("PUT", f"/os-services/{service['id']}", body)

    def server(self, server_id: str) -> dict[str, Any]:
        return self._nova("GET", f"/servers/{server_id}")["server"]

    def server_actions(self, server_id: str) -> list[dict[str, Any]]:
        return self._nova("GET", f"/servers/{server_id}/os-instance-actions")["instanceActions"]

    # Masakari
    def segments(self) -> list[dict[str, Any]]:
        return self._masakari("GET", "/segments")["segments"]

    def create_segment(self, name: str, recovery_method: str) -> dict[str, Any]:
        body = {
            "segment": {
                "name": name,
                "recovery_method": recovery_method,
                "service_type": "COMPUTE",
            }
        }
        return self._masakari("POST", "/segments", body)["segment"]

    def update_segment(self, segment_uuid: str, **changes: Any) -> None:
        self._masakari("PUT", f"/segments/{segment_uuid}", {"segment": changes})

    def segment_hosts(self, segment_uuid: str) -> list[dict[str, Any]]:
        return self._masakari("GET", f"/segments/{segment_uuid}/hosts")["hosts"]

    def create_segment_host(self, segment_uuid: str, name: str, reserved: bool) -> None:
        body = {
            "host": {
                "name": name,
                "type": "COMPUTE",
                "control_attributes": "SSH",
                "reserved": reserved,
            }
        }
        self._masakari("POST", f"/segments/{segment_uuid}/hosts", body)

    def update_segment_host(self, segment_uuid: str, host_uuid: str, **changes: Any) -> None:
        self._masakari("PUT", f"/segments/{segment_uuid}/hosts/{host_uuid}", {"host": changes})

    def notifications(self) -> list[dict[str, Any]]:
        """Oldest first. The API names the failed host only by `source_host_uuid`; `hostname`
        is added from the segments' hosts (None for a host no longer in any segment)."""
        listed = self._masakari("GET", "/notifications?sort_key=created_at&sort_dir=asc")
        names = {
            host["uuid"]: host["name"]
            for segment in self.segments()
            for host in self.segment_hosts(segment["uuid"])
        }
        return [
            {**n, "hostname": names.get(n.get("source_host_uuid"))}
            for n in listed["notifications"]
        ]
