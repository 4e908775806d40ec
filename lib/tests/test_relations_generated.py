"""Generated databags for every relation reader: a value is usable where it goes, or refused.

Each reader gets at least 1,000 databags per run (derandomized, so CI sees the same ones). Every
outcome is one of: None (not complete yet); a value whose every string is free of control
characters and whose URLs parse; or RelationDataError naming endpoint, key and unit, never a
value.
"""

import base64
import dataclasses
import urllib.parse
from collections.abc import Callable

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from charm_common import relations

EXAMPLES = settings(
    max_examples=1000, derandomize=True, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)  # fmt: skip

CONTROL = st.sampled_from(["\n", "\r", "\r\n", "\t", "\x00", "\x1b", "\x7f", "\x85", "\u2028"])
ANY_TEXT = st.text(max_size=24)


def broken(valid: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Mostly valid values; else the same with a control character inside, any text or ""."""
    injected = st.tuples(valid, CONTROL, ANY_TEXT).map("".join)
    bad = st.one_of(injected, ANY_TEXT, st.just(""))
    return st.integers(0, 9).flatmap(lambda n: bad if n == 0 else valid)


LABEL = st.sampled_from(["keystone", "virt-node-01", "maas", "a", "x9", "rabbit-1", "10"])
HOST = broken(st.one_of(
    st.ip_addresses().map(str), st.lists(LABEL, min_size=1, max_size=4).map(".".join)
))  # fmt: skip
PORT = broken(st.integers(-5, 70000).map(str))
PROTOCOL = broken(st.sampled_from(["http", "https", "HTTP", "ftp"]))
NAME = broken(st.text("abcXYZ019_@.:/%$-", min_size=1, max_size=16))
PEM = b"-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n"
CERTIFICATE = broken(st.sampled_from([
    base64.b64encode(PEM).decode(), base64.b64encode(b"garbage").decode(), "bm90IHBlbQ", "%%",
]))  # fmt: skip
API_VERSION = broken(st.sampled_from(["3"] * 6 + ["2"]))


def databag(required: dict, optional: dict) -> st.SearchStrategy[dict[str, str]]:
    return st.fixed_dictionaries(required, optional=optional)


def units(app: str, bag: st.SearchStrategy[dict[str, str]]) -> st.SearchStrategy[list]:
    return st.lists(bag, min_size=1, max_size=3).map(
        lambda bags: [(f"{app}/{i}", data) for i, data in enumerate(bags)]
    )


IDENTITY_SERVICE = units("keystone", databag(
    {"service_host": HOST, "auth_host": HOST, "service_username": NAME,
     "service_password": NAME},
    {"service_port": PORT, "service_protocol": PROTOCOL, "auth_port": PORT,
     "auth_protocol": PROTOCOL, "service_tenant": NAME, "service_domain": NAME, "region": NAME,
     "ca_cert": CERTIFICATE, "api_version": API_VERSION},
))  # fmt: skip
IDENTITY_CREDENTIALS = units("keystone", databag(
    {"credentials_username": NAME, "credentials_password": NAME, "auth_host": HOST},
    {"credentials_host": HOST, "credentials_port": PORT, "credentials_protocol": PROTOCOL,
     "auth_port": PORT, "auth_protocol": PROTOCOL, "credentials_project": NAME, "domain": NAME,
     "credentials_user_domain_name": NAME, "credentials_project_domain_name": NAME,
     "region": NAME, "ca_cert": CERTIFICATE, "api_version": API_VERSION},
))  # fmt: skip
SHARED_DB = units("mysql-router", databag(
    {"db_host": HOST, "password": NAME,
     "allowed_units": st.sampled_from(["masakari/0", "masakari/0 masakari/1", "masakari/1"])},
    {"db_port": PORT},
))  # fmt: skip
AMQP = units("rabbitmq-server", databag(
    {},
    {"password": NAME, "hostname": HOST, "private-address": HOST, "ssl_port": PORT,
     "ssl_ca": CERTIFICATE, "clustered": st.sampled_from(["true", "", "yes"]), "vip": HOST},
))  # fmt: skip
PACEMAKER = units("hacluster", databag(
    {}, {"pacemaker-key": broken(st.sampled_from(["a2V5", "a2V5\n", "", "=", "a2V5a2V5"]))}
))  # fmt: skip


def is_clean(value: str) -> bool:
    return not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or c in "\u2028\u2029" for c in value)


def strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, tuple):
        return [s for item in value for s in strings(item)]
    if dataclasses.is_dataclass(value):
        return [s for f in dataclasses.fields(value) for s in strings(getattr(value, f.name))]
    return []


def assert_url(url: str, host: str, port: int) -> None:
    parts = urllib.parse.urlsplit(url)
    assert (parts.hostname, parts.port) == (host.lower(), port), url


# Every reason a reader gives; a message is `<endpoint> <key> from <unit(s)>: <one of these>`.
REASONS = (
    "not a host name or IP address", "contains a control character (e.g. a newline)",
    "not a port number (1-65535)", "must be http or https", "not a PEM certificate",
    "not valid base64", "empty", "must be 3 (keystone v2 is not supported)",
    "the hacluster units send different keys; wait for hacluster to settle, or check its "
    "leader's pacemaker-key",
)  # fmt: skip


def check(endpoint: str, named: list, read: Callable[[str, list], object]) -> object:
    """Run a reader; assert the outcome is one of the three allowed."""
    try:
        result = read(endpoint, named)
    except relations.RelationDataError as error:
        message = str(error)
        prefix, _, reason = message.partition(": ")
        words = prefix.split(" ", 3)
        keys = {key for _unit, data in named for key in data}
        unit_names = {unit for unit, _data in named}
        assert words[0] == endpoint and words[1] in keys and words[2] == "from", message
        assert set(words[3].split(", ")) <= unit_names and reason in REASONS, message
        # No value in it, but inside the fixed text (e.g. a valid `http` or `keys` elsewhere).
        values = [v for _unit, data in named for v in data.values()]
        pieces = [*words[:3], *words[3].split(", "), reason]
        shown = [v for v in values if len(v) > 3 and v in message]
        leaked = [v for v in shown if not any(v in piece for piece in pieces)]
        assert not leaked, (message, leaked)
        event(f"refused: {reason}")
        return error
    event("incomplete" if result is None else "read")
    if result is not None:
        assert all(is_clean(s) for s in strings(result)), result
    return result


def read_shared_db(endpoint: str, named: list) -> relations.Database | None:
    return relations.parse_shared_db(endpoint, named, "masakari/0", "masakari", "masakari")


def read_amqp(endpoint: str, named: list) -> relations.MessageBus | None:
    return relations.parse_amqp(endpoint, named, "masakari", "masakari")


def assert_auth_urls(result: object) -> None:
    if isinstance(result, relations.ServiceCredentials):
        assert_url(result.public_auth_url, result.service_host, result.service_port)
        assert_url(result.admin_auth_url, result.auth_host, result.auth_port)


@EXAMPLES
@given(IDENTITY_SERVICE)
def test_identity_service_databags(named):
    assert_auth_urls(check("identity-service", named, relations.parse_identity_service))


@EXAMPLES
@given(IDENTITY_CREDENTIALS)
def test_identity_credentials_databags(named):
    assert_auth_urls(check("identity-credentials", named, relations.parse_identity_credentials))


@EXAMPLES
@given(SHARED_DB)
def test_shared_db_databags(named):
    result = check("shared-db", named, read_shared_db)
    if isinstance(result, relations.Database):
        assert_url(result.url, result.host, result.port)
        assert urllib.parse.urlsplit(result.url).password is not None


@EXAMPLES
@given(AMQP)
def test_amqp_databags(named):
    result = check("amqp", named, read_amqp)
    if isinstance(result, relations.MessageBus):
        netloc = urllib.parse.urlsplit(result.transport_url).netloc
        for host, segment in zip(result.hosts, netloc.split(","), strict=True):
            assert_url(f"rabbit://{segment}/", host, result.port)
        assert result.ssl == any(data.get("ssl_port") for _unit, data in named)


@EXAMPLES
@given(PACEMAKER)
def test_pacemaker_key_databags(named):
    result = check("pacemaker-remote", named, relations.parse_pacemaker_key)
    assert result is None or isinstance(result, (bytes, relations.RelationDataError))
