"""Status messages shared by the suite's charms, and the exception a reconcile stops with."""

from __future__ import annotations

from collections.abc import Iterable

import ops


class Unready(Exception):
    """Raised while gathering a charm's context: what is missing, as the status to show."""

    def __init__(self, status: ops.StatusBase) -> None:
        super().__init__(status.message)
        self.status = status


def invalid_config(option: str, why: str) -> Unready:
    return Unready(ops.BlockedStatus(f"Invalid config: {option}: {why}"))


def missing_relations(names: Iterable[str]) -> Unready:
    return Unready(ops.BlockedStatus("Missing relations: " + ", ".join(names)))


def incomplete_relations(names: Iterable[str]) -> Unready:
    return Unready(ops.WaitingStatus("Incomplete relations: " + ", ".join(names)))


class Config:
    """Typed access to charm config; a bad value raises Unready naming the option and the fix."""

    def __init__(self, config: ops.ConfigData) -> None:
        self._config = config

    def str(self, name: str) -> str:
        return str(self._config.get(name) or "").strip()

    def bool(self, name: str) -> bool:
        return bool(self._config.get(name))

    def int(self, name: str, *, minimum: int = 0) -> int:
        value = self._config.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise invalid_config(name, f"must be an integer >= {minimum} (got {value!r})")
        return value

    def optional_int(self, name: str, *, minimum: int = 0) -> int | None:
        return None if self._config.get(name) is None else self.int(name, minimum=minimum)

    def optional_float(self, name: str, *, minimum: float = 0.0) -> float | None:
        value = self._config.get(name)
        if value is None:
            return None
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= minimum:
            raise invalid_config(name, f"must be a number > {minimum} (got {value!r})")
        return float(value)


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Remove secrets from command output before it reaches a status, log or action result."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
