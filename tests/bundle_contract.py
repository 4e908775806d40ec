"""Offline contract check for the suite's bundle and overlay.

Merges a bundle with its overlays the way `juju deploy BUNDLE --overlay OVERLAY` does, then
checks the result against what the charms declare: endpoints (exist, provides meets requires,
same interface, container scope only with a subordinate, every subordinate attached to a
principal), options (known to the charm, of the charm's type), placement (machines exist, no
units on subordinates), bindings, local charm files (a platform the charm builds, for the
bundle's base) and placeholders (only in the fields the README documents).

Our charms are read from charms/<name>/charmcraft.yaml; the Charmed OpenStack charms from
bundles/external-charms.yaml, a small table citing its sources. Juju's own bundle verifier is
Go code in the Juju client and controller; python-libjuju hands bundles to a live controller;
charm-tools' `charm proof` (juju-bundlelib) checks the file's shape but not endpoints,
interfaces or options. Hence this module.

    python3 tests/bundle_contract.py BUNDLE [--overlay OVERLAY ...] [--filled]

`--filled` also refuses the documented placeholders: run it after filling them in, before
deploying. Exit status 0 when the deployment is consistent, 1 with one line per problem.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import ipaddress
import pathlib
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXTERNAL_CHARMS = ROOT / "bundles" / "external-charms.yaml"

PLACEHOLDER = re.compile(r"<[A-Z][A-Z0-9 ()/_.:-]*>")
# The fields an operator fills in before deploying (README "Deploy on a real cloud").
DOCUMENTED_FIELDS: dict[tuple[str, str], str] = {
    ("hacluster", "maas_url"): "the MAAS API URL, e.g. http://10.0.0.2:5240/MAAS",
    ("hacluster", "maas_credentials"): "a MAAS API key, consumer_key:token_key:token_secret",
    ("masakari", "vip"): "the masakari VIP(s), space separated IP addresses",
}
UBUNTU_SERIES = {"24.04": "noble", "22.04": "jammy", "20.04": "focal"}
TOP_LEVEL_KEYS = {
    "applications", "machines", "relations", "series", "default-base", "variables",
    "description", "name", "tags", "saas", "type",
}  # fmt: skip
APPLICATION_KEYS = {
    "charm", "channel", "revision", "series", "base", "num_units", "to", "options", "bindings",
    "constraints", "annotations", "storage", "devices", "expose", "exposed-endpoints", "trust",
    "resources",
}  # fmt: skip
MACHINE_KEYS = {"series", "base", "constraints", "annotations"}
PLACEMENT = re.compile(
    r"(?:(?:lxd|kvm):)?(?:(?P<machine>\d+|new)|(?P<app>[a-z][a-z0-9-]*)/(?P<unit>\d+))"
)
JUJU_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "secret": (str,),
    "int": (int,),
    "float": (int, float),
    "boolean": (bool,),
}


class ContractError(Exception):
    """A file or table the check cannot read; the message says which and why."""


@dataclasses.dataclass(frozen=True)
class Endpoint:
    role: str  # provides, requires or peers
    interface: str
    scope: str = "global"


@dataclasses.dataclass(frozen=True)
class Charm:
    name: str
    source: str
    subordinate: bool
    endpoints: Mapping[str, Endpoint]
    extra_bindings: frozenset[str]
    options: Mapping[str, str]  # option name -> Juju type
    platforms: frozenset[str] = frozenset()  # charmcraft platform names (our charms only)


def _shown(path: pathlib.Path) -> str:
    """A path as the operator typed it: relative to the repository when inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _endpoint(role: str, spec: Any) -> Endpoint:
    if isinstance(spec, str):
        return Endpoint(role, spec)
    return Endpoint(role, spec["interface"], spec.get("scope", "global"))


def _with_juju_info(endpoints: dict[str, Endpoint]) -> dict[str, Endpoint]:
    # Juju gives every charm an implicit `juju-info` provides endpoint.
    endpoints.setdefault("juju-info", Endpoint("provides", "juju-info"))
    return endpoints


