"""Figures of a run: pipeline timeline, energy breakdown, mapping, elastic accuracy. Matplotlib, Agg backend.

Conventions shared with :mod:`elsa_tlm.study_plots`: time axes in cycles with a secondary axis in µs at the
chip clock (:func:`add_us_axis`); time steps in discrete colours (:func:`step_colormap`); series that may
coincide drawn with distinct markers, line styles and marker sizes (:func:`series_style`); bars only on
linear axes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.colors as mcolors  # noqa: E402
import matplotlib.patheffects as patheffects  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Circle, FancyArrowPatch, Patch, Rectangle  # noqa: E402
from scipy.spatial import cKDTree  # noqa: E402

from elsa_tlm.fileio import save_figure  # noqa: E402

if TYPE_CHECKING:
    from elsa_tlm.noc.topology import Topology
    from elsa_tlm.results import Result

SPRING_SEED = 7  # layout of a big file: graph without coordinates: fixed, so the figure is reproducible
KK_MAX_NODES = 400  # up to this many routers a coordinate-less graph gets a Kamada-Kawai layout
THOUSANDS = matplotlib.ticker.FuncFormatter(lambda v, _p: f"{v:,.0f}")
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">"]
LINESTYLES = ["-", "--", "-.", ":"]


def _save(fig: Any, path: Path) -> None:
    save_figure(fig, path, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------------------------------ shared helpers
def add_us_axis(ax: Any, clock_mhz: float | None, axis: str = "x") -> Any:
    """A secondary axis in µs for an axis in cycles (``clock_mhz`` cycles per µs); None if no clock."""
    if not clock_mhz or not math.isfinite(clock_mhz) or clock_mhz <= 0:
        return None
    f = float(clock_mhz)
    funcs = (lambda c: np.asarray(c) / f, lambda us: np.asarray(us) * f)
    if axis == "x":
        sec = ax.secondary_xaxis("top", functions=funcs)
        sec.set_xlabel(f"µs at {f:g} MHz", fontsize=8)
    else:
        sec = ax.secondary_yaxis("right", functions=funcs)
        sec.set_ylabel(f"µs at {f:g} MHz", fontsize=8)
    sec.tick_params(labelsize=8)
    return sec


def series_style(i: int, n: int) -> dict[str, Any]:
    """Plot kwargs for series ``i`` of ``n``: own marker, line style and a marker that shrinks with ``i``.

    Earlier series get larger open markers, so a later series with the same values is drawn inside them and
    both stay visible (nothing hidden under another in the legend).
    """
    size = 4.0 + 2.5 * (n - 1 - i) if n > 1 else 5.0
    return {
        "marker": MARKERS[i % len(MARKERS)],
        "ls": LINESTYLES[i % len(LINESTYLES)],
        "ms": size,
        "mfc": "none" if i < n - 1 else None,
        "mew": 1.4,
        "lw": 1.4,
    }


def step_colormap(time_steps: int) -> tuple[mcolors.ListedColormap, mcolors.BoundaryNorm]:
    """A discrete colour per time step (T colours) and the norm that maps step t to colour t.

    Up to 10 steps: tab10; up to 20: tab20's ten dark hues, then its ten light ones (neighbouring steps
    always differ in hue); more: T samples of turbo.
    """
    T = max(1, int(time_steps))
    if T <= 10:
        colors = list(matplotlib.colormaps["tab10"].colors[:T])
    elif T <= 20:
        tab20 = matplotlib.colormaps["tab20"].colors
        colors = [*tab20[0::2], *tab20[1::2]][:T]
    else:
        colors = [tuple(c) for c in matplotlib.colormaps["turbo"](np.linspace(0.04, 0.96, T))]
    cmap = mcolors.ListedColormap(colors, name=f"steps{T}")
    norm = mcolors.BoundaryNorm(np.arange(T + 1) - 0.5, T)
    return cmap, norm


def _step_ticks(T: int) -> list[int]:
    k = max(1, math.ceil(T / 16))
    return list(range(0, T, k))


# ------------------------------------------------------------------------------------------------ timeline
def timeline(ax: Any, result: Result, title: str | None = None) -> Any:
    """Layers × cycles; each transaction a bar in its time step's colour; first output and latency marked.
    Returns the (discrete) time-step colorbar."""
    wl = result.workload
    T = wl.time_steps
    layer_names = [la.name for la in wl.layers]
    grouped = len(layer_names) > GROUP_ABOVE  # a transformer: one row per block (its layers overlap in time)
    if grouped:
        names = list(dict.fromkeys(layer_group(n)[0] for n in layer_names))
        row = {n: names.index(layer_group(n)[0]) for n in layer_names}
    else:
        names = layer_names
        row = {n: i for i, n in enumerate(names)}
    cmap, norm = step_colormap(T)
    segs: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for layer, start, end, t0, _t1 in result.timeline:
        segs.setdefault((row[layer], t0), []).append((start, max(end - start, 1)))
    for (i, t), bars in sorted(segs.items()):
        ax.broken_barh(bars, (i - 0.4, 0.8), facecolors=cmap(t), linewidth=0)
    stalls = [(row[layer], start, end) for layer, start, end, _t in result.softmax_stalls if layer in row]
    for k, (i, start, end) in enumerate(stalls):  # the softmax waiting for the step's every Q and K token
        ax.broken_barh(
            [(start, max(end - start, 1))],
            (i - 0.45, 0.9),
            facecolors="none",
            edgecolors="0.35",
            hatch="///",
            linewidth=0.4,
            label="softmax stall (waits for every Q, K token of the step)" if k == 0 else None,
        )
    s = result.summary
    clock = s.get("clock_mhz")
    us = (lambda c: f" ({c / clock:,.1f} µs)") if clock else (lambda c: "")
    fo = s.get("first_output_cycle")
    if fo is not None:
        ax.axvline(fo, color="black", lw=1.2, ls="--", label=f"first output @ {fo:,} cycles{us(fo)}")
    lat = s["latency_cycles"]
    ax.axvline(lat, color="black", lw=1.2, ls=":", label=f"latency {lat:,} cycles{us(lat)}")
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names, fontsize=6 if len(names) > 25 else 8)
    ax.set_ylim(len(names) - 0.5, -0.5)
    end = max([lat or 0, *(st + d for bars in segs.values() for st, d in bars)])  # work after the answer too
    ax.set_xlim(0, end * 1.02 if end else 1)
    ax.set_xlabel("cycles")
    ax.xaxis.set_major_formatter(THOUSANDS)
    add_us_axis(ax, clock)
    what = "rows: blocks (all their layers)" if grouped else "rows: layers"
    ax.set_title(
        title or f"{wl.model}, T={T}: {result.config.schedule.policy} pipeline; {what}; colour = time step",
        pad=4,
    )
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=norm)
    cb = plt.colorbar(sm, ax=ax, label="time step", pad=0.01, ticks=_step_ticks(T), fraction=0.03, aspect=35)
    cb.ax.tick_params(labelsize=8, length=0)
    ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.09), ncol=2, fontsize=8, frameon=False)  # below
    return cb


def plot_timeline(result: Result, path: Path) -> None:
    layers = result.workload.layers
    n = len({layer_group(la.name)[0] for la in layers}) if len(layers) > GROUP_ABOVE else len(layers)
    fig, ax = plt.subplots(figsize=(11, max(3.8, 0.22 * n + 2.0)), layout="constrained")
    timeline(ax, result)
    _save(fig, path)


# -------------------------------------------------------------------------------------------------- energy
ENERGY_LABELS = {  # what each breakdown line is, where its name alone could mislead
    "residual": "residual (skip-path adds, router)",
    "residual_add": "residual_add (add+norm adds, router)",
    "accumulator": "accumulator (first-layer pixels)",
    "operand_tracer": "operand_tracer (spike x spike operands)",
}


def energy_unit(joules: float) -> tuple[float, str]:
    """(scale, unit) that keeps a value between 1 and 1000: nJ, µJ or mJ."""
    for scale, unit in ((1e9, "nJ"), (1e6, "µJ"), (1e3, "mJ")):
        if joules * scale < 1000:
            return scale, unit
    return 1.0, "J"


def plot_energy(result: Result, path: Path) -> None:
    """Energy per inference by part (linear bars in the unit that fits, share of the total); parts that spent
    nothing are left out and counted in the title."""
    br = result.summary["energy_breakdown_j"]
    items = sorted(((k, v) for k, v in br.items() if v > 0), key=lambda kv: -kv[1])
    zero = len(br) - len(items)
    total_j = result.summary["energy_j"]
    scale, unit = energy_unit(total_j)
    fig, ax = plt.subplots(figsize=(8.5, max(3.0, 0.28 * len(items) + 1.4)), layout="constrained")
    labels = [ENERGY_LABELS.get(k, k) for k, _ in items]
    vals = np.array([v for _, v in items]) * scale
    ax.barh(labels, vals, color="tab:blue")
    ax.invert_yaxis()
    total = total_j * scale
    for i, v in enumerate(vals):
        share = 100 * v / total if total else 0.0
        ax.text(v, i, f" {v:.3g} {unit} ({share:.1f}%)", va="center", fontsize=8)
    ax.set_xlabel(f"on-chip energy per inference ({unit})")
    dram = result.summary.get("dram_energy_j")
    notes = [f"DRAM (input image) apart: {dram * scale:.3g} {unit}"] if dram else []
    notes += [f"{zero} parts spent nothing"] if zero else []
    ax.set_title(
        f"{result.workload.model}, T={result.workload.time_steps}: on-chip energy, total {total:.3g} {unit}"
        + ("\n" + "; ".join(notes) if notes else ""),
        fontsize=9,
    )
    ax.set_xlim(0, vals.max() * 1.4 if vals.size and vals.max() > 0 else 1)
    _save(fig, path)


# ------------------------------------------------------------------------------------------------- mapping
def node_positions(topo: Topology) -> dict[int, tuple[float, float]]:
    """Where to draw each router: the topology's own coordinates (grid (col, row), ring on a circle, a
    file's x/y), else a networkx layout (Kamada-Kawai; a spring layout with a fixed seed above
    :data:`KK_MAX_NODES` routers). Scaled so that the closest two routers are 1 apart (or, if some pair is
    much closer than the rest, half the median nearest-router distance is 1) and shifted so the smallest x
    and y are 0 (y grows downwards, as rows do).
    """
    n = topo.n_nodes
    pos: dict[int, Any] | None = None
    if topo.coords is not None and len(topo.coords) == n:
        pos = {i: topo.coords[i] for i in range(n)}
        pts = np.array([pos[i] for i in range(n)], dtype=float)
        if n > 1 and len({tuple(p) for p in pts}) < n:  # stacked routers: their coordinates cannot be drawn
            pos = None
    if (
        pos is None
    ):  # Kamada-Kawai (deterministic, evenly spaced) for small graphs; seeded spring for big ones
        layout = (
            nx.kamada_kawai_layout(topo.graph)
            if n <= KK_MAX_NODES
            else nx.spring_layout(topo.graph, seed=SPRING_SEED, iterations=200)
        )
        pts = np.array([layout[i] for i in range(n)], dtype=float)
    if n > 1:
        d, _ = cKDTree(pts).query(pts, k=2)
        spacing = max(float(d[:, 1].min()), 0.5 * float(np.median(d[:, 1])))
        if spacing > 0:
            pts = pts / spacing
    pts = pts - pts.min(axis=0)
    return {i: (float(pts[i, 0]), float(pts[i, 1])) for i in range(n)}


def _ranges(idx: list[int]) -> list[str]:
    """[0, 1, 2, 5] -> ['0–2', '5']."""
    runs: list[list[int]] = []
    for i in sorted(set(idx)):
        if runs and runs[-1][1] == i - 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return [f"{a}" if a == b else f"{a}–{b}" for a, b in runs]


GROUP_ABOVE = 40  # more layers than this: the mapping groups them by block (a legend entry per block)


def layer_group(name: str) -> tuple[str, str]:
    """(group, short name) of a layer: ``blocks.3.qk`` -> ("block 3", "qk"); other names are their own group."""
    parts = name.split(".")
    if len(parts) >= 3 and parts[0] == "blocks" and parts[1].isdigit():
        return f"block {parts[1]}", ".".join(parts[2:])
    return name, name


def grouped_core_labels(result: Result) -> dict[int, list[str]]:
    """Per used core, one line per group it holds: 'b3: q k qk' (slices as 'fc1[2]')."""
    out: dict[int, dict[str, list[str]]] = {}
    for s in result.mapping.slices:
        group, short = layer_group(s.layer)
        tag = "b" + group.split()[1] if group.startswith("block ") else group
        out.setdefault(s.core, {}).setdefault(tag, []).append(
            short + (f"[{s.index}]" if s.n_slices > 1 else "")
        )
    return {
        c: [f"{g}: {' '.join(ops)}" if g != ops[0] else g for g, ops in groups.items()]
        for c, groups in out.items()
    }


def core_labels(result: Result) -> dict[int, list[str]]:
    """Per used core, short tokens naming its layers by workload index: '0–2' (whole layers 0, 1, 2),
    '13[5]' (slice 5 of layer 13). The legend of the mapping plot gives each index's layer name."""
    layer_idx = {la.name: la.index for la in result.workload.layers}
    whole: dict[int, list[int]] = {}
    parts: dict[int, list[tuple[int, int]]] = {}
    for s in result.mapping.slices:
        if s.n_slices > 1:
            parts.setdefault(s.core, []).append((layer_idx[s.layer], s.index))
        else:
            whole.setdefault(s.core, []).append(layer_idx[s.layer])
    out: dict[int, list[str]] = {}
    for core in sorted(set(whole) | set(parts)):
        out[core] = _ranges(whole.get(core, [])) + [f"{i}[{k}]" for i, k in sorted(parts.get(core, []))]
    return out


