"""Errors the tool reports to users as one clear line (CLI exit status 2), never as a traceback."""

from __future__ import annotations


class ElsaError(Exception):
    """Base class for every user-facing error: bad input, a design that cannot be built or run."""


class ConfigError(ElsaError):
    """A configuration value breaks a rule. Names the full key path, the value and the rule."""

    def __init__(self, key: str, value: object, rule: str) -> None:
        self.key, self.value, self.rule = key, value, rule
        super().__init__(f"{key} = {value!r}: {rule}")


class MappingError(ElsaError):
    """The network cannot be mapped onto the chip (too big, a layer that fits no core...)."""


class DeadlockError(ElsaError):
    """The network-on-chip stopped making progress with packets still in flight."""

    def __init__(self, message: str, links: list[tuple[int, int]] | None = None) -> None:
        self.links = links or []
        super().__init__(message)


class StallError(ElsaError):
    """The pipeline stopped with work left (a dependency that can never be met)."""
