"""Functional activity: spikes computed by the numpy SNN kernels on real inputs (the digits CNN and ViT).

One :class:`Activity` per test image (each image is one inference on the chip). The functional run also
gives the readout after every step, from which accuracy per step and early exits are computed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

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


CALIBRATION_IMAGES = 300  # training images whose per-step SNN readouts calibrate the exit confidence


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """Temperature scaling (Guo et al., 2017): the τ minimising the NLL of softmax(logits / τ).

    The readout membranes are integers in arbitrary units; τ turns them into calibrated confidences for the
    early-exit rule. ``logits`` (n, classes) or (n, T, classes): per-step readouts are pooled, so τ is
    calibrated on what the exit rule sees (the readout after each step), not only on the final one.
    """
    if logits.ndim == 3:
        labels = np.repeat(labels, logits.shape[1])
        logits = logits.reshape(-1, logits.shape[-1])
    from scipy.optimize import minimize_scalar

    z = logits.astype(np.float64)

    def nll(log_t: float) -> float:
        a = z / np.exp(log_t)
        a = a - a.max(axis=1, keepdims=True)
        return float(-(a[np.arange(len(labels)), labels] - np.log(np.exp(a).sum(axis=1))).mean())

    scale = float(np.abs(z).mean()) or 1.0
    res = minimize_scalar(nll, bounds=(np.log(scale) - 10, np.log(scale) + 5), method="bounded")
    return float(np.exp(res.x))


def _samples(cfg: Config, n_test: int) -> list[int]:
    first, n = cfg.workload.sample_offset, cfg.workload.samples
    if first >= n_test:
        raise ConfigError(
            "workload.sample_offset", first, f"must be below the {n_test} test images (0..{n_test - 1})"
        )
    if first + n > n_test:
        raise ConfigError(
            "workload.samples", n, f"sample_offset {first} + samples must not exceed the {n_test} test images"
        )
    return list(range(first, first + n))


@lru_cache(maxsize=2)
def _functional(model_name: str, T: int) -> tuple[Any, float, np.ndarray]:
    """The shipped network's run over the test set and its exit-confidence temperature (calibrated on
    the per-step readouts of training images); pure functions of shipped data, so computed once per process."""
    from elsa_tlm.snn.digits import load_digits_data

    x_train, y_train, x_test, y_test = load_digits_data()
    if model_name == "digits_vit":
        from elsa_tlm.snn import vit as net

        model = net.load_vit_model()
    else:
        from elsa_tlm.snn import digits as net

        model = net.load_digits_model()
    run_snn = net.run_snn
    cal = slice(0, CALIBRATION_IMAGES)
    temperature = fit_temperature(run_snn(model, x_train[cal], T).logits_per_step, y_train[cal])
    return run_snn(model, x_test, T), temperature, y_test


def digits_run(cfg: Config, wl: Workload) -> DigitsRun:
    """The functional run of the trained digits network of ``cfg`` (the CNN or the ViT)."""
    run, temperature, y_test = _functional(cfg.workload.model, wl.time_steps)
    ids = _samples(cfg, len(y_test))
    sample = vit_sample_activity if cfg.workload.model == "digits_vit" else sample_activity
    acts = [sample(wl, run, i, wl.time_steps) for i in ids]
    return DigitsRun(y_test, run.logits_per_step, run.pred_per_step, run.qann_pred, ids, acts, temperature)


def vit_sample_activity(wl: Workload, run: Any, i: int, T: int) -> Activity:
    """Test image ``i`` of a ViT functional run in the simulator's layout (tokens on a 1 × N grid).

    A layer's PE input is every operand's spikes (``av``: the attention map and v's output); each producer
    emits its neurons' spikes. Channels of the spikes (exact bank conflicts) where the run has them for the
    whole input."""
    tok = (1, wl.layers[0].in_hw[1])
    out = {la.name: run.output_spikes[la.name][i, :T].astype(np.int64) for la in wl.layers}
    emitted: dict[str, np.ndarray] = {}
    for la in wl.layers:
        e = out[la.name]
        emitted[la.name] = (
            e.reshape(T, *la.emit_hw) if e.size == T * la.n_emit else np.zeros((T, *la.emit_hw), np.int64)
        )
    inputs: dict[str, np.ndarray] = {}
    signed: dict[str, np.ndarray] = {}
    for la in wl.layers:
        x = run.input_spikes[la.name][i, :T].astype(np.int64)
        sg = run.input_signed[la.name][i, :T]
        if x.shape[1] != tok[1]:  # a class-token head: its one token is token 0
            x = np.pad(x, ((0, 0), (0, tok[1] - x.shape[1])))
            sg = np.pad(sg, ((0, 0), (0, 0), (0, tok[1] - sg.shape[2])))
        if la.operands and not la.counts_operands:  # av: + the V operand (v's output spikes)
            x = x + sum(out[o] for o in la.operands)
        else:
            signed[la.name] = sg.reshape(T, sg.shape[1], *tok)
        inputs[la.name] = x.reshape(T, *tok)
    emitted[INPUT] = inputs[wl.layers[0].name]
    return Activity("functional", T, inputs, emitted, {}, {"sample": i}, signed)


def functional_activity(cfg: Config, wl: Workload) -> Activity:
    """The first selected sample's activity (single-inference runs)."""
    if cfg.workload.model not in ("digits", "digits_vit"):
        raise ConfigError("workload.activity", "functional", "needs a trained digits model")
    return digits_run(cfg, wl).activities[0]
