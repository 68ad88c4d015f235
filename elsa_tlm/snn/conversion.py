"""QANN -> SNN conversion and the time-stepped SNN it yields.

Per weighted QANN node (integer form, see qann.py) the ST-BIF parameters are:

* threshold ``theta_c`` = the QANN's quantization step in accumulator units (per output channel);
* tracer bounds ``S_min = q_min``, ``S_max = q_max`` (the activation levels);
* bias and rounding: initial membrane ``V0_c = bias_c`` (the integer bias, which includes ``theta // 2``);
  adding it as a constant current at step 0 is the same thing;
* a ``readout`` node becomes a non-firing integrator: its membrane ``bias + sum_t X_t W`` is the logit.

Why exact: all node operations are linear in their input spikes, so a neuron's total input after step t is
``z_t = sum_{tau<=t} X_tau W``, and z_t equals the QANN pre-activation once the producers have settled
(their net spikes S equal the QANN levels). With no further input an ST-BIF neuron moves one level per step
to ``clip(floor((V0 + z) / theta), S_min, S_max)``, the QANN level. Its input stops changing when its
producers settle; it then needs at most ``S_max - S_min`` more steps. So a network whose longest path has D
spiking nodes, each with ``L = q_max - q_min``, is exact after at most ``D * L`` steps (direct-coded input at
step 0; pools add no delay). In practice it settles much earlier (measured in digits.py).

The input is directly coded: integer pixel levels injected once, at step 0, into the first layer(s).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from elsa_tlm.errors import ConfigError
from elsa_tlm.snn.layers import SpikingMaxPool, events_per_row, sum_pool
from elsa_tlm.snn.neuron import STBIFNeurons
from elsa_tlm.snn.qann import QNetwork, QNode, accumulate, channel_view


@dataclass
class SNNRun:
    """Everything recorded while running an SNN for T steps on a batch of n samples.

    ``spikes[node]``: (n, T, C, H, W) int8 ternary output spikes of spiking nodes and max pools (sum pools:
    int16 window sums; linear spiking nodes: (n, T, C)). ``readout[node]``: (n, T, out) int64 membrane of a
    readout node after each step. ``inputs[node]``: per-node input as it arrives each step (the producer's
    spikes; for first layers the pixel levels at step 0). ``fire_rows[node]``: (n, T) membrane rows (output
    positions) fired in the step: rows with at least one input event plus rows holding unsettled neurons.
    """

    T: int
    spikes: dict[str, np.ndarray] = field(default_factory=dict)
    readout: dict[str, np.ndarray] = field(default_factory=dict)
    fire_rows: dict[str, np.ndarray] = field(default_factory=dict)
    thetas: dict[str, np.ndarray] = field(default_factory=dict)

    def values(self, name: str) -> np.ndarray:
        """theta * S (or the readout membrane) after every step, shape (n, T, ...)."""
        if name in self.readout:
            return self.readout[name]
        acc = np.cumsum(self.spikes[name].astype(np.int64), axis=1)
        return acc * channel_view(self.thetas[name], "conv" if acc.ndim == 5 else "linear")

    def levels(self, name: str) -> np.ndarray:
        """Net spike counts S after every step (n, T, ...)."""
        return np.cumsum(self.spikes[name].astype(np.int64), axis=1)

    def settle_steps(self) -> np.ndarray:
        """Per sample: number of steps after which no node emits a spike any more (>= 1)."""
        last = np.zeros(next(iter({**self.spikes, **self.readout}.values())).shape[0], np.int64)
        for s in self.spikes.values():
            active = np.any(s.reshape(s.shape[0], s.shape[1], -1) != 0, axis=2)  # (n, T)
            idx = np.where(active, np.arange(1, s.shape[1] + 1)[None, :], 0).max(axis=1)
            last = np.maximum(last, idx)
        return np.maximum(last, 1)


class SpikingNetwork:
    """The SNN converted from a QANN; ``run`` simulates all nodes for T steps, vectorised over samples."""

    def __init__(self, qnet: QNetwork) -> None:
        self.qnet = qnet
        self.nodes: tuple[QNode, ...] = qnet.nodes

    @staticmethod
    def neuron_params(node: QNode) -> dict[str, np.ndarray | int]:
        """ST-BIF parameters of a weighted spiking node (see module doc)."""
        return {"theta": node.theta, "s_min": node.q_min, "s_max": node.q_max, "v0": node.bias}

    def steps_bound(self) -> int:
        """Worst-case steps to exactness: max over paths of sum of (q_max - q_min) of spiking nodes."""
        depth: dict[str, int] = {"input": 0}
        for n in self.nodes:
            d = max(depth[i] for i in n.inputs)
            if n.op in ("conv", "linear") and not n.readout:
                d += n.q_max - n.q_min
            depth[n.name] = d
        return max(1, max(depth.values()))

    def run(self, x: np.ndarray, T: int) -> SNNRun:
        """Run T steps on integer inputs x (n, C, H, W), direct-coded at step 0."""
        if T < 1:
            raise ConfigError("T", T, "need at least one time step")
        x = np.asarray(x)
        if x.dtype.kind not in "iu":
            raise ConfigError("input", x.dtype, "SNN input must be integer levels (direct coding)")
        n = x.shape[0]
        shapes = {k: v.shape[1:] for k, v in self.qnet.forward(x[:1]).items()}
        state: dict[str, object] = {}
        run = SNNRun(T=T)
        for node in self.nodes:
            shp = (n, *shapes[node.name])
            if node.op == "maxpool":
                in_shape = (n, *shapes[node.inputs[0]]) if node.inputs[0] != "input" else x.shape
                state[node.name] = SpikingMaxPool(in_shape, node.kernel, node.stride, node.padding)
            elif node.op in ("conv", "linear") and node.readout:
                state[node.name] = np.broadcast_to(channel_view(node.bias, node.op), shp).astype(np.int64)
                run.readout[node.name] = np.zeros((n, T, *shp[1:]), np.int64)
                continue
            elif node.op in ("conv", "linear"):
                p = self.neuron_params(node)
                view = {k: channel_view(np.asarray(v), node.op) for k, v in p.items() if k in ("theta", "v0")}
                state[node.name] = STBIFNeurons.create(shp, view["theta"], p["s_min"], p["s_max"], view["v0"])
                run.thetas[node.name] = node.theta
                run.fire_rows[node.name] = np.zeros((n, T), np.int64)
            dtype = np.int16 if node.op == "sumpool" else np.int8
            run.spikes[node.name] = np.zeros((n, T, *shp[1:]), dtype)

        zero_in = np.zeros_like(x)
        for t in range(T):
            out: dict[str, np.ndarray] = {"input": x if t == 0 else zero_in}
            for node in self.nodes:
                src = out[node.inputs[0]]
                if node.op == "maxpool":
                    y = state[node.name].step(src)
                elif node.op == "sumpool":
                    y = sum_pool(src, node.kernel, node.stride, node.padding).astype(np.int16)
                else:
                    skip = out[node.inputs[1]] if len(node.inputs) == 2 else None
                    current = accumulate(node, src, skip)
                    if node.readout:
                        state[node.name] = state[node.name] + current
                        run.readout[node.name][:, t] = state[node.name]
                        out[node.name] = np.zeros(current.shape, np.int8)
                        continue
                    neurons: STBIFNeurons = state[node.name]
                    run.fire_rows[node.name][:, t] = self._fire_rows(node, neurons, src, skip)
                    y = neurons.step(current)
                run.spikes[node.name][:, t] = y
                out[node.name] = y
        return run

    @staticmethod
    def _fire_rows(
        node: QNode, neurons: STBIFNeurons, src: np.ndarray, skip: np.ndarray | None
    ) -> np.ndarray:
        """Rows (output positions) the PE must fire this step: rows with input events or unsettled neurons."""
        pending = neurons.unsettled()
        if node.op == "conv":
            k = node.weight.shape[2]
            has_input = events_per_row(np.count_nonzero(src, axis=-3), k, node.stride, node.padding) > 0
            if skip is not None:
                has_input |= np.any(skip != 0, axis=-3)
            rows = has_input | np.any(pending, axis=-3)
            return rows.reshape(rows.shape[0], -1).sum(axis=1)
        flat = src.reshape(src.shape[0], -1)  # a linear layer is one membrane row
        return (np.any(flat != 0, axis=1) | np.any(pending, axis=-1)).astype(np.int64)


def convert(qnet: QNetwork) -> SpikingNetwork:
    """QANN -> SNN (the parameters are derived per node by :meth:`SpikingNetwork.neuron_params`)."""
    return SpikingNetwork(qnet)
