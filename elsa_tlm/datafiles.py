"""Checks for the data files the tool believes: package data (network recordings, trained weights and data,
the energy table, the baselines) and user files (replay traces).

Every file is read and checked once, where it is loaded, before any value in it is used. A bad file raises
:class:`~elsa_tlm.errors.ConfigError` ``(label, path, rule)``, one line naming what the file is, the file and
the field (a JSON path, an npz array, a TOML key) with the rule it breaks, e.g.::

    energy table = '.../elsa_28nm.toml': logic.fire.energy_pj = -2.9: must be a finite non-negative number [pJ]
    digits model = '.../digits_qcnn.npz': array 'conv1.weight' has shape (3, 4), expected (16, 1, 3, 3)
"""

from __future__ import annotations

import json
import math
import tomllib
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from elsa_tlm.errors import ConfigError

Shape = tuple[int | str, ...]  # an int is fixed; a str names a dimension that must agree wherever it appears
KINDS = {"int": ("iu", "an integer type"), "num": ("iuf", "a number type"), "str": ("U", "a string")}


@dataclass(frozen=True)
class DataFile:
    """A file being checked: ``label`` says what it is (``"energy table"``, ``"workload.replay_path"``)."""

    label: str
    path: str

    def error(self, rule: str) -> ConfigError:
        """The file breaks ``rule`` (which names the field)."""
        return ConfigError(self.label, self.path, rule)

    def bad(self, field: str, value: object, rule: str) -> ConfigError:
        """``field`` holds ``value``, which breaks ``rule``."""
        return self.error(f"{field} = {_short(value)}: {rule}")

    def missing(self, field: str, what: str) -> ConfigError:
        return self.error(f"{field}: missing ({what})")


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def read_text(f: DataFile, hint: str = "") -> str:
    """The file as UTF-8 text; a missing, unreadable or binary file is refused."""
    p = Path(f.path)
    if not p.exists():
        raise f.error("file not found" + (f" ({hint})" if hint else ""))
    if not p.is_file():
        raise f.error("not a regular file")
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise f.error(f"not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise f.error(f"cannot be read ({exc.strerror or exc})") from None


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def read_json(f: DataFile, hint: str = "") -> Any:
    """Parse a JSON file; a syntax error names its line and column (``truncated`` when the file ends early)."""
    text = read_text(f, hint)
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        at = f"line {exc.lineno} column {exc.colno}"
        unterminated = exc.msg.startswith("Unterminated") and '"' not in text[exc.pos + 1 :]
        if exc.pos >= len(text.rstrip()) or unterminated:
            raise f.error(f"truncated JSON at {at} ({exc.msg})") from None
        raise f.error(f"invalid JSON at {at}: {exc.msg}") from None
    except ValueError as exc:  # NaN / Infinity
        raise f.error(f"invalid JSON: {exc}") from None
    except RecursionError:
        raise f.error("JSON nested too deep to be a data file of this tool") from None


MAX_TOML_DEPTH = 16  # nesting of arrays and tables a file may use (a scenario needs 3, a sweep's points 4)


def toml_bracket_depth(text: str) -> int:
    """The deepest nesting of ``[``/``{`` in TOML text, outside strings and comments (one pass, no recursion:
    a hostile file cannot exhaust Python's stack here)."""
    depth = deepest = 0
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if c in "\"'":
            quote = c * 3 if text.startswith(c * 3, i) else c
            i += len(quote)
            while i < n and not text.startswith(quote, i):
                if c == '"' and text[i] == "\\":
                    i += 1  # an escaped character (basic strings only)
                elif len(quote) == 1 and text[i] == "\n":
                    break  # an unterminated one-line string: the parser will say so
                i += 1
            i += len(quote)
            continue
        if c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth = max(0, depth - 1)
        i += 1
    return deepest


def nesting_depth(value: Any, limit: int = MAX_TOML_DEPTH) -> int:
    """The nesting depth of a parsed value (dotted keys and table headers nest without brackets)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        v, d = stack.pop()
        deepest = max(deepest, d)
        if d > limit:
            break
        if isinstance(v, dict):
            stack += [(x, d + 1) for x in v.values()]
        elif isinstance(v, list):
            stack += [(x, d + 1) for x in v]
    return deepest


def read_toml(f: DataFile, text: str | None = None) -> dict[str, Any]:
    """Parse a TOML file (or ``text`` read from it); a syntax error names its line and column."""
    text = read_text(f) if text is None else text
    if toml_bracket_depth(text) > MAX_TOML_DEPTH:
        raise f.error(f"nests arrays or tables more than {MAX_TOML_DEPTH} deep")
    try:
        data = tomllib.loads(text)
        if nesting_depth(data) > MAX_TOML_DEPTH:
            raise f.error(f"nests keys or tables more than {MAX_TOML_DEPTH} deep")
        return data
    except tomllib.TOMLDecodeError as exc:
        cut = "end of document" in str(exc)
        raise f.error(f"{'truncated' if cut else 'invalid'} TOML: {exc}") from None


def read_npz(f: DataFile, hint: str = "") -> dict[str, np.ndarray]:
    """Every array of an npz archive (no pickle); a truncated or garbled archive, a member that is not a
    .npy array or an object array is refused."""
    p = Path(f.path)
    if not p.exists():
        raise f.error("file not found" + (f" ({hint})" if hint else ""))
    if not p.is_file():
        raise f.error("not a regular file")
    if not zipfile.is_zipfile(p):
        raise f.error("not an npz archive (truncated, or not a zip of .npy arrays)")
    try:
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        raise f.error(f"not a readable npz archive ({type(exc).__name__}: {exc})") from None
    for k, a in arrays.items():
        if not isinstance(a, np.ndarray):
            raise f.error(f"member {k!r} is not a .npy array")
    return arrays


def array(
    f: DataFile,
    arrays: dict[str, np.ndarray],
    name: str,
    kind: str,
    shape: Shape | None = None,
    dims: dict[str, int] | None = None,
) -> np.ndarray:
    """``arrays[name]``, checked: present, of ``kind`` (``int``, ``num`` or ``str``), finite, and of ``shape``
    (string entries bind to ``dims`` on first sight and must agree after)."""
    if name not in arrays:
        have = ", ".join(sorted(arrays)[:6])
        raise f.error(f"array {name!r} is missing (the file has: {have}{', ...' if len(arrays) > 6 else ''})")
    a = arrays[name]
    codes, what = KINDS[kind]
    if a.dtype.kind not in codes:
        raise f.error(f"array {name!r}: dtype {a.dtype}, expected {what}")
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise f.error(f"array {name!r}: NaN or infinite values")
    if shape is not None:
        bound = {} if dims is None else dict(dims)
        ok = len(shape) == a.ndim
        for d, n in zip(shape, a.shape, strict=False):
            ok = ok and (bound.setdefault(d, n) if isinstance(d, str) else d) == n
        if not ok:
            want = tuple(bound.get(d, d) if isinstance(d, str) else d for d in shape)
            raise f.error(f"array {name!r} has shape {a.shape}, expected {_fmt_shape(want)}")
        if dims is not None:
            dims.update(bound)
    return a


def _fmt_shape(shape: tuple[int | str, ...]) -> str:
    inner = ", ".join(str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def in_range(f: DataFile, name: str, a: np.ndarray, lo: int | None, hi: int | None, what: str) -> None:
    """Every value of array ``name`` lies in ``lo..hi`` (either may be open)."""
    if a.size == 0:
        return
    low, high = a.min(), a.max()
    if (lo is not None and low < lo) or (hi is not None and high > hi):
        span = f"{'' if lo is None else lo}..{'' if hi is None else hi}"
        raise f.error(f"array {name!r}: values {low}..{high}, expected {span} ({what})")


def number(f: DataFile, field: str, value: object, unit: str, positive: bool = False) -> float:
    """A TOML/JSON figure: a finite number, non-negative (or positive), in ``unit``."""
    sign = "positive" if positive else "non-negative"
    rule = f"must be a finite {sign} number [{unit}]"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise f.bad(field, value, rule)
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise f.bad(field, value, rule)
    return float(value)


def integer(f: DataFile, field: str, value: object, minimum: int = 0, maximum: int = 2**53) -> int:
    """A JSON integer in ``minimum..maximum`` (no bool, no float)."""
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        what = {0: "a non-negative integer", 1: "a positive integer"}.get(minimum, f"an integer >= {minimum}")
        raise f.bad(field, value, f"must be {what}" + (f" (at most {maximum})" if maximum < 2**53 else ""))
    return value


def table(f: DataFile, doc: dict[str, Any], field: str) -> dict[str, Any]:
    """The sub-table at dotted ``field`` of a parsed TOML/JSON document."""
    node: Any = doc
    for part in field.split("."):
        if not isinstance(node, dict) or part not in node:
            raise f.missing(field, "a table")
        node = node[part]
    if not isinstance(node, dict):
        raise f.bad(field, node, "must be a table")
    return node
