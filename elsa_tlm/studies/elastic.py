"""Elastic inference with functional activity: accuracy per step, per-sample chip timing, early exit.

The digits SNN runs functionally over the whole test set (accuracy after every time step: the model's
real elastic curve). ``workload.samples`` test images are then simulated one by one on the chip model;
each gives the cycle at which every time step's output leaves the chip. With ``run.exit_confidence`` > 0 a
sample stops at the first step whose readout has max softmax >= threshold; its exit cycle is that step's
output cycle, and its energy is measured by re-simulating the sample truncated to its exit step.

:func:`run` is what ``elsa_tlm.run`` (and ``elsa-tlm run``) does for such a scenario (``api.is_elastic``);
:func:`compare_policies` (``elsa-tlm elastic``, ``make elastic``) runs it under each schedule.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from elsa_tlm import sim
from elsa_tlm.config import Config
from elsa_tlm.workload.activity import Activity
from elsa_tlm.workload.functional import digits_run, fit_temperature  # noqa: F401 (re-exported)
from elsa_tlm.workload.graph import Workload, load_workload


def softmax_confidence(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Max softmax probability over the last axis of ``logits / temperature``."""
    logits = logits / temperature
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e.max(axis=-1) / e.sum(axis=-1)


def exit_steps(logits_per_step: np.ndarray, threshold: float, temperature: float = 1.0) -> np.ndarray:
    """First step whose confidence reaches ``threshold`` (the last step when none does)."""
    conf = softmax_confidence(logits_per_step.astype(np.float64), temperature)
    T = conf.shape[1]
    if threshold <= 0:
        return np.full(conf.shape[0], T - 1)
    hit = conf >= threshold
    return np.where(hit.any(axis=1), hit.argmax(axis=1), T - 1)


def truncate(act: Activity, steps: int) -> Activity:
    return Activity(
        act.source,
        steps,
        {k: v[:steps] for k, v in act.inputs.items()},
        {k: v[:steps] for k, v in act.emitted.items()},
        {k: v[:steps] for k, v in act.skip_inputs.items()},
        dict(act.meta),
    )


@dataclass
class ElasticRun:
    result: sim.Result  # the first sample's full run, summary extended with the functional results
    samples: list[dict[str, Any]]
    accuracy_per_step: list[float]
    mean_step_cycles: list[float]


def run(cfg: Config) -> ElasticRun:
    wl = load_workload(cfg.workload.model, cfg.run.time_steps)
    dr = digits_run(cfg, wl)
    T = wl.time_steps
    labels = dr.labels
    acc_step = [float((dr.pred_per_step[:, t] == labels).mean()) for t in range(T)]
    qann_acc = float((dr.qann_pred == labels).mean())
    thr = cfg.run.exit_confidence
    exits_all = exit_steps(dr.logits_per_step, thr, dr.temperature)
    results: list[sim.Result] = []
    rows: list[dict[str, Any]] = []
    for i, act in zip(dr.sample_ids, dr.activities, strict=True):
        res = sim.run(cfg, activity=act, workload=wl)
        results.append(res)
        s = res.summary
        e = int(exits_all[i])
        row = {
            "sample": i,
            "label": int(labels[i]),
            "exit_step": e,
            "exit_cycle": int(s["step_done_cycles"][e]),
            "correct": bool(dr.pred_per_step[i, e] == labels[i]),
            "latency_cycles": s["latency_cycles"],
            "first_output_cycle": s["first_output_cycle"],
            "energy_j": s["energy_j"],
            "energy_exit_j": s["energy_j"],
        }
        if thr > 0 and e < T - 1 and cfg.schedule.policy != "lbl":  # lbl has no early output to stop on
            wl_e = _truncated_workload(wl, e + 1)
            row["energy_exit_j"] = sim.run(
                replace(cfg), activity=truncate(act, e + 1), workload=wl_e
            ).summary["energy_j"]
        rows.append(row)
    mean_steps = np.mean([r.summary["step_done_cycles"] for r in results], axis=0)
    first = results[0]
    summary = dict(first.summary)
    summary["qann_accuracy"] = qann_acc
    summary["snn_accuracy"] = acc_step[-1]
    summary["test_images"] = int(labels.size)
    summary["samples_simulated"] = len(rows)
    summary["mean_latency_cycles"] = float(np.mean([r["latency_cycles"] for r in rows]))
    summary["mean_first_output_cycle"] = float(np.mean([r["first_output_cycle"] for r in rows]))
    summary["mean_energy_j"] = float(np.mean([r["energy_j"] for r in rows]))
    exit_cycle_all = mean_steps[exits_all]
    summary["elastic"] = {
        "threshold": thr,
        "temperature": dr.temperature,
        "accuracy_per_step": acc_step,
        "mean_step_done_cycles": [float(x) for x in mean_steps],
        "exit_step": float(np.mean([r["exit_step"] for r in rows])),
        "exit_cycle": float(np.mean([r["exit_cycle"] for r in rows])),
        "accuracy": float(np.mean([r["correct"] for r in rows])),
        "energy_exit_j": float(np.mean([r["energy_exit_j"] for r in rows])),
        "test_set_exit_step": float(exits_all.mean()),
        "test_set_exit_cycle": float(exit_cycle_all.mean()),
        "test_set_accuracy": float((dr.pred_per_step[np.arange(labels.size), exits_all] == labels).mean()),
    }
    # the run's result: the first sample's chip run with the elastic summary, writing samples.csv beside it
    er = ElasticRun(
        replace(first, summary=summary, extra_writers=[]), rows, acc_step, [float(x) for x in mean_steps]
    )
    er.result.extra_writers.append(lambda folder: write_extras(er, folder))
    return er


