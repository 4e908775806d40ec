"""The typed-config checks, each against the values its destination refuses."""

from __future__ import annotations

import dataclasses
import math

import pytest

from charm_common.config import (
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


@pytest.mark.parametrize("value", ["a\nb", "a\rb", "x\x00", "tab\there", "del\x7f"])
def test_text_refuses_control_characters(value):
    with pytest.raises(ConfigError, match="control characters"):
        text()("region", value)


def test_text_required_and_single_word():
    with pytest.raises(ConfigError, match="must not be empty"):
        text(required=True)("region", " ")
    with pytest.raises(ConfigError, match="single word"):
        text(single_word=True)("region", "Region One")
    text(required=True, single_word=True)("region", "RegionOne")


@pytest.mark.parametrize("value", [0, 2**31, True, 1.5])
def test_integer_bounds_and_type(value):
    with pytest.raises(ConfigError):
        integer(1)("haproxy-client-timeout", value)


@pytest.mark.parametrize("value", [0, -1, math.inf, -math.inf, math.nan, 1e308, 32.5, True])
def test_number_is_finite_and_bounded(value):
    with pytest.raises(ConfigError):
        number(0, 32)("worker-multiplier", value)


def test_number_accepts_unset_and_the_bounds():
    for value in (None, 0.25, 32):
        number(0, 32)("worker-multiplier", value)


@pytest.mark.parametrize(
    ("value", "scope"),
    [("127.0.0.1", "loopback"), ("::1", "loopback"), ("169.254.1.1", "link-local"),
     ("fe80::1", "link-local"), ("224.0.0.1", "multicast"), ("0.0.0.0", "unspecified")],  # noqa: S104
)  # fmt: skip
def test_service_addresses_refuse_what_other_machines_cannot_reach(value, scope):
    with pytest.raises(ConfigError, match=f"is a {scope} address"):
        service_addresses("vip", f"10.0.0.1 {value}")


def test_prefix_must_fit_every_family():
    prefix_for(["10.0.0.1", "2001:db8::1"], "vip_cidr", 24)
    with pytest.raises(ConfigError, match="from 1 to 32 for an IPv4 address"):
        prefix_for(["10.0.0.1"], "vip_cidr", 64)
    prefix_for(["2001:db8::1"], "vip_cidr", 64)


@pytest.mark.parametrize("value", ["eth0/1", "eth 0", "a-very-long-name", "eth0:1"])
def test_interface_names(value):
    with pytest.raises(ConfigError, match="not a network interface name"):
        interface_name("vip_iface", value)
    for good in ("eth0", "bond0.100", "br-ex", "enp5s0f1np1"):
        interface_name("vip_iface", good)


def test_host_names_and_networks():
    with pytest.raises(ConfigError, match="is not a host name"):
        host_name("os-public-hostname", "bad_name!")
    with pytest.raises(ConfigError, match="is not a CIDR"):
        networks("os-public-network", "10.0.0.0/24 10.0.0.0/33")


def test_a_typed_config_runs_every_check_and_names_the_option():
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Example(TypedConfig):
        vip_cidr: int = option(integer(1, 128), name="vip_cidr")
        recovery_threads: int = option(integer(1, 64))

    Example(vip_cidr=24, recovery_threads=3)
    with pytest.raises(ConfigError) as error:
        Example(vip_cidr=24, recovery_threads=0)
    assert str(error.value) == "recovery-threads: must be from 1 to 64 (got 0)"
    with pytest.raises(ConfigError) as error:
        Example(vip_cidr=0, recovery_threads=3)
    assert error.value.option == "vip_cidr"
