"""Spiking-transformer kernels: MM-ss on tracers, integer-only softmax and layer norm, differential units.

Everything here is integer (int64) and vectorised over leading axes (samples, heads). The model that wires
these into a vision transformer and its bit-exact QANN reference is ``vit.py``; the argument for exactness
and the step bound are in docs/model/snn.md ("Spiking transformer").

* **MM-ss** (spike x spike): for X (M x K) and Y (K x N) carried as ternary spikes x_t, y_t with tracers
  X_acc,t = sum_{tau<=t} x_tau (same for Y), the per-step increment of X_acc Y_acc is exactly
  ``x_t @ Y_acc,t-1 + X_acc,t @ y_t`` (``mmss_step``). Both halves are MM-sc products whose "weight"
  operand is a tracer that changes every step: (1) spikes x_t against Y_acc,t-1, membranes rows m of the
  M x N accumulator; (2) spikes y_t^T against X_acc,t^T, membrane rows n of its transpose. For attention,
  QK^T uses X = Q, Y = K^T; A.V uses X = A, Y = V.
* **Integer softmax** (I-BERT, Kim et al. 2021): input x in fixed point 2^-EXP_FRAC_BITS; subtract the row
  max; ``x = -z ln2 + p`` with p in (-ln2, 0]; ``exp(p) ~ 0.3585 (p + 1.353)^2 + 0.344`` evaluated as
  ``(p + B)^2 + C`` (integer B, C), shifted right by z; output ``floor(e_i 2^P / sum_j e_j)``, i.e.
  probabilities in units of 2^-P (P = SOFTMAX_OUT_BITS).
* **Integer layer norm** (I-BERT / SwiftTron): ``c_i = D r_i - sum_j r_j`` (exact, = D (r_i - mean)),
  ``sigma = isqrt(sum_i (c_i 2^K)^2 / D)`` (Newton integer square root), output
  ``n_i = floor(c_i 2^(F+K) / sigma)`` = (r_i - mean) / std in units of 2^-F (F = LN_FRAC_BITS,
  K = LN_PRE_SHIFT extra bits that make the integer square root precise). The affine part is an integer
  gain G_i (``n_i G_i``) followed by the consumer's ST-BIF neurons (bias = initial membrane, threshold).
* **Differential unit** for a nonlinear f of an accumulated input: out_t = f(acc_t) - F_{t-1} with
  F_{t-1} = sum of its earlier outputs = f(acc_{t-1}) = f(acc_t - in_t) (and F_{-1} = 0), so the running sum
  of outputs is f(acc_t) at every step. Fed as a current into ST-BIF neurons it makes them walk to the
  quantized f(acc) exactly as a linear layer's neurons walk to the quantized pre-activation.

The floats in ``exp_constants`` run once, to derive integer constants; no float touches the data path.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np

from elsa_tlm.errors import ConfigError
from elsa_tlm.snn.products import LANES, WAYS, WORDS_PER_ROW, ActionCounts, gustavson_counts

EXP_FRAC_BITS = 12  # softmax input: x_real = x * 2^-12
SOFTMAX_OUT_BITS = 10  # softmax output: p_real = p * 2^-10
LN_FRAC_BITS = 8  # layer-norm output: n_real = n * 2^-8 (in units of the standard deviation)
LN_PRE_SHIFT = 4  # extra bits on the centred input before the integer square root
EXP_A, EXP_B, EXP_C = 0.3585, 1.353, 0.344  # I-BERT second-order fit of exp on (-ln2, 0]


def _require_int(name: str, arr: np.ndarray) -> np.ndarray:
    a = np.asarray(arr)
    if a.dtype.kind not in "iub":
        raise ConfigError(name, a.dtype, "must be an integer array (the spiking transformer is integer-only)")
    return a.astype(np.int64, copy=False)


def exact_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Integer a @ b (int64). Uses float64 BLAS when every partial sum is provably below 2^53 (then the
    float result is exact), else numpy's integer matmul."""
    a, b = _require_int("a", a), _require_int("b", b)
    if a.size == 0 or b.size == 0:
        return a @ b
    bound = int(np.abs(a).max()) * int(np.abs(b).max()) * int(a.shape[-1])
    if bound < 2**53:
        return np.rint(a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)
    return a @ b


