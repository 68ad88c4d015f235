"""Errors the tool reports to users as one clear line (CLI exit status 2), never as a traceback.

Bad input of any kind — a key, a value, a file, an API argument of the wrong type, a network that cannot be
mapped onto the chip — is a :class:`ConfigError` (``MappingError`` is one); a simulated chip that stops making
progress is a :class:`DeadlockError` or :class:`StallError` (exit status 3). Every one of them pickles and
unpickles with its fields, so an error met in a worker process reaches the parent as the same one-line error.
"""

from __future__ import annotations


class ElsaError(Exception):
    """Base class for every user-facing error: bad input, a design that cannot be built or run."""


class ConfigError(ElsaError):
    """A configuration value breaks a rule. Names the full key path, the value and the rule."""

    def __init__(self, key: str, value: object, rule: str) -> None:
        self.key, self.value, self.rule = key, value, rule
        shown = repr(value)
        if len(shown) > 200:  # one readable line, whatever was pasted
            shown = f"{shown[:120]}... ({len(shown):,} characters)"
        super().__init__(f"{key} = {shown}: {rule}")

    def __reduce__(self) -> tuple:
        return (type(self), (self.key, self.value, self.rule))


class MappingError(ConfigError):
    """The network cannot be mapped onto the chip (too big, a layer that fits no core...): bad input too."""

    def __init__(self, message: str, key: str = "mapping", value: object = None) -> None:
        self.key, self.value, self.rule = key, value, message
        ElsaError.__init__(self, message)

    def __reduce__(self) -> tuple:
        return (type(self), (self.rule, self.key, self.value))


class DeadlockError(ElsaError):
    """The network-on-chip stopped making progress with packets still in flight."""

    def __init__(self, message: str, links: list[tuple[int, int]] | None = None) -> None:
        self.links = links or []
        super().__init__(message)

    def __reduce__(self) -> tuple:
        return (type(self), (str(self), self.links))


class StallError(ElsaError):
    """The pipeline stopped with work left (a dependency that can never be met)."""
