"""README's status table lists every status the charms can show, and nothing else.

Statuses come only from charm_common.status's catalog: a charm that built an `ops.*Status`
itself would show a message the table cannot list, so the sources are checked for that too.
"""

from __future__ import annotations

import ast
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))

from charm_common import lifecycle, status  # noqa: E402, F401 - lifecycle adds its messages

STATUS_CLASSES = {"ActiveStatus", "BlockedStatus", "MaintenanceStatus", "WaitingStatus"}


def readme_rows() -> set[tuple[str, str, str]]:
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Statuses\n", 1)[1].split("\n## ", 1)[0]
    rows = set()
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] in ("active", "blocked", "maintenance", "waiting", "note"):
            rows.add((cells[0], cells[1].strip("`"), cells[2]))
    return rows


def test_readme_lists_exactly_the_catalog():
    catalog = {(m.kind, m.template, ", ".join(m.charms)) for m in status.CATALOG}
    rows = readme_rows()
    assert rows - catalog == set(), "README lists statuses the code cannot show"
    assert catalog - rows == set(), "README misses statuses the code can show"


def test_no_status_is_built_outside_the_catalog():
    sources = [*ROOT.glob("charms/*/src/*.py"), *ROOT.glob("lib/charm_common/*.py")]
    for path in sources:
        if path.name == "status.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "attr", getattr(node.func, "id", ""))
                assert name not in STATUS_CLASSES, f"{path}:{node.lineno} builds {name}"


def test_the_check_sees_a_status_built_in_a_charm(tmp_path):
    """The AST check above fails on a charm that builds its own status."""
    tree = ast.parse("import ops\nx = ops.BlockedStatus('mine')\n")
    names = [getattr(n.func, "attr", "") for n in ast.walk(tree) if isinstance(n, ast.Call)]
    assert "BlockedStatus" in names


def test_every_template_names_its_fields_once():
    for message in status.CATALOG:
        assert len(set(message.fields)) == len(message.fields), message.template
        assert re.fullmatch(r"[^{}]*(\{[a-z_]+\}[^{}]*)*", message.template), message.template