# ------------------------------------------------------------------------------------------------- MM-ss
@dataclass(frozen=True)
class MMSSCounts:
    """PE actions of one MM-ss step (summed over all leading axes), per half.

    ``first``: Gustavson MM-sc of the X spikes against the Y tracer (weights Y_acc,t-1, K rows of N words);
    ``second``: Gustavson MM-sc of the Y spikes against the X tracer (weights X_acc,t^T, K rows of M words).
    No fire/tracer actions are included: the accumulator is read by the consumer (softmax unit or neurons).
    ``first_weight_rows_written``: rows k of Y_acc changed this step (written into the first half's weight
    memory for the next step); ``second_weight_rows_written``: rows k of X_acc^T changed this step (written
    before the second half runs). ``x_spikes``/``y_spikes``: non-zero spikes of each operand.
    """

    first: ActionCounts
    second: ActionCounts
    first_weight_rows_written: int
    second_weight_rows_written: int
    x_spikes: int
    y_spikes: int

    def __add__(self, other: MMSSCounts) -> MMSSCounts:
        if not isinstance(other, MMSSCounts):
            return NotImplemented
        return MMSSCounts(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    @property
    def total(self) -> ActionCounts:
        return self.first + self.second


def _check_mmss(x_t: np.ndarray, y_t: np.ndarray, x_acc: np.ndarray, y_acc: np.ndarray) -> None:
    if x_t.ndim < 2 or y_t.ndim < 2 or x_t.shape != x_acc.shape or y_t.shape != y_acc.shape:
        raise ConfigError(
            "mmss operands", (x_t.shape, y_t.shape), "need X (..., M, K), Y (..., K, N) + tracers"
        )
    if x_t.shape[-1] != y_t.shape[-2] or x_t.shape[:-2] != y_t.shape[:-2]:
        raise ConfigError("mmss operands", (x_t.shape, y_t.shape), "inner dimensions / leading axes differ")


def mmss_step(
    x_t: np.ndarray,
    y_t: np.ndarray,
    x_acc_prev: np.ndarray,
    y_acc_prev: np.ndarray,
    ways: int = WAYS,
    lanes: int = LANES,
    words_per_row: int = WORDS_PER_ROW,
) -> tuple[np.ndarray, MMSSCounts]:
    """Per-step increment of X_acc Y_acc from spikes x_t (..., M, K), y_t (..., K, N) and the tracers of t-1.

    Returns ``x_t @ Y_acc,t-1 + X_acc,t @ y_t`` (int64, (..., M, N)) with X_acc,t = x_acc_prev + x_t, which
    equals X_acc,t Y_acc,t - X_acc,t-1 Y_acc,t-1 exactly, and the Gustavson action counts of both halves.
    """
    x_t, y_t = _require_int("x_t", x_t), _require_int("y_t", y_t)
    x_acc_prev, y_acc_prev = _require_int("x_acc_prev", x_acc_prev), _require_int("y_acc_prev", y_acc_prev)
    _check_mmss(x_t, y_t, x_acc_prev, y_acc_prev)
    x_acc = x_acc_prev + x_t
    inc = exact_matmul(x_t, y_acc_prev) + exact_matmul(x_acc, y_t)
    return inc, mmss_counts(x_t, y_t, ways, lanes, words_per_row)


def mmss_counts(
    x_t: np.ndarray, y_t: np.ndarray, ways: int = WAYS, lanes: int = LANES, words_per_row: int = WORDS_PER_ROW
) -> MMSSCounts:
    """Closed-form counts of :func:`mmss_step` (events per membrane row of each half, summed)."""
    M, N = x_t.shape[-2], y_t.shape[-1]
    first = gustavson_counts(np.count_nonzero(x_t, axis=-1), N, ways, lanes, words_per_row, fire_rows=0)
    second = gustavson_counts(np.count_nonzero(y_t, axis=-2), M, ways, lanes, words_per_row, fire_rows=0)
    return MMSSCounts(
        first=first,
        second=second,
        first_weight_rows_written=int(np.count_nonzero(np.any(y_t != 0, axis=-1))),
        second_weight_rows_written=int(np.count_nonzero(np.any(x_t != 0, axis=-2))),
        x_spikes=int(np.count_nonzero(x_t)),
        y_spikes=int(np.count_nonzero(y_t)),
    )


# ------------------------------------------------------------------------------------------ integer maths
def isqrt(v: np.ndarray) -> np.ndarray:
    """floor(sqrt(v)) for int64 v >= 0, by Newton's iteration from above (integer only, vectorised)."""
    v = _require_int("v", v)
    if np.any(v < 0):
        raise ConfigError("isqrt", int(v.min()), "needs non-negative input")
    # bit length by binary search on shifts, then x0 = 2^ceil(bits/2) >= sqrt(v)
    bits = np.zeros(v.shape, np.int64)
    rest = v.copy()
    for sh in (32, 16, 8, 4, 2, 1):
        big = (rest >> sh) > 0
        bits += np.where(big, sh, 0)
        rest = np.where(big, rest >> sh, rest)
    bits += rest > 0
    x = np.left_shift(np.int64(1), (bits + 1) // 2)
    x = np.where(v == 0, 0, x)
    while True:  # monotonically decreasing to floor(sqrt(v)); ~log2(bits) rounds
        safe = np.maximum(x, 1)
        nxt = np.where(v == 0, 0, (x + v // safe) // 2)
        if not np.any(nxt < x):
            return x
        x = np.minimum(x, nxt)


@dataclass(frozen=True)
class ExpConstants:
    """Integer constants of the I-BERT exp at input fixed point 2^-frac_bits (derived once from floats)."""

    frac_bits: int
    ln2: int  # round(ln 2 * 2^E)
    b: int  # round(1.353 * 2^E)
    c: int  # round(0.344 / 0.3585 * 2^(2E))


def exp_constants(frac_bits: int = EXP_FRAC_BITS) -> ExpConstants:
    """Build-time constants; the result of int_exp is exp(x) / (0.3585 * 2^-2E) up to the fit error."""
    if not 1 <= frac_bits <= 20:
        raise ConfigError("frac_bits", frac_bits, "must be in 1..20 (int64 headroom)")
    s = 1 << frac_bits
    return ExpConstants(frac_bits, round(math.log(2) * s), round(EXP_B * s), round(EXP_C / EXP_A * s * s))


def int_exp(x: np.ndarray, consts: ExpConstants | None = None) -> np.ndarray:
    """Integer exp of x <= 0 (fixed point 2^-E): ``((p + B)^2 + C) >> z`` with x = -z ln2 + p.

    Output units: 0.3585 * 2^-2E (the constant factor cancels in softmax). int64 only.
    """
    k = consts or exp_constants()
    x = _require_int("x", x)
    if np.any(x > 0):
        raise ConfigError("int_exp", int(x.max()), "input must be <= 0 (subtract the row max first)")
    z = (-x) // k.ln2
    p = x + z * k.ln2  # in (-ln2, 0]
    e = (p + k.b) ** 2 + k.c
    return np.right_shift(e, np.minimum(z, 62))


def int_softmax(
    x: np.ndarray, axis: int = -1, out_bits: int = SOFTMAX_OUT_BITS, consts: ExpConstants | None = None
) -> np.ndarray:
    """Integer softmax along ``axis`` of x (fixed point 2^-E): floor(e_i 2^P / sum_j e_j), units 2^-P."""
    x = _require_int("x", x)
    d = x - np.max(x, axis=axis, keepdims=True)
    e = int_exp(d, consts)
    total = np.sum(e, axis=axis, keepdims=True)  # >= e(0) > 0
    return np.left_shift(e, out_bits) // total


def int_layernorm(
    r: np.ndarray, axis: int = -1, frac_bits: int = LN_FRAC_BITS, pre_shift: int = LN_PRE_SHIFT
) -> np.ndarray:
    """Integer layer norm along ``axis``: (r - mean) / std in units of 2^-frac_bits (floor).

    ``c = D r - sum r`` is exact; ``sigma = isqrt(sum (c 2^K)^2 // D)`` = floor(D std(r) 2^K); a constant row
    (sigma = 0) gives 0. Domain: |r| < 2^15 and D <= 4096 keep every intermediate below 2^62.
    """
    r = _require_int("r", r)
    D = r.shape[axis]
    c = (D * r - np.sum(r, axis=axis, keepdims=True)) << pre_shift
    sigma = isqrt(np.sum(c * c, axis=axis, keepdims=True) // D)
    return np.left_shift(c, frac_bits) // np.maximum(sigma, 1)


# ---------------------------------------------------------------------------- quantizer, residual, units
def quantize(z: np.ndarray, bias: np.ndarray | int, theta: np.ndarray | int, lo: int, hi: int) -> np.ndarray:
    """The QANN activation: clip(floor((z + bias) / theta), lo, hi), all integer, broadcasting."""
    return np.clip(np.floor_divide(_require_int("z", z) + bias, theta), lo, hi)


def residual_current(
    a: np.ndarray, b: np.ndarray, gain_a: int | np.ndarray, gain_b: int | np.ndarray
) -> np.ndarray:
    """Current of a residual addition node: gain_a * a + gain_b * b (spikes or levels; linear, so exact)."""
    return gain_a * _require_int("a", a) + gain_b * _require_int("b", b)


class DifferentialUnit:
    """A nonlinear unit (softmax, layer norm) in differential form, for ST-BIF neurons downstream.

    It keeps the accumulated input ``acc`` and the sum ``F`` of its outputs so far; per step:
    ``acc += in_t; out_t = f(acc) - F; F = f(acc)``. Since F = f(acc_{t-1}) = f(acc_t - in_t), this is
    out_t = f(acc_t) - f(acc_t - in_t), and sum_{tau<=t} out_tau = f(acc_t) exactly, at every step.
    """

    def __init__(self, f: Callable[[np.ndarray], np.ndarray], shape: tuple[int, ...]) -> None:
        self.f = f
        self.acc = np.zeros(shape, np.int64)
        self.F: np.ndarray | None = None

    def step(self, increment: np.ndarray) -> np.ndarray:
        """Add this step's input increment; return the output current of the step (int64)."""
        self.acc = self.acc + _require_int("increment", increment)
        y = _require_int("f(acc)", self.f(self.acc))
        out = y if self.F is None else y - self.F
        self.F = y
        return out
