"""Tables and figures of the sweep-based studies (``elsa-tlm study <name> --sweep-dir DIR``), and the figures
of the other studies (:func:`plot_pipelines`, :func:`plot_elastic_policies`, :func:`plot_compare`).

Each sweep study's function reads a finished sweep folder (``sweep.csv`` and, where it needs more than the key
results, each point's ``points/<hash>/summary.json`` or ``links.csv``), writes ``<name>.csv`` and ``<name>.png``
into ``out`` and returns the CSV rows. Every number comes from the sweep's simulations; failed points are kept in
the CSV with their status and left out of (or marked in) the figures.
"""

from __future__ import annotations

import csv
import functools
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402

from elsa_tlm.errors import ConfigError  # noqa: E402
from elsa_tlm.figures.run import THOUSANDS, add_us_axis, series_style  # noqa: E402
from elsa_tlm.fileio import claim_output_folder, save_figure, write_csv_atomic  # noqa: E402

Row = dict[str, Any]
TEXT = ("point", "status", "error")  # never parsed as numbers (a hash may look like 12e345)
COLORS = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:gray"]


def _num(v: str) -> Any:
    if v in ("", None):
        return None
    try:
        return int(v)
    except ValueError:
        try:
            return float(v)
        except ValueError:
            return v


def load_rows(sweep_dir: Path) -> list[Row]:
    """sweep.csv with numbers parsed, checked before it is believed: UTF-8 text, a header with the columns
    every sweep.csv has (``status``, ``point``), no empty or repeated column name, every row as wide as the
    header; anything else is one ConfigError naming the file, the line and the rule."""
    import io

    path = Path(sweep_dir) / "sweep.csv"
    if not path.is_file():
        raise ConfigError("--sweep-dir", str(sweep_dir), "no sweep.csv there (run elsa-tlm sweep first)")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), "", f"is not UTF-8 text (byte {exc.start}); not a sweep.csv") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        table = list(reader)
    except csv.Error as exc:
        raise ConfigError(str(path), "", f"is not a CSV file (line {reader.line_num}: {exc})") from None
    if not table:
        raise ConfigError(str(path), "", "is empty; a sweep.csv has a header row and one row per point")
    header = table[0]
    missing = [c for c in ("status", "point") if c not in header]
    if missing:
        raise ConfigError(
            str(path),
            ",".join(header)[:80],
            f"header lacks {', '.join(missing)}: not a sweep.csv elsa-tlm wrote",
        )
    if "" in header or len(set(header)) != len(header):
        dup = next((c for c in header if c == "" or header.count(c) > 1), "")
        raise ConfigError(str(path), dup, "column names must be non-empty and distinct")
    rows: list[Row] = []
    for line, values in enumerate(table[1:], start=2):
        if not values:
            continue  # a blank line
        if len(values) != len(header):
            raise ConfigError(
                str(path), f"line {line}", f"has {len(values)} fields, the header {len(header)}"
            )
        rows.append({k: v if k in TEXT else _num(v) for k, v in zip(header, values, strict=True)})
    return rows


def _ok(rows: list[Row]) -> list[Row]:
    return [r for r in rows if r["status"] == "ok"]


def _summary(sweep_dir: Path, row: Row) -> dict[str, Any]:
    return json.loads((Path(sweep_dir) / "points" / row["point"] / "summary.json").read_text())


def _links(sweep_dir: Path, row: Row) -> list[Row]:
    with (Path(sweep_dir) / "points" / row["point"] / "links.csv").open(newline="") as fh:
        return [{k: _num(v) for k, v in r.items()} for r in csv.DictReader(fh)]


def _uniq(rows: list[Row], key: str) -> list[Any]:
    out: list[Any] = []
    for r in rows:
        if r.get(key) not in out:
            out.append(r.get(key))
    return out


def _get(rows: list[Row], **match: Any) -> Row | None:
    return next((r for r in rows if all(r.get(k) == v for k, v in match.items())), None)


def _grouped_bars(
    ax: Any,
    series: list[Any],
    categories: list[Any],
    value: Callable[[Any, Any], float | None],
    ticklabels: list[str] | None = None,
    note: Callable[[Any, Any, float], str] | None = None,
    **tick_kw: Any,
) -> None:
    """One bar group per category, one bar per series (``value(series, category)``) on a linear axis from 0.

    A missing value (None: the point failed) gets no bar but a grey 'n/a'; ``note(series, category, value)``
    writes a small label above each bar (e.g. the ratio to a reference).
    """
    w = 0.8 / max(1, len(series))
    x = np.arange(len(categories))
    rot = 0 if len(series) * len(categories) <= 8 else 90
    for j, m in enumerate(series):
        labelled = False
        for k, c in enumerate(categories):
            v = value(m, c)
            xj = x[k] + (j - (len(series) - 1) / 2) * w
            if v is None:
                ax.text(xj, 0, "n/a", rotation=90, ha="center", va="bottom", fontsize=7, color="0.5")
                continue
            ax.bar(xj, v, w, label=None if labelled else m, color=COLORS[j % len(COLORS)])
            labelled = True
            if note is not None:
                ax.text(xj, v, note(m, c, v), rotation=rot, ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(categories)))
    ax.set_xticklabels(categories if ticklabels is None else ticklabels, **tick_kw)
    if note is not None:
        ax.margins(y=0.18)


