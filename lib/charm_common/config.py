"""Typed charm config: one frozen dataclass per charm, loaded with ops' `CharmBase.load_config`.

Defaults live only in charmcraft.yaml (Juju passes every option, with its default, to
`load_config`). Each field names the checks its destination needs; `TypedConfig.__post_init__`
runs them and raises ConfigError for the first bad value, so a charm that loaded its config has
nothing left to validate and nothing has been written or published yet.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import re
from collections.abc import Callable, Iterable
from typing import Any

from charm_common.hostnames import is_hostname

# The largest value a 32-bit signed integer holds: haproxy's timeouts (in ms) and most C-side
# consumers stop there, and no timer of this suite needs more (68 years in seconds).
INT32_MAX = 2**31 - 1
# Linux network interface names: at most 15 bytes (IFNAMSIZ 16 with the NUL), no '/', ':' or
# white space (dev_valid_name in net/core/dev.c); what hacluster passes as IPaddr2's nic.
_INTERFACE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

Check = Callable[[str, Any], None]


class ConfigError(ValueError):
    """A config option holds a value its destination cannot take.

    str() is `<option>: <why and the fix>`, ready for `Invalid config: ...`; never the value of
    an option that may hold a secret (no option of this suite does).
    """

    def __init__(self, option: str, why: str) -> None:
        super().__init__(f"{option}: {why}")
        self.option = option
        self.why = why


def option(*checks: Check, default: Any = dataclasses.MISSING, name: str | None = None) -> Any:
    """A config field whose value must pass every check (each `check(option_name, value)`).

    `default` only for options charmcraft.yaml declares without one (Juju then omits them);
    `name` only for options whose own name has underscores (`load_config` maps dashes to them).
    """
    return dataclasses.field(default=default, metadata={"checks": checks, "option": name})


@dataclasses.dataclass(frozen=True, kw_only=True)
class TypedConfig:
    """Base of every charm's config class: runs each field's checks, in field order."""

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            for check in field.metadata.get("checks", ()):
                check(option_name(field), getattr(self, field.name))

    def __repr__(self) -> str:  # options may be logged: keep it to their names
        return f"{type(self).__name__}(...)"


def option_name(field: dataclasses.Field) -> str:
    """The charmcraft.yaml option behind a field (`load_config` turned its dashes into `_`)."""
    return field.metadata.get("option") or field.name.replace("_", "-")


# Checks ----------------------------------------------------------------------------------------


def text(*, required: bool = False, single_word: bool = False, max_length: int = 255) -> Check:
    """A string that goes into an ini file or a relation: no control characters (a newline
    would start a new key or section), optionally non-empty and without white space."""

    def check(name: str, value: str) -> None:
        if _CONTROL.search(value):
            raise ConfigError(name, "must not contain control characters such as a newline")
        if required and not value.strip():
            raise ConfigError(name, "must not be empty")
        if single_word and len(value.split()) > 1:
            raise ConfigError(name, "must be a single word, without spaces")
        if len(value) > max_length:
            raise ConfigError(name, f"must be at most {max_length} characters")

    return check


def integer(minimum: int, maximum: int = INT32_MAX, unit: str = "") -> Check:
    """An integer in [minimum, maximum]; `unit` only words the message (e.g. "ms")."""

    def check(name: str, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(name, "must be a whole number")
        if not minimum <= value <= maximum:
            raise ConfigError(name, f"must be from {minimum} to {maximum}{unit} (got {value})")

    return check


def number(minimum_exclusive: float, maximum: float) -> Check:
    """A finite number in (minimum_exclusive, maximum]; None (unset) passes."""

    def check(name: str, value: float | None) -> None:
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(name, "must be a number")
        if not math.isfinite(value) or not minimum_exclusive < value <= maximum:
            raise ConfigError(
                name,
                f"must be a number greater than {minimum_exclusive:g} and at most {maximum:g} "
                f"(got {value:g})",
            )

    return check


def one_of(choices: Iterable[str]) -> Check:
    choices = tuple(choices)

    def check(name: str, value: str) -> None:
        if value not in choices:
            raise ConfigError(name, f"{_shown(value)} is not one of {', '.join(choices)}")

    return check


def host_name(name: str, value: str) -> None:
    """Empty, or a DNS host name (RFC 1123)."""
    text()(name, value)
    if value.strip() and not is_hostname(value.strip()):
        raise ConfigError(
            name, f"{_shown(value)} is not a host name; use one such as masakari.example.com"
        )


def interface_name(name: str, value: str) -> None:
    """Empty, or a Linux network interface name (eth0, bond0.100, br-ex)."""
    text()(name, value)
    if value.strip() and not _INTERFACE.match(value.strip()):
        raise ConfigError(
            name, f"{_shown(value)} is not a network interface name such as eth0 (1-15 "
            "letters, digits, '.', '-' or '_')"
        )  # fmt: skip


def networks(name: str, value: str) -> None:
    """Space separated CIDRs."""
    text(max_length=4096)(name, value)
    for cidr in value.split():
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise ConfigError(
                name, f"{_shown(cidr)} is not a CIDR; give CIDRs such as 10.0.0.0/24, space "
                "separated"
            ) from None  # fmt: skip


def service_addresses(name: str, value: str) -> None:
    """Space separated addresses a service can be reached at from other machines."""
    text(max_length=4096)(name, value)
    for word in value.split():
        check_service_address(name, word, "give IP addresses, space separated")


def check_service_address(name: str, value: str, fix: str) -> None:
    """One IP address other machines can reach: not loopback, link-local, multicast or 0."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise ConfigError(name, f"{_shown(value)} is not an IP address; {fix}") from None
    for scope, bad in (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("unspecified", address.is_unspecified),
    ):
        if bad:
            raise ConfigError(
                name, f"{address} is a {scope} address, which other machines cannot reach: use "
                "an address of the unit's network"
            )  # fmt: skip


def _shown(value: str) -> str:
    """A bad value as a status may show it (checked for control characters already)."""
    value = value.strip()
    return repr(value if len(value) <= 64 else value[:61] + "...")


def prefix_for(addresses: Iterable[str], name: str, prefix: int) -> None:
    """A prefix length valid for every address family in `addresses` (IPv4 1-32, IPv6 1-128)."""
    for address in addresses:
        maximum = ipaddress.ip_address(address).max_prefixlen
        if not 1 <= prefix <= maximum:
            raise ConfigError(
                name,
                f"must be from 1 to {maximum} for an IPv{4 if maximum == 32 else 6} address "
                f"(got {prefix})",
            )
