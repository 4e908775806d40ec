"""The pacemaker-remote charm's config, typed and checked for where each value goes.

Defaults live in charmcraft.yaml; `PacemakerRemoteCharm` loads this with `load_typed_config`.
"""

from __future__ import annotations

import dataclasses
import ipaddress

from charm_common.config import TypedConfig, check_service_address, integer, option, text


def _remote_address(name: str, value: str) -> None:
    text()(name, value)
    if value.strip():
        check_service_address(
            name, value.strip(), "leave it empty to use the pacemaker-remote binding's address"
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class RemoteConfig(TypedConfig):
    """Every option of charms/pacemaker-remote/charmcraft.yaml."""

    enable_stonith: bool
    enable_resources: bool
    remote_address: str = option(_remote_address)
    # Seconds; 0 leaves the cluster's value (hacluster's monitor 30 s, Pacemaker's 20 s timeout).
    connection_monitor_interval: int = option(integer(0, 3600, " seconds"))
    connection_monitor_timeout: int = option(integer(0, 3600, " seconds"))
    connection_start_timeout: int = option(integer(0, 3600, " seconds"))

    @property
    def address(self) -> str | None:
        """remote-address normalised; None: the pacemaker-remote binding's address."""
        value = self.remote_address.strip()
        return str(ipaddress.ip_address(value)) if value else None
