"""Reference benchmark (``elsa-tlm bench``, ``make bench``): ResNet-18 and ResNet-50 (T=16, spine, default chip) in ``at`` and ``lt`` modes,
ResNet-50 in ``lt`` with back-pressure (``lt_bp``: the analytic mode's fallback) and in the ``analytic`` mode (a process, and design points in one process: first, plan reused, new plan),
and ViT-Small (T=32, token, three cores per block) in ``at``.

Each run is a separate process so that its peak RSS is its own; its process wall time (interpreter start and
imports included, what a user waits for) is what the targets check. Each run is repeated (``--repeat``,
default 3, interleaved) and the targets check the median: one run on a shared machine varies by 20 % and more.
The package's bytecode is written first, as an install does (``pip`` precompiles; an editable install writes
it at the first import unless ``PYTHONDONTWRITEBYTECODE`` is set, and then every run would compile every
module again, ~0.1 s that no installed user waits for). Then ``elsa-tlm run default`` twice with
empty bytecode/JIT caches: the first run after an install against a warm one. Writes wall times, SimPy events,
peak RSS and the headline results to ``results/bench/results.json`` (a run output, not tracked). Speed targets
are checked here, never in the tests.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from elsa_tlm.errors import ConfigError
from elsa_tlm.fileio import check_output_file, write_json_atomic

RUNS = [
    ("resnet18", "at"),
    ("resnet18", "lt"),
    ("resnet50", "at"),
    ("resnet50", "lt"),
    ("resnet50", "lt_bp"),
    ("resnet50", "analytic"),
    ("vit_small", "at"),
]
EXTRA = {"vit_small": ['mapping.partition="vit_blocks"', 'schedule.policy="token"']}
# a reference's mode, when it is more than run.mode: lt with back-pressure (the analytic mode's fallback)
MODE_SETS = {"lt_bp": ['run.mode="lt"', "run.lt_backpressure=true"]}
# issue "Speed and NoC fidelity": ResNet-50, T = 16, at <= 10 s process wall and <= 600 MB; lt <= 2 s;
# ViT-Small, T = 32, token policy, at <= 20 s; a first run after install within 2 s of a warm one
TARGETS = {
    ("resnet50", "at"): {"process_wall_s": 10.0, "peak_rss_mb": 600.0},
    ("resnet50", "lt"): {"process_wall_s": 2.0},
    ("vit_small", "at"): {"process_wall_s": 20.0},
}
FIRST_RUN_SLACK_S = 2.0
# issue 34: an analytic ResNet-50 point at <= 1/100 of at's simulation time; 10,000 designs in <= 16 minutes on
# 2 cores (the design mix of scenarios/explore/resnet50.toml: points share plans only when their axes allow)
ANALYTIC_RATIO = 0.01
DESIGNS_S = 16 * 60.0
ANALYTIC_CHILD = """
import json, sys, time
from elsa_tlm import analytic, sim
from elsa_tlm.config import load_config
base = ['workload.model="resnet50"', 'run.mode="analytic"', 'output.plots=false', *sys.argv[1:]]
def point(extra):
    t = time.perf_counter(); sim.run(load_config(None, base + extra)); return time.perf_counter() - t
