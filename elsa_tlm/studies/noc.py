"""The standalone NoC's studies: one synthetic-traffic point or a rate sweep (``elsa-tlm noc``), and the
routers' latency-throughput curves overlaid (``elsa-tlm noc-plot``, ``make noc-curve``).

:func:`synthetic` writes ``noc.json`` + ``links.csv`` (one point) or ``noc.json`` + ``noc_sweep.csv`` +
``latency_throughput.png`` (a sweep, :func:`elsa_tlm.figures.noc.plot_latency_throughput`); every argument is
checked before the output folder is touched. The simulation itself is :mod:`elsa_tlm.noc.traffic`, which counts;
this driver prices its counters (:func:`priced`: the energy ledger and table a chip run uses).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from elsa_tlm.config import NocConfig, from_dict, inert_settings, parse_override
from elsa_tlm.energy import price_noc
from elsa_tlm.errors import ConfigError
from elsa_tlm.fileio import check_figure_file, claim_output_folder, write_csv_atomic, write_json_atomic
from elsa_tlm.noc.params import noc_config

LINK_FIELDS = ["src", "dst", "packets", "flits", "bits", "busy_cycles", "utilisation"]
SWEEP_FIELDS = [
    "rate",
    "offered_rate",
    "accepted_rate",
    "avg_latency",
    "p99_latency",
    "zero_load_latency",
    "avg_hops",
    "drained",
    "saturated",
    "events",
    "wall_s",
]
ROUTERS = ("fast", "vc")
ROUTERS_TITLE = "6x6 mesh, XY, single-flit packets: fast vs vc router"
REF_COLUMNS = ("label", "traffic", "offered", "latency")


def noc_params(
    sets: Sequence[str] = (),
    topology: str | None = None,
    routing: str | None = None,
    router: str | None = None,
) -> NocConfig:
    """The ``[noc]`` section from ``noc.KEY=VALUE`` overrides (TOML values, the scenario schema) and the
    topology/routing/router shortcuts; ``file:`` paths resolve against the working folder."""
    d: dict[str, object] = {}
    for item in sets:
        section, key, value = parse_override(item)
        if section != "noc":
            raise ConfigError(f"{section}.{key}", value, "the noc subcommand takes only noc.* keys")
        d[key] = value
    if topology is not None:
        d["topology"] = topology
    if routing is not None:
        d["routing"] = routing
    if router is not None:
        d["router"] = router
    return noc_config(Path.cwd(), **d)


def sweep_rates(spec: str) -> list[float]:
    """The offered rates of ``START:STOP:STEP`` (at most 1001)."""
    try:
        start, stop, step = (float(x) for x in spec.split(":"))
    except ValueError:
        raise ConfigError("--sweep", spec, "must be START:STOP:STEP (numbers)") from None
    if not all(math.isfinite(x) for x in (start, stop, step)) or step <= 0 or start < 0 or stop < start:
        raise ConfigError("--sweep", spec, "needs finite 0 <= START <= STOP and STEP > 0")
    if (stop - start) / step > 1000:
        raise ConfigError("--sweep", spec, "more than 1000 rate points; use a larger STEP")
    n = int((stop - start) / step + 1e-9) + 1
    return [round(start + i * step, 10) for i in range(n)]


def saturated(r: dict) -> bool:
    """A point past saturation: it accepted under 90 % of what it offered, or waited ten times zero-load."""
    if r["avg_latency"] is None:
        return r["offered_rate"] > 0
    return r["accepted_rate"] < 0.9 * r["offered_rate"] or r["avg_latency"] > 10 * r["zero_load_latency"]


def priced(report: dict[str, Any], params: NocConfig) -> dict[str, Any]:
    """A synthetic run's report with its ``energy_j``: the counters priced through the energy ledger
    (:func:`elsa_tlm.energy.price_noc`), listed after ``route_ops`` as noc.json always had it."""
    out: dict[str, Any] = {}
    for k, v in report.items():
        out[k] = v
        if k == "route_ops":
            out["energy_j"] = price_noc(report, params)
    return out


def synthetic(
    params: NocConfig,
    out: str | Path,
    *,
    traffic: str = "uniform",
    rate: float = 0.1,
    packet_flits: int = 1,
    cycles: int = 10000,
    warmup: int = 1000,
    seed: int = 1,
    sweep: str | None = None,
    long: bool = False,
    progress: Callable[[str], Any] | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """One synthetic-traffic point at ``rate`` or, with ``sweep`` (``START:STOP:STEP``), a rate sweep that
    stops one point after saturation, into ``out`` (new, empty, or a NoC folder of the tool's).

    ``progress(what)`` makes the progress of one run (a callable ``(cycle, total)`` with ``phase(text)`` and
    ``close()``; ``what`` names the rate in a sweep); ``log`` gets the lines said on the way (settings that
    take no effect, each sweep point). Returns ``{"out", "params", "point"}`` (the run's report) or ``{"out",
    "params", "sweep", "saturation_bound"}`` (the rows)."""
    from elsa_tlm.noc.traffic import MAX_SYNTHETIC_EVENTS, check_synthetic, run_synthetic

    say = log or (lambda _line: None)
    base = dict(traffic=traffic, packet_flits=packet_flits, cycles=cycles, warmup=warmup)
    # every argument is checked before the output folder is touched
    rates = sweep_rates(sweep) if sweep is not None else [rate]
    if not all(math.isfinite(r) for r in rates):
        raise ConfigError("--rate", rate, "must be a finite number >= 0")
    # the rates' lower bound (>= 0) is --sweep's own rule; the upper one is checked with the network
    check_synthetic(
        params,
        seed=seed,
        rate=max(rates),
        base_dir=Path.cwd(),
        max_events=None if long else MAX_SYNTHETIC_EVENTS,
        **base,
    )
    folder = claim_output_folder(out, "noc")
    # keys this run never reads (the vc router's with --router fast), said as a scenario run says them
    warnings = [
        w for w in inert_settings(from_dict({"version": 1}).replace(noc=params)) if w.startswith("noc.")
    ]
    for line in warnings:
        say(f"warning: {line}")
    meta = {"params": dataclasses.asdict(params), "warnings": warnings}

    def one(r: float, what: str) -> tuple[dict[str, Any], Any]:
        bar = progress(what) if progress is not None else None
        try:
            run = run_synthetic(params, rate=r, seed=seed, base_dir=Path.cwd(), progress=bar, **base)
            return priced(run, params), bar
        finally:
            if bar is not None:
                bar.close()

    if sweep is None:
        r, bar = one(rate, "")
        if bar is not None:
            bar.phase(f"write: {folder}")
        write_json_atomic(folder / "noc.json", meta | r)
        write_csv_atomic(folder / "links.csv", r["links"], LINK_FIELDS)
        return {"out": folder, "params": params, "point": r}
    rows: list[dict] = []
    bound = 0.0
    saturated_seen = False
    last: dict = {}
    for x in rates:
        r, _bar = one(x, f"rate {x}, ")
        bound = r["saturation_bound"]
        row = {k: r[k] for k in SWEEP_FIELDS if k in r} | {"saturated": saturated(r)}
        rows.append(row)
        last = r
        say(f"rate {x}: accepted {r['accepted_rate']}, avg latency {r['avg_latency']}")
        if saturated_seen:
            break
        saturated_seen = row["saturated"]
    title = (
        f"{last['topology']} {last['routing']} {last['traffic']}, {packet_flits}-flit packets, "
        f"{last['router']} router"
    )
    summary = meta | {
        k: last[k]
        for k in ("topology", "routing", "router", "traffic", "packet_flits", "cycles", "warmup", "seed")
    }
    summary |= {"saturation_bound": bound, "sweep": rows}
    sat = [r["offered_rate"] for r in rows if not r["saturated"]]
    summary["max_unsaturated_offered"] = max(sat) if sat else None
    summary["max_accepted_rate"] = max(r["accepted_rate"] for r in rows)
    write_csv_atomic(folder / "noc_sweep.csv", rows, SWEEP_FIELDS)
    from elsa_tlm.figures.noc import plot_latency_throughput

    plot_latency_throughput(rows, bound, title, folder / "latency_throughput.png")
    write_json_atomic(folder / "noc.json", summary)
    return {"out": folder, "params": params, "sweep": rows, "saturation_bound": bound}


# ------------------------------------------------------------------------------------ the routers' overlay
def _rows(path: Path) -> list[dict]:
    with path.open() as f:
        return [
            {k: (float(v) if v not in ("", "True", "False") else v) for k, v in r.items()}
            for r in csv.DictReader(f)
        ]


def load_curves(root: str | Path) -> dict[str, dict[str, tuple[list[dict], dict]]]:
    """{traffic: {router: (sweep rows, noc.json)}} for every ``ROOT/<router>/<traffic>/noc_sweep.csv`` (with
    its ``noc.json``) that ``elsa-tlm noc --sweep`` wrote under ``root``."""
    root = Path(root)
    out: dict[str, dict[str, tuple[list[dict], dict]]] = {}
    for router in ROUTERS:
        for d in sorted((root / router).glob("*")) if (root / router).is_dir() else []:
            if (d / "noc_sweep.csv").is_file():
                meta = json.loads((d / "noc.json").read_text())
                out.setdefault(d.name, {})[router] = (_rows(d / "noc_sweep.csv"), meta)
    return out


def _reference(path: str | Path) -> list[dict[str, str]]:
    """Published points: a CSV with columns label, traffic, offered, latency (further columns ignored)."""
    with Path(path).open(newline="") as f:
        rows = list(csv.DictReader(f))
    missing = [c for c in REF_COLUMNS if not rows or c not in rows[0]]
    if missing:
        raise ConfigError(
            "--ref", str(path), f"needs a header with {', '.join(REF_COLUMNS)} and a row per point"
        )
    return rows


def routers_plot(
    root: str | Path, out: str | Path, title: str = ROUTERS_TITLE, ref: str | Path | None = None
) -> dict[str, dict[str, tuple[list[dict], dict]]]:
    """The routers' latency against offered load, one panel per traffic pattern found under ``root``
    (``ROOT/<router>/<traffic>/``), into the figure ``out`` (new, or a figure elsa-tlm drew; .png, .pdf or
    .svg); ``ref`` adds published points. Returns the curves drawn."""
    from elsa_tlm.figures.noc import plot_routers

    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    check_figure_file(path, "--out")
    curves = load_curves(root)
    if not curves:
        raise ConfigError(
            "ROOT", str(root), "holds no <router>/<traffic>/noc_sweep.csv (elsa-tlm noc --sweep)"
        )
    plot_routers(curves, path, title, _reference(ref) if ref else None, ROUTERS)
    return curves
