"""Figures of a run: per-layer pipeline timeline, energy breakdown, mapping. Matplotlib, Agg backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from elsa_tlm.sim import Result  # noqa: E402


def _save(fig: Any, path: Path) -> None:
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def timeline(ax: Any, result: Result, title: str | None = None) -> None:
    """Layers × cycles; each transaction a bar coloured by its time step."""
    wl = result.workload
    T = wl.time_steps
    names = [la.name for la in wl.layers]
    row = {n: i for i, n in enumerate(names)}
    cmap = matplotlib.colormaps["viridis"]
    segs: dict[int, list[tuple[int, int]]] = {}
    for layer, start, end, t0, _t1 in result.timeline:
        segs.setdefault(row[layer] * 10000 + t0, []).append((start, max(end - start, 1)))
    for key, bars in segs.items():
        i, t = divmod(key, 10000)
        ax.broken_barh(bars, (i - 0.4, 0.8), facecolors=cmap(t / max(T - 1, 1)), linewidth=0)
    fo = result.summary.get("first_output_cycle")
    if fo is not None:
        ax.axvline(fo, color="red", lw=1, ls="--", label=f"first output @ {fo}")
    ax.axvline(result.summary["latency_cycles"], color="black", lw=1, ls=":", label="latency")
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names, fontsize=6 if len(names) > 25 else 8)
    ax.invert_yaxis()
    ax.set_xlabel("cycle")
    ax.set_title(title or f"{wl.model}: {result.config.schedule.policy} pipeline (colour = time step)")
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, T - 1))
    plt.colorbar(sm, ax=ax, label="time step", pad=0.01)
    ax.legend(loc="lower right", fontsize=8)


def plot_timeline(result: Result, path: Path) -> None:
    n = len(result.workload.layers)
    fig, ax = plt.subplots(figsize=(11, max(3.5, 0.22 * n + 1.5)), layout="constrained")
    timeline(ax, result)
    _save(fig, path)


def plot_energy(result: Result, path: Path) -> None:
    br = result.summary["energy_breakdown_j"]
    items = sorted(br.items(), key=lambda kv: -kv[1])
    fig, ax = plt.subplots(figsize=(8, 4), layout="constrained")
    labels = [k for k, _ in items]
    vals = np.array([v for _, v in items]) * 1e6
    ax.barh(labels, vals, color="tab:blue")
    ax.invert_yaxis()
    total = result.summary["energy_j"] * 1e6
    for i, v in enumerate(vals):
        ax.text(v, i, f" {v:.3g} µJ ({100 * v / total:.1f}%)", va="center", fontsize=8)
    ax.set_xlabel("energy per inference (µJ)")
    ax.set_title(f"{result.workload.model}: energy breakdown, total {total:.3g} µJ")
    ax.set_xlim(0, vals.max() * 1.35 if vals.size else 1)
    _save(fig, path)


def plot_mapping(
    result: Result, path: Path, topo_coords: dict[int, tuple[float, float]] | None = None
) -> None:
    """Cores coloured by layer (first layer of the core), flows as arrows with width ∝ traffic."""
    m = result.mapping
    n_nodes = result.summary["cores_total"]
    coords = topo_coords or _grid_coords(result.summary["topology"], n_nodes)
    fig, ax = plt.subplots(figsize=(7, 7), layout="constrained")
    layer_idx = {la.name: la.index for la in result.workload.layers}
    cmap = matplotlib.colormaps["turbo"]
    n_layers = len(result.workload.layers)
    labels: dict[int, list[str]] = {}
    for s in m.slices:
        labels.setdefault(s.core, []).append(s.layer + (f"[{s.index}]" if s.n_slices > 1 else ""))
    for node in range(n_nodes):
        x, y = coords[node]
        if node in labels:
            first = min(labels[node], key=lambda n: layer_idx[n.split("[")[0]])
            c = cmap(layer_idx[first.split("[")[0]] / max(n_layers - 1, 1))
            ax.add_patch(plt.Rectangle((x - 0.4, y - 0.4), 0.8, 0.8, color=c, alpha=0.55))
            ax.text(
                x,
                y,
                "\n".join(labels[node][:3]) + ("\n…" if len(labels[node]) > 3 else ""),
                ha="center",
                va="center",
                fontsize=5,
            )
        else:
            ax.add_patch(plt.Rectangle((x - 0.4, y - 0.4), 0.8, 0.8, fill=False, ls=":", color="grey"))
    peak = max(m.flows.values(), default=1.0)
    for (a, b), v in sorted(m.flows.items()):
        (x0, y0), (x1, y1) = coords[a], coords[b]
        ax.annotate(
            "",
            xy=(x1, y1),
            xytext=(x0, y0),
            arrowprops={
                "arrowstyle": "->",
                "lw": 0.3 + 4 * v / peak,
                "alpha": 0.6,
                "color": "black",
                "connectionstyle": "arc3,rad=0.15",
            },
        )
    xs = [c[0] for c in coords.values()]
    ys = [c[1] for c in coords.values()]
    ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
    ax.set_ylim(max(ys) + 0.6, min(ys) - 0.6)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{result.workload.model} on {result.summary['topology']}: {m.cores_used} cores used")
    _save(fig, path)


def _grid_coords(spec: str, n: int) -> dict[int, tuple[float, float]]:
    if spec.startswith(("mesh:", "torus:")):
        r, c = (int(v) for v in spec.split(":", 1)[1].split("x"))
        return {i: (float(i % c), float(i // c)) for i in range(n)}
    k = int(np.ceil(np.sqrt(n)))
    return {i: (float(i % k), float(i // k)) for i in range(n)}


def plot_run(result: Result, out: Path) -> None:
    plot_timeline(result, out / "timeline.png")
    plot_energy(result, out / "energy.png")
    plot_mapping(result, out / "mapping.png")


def plot_elastic(er: Any, path: Path) -> None:
    """Accuracy against time step and against simulated cycles (mean output cycle of each step)."""
    acc = np.array(er.accuracy_per_step) * 100
    cyc = np.array(er.mean_step_cycles)
    steps = np.arange(1, acc.size + 1)
    s = er.result.summary
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
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
    b.set_xlabel("cycle the step's output leaves the chip (mean of simulated images)")
    b.set_ylabel("accuracy (%)")
    b.legend()
    b.set_title(f"accuracy vs latency ({s['clock_mhz']:.0f} MHz)")
    _save(fig, path)