def _clock_mhz(rows: list[Row]) -> float | None:
    """The clock shared by every ok point (from latency_cycles / latency_ms), None if they differ."""
    clocks = {
        round(r["latency_cycles"] / (r["latency_ms"] * 1e3), 6)
        for r in rows
        if r.get("status") == "ok"
        and isinstance(r.get("latency_cycles"), int | float)
        and isinstance(r.get("latency_ms"), int | float)
        and r["latency_ms"] > 0
    }
    return clocks.pop() if len(clocks) == 1 else None


def _log_ticks(ax: Any, axis: str = "y") -> None:
    """Readable plain-number labels on a log axis: 1-2-(3-)5 ticks when it spans less than 3 decades."""
    a = ax.yaxis if axis == "y" else ax.xaxis
    lo, hi = ax.get_ylim() if axis == "y" else ax.get_xlim()
    if lo > 0 and hi / lo < 1e3:
        subs = (1.0, 2.0, 3.0, 5.0) if hi / lo < 1e2 else (1.0, 2.0, 5.0)
        a.set_major_locator(matplotlib.ticker.LogLocator(base=10, subs=subs))
    a.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _p: f"{v:,.6g}"))
    a.set_minor_formatter(matplotlib.ticker.NullFormatter())


def _save(fig: Any, path: Path) -> None:
    save_figure(fig, path, dpi=110)
    plt.close(fig)


def _study(fn: Callable[[Path, Path], list[Row]]) -> Callable[[Path, Path], list[Row]]:
    """A study's entry point: its sweep.csv checked first, then its output folder claimed by the output guard
    (new, empty, or a study folder of the tool's), then the tables and figure written."""

    @functools.wraps(fn)
    def study(sweep_dir: Path, out: Path) -> list[Row]:
        load_rows(Path(sweep_dir))  # bad input refused before anything is created
        return fn(Path(sweep_dir), claim_output_folder(out, "study", own_prefix=fn.__name__))

    return study