def _label_lines(tokens: list[str], per_line: int = 2, max_lines: int = 3) -> list[str]:
    lines = [", ".join(tokens[i : i + per_line]) for i in range(0, len(tokens), per_line)]
    if len(lines) > max_lines:
        rest = len(tokens) - per_line * (max_lines - 1)
        lines = [*lines[: max_lines - 1], f"+{rest} more"]
    return lines


def topo_label(spec: str) -> str:
    """A topology spec for a title: ``file:`` specs by their file name only."""
    return f"file:{Path(spec[5:]).name}" if spec.startswith("file:") else spec


def _lighten(c: Any, amount: float = 0.5) -> tuple[float, float, float]:
    r, g, b = mcolors.to_rgb(c)
    return (r + (1 - r) * amount, g + (1 - g) * amount, b + (1 - b) * amount)


def plot_mapping(result: Result, path: Path, topo: Topology | None = None) -> None:
    """The mapping figure (:func:`mapping_figure`) as a PNG."""
    _save(mapping_figure(result, topo), path)


def mapping_figure(result: Result, topo: Topology | None = None) -> Any:
    """Routers where the topology puts them (:func:`node_positions`), links in grey, used cores coloured by
    their first layer and labelled with their layers' indices (legend: index → layer name), spike flows
    between cores as arrows (width ∝ spikes). Fonts scale with the router spacing. Returns the figure."""
    if topo is None:
        from elsa_tlm.noc.topology import build_topology

        topo = build_topology(result.config.noc.topology, result.config.base_dir)
    m = result.mapping
    pos = node_positions(topo)
    n = topo.n_nodes
    layers = result.workload.layers
    n_layers = len(layers)
    grouped = n_layers > GROUP_ABOVE
    groups = list(dict.fromkeys(layer_group(la.name)[0] for la in layers))
    group_idx = {g: i for i, g in enumerate(groups)}
    labels = grouped_core_labels(result) if grouped else core_labels(result)
    # colour: by layer index, or by group (block) when grouped
    key_of = {la.name: group_idx[layer_group(la.name)[0]] if grouped else la.index for la in layers}
    n_keys = len(groups) if grouped else n_layers
    first_layer: dict[int, int] = {}
    for s in m.slices:
        first_layer[s.core] = min(first_layer.get(s.core, n_keys), key_of[s.layer])
    cmap = matplotlib.colormaps["turbo"]

    def colour(i: int) -> Any:
        return _lighten(cmap(0.05 + 0.9 * i / max(n_keys - 1, 1)), 0.45)

    xs = np.array([p[0] for p in pos.values()])
    ys = np.array([p[1] for p in pos.values()])
    w_units, h_units = xs.max() - xs.min() + 1.2, ys.max() - ys.min() + 1.2
    side = 7.0  # inches of the drawing's longer side
    ppu = side * 72 / max(w_units, h_units)  # points per unit (1 unit = median nearest-router spacing)
    ax_w, ax_h = side * w_units / max(w_units, h_units), side * h_units / max(w_units, h_units)
    legend_cols = 1 if n_keys <= 30 else 2
    legend_w = 1.8 * legend_cols
    fig, (ax, lax) = plt.subplots(
        1,
        2,
        figsize=(max(ax_w + legend_w + 0.2, 7.5), max(ax_h, 3.2) + 0.8),
        width_ratios=[ax_w, legend_w],
        layout="constrained",
    )
    grid = topo.is_grid
    box = 0.8
    box_pt = box * ppu

    # links: grey lines; torus wrap-arounds as dashed stubs at the border, other long links (express) as arcs
    for u, v in topo.graph.edges:
        (x0, y0), (x1, y1) = pos[u], pos[v]
        if topo.kind == "torus" and math.hypot(x1 - x0, y1 - y0) > 1.5:
            for (xa, ya), (xb, yb) in (((x0, y0), (x1, y1)), ((x1, y1), (x0, y0))):
                dx = float(np.sign(xa - xb)) if abs(xa - xb) > 1.5 else 0.0
                dy = float(np.sign(ya - yb)) if abs(ya - yb) > 1.5 else 0.0
                ax.plot([xa, xa + 0.6 * dx], [ya, ya + 0.6 * dy], color="0.6", lw=1, ls="--", zorder=1)
        elif math.hypot(x1 - x0, y1 - y0) > 1.5:
            ax.add_patch(
                FancyArrowPatch(
                    (x0, y0),
                    (x1, y1),
                    arrowstyle="-",
                    connectionstyle="arc3,rad=0.2",
                    color="0.6",
                    lw=1,
                    zorder=1,
                )
            )
        else:
            ax.plot([x0, x1], [y0, y1], color="0.7", lw=1, zorder=1)

    # routers: squares on grids, circles elsewhere; used cores filled and labelled
    texts = {
        c: (t[:3] + ["…"] if len(t) > 3 else t) if grouped else _label_lines(t) for c, t in labels.items()
    }
    longest = max((len(line) for lines in texts.values() for line in lines), default=1)
    most_lines = max((len(lines) for lines in texts.values()), default=1)
    inner = box_pt * (1.0 if grid else 0.8)  # usable width of a circle's label area
    fs = float(np.clip(min(inner / (0.62 * longest), 0.7 * inner / (1.25 * most_lines)), 4.0, 10.0))
    id_fs = float(np.clip(0.25 * box_pt, 3.5, 7.0))
    cx, cy = float(xs.mean()), float(ys.mean())
    halo = [patheffects.withStroke(linewidth=2.2, foreground=(1, 1, 1, 0.8))]
    for node in range(n):
        x, y = pos[node]
        used = node in labels
        style: dict[str, Any] = (
            {"facecolor": colour(first_layer[node]), "edgecolor": "0.3", "lw": 0.7}
            if used
            else {"facecolor": "white", "edgecolor": "0.55", "lw": 0.8, "ls": ":"}
        )
        if grid:
            ax.add_patch(Rectangle((x - box / 2, y - box / 2), box, box, zorder=2, **style))
            ax.text(x - box / 2 + 0.04, y - box / 2 + 0.03, str(node), ha="left", va="top", fontsize=id_fs,
                    color="0.35", zorder=4)  # fmt: skip
        else:
            ax.add_patch(Circle((x, y), box / 2, zorder=2, **style))
            dx, dy = x - cx, y - cy
            r = math.hypot(dx, dy)
            ux, uy = (dx / r, dy / r) if r > 1e-9 else (-0.7071, -0.7071)
            ax.text(x + ux * 0.62 * box, y + uy * 0.62 * box, str(node), ha="center", va="center",
                    fontsize=id_fs, color="0.35", zorder=4)  # fmt: skip
        if used:
            ax.text(
                x,
                y,
                "\n".join(texts[node]),
                ha="center",
                va="center",
                fontsize=fs,
                zorder=5,
                path_effects=halo,
            )

    # spike flows between cores
    peak = max(m.flows.values(), default=1.0) or 1.0
    for (a, b), v in sorted(m.flows.items()):
        if a == b:
            continue
        ax.add_patch(
            FancyArrowPatch(
                pos[a],
                pos[b],
                arrowstyle="-|>",
                mutation_scale=6 + 5 * v / peak,
                lw=0.3 + 3.5 * v / peak,
                alpha=0.55,
                color="black",
                connectionstyle="arc3,rad=0.15",
                shrinkA=4,
                shrinkB=4,
                zorder=3,
            )
        )
    pad = 0.9 if not grid else 0.6
    ax.set_xlim(xs.min() - pad, xs.max() + pad)
    ax.set_ylim(ys.max() + pad, ys.min() - pad)  # rows grow downwards
    ax.set_aspect("equal")
    ax.axis("off")
    fig.suptitle(
        f"{result.workload.model} on {topo_label(topo.spec)}: {m.cores_used} of {n} cores used\n"
        f"arrows: spike flows, width ∝ spikes (max {peak:,.0f}); grey: links; small numbers: router id",
        fontsize=9,
    )
    n_slices = {la.name: len(m.by_layer.get(la.name, [])) for la in layers}
    if grouped:
        members: dict[str, list[int]] = {}
        for la in layers:
            members.setdefault(layer_group(la.name)[0], []).append(la.index)
        handles = [
            Patch(
                facecolor=colour(i), edgecolor="0.3", label=f"{g} (layers {', '.join(_ranges(members[g]))})"
            )
            for i, g in enumerate(groups)
        ]
        title = "core label = block: its layers there\n(fc1[k]: slice k of a split layer)"
    else:
        handles = [
            Patch(
                facecolor=colour(la.index),
                edgecolor="0.3",
                label=f"{la.index}  {la.name}" + (f" ×{n_slices[la.name]}" if n_slices[la.name] > 1 else ""),
            )
            for la in layers
        ]
        title = "core label = layer index\n(×N: split in N slices, i[k]: slice k)"
    lax.axis("off")
    lax.legend(
        handles=handles,
        loc="upper left",
        fontsize=7 if len(handles) <= 30 else 6,
        ncol=legend_cols,
        title=title,
        title_fontsize=7,
        frameon=False,
        handlelength=1.0,
        borderaxespad=0.0,
        alignment="left",
    )
    return fig


