import pytest

from charm_common.origin import OriginError, os_series, parse_origin, release_of


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
