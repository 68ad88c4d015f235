"""Quantized-ReLU network (QANN) in integer-only arithmetic: the reference the SNN must reproduce bit for bit.

A weighted node accumulates ``z = sum(x * w)`` in *accumulator units* (input step x weight step), adds an
integer ``bias`` (which already contains the rounding offset ``theta // 2``), and quantizes with an integer
step ``theta``:

    q = clip(floor((z + bias) / theta), q_min, q_max)        (activation level; real value = q * act_scale)

A ``readout`` node (the classifier) returns ``z + bias`` without quantizing (argmax needs no scale).
``quantized_from_scales`` turns the usual float description of a QANN (weight scale per output channel,
input and output activation steps, real bias) into that integer form.

Node ops: ``conv`` (im2col), ``linear`` (flattens a (C, H, W) input c-major), ``maxpool`` and ``sumpool``
(average pooling with 1/k^2 folded into the consumer's threshold). A conv/linear node with two inputs is a
residual join: ``inputs[1]`` is added into the accumulator with the integer per-channel ``skip_gain``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from elsa_tlm.errors import ConfigError
from elsa_tlm.snn.layers import conv2d, linear, max_pool, residual_current, sum_pool

WEIGHTED = ("conv", "linear")
POOLS = ("maxpool", "sumpool")


@dataclass(frozen=True)
class QNode:
    """One QANN node. Weighted nodes need ``weight``/``bias``/``theta`` (theta unused for readout)."""

    name: str
    op: str
    inputs: tuple[str, ...]
    weight: np.ndarray | None = None  # int: (Cout, Cin, k, k) or (out, in)
    bias: np.ndarray | None = None  # int (Cout,), accumulator units, rounding offset included
    theta: np.ndarray | None = None  # int (Cout,) > 0, accumulator units per activation level
    q_min: int = 0
    q_max: int = 15
    stride: int = 1
    padding: int = 0
    kernel: int = 0  # pools only
    readout: bool = False
    skip_gain: np.ndarray | None = None  # int (Cout,), residual joins only

    def __post_init__(self) -> None:
        if self.op not in WEIGHTED + POOLS:
            raise ConfigError(f"{self.name}.op", self.op, f"must be one of {WEIGHTED + POOLS}")
        if self.op in POOLS:
            if self.kernel < 1 or len(self.inputs) != 1:
                raise ConfigError(
                    f"{self.name}.kernel", self.kernel, "a pool needs kernel >= 1 and one input"
                )
            return
        if self.weight is None or self.bias is None or (self.theta is None and not self.readout):
            raise ConfigError(f"{self.name}", "missing", "weighted nodes need weight, bias and theta")
        for key in ("weight", "bias", "theta", "skip_gain"):
            arr = getattr(self, key)
            if arr is not None and np.asarray(arr).dtype.kind not in "iu":
                raise ConfigError(f"{self.name}.{key}", np.asarray(arr).dtype, "must be integer")
        cout = self.weight.shape[0]
        if self.bias.shape != (cout,) or (self.theta is not None and self.theta.shape != (cout,)):
            raise ConfigError(f"{self.name}.bias/theta", self.bias.shape, f"need shape ({cout},)")
        if self.theta is not None and np.any(self.theta <= 0):
            raise ConfigError(f"{self.name}.theta", int(self.theta.min()), "must be > 0")
        if self.q_min > 0 or self.q_max < 0 or self.q_min >= self.q_max:
            raise ConfigError(
                f"{self.name}.q_min/q_max", (self.q_min, self.q_max), "need q_min <= 0 <= q_max"
            )
        if len(self.inputs) == 2 and self.skip_gain is None:
            raise ConfigError(f"{self.name}.skip_gain", None, "a residual join (two inputs) needs skip_gain")
        if len(self.inputs) not in (1, 2):
            raise ConfigError(f"{self.name}.inputs", self.inputs, "one input, or two for a residual join")

    @property
    def out_channels(self) -> int:
        return int(self.weight.shape[0]) if self.weight is not None else 0


def channel_view(v: np.ndarray, op: str) -> np.ndarray:
    """Per-output-channel vector shaped to broadcast against a (..., C, H, W) or (..., C) tensor."""
    return v[:, None, None] if op == "conv" else v


def quantize(
    z: np.ndarray, bias: np.ndarray, theta: np.ndarray, q_min: int, q_max: int, op: str
) -> np.ndarray:
    """Integer quantized ReLU: clip(floor((z + bias) / theta), q_min, q_max)."""
    b, th = channel_view(bias, op), channel_view(theta, op)
    return np.clip(np.floor_divide(z + b, th), q_min, q_max)


def accumulate(node: QNode, x: np.ndarray, skip: np.ndarray | None = None) -> np.ndarray:
    """Integer pre-activation (without bias) of a weighted node."""
    if node.op == "conv":
        z = conv2d(x, node.weight, node.stride, node.padding)
    else:
        if x.shape[-1] != node.weight.shape[1] and x.ndim >= 3:
            x = x.reshape(*x.shape[:-3], -1)
        z = linear(x, node.weight)
    if skip is not None:
        if node.op == "linear" and skip.shape[-1] != z.shape[-1]:
            skip = skip.reshape(*skip.shape[:-3], -1)
        z = z + residual_current(skip, node.skip_gain)
    return z


@dataclass(frozen=True)
class QNetwork:
    """A QANN as a list of nodes in topological order; ``"input"`` names the (integer) input image."""

    nodes: tuple[QNode, ...]

    def __post_init__(self) -> None:
        seen = {"input"}
        for n in self.nodes:
            for i in n.inputs:
                if i not in seen:
                    raise ConfigError(f"{n.name}.inputs", i, "inputs must name an earlier node or 'input'")
            seen.add(n.name)

    def forward(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """All node outputs for an integer input batch (..., C, H, W): levels, or accumulators for readout."""
        if np.asarray(x).dtype.kind not in "iu":
            raise ConfigError("input", np.asarray(x).dtype, "QANN input must be integer levels")
        out: dict[str, np.ndarray] = {"input": np.asarray(x, dtype=np.int64)}
        for n in self.nodes:
            src = out[n.inputs[0]]
            if n.op == "maxpool":
                out[n.name] = max_pool(src, n.kernel, n.stride, n.padding)
            elif n.op == "sumpool":
                out[n.name] = sum_pool(src, n.kernel, n.stride, n.padding)
            else:
                z = accumulate(n, src, out[n.inputs[1]] if len(n.inputs) == 2 else None)
                if n.readout:
                    out[n.name] = z + channel_view(n.bias, n.op)
                else:
                    out[n.name] = quantize(z, n.bias, n.theta, n.q_min, n.q_max, n.op)
        del out["input"]
        return out

    def logits(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)[self.nodes[-1].name]


def quantized_from_scales(
    w_scale: np.ndarray, in_scale: float, out_scale: float, bias_real: np.ndarray, rel_tol: float = 1e-6
) -> tuple[np.ndarray, np.ndarray]:
    """Integer (theta, bias) of a layer from float scales: theta = out_scale / (in_scale * w_scale).

    The QANN is integer-exact only if theta is an integer; a ratio farther than ``rel_tol`` from one is a
    ConfigError (round the scales at export, as scripts/train_digits.py does by training with integer theta).
    Bias is rounded to accumulator units and the round-half-up offset theta // 2 is added.
    """
    unit = in_scale * np.asarray(w_scale, dtype=np.float64)
    ratio = out_scale / unit
    theta = np.round(ratio).astype(np.int64)
    if np.any(theta < 1) or np.any(np.abs(ratio - theta) > rel_tol * np.abs(ratio)):
        raise ConfigError("out_scale / (in_scale * w_scale)", ratio.tolist(), "must be a positive integer")
    bias = np.round(np.asarray(bias_real, dtype=np.float64) / unit).astype(np.int64) + theta // 2
    return theta, bias
