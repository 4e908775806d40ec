"""The masakari-monitors charm's config, typed and checked for where each value goes.

Defaults live in charmcraft.yaml; `MasakariMonitorsCharm` loads this with `load_typed_config`.
"""

from __future__ import annotations

import dataclasses
import unicodedata

import masakari_monitors_workload as workload
from charm_common.config import (
    INT32_MAX,
    ConfigError,
    TypedConfig,
    integer,
    one_of,
    option,
    text,
)
from masakari_segments import RECOVERY_METHODS

_seconds = integer(1, INT32_MAX, " seconds")


def _process_list(name: str, value: str) -> None:
    if value.strip():
        try:
            workload.parse_process_list(value)
        except workload.ProcessListError as error:
            raise ConfigError(
                name, f"{error}; see the option's description for the format"
            ) from None


def _segment_name(name: str, value: str) -> None:
    """Empty, or a name Masakari's API takes for a segment (its `name` format,
    masakari/api/validation/parameter_types.py): at most 255 characters below U+FFFF, none a
    control, format or line/paragraph separator (categories C*, Zl, Zp), no space (Zs) at
    either end."""
    text(max_length=255)(name, value)
    if value and (_is_space(value[0]) or _is_space(value[-1])):
        raise ConfigError(name, "must not start or end with white space")
    if any(ord(c) >= 0xFFFF or unicodedata.category(c)[0] == "C"
           or unicodedata.category(c) in ("Zl", "Zp") for c in value):  # fmt: skip
        raise ConfigError(name, "must be printable characters (letters, digits, punctuation, "
                          "symbols, spaces) from Unicode's basic plane")  # fmt: skip


def _is_space(character: str) -> bool:
    return character.isspace() or unicodedata.category(character) == "Zs"


@dataclasses.dataclass(frozen=True, kw_only=True)
class MonitorsConfig(TypedConfig):
    """Every option of charms/masakari-monitors/charmcraft.yaml; properties give parsed forms."""

    debug: bool
    use_syslog: bool
    use_internal_endpoints: bool
    host_monitoring_driver: str = option(one_of(workload.HOST_MONITORING_DRIVERS))
    host_monitoring_interval: int = option(_seconds)
    host_monitoring_samples: int = option(integer(1, 1000))
    stonith_wait: int = option(integer(0, INT32_MAX, " seconds"))
    api_retry_max: int = option(integer(0, 1000))
    api_retry_interval: int = option(_seconds)
    process_check_interval: int = option(_seconds)
    process_list: str = option(_process_list)
    enable_host_monitor: bool
    enable_instance_monitor: bool
    enable_process_monitor: bool
    enable_introspective_monitor: bool
    segment_name: str = option(_segment_name)
    segment_recovery_method: str = option(one_of(RECOVERY_METHODS))
    metrics_port: int = option(integer(1024, 65535))

    @property
    def enabled(self) -> tuple[str, ...]:
        """Keys of workload.MONITORS whose enable-<key>-monitor is true, in start order."""
        return tuple(key for key in workload.MONITORS if getattr(self, f"enable_{key}_monitor"))

    @property
    def processes(self) -> tuple[dict[str, object], ...]:
        """process-list parsed, or the default list when it is empty."""
        if not self.process_list.strip():
            return workload.DEFAULT_PROCESS_LIST
        return workload.parse_process_list(self.process_list)

    @property
    def fence_confirmed_host_monitor(self) -> bool:
        """The host monitor runs the fence-confirmed driver (which can serve metrics)."""
        return (
            "host" in self.enabled
            and self.host_monitoring_driver == workload.FENCE_CONFIRMED_DRIVER
        )

    @property
    def interface(self) -> str:
        """The catalog interface the monitors use to find Masakari's API."""
        return "internal" if self.use_internal_endpoints else "public"