def _write(out: Path, name: str, rows: list[Row], fields: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_csv_atomic(out / f"{name}.csv", rows, fields)


def _topo_label(spec: str) -> str:
    return Path(spec[5:]).stem if isinstance(spec, str) and spec.startswith("file:") else str(spec)


# ---------------------------------------------------------------------------------------------- products
@_study
def products(sweep_dir: Path, out: Path) -> list[Row]:
    """Energy breakdown (stacked bars) and latency per product and network; ratios to Gustavson."""
    rows = load_rows(sweep_dir)
    models, prods = _uniq(rows, "workload.model"), _uniq(rows, "pe.product")
    table: list[Row] = []
    parts: set[str] = set()
    for r in rows:
        t = {"model": r["workload.model"], "product": r["pe.product"], "status": r["status"]}
        if r["status"] == "ok":
            s = _summary(sweep_dir, r)
            ref = _get(
                rows, **{"workload.model": r["workload.model"], "pe.product": "gustavson", "status": "ok"}
            )
            t |= {
                k: r[k]
                for k in ("latency_cycles", "first_output_cycle", "energy_j", "tops_per_w", "pj_per_sop")
            }
            if ref:
                t["energy_vs_gustavson"] = r["energy_j"] / ref["energy_j"]
                t["latency_vs_gustavson"] = r["latency_cycles"] / ref["latency_cycles"]
            for k, v in s["energy_breakdown_j"].items():
                t[f"e_{k}"] = v
                parts.add(k)
        table.append(t)
    order = sorted(parts, key=lambda p: -sum(t.get(f"e_{p}", 0.0) for t in table))
    fields = [
        "model",
        "product",
        "latency_cycles",
        "first_output_cycle",
        "energy_j",
        "tops_per_w",
        "pj_per_sop",
        "energy_vs_gustavson",
        "latency_vs_gustavson",
        *[f"e_{p}" for p in order],
        "status",
    ]
    _write(out, "products", table, fields)
    fig, axes = plt.subplots(1, len(models) + 1, figsize=(4.2 * (len(models) + 1), 4.4), layout="constrained")
    cmap = matplotlib.colormaps["tab20"]
    for ax, m in zip(axes[:-1], models, strict=True):
        bottom = np.zeros(len(prods))
        for i, p in enumerate(order):
            vals = np.array(
                [(_get(table, model=m, product=pr) or {}).get(f"e_{p}", 0.0) or 0.0 for pr in prods]
            )
            vals = vals * 1e6
            if vals.sum() > 0:
                ax.bar(range(len(prods)), vals, bottom=bottom, color=cmap(i % 20), label=p)
            bottom += vals
        ax.set_xticks(range(len(prods)))
        ax.set_xticklabels(prods)
        ax.set_title(m)
        ax.set_ylabel("energy per inference (µJ)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", fontsize=7)
    ax = axes[-1]

    def lat(m: Any, pr: Any) -> float | None:
        return (_get(table, model=m, product=pr, status="ok") or {}).get("latency_cycles")

    def vs_gustavson(m: Any, pr: Any, v: float) -> str:
        ref = lat(m, "gustavson")
        return f"×{v / ref:.3g}" if ref else ""

    _grouped_bars(ax, models, prods, lat, note=vs_gustavson)
    ax.yaxis.set_major_formatter(THOUSANDS)
    add_us_axis(ax, _clock_mhz(rows), "y")
    ax.set_ylabel("cycles")
    ax.set_title("latency, all T steps (labels: × Gustavson)")
    ax.legend(fontsize=8)
    fig.suptitle("PE dataflow: spiking Gustavson vs inner vs outer product")
    _save(fig, out / "products.png")
    return table


# ------------------------------------------------------------------------------------------------- flits
@_study
def flits(sweep_dir: Path, out: Path) -> list[Row]:
    """NoC traffic (MB) and latency against flit size, one line per protocol."""
    rows = load_rows(sweep_dir)
    table = [
        {
            "protocol": r["noc.protocol"],
            "flit_bits": r["noc.flit_bits"],
            "traffic_mb": r["noc_traffic_mb"],
            "flits": r["noc_flits"],
            "max_link_flits": r["noc_max_link_flits"],
            "latency_cycles": r["latency_cycles"],
            "first_output_cycle": r["first_output_cycle"],
            "energy_j": r["energy_j"],
            "status": r["status"],
        }
        for r in rows
    ]
    _write(out, "flits", table, list(table[0]) if table else ["protocol"])
    fig, (a1, a2, a3) = plt.subplots(1, 3, figsize=(15, 4.4), layout="constrained")
    protocols = _uniq(table, "protocol")
    sizes = sorted({t["flit_bits"] for t in table if isinstance(t["flit_bits"], int | float)})
    for i, p in enumerate(protocols):
        pts = sorted(
            (t for t in table if t["protocol"] == p and t["status"] == "ok"), key=lambda t: t["flit_bits"]
        )
        x = [t["flit_bits"] for t in pts]
        style = {"color": COLORS[i % len(COLORS)], "label": p, **series_style(i, len(protocols))}
        a1.plot(x, [t["traffic_mb"] for t in pts], **style)
        a2.plot(x, [t["first_output_cycle"] for t in pts], **style)  # what the flit size moves most
        a2.plot(x, [t["latency_cycles"] for t in pts], **{**style, "label": None, "ls": ":", "alpha": 0.7})
        a3.plot(x, [t["energy_j"] * 1e6 for t in pts], **style)
    titles = (
        "NoC traffic (MB, flits × flit size)",
        "first output (solid) and latency of all T steps (dotted)",
        "energy per inference",
    )
    for ax, title in zip((a1, a2, a3), titles, strict=True):
        ax.set_xlabel("flit size (bits)")
        ax.set_xscale("log", base=2)
        ax.set_xticks(sizes)
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _p: f"{v:g}"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_title(title)
        ax.legend(fontsize=8, title="packet format", title_fontsize=8)
    a1.set_yscale("log")
    _log_ticks(a1)
    a1.set_ylabel("MB")
    a2.set_ylabel("cycles")
    a2.yaxis.set_major_formatter(THOUSANDS)
    add_us_axis(a2, _clock_mhz(rows), "y")
    a3.set_ylabel("µJ")
    for ax in (a2, a3):  # zero-based: a few per cent must look like a few per cent; headroom for the top line
        ax.set_ylim(0, ax.get_ylim()[1] * 1.08)
    fig.suptitle("Flit size × spike packet format (BAER bundles a spine; AER: one packet per spike)")
    _save(fig, out / "flits.png")
    return table


# ----------------------------------------------------------------------------------------------- routing
@_study
def routing(sweep_dir: Path, out: Path) -> list[Row]:
    """Distribution of flits per link (violins, from each point's links.csv) and peak link bandwidth."""
    rows = load_rows(sweep_dir)
    models, routes = _uniq(rows, "workload.model"), _uniq(rows, "noc.routing")
    table: list[Row] = []
    dists: dict[tuple[Any, Any], np.ndarray] = {}
    for r in rows:
        t: Row = {"model": r["workload.model"], "routing": r["noc.routing"], "status": r["status"]}
        if r["status"] == "ok":
            s = _summary(sweep_dir, r)
            links = _links(sweep_dir, r)
            fl = np.array([lk["flits"] for lk in links], dtype=float)
            used = fl[fl > 0]
            dists[(t["model"], t["routing"])] = used
            secs = r["latency_cycles"] / (s["clock_mhz"] * 1e6)
            t |= {
                "latency_cycles": r["latency_cycles"],
                "energy_j": r["energy_j"],
                "flit_hops": s["noc"]["flit_hops"],
                "links_used": int(used.size),
                "links_total": int(fl.size),
                "mean_link_flits": float(used.mean()) if used.size else 0.0,
                "p95_link_flits": float(np.percentile(used, 95)) if used.size else 0.0,
                "max_link_flits": int(fl.max()) if fl.size else 0,
                "peak_link_gbps": max(lk["bits"] for lk in links) / secs / 1e9 if secs > 0 else 0.0,
                "peak_link_utilisation": max(lk["busy_cycles"] for lk in links) / max(1, r["latency_cycles"]),
            }
        table.append(t)
    fields = [
        "model",
        "routing",
        "latency_cycles",
        "energy_j",
        "flit_hops",
        "links_used",
        "links_total",
        "mean_link_flits",
        "p95_link_flits",
        "max_link_flits",
        "peak_link_gbps",
        "peak_link_utilisation",
        "status",
    ]
    _write(out, "routing", table, fields)
    fig, axes = plt.subplots(1, len(models) + 1, figsize=(4.5 * (len(models) + 1), 4.4), layout="constrained")
    for ax, m in zip(axes[:-1], models, strict=True):
        data = [(i, dists[(m, rt)]) for i, rt in enumerate(routes) if dists.get((m, rt)) is not None]
        data = [(i, np.log10(d)) for i, d in data if d.size > 1]
        if data:  # violins of log10(flits): the spread covers orders of magnitude
            parts = ax.violinplot([d for _, d in data], positions=[i for i, _ in data], showmedians=True)
            for body, (i, _) in zip(parts["bodies"], data, strict=True):
                body.set_facecolor(COLORS[i])
            for i, d in data:
                ax.plot(i, d.max(), "kv", ms=5)
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _p: f"$10^{{{v:g}}}$"))
        ax.set_xticks(range(len(routes)))
        ax.set_xticklabels(routes)
        ax.set_ylabel("flits per used link (▼ = peak)")
        ax.set_title(m)
    ax = axes[-1]
    _grouped_bars(
        ax,
        models,
        routes,
        lambda m, rt: (_get(table, model=m, routing=rt, status="ok") or {}).get("peak_link_gbps"),
    )
    ax.set_ylabel("Gbit/s")
    ax.set_title("busiest link: mean bandwidth (Gbit/s)")
    ax.legend(fontsize=8)
    fig.suptitle("Routing: flits per link and peak link bandwidth")
    _save(fig, out / "routing.png")
    return table


