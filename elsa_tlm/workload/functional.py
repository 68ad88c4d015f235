"""Functional activity: spikes computed by the numpy SNN kernels on real inputs (the digits network).

One :class:`Activity` per test image (each image is one inference on the chip). The functional run also
gives the readout after every step, from which accuracy per step and early exits are computed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from elsa_tlm.config import Config
from elsa_tlm.errors import ConfigError
from elsa_tlm.workload.activity import Activity
from elsa_tlm.workload.graph import INPUT, Workload


@dataclass
class DigitsRun:
    """The functional run over the whole test set plus the chosen samples' activities."""

    labels: np.ndarray  # (n_test,)
    logits_per_step: np.ndarray  # (n_test, T, 10)
    pred_per_step: np.ndarray  # (n_test, T)
    qann_pred: np.ndarray  # (n_test,)
    sample_ids: list[int]
    activities: list[Activity]
    temperature: float  # softmax temperature fitted on the training set's QANN logits


def sample_activity(wl: Workload, run, i: int, T: int) -> Activity:
    """The activity of test image ``i`` from a FunctionalRun, in the simulator's layout."""
    inputs = {layer.name: run.input_spikes[layer.name][i, :T].astype(np.int64) for layer in wl.layers}
    emitted: dict[str, np.ndarray] = {INPUT: inputs[wl.layers[0].name]}
    for layer in wl.layers:
        readers = [c for c in layer.consumers if wl.by_name[c].main == layer.name]
        if readers:
            emitted[layer.name] = inputs[readers[0]]
        else:  # the readout integrator emits its logits, not spikes
            emitted[layer.name] = run.output_spikes[layer.name][i, :T].astype(np.int64)
    signed = {layer.name: run.input_signed[layer.name][i, :T] for layer in wl.layers}
    return Activity("functional", T, inputs, emitted, {}, {"sample": i}, signed)


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """Temperature scaling (Guo et al., 2017): the τ minimising the NLL of softmax(logits / τ).

    The readout membranes are integers in arbitrary units; τ, fitted on the *training* set's QANN logits,
    turns them into calibrated confidences for the early-exit rule.
    """
    from scipy.optimize import minimize_scalar

    z = logits.astype(np.float64)

    def nll(log_t: float) -> float:
        a = z / np.exp(log_t)
        a = a - a.max(axis=1, keepdims=True)
        return float(-(a[np.arange(len(labels)), labels] - np.log(np.exp(a).sum(axis=1))).mean())

    scale = float(np.abs(z).mean()) or 1.0
    res = minimize_scalar(nll, bounds=(np.log(scale) - 10, np.log(scale) + 5), method="bounded")
    return float(np.exp(res.x))


def digits_run(cfg: Config, wl: Workload) -> DigitsRun:
    from elsa_tlm.snn.digits import load_digits_data, load_digits_model, qann_logits, run_snn

    model = load_digits_model()
    x_train, y_train, x_test, y_test = load_digits_data()
    temperature = fit_temperature(qann_logits(model, x_train), y_train)
    first, n = cfg.workload.sample_offset, cfg.workload.samples
    if first >= len(x_test):
        raise ConfigError(
            "workload.sample_offset",
            first,
            f"must be below the {len(x_test)} test images (0..{len(x_test) - 1})",
        )
    if first + n > len(x_test):
        raise ConfigError(
            "workload.samples",
            n,
            f"sample_offset {first} + samples must not exceed the {len(x_test)} test images",
        )
    run = run_snn(model, x_test, wl.time_steps)
    ids = list(range(first, first + n))
    acts = [sample_activity(wl, run, i, wl.time_steps) for i in ids]
    return DigitsRun(y_test, run.logits_per_step, run.pred_per_step, run.qann_pred, ids, acts, temperature)


def functional_activity(cfg: Config, wl: Workload) -> Activity:
    """The first selected sample's activity (single-inference runs)."""
    if cfg.workload.model != "digits":
        raise ConfigError("workload.activity", "functional", "needs the trained digits model")
    return digits_run(cfg, wl).activities[0]
