"""openstack-origin: where packages come from, and which OpenStack release is installed."""

from __future__ import annotations

import dataclasses
import re

# Masakari and masakari-monitors share the OpenStack release's major version.
RELEASES = {
    9: "ussuri", 10: "victoria", 11: "wallaby", 12: "xena", 13: "yoga", 14: "zed",
    15: "antelope", 16: "bobcat", 17: "caracal", 18: "dalmatian", 19: "epoxy",
    20: "flamingo", 21: "gazpacho", 22: "2026.2",
}  # fmt: skip
# Every release the Ubuntu Cloud Archive has carried: older pockets are still valid syntax.
CLOUD_RELEASES = (
    "icehouse", "juno", "kilo", "liberty", "mitaka", "newton", "ocata", "pike", "queens",
    "rocky", "stein", "train", *RELEASES.values(),
)  # fmt: skip
UBUNTU_SERIES = (
    "trusty", "xenial", "bionic", "focal", "jammy", "noble", "oracular", "plucky", "questing",
    "resolute",
)  # fmt: skip

_CLOUD = re.compile(r"^cloud:(?P<series>[a-z]+)-(?P<release>[a-z]+)(?:/(?P<pocket>[a-z]+))?$")
_PPA = re.compile(r"^ppa:[a-z0-9][a-z0-9.+-]*/[a-z0-9][a-z0-9.+-]*$")
_DEB = re.compile(r"^deb (\[[^\]]*\] )?(https?|file)://\S+ \S+( \S+)*$")
# A URL's userinfo: everything between `scheme://` and the last `@` of its authority (an
# unquoted `@` in a password included), so nothing of a password survives.
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^\s/?#]*@")


def redact_credentials(text: str) -> str:
    """text with the userinfo of every URL in it replaced by `***`.

    `deb https://user:token@host/ubuntu noble main` -> `deb https://***@host/ubuntu noble main`;
    URL-quoted userinfo (`user%40x:p%2Fw@`) goes the same way; text without credentials
    (distro, cloud:, ppa:, plain URLs) is returned unchanged. For anything shown or logged.
    """
    return _USERINFO.sub(r"\g<scheme>***@", text)


class OriginError(ValueError):
    """An openstack-origin the charm cannot use; the message shows it redacted."""


@dataclasses.dataclass(frozen=True)
class Origin:
    source: str
    series: str | None = None  # for cloud: pockets, the Ubuntu series they are built for
    release: str | None = None  # for cloud: pockets, the OpenStack release they carry

    @property
    def needs_apt_source(self) -> bool:
        return self.source not in ("distro",)

    @property
    def display(self) -> str:
        """The source with any URL credentials redacted: the only form for status, logs and
        action output (`source` itself goes to apt only)."""
        return redact_credentials(self.source)


def parse_origin(value: str) -> Origin:
    """Accepts distro, distro-proposed, cloud:<series>-<release>[/<pocket>], ppa:..., deb ....

    Raises OriginError saying what is accepted; its message never holds URL credentials.
    """
    value = value.strip()
    if value in ("distro", "distro-proposed"):
        return Origin(value)
    shown = repr(redact_credentials(value))
    if "@" in shown.replace("***@", ""):
        # Credentials outside a URL we recognise (e.g. no scheme): show nothing of it.
        shown = "the value (not shown: it may hold credentials)"
    match = _CLOUD.match(value)
    if match:
        if match["series"] not in UBUNTU_SERIES:
            raise OriginError(f"unknown Ubuntu series {match['series']!r} in {shown}")
        if match["release"] not in CLOUD_RELEASES:
            raise OriginError(f"unknown OpenStack release {match['release']!r} in {shown}")
        if match["pocket"] not in (None, "updates", "proposed", "staging"):
            raise OriginError(f"unknown pocket {match['pocket']!r} in {shown}")
        return Origin(value, series=match["series"], release=match["release"])
    if _PPA.match(value) or _DEB.match(value):
        return Origin(value)
    raise OriginError(
        f"{shown} is not distro, cloud:<series>-<release> (e.g. cloud:jammy-caracal), "
        "ppa:<owner>/<name> or a deb line"
    )


def release_of(package_version: str | None) -> str | None:
    """'2:17.0.0-0ubuntu1' -> 'caracal'. None when unknown or not installed."""
    if not package_version:
        return None
    upstream = package_version.split(":", 1)[-1]
    match = re.match(r"(\d+)\.", upstream)
    return RELEASES.get(int(match[1])) if match else None


def release_major(release: str) -> int:
    return next(major for major, name in RELEASES.items() if name == release)


def os_series(os_release: bytes | None) -> str | None:
    """VERSION_CODENAME from /etc/os-release."""
    for line in (os_release or b"").decode(errors="replace").splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.split("=", 1)[1].strip().strip('"') or None
    return None
