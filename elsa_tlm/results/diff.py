"""Compare two run folders: the configuration keys that differ and every summary metric with both values.

``elsa-tlm diff RUN_A RUN_B`` and :func:`elsa_tlm.api.diff` read each folder's ``config.resolved.toml`` and
``summary.json`` (what every run writes), so any two results compare, whatever produced them.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from elsa_tlm.config import read_toml
from elsa_tlm.errors import ConfigError


@dataclass
class RunDiff:
    """``config``: (key, value in A, value in B) of every key that differs; ``metrics``: (metric, A, B,
    B - A, (B - A) / |A|) of every numeric summary field (a missing one is None); ``warnings``: (run, sentence)
    of each run's settings that took no effect (summary.json ``warnings``), so a difference in config that
    changed nothing is said, not left to look like a result."""

    a: str
    b: str
    config: list[tuple[str, Any, Any]] = field(default_factory=list)
    metrics: list[tuple[str, float | None, float | None, float | None, float | None]] = field(
        default_factory=list
    )
    warnings: list[tuple[str, str]] = field(default_factory=list)

    def changed(self) -> list[tuple[str, float | None, float | None, float | None, float | None]]:
        return [m for m in self.metrics if m[1] != m[2]]


def _read(folder: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    p = Path(folder)
    files = (p / "config.resolved.toml", p / "summary.json")
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise ConfigError(
            "run folder", str(folder), f"no {' or '.join(missing)} there (a folder elsa-tlm run wrote)"
        )
    cfg = read_toml(files[0], "run folder")  # nesting limited, any failure one line naming the file
    try:
        summary = json.loads(files[1].read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ConfigError("run folder", str(folder), f"unreadable summary.json ({exc})") from None
    if not isinstance(summary, dict):
        raise ConfigError("run folder", str(folder), "summary.json is not an object")
    return cfg, summary


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out |= _flatten(v, f"{prefix}{k}.")
    elif isinstance(obj, list):
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in obj):
            for i, v in enumerate(obj):
                out[f"{prefix}{i}"] = v
        else:
            out[prefix[:-1]] = json.dumps(obj)
    else:
        out[prefix[:-1]] = obj
    return out


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    return float(v)


def diff_runs(a: str | Path, b: str | Path) -> RunDiff:
    """The configuration and summary differences of two run folders."""
    cfg_a, sum_a = _read(a)
    cfg_b, sum_b = _read(b)
    d = RunDiff(str(a), str(b))
    fa, fb = _flatten(cfg_a), _flatten(cfg_b)
    for k in sorted(set(fa) | set(fb)):
        if k in ("name", "description"):
            continue
        if fa.get(k) != fb.get(k):
            d.config.append((k, fa.get(k), fb.get(k)))
    ma, mb = _flatten(sum_a), _flatten(sum_b)
    for k in [*ma, *(k for k in mb if k not in ma)]:
        va, vb = _num(ma.get(k)), _num(mb.get(k))
        if va is None and vb is None:
            continue
        delta = vb - va if va is not None and vb is not None else None
        rel = delta / abs(va) if delta is not None and va else None
        d.metrics.append((k, va, vb, delta, rel))
    for side, summary in (("A", sum_a), ("B", sum_b)):
        d.warnings += [(side, str(w)) for w in summary.get("warnings") or []]
    return d


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def render(d: RunDiff, fmt: str = "text", changed_only: bool = False) -> str:
    """The diff as an aligned text table, CSV or a markdown table."""
    metrics = d.changed() if changed_only else d.metrics
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["kind", "key", "a", "b", "change", "relative_change"])
        for k, va, vb in d.config:
            w.writerow(["config", k, va, vb, "", ""])
        for k, va, vb, dl, rel in metrics:
            w.writerow(["metric", k, *("" if x is None else x for x in (va, vb, dl, rel))])
        for side, text in d.warnings:
            w.writerow(["warning", side, text, "", "", ""])
        return buf.getvalue()
    rows_c = [(k, _fmt(va), _fmt(vb)) for k, va, vb in d.config]
    rows_m = [
        (k, _fmt(va), _fmt(vb), _fmt(dl), "–" if rel is None else f"{100 * rel:+.2f} %")
        for k, va, vb, dl, rel in metrics
    ]
    if fmt == "md":
        out = [f"**A** `{d.a}` · **B** `{d.b}`", "", "| config key | A | B |", "|---|---|---|"]
        out += [f"| `{k}` | {va} | {vb} |" for k, va, vb in rows_c] or ["| (none) | | |"]
        out += ["", "| metric | A | B | B − A | change |", "|---|---|---|---|---|"]
        out += [f"| `{k}` | {va} | {vb} | {dl} | {r} |" for k, va, vb, dl, r in rows_m]
        if d.warnings:
            out += ["", "settings that took no effect:", ""]
            out += [f"- **{side}**: {text}" for side, text in d.warnings]
        return "\n".join(out) + "\n"
    out = [f"A: {d.a}", f"B: {d.b}", "", f"config keys that differ ({len(rows_c)}):"]
    w = max((len(r[0]) for r in rows_c), default=0)
    out += [f"  {k:<{w}}  {va}  ->  {vb}" for k, va, vb in rows_c] or ["  (none)"]
    out += ["", f"metrics ({len(rows_m)}{' changed' if changed_only else ''}):"]
    widths = [
        max([len(h), *(len(r[i]) for r in rows_m)])
        for i, h in enumerate(("metric", "A", "B", "B-A", "change"))
    ]
    out.append(
        "  "
        + "  ".join(
            h.ljust(wd) if i == 0 else h.rjust(wd)
            for i, (h, wd) in enumerate(zip(("metric", "A", "B", "B-A", "change"), widths, strict=True))
        )
    )
    for r in rows_m:
        out.append(
            "  "
            + "  ".join(
                c.ljust(wd) if i == 0 else c.rjust(wd)
                for i, (c, wd) in enumerate(zip(r, widths, strict=True))
            )
        )
    if d.warnings:
        out += ["", "settings that took no effect (summary.json warnings):"]
        out += [f"  {side}: {text}" for side, text in d.warnings]
    return "\n".join(out) + "\n"