# -------------------------------------------------------------------------------------------- topologies
@_study
def topologies(sweep_dir: Path, out: Path) -> list[Row]:
    """Latency, energy and NoC traffic (link traffic = flit-hops × flit size) per topology."""
    rows = load_rows(sweep_dir)
    table: list[Row] = []
    for r in rows:
        t: Row = {
            "topology": _topo_label(r["noc.topology"]),
            "routing": r.get("noc.routing"),
            "model": r.get("workload.model"),
            "protocol": r.get("noc.protocol"),
            "status": r["status"],
        }
        if r["status"] == "ok":
            s = _summary(sweep_dir, r)
            t |= {
                "latency_cycles": r["latency_cycles"],
                "first_output_cycle": r["first_output_cycle"],
                "energy_j": r["energy_j"],
                "noc_energy_j": sum(
                    s["energy_breakdown_j"].get(k, 0.0)
                    for k in ("noc_hops", "noc_local_delivery", "routing_engine")
                ),
                "traffic_mb": r["noc_traffic_mb"],
                "flit_hops": s["noc"]["flit_hops"],
                "link_traffic_mb": s["noc"].get("link_bits", s["noc"]["flit_hops"] * s["flit_bits"]) / 8e6,
                "avg_hops": s["noc"]["flit_hops"] / max(1, s["noc"]["flits"]),
                "max_link_flits": r["noc_max_link_flits"],
            }
        table.append(t)
    fields = [
        "topology",
        "routing",
        "model",
        "protocol",
        "latency_cycles",
        "first_output_cycle",
        "energy_j",
        "noc_energy_j",
        "traffic_mb",
        "flit_hops",
        "link_traffic_mb",
        "avg_hops",
        "max_link_flits",
        "status",
    ]
    _write(out, "topologies", table, fields)
    topos = _uniq(table, "topology")
    groups = [(m, p) for m in _uniq(table, "model") for p in _uniq(table, "protocol")]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8), layout="constrained")
    ref = topos[0] if topos else None
    for ax, key, title, unit, scale in zip(
        axes,
        ("latency_cycles", "energy_j", "link_traffic_mb"),
        ("latency, all T steps", "energy per inference", "NoC link traffic (flit-hops × flit size)"),
        ("cycles", "µJ", "MB·hop"),
        (1.0, 1e6, 1.0),
        strict=True,
    ):

        def val(tp: Any, g: tuple[Any, Any], key: str = key, scale: float = scale) -> float | None:
            v = (_get(table, topology=tp, model=g[0], protocol=g[1], status="ok") or {}).get(key)
            return None if v is None else v * scale

        def vs_ref(tp: Any, g: tuple[Any, Any], v: float, val: Callable = val) -> str:
            r = val(ref, g)
            return f"×{v / r:.3g}" if r else ""

        _grouped_bars(ax, topos, groups, val, [f"{m}\n{p}" for m, p in groups], note=vs_ref, fontsize=8)
        ax.set_title(f"{title} (labels: × {ref})", fontsize=10)
        ax.set_ylabel(unit)
    axes[0].yaxis.set_major_formatter(THOUSANDS)
    add_us_axis(axes[0], _clock_mhz(rows), "y")
    axes[0].legend(fontsize=8, loc="upper left")
    fig.suptitle("Topologies with 36 routers (ring and custom graph: shortest-path routing)")
    _save(fig, out / "topologies.png")
    return table