def plot_run(result: Result, out: Path) -> None:
    plot_timeline(result, out / "timeline.png")
    plot_energy(result, out / "energy.png")
    plot_mapping(result, out / "mapping.png")


# ------------------------------------------------------------------------------------------------- elastic
def plot_elastic(er: Any, path: Path) -> None:
    """Accuracy against time step and against simulated cycles (mean output cycle of each step)."""
    acc = np.array(er.accuracy_per_step) * 100
    cyc = np.array(er.mean_step_cycles)
    steps = np.arange(1, acc.size + 1)
    s = er.result.summary
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.3), layout="constrained")
    a.plot(steps, acc, marker="o", ms=3)
    a.axhline(s["qann_accuracy"] * 100, color="grey", ls="--", label=f"QANN {s['qann_accuracy'] * 100:.2f}%")
    a.set_xlabel("time step")
    a.set_ylabel(f"test accuracy over {s['test_images']} images (%)")
    a.legend()
    a.set_title("elastic inference: accuracy after every step")
    b.plot(cyc, acc, marker="o", ms=3, label=f"{s['schedule']} pipeline")
    el = s.get("elastic") or {}
    if el.get("threshold"):
        b.scatter(
            [el["test_set_exit_cycle"]],
            [el["test_set_accuracy"] * 100],
            color="red",
            zorder=5,
            label=f"early exit @ conf {el['threshold']}",
        )
    b.set_xlabel("cycles until the step's output leaves the chip (mean of simulated images)")
    b.set_ylabel("accuracy (%)")
    add_us_axis(b, s.get("clock_mhz"))
    b.legend()
    b.set_title("accuracy vs latency")
    _save(fig, path)
