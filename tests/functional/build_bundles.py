"""Write the functional suite's bundles from the shipped bundle and overlay.

    python -m tests.functional.build_bundles     # from the repository root

Reads `bundles/openstack-masakari.yaml` and `overlays/masakari.yaml` and writes, for each
variant (noble-caracal as shipped; jammy-caracal as the README's jammy edit makes it):
`tests/functional/bundles/<variant>.yaml` (the bundle) and
`tests/functional/bundles/overlays/<variant>.yaml.j2` (the overlay, for zaza to render), where the
overlay's placeholders become `{{ OS_VIP00 }}`, `{{ TEST_MAAS_URL }}`, `{{ TEST_MAAS_API_KEY }}`
and its local charm paths `{{ charm_location }}/<charm>_<platform>.charm` (zaza renders overlays
into a temporary directory, so relative paths would not resolve). A check in
`tox -e functional-check` fails when the written files differ from what this would write now.
"""

from __future__ import annotations

import copy
import dataclasses
import pathlib
import sys
from typing import Any

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHIPPED_BUNDLE = pathlib.Path("bundles/openstack-masakari.yaml")
SHIPPED_OVERLAY = pathlib.Path("overlays/masakari.yaml")
OUTPUT = pathlib.Path("tests/functional/bundles")
PLACEHOLDERS = {
    "<INSERT VIP(S)>": "{{ OS_VIP00 }}",
    "<INSERT MAAS URL>": "{{ TEST_MAAS_URL }}",
    "<INSERT MAAS API KEY>": "{{ TEST_MAAS_API_KEY }}",
}
SHIPPED_PLATFORM = "ubuntu-24.04-amd64"
SHIPPED_ORIGIN = "distro"
ORIGIN_OPTIONS = ("openstack-origin", "source")
CEPH_CHARMS = ("ch:ceph-mon", "ch:ceph-osd")


@dataclasses.dataclass(frozen=True)
class Variant:
    base: str
    origin: str
    ceph_channel: str | None  # None: as shipped
    platform: str


VARIANTS = {
    "noble-caracal": Variant("ubuntu@24.04", SHIPPED_ORIGIN, None, SHIPPED_PLATFORM),
    "jammy-caracal": Variant(
        "ubuntu@22.04", "cloud:jammy-caracal", "reef/stable", "ubuntu-22.04-amd64"
    ),
}


class SourceMissing(Exception):
    """The shipped bundle or overlay is not in this tree."""


def load(root: pathlib.Path, path: pathlib.Path) -> dict[str, Any]:
    try:
        return yaml.safe_load((root / path).read_text())
    except FileNotFoundError as error:
        raise SourceMissing(f"{path} is missing; the test bundles are built from it") from error


def _set_origin(spec: dict[str, Any], origin: str) -> None:
    for option in ORIGIN_OPTIONS:
        if spec.get("options", {}).get(option) == SHIPPED_ORIGIN:
            spec["options"][option] = origin


def bundle_for(shipped: dict[str, Any], variant: Variant) -> dict[str, Any]:
    bundle = copy.deepcopy(shipped)
    bundle.pop("variables", None)  # anchors are resolved by now
    bundle["default-base"] = variant.base
    for spec in bundle["applications"].values():
        _set_origin(spec, variant.origin)
        if variant.ceph_channel and spec.get("charm") in CEPH_CHARMS:
            spec["channel"] = variant.ceph_channel
    return bundle


def overlay_for(shipped: dict[str, Any], variant: Variant) -> dict[str, Any]:
    overlay = copy.deepcopy(shipped)
    for spec in overlay["applications"].values():
        _set_origin(spec, variant.origin)
        charm = spec.get("charm", "")
        if charm.startswith("."):
            name = pathlib.PurePath(charm).name.replace(SHIPPED_PLATFORM, variant.platform)
            spec["charm"] = "{{ charm_location }}/" + name
        for option, value in spec.get("options", {}).items():
            if isinstance(value, str) and value in PLACEHOLDERS:
                spec["options"][option] = PLACEHOLDERS[value]
    leftover = [v for v in PLACEHOLDERS if v in yaml.safe_dump(overlay)]
    if leftover:
        raise ValueError(f"{SHIPPED_OVERLAY}: placeholders not replaced: {', '.join(leftover)}")
    return overlay


def header(kind: str, name: str) -> str:
    return (
        f"# {kind} for the functional tests ({name}), written by\n"
        "# `python -m tests.functional.build_bundles` from\n"
        f"# {SHIPPED_BUNDLE} and {SHIPPED_OVERLAY}: do not edit.\n"
    )


def build(root: pathlib.Path = ROOT) -> dict[pathlib.Path, str]:
    """{path relative to root: content} for every file this writes."""
    shipped_bundle = load(root, SHIPPED_BUNDLE)
    shipped_overlay = load(root, SHIPPED_OVERLAY)
    files = {}
    for name, variant in VARIANTS.items():
        bundle = yaml.safe_dump(bundle_for(shipped_bundle, variant), sort_keys=False)
        overlay = yaml.safe_dump(overlay_for(shipped_overlay, variant), sort_keys=False)
        files[OUTPUT / f"{name}.yaml"] = header("Bundle", name) + bundle
        files[OUTPUT / "overlays" / f"{name}.yaml.j2"] = header("Overlay", name) + overlay
    return files


def main(argv: list[str]) -> int:
    root = pathlib.Path(argv[0]) if argv else ROOT
    try:
        files = build(root)
    except (SourceMissing, ValueError) as error:
        print(f"build_bundles: {error}", file=sys.stderr)
        return 1
    for path, text in files.items():
        (ROOT / path).write_text(text)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