# ----------------------------------------------------------------------------------------------- scaling
@_study
def scaling(sweep_dir: Path, out: Path) -> list[Row]:
    """Latency (ms), TOPS/W and area against clock and mesh size; refused sizes marked."""
    rows = load_rows(sweep_dir)
    table = [
        {
            "topology": r["noc.topology"],
            "cores_total": _cores(r["noc.topology"]),
            "clock_mhz": r["chip.clock_mhz"],
            "latency_cycles": r["latency_cycles"],
            "latency_ms": r["latency_ms"],
            "first_output_cycle": r["first_output_cycle"],
            "energy_j": r["energy_j"],
            "tops_per_w": r["tops_per_w"],
            "area_mm2": r["area_mm2"],
            "cores_used": r["cores_used"],
            "status": r["status"],
            "error": r["error"],
        }
        for r in rows
    ]
    _write(out, "scaling", table, list(table[0]) if table else ["topology"])
    topos = _uniq(table, "topology")
    fig, axes = plt.subplots(1, 4, figsize=(18, 4.4), layout="constrained")
    drawn = [tp for tp in topos if any(t["topology"] == tp and t["status"] == "ok" for t in table)]
    for i, tp in enumerate(drawn):
        pts = sorted(
            (t for t in table if t["topology"] == tp and t["status"] == "ok"), key=lambda t: t["clock_mhz"]
        )
        style = {"color": COLORS[i % len(COLORS)], "label": tp, **series_style(i, len(drawn))}
        x = [t["clock_mhz"] for t in pts]
        axes[0].plot(x, [t["latency_ms"] for t in pts], **style)
        axes[1].plot(x, [t["energy_j"] * 1e6 for t in pts], **style)
        axes[2].plot(x, [t["tops_per_w"] for t in pts], **style)
    for ax, title, unit in zip(
        axes[:3],
        ("latency, all T steps", "energy per inference", "energy efficiency"),
        ("ms", "µJ", "TOPS/W"),
        strict=True,
    ):
        ax.set_xlabel("clock (MHz)")
        ax.set_ylabel(unit)
        ax.set_title(title)
    if drawn:
        axes[0].legend(fontsize=7, title="topology", title_fontsize=7)
    ax = axes[3]
    ok_area = {t["topology"]: t["area_mm2"] for t in table if t["status"] == "ok"}
    xs = np.arange(len(topos))
    ax.bar(xs, [ok_area.get(tp, 0.0) for tp in topos], color="tab:gray")
    for i, tp in enumerate(topos):
        if tp not in ok_area:
            ax.text(i, 0, "refused", rotation=90, ha="center", va="bottom", color="tab:red")
    ax.set_xticks(xs)
    ax.set_xticklabels(topos, rotation=30, ha="right", fontsize=8)
    ax.set_title("chip area (mm²)")
    fig.suptitle("Scaling: mesh size × clock (failed points = the network does not fit the mesh)")
    _save(fig, out / "scaling.png")
    return table


def _cores(spec: Any) -> int | None:
    if not isinstance(spec, str) or ":" not in spec:
        return None
    kind, body = spec.split(":", 1)
    if kind in ("mesh", "torus") and "x" in body:
        r, c = body.split("x")
        return int(r) * int(c)
    return int(body) if kind == "ring" and body.isdigit() else None


