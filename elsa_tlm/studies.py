"""Multi-run studies behind make targets. ``pipelines``: the six measured networks × lbl/tbt/spine.

Usage: ``python -m elsa_tlm.studies pipelines --out plots/pipelines [--models m1,m2] [--set k=v] [--workers N]``.
Writes ``pipelines.csv`` (latency, first response, energy, NoC link utilisation per network and policy, and the
ratios to spine)
and ``pipelines.png``.

The sweep-based studies (products, flits, routing, topologies, scaling, memory, congestion) run their sweep
file ``scenarios/studies/<name>.toml`` with ``elsa-tlm sweep`` first, then
``python -m elsa_tlm.studies <name> --sweep-dir DIR --out plots/<name>`` writes ``<name>.csv`` and
``<name>.png`` from the finished sweep (see :mod:`elsa_tlm.figures.studies`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from elsa_tlm.fileio import claim_output_folder, output_argument, save_figure, write_csv_atomic

NETWORKS = [
    "vgg16_cifar10",
    "vgg16_cifar100",
    "vgg16_cifar10dvs",
    "resnet18",
    "resnet34",
    "resnet50",
    "vit_small",
]
# per network: the keys it needs (ViT-Small maps three cores per block, its policy is token-wise)
NETWORK_SETS = {"vit_small": ['mapping.partition="vit_blocks"']}
POLICIES = ["spine", "tbt", "lbl"]
FIELDS = [
    "model",
    "policy",
    "time_steps",
    "latency_cycles",
    "first_output_cycle",
    "energy_j",
    "latency_ms",
    "first_output_ms",
    "latency_vs_spine",
    "first_output_vs_spine",
    "cores_used",
    "mean_link_utilisation",
    "max_link_flits",
    "wall_s",
]


def _one(args: tuple[str, str, tuple[str, ...]]) -> dict[str, Any]:
    from elsa_tlm import sim
    from elsa_tlm.config import load_config

    model, policy, extra = args
    cfg = load_config(None, _sets(model, policy, extra))
    s = sim.run(cfg).summary
    f = s["clock_mhz"] * 1e3
    return {
        "model": model,
        "policy": policy,
        "time_steps": s["time_steps"],
        "latency_cycles": s["latency_cycles"],
        "first_output_cycle": s["first_output_cycle"],
        "energy_j": s["energy_j"],
        "latency_ms": s["latency_cycles"] / f,
        "first_output_ms": s["first_output_cycle"] / f,
        "cores_used": s["cores_used"],
        "mean_link_utilisation": s["noc"]["mean_link_utilisation"],
        "max_link_flits": s["noc"]["max_link_flits"],
        "wall_s": s["sim"]["wall_s"],
    }


def _sets(model: str, policy: str, extra: tuple[str, ...] | list[str]) -> list[str]:
    run_as = (
        "token" if model == "vit_small" and policy == "spine" else policy
    )  # a transformer's spines: tokens
    return [f'workload.model="{model}"', f'schedule.policy="{run_as}"', *NETWORK_SETS.get(model, []), *extra]


def pipelines(out: Path, models: list[str], extra: list[str], workers: int) -> list[dict[str, Any]]:
    from elsa_tlm import sim
    from elsa_tlm.config import load_config

    jobs = [(m, p, tuple(extra)) for m in models for p in POLICIES]
    for m, p, e in jobs:  # refuse bad input here, before any worker starts (and before anything is written)
        sim.prepare(load_config(None, _sets(m, p, e)))
    out = claim_output_folder(out, "study", own_prefix="pipelines")  # never someone else's folder
    from elsa_tlm.sweeps import local_executor

    with local_executor(workers) as ex:  # workers end with this process
        rows = list(ex.map(_one, jobs))
    spine = {r["model"]: r for r in rows if r["policy"] == "spine"}
    for r in rows:
        s = spine[r["model"]]
        r["latency_vs_spine"] = r["latency_cycles"] / s["latency_cycles"]
        r["first_output_vs_spine"] = r["first_output_cycle"] / s["first_output_cycle"]
    write_csv_atomic(out / "pipelines.csv", rows, FIELDS)
    _plot(rows, models, out / "pipelines.png")
    return rows


def _steps(rows: list[dict[str, Any]], model: str) -> Any:
    return next((r["time_steps"] for r in rows if r["model"] == model), "?")


def _plot(rows: list[dict[str, Any]], models: list[str], path: Path) -> None:
    """First response and latency against the spine-wise pipeline, and energy: linear bars with labels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    from elsa_tlm.figures.studies import _grouped_bars

    def value(key: str, scale: float = 1.0):
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
            list(POLICIES),
            models,
            value(key, scale),
            ticklabels=[f"{m}\nT={_steps(rows, m)}" for m in models],
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
    save_figure(fig, path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    from elsa_tlm.figures.studies import STUDIES

    ap = argparse.ArgumentParser(prog="python -m elsa_tlm.studies")
    ap.add_argument("study", choices=["pipelines", *STUDIES])
    output_argument(ap, "--out", "folder", required=True)
    ap.add_argument("--models", default=",".join(NETWORKS))
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--sweep-dir", help="finished sweep folder (the sweep-based studies)")
    a = ap.parse_args(argv)
    from elsa_tlm.errors import ElsaError
    from elsa_tlm.fileio import claim_output_folder

    models = [m for m in a.models.split(",") if m]
    try:
        if a.study == "pipelines":  # every run's configuration checked before the folder is claimed
            from elsa_tlm.config import load_config

            for m in models:
                for p in POLICIES:
                    load_config(None, _sets(m, p, a.set))
        claim_output_folder(a.out, "study", own_prefix=a.study)  # never someone else's folder
        if a.study != "pipelines":
            return _sweep_study(a.study, a.sweep_dir, Path(a.out))
        rows = pipelines(Path(a.out), models, a.set, a.workers)
    except ElsaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for r in rows:
        print(
            f"{r['model']:17s} {r['policy']:5s} first {r['first_output_cycle']:>9} latency {r['latency_cycles']:>9} "
            f"({r['first_output_vs_spine']:.2f}x / {r['latency_vs_spine']:.2f}x spine)  {r['energy_j'] * 1e6:.1f} uJ"
        )
    print(f"wrote {a.out}/pipelines.csv and pipelines.png")
    return 0


def _sweep_study(name: str, sweep_dir: str | None, out: Path) -> int:
    """Tables and figure of a sweep-based study; 2 with one ``error:`` line for bad input."""
    from elsa_tlm.errors import ElsaError
    from elsa_tlm.figures.studies import STUDIES

    try:
        if not sweep_dir:
            raise ElsaError(f"{name} needs --sweep-dir (the folder elsa-tlm sweep wrote)")
        try:
            rows = STUDIES[name](Path(sweep_dir), out)
        except KeyError as exc:  # a sweep of other axes, or a sweep.csv from elsewhere
            raise ElsaError(
                f"--sweep-dir {sweep_dir}: cannot draw the {name} study: no {exc} column or axis in its "
                f"sweep.csv (it needs the sweep of scenarios/studies/{name}.toml)"
            ) from None
        except (TypeError, ValueError, IndexError, ZeroDivisionError, OSError) as exc:
            raise ElsaError(
                f"--sweep-dir {sweep_dir}: cannot draw the {name} study from this sweep "
                f"({type(exc).__name__}: {exc}); it needs the sweep of scenarios/studies/{name}.toml"
            ) from None
    except ElsaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed = sum(r.get("status") != "ok" for r in rows)
    print(f"{name}: {len(rows)} rows ({failed} not ok) -> {out}/{name}.csv, {name}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
