"""The masakari charm's config, typed and checked for where each value goes.

Defaults live in charmcraft.yaml; `MasakariCharm` loads this with `load_typed_config`.
"""

from __future__ import annotations

import dataclasses
import ipaddress

from charm_common.config import (
    INT32_MAX,
    ConfigError,
    TypedConfig,
    host_name,
    integer,
    interface_name,
    networks,
    number,
    option,
    prefix_for,
    service_addresses,
    text,
)
from charm_common.origin import Origin, OriginError, parse_origin
from masakari_workload import API_PORT, PUBLIC_PORT

ENDPOINT_TYPES = ("public", "internal", "admin")
# charm option (field) -> Masakari [DEFAULT] option, for the recovery timers and workers.
ENGINE_OPTIONS = {
    "evacuation_delay": "wait_period_after_service_update",
    "evacuation_timeout": "wait_period_after_evacuation",
    "power_off_timeout": "wait_period_after_power_off",
    "power_on_timeout": "wait_period_after_power_on",
    "verify_interval": "verify_interval",
    "recovery_threads": "host_failure_recovery_threads",
    "notification_expiration": "notifications_expired_interval",
    "check_expired_interval": "check_expired_notifications_interval",
    "retry_interval": "process_unfinished_notifications_interval",
    "lost_notification_age": "retry_notification_new_status_interval",
    "duplicate_notification_window": "duplicate_notification_detection_interval",
}
# Each masakari-engine recovery thread is a worker of its own; more than this only queues on
# Nova's API (and the database pool) rather than recovering faster.
MAX_RECOVERY_THREADS = 64
# worker-multiplier x CPUs = API processes (mod_wsgi); 32 already gives 4096 on 128 CPUs.
MAX_WORKER_MULTIPLIER = 32.0


def _origin(name: str, value: str) -> None:
    try:
        parse_origin(value)
    except OriginError as error:
        raise ConfigError(name, str(error)) from None


_seconds = integer(1, INT32_MAX, " seconds")
_milliseconds = integer(1, INT32_MAX, " ms (haproxy's largest timeout)")


@dataclasses.dataclass(frozen=True, kw_only=True)
class MasakariConfig(TypedConfig):
    """Every option of charms/masakari/charmcraft.yaml; the properties give the parsed forms."""

    openstack_origin: str = option(text(required=True, max_length=1024), _origin)
    action_managed_upgrade: bool
    region: str = option(text(required=True, single_word=True))
    debug: bool
    use_syslog: bool
    use_internal_endpoints: bool
    vip: str = option(service_addresses)
    vip_iface: str = option(interface_name, name="vip_iface")
    vip_cidr: int = option(integer(1, 128), name="vip_cidr")
    os_public_hostname: str = option(host_name)
    os_internal_hostname: str = option(host_name)
    os_admin_hostname: str = option(host_name)
    os_public_network: str = option(networks)
    os_internal_network: str = option(networks)
    os_admin_network: str = option(networks)
    worker_multiplier: float | None = option(number(0, MAX_WORKER_MULTIPLIER), default=None)
    haproxy_server_timeout: int = option(_milliseconds)
    haproxy_client_timeout: int = option(_milliseconds)
    haproxy_queue_timeout: int = option(_milliseconds)
    haproxy_connect_timeout: int = option(_milliseconds)
    evacuate_all_instances: bool
    ignore_instances_in_error_state: bool
    evacuation_delay: int = option(integer(0, INT32_MAX, " seconds"))
    evacuation_timeout: int = option(_seconds)
    power_off_timeout: int = option(_seconds)
    power_on_timeout: int = option(_seconds)
    verify_interval: int = option(_seconds)
    recovery_threads: int = option(integer(1, MAX_RECOVERY_THREADS))
    notification_expiration: int = option(_seconds)
    check_expired_interval: int = option(_seconds)
    retry_interval: int = option(_seconds)
    lost_notification_age: int = option(_seconds)
    duplicate_notification_window: int = option(integer(0, INT32_MAX, " seconds"))
    max_restart_delay: int = option(integer(0, INT32_MAX, " seconds"))
    pacemaker_remote_quickack: bool
    metrics_port: int = option(integer(1024, 65535))

    def __post_init__(self) -> None:
        super().__post_init__()
        prefix_for(self.vips, "vip_cidr", self.vip_cidr)
        if self.vips and not self.vip_iface.strip():
            raise ConfigError("vip_iface", "must name a network interface when vip is set")
        if self.metrics_port in (API_PORT, PUBLIC_PORT):
            raise ConfigError(
                "metrics-port", f"{self.metrics_port} is masakari-api's own port (haproxy "
                f"{PUBLIC_PORT}, apache2 {API_PORT}): choose another"
            )  # fmt: skip

    @property
    def origin(self) -> Origin:
        return parse_origin(self.openstack_origin)

    @property
    def vips(self) -> tuple[str, ...]:
        return tuple(str(ipaddress.ip_address(v)) for v in self.vip.split())

    def hostname(self, kind: str) -> str:
        """os-<kind>-hostname, or "" (kind: public, internal or admin)."""
        return getattr(self, f"os_{kind}_hostname").strip()

    def networks(self, kind: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """os-<kind>-network as networks (kind: public, internal or admin)."""
        value = getattr(self, f"os_{kind}_network")
        return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in value.split())

    @property
    def haproxy_timeouts(self) -> dict[str, int]:
        """haproxy's `timeout <kind>` values in ms."""
        return {
            kind: getattr(self, f"haproxy_{kind}_timeout")
            for kind in ("server", "client", "queue", "connect")
        }

    @property
    def orphan_age(self) -> int:
        """Seconds without recorded progress after which a running notification is orphaned.

        A live engine records progress at every step of a recovery flow; its longest silent
        wait is one of Masakari's `wait_period_after_*` timers. A minute more is left for a
        slow Nova API call and clock skew between units.
        """
        return 60 + max(
            self.evacuation_delay, self.evacuation_timeout, self.power_off_timeout,
            self.power_on_timeout,
        )  # fmt: skip

    @property
    def engine(self) -> dict[str, int]:
        """Masakari [DEFAULT] option -> value, for the recovery timers and threads."""
        return {masakari: getattr(self, field) for field, masakari in ENGINE_OPTIONS.items()}