# ------------------------------------------------------------------------------------------------ memory
@_study
def memory(sweep_dir: Path, out: Path) -> list[Row]:
    """TOPS/W, area and the whole on-chip energy (buffer accesses, eDRAM refresh, leakage, the rest) per buffer
    technology and network."""
    rows = load_rows(sweep_dir)
    table: list[Row] = []
    for r in rows:
        t: Row = {"model": r["workload.model"], "technology": r["memory.technology"], "status": r["status"]}
        if r["status"] == "ok":
            s = _summary(sweep_dir, r)
            eb = s["energy_breakdown_j"]
            mem = sum(eb.get(k, 0.0) for k in ("weight_sram", "membrane_sram", "tracer_sram"))
            t |= {
                "tops_per_w": r["tops_per_w"],
                "area_mm2": r["area_mm2"],
                "energy_j": r["energy_j"],
                "memory_access_j": mem,
                "refresh_j": eb.get("refresh", 0.0),
                "leakage_j": eb.get("leakage", 0.0),
                "other_j": r["energy_j"] - mem - eb.get("refresh", 0.0) - eb.get("leakage", 0.0),
                "latency_cycles": r["latency_cycles"],
            }
        table.append(t)
    fields = ["model", "technology", "tops_per_w", "area_mm2", "energy_j", "memory_access_j", "refresh_j"]
    _write(out, "memory", table, [*fields, "leakage_j", "other_j", "latency_cycles", "status"])
    models, techs = _uniq(table, "model"), _uniq(table, "technology")
    fig, axes = plt.subplots(1, 3, figsize=(15.5, 4.6), layout="constrained")
    w = 0.8 / max(1, len(techs))
    parts = [("memory_access_j", "buffer accesses", None), ("refresh_j", "eDRAM refresh", "xx"),
             ("leakage_j", "leakage", "//"), ("other_j", "everything else", "..")]  # fmt: skip
    totals = [
        ((_get(table, model=m, technology=tech, status="ok") or {}).get("energy_j") or 0.0) * 1e6
        for tech in techs
        for m in models
    ]
    scale, unit = (1e-3, "mJ") if max(totals, default=0.0) >= 1000 else (1.0, "µJ")
    for i, tech in enumerate(techs):
        off = (i - (len(techs) - 1) / 2) * w
        bottom = np.zeros(len(models))
        for k, (key, label, hatch) in enumerate(parts):
            vals = np.array(
                [
                    ((_get(table, model=m, technology=tech) or {}).get(key) or 0.0) * 1e6 * scale
                    for m in models
                ]
            )
            axes[1].bar(
                np.arange(len(models)) + off,
                vals,
                w,
                bottom=bottom,
                color=COLORS[i],
                alpha=1.0 - 0.2 * k,
                hatch=hatch,
                edgecolor="white",
                label=f"{tech}: {label}" if vals.any() else None,  # no legend entry for a zero part
            )
            bottom += vals
    _grouped_bars(
        axes[0],
        techs,
        models,
        lambda tech, m: (_get(table, model=m, technology=tech, status="ok") or {}).get("tops_per_w"),
    )
    areas = [
        next((t["area_mm2"] for t in table if t["technology"] == tech and t["status"] == "ok"), 0.0)
        for tech in techs
    ]
    axes[2].bar(techs, areas, color=COLORS[: len(techs)])
    titles = ("efficiency", f"on-chip energy per inference ({unit})", "chip area")
    ylabels = ("TOPS/W", f"energy ({unit})", "area (mm²)")
    for ax, title, ylabel in zip(axes, titles, ylabels, strict=True):
        ax.set_title(title)
        ax.set_ylabel(ylabel)
    for ax in axes[:2]:
        ax.set_xticks(range(len(models)))
        ax.set_xticklabels(models, rotation=20, ha="right", fontsize=8)
    axes[0].legend(
        fontsize=7, title="technology", loc="upper left", bbox_to_anchor=(0, -0.25), ncols=len(techs)
    )
    axes[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.suptitle("Buffer technology: SRAM vs eDRAM (every joule of the chip, refresh included)")
    _save(fig, out / "memory.png")
    return table


# -------------------------------------------------------------------------------------------- congestion
@_study
def congestion(sweep_dir: Path, out: Path) -> list[Row]:
    """Total cycles against offered injection rate; at (contention) vs lt (zero-load) per link width.

    offered rate = injected bits / link_bits / (cores used × lt cycles): the fraction of its local port's
    capacity an active core would need if the run took its contention-free time. busiest-link demand =
    max link busy cycles / lt cycles (from the lt point's links.csv): above 1 the busiest link alone must
    stretch the run.
    """
    rows = load_rows(sweep_dir)
    table: list[Row] = []
    for lb in _uniq(rows, "noc.link_bits"):
        at, lt = (
            _get(rows, **{"noc.link_bits": lb, "run.mode": "at"}),
            _get(rows, **{"noc.link_bits": lb, "run.mode": "lt"}),
        )
        t: Row = {"link_bits": lb}
        ok = at is not None and lt is not None and at["status"] == "ok" and lt["status"] == "ok"
        t["status"] = (
            "ok" if ok else ",".join(str(x["status"]) for x in (at, lt) if x is not None) or "missing"
        )
        if ok:
            s = _summary(sweep_dir, lt)
            links = _links(sweep_dir, lt)
            t_lt = max(1, lt["latency_cycles"])
            t |= {
                "flit_bits": s["flit_bits"],
                "protocol": s["protocol"],
                "packets": s["noc"]["packets"],
                "flits": s["noc"]["flits"],
                "offered_rate": s["noc"]["injected_bits"] / lb / (s["cores_used"] * t_lt),
                "busiest_link_demand": max(lk["busy_cycles"] for lk in links) / t_lt,
                "at_cycles": at["latency_cycles"],
                "lt_cycles": lt["latency_cycles"],
                "slowdown": at["latency_cycles"] / t_lt,
                "at_first_output_cycle": at["first_output_cycle"],
                "at_energy_j": at["energy_j"],
            }
        table.append(t)
    fields = [
        "link_bits",
        "flit_bits",
        "protocol",
        "packets",
        "flits",
        "offered_rate",
        "busiest_link_demand",
        "at_cycles",
        "lt_cycles",
        "slowdown",
        "at_first_output_cycle",
        "at_energy_j",
        "status",
    ]
    _write(out, "congestion", table, fields)
    pts = sorted((t for t in table if t["status"] == "ok"), key=lambda t: t["offered_rate"])
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.4), layout="constrained")
    x = [t["offered_rate"] for t in pts]
    a1.plot(x, [t["at_cycles"] for t in pts], color="tab:red", label="at: contention, back-pressure",
            **series_style(0, 2))  # fmt: skip
    a1.plot(x, [t["lt_cycles"] for t in pts], color="tab:blue", label="lt: zero-load, no queueing",
            **series_style(1, 2))  # fmt: skip
    for t in pts:
        a1.annotate(
            f"{t['link_bits']}b",
            (t["offered_rate"], t["at_cycles"]),
            fontsize=7,
            textcoords="offset points",
            xytext=(3, 4),
        )
    a1.set_xscale("log")
    a1.set_yscale("log")
    a1.set_xlabel("offered injection rate (fraction of local-port capacity per active core)")
    a1.set_ylabel("total cycles (all T steps)")
    _log_ticks(a1, "x")
    _log_ticks(a1, "y")
    sec = add_us_axis(a1, _clock_mhz(rows), "y")
    if sec is not None:
        _log_ticks(sec, "y")
    a1.legend(fontsize=8)
    a1.set_title("total cycles vs injection rate (labels: link width)")
    bx = [t["busiest_link_demand"] for t in pts]
    a2.plot(bx, [t["slowdown"] for t in pts], "o-", color="tab:purple")
    a2.axvline(1.0, color="k", ls=":", lw=0.8)
    a2.set_xscale("log")
    a2.set_yscale("log")
    _log_ticks(a2, "x")
    _log_ticks(a2, "y")
    a2.set_xlabel("busiest-link demand (busy cycles / zero-load run length)")
    a2.set_ylabel("slowdown at / lt")
    a2.set_title("congestion slowdown")
    proto = pts[0]["protocol"] if pts else ""
    fig.suptitle(
        f"Congestion: {proto} packets, {pts[0]['flit_bits'] if pts else '?'}-bit flits, narrowing links"
    )
    _save(fig, out / "congestion.png")
    return table


