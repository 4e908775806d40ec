"""Files a charm renders, and what must follow when one changes."""

from __future__ import annotations

import dataclasses
import pathlib

import jinja2


@dataclasses.dataclass(frozen=True)
class ManagedFile:
    """One rendered file: where, what, whose, and what follows a change of it.

    `commands` run (argv tuples, in order) and then `restarts` restart, once per change, through
    the lifecycle's pending steps, so a failure is retried until done.
    """

    path: str
    content: bytes = dataclasses.field(repr=False)  # may hold secrets
    owner: str
    group: str
    mode: int
    restarts: tuple[str, ...] = ()
    commands: tuple[tuple[str, ...], ...] = ()


def oslo_value(value: object) -> str:
    """A value as oslo.config reads it back: `$` starts a substitution there, `$$` is a `$`."""
    return str(value).replace("$", "$$")


def template_environment(directory: pathlib.Path) -> jinja2.Environment:
    """The charms' jinja2 environment for ini/cfg templates, with the `oslo` filter."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(directory),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # noqa: S701 - renders ini files, not HTML
    )
    environment.filters["oslo"] = oslo_value
    return environment