def load_yaml(path: pathlib.Path) -> list[Any]:
    try:
        return list(yaml.safe_load_all(path.read_text()))
    except OSError as error:
        raise ContractError(f"{path}: cannot read: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise ContractError(f"{path}: not valid YAML: {error}") from None


def local_charm(charmcraft_yaml: pathlib.Path) -> Charm:
    (data,) = load_yaml(charmcraft_yaml)
    if not isinstance(data, Mapping) or "name" not in data:
        raise ContractError(f"{charmcraft_yaml}: not a charmcraft.yaml (no name)")
    endpoints = {
        name: _endpoint(role, spec)
        for role in ("provides", "requires", "peers")
        for name, spec in (data.get(role) or {}).items()
    }
    options = (data.get("config") or {}).get("options") or {}
    return Charm(
        name=data["name"],
        source=_shown(charmcraft_yaml),
        subordinate=bool(data.get("subordinate")),
        endpoints=_with_juju_info(endpoints),
        extra_bindings=frozenset(data.get("extra-bindings") or {}),
        options={name: spec.get("type", "string") for name, spec in options.items()},
        platforms=frozenset(data.get("platforms") or {}),
    )


def external_charms(table: pathlib.Path = EXTERNAL_CHARMS) -> dict[str, Charm]:
    (data,) = load_yaml(table)
    return {
        name: Charm(
            name=name,
            source=f"{table.name} ({'; '.join(str(s) for s in spec.get('sources', []))})",
            subordinate=bool(spec.get("subordinate")),
            endpoints=_with_juju_info(
                {
                    endpoint: _endpoint(role, interface)
                    for role in ("provides", "requires")
                    for endpoint, interface in (spec.get(role) or {}).items()
                }
            ),
            extra_bindings=frozenset(spec.get("extra-bindings") or []),
            options=dict(spec.get("options") or {}),
        )
        for name, spec in data.items()
    }


class Catalog:
    """Finds the charm an application deploys: a packed file or name of ours, or the table."""

    def __init__(
        self,
        charm_dirs: Sequence[pathlib.Path] = (ROOT / "charms",),
        table: pathlib.Path = EXTERNAL_CHARMS,
    ):
        self.charm_dirs = tuple(charm_dirs)  # searched in order for <name>/charmcraft.yaml
        self.external = external_charms(table)

    def ours(self, name: str) -> Charm | None:
        for charm_dir in self.charm_dirs:
            if (path := charm_dir / name / "charmcraft.yaml").exists():
                return local_charm(path)
        return None

    def resolve(self, app: str, charm: Any, base: str | None) -> tuple[Charm | None, list[str]]:
        where = f"applications.{app}.charm"
        if not isinstance(charm, str) or not charm:
            return None, [f"{where}: missing: name the charm (ch:<name> or a packed .charm path)"]
        if charm.startswith("cs:"):
            return None, [f"{where}: {charm}: the charm store is retired; use ch:{charm[3:]}"]
        if charm.startswith((".", "/")):
            return self._resolve_file(where, charm, base)
        name = charm.removeprefix("ch:").rsplit("/", 1)[-1]
        found = self.ours(name) or self.external.get(name)
        if found is None:
            return None, [
                f"{where}: {charm}: unknown charm; add its endpoints and options to "
                f"{EXTERNAL_CHARMS.relative_to(ROOT)} with their source"
            ]
        return found, []

    def _resolve_file(
        self, where: str, path: str, base: str | None
    ) -> tuple[Charm | None, list[str]]:
        file_name = pathlib.PurePosixPath(path).name
        name, _, platform = file_name.removesuffix(".charm").partition("_")
        found = self.ours(name)
        if found is None:
            return None, [
                f"{where}: {path} names charm {name}, but there is no "
                f"{' or '.join(_shown(d / name / 'charmcraft.yaml') for d in self.charm_dirs)}"
            ]
        if not file_name.endswith(".charm"):
            return found, []  # a charm directory
        if platform not in found.platforms:
            return found, [
                f"{where}: {path}: {name} is not built for platform {platform!r}; its platforms: "
                f"{', '.join(sorted(found.platforms))} (file names are <name>_<platform>.charm)"
            ]
        version = re.match(r"ubuntu-(\d+\.\d+)", platform)
        if base and version and version.group(1) != base:
            return found, [
                f"{where}: {path} is built for Ubuntu {version.group(1)}, the bundle deploys "
                f"Ubuntu {base}: use {name}_{platform.replace(version.group(1), base)}.charm"
            ]
        return found, []


def merge(bundle: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """Apply an overlay as Juju does.

    Applications and machines merge key by key (an application's options and annotations merge
    one level deeper; other fields are replaced); `applications: {name: null}` removes the
    application and its relations; relations are appended; other top-level keys are replaced.
    """
    merged = copy.deepcopy(dict(bundle))
    removed: set[str] = set()
    for key, value in overlay.items():
        if key in ("applications", "machines") and isinstance(value, Mapping):
            entries = merged.setdefault(key, {}) or {}
            merged[key] = entries
            for name, entry in value.items():
                if entry is None and key == "applications":
                    entries.pop(name, None)
                    removed.add(name)
                    continue
                target = dict(entries.get(name) or {})
                for field, field_value in (entry or {}).items():
                    if field in ("options", "annotations") and isinstance(field_value, Mapping):
                        target[field] = {**(target.get(field) or {}), **field_value}
                    else:
                        target[field] = copy.deepcopy(field_value)
                entries[name] = target
        elif key == "relations":
            merged["relations"] = [*(merged.get("relations") or []), *copy.deepcopy(value or [])]
        else:
            merged[key] = copy.deepcopy(value)
    if removed:
        merged["relations"] = [
            relation
            for relation in merged.get("relations") or []
            if not any(str(end).split(":")[0] in removed for end in relation)
        ]
    return merged


def _walk(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _walk(item, (*path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, (*path, str(index)))
    else:
        yield path, value


def _type_name(value: Any) -> str:
    return {bool: "boolean", int: "int", float: "float", str: "string"}.get(
        type(value), type(value).__name__
    )


def _base_version(bundle: Mapping[str, Any]) -> str | None:
    if base := bundle.get("default-base"):
        return str(base).removeprefix("ubuntu@").split("/")[0]
    series = bundle.get("series")
    return next((v for v, s in UBUNTU_SERIES.items() if s == series), None)


def placeholder_problems(
    bundle: Mapping[str, Any], allowed: frozenset[tuple[str, str]], label: str = ""
) -> list[str]:
    problems = []
    for path, value in _walk(bundle):
        if not (isinstance(value, str) and PLACEHOLDER.search(value)):
            continue
        field = (
            (path[1], path[3])
            if len(path) == 4 and path[0] == "applications" and path[2] == "options"
            else None
        )
        if field in allowed:
            continue
        where = f"{label}{'.'.join(path)}"
        if field in DOCUMENTED_FIELDS:
            problems.append(f"{where}: still {value!r}: set it to {DOCUMENTED_FIELDS[field]}")
        else:
            fields = ", ".join(f"{app}.options.{option}" for app, option in DOCUMENTED_FIELDS)
            problems.append(
                f"{where}: placeholder {value!r} outside the documented fields ({fields}): "
                "give it a real value"
            )
    return problems


def _documented_value_problems(apps: Mapping[str, Any]) -> list[str]:
    problems = []
    for (app, option), meaning in DOCUMENTED_FIELDS.items():
        if app not in apps:
            continue
        where = f"applications.{app}.options.{option}"
        value = ((apps[app] or {}).get("options") or {}).get(option)
        if value in (None, ""):
            problems.append(f"{where}: not set: set it to {meaning}")
            continue
        if not isinstance(value, str) or PLACEHOLDER.search(value):
            continue  # the type check or the placeholder check reports these
        if option == "vip":
            for address in value.split():
                try:
                    ipaddress.ip_address(address)
                except ValueError:
                    problems.append(
                        f"{where}: {address!r} is not an IP address: set it to {meaning}"
                    )
        elif option == "maas_url" and not re.fullmatch(r"https?://[^/\s]+(/\S*)?", value):
            problems.append(f"{where}: not an http(s) URL: set it to {meaning}")
        elif option == "maas_credentials" and not re.fullmatch(r"[^:\s]+:[^:\s]+:[^:\s]+", value):
            problems.append(f"{where}: not three ':'-separated parts: set it to {meaning}")
    return problems


def check(
    bundle: Mapping[str, Any],
    catalog: Catalog,
    allowed_placeholders: frozenset[tuple[str, str]] = frozenset(DOCUMENTED_FIELDS),
) -> list[str]:
    """Every inconsistency in a (merged) bundle, one actionable line each."""
    if not isinstance(bundle, Mapping):
        return ["the bundle is not a mapping of applications, machines and relations"]
    problems = [
        "services: write `applications:` (Juju 2+ bundles)"
        if key == "services"
        else f"{key}: not a bundle key ({', '.join(sorted(TOP_LEVEL_KEYS))})"
        for key in bundle
        if key not in TOP_LEVEL_KEYS
    ]
    apps: Mapping[str, Any] = bundle.get("applications") or {}
    machines = {str(key): value for key, value in (bundle.get("machines") or {}).items()}
    base = _base_version(bundle)
    series = UBUNTU_SERIES.get(base or "")

    for machine, spec in machines.items():
        if not machine.isdigit():
            problems.append(f"machines.{machine}: machine ids are numbers")
        for key in (spec or {}) if isinstance(spec, Mapping) else ():
            if key not in MACHINE_KEYS:
                problems.append(
                    f"machines.{machine}.{key}: not a machine key "
                    f"({', '.join(sorted(MACHINE_KEYS))})"
                )

    charms: dict[str, Charm] = {}
    for app, spec in apps.items():
        where = f"applications.{app}"
        if not isinstance(spec, Mapping):
            problems.append(f"{where}: expected a mapping (charm, options, ...)")
            continue
        problems += [
            f"{where}.{key}: not an application key" for key in spec if key not in APPLICATION_KEYS
        ]
        app_base = _base_version(spec) if ("base" in spec or "series" in spec) else base
        charm, charm_problems = catalog.resolve(app, spec.get("charm"), app_base)
        problems += charm_problems
        if charm is None:
            continue
        charms[app] = charm
        problems += _unit_problems(app, spec, charm, apps, machines)
        problems += _option_problems(app, spec, charm, series)
        for binding in spec.get("bindings") or {}:
            if binding and binding not in charm.endpoints and binding not in charm.extra_bindings:
                problems.append(
                    f"{where}.bindings.{binding}: {charm.name} has no endpoint or extra-binding "
                    f"{binding} ({charm.source})"
                )

    problems += _relation_problems(bundle.get("relations") or [], apps, charms)
    problems += placeholder_problems(bundle, allowed_placeholders)
    problems += _documented_value_problems(apps)
    return problems


def _units(spec: Any) -> int:
    units = (spec or {}).get("num_units", 0) if isinstance(spec, Mapping) else 0
    return units if isinstance(units, int) else 0  # a bad count is reported on its own


def _unit_problems(
    app: str,
    spec: Mapping[str, Any],
    charm: Charm,
    apps: Mapping[str, Any],
    machines: Mapping[str, Any],
) -> list[str]:
    where = f"applications.{app}"
    units = spec.get("num_units", 0)
    placements = spec.get("to")
    placements = [] if placements is None else placements
    placements = placements if isinstance(placements, list) else [placements]
    if not isinstance(units, int) or isinstance(units, bool) or units < 0:
        return [f"{where}.num_units: {units!r} is not a number of units"]
    if charm.subordinate:
        if units or placements:
            return [
                f"{where}: {charm.name} is a subordinate charm: remove num_units/to (its units "
                "come with its container-scoped relation to a principal)"
            ]
        return []
    problems = []
    if len(placements) > units:
        problems.append(f"{where}.to: {len(placements)} placements for {units} units")
    for placement in placements:
        match = PLACEMENT.fullmatch(str(placement))
        if match is None:
            problems.append(
                f"{where}.to: {placement!r} is not a placement (N, lxd:N, new, <app>/<unit>)"
            )
        elif match["machine"] and match["machine"] != "new" and match["machine"] not in machines:
            problems.append(
                f"{where}.to: {placement!r} names machine {match['machine']}, which the machines "
                f"section does not define (defined: {', '.join(sorted(machines)) or 'none'})"
            )
        elif match["app"] and (
            match["app"] not in apps or int(match["unit"]) >= _units(apps[match["app"]])
        ):
            problems.append(f"{where}.to: {placement!r} names a unit the bundle does not deploy")
    return problems


def _option_problems(
    app: str, spec: Mapping[str, Any], charm: Charm, series: str | None
) -> list[str]:
    problems = []
    options = spec.get("options") or {}
    if not isinstance(options, Mapping):
        return [f"applications.{app}.options: expected a mapping of option: value"]
    for option, value in options.items():
        where = f"applications.{app}.options.{option}"
        if option not in charm.options:
            problems.append(f"{where}: {charm.name} has no option {option} ({charm.source})")
            continue
        expected = charm.options[option]
        allowed = JUJU_TYPES.get(expected, (str,))
        # bool is an int in Python, not in Juju.
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            problems.append(
                f"{where}: {charm.name} expects {expected}, got {_type_name(value)} {value!r}"
            )
        elif (
            option in ("openstack-origin", "source")
            and isinstance(value, str)
            and value.startswith("cloud:")
        ):
            pocket_series = value.removeprefix("cloud:").split("-")[0]
            if series and pocket_series != series:
                problems.append(
                    f"{where}: {value} is a pocket for {pocket_series}, the bundle deploys "
                    f"{series}: use distro or cloud:{series}-<release>"
                )
    return problems


def _relation_problems(
    relations: Any, apps: Mapping[str, Any], charms: Mapping[str, Charm]
) -> list[str]:
    problems: list[str] = []
    seen: set[frozenset[str]] = set()
    attached: set[str] = set()  # subordinates with a container-scoped relation to a principal
    if not isinstance(relations, list):
        return ["relations: expected a list of [app:endpoint, app:endpoint] pairs"]
    for relation in relations:
        if not (
            isinstance(relation, list)
            and len(relation) == 2
            and all(isinstance(e, str) for e in relation)
        ):
            problems.append(f"relations: {relation!r} is not a pair of app:endpoint strings")
            continue
        label = f"relation {relation[0]} - {relation[1]}"
        if frozenset(relation) in seen:
            problems.append(f"{label}: listed twice")
        seen.add(frozenset(relation))
        ends: list[tuple[str, Charm, Endpoint]] = []
        for end in relation:
            app, _, name = end.partition(":")
            if app not in apps:
                problems.append(f"{label}: no application {app} in the bundle")
            elif not name:
                problems.append(
                    f"{label}: name the endpoint ({app}:<endpoint>) so it can be checked"
                )
            elif app in charms:
                charm = charms[app]
                if name not in charm.endpoints:
                    known = ", ".join(sorted(charm.endpoints))
                    problems.append(
                        f"{label}: {app} ({charm.name}) has no endpoint {name}; its endpoints: "
                        f"{known} ({charm.source})"
                    )
                else:
                    ends.append((app, charm, charm.endpoints[name]))
        if len(ends) != 2:
            continue
        (app_a, charm_a, end_a), (app_b, charm_b, end_b) = ends
        if {end_a.role, end_b.role} != {"provides", "requires"}:
            problems.append(
                f"{label}: joins a {end_a.role} endpoint to a {end_b.role} endpoint; "
                "a relation joins a provides endpoint to a requires endpoint"
            )
        if end_a.interface != end_b.interface:
            problems.append(
                f"{label}: interface mismatch: {relation[0]} is {end_a.interface}, "
                f"{relation[1]} is {end_b.interface}"
            )
        if "container" in (end_a.scope, end_b.scope):
            if not (charm_a.subordinate or charm_b.subordinate):
                problems.append(
                    f"{label}: container-scoped, but neither {app_a} nor {app_b} is a subordinate"
                )
            elif charm_a.subordinate != charm_b.subordinate:
                attached.add(app_a if charm_a.subordinate else app_b)
    for app, charm in charms.items():
        if charm.subordinate and app not in attached:
            problems.append(
                f"applications.{app}: subordinate {charm.name} has no container-scoped relation "
                "to a principal, so it gets no units (relate one of its container-scoped "
                "endpoints, e.g. to nova-compute:juju-info)"
            )
    return problems


def check_files(
    bundle_path: pathlib.Path,
    overlay_paths: list[pathlib.Path] = (),  # type: ignore[assignment]
    filled: bool = False,
    catalog: Catalog | None = None,
) -> list[str]:
    """Check a bundle file merged with overlay files; the bundle itself has no placeholders."""
    catalog = catalog or Catalog()
    documents = load_yaml(bundle_path)
    if not documents or not isinstance(documents[0], Mapping):
        raise ContractError(f"{bundle_path}: not a bundle (expected a mapping with applications)")
    bundle, overlays = documents[0], documents[1:]
    for path in overlay_paths:
        overlays += load_yaml(path)
    problems = placeholder_problems(bundle, frozenset(), label=f"{bundle_path.name}: ")
    merged = bundle
    for overlay in overlays:
        if not isinstance(overlay, Mapping):
            raise ContractError(f"an overlay of {bundle_path} is not a mapping")
        merged = merge(merged, overlay)
    allowed = frozenset() if filled else frozenset(DOCUMENTED_FIELDS)
    return problems + check(merged, catalog, allowed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", type=pathlib.Path)
    parser.add_argument("--overlay", type=pathlib.Path, action="append", default=[])
    parser.add_argument(
        "--filled", action="store_true", help="refuse the documented placeholders too"
    )
    args = parser.parse_args(argv)
    try:
        problems = check_files(args.bundle, args.overlay, filled=args.filled)
    except ContractError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for problem in problems:
        print(problem)
    names = " + ".join(str(p) for p in [args.bundle, *args.overlay])
    if problems:
        print(f"{names}: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"{names}: consistent")
    return 0


if __name__ == "__main__":
    sys.exit(main())