# ------------------------------------------------------------------------------------------------ split
@_study
def split(sweep_dir: Path, out: Path) -> list[Row]:
    """First output and latency per network for each way of cutting layers over cores."""
    rows = load_rows(sweep_dir)
    table: list[Row] = []
    for r in rows:
        t: Row = {"model": r["workload.model"], "split": r["mapping.split"], "status": r["status"]}
        if r["status"] == "ok":
            s = _summary(sweep_dir, r)
            t |= {
                "first_output_cycle": r["first_output_cycle"],
                "latency_cycles": r["latency_cycles"],
                "cores_used": r["cores_used"],
                "energy_j": r["energy_j"],
                "stalled_on_output_cycles": s["pe"]["stalled_on_output_cycles"],
            }
        table.append(t)
    for t in table:  # against the column split (ELSA) of the same network
        ref = _get(table, model=t["model"], split="columns", status="ok")
        if ref and t["status"] == "ok":
            t["first_output_vs_columns"] = t["first_output_cycle"] / ref["first_output_cycle"]
            t["latency_vs_columns"] = t["latency_cycles"] / ref["latency_cycles"]
    fields = ["model", "split", "first_output_cycle", "latency_cycles", "cores_used", "energy_j"]
    fields += ["stalled_on_output_cycles", "first_output_vs_columns", "latency_vs_columns", "status"]
    _write(out, "split", table, fields)
    models, splits = _uniq(table, "model"), _uniq(table, "split")
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), layout="constrained")
    for ax, key, title in zip(
        axes,
        ("first_output_vs_columns", "latency_vs_columns", "cores_used"),
        ("first output / column split", "latency / column split", "cores used"),
        strict=True,
    ):
        _grouped_bars(
            ax,
            splits,
            models,
            lambda sp, m, key=key: (_get(table, model=m, split=sp, status="ok") or {}).get(key),
            note=(lambda sp, m, v: f"{v:.0f}") if key == "cores_used" else (lambda sp, m, v: f"{v:.2f}"),
        )
        ax.set_title(title)
        ax.legend(title="mapping.split", fontsize=7)
    axes[0].axhline(1.0, color="0.4", lw=0.8, ls=":")
    axes[1].axhline(1.0, color="0.4", lw=0.8, ls=":")
    fig.suptitle("Cutting layers over cores: output channels (ELSA) vs output-row bands")
    _save(fig, out / "split.png")
    return table


STUDIES: dict[str, Callable[[Path, Path], list[Row]]] = {
    "products": products,
    "flits": flits,
    "routing": routing,
    "topologies": topologies,
    "scaling": scaling,
    "memory": memory,
    "congestion": congestion,
    "split": split,
}


