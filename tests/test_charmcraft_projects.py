"""Every charm's charmcraft.yaml, loaded with charmcraft's own project model.

charmcraft refuses to pack on Debian hosts, so this is how schema errors fail CI here; on
Ubuntu with LXD, `tox -e build` packs for real.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import keyword
import pathlib
import re
import sys
from collections.abc import Iterable

import pytest
import yaml
from charmcraft import parts
from charmcraft.models import config, metadata, project

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHARMS = sorted(p.parent for p in ROOT.glob("charms/*/charmcraft.yaml"))
parts.setup_parts()  # registers the charm plugin the parts refer to


@pytest.fixture(params=CHARMS, ids=[c.name for c in CHARMS])
def charm(request) -> pathlib.Path:
    return request.param


def load(charm: pathlib.Path) -> dict:
    return yaml.safe_load((charm / "charmcraft.yaml").read_text())


def test_charmcraft_yaml_is_a_valid_project(charm):
    data = load(charm)
    model = project.CharmcraftProject.unmarshal(data)
    assert model.name == charm.name
    assert {"ubuntu-24.04-amd64", "ubuntu-22.04-amd64"} <= set(model.platforms)
    config.JujuConfig.model_validate(data.get("config") or {"options": {}})
    meta = metadata.CharmMetadata.from_charm(model)
    assert meta.name == charm.name


def test_action_names_are_what_juju_accepts(charm):
    for name, action in (load(charm).get("actions") or {}).items():
        assert re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9-_]*", name) and not keyword.iskeyword(name)
        assert action.get("description"), f"{name} has no description"


def config_fields(charm: pathlib.Path) -> dict[str, str]:
    """Option name -> field name of the charm's typed config class (src/config.py)."""
    sys.path[:0] = [str(charm / "src"), str(ROOT / "lib")]
    try:
        spec = importlib.util.spec_from_file_location(
            f"config_{charm.name}", charm / "src/config.py"
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up while building
        spec.loader.exec_module(module)
    finally:
        del sys.path[:2]
    from charm_common.config import TypedConfig, option_name

    (cls,) = [
        v for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, TypedConfig) and v is not TypedConfig
    ]  # fmt: skip
    return {option_name(f): f.name for f in dataclasses.fields(cls)}


def unused_options(options: Iterable[str], fields: dict[str, str], source: str) -> list[str]:
    """Options with no config field, fields with no option, and fields nothing reads.

    A field is read when the source names it as an attribute (`.field`), a string literal, or
    an f-string whose placeholders stand for one word each (f"os_{kind}_hostname"); an
    f-string made only of placeholders matches nothing, so it cannot hide an unused option.
    """
    # A field declaration: `    name: type` or `    name: type = option(...)`, at class level.
    declared = re.compile(r"^    [a-z0-9_]+: [A-Za-z][^=\n]*( = option\(.*)?$", re.MULTILINE)
    body = declared.sub("", source)
    literals = set(re.findall(r"""["']([a-z0-9_-]+)["']""", body))
    attributes = set(re.findall(r"\.([a-z0-9_]+)\b", body))
    templates = [
        re.compile(re.sub(r"\\\{[^}]*\\\}", "[a-z]+", re.escape(t)))
        for t in re.findall(r"""f["']([^"']*\{[^"']*)["']""", body)
        if re.sub(r"\{[^}]*\}", "", t).strip("_-")
    ]
    problems = [f"option {o} has no field in src/config.py" for o in options if o not in fields]
    problems += [f"field for {o} has no option" for o in fields if o not in set(options)]
    for option, field in fields.items():
        if not (
            field in attributes or field in literals or option in literals
            or any(t.fullmatch(field) or t.fullmatch(option) for t in templates)
        ):  # fmt: skip
            problems.append(f"option {option} is read by nothing")
    return problems


def charm_source(charm: pathlib.Path) -> str:
    return "\n".join(p.read_text() for p in sorted((charm / "src").glob("*.py")))


def test_every_option_has_a_typed_field_that_the_charm_reads(charm):
    options = list(load(charm)["config"]["options"])
    assert unused_options(options, config_fields(charm), charm_source(charm)) == []


def test_a_fake_option_or_an_unread_field_fails_the_check(charm):
    options = list(load(charm)["config"]["options"])
    fields = config_fields(charm)
    source = charm_source(charm)
    assert unused_options([*options, "fake-option"], fields, source) == [
        "option fake-option has no field in src/config.py"
    ]
    fake = {**fields, "fake-option": "fake_option"}
    declared = source + "\n    fake_option: str = option(text())\n"
    assert unused_options([*options, "fake-option"], fake, declared) == [
        "option fake-option is read by nothing"
    ]
    # The f-string that once made every option look used.
    assert unused_options([*options, "fake-option"], fake, declared + 'f"{a}-{b}"\n') == [
        "option fake-option is read by nothing"
    ]


def test_every_action_is_handled(charm):
    source = charm_source(charm) + (ROOT / "lib/charm_common/lifecycle.py").read_text()
    for action in load(charm).get("actions") or {}:
        assert f'"{action}"' in source, f"action {action} is unhandled"
