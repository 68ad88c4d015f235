"""ST-BIF neurons (bipolar integrate-and-fire with spike tracer), vectorised over any array shape.

One step, per neuron, all integers (the chip's membranes and tracers are integer registers):

    V_hat = V + I
    y     = +1 if V_hat >= theta and S < S_max
            -1 if V_hat <  0     and S > S_min
             0 otherwise
    V     = V_hat - y * theta          (soft reset)
    S     = S + y                      (tracer counts net emitted spikes)

With no further input a neuron walks one level per step towards
``clip(floor(V_total / theta), S_min, S_max)`` where ``V_total`` is its initial membrane plus all input
received; that fixed point is what makes QANN -> SNN conversion exact (see conversion.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from elsa_tlm.errors import ConfigError


def _as_int_array(name: str, value: np.ndarray | int, shape: tuple[int, ...]) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise ConfigError(name, value, "must be an integer (the ST-BIF hardware is integer-only)")
    try:
        return np.broadcast_to(arr.astype(np.int64), shape).copy()
    except ValueError as exc:
        raise ConfigError(name, arr.shape, f"must broadcast to the neuron array shape {shape}") from exc


@dataclass
class STBIFNeurons:
    """A block of ST-BIF neurons with per-neuron threshold, tracer bounds, membrane and tracer.

    All arrays have the same shape (e.g. (n_samples, C, H, W)); ``theta``, ``s_min``, ``s_max`` may be given
    broadcastable (per channel) to :meth:`create`.
    """

    theta: np.ndarray
    s_min: np.ndarray
    s_max: np.ndarray
    v: np.ndarray
    s: np.ndarray

    @classmethod
    def create(
        cls,
        shape: tuple[int, ...],
        theta: np.ndarray | int,
        s_min: np.ndarray | int,
        s_max: np.ndarray | int,
        v0: np.ndarray | int = 0,
    ) -> STBIFNeurons:
        """Neurons at rest: membrane ``v0`` (bias + rounding offset after conversion), tracer 0."""
        th = _as_int_array("theta", theta, shape)
        lo = _as_int_array("s_min", s_min, shape)
        hi = _as_int_array("s_max", s_max, shape)
        if np.any(th <= 0):
            raise ConfigError("theta", int(th.min()), "thresholds must be positive integers")
        if np.any(lo > 0) or np.any(hi < 0):
            raise ConfigError("s_min/s_max", (int(lo.max()), int(hi.min())), "need S_min <= 0 <= S_max")
        return cls(
            theta=th, s_min=lo, s_max=hi, v=_as_int_array("v0", v0, shape), s=np.zeros(shape, np.int64)
        )

    @property
    def shape(self) -> tuple[int, ...]:
        return self.v.shape

    def step(self, current: np.ndarray | int) -> np.ndarray:
        """Integrate ``current`` (integer, broadcast to the neuron shape), fire, soft-reset; return y (int8)."""
        cur = np.asarray(current)
        if cur.dtype.kind not in "iub":
            raise ConfigError("current", cur.dtype, "input current must be integer")
        v_hat = self.v + cur
        up = (v_hat >= self.theta) & (self.s < self.s_max)
        down = (v_hat < 0) & (self.s > self.s_min)
        y = up.astype(np.int8) - down.astype(np.int8)
        self.v = v_hat - y * self.theta
        self.s = self.s + y
        return y

    def unsettled(self) -> np.ndarray:
        """Neurons that would fire next step even with zero input (boolean mask, same shape)."""
        return ((self.v >= self.theta) & (self.s < self.s_max)) | ((self.v < 0) & (self.s > self.s_min))

    def value(self) -> np.ndarray:
        """theta * S: the activation the neuron represents so far (equals the QANN output once settled)."""
        return self.theta * self.s