# ------------------------------------------------------------------------------------------ the other studies
# (elsa_tlm.studies computes and writes each table; these draw its figure)
def plot_pipelines(rows: list[Row], models: list[str], policies: Sequence[str], path: Path) -> None:
    """The pipelines study (``pipelines.png``): first response and latency against the spine-wise pipeline,
    and energy: linear bars with labels, one group per network at its own T."""

    def steps(model: str) -> Any:
        return next((r["time_steps"] for r in rows if r["model"] == model), "?")

    def value(key: str, scale: float = 1.0) -> Callable[[Any, Any], float | None]:
        return lambda pol, m: next(
            (r[key] * scale for r in rows if r["model"] == m and r["policy"] == pol), None
        )

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8), layout="constrained")
    panels = [
        ("first_output_vs_spine", 1.0, "first response", "first response / spine-wise (×)"),
        ("latency_vs_spine", 1.0, "latency (all T steps)", "latency / spine-wise (×)"),
        ("energy_j", 1e6, "on-chip energy per inference", "energy (µJ, log scale)"),
    ]
    for ax, (key, scale, title, ylabel) in zip(axes, panels, strict=True):
        _grouped_bars(
            ax,
            list(policies),
            models,
            value(key, scale),
            ticklabels=[f"{m}\nT={steps(m)}" for m in models],
            note=lambda pol, m, v: f"{v:.1f}" if v < 1000 else f"{v:.0f}",
            rotation=30,
            ha="right",
            fontsize=8,
        )
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        if key == "energy_j":  # CNNs (tens of µJ) and ViT (mJ) on one axis: log, with readable ticks
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _p: f"{v:g}"))
        else:
            ax.axhline(1.0, color="0.3", lw=0.8, ls=":")
    axes[0].legend(title="schedule", loc="upper left")
    fig.suptitle(
        "ELSA chip model (default chip, at): spine/token-wise vs layer-wise (tbt) vs layer-by-layer (lbl) "
        "pipelines, each network at its own T"
    )
    _save(fig, path)


def plot_elastic_policies(
    rows: list[Row], exits: dict[str, dict[str, float]], path: Path, clock_mhz: float | None = None
) -> None:
    """The elastic study (``elastic_policies.png``): accuracy after every step against the cycle its output
    leaves the chip, one curve per schedule, each schedule's early exit starred."""
    fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
    colors = {"spine": "tab:green", "token": "tab:green", "tbt": "tab:orange", "lbl": "tab:red"}
    for pol in [p for p in ("spine", "token", "tbt", "lbl") if p in exits]:
        pts = [r for r in rows if r["policy"] == pol]
        ax.plot(
            [r["mean_cycle"] for r in pts],
            [100 * r["accuracy"] for r in pts],
            marker="o",
            ms=3,
            color=colors[pol],
            label=pol,
        )
        e = exits[pol]
        if e["threshold"]:
            ax.scatter(
                [e["test_set_exit_cycle"]],
                [100 * e["test_set_accuracy"]],
                color=colors[pol],
                marker="*",
                s=150,
                edgecolor="black",
                zorder=5,
            )
    ax.set_xscale("log")
    ax.set_xlabel("cycle at which the step's output leaves the chip (log)")
    if clock_mhz:
        add_us_axis(ax, clock_mhz)
    ax.set_ylabel("digits test accuracy (%)")
    ax.set_title("elastic inference: accuracy vs latency per schedule (★ = early exit)")
    ax.legend(title="schedule")
    _save(fig, path)


def plot_compare(rows: list[Row], path: Path, headline: Sequence[str] = ()) -> None:
    """``compare.png``: per network with a simulated run, throughput and energy per inference of every chip
    that measured it, normalised to the first ``headline`` baseline there (else the first baseline), log axis."""
    nets = list(dict.fromkeys(r["network"] for r in rows if r["kind"] == "simulated"))
    fig, axes = plt.subplots(
        len(nets), 2, figsize=(12, 3.2 * len(nets) + 0.8), layout="constrained", squeeze=False
    )
    for (ax_t, ax_e), net in zip(axes, nets, strict=True):
        chips = [r for r in rows if r["network"] == net]
        base = next(
            (r for h in headline for r in chips if r["chip"] == h),
            next(r for r in chips if r["kind"] != "simulated"),
        )
        names = [r["chip"] for r in chips]
        colours = ["#e45756" if r["kind"] == "simulated" else "#4c78a8" for r in chips]
        thr = [r["gops"] / base["gops"] for r in chips]
        # energy per inference ∝ 1 / TOPS/W for the same network (same #Ops)
        energy = [base["tops_per_w"] / r["tops_per_w"] for r in chips]
        for ax, vals, label in ((ax_t, thr, f"throughput / {base['chip']} (×, log)"),
                                (ax_e, energy, f"energy per inference / {base['chip']} (×, log)")):  # fmt: skip
            ax.bar(range(len(chips)), vals, color=colours)
            ax.set_yscale("log")
            ax.axhline(1.0, color="0.3", lw=0.8, ls=":")
            ax.set_xticks(range(len(chips)), names, rotation=30, ha="right", fontsize=8)
            ax.set_ylabel(label, fontsize=8)
            ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _p: f"{v:g}"))
            for k, v in enumerate(vals):
                ax.text(k, v, f"{v:.3g}", ha="center", va="bottom", fontsize=7)
        ax_t.set_title(f"{net}: throughput (higher is better)", fontsize=9)
        ax_e.set_title(f"{net}: energy per inference (lower is better)", fontsize=9)
    fig.suptitle(
        "Simulated chips (red) beside published chips (blue: published figures at their own technology, "
        "voltage and clock, not simulated)",
        fontsize=9,
    )
    _save(fig, path)
