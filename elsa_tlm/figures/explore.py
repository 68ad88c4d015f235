"""``pareto.png`` of ``elsa-tlm explore``: every pair of objectives as a scatter of the trials, the Pareto
front highlighted, infeasible trials crossed, front designs re-run in another mode marked at their rechecked
values (a line from the screened value). Plain data in (the rows of trials.csv), no study imported."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from elsa_tlm.fileio import save_figure


def _label(field: str, unit: str, maximise: bool) -> str:
    text = f"{field} ({unit})" if unit and unit != "J" else field  # joules: the ticks carry the unit
    return text + (" [max]" if maximise else "")


def _scale(ax: Any, axis: str, values: Sequence[float], unit: str = "") -> None:
    """A log axis when the values are positive and span more than a decade; joules with SI prefixes."""
    from matplotlib.ticker import EngFormatter, FuncFormatter, LogLocator, NullFormatter

    side = ax.xaxis if axis == "x" else ax.yaxis
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if vals and min(vals) > 0 and max(vals) / min(vals) > 10:
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
        side.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        side.set_minor_formatter(NullFormatter())
        side.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    if unit == "J":
        side.set_major_formatter(EngFormatter(unit="J"))


def _overlay(
    ax: Any,
    rows: Sequence[Mapping[str, Any]],
    values: Mapping[int, Mapping[str, Any]],
    fx: str | None,
    fy: str,
    start: Callable[[Mapping[str, Any]], Mapping[str, Any]],
    color: str,
    marker: dict[str, Any],
    label: str,
) -> None:
    """Front designs' values from another run (``values``, by trial) on one panel: a marker each, joined to
    where the design was (``start`` of its row) by a thin line."""
    if not rows:
        return
    x = [r["trial"] if fx is None else values[r["trial"]][fx] for r in rows]
    y = [values[r["trial"]][fy] for r in rows]
    for r, x2, y2 in zip(rows, x, y, strict=True):
        ax.plot(
            [r["trial"] if fx is None else start(r)[fx], x2],
            [start(r)[fy], y2],
            color=color,
            lw=0.8,
            zorder=2,
        )
    ax.scatter(x, y, zorder=4, label=label, **marker)


def plot_pareto(
    path: Path,
    objectives: Sequence[tuple[str, str, bool]],
    rows: Sequence[Mapping[str, Any]],
    front: Sequence[int],
    rechecked: Mapping[int, Mapping[str, Any]],
    recheck_mode: str,
    title: str,
    refined: Mapping[int, Mapping[str, Any]] | None = None,
    refine_mode: str = "",
) -> Path:
    """Draw the trials (``rows``: trial, status and the objective fields), ``front`` (trial numbers),
    ``refined`` (trial -> the front design's values refined in ``refine_mode``: the front's own values, drawn
    from its screened point) and ``rechecked`` (trial -> the objective values re-run in ``recheck_mode``, drawn
    from the front's values) for ``objectives`` ((field, unit, maximise) each) into ``path`` (cleared by the
    caller's output guard)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fields = [o[0] for o in objectives]
    on_front = set(front)
    feasible = [r for r in rows if r["status"] == "ok" and r["trial"] not in on_front]
    infeasible = [r for r in rows if r["status"] == "infeasible"]
    best = [r for r in rows if r["trial"] in on_front]
    if len(fields) == 1:  # one objective: its value against the trial number
        pairs: list[tuple[str | None, str]] = [(None, fields[0])]
    else:
        pairs = list(itertools.combinations(fields, 2))
    ncols = min(3, len(pairs))
    nrows = math.ceil(len(pairs) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 4.0 * nrows + 0.6), squeeze=False)
    meta = {o[0]: o for o in objectives}
    ref = refined or {}
    for ax, (fx, fy) in zip(axes.flat, pairs, strict=False):

        def xs(rs: Sequence[Mapping[str, Any]], fx: str | None = fx) -> list[float]:
            return [r["trial"] if fx is None else r[fx] for r in rs]

        def ys(rs: Sequence[Mapping[str, Any]], fy: str = fy) -> list[float]:
            return [r[fy] for r in rs]

        ax.scatter(xs(feasible), ys(feasible), s=12, color="0.62", alpha=0.7, lw=0, label="feasible trials")
        if infeasible:
            ax.scatter(
                xs(infeasible),
                ys(infeasible),
                s=14,
                marker="x",
                color="tab:red",
                alpha=0.45,
                lw=0.8,
                label="infeasible (constraints)",
            )
        ax.scatter(
            xs(best),
            ys(best),
            s=34,
            color="tab:blue",
            edgecolor="black",
            lw=0.6,
            zorder=3,
            label="Pareto front" if not ref else "front designs, screened",
        )
        done = [r for r in best if r["trial"] in ref]
        _overlay(
            ax,
            done,
            ref,
            fx,
            fy,
            lambda r: r,
            "tab:green",
            {"s": 46, "marker": "D", "color": "tab:green", "edgecolor": "black", "lw": 0.5},
            f"front refined in {refine_mode}",
        )

        def base(r: Mapping[str, Any]) -> Mapping[str, Any]:  # the front's own values: refined, else screened
            return ref.get(r["trial"], r)

        checked = [r for r in best if r["trial"] in rechecked]
        _overlay(
            ax,
            checked,
            rechecked,
            fx,
            fy,
            base,
            "tab:orange",
            {"s": 60, "marker": "s", "facecolor": "none", "edgecolor": "tab:orange", "lw": 1.2},
            f"front re-run in {recheck_mode}",
        )
        all_rows = [*feasible, *infeasible, *best, *(base(r) | {"trial": r["trial"]} for r in done)]
        if fx is None:
            ax.set_xlabel("trial")
        else:
            _scale(ax, "x", xs(all_rows), meta[fx][1])
            ax.set_xlabel(_label(*meta[fx]))
        _scale(ax, "y", ys(all_rows), meta[fy][1])
        ax.set_ylabel(_label(*meta[fy]))
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(pairs) :]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False, fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    try:
        save_figure(fig, path, dpi=120)
    finally:
        plt.close(fig)
    return path
