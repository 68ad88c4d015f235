"""The pipelines study (``make pipelines``): the measured networks × the spine/tbt/lbl schedules.

``elsa-tlm pipelines --out plots/pipelines [--models m1,m2] [--set k=v] [--workers N]`` writes
``pipelines.csv`` (latency, first response, energy, NoC link utilisation per network and policy, and the ratios
to spine) and ``pipelines.png`` (:func:`elsa_tlm.figures.studies.plot_pipelines`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from elsa_tlm.fileio import claim_output_folder, write_csv_atomic

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


def pipelines(out: str | Path, models: list[str], extra: list[str], workers: int = 2) -> list[dict[str, Any]]:
    """Every network of ``models`` under each schedule (``extra``: overrides for every run), on ``workers``
    local processes; every run's configuration is checked before ``out`` is claimed and anything runs."""
    from elsa_tlm import sim
    from elsa_tlm.config import load_config

    jobs = [(m, p, tuple(extra)) for m in models for p in POLICIES]
    for m, p, e in jobs:  # refuse bad input here, before any worker starts (and before anything is written)
        sim.prepare(load_config(None, _sets(m, p, e)))
    out = claim_output_folder(out, "study", own_prefix="pipelines")  # never someone else's folder
    from elsa_tlm.figures.studies import plot_pipelines
    from elsa_tlm.studies.sweep import local_executor

    with local_executor(workers) as ex:  # workers end with this process
        rows = list(ex.map(_one, jobs))
    spine = {r["model"]: r for r in rows if r["policy"] == "spine"}
    for r in rows:
        s = spine[r["model"]]
        r["latency_vs_spine"] = r["latency_cycles"] / s["latency_cycles"]
        r["first_output_vs_spine"] = r["first_output_cycle"] / s["first_output_cycle"]
    write_csv_atomic(out / "pipelines.csv", rows, FIELDS)
    plot_pipelines(rows, models, POLICIES, out / "pipelines.png")
    return rows