def _truncated_workload(wl: Workload, steps: int) -> Workload:
    layers = [
        replace(la, input_spikes=la.input_spikes[:steps], consumers=list(la.consumers)) for la in wl.layers
    ]
    return Workload(wl.model, wl.dataset, steps, layers, wl.input_hw, wl.input_channels, wl.source)


SAMPLE_FIELDS = [
    "sample",
    "label",
    "exit_step",
    "exit_cycle",
    "correct",
    "latency_cycles",
    "first_output_cycle",
    "energy_j",
    "energy_exit_j",
]


def write_extras(er: ElasticRun, out: Any) -> None:
    """samples.csv and elastic.png into the (temporary) result folder."""
    from elsa_tlm.fileio import write_csv_atomic

    write_csv_atomic(out / "samples.csv", er.samples, SAMPLE_FIELDS)
    if er.result.config.output.plots:
        from elsa_tlm.figures.run import plot_elastic

        plot_elastic(er, out / "elastic.png")


POLICIES = ("spine", "tbt", "lbl")


def _policies(model: str) -> tuple[str, ...]:
    """The three schedules; a transformer's spine-wise pipeline is called token-wise."""
    return ("token", "tbt", "lbl") if model == "digits_vit" else POLICIES


def compare_policies(scenario: str, out: Any, overrides: list[str]) -> list[dict[str, Any]]:
    """Accuracy against latency (cycles) for each schedule policy: elastic.csv, elastic_exits.json and
    elastic_policies.png in ``out`` (new, empty, or a study folder this tool wrote)."""
    from elsa_tlm.config import load_config
    from elsa_tlm.errors import ConfigError
    from elsa_tlm.fileio import claim_output_folder, write_csv_atomic, write_json_atomic

    cfg = load_config(scenario, overrides)
    if cfg.workload.activity != "functional":
        raise ConfigError(
            "--scenario",
            str(scenario),
            f"elastic inference needs real outputs: workload.activity = 'functional' (digits, digits_vit), "
            f"not {cfg.workload.activity!r} ({cfg.workload.model})",
        )
    out = claim_output_folder(out, "study", own_prefix="elastic")  # checked after the scenario, before runs
    rows: list[dict[str, Any]] = []
    exits: dict[str, dict[str, float]] = {}
    model = cfg.workload.model
    policies = _policies(model)
    for pol in policies:
        er = run(load_config(scenario, [*overrides, f'schedule.policy="{pol}"']))
        el = er.result.summary["elastic"]
        exits[pol] = {
            k: el[k]
            for k in (
                "threshold",
                "exit_step",
                "exit_cycle",
                "accuracy",
                "test_set_exit_cycle",
                "test_set_accuracy",
                "energy_exit_j",
            )
        }
        for t, (acc, cyc) in enumerate(zip(er.accuracy_per_step, er.mean_step_cycles, strict=True)):
            rows.append({"policy": pol, "step": t, "accuracy": acc, "mean_cycle": cyc})
    write_csv_atomic(out / "elastic.csv", rows, ["policy", "step", "accuracy", "mean_cycle"])
    write_json_atomic(out / "elastic_exits.json", exits)
    from elsa_tlm.figures.studies import plot_elastic_policies

    plot_elastic_policies(rows, exits, out / "elastic_policies.png", cfg.chip.clock_mhz)
    return rows
