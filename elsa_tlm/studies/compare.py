"""``elsa-tlm compare RUN... --out DIR``: simulated runs beside the published chips, with the ratios.

Each run's figures come from its own ``summary.json``, in the conventions of the paper's tables: GOPS = the
network's dense #Ops (2 per MAC) / the latency of all T steps at the run's clock; TOPS/W = #Ops per joule of
on-chip energy; pJ/SOP = on-chip energy / SOPs; GOPS/mm² on the simulated chip's area. A ratio is made only
against a baseline that measured the same network: speed-up = GOPS ratio, efficiency gain = TOPS/W ratio, area
efficiency gain = GOPS/mm² ratio. Baseline figures are published numbers at their own technology, voltage and
clock, not simulated; every output says so.

Writes ``compare.csv`` (one row per chip, baselines and runs alike), ``ratios.csv`` (one row per run and
baseline of its network), ``compare.md`` (the table and one headline sentence per run against ANT and PAICORE
where they measured its network) and ``compare.png`` (per network: throughput and energy per inference
normalised to a reference baseline, log axis, the simulated chips highlighted:
:func:`elsa_tlm.figures.studies.plot_compare`).

``elsa-tlm baselines`` (``make baselines``, :func:`baselines_study`) runs the default chip on the networks the
baselines measured, at each clock, and compares those runs.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

from elsa_tlm.errors import ConfigError
from elsa_tlm.fileio import claim_output_folder, write_csv_atomic, write_text_atomic
from elsa_tlm.results.schema import read_summary
from elsa_tlm.studies.baselines import Baseline, load_baselines

COMPARE_FIELDS = [
    "chip", "kind", "table", "network", "technology_nm", "clock_mhz", "gops", "tops_per_w", "pj_per_sop",
    "gops_per_mm2", "area_mm2", "source",
]  # fmt: skip
RATIO_FIELDS = [
    "run", "baseline", "network", "speedup", "efficiency_gain", "area_efficiency_gain", "run_gops",
    "baseline_gops", "run_tops_per_w", "baseline_tops_per_w",
]  # fmt: skip
HEADLINE = ("ANT", "PAICORE")  # the best QANN and the best elastic SNN accelerator (ELSA's headline pair)
PUBLISHED = "published figure at the chip's own technology, voltage and clock (not simulated)"


def run_labels(folders: list[Path], reserved: Collection[str] = ()) -> list[str]:
    """A label per run folder that belongs to it alone: its folder name, or as many trailing path components
    as tell it apart from every other run and from the baselines' chip names (``a/results/default`` and
    ``b/results/default``). The folders are resolved paths, all distinct."""
    parts = [f.parts for f in folders]
    depth = [1] * len(folders)
    while True:
        labels = ["/".join(p[-d:]) for p, d in zip(parts, depth, strict=True)]
        clash = [
            i
            for i, lab in enumerate(labels)
            if (labels.count(lab) > 1 or lab in reserved) and depth[i] < len(parts[i])
        ]
        if not clash:
            return labels
        for i in clash:
            depth[i] += 1


def _display(folder: Path) -> str:
    """The folder as the user would type it: relative to the working folder when inside it."""
    try:
        return str(folder.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(folder)


def run_row(folder: str | Path, label: str | None = None) -> dict[str, Any]:
    """The simulated chip's row from a run folder (its summary.json, validated), in the tables' conventions;
    ``label`` names it in every table, sentence and figure (default: the folder's name)."""
    p = Path(folder)
    s = read_summary(p, "run")
    seconds = s["latency_cycles"] / (s["clock_mhz"] * 1e6)
    gops = s["ops"] / seconds / 1e9
    return {
        "chip": label or p.name,
        "kind": "simulated",
        "table": "",
        "network": s["model"],
        "technology_nm": 28,
        "clock_mhz": s["clock_mhz"],
        "gops": gops,
        "tops_per_w": s["ops"] / s["energy_j"] / 1e12,
        "pj_per_sop": s["energy_j"] * 1e12 / s["sops"] if s["sops"] else None,
        "gops_per_mm2": gops / s["area_mm2"],
        "area_mm2": s["area_mm2"],
        "source": f"simulated: {_display(p.resolve())}/summary.json (latency of all {s['time_steps']} steps)",
    }


def _base_row(b: Baseline) -> dict[str, Any]:
    return {
        "chip": b.chip,
        "kind": b.kind,
        "table": b.table,
        "network": b.network,
        "technology_nm": b.technology_nm,
        "clock_mhz": b.clock_mhz,
        "gops": b.gops,
        "tops_per_w": b.tops_per_w,
        "pj_per_sop": b.pj_per_sop,
        "gops_per_mm2": b.gops_per_mm2,
        "area_mm2": b.area_mm2,
        "source": f"ELSA paper Table {b.table}; {PUBLISHED}" + (f"; {b.note}" if b.note else ""),
    }


def ratios(run: dict[str, Any], baselines: dict[str, Baseline]) -> list[dict[str, Any]]:
    out = []
    for b in baselines.values():
        if b.network != run["network"]:
            continue
        out.append(
            {
                "run": run["chip"],
                "baseline": b.chip,
                "network": b.network,
                "speedup": run["gops"] / b.gops,
                "efficiency_gain": run["tops_per_w"] / b.tops_per_w,
                "area_efficiency_gain": run["gops_per_mm2"] / b.gops_per_mm2 if b.gops_per_mm2 else None,
                "run_gops": run["gops"],
                "baseline_gops": b.gops,
                "run_tops_per_w": run["tops_per_w"],
                "baseline_tops_per_w": b.tops_per_w,
            }
        )
    return out


def headlines(run: dict[str, Any], rs: list[dict[str, Any]]) -> list[str]:
    """One sentence per run against the headline baselines that measured its network."""
    by = {r["baseline"]: r for r in rs}
    parts = [
        f"{by[b]['speedup']:.1f}× the throughput and {by[b]['efficiency_gain']:.1f}× the energy efficiency of {b}"
        for b in HEADLINE
        if b in by
    ]
    if not parts:
        return []
    return [f"{run['network']} ({run['chip']}, {run['clock_mhz']:g} MHz): " + "; ".join(parts) + "."]


def _fmt(v: Any) -> str:
    if v is None or v == "":
        return "–"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def compare(
    runs: list[str | Path], out: str | Path, baselines_file: str | Path | None = None
) -> dict[str, Any]:
    """Write compare.csv, ratios.csv, compare.md and compare.png into ``out``; returns the rows."""
    if not runs:
        raise ConfigError("RUN", "", "give at least one run folder")
    baselines = load_baselines(baselines_file)
    folders: list[Path] = []
    for r in runs:
        try:
            f = Path(r).resolve(strict=True)
        except (OSError, RuntimeError) as exc:
            raise ConfigError(
                "run", str(r), f"cannot be read ({getattr(exc, 'strerror', None) or exc})"
            ) from None
        if f in folders:
            raise ConfigError("run", str(r), f"is given twice (as {runs[folders.index(f)]} too)")
        folders.append(f)
    labels = run_labels(folders, set(baselines))
    sim_rows = [run_row(f, lab) for f, lab in zip(folders, labels, strict=True)]  # every one checked first
    measured = {b.network for b in baselines.values()}
    for r in sim_rows:
        if r["network"] not in measured:
            raise ConfigError(
                "run",
                r["chip"],
                f"no baseline measured {r['network']} (they measured: {', '.join(sorted(map(str, measured)))})",
            )
    rows = [_base_row(b) for b in baselines.values()] + sim_rows
    ratio_rows = [x for r in sim_rows for x in ratios(r, baselines)]
    sentences = [s for r in sim_rows for s in headlines(r, [x for x in ratio_rows if x["run"] == r["chip"]])]
    out = claim_output_folder(out, "compare")
    write_csv_atomic(out / "compare.csv", rows, COMPARE_FIELDS)
    write_csv_atomic(out / "ratios.csv", ratio_rows, RATIO_FIELDS)
    md = [
        "# Simulated chip(s) beside published chips",
        "",
        f"Baselines: {PUBLISHED}. Simulated: computed from each run's summary.json "
        "(GOPS = dense #Ops / latency of all T steps; TOPS/W = #Ops per joule of on-chip energy).",
        "",
        *sentences,
        "",
        "| chip | kind | network | clock (MHz) | GOPS | TOPS/W | pJ/SOP | GOPS/mm² |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        bold = "**" if r["kind"] == "simulated" else ""
        md.append(
            f"| {bold}{r['chip']}{bold} | {r['kind']} | {r['network'] or '–'} | {_fmt(r['clock_mhz'])} | "
            f"{_fmt(r['gops'])} | {_fmt(r['tops_per_w'])} | {_fmt(r['pj_per_sop'])} | {_fmt(r['gops_per_mm2'])} |"
        )
    md += [
        "",
        "| run | baseline | network | speed-up | efficiency gain | area-efficiency gain |",
        "|---|---|---|---|---|---|",
    ]
    md += [
        f"| {x['run']} | {x['baseline']} | {x['network']} | {_fmt(x['speedup'])} | {_fmt(x['efficiency_gain'])} | "
        f"{_fmt(x['area_efficiency_gain'])} |"
        for x in ratio_rows
    ]
    write_text_atomic(out / "compare.md", "\n".join(md) + "\n")
    from elsa_tlm.figures.studies import plot_compare

    plot_compare(rows, out / "compare.png", HEADLINE)
    return {"rows": rows, "ratios": ratio_rows, "headlines": sentences, "out": out}


NETWORKS = ("resnet50", "resnet18", "resnet34", "vgg16_cifar10", "vit_small")  # what the baselines measured
CLOCKS = (200, 500)


def baselines_study(out: str | Path, runs_dir: str | Path, models: list[str], clocks: list[float],
                    extra: list[str]) -> dict[str, Any]:  # fmt: skip
    """``make baselines``: the default chip on the networks the baselines report, at each clock, then
    :func:`compare` over those runs. Runs go to ``runs_dir/<model>_<clock>MHz``."""
    from elsa_tlm import sim
    from elsa_tlm.config import load_config
    from elsa_tlm.fileio import check_output_folder, read_marker

    models, clocks = list(dict.fromkeys(models)), list(dict.fromkeys(clocks))  # each run once
    if not models or not clocks:
        raise ConfigError("--models" if not models else "--clocks", "", "give at least one")
    jobs = []
    for m in models:
        for c in clocks:
            sets = [f'workload.model="{m}"', f"chip.clock_mhz={c}", "output.plots=false", *extra]
            if m == "vit_small":
                sets += ['schedule.policy="token"', 'mapping.partition="vit_blocks"']
            jobs.append((f"{m}_{c:g}MHz", load_config(None, sets)))  # all checked before any runs
    check_output_folder(out, "compare")  # and every output, before minutes of simulation
    # holds only the study's run folders (from before this folder was marked: run folders and nothing else)
    runs_dir = claim_output_folder(
        runs_dir, "runs", "--runs", lambda e: (read_marker(e) or {}).get("kind") == "run"
    )
    for name, _cfg in jobs:
        check_output_folder(runs_dir / name, "run", key="--runs")
    folders = []
    for name, cfg in jobs:
        folders.append(sim.run(cfg).save(Path(runs_dir) / name))
    return compare(folders, out)
