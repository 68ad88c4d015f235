"""Figures of a run and of the studies: layouts follow the topology, time steps in discrete colours, no bars on
log axes, series that coincide stay visible, cycle axes carry µs."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.patches import Circle, Rectangle

from elsa_tlm import sim
from elsa_tlm.config import load_config
from elsa_tlm.figures import run as plots
from elsa_tlm.figures import studies as study_plots
from elsa_tlm.fileio import check_figure_file
from elsa_tlm.noc.topology import build_topology

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ring_result() -> sim.Result:
    cfg = load_config(
        ROOT / "scenarios" / "default.toml",
        ["run.time_steps=2", 'noc.topology="ring:36"', 'noc.routing="shortest"', "output.plots=false"],
    )
    return sim.run(cfg)


# ---------------------------------------------------------------------------------------------- layouts
def test_ring_is_drawn_as_a_ring() -> None:
    pos = plots.node_positions(build_topology("ring:12"))
    pts = np.array([pos[i] for i in range(12)])
    centre = pts.mean(axis=0)
    radii = np.hypot(*(pts - centre).T)
    assert radii == pytest.approx(np.full(12, radii[0]), rel=1e-9)  # on one circle
    steps = [math.dist(pos[i], pos[(i + 1) % 12]) for i in range(12)]
    assert steps == pytest.approx([1.0] * 12)  # neighbours one unit apart, in ring order
    angles = np.unwrap(np.arctan2(*(pts - centre).T[::-1]))
    assert np.all(np.diff(angles) > 0) or np.all(np.diff(angles) < 0)  # round the circle, never back


@pytest.mark.parametrize("spec", ["mesh:3x4", "torus:3x4", "mesh:10x10"])
def test_grids_keep_rows_and_columns(spec: str) -> None:
    topo = build_topology(spec)
    pos = plots.node_positions(topo)
    assert topo.cols is not None
    for node in range(topo.n_nodes):
        r, c = divmod(node, topo.cols)
        assert pos[node] == pytest.approx((c, r))


def test_file_graph_uses_its_coordinates() -> None:
    path = ROOT / "scenarios" / "topologies" / "mesh6x6_express.graphml"
    pos = plots.node_positions(build_topology(f"file:{path}"))
    for node in range(36):  # the file: node = 6 * row + col, x = col, y = row (express links do not move it)
        assert pos[node] == pytest.approx((node % 6, node // 6))


def test_file_graph_without_coordinates_gets_a_fixed_spread_layout(tmp_path: Path) -> None:
    edges = tmp_path / "g.txt"
    edges.write_text("".join(f"{i} {(i + 1) % 9}\n" for i in range(9)) + "0 4\n2 7\n")
    topo = build_topology(f"file:{edges}")
    a, b = plots.node_positions(topo), plots.node_positions(topo)
    assert a == b  # deterministic
    pts = np.array(list(a.values()))
    d = np.hypot(*(pts[:, None, :] - pts[None, :, :]).transpose(2, 0, 1))
    np.fill_diagonal(d, np.inf)
    assert d.min() > 0.8  # routers (drawn 0.8 wide) do not overlap


def test_mapping_figure_puts_routers_on_the_ring(ring_result: sim.Result, tmp_path: Path) -> None:
    topo = build_topology("ring:36")
    pos = plots.node_positions(topo)
    fig = plots.mapping_figure(ring_result, topo)
    ax = fig.axes[0]
    centres = sorted(
        (round(p.center[0], 6), round(p.center[1], 6)) for p in ax.patches if isinstance(p, Circle)
    )
    assert centres == sorted((round(x, 6), round(y, 6)) for x, y in pos.values())
    assert not any(isinstance(p, Rectangle) and p.get_width() == 0.8 for p in ax.patches)  # no grid squares
    texts = [t.get_text() for t in ax.texts]
    labels = plots.core_labels(ring_result)
    assert all("\n".join(plots._label_lines(v)) in texts for v in labels.values())
    legend = fig.axes[1].get_legend()
    assert [t.get_text().split()[1] for t in legend.get_texts()] == [
        la.name for la in ring_result.workload.layers
    ]
    plt.close(fig)
    check_figure_file(tmp_path / "m.png", "test")  # the output guard clears the file first
    plots.plot_mapping(ring_result, tmp_path / "m.png", topo)
    assert (tmp_path / "m.png").read_bytes().startswith(b"\x89PNG")


def test_core_labels_abbreviate_runs_of_layers() -> None:
    assert plots._ranges([0, 1, 2, 5, 7, 8]) == ["0–2", "5", "7–8"]
    lines = plots._label_lines([str(i) for i in range(10)])
    assert len(lines) == 3 and lines[-1] == "+6 more"


# ---------------------------------------------------------------------------------------------- colours
@pytest.mark.parametrize("T", [1, 2, 7, 10, 16, 20, 33])
def test_step_colours_are_discrete(T: int) -> None:
    cmap, norm = plots.step_colormap(T)
    assert isinstance(cmap, mcolors.ListedColormap) and cmap.N == T
    colours = [mcolors.to_hex(cmap(t)) for t in range(T)]
    assert len(set(colours)) == T  # one distinct colour per step
    assert [int(norm(t)) for t in range(T)] == list(range(T))  # step t -> colour t, no interpolation
    if T > 1:
        assert all(colours[t] != colours[t + 1] for t in range(T - 1))


def test_timeline_colours_bars_by_step_with_a_discrete_colorbar(ring_result: sim.Result) -> None:
    T = ring_result.workload.time_steps
    cmap, _ = plots.step_colormap(T)
    fig, ax = plt.subplots()
    cb = plots.timeline(ax, ring_result)
    used = {mcolors.to_hex(c) for coll in ax.collections for c in coll.get_facecolors()}
    assert used == {mcolors.to_hex(cmap(t)) for t in range(T)}
    assert isinstance(cb.cmap, mcolors.ListedColormap) and cb.cmap.N == T
    assert isinstance(cb.norm, mcolors.BoundaryNorm) and len(cb.norm.boundaries) == T + 1  # T bins
    assert ax.get_xlabel() == "cycles"
    fig.canvas.draw()
    sec = [c for c in ax.child_axes]
    assert sec and sec[0].get_xlim() == pytest.approx(
        np.array(ax.get_xlim()) / ring_result.summary["clock_mhz"]
    )  # µs on top
    plt.close(fig)


def test_us_axis_converts_cycles_at_the_clock() -> None:
    fig, ax = plt.subplots()
    ax.set_xlim(0, 2000)
    sec = plots.add_us_axis(ax, 200.0)
    fig.canvas.draw()
    assert sec.get_xlim() == pytest.approx((0, 10))
    assert plots.add_us_axis(ax, None) is None and plots.add_us_axis(ax, float("nan")) is None
    plt.close(fig)


def test_series_styles_keep_coinciding_series_visible() -> None:
    styles = [plots.series_style(i, 4) for i in range(4)]
    assert len({s["marker"] for s in styles}) == 4
    assert [s["ms"] for s in styles] == sorted((s["ms"] for s in styles), reverse=True)  # later ones inside
    assert all(s["mfc"] == "none" for s in styles[:-1])  # open markers let the later ones show through


# ---------------------------------------------------------------------------------------------- studies
def _write_sweep(folder: Path, rows: list[dict[str, Any]], summaries: dict[str, dict] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    cols = list(dict.fromkeys(k for r in rows for k in r))
    with (folder / "sweep.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, cols)
        w.writeheader()
        w.writerows(rows)
    for point, s in (summaries or {}).items():
        (folder / "points" / point).mkdir(parents=True)
        (folder / "points" / point / "summary.json").write_text(json.dumps(s))
    return folder


def _row(i: int, **kw: Any) -> dict[str, Any]:
    base = {
        "latency_cycles": 24000,
        "latency_ms": 0.12,
        "first_output_cycle": 18000,
        "energy_j": 7.5e-6,
        "tops_per_w": 88.0,
        "pj_per_sop": 0.05,
        "area_mm2": 80.0,
        "cores_used": 17,
        "noc_traffic_mb": 0.3,
        "noc_flits": 8000,
        "noc_max_link_flits": 400,
        "status": "ok",
        "error": "",
        "point": f"p{i:03d}",
    }
    return base | kw


@pytest.fixture()
def captured(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    figs: list[Any] = []
    monkeypatch.setattr(study_plots, "_save", lambda fig, path: figs.append(fig))
    yield figs
    for f in figs:
        plt.close(f)


def _bars_only_on_linear_axes(fig: Any) -> None:
    for ax in fig.axes:
        bars = [
            p for p in ax.patches if isinstance(p, Rectangle) and p.get_width() > 0 and p.get_height() != 0
        ]
        if bars:
            assert ax.get_yscale() == "linear" and ax.get_xscale() == "linear", ax.get_title()


def test_flits_study_coinciding_protocols_stay_visible(tmp_path: Path, captured: list[Any]) -> None:
    rows = []
    for i, (p, fb) in enumerate(
        (p, fb) for p in ("baer", "aer_truenorth", "aer_morphic") for fb in (64, 256)
    ):
        cycles = 24000 if p == "baer" else 60000  # the two AER formats give identical numbers
        values = {
            "noc.flit_bits": fb,
            "noc.protocol": p,
            "latency_cycles": cycles,
            "latency_ms": cycles / 2e5,
        }
        rows.append(_row(i, **values))
    study_plots.flits(_write_sweep(tmp_path / "sw", rows), tmp_path / "out")
    (fig,) = captured
    _bars_only_on_linear_axes(fig)
    lat = fig.axes[1]
    lines = [ln for ln in lat.get_lines() if ln.get_label() in ("aer_truenorth", "aer_morphic")]
    assert len(lines) == 2 and lines[0].get_ydata().tolist() == lines[1].get_ydata().tolist()
    assert (
        lines[0].get_marker() != lines[1].get_marker()
        and lines[0].get_markersize() > lines[1].get_markersize()
    )
    assert lat.get_ylabel() == "cycles" and lat.child_axes  # µs on the right


def test_scaling_study_marks_failed_and_keeps_bars_linear(tmp_path: Path, captured: list[Any]) -> None:
    rows = [
        _row(0, **{"noc.topology": "mesh:2x2", "chip.clock_mhz": 200, "status": "infeasible", "error": "x"}),
        _row(1, **{"noc.topology": "mesh:6x6", "chip.clock_mhz": 200}),
        _row(2, **{"noc.topology": "mesh:6x6", "chip.clock_mhz": 500, "latency_ms": 0.048}),
        _row(3, **{"noc.topology": "mesh:8x8", "chip.clock_mhz": 200}),
        _row(4, **{"noc.topology": "mesh:8x8", "chip.clock_mhz": 500, "latency_ms": 0.048}),
    ]
    for r in rows[:1]:
        for k in ("latency_cycles", "latency_ms", "energy_j", "tops_per_w", "area_mm2"):
            r[k] = ""
    study_plots.scaling(_write_sweep(tmp_path / "sw", rows), tmp_path / "out")
    (fig,) = captured
    _bars_only_on_linear_axes(fig)
    lines = fig.axes[0].get_lines()
    assert len(lines) == 2 and lines[0].get_marker() != lines[1].get_marker()
    assert any(t.get_text() == "refused" for t in fig.axes[3].texts)


def test_topologies_and_products_bars_are_linear_with_ratio_labels(
    tmp_path: Path, captured: list[Any]
) -> None:
    summ = {"energy_breakdown_j": {"adder": 5e-6, "noc_links": 1e-6}, "flit_bits": 256, "clock_mhz": 200.0}
    summ |= {"noc": {"flit_hops": 2500, "flits": 8000}}
    topo_rows = [
        _row(
            i,
            **{
                "noc.topology": t,
                "noc.routing": "xy",
                "workload.model": "vgg16_cifar10",
                "noc.protocol": "baer",
                "latency_cycles": lat,
            },
        )  # fmt: skip
        for i, (t, lat) in enumerate((("mesh:6x6", 24000), ("ring:36", 30000)))
    ]
    topo_rows.append(
        _row(
            9,
            **{
                "noc.topology": "torus:6x6",
                "noc.routing": "xy",
                "workload.model": "vgg16_cifar10",
                "noc.protocol": "baer",
                "status": "error",
                "error": "boom",
            },
        )  # fmt: skip
    )
    sw = _write_sweep(tmp_path / "t", topo_rows, {r["point"]: summ for r in topo_rows if r["status"] == "ok"})
    study_plots.topologies(sw, tmp_path / "out")
    prod_rows = [
        _row(10 + i, **{"workload.model": "vgg16_cifar10", "pe.product": p, "latency_cycles": lat})
        for i, (p, lat) in enumerate((("gustavson", 24000), ("inner", 100000), ("outer", 350000)))
    ]
    sw = _write_sweep(tmp_path / "p", prod_rows, {r["point"]: summ for r in prod_rows})
    study_plots.products(sw, tmp_path / "out")
    topo_fig, prod_fig = captured
    for fig in captured:
        _bars_only_on_linear_axes(fig)
    texts = [t.get_text() for t in topo_fig.axes[0].texts]
    assert "×1.25" in texts and "n/a" in texts  # ring vs mesh latency; the failed torus point has no bar
    assert {"×1", "×4.17", "×14.6"} <= {t.get_text() for t in prod_fig.axes[-1].texts}


def test_log_axes_get_plain_tick_labels() -> None:
    fig, ax = plt.subplots()
    ax.plot([0.03, 0.6], [25000, 600000])
    ax.set_xscale("log")
    ax.set_yscale("log")
    study_plots._log_ticks(ax, "x")
    study_plots._log_ticks(ax, "y")
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert labels and all("10^" not in lb and "$" not in lb for lb in labels)
    assert any("," in lb for lb in labels)
    plt.close(fig)


def test_matplotlib_backend_is_headless() -> None:
    assert matplotlib.get_backend().lower() == "agg"
