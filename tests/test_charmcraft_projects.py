"""Every charm's charmcraft.yaml, loaded with charmcraft's own project model.

charmcraft refuses to pack on Debian hosts, so this is how schema errors fail CI here; on
Ubuntu with LXD, `tox -e build` packs for real.
"""

from __future__ import annotations

import keyword
import pathlib
import re

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


def test_every_option_and_action_is_used_by_the_charm_code(charm):
    """No dead options: each is read somewhere in the charm's source."""
    source = "\n".join(p.read_text() for p in (charm / "src").glob("*.py"))
    literals = set(re.findall(r"""["']([a-z0-9_-]+)["']""", source))
    # f"os-{kind}-hostname" reads three options: each f-string becomes a pattern.
    templates = [
        re.compile(re.sub(r"\\\{[^}]*\\\}", "[a-z0-9_-]+", re.escape(t)))
        for t in re.findall(r"""f["']([^"']*\{[^"']*)["']""", source)
    ]
    data = load(charm)
    for option in (data.get("config") or {}).get("options", {}):
        used = option in literals or any(t.fullmatch(option) for t in templates)
        assert used, f"option {option} is unused"
    for action in data.get("actions") or {}:
        assert f"on.{action.replace('-', '_')}_action" in source, f"action {action} is unhandled"