cold = point([])
# timing-only: the plan is reused, the timeline computed again (the router's per-hop latency)
warm = sorted(point([f"noc.router_pipeline_cycles={8 + k}"]) for k in range(1, 8))
# pricing-only: the last timeline is reused too, only the energy and seconds change
priced = sorted(point(["noc.router_pipeline_cycles=15", f"chip.clock_mhz={200 + k}"]) for k in range(1, 8))
axes = [f"pe.weight_ways={n}" for n in (8, 32)] + [f"pe.neuron_circuits={c}" for c in (64, 256)]
miss = sorted(point([a]) for a in axes)  # a new plan each
print(json.dumps({"cold_s": cold, "warm_s": warm[len(warm) // 2], "repriced_s": priced[len(priced) // 2],
                  "miss_s": miss[len(miss) // 2], "hits": analytic.CACHE.hits, "misses": analytic.CACHE.misses,
                  "repriced": analytic.CACHE.repriced}))
"""
PACKAGE = Path(__file__).resolve().parents[1]  # the elsa_tlm folder: compiled, and copied for a first run

CHILD = """
import json, sys, time
from elsa_tlm import sim
from elsa_tlm.config import load_config
cfg = load_config(None, sys.argv[1:])
t = time.perf_counter()
r = sim.run(cfg)
s = r.summary
print(json.dumps({"wall_s": time.perf_counter() - t, "events": s["sim"]["events"], "peak_rss_mb": s["sim"]["peak_rss_mb"],
                  "latency_cycles": s["latency_cycles"], "first_output_cycle": s["first_output_cycle"],
                  "energy_j": s["energy_j"], "cores_used": s["cores_used"]}))
"""


def precompile() -> None:
    """Write the package's bytecode (what ``pip install`` does for a wheel), where the package is writable."""
    import compileall

    compileall.compile_dir(str(PACKAGE), quiet=2)


def run_one(model: str, mode: str, extra: list[str]) -> dict:
    mode_sets = MODE_SETS.get(mode, [f'run.mode="{mode}"'])
    args = [f'workload.model="{model}"', *mode_sets, *EXTRA.get(model, []), *extra]
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, check=True)
    out = json.loads(p.stdout.strip().splitlines()[-1])
    out["process_wall_s"] = time.perf_counter() - t
    return out


def analytic_child(extra: list[str]) -> dict:
    """One process of ResNet-50 design points in the analytic mode: the first (prepare and elaborate), the
    median of points that reuse its plan (a timing-only setting changed), of points that reuse its timeline
    too (a pricing-only one) and of points that need a new plan."""
    p = subprocess.run(
        [sys.executable, "-c", ANALYTIC_CHILD, *extra], capture_output=True, text=True, check=True
    )
    return json.loads(p.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def analytic_points(children: list[dict], by_mode: dict[tuple[str, str], dict]) -> dict:
    """The analytic points' processes (:func:`analytic_child`, run interleaved with the references: the median
    process by its plan-reused time) against at's simulation time, and the 10,000-design estimate on 2 workers
    for a mix of plan-reusing and new-plan points."""
    r = dict(sorted(children, key=lambda x: x["warm_s"])[(len(children) - 1) // 2])
    r["warm_runs_s"] = [x["warm_s"] for x in children]
    at_s = by_mode[("resnet50", "at")]["wall_s"]
    r["at_simulation_s"] = at_s
    r["warm_vs_at"] = r["warm_s"] / at_s
    # scenarios/explore/resnet50.toml: 486 designs, 81 plans (its policy and memory axes are timing or pricing
    # only): one new plan per 6 designs when each plan's designs run in one worker (explore groups them so);
    # counted here as if every other design needed its own timeline (the memory axis's pricing-only pairs
    # reuse one when they run one after the other: not counted)
    per_design = (r["miss_s"] + 5 * r["warm_s"]) / 6
    r["designs_10k_s"] = 10_000 * per_design / 2
    r["targets"] = {"warm_vs_at": ANALYTIC_RATIO, "designs_10k_s": DESIGNS_S}
    r["meets_targets"] = r["warm_vs_at"] <= ANALYTIC_RATIO and r["designs_10k_s"] <= DESIGNS_S
    print(
        f"resnet50 analytic points: first {r['cold_s']:.2f} s, plan reused {r['warm_s']:.3f} s (median of "
        f"{'/'.join(f'{x:.3f}' for x in r['warm_runs_s'])}; {r['warm_vs_at'] * 100:.1f} % of at's {at_s:.1f} s "
        f"simulation; target 1 %), timeline reused (a "
        f"pricing-only change) {r['repriced_s']:.3f} s, new plan {r['miss_s']:.2f} s; 10,000 designs on 2 "
        f"workers ~{r['designs_10k_s'] / 60:.0f} min (target 16)",
        flush=True,
    )
    return r


def first_run() -> dict:
    """``elsa-tlm run default`` as after a fresh install of this package, then again warm (process wall times).

    The package is copied (sources and the built kernel, no ``__pycache__``) to an empty folder put first on
    the path, so its modules are compiled again as on a first run (pessimistic: pip precompiles a wheel's
    modules at install) while the dependencies keep their installed bytecode; NUMBA_CACHE_DIR points to an
    empty folder, so a numba fallback kernel (no C compiler at install) would be JIT-compiled there too."""
    import os
    import shutil
    import tempfile

    src = PACKAGE
    with tempfile.TemporaryDirectory(prefix="elsa-bench-") as tmp:
        shutil.copytree(src, Path(tmp) / "pkg" / "elsa_tlm", ignore=shutil.ignore_patterns("__pycache__"))
        env = dict(os.environ, PYTHONPATH=str(Path(tmp) / "pkg"), NUMBA_CACHE_DIR=str(Path(tmp) / "nb"))
        times = []
        for k in range(2):
            t = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "elsa_tlm", "run", "default", "--out", str(Path(tmp) / f"run{k}")],
                env=env,
                cwd=tmp,
                capture_output=True,
                text=True,
                check=True,
            )
            times.append(time.perf_counter() - t)
    return {
        "first_run_s": times[0],
        "warm_run_s": times[1],
        "meets_targets": times[0] <= times[1] + FIRST_RUN_SLACK_S,
    }


def _is_bench_file(path: Path) -> bool:
    """True if ``path`` holds the results of this bench (a JSON object with its runs and hot-path status)."""
    try:
        if path.stat().st_size > 1 << 24:
            return False
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and {"runs", "hot_path", "machine"} <= set(data)


def bench(out: str | Path, extra: Sequence[str] = (), repeat: int = 3) -> bool:
    """Run the references (``repeat`` times each, interleaved; ``extra``: overrides for every run) and the
    first run after install, say each as it is measured, and write the results file ``out`` (new, or a
    results file of this bench: cleared before minutes of runs). True when every speed target was met."""
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        raise ConfigError("--repeat", repeat, "at least one run of each reference")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    out = check_output_file(out, "--out", _is_bench_file)
    precompile()
    results = []
    ok = True
    runs: dict[tuple[str, str], list[dict]] = {key: [] for key in RUNS}
    points: list[dict] = []
    for _ in range(repeat):  # interleaved: a slow minute of the machine spreads over every reference
        for model, mode in RUNS:
            runs[(model, mode)].append(run_one(model, mode, list(extra)))
            if (model, mode) == (
                "resnet50",
                "at",
            ):  # the analytic points next to the simulation they are held to
                points.append(analytic_child(list(extra)))
    for model, mode in RUNS:
        rs = runs[(model, mode)]
        r = dict(sorted(rs, key=lambda x: x["process_wall_s"])[(len(rs) - 1) // 2])  # the median run
        r["process_wall_runs_s"] = [x["process_wall_s"] for x in rs]
        r["wall_runs_s"] = [x["wall_s"] for x in rs]
        r["peak_rss_mb"] = max(x["peak_rss_mb"] for x in rs)
        if len({(x["events"], x["latency_cycles"], x["first_output_cycle"], x["energy_j"]) for x in rs}) > 1:
            print(
                f"{model} {mode}: repeated runs disagree (the simulation is not deterministic)",
                file=sys.stderr,
            )
            ok = False
        r.update(
            model=model,
            mode=mode,
            time_steps=32 if model == "vit_small" else 16,
            schedule="token" if model == "vit_small" else "spine",
        )
        target = TARGETS.get((model, mode))
        if target:
            r["targets"] = target
            r["meets_targets"] = all(r[k] <= v for k, v in target.items())
            ok &= r["meets_targets"]
        results.append(r)
        print(
            f"{model:9s} {mode}: process {r['process_wall_s']:.1f} s median of "
            f"{'/'.join(f'{x:.1f}' for x in r['process_wall_runs_s'])} (simulation {r['wall_s']:.1f} s), "
            f"{r['events']} events, peak {r['peak_rss_mb']:.0f} MB, "
            f"latency {r['latency_cycles']}, first output {r['first_output_cycle']}",
            flush=True,
        )
    an = analytic_points(points, by_mode={(r["model"], r["mode"]): r for r in results})
    ok &= an["meets_targets"]
    fr = first_run()
    ok &= fr["meets_targets"]
    print(
        f"first run after install (package bytecode and JIT caches empty): {fr['first_run_s']:.1f} s, warm {fr['warm_run_s']:.1f} s"
        f" (target: within {FIRST_RUN_SLACK_S:.0f} s)",
        flush=True,
    )
    by = {(r["model"], r["mode"]): r for r in results}
    at_vs_lt = {}
    for model, lt_mode in sorted(
        {(m, mode) for m, mode in RUNS if mode.startswith("lt") and (m, "at") in by}
    ):
        a, lt = by[(model, "at")], by[(model, lt_mode)]
        key = model if lt_mode == "lt" else f"{model} {lt_mode}"
        at_vs_lt[key] = {
            "speedup_lt": a["wall_s"] / lt["wall_s"],
            "latency_lt_vs_at": lt["latency_cycles"] / a["latency_cycles"] - 1,
            "first_output_lt_vs_at": lt["first_output_cycle"] / a["first_output_cycle"] - 1,
        }
        print(
            f"{model}: {lt_mode} {at_vs_lt[key]['speedup_lt']:.1f}x faster, latency "
            f"{100 * at_vs_lt[key]['latency_lt_vs_at']:+.1f} %, first output "
            f"{100 * at_vs_lt[key]['first_output_lt_vs_at']:+.1f} % against at"
        )
    from elsa_tlm import compiled

    hot = compiled.status()  # the runs' children import the same package, so they ran the same way
    print(f"hot path: {hot['why']}")
    write_json_atomic(
        out,
        {
            "machine": {"python": platform.python_version(), "platform": platform.platform()},
            "hot_path": hot,
            "runs": results,
            "first_run": fr,
            "lt_vs_at": at_vs_lt,
            "analytic": an,
        },
    )
    return ok
