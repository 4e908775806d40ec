import pytest

from charm_common.origin import (
    OriginError,
    os_series,
    parse_origin,
    redact_credentials,
    release_of,
)


@pytest.mark.parametrize(
    ("value", "series", "release"),
    [
        ("distro", None, None),
        ("distro-proposed", None, None),
        ("cloud:bionic-stein", "bionic", "stein"),  # the Charmed OpenStack guide's value
        ("cloud:jammy-caracal", "jammy", "caracal"),
        ("cloud:noble-flamingo/proposed", "noble", "flamingo"),
        ("ppa:openstack-ubuntu-testing/caracal", None, None),
        ("deb http://archive.example.com/ubuntu noble main", None, None),
    ],
)
def test_accepted_origins(value, series, release):
    origin = parse_origin(value)
    assert (origin.source, origin.series, origin.release) == (value, series, release)
    assert origin.needs_apt_source == (value != "distro")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("cloud:noble", "is not distro, cloud:<series>-<release>"),
        ("cloud:narnia-caracal", "unknown Ubuntu series 'narnia'"),
        ("cloud:noble-caracal/nightly", "unknown pocket 'nightly'"),
        ("ppa:nope", "is not distro"),
        ("", "is not distro"),
    ],
)
def test_rejected_origins_say_what_is_accepted(value, message):
    with pytest.raises(OriginError, match=message):
        parse_origin(value)


@pytest.mark.parametrize(
    ("version", "release"),
    [
        ("14.0.2-2", "zed"),
        ("2:17.0.0-0ubuntu1", "caracal"),
        ("1:20.0.0-0ubuntu1~cloud0", "flamingo"),
        ("99.0.0-1", None),
        (None, None),
        ("garbage", None),
    ],
)
def test_release_from_package_version(version, release):
    assert release_of(version) == release


def test_series_from_os_release():
    assert os_series(b'NAME="Ubuntu"\nVERSION_CODENAME=noble\n') == "noble"
    assert os_series(b"ID=debian\n") is None
    assert os_series(None) is None


@pytest.mark.parametrize(
    ("text", "redacted"),
    [("deb https://user:token@host/ubuntu noble main",
      "deb https://***@host/ubuntu noble main"),
     ("deb [arch=amd64] http://user%40corp:p%2Fw%3A@mirror.example.com:8080/ubuntu noble main",
      "deb [arch=amd64] http://***@mirror.example.com:8080/ubuntu noble main"),
     ("deb https://user:p@ss@host/ubuntu noble main", "deb https://***@host/ubuntu noble main"),
     ("E: Failed to fetch https://t0ken@host/dists/noble/InRelease  401, and https://a:b@c/",
      "E: Failed to fetch https://***@host/dists/noble/InRelease  401, and https://***@c/"),
     ("deb https://host/path@v1 noble main", "deb https://host/path@v1 noble main"),
     ("distro", "distro"), ("cloud:jammy-caracal", "cloud:jammy-caracal"),
     ("ppa:openstack-ubuntu-testing/caracal", "ppa:openstack-ubuntu-testing/caracal"),
     ("deb http://archive.example.com/ubuntu noble main",
      "deb http://archive.example.com/ubuntu noble main")],
)  # fmt: skip
def test_redact_credentials_hides_every_urls_userinfo_and_nothing_else(text, redacted):
    assert redact_credentials(text) == redacted


def test_origin_display_hides_credentials_and_source_keeps_them_for_apt():
    origin = parse_origin(
        "deb https://user:token@private-ppa.launchpadcontent.net/o/p/ubuntu noble main"
    )
    assert (
        origin.display == "deb https://***@private-ppa.launchpadcontent.net/o/p/ubuntu noble main"
    )
    assert "user:token@" in origin.source
    assert parse_origin("cloud:noble-flamingo").display == "cloud:noble-flamingo"


@pytest.mark.parametrize(
    ("value", "message"),
    [("deb https://user:token@host/ubuntu", "'deb https://***@host/ubuntu' is not distro"),
     ("deb ftp://user:token@host/ubuntu noble main", "'deb ftp://***@host/ubuntu noble main'"),
     ("deb user:token@host/ubuntu noble main",
      "the value (not shown: it may hold credentials) is not distro")],
)  # fmt: skip
def test_rejected_origin_messages_never_show_credentials(value, message):
    with pytest.raises(OriginError) as raised:
        parse_origin(value)
    assert message in str(raised.value)
    assert "token" not in str(raised.value)
