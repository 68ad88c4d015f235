"""The analytic mode held to the simulation (``make analytic-check``, ``elsa-tlm analytic-check``).

Every case runs in ``at`` and in ``analytic`` on the same plan; the table gives the analytic mode's error on
latency, first output and on-chip energy, and how much faster it was. ``--doc docs/MODEL.md`` rewrites the
table between the file's ``analytic-check`` markers (the one place the errors are published); tests/
test_analytic.py runs a reduced set in CI.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from elsa_tlm.errors import ConfigError
from elsa_tlm.fileio import check_output_file, claim_output_folder, write_csv_atomic, write_text_atomic

# (case, overrides): the recorded networks, the three CNN schedules and ViT's token pipeline, and what-ifs that
# stress different terms (NoC size and shape, flit width, N, circuits, memory, packet format)
CASES: list[tuple[str, list[str]]] = [
    ("vgg16-cifar10", []),
    ("vgg16-cifar100", ['workload.model="vgg16_cifar100"']),
    ("vgg16-dvs", ['workload.model="vgg16_cifar10dvs"']),
    ("resnet18", ['workload.model="resnet18"']),
    ("resnet34", ['workload.model="resnet34"']),
    ("resnet50", ['workload.model="resnet50"']),
    (
        "vit-small token",
        ['workload.model="vit_small"', 'mapping.partition="vit_blocks"', 'schedule.policy="token"'],
    ),
    ("vgg16 tbt", ['schedule.policy="tbt"']),
    ("vgg16 lbl", ['schedule.policy="lbl"']),
    ("resnet18 tbt", ['workload.model="resnet18"', 'schedule.policy="tbt"']),
    ("resnet18 lbl", ['workload.model="resnet18"', 'schedule.policy="lbl"']),
    ("resnet18 mesh 4x4", ['workload.model="resnet18"', 'noc.topology="mesh:4x4"']),
    ("vgg16 mesh 8x8", ['noc.topology="mesh:8x8"']),
    ("resnet50 mesh 8x8", ['workload.model="resnet50"', 'noc.topology="mesh:8x8"']),
    ("vgg16 torus 6x6", ['noc.topology="torus:6x6"']),
    ("vgg16 flit 64", ["noc.flit_bits=64"]),
    ("vgg16 flit 128", ["noc.flit_bits=128"]),
    ("resnet18 flit 64", ['workload.model="resnet18"', "noc.flit_bits=64"]),
    ("vgg16 N 8", ["pe.weight_ways=8"]),
    ("vgg16 N 32", ["pe.weight_ways=32"]),
    ("vgg16 circuits 64", ["pe.neuron_circuits=64"]),
    ("vgg16 circuits 256", ["pe.neuron_circuits=256"]),
    ("resnet18 circuits 64", ['workload.model="resnet18"', "pe.neuron_circuits=64"]),
    ("vgg16 eDRAM", ['memory.technology="edram"']),
    ("resnet18 eDRAM", ['workload.model="resnet18"', 'memory.technology="edram"']),
    ("vgg16 AER (MorphIC)", ['noc.protocol="aer_morphic"']),
    ("resnet18 AER (TrueNorth)", ['workload.model="resnet18"', 'noc.protocol="aer_truenorth"']),
]
FIELDS = [
    "case",
    "at_latency",
    "analytic_latency",
    "latency_err_pct",
    "at_first_output",
    "analytic_first_output",
    "first_output_err_pct",
    "at_energy_j",
    "analytic_energy_j",
    "energy_err_pct",
    "at_wall_s",
    "analytic_wall_s",
    "speedup",
    "within_bar",
    "lt_bp_latency",
    "lt_bp_latency_err_pct",
    "lt_bp_first_output_err_pct",
    "lt_bp_energy_err_pct",
    "lt_bp_wall_s",
    "lt_bp_within_bar",
]
# the simulation the closed form falls back to for what it cannot close (back-pressure: MODEL.md §6b): lt with
# the buffers as timing constraints
LT_BP = ['run.mode="lt"', "run.lt_backpressure=true"]
BAR = {"latency": 8.0, "energy": 8.0, "first_output": 15.0}  # issue 34: % of at
BEGIN, END = "<!-- analytic-check:begin -->", "<!-- analytic-check:end -->"


def _one(args: tuple[str, list[str], list[str]]) -> dict[str, Any]:
    """Both modes on one plan (the analytic run reuses it and times its closed form and result only)."""
    from elsa_tlm import analytic, recurrences, sim
    from elsa_tlm.config import load_config
    from elsa_tlm.elaborate import elaborate
    from elsa_tlm.plan import prepare

    name, sets, extra = args
    cfg = load_config(None, [*sets, *extra, "output.plots=false"])
    plan = prepare(cfg)
    t = time.perf_counter()
    at = sim.run(cfg, plan=plan).summary
    t_at = time.perf_counter() - t
    # the same plan (run.mode is a timing-only key: analytic.TIMING_ONLY), with the analytic mode's config
    an_cfg = load_config(None, [*sets, *extra, "output.plots=false", 'run.mode="analytic"'])
    an_plan = dataclasses.replace(plan, config=an_cfg)
    el = elaborate(an_plan)
    specs = list(el.specs)
    static = analytic.statics(specs)
    # what a plan's design points share (analytic.PlanCache keeps them): built before the clock starts
    layout = analytic.pass_layout(an_plan, specs, static) if recurrences.one_pass() else None
    t = time.perf_counter()
    an = analytic.run(an_plan, t, el, specs, static, layout=layout).summary
    t_an = time.perf_counter() - t

    def err(key: str) -> float:
        return round(100 * (an[key] / at[key] - 1), 2)

    row = {
        "case": name,
        "at_latency": at["latency_cycles"],
        "analytic_latency": an["latency_cycles"],
        "latency_err_pct": err("latency_cycles"),
        "at_first_output": at["first_output_cycle"],
        "analytic_first_output": an["first_output_cycle"],
        "first_output_err_pct": err("first_output_cycle"),
        "at_energy_j": at["energy_j"],
        "analytic_energy_j": an["energy_j"],
        "energy_err_pct": err("energy_j"),
        "at_wall_s": round(t_at, 3),
        "analytic_wall_s": round(t_an, 3),
        "speedup": round(t_at / t_an, 1) if t_an > 0 else None,
    }
    row["within_bar"] = (
        abs(row["latency_err_pct"]) <= BAR["latency"]
        and abs(row["energy_err_pct"]) <= BAR["energy"]
        and abs(row["first_output_err_pct"]) <= BAR["first_output"]
    )
    t = time.perf_counter()
    lt = sim.run(load_config(None, [*sets, *extra, "output.plots=false", *LT_BP])).summary
    row["lt_bp_wall_s"] = round(time.perf_counter() - t, 3)

    def lt_err(key: str) -> float:
        return round(100 * (lt[key] / at[key] - 1), 2)

    row["lt_bp_latency"] = lt["latency_cycles"]
    row["lt_bp_latency_err_pct"] = lt_err("latency_cycles")
    row["lt_bp_first_output_err_pct"] = lt_err("first_output_cycle")
    row["lt_bp_energy_err_pct"] = lt_err("energy_j")
    row["lt_bp_within_bar"] = (
        abs(row["lt_bp_latency_err_pct"]) <= BAR["latency"]
        and abs(row["lt_bp_energy_err_pct"]) <= BAR["energy"]
        and abs(row["lt_bp_first_output_err_pct"]) <= BAR["first_output"]
    )
    return row


def _is_model_md(p: Path) -> bool:
    text = p.read_text(errors="replace")
    return BEGIN in text and END in text


def markdown(rows: list[dict[str, Any]], extra: list[str]) -> str:
    """The table as MODEL.md shows it."""
    head = (
        "| case | latency at (cycles) | analytic | error | first output at | analytic | error | energy error "
        "| at (s) | analytic (s) | within the bar | lt back-pressure: latency, first output, energy error "
        "| lt b-p (s) | within the bar |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = [
        f"| {r['case']} | {r['at_latency']:,} | {r['analytic_latency']:,} | {r['latency_err_pct']:+.1f} % "
        f"| {r['at_first_output']:,} | {r['analytic_first_output']:,} | {r['first_output_err_pct']:+.1f} % "
        f"| {r['energy_err_pct']:+.1f} % | {r['at_wall_s']:.2f} | {r['analytic_wall_s']:.2f} "
        f"| {'yes' if r['within_bar'] else '**no**'} "
        f"| {r['lt_bp_latency_err_pct']:+.1f} %, {r['lt_bp_first_output_err_pct']:+.1f} %, "
        f"{r['lt_bp_energy_err_pct']:+.1f} % | {r['lt_bp_wall_s']:.2f} "
        f"| {'yes' if r['lt_bp_within_bar'] else '**no**'} |"
        for r in rows
    ]
    ok = sum(r["within_bar"] for r in rows)
    ok_lt = sum(r["lt_bp_within_bar"] for r in rows)
    note = (
        f"\n{ok} of {len(rows)} cases within the bar in the closed form (latency and energy within "
        f"{BAR['latency']:.0f} %, first output within {BAR['first_output']:.0f} % of `at`); {ok_lt} of {len(rows)} "
        'with the simulation it falls back to for back-pressure (`run.mode = "lt"`, '
        "`run.lt_backpressure = true`)"
        + (f"; overrides for every case: `{' '.join(extra)}`" if extra else "")
        + ". Regenerated by `make analytic-check`.\n"
    )
    return head + "\n".join(lines) + "\n" + note


def check(
    out: str | Path,
    cases: list[tuple[str, list[str]]] | None = None,
    extra: list[str] | None = None,
    workers: int = 2,
    doc: str | Path | None = None,
) -> list[dict[str, Any]]:
    """Run every case in both modes on ``workers`` local processes; write ``analytic_check.csv`` (and the
    table into ``doc``'s markers). Every configuration is checked before anything is written."""
    from elsa_tlm.config import load_config
    from elsa_tlm.plan import prepare
    from elsa_tlm.studies.sweep import local_executor

    cases = CASES if cases is None else cases
    extra = list(extra or [])
    for _, sets in cases:  # refuse bad input before any worker starts (and before anything is written)
        prepare(load_config(None, [*sets, *extra]))
    doc_path = check_output_file(doc, "--doc", _is_model_md) if doc is not None else None
    if doc_path is not None and not doc_path.exists():
        raise ConfigError("--doc", str(doc), f"must be an existing file with the {BEGIN} ... {END} markers")
    folder = claim_output_folder(out, "study", own_prefix="analytic_check")
    with local_executor(workers) as ex:
        rows = list(ex.map(_one, [(n, s, extra) for n, s in cases]))
    write_csv_atomic(folder / "analytic_check.csv", rows, FIELDS)
    table = markdown(rows, extra)
    write_text_atomic(folder / "analytic_check.md", table)
    if doc_path is not None:
        text = doc_path.read_text()
        a, b = text.index(BEGIN) + len(BEGIN), text.index(END)
        write_text_atomic(doc_path, text[:a] + "\n" + table + text[b:])
    return rows
