"""Generated config and relation data for the charms' unit tests, and what every outcome must be.

Each charm's `tests/unit/test_generated.py` drives its charm through ops.testing with inputs
built here (hypothesis, a fixed seed in CI) and checks the outcome with `check_outcome`: no
uncaught exception, a status from the suite's catalog (never the catch-all), every rendered ini
parsed back by configparser with only the sections and keys its template can write and no value
spanning lines, no secret in the status, the logs or a file readable beyond 0640.
"""

from __future__ import annotations

import configparser
import copy
import math
import pathlib
import re
from collections.abc import Iterable, Mapping

import yaml
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from ops import testing

from charm_common import status
from charm_common.testing import FakeSystem

# One profile for every generated test: reproducible (derandomize), no example database, no
# deadline (ops.testing runs are tens of ms and vary with the machine's load).
settings.register_profile(
    "charms",
    max_examples=1000,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
GENERATED = settings.get_profile("charms")

# Text that breaks ini files and relation values, and text that is merely unusual.
_NASTY = ["", " ", "\n", "x\ny", "a\r\nb", "[DEFAULT]", "\nhost = evil", "a = b", "\x00", "\t",
          "%(x)s", "$x", "$$", "é", "雪", "a" * 300, "-1", "0", "1e308", "nan", "null", "~",
          "!!python/object:os.system", "10.0.0.1", "::1", "fe80::1", "127.0.0.1", "host.maas",
          "http://x", "QUJD", "-----BEGIN CERTIFICATE-----"]  # fmt: skip
nasty_text = st.one_of(st.sampled_from(_NASTY), st.text(max_size=40))


def config_values(option: Mapping[str, object]) -> st.SearchStrategy:
    """Values Juju accepts for an option of this type: good, edge and hostile ones."""
    default = option.get("default")
    kind = option["type"]
    if kind == "boolean":
        return st.booleans()
    if kind == "int":
        return st.one_of(
            st.integers(-10, 10**6),
            st.sampled_from([0, 1, -1, 2**31 - 1, 2**31, 2**63 - 1, -(2**63)]),
            st.just(default) if default is not None else st.nothing(),
        )
    if kind == "float":
        return st.one_of(
            st.floats(allow_nan=True, allow_infinity=True),
            st.sampled_from([0.0, -0.5, 0.25, 1.0, 2.0, 32.0, 32.5, 1e6, 1e308, math.inf]),
        )
    return st.one_of(
        nasty_text,
        st.just(default) if default is not None else st.nothing(),
        st.lists(st.sampled_from(_NASTY), max_size=3).map(" ".join),
    )


def configs(charmcraft_yaml: pathlib.Path, good: Mapping[str, st.SearchStrategy] = {}):  # noqa: B006
    """Dicts of some of the charm's options, each from `good[option]` or config_values."""
    options = yaml.safe_load(charmcraft_yaml.read_text())["config"]["options"]
    return st.fixed_dictionaries(
        {},
        optional={
            name: st.one_of(config_values(option), good[name]) if name in good
            else config_values(option)
            for name, option in options.items()
        },
    )  # fmt: skip


def mutated(data: Mapping[str, str], values: st.SearchStrategy = nasty_text):
    """`data` with some keys replaced by generated values and some removed."""
    keys = sorted(data)
    return st.fixed_dictionaries(
        {}, optional={key: st.one_of(values, st.none()) for key in keys}
    ).map(lambda changes: {
        key: value for key, value in {**data, **changes}.items() if value is not None
    })  # fmt: skip


class GeneratedUnit:
    """One charm driven once per generated example, each time on a fresh machine.

    pytest fixtures outlive hypothesis examples, so each run gets a new machine from
    `machine()` (or a copy of the ready one) and one Context per charm with its logs emptied
    (a new Context per example would cost a third of each run).
    """

    def __init__(self, charm_class: type, charm_root: pathlib.Path, machine) -> None:
        self.charm_class = charm_class
        self.ctx = testing.Context(charm_class, charm_root=charm_root)
        self.machine = machine
        self._ready: tuple[testing.State, FakeSystem] | None = None

    def run(self, state: testing.State, system: FakeSystem | None = None):
        """config-changed on `state`; (output state, machine, context)."""
        system = system or self.machine()
        for record in (self.ctx.juju_log, self.ctx.unit_status_history, self.ctx.emitted_events):
            record.clear()
        saved, self.charm_class.system = self.charm_class.system, system
        try:
            return self.ctx.run(self.ctx.on.config_changed(), state), system, self.ctx
        finally:
            self.charm_class.system = saved

    def ready(self, state: testing.State) -> tuple[testing.State, FakeSystem]:
        """The unit made ready once from `state`, and a copy of its machine for this example."""
        if self._ready is None:
            out, system, _ = self.run(state)
            assert out.unit_status.name == "active", out.unit_status
            self._ready = out, system
        return self._ready[0], copy.deepcopy(self._ready[1])


# What every outcome must be ----------------------------------------------------------------------


def catalog_pattern(message: status.Message) -> re.Pattern:
    parts = re.split(r"\{[a-z_]+\}", message.template)
    return re.compile(".+".join(re.escape(p) for p in parts), re.DOTALL)


_PATTERNS = [(m, catalog_pattern(m)) for m in status.CATALOG if m.kind != "note"]
_NOTES = [catalog_pattern(m) for m in status.CATALOG if m.kind == "note"]
# One or more notes, `; ` apart: a field may itself hold `; ` (a segment name), so the notes are
# matched as a whole rather than split.
_NOTE_LIST = re.compile(
    "(?:{0})(?:; (?:{0}))*".format("|".join(p.pattern for p in _NOTES)), re.DOTALL
)


def catalog_message(unit_status) -> status.Message:
    """The catalog entry a status came from; fails the test for a message built elsewhere."""
    text = unit_status.message
    for message, pattern in _PATTERNS:
        if message.kind == unit_status.name and pattern.fullmatch(text):
            return message
        if message.kind == "active" and text.startswith(message.template + "; "):
            if _NOTE_LIST.fullmatch(text[len(message.template) + 2 :]):
                return message
    raise AssertionError(f"status not in the catalog: {unit_status!r}")


def ini_keys(template: pathlib.Path) -> set[tuple[str, str]]:
    """(section, key) pairs a template can write: its `[section]` and `key = ` lines."""
    pairs, section = set(), "DEFAULT"
    for line in template.read_text().splitlines():
        if match := re.fullmatch(r"\[([a-z_]+)\]", line.strip()):
            section = match[1]
        elif match := re.fullmatch(r"([a-z_]+) = .*", line.strip()):
            pairs.add((section, match[1]))
        elif "{{ option }} =" in line:  # a loop over options: any key of that section
            pairs.add((section, "*"))
    return pairs


def check_ini(content: bytes, allowed: set[tuple[str, str]]) -> None:
    """Parses strictly, no key outside the template's, no value over several lines."""
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.read_string(content.decode())
    sections = {s for s, _ in allowed}
    for section in [parser.default_section, *parser.sections()]:
        assert section in sections, f"unexpected section [{section}]"
        own = parser[section] if section == parser.default_section else {
            k: v for k, v in parser.items(section, raw=True) if k not in parser.defaults()
        }  # fmt: skip
        for key, value in own.items():
            assert (section, key) in allowed or (section, "*") in allowed, (
                f"unexpected key {key} in [{section}]"
            )
            assert "\n" not in value, f"[{section}] {key} spans several lines"


def check_outcome(
    out,
    system: FakeSystem,
    secrets: Iterable[str],
    inis: Mapping[str, set[tuple[str, str]]],
    juju_log: Iterable[object] = (),
) -> status.Message:
    """The checks every generated run must pass; returns the catalog entry of its status."""
    message = catalog_message(out.unit_status)
    assert message is not status.UNEXPECTED, out.unit_status
    # Short or padded values would be found by chance (a key "node" in the node-name file), and
    # a PEM armour line is in every certificate.
    secrets = [
        s for s in secrets if s and len(s) >= 8 and s.strip() == s and not s.startswith("-----")
    ]
    for secret in secrets:
        assert secret not in out.unit_status.message
        for line in juju_log:
            assert secret not in getattr(line, "message", str(line))
    for path, file in system.files.items():
        if path in inis:
            check_ini(file.content, inis[path])
        text = file.content.decode(errors="replace")
        if any(secret in text for secret in secrets):
            assert file.mode & 0o037 == 0, f"{path} holds a secret but is {file.mode:04o}"
    return message
