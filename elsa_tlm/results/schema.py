"""A summary.json read back from disk is checked before it is believed.

:func:`read_summary` opens a run folder's ``summary.json`` (a regular file of sane size, UTF-8 JSON, an object)
and validates it against the packaged JSON Schema (``elsa_tlm/data/summary.schema.json``, which
docs/summary.schema.json links to) plus the value rules a schema cannot say: every number finite, the quantities
that are divided by positive. The first violation is one :class:`~elsa_tlm.errors.ConfigError` naming the file,
the field (a JSON path such as ``energy_breakdown_j.adder``) and the rule.

The validator covers exactly the JSON Schema keywords the generated schema uses (``type``, ``properties``,
``required``, ``additionalProperties``, ``items``, ``enum``); tests check it agrees with ``jsonschema`` on
real and corrupted summaries. It is here, not a dependency, because the tool needs it at run time and
``jsonschema`` is a test-only package.
"""

from __future__ import annotations

import json
import math
import os
import stat
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from elsa_tlm.errors import ConfigError

MAX_SUMMARY_BYTES = 1 << 24  # a summary is a few kB; anything this large is not one
# quantities compare (and any ratio) divides by: zero or negative is not a result
POSITIVE = ("latency_cycles", "clock_mhz", "ops", "energy_j", "area_mm2", "time_steps")
NON_NEGATIVE = ("sops", "synaptic_events", "first_output_cycle", "cores_used")


@cache
def summary_schema() -> dict[str, Any]:
    """The packaged JSON Schema of summary.json."""
    text = resources.files("elsa_tlm").joinpath("data/summary.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def _type_ok(v: Any, kind: str) -> bool:
    if kind == "object":
        return isinstance(v, dict)
    if kind == "array":
        return isinstance(v, list)
    if kind == "string":
        return isinstance(v, str)
    if kind == "boolean":
        return isinstance(v, bool)
    if kind == "null":
        return v is None
    if isinstance(v, bool):
        return False
    if kind == "integer":
        return isinstance(v, int) or (isinstance(v, float) and v.is_integer())
    if kind == "number":
        return isinstance(v, int | float)
    raise ValueError(f"schema type {kind!r} is not supported")


def schema_errors(value: Any, schema: dict[str, Any], where: str = "") -> list[tuple[str, str]]:
    """Every violation of ``schema`` by ``value``: (JSON path, rule), in document order."""
    out: list[tuple[str, str]] = []
    name = where or "(top level)"
    kinds = schema.get("type")
    if kinds is not None:
        allowed = [kinds] if isinstance(kinds, str) else list(kinds)
        if not any(_type_ok(value, k) for k in allowed):
            if isinstance(value, float) and not math.isfinite(value):
                return [(name, f"must be a finite number, not {value!r}")]
            got = "null" if value is None else type(value).__name__
            return [(name, f"must be {' or '.join(allowed)}, not {got} {_short(value)}")]
    if "enum" in schema and value not in schema["enum"]:
        out.append((name, f"must be one of {', '.join(map(str, schema['enum']))}"))
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                out.append((f"{where}.{key}" if where else key, "is missing (a required field)"))
        extra = schema.get("additionalProperties", True)
        for key, v in value.items():
            path = f"{where}.{key}" if where else str(key)
            if key in props:
                out += schema_errors(v, props[key], path)
            elif extra is False:
                out.append((path, "is not a field of summary.json"))
            elif isinstance(extra, dict):
                out += schema_errors(v, extra, path)
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, v in enumerate(value):
            out += schema_errors(v, schema["items"], f"{where}[{i}]")
    return out


def _short(v: Any) -> str:
    text = json.dumps(v) if not isinstance(v, float) or math.isfinite(v) else repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def value_errors(s: dict[str, Any]) -> list[tuple[str, str]]:
    """Rules beyond the schema: every number finite (anywhere in the summary), the divisors positive."""
    out: list[tuple[str, str]] = []

    def walk(v: Any, path: str) -> None:
        if isinstance(v, float) and not math.isfinite(v):
            out.append((path, f"must be a finite number, not {v!r}"))
        elif isinstance(v, dict):
            for k, x in v.items():
                walk(x, f"{path}.{k}" if path else str(k))
        elif isinstance(v, list):
            for i, x in enumerate(v):
                walk(x, f"{path}[{i}]")

    walk(s, "")
    for key in POSITIVE:
        v = s.get(key)
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v <= 0:
            out.append((key, f"must be positive, not {v!r}"))
    for key in NON_NEGATIVE:
        v = s.get(key)
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v < 0:
            out.append((key, f"must not be negative, not {v!r}"))
    return out


def read_summary(folder: str | os.PathLike, key: str = "run") -> dict[str, Any]:
    """The run folder's summary.json, validated (see the module docstring); ConfigError otherwise."""
    path = Path(folder) / "summary.json"
    try:
        st = os.stat(folder)
    except OSError as exc:
        raise ConfigError(key, str(folder), f"cannot be read ({exc.strerror or exc})") from None
    if not stat.S_ISDIR(st.st_mode):
        raise ConfigError(key, str(folder), "is not a folder (give a folder elsa-tlm run wrote)")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ConfigError(
            key, str(folder), "has no summary.json (give a folder elsa-tlm run wrote)"
        ) from None
    except OSError as exc:
        raise ConfigError(str(path), "", f"cannot be read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(
            str(path), "", "is not a regular file (a FIFO, device or folder); it was not opened"
        )
    if st.st_size > MAX_SUMMARY_BYTES:
        raise ConfigError(str(path), f"{st.st_size:,} bytes", "too large to be a summary.json")
    try:
        data = json.loads(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), "", f"is not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            str(path), "", f"is not valid JSON (line {exc.lineno}, column {exc.colno})"
        ) from None
    except (OSError, RecursionError) as exc:
        raise ConfigError(str(path), "", f"cannot be read ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise ConfigError(str(path), type(data).__name__, "must be a JSON object (a summary elsa-tlm wrote)")
    problems = schema_errors(data, summary_schema()) + value_errors(data)
    if problems:
        field, rule = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ConfigError(f"{path}: {field}", _value(data, field), f"{rule}{more}")
    return data


def _value(data: dict[str, Any], field: str) -> Any:
    """The value at a dotted path (for the error message), or '' when it is missing."""
    v: Any = data
    for part in field.replace("[", ".[").split("."):
        if part.startswith("[") and isinstance(v, list):
            i = int(part[1:-1])
            v = v[i] if i < len(v) else ""
        elif isinstance(v, dict) and part in v:
            v = v[part]
        else:
            return ""
    return v if not isinstance(v, dict | list) else _short(v)
