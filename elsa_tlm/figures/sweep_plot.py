"""``elsa-tlm plot SWEEP_DIR --x KEY --y METRIC [--hue KEY]``: a figure for any sweep.

Reads the sweep's ``sweep.csv`` (axis columns, the key results, status). A numeric x gives one line per hue
value (points sorted by x); a text x gives grouped bars. The y axis starts at zero unless the values are
negative or span decades (then a log axis says so in its label). Failed points are left out and counted in
the title. Anything it cannot draw (an unknown column, a metric that is not a number, no successful point) is
refused with one line naming what is missing.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from elsa_tlm.errors import ConfigError
from elsa_tlm.figures.studies import load_rows
from elsa_tlm.fileio import check_figure_file, read_marker, save_figure

UNITS = {
    "latency_cycles": "cycles",
    "first_output_cycle": "cycles",
    "latency_ms": "ms",
    "energy_j": "J",
    "tops_per_w": "TOPS/W",
    "pj_per_sop": "pJ/SOP",
    "area_mm2": "mm²",
    "noc_traffic_mb": "MB",
}


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def plot_sweep(
    sweep_dir: str | Path, x: str, y: str, hue: str | None = None, out: str | Path | None = None
) -> Path:
    """Draw ``y`` against ``x`` (grouped by ``hue``) from a finished sweep; returns the figure written
    (``out``: a new .png/.pdf/.svg or a figure elsa-tlm wrote; default ``SWEEP_DIR/plot_<y>_vs_<x>.png``, only
    into a sweep folder elsa-tlm wrote)."""
    path = _target(Path(sweep_dir), x, y, out)  # cleared before anything is read or drawn
    rows = load_rows(Path(sweep_dir))
    cols = list(rows[0]) if rows else []
    for key, what in ((x, "--x"), (y, "--y"), (hue, "--hue")):
        if key is not None and key not in cols:
            raise ConfigError(what, key, f"not a column of {sweep_dir}/sweep.csv; columns: {', '.join(cols)}")
    ok = [r for r in rows if r.get("status") == "ok"]
    if not ok:
        raise ConfigError(
            "--sweep-dir", str(sweep_dir), "no successful point to draw (see status in sweep.csv)"
        )
    bad = [r[y] for r in ok if not _is_num(r[y])]
    if bad:
        raise ConfigError("--y", y, f"must be a numeric column (found {bad[0]!r})")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hues = sorted({str(r[hue]) for r in ok}) if hue else [""]
    numeric_x = all(_is_num(r[x]) for r in ok)
    ys = [float(r[y]) for r in ok]
    fig, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
    if numeric_x:
        for h in hues:
            pts = sorted((float(r[x]), float(r[y])) for r in ok if not hue or str(r[hue]) == h)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"{hue} = {h}" if hue else y)
        ax.set_xlabel(x)
    else:
        xs = list(dict.fromkeys(str(r[x]) for r in ok))
        width = 0.8 / len(hues)
        for i, h in enumerate(hues):
            vals = []
            for xv in xs:
                m = [float(r[y]) for r in ok if str(r[x]) == xv and (not hue or str(r[hue]) == h)]
                vals.append(sum(m) / len(m) if m else float("nan"))
            pos = [k + (i - (len(hues) - 1) / 2) * width for k in range(len(xs))]
            ax.bar(pos, vals, width, label=f"{hue} = {h}" if hue else y)
        ax.set_xticks(range(len(xs)), xs, rotation=20 if max(len(s) for s in xs) > 8 else 0, ha="right")
        ax.set_xlabel(x)
    unit = UNITS.get(y, "")
    positive = min(ys) > 0
    if positive and max(ys) / min(ys) > 1e3:
        ax.set_yscale("log")
        ax.set_ylabel(f"{y} ({unit}, log scale)" if unit else f"{y} (log scale)")
    else:
        if min(ys) >= 0:
            ax.set_ylim(bottom=0)
        ax.set_ylabel(f"{y} ({unit})" if unit else y)
    failed = len(rows) - len(ok)
    ax.set_title(
        f"{Path(sweep_dir).name}: {y} against {x}" + (f" ({failed} failed points left out)" if failed else "")
    )
    if hue:  # beside the axes, never over the data
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.grid(alpha=0.3)
    try:
        save_figure(fig, path, dpi=120)  # the default name is recorded in the sweep folder's marker
    finally:
        plt.close(fig)
    return path


def _target(sweep_dir: Path, x: str, y: str, out: str | Path | None) -> Path:
    """The figure's path, cleared by the output guard: ``out`` as given, or the default name inside a sweep
    folder elsa-tlm wrote (a user's folder that merely holds a sweep.csv is not written into)."""
    if out is not None:
        return check_figure_file(out, "--out")
    m = read_marker(sweep_dir)
    if m is None or m.get("kind") != "sweep":
        raise ConfigError(
            "--out",
            "(default)",
            f"{sweep_dir} is not a sweep folder elsa-tlm wrote (no .elsa-tlm.json of a sweep), so the figure "
            "is not written into it: give --out FILE.png",
        )
    safe = lambda s: "".join(c if c.isalnum() or c in "._-" else "_" for c in s)  # noqa: E731
    return check_figure_file(sweep_dir / f"plot_{safe(y)}_vs_{safe(x)}.png", "--out")
