"""Files a charm renders, and which services read them."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from charm_common.system import System


@dataclasses.dataclass(frozen=True)
class ManagedFile:
    path: str
    content: bytes = dataclasses.field(repr=False)  # may hold secrets
    owner: str
    group: str
    mode: int
    restarts: tuple[str, ...] = ()  # services that must restart when this file changes


def write_changed(system: System, files: Iterable[ManagedFile]) -> list[ManagedFile]:
    """Write every file; return those whose content, owner or mode changed."""
    return [
        file
        for file in files
        if system.write_file(
            file.path, file.content, owner=file.owner, group=file.group, mode=file.mode
        )
    ]


def services_to_restart(changed: Iterable[ManagedFile], order: Iterable[str]) -> list[str]:
    wanted = {service for file in changed for service in file.restarts}
    return [service for service in order if service in wanted]
