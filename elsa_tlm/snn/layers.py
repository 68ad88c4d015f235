"""Layer operators shared by the QANN and the SNN: im2col convolution, linear, residual add, pooling.

Conventions: feature maps are ``(..., C, H, W)`` integer arrays (leading axes: samples, steps).
im2col rows are output positions ``m = oy * OW + ox`` (= membrane rows); columns are weight rows
``k = c * kernel**2 + ky * kernel + kx``, matching ``weights_to_matrix`` of a ``(Cout, Cin, k, k)`` kernel.

Pooling rules (both exact, see docs/model/snn.md):

* **average pooling** is a *sum* pool whose 1/p^2 lives in the consumer's scale (its threshold); in the SNN
  it is pure address remapping: every input spike is forwarded to its pooled position (a linear map, so
  exact at every step).
* **max pooling** runs on accumulated tracers: the pool unit keeps ``S_in`` (net spikes per input neuron)
  and ``S_out``; each step it emits ``y = max_window(S_in) - S_out``. A max of values that each move by at
  most 1 per step moves by at most 1, so ``y`` is ternary, and ``S_out == max_window(S_in)`` at every step:
  once the producer has settled, ``theta * S_out`` is the max of the QANN activations.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from elsa_tlm.errors import ConfigError


def conv_out_size(n: int, kernel: int, stride: int, padding: int) -> int:
    """Output length of a convolution/pool along one axis."""
    if kernel < 1 or stride < 1 or padding < 0:
        raise ConfigError(
            "kernel/stride/padding", (kernel, stride, padding), "need kernel>=1, stride>=1, padding>=0"
        )
    out = (n + 2 * padding - kernel) // stride + 1
    if out < 1:
        raise ConfigError("kernel", kernel, f"window larger than the padded input ({n} + 2*{padding})")
    return out


def _windows(x: np.ndarray, kernel: int, stride: int, padding: int, pad_value: int = 0) -> np.ndarray:
    """(..., C, OH, OW, k, k) view of all kernel windows."""
    pad = [(0, 0)] * (x.ndim - 2) + [(padding, padding), (padding, padding)]
    xp = np.pad(x, pad, constant_values=pad_value) if padding else x
    oh = conv_out_size(x.shape[-2], kernel, stride, padding)
    ow = conv_out_size(x.shape[-1], kernel, stride, padding)
    win = sliding_window_view(xp, (kernel, kernel), axis=(-2, -1))
    return win[..., : (oh - 1) * stride + 1 : stride, : (ow - 1) * stride + 1 : stride, :, :]


def im2col(x: np.ndarray, kernel: int, stride: int = 1, padding: int = 0) -> np.ndarray:
    """Dense im2col matrix (..., M, K) of a feature map (..., C, H, W)."""
    win = _windows(x, kernel, stride, padding)  # (..., C, OH, OW, k, k)
    lead = win.shape[:-5]
    c, oh, ow = win.shape[-5:-2]
    moved = np.moveaxis(win, -5, -3)  # (..., OH, OW, C, k, k)
    return moved.reshape(*lead, oh * ow, c * kernel * kernel)


def im2col_scatter(
    x: np.ndarray, kernel: int, stride: int = 1, padding: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The im2col unit's view: each non-zero input entry (c, i, j) is sent to every output position whose
    window covers it. Returns events (m, k, value) = the non-zero entries of ``im2col(x)`` (one sample)."""
    if x.ndim != 3:
        raise ConfigError("x", x.shape, "im2col_scatter takes one (C, H, W) map")
    _, h, w = x.shape
    oh, ow = conv_out_size(h, kernel, stride, padding), conv_out_size(w, kernel, stride, padding)
    c, i, j = np.nonzero(x)
    ky, kx = np.divmod(np.arange(kernel * kernel), kernel)
    ny, nx = i[:, None] + padding - ky[None, :], j[:, None] + padding - kx[None, :]
    oy, ox = ny // stride, nx // stride
    ok = (ny % stride == 0) & (nx % stride == 0) & (ny >= 0) & (nx >= 0) & (oy < oh) & (ox < ow)
    m = (oy * ow + ox)[ok]
    k = (c[:, None] * kernel * kernel + ky[None, :] * kernel + kx[None, :])[ok]
    v = np.broadcast_to(x[c, i, j][:, None], ok.shape)[ok]
    return m, k, v


def events_per_row(counts: np.ndarray, kernel: int, stride: int = 1, padding: int = 0) -> np.ndarray:
    """Events per membrane row after im2col, from per-spine event counts (..., IH, IW) -> (..., OH, OW).

    A row's events are all non-zero inputs inside its window (all channels), so this is a box-sum."""
    return _windows(np.asarray(counts, dtype=np.int64)[..., None, :, :], kernel, stride, padding).sum(
        axis=(-1, -2)
    )[..., 0, :, :]


def exact_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Integer matrix product, through float64 BLAS when every partial sum is exactly representable."""
    amax = int(np.abs(a).max(initial=0))
    bmax = int(np.abs(b).max(initial=0))
    if amax * bmax * max(a.shape[-1], 1) < 2**52:
        return np.rint(a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)
    return a.astype(np.int64) @ b.astype(np.int64)


def weights_to_matrix(w: np.ndarray) -> np.ndarray:
    """(Cout, Cin, k, k) conv kernel or (out, in) linear weight -> (K, C) weight-row matrix."""
    return w.reshape(w.shape[0], -1).T


def conv2d(x: np.ndarray, w: np.ndarray, stride: int = 1, padding: int = 0) -> np.ndarray:
    """Integer convolution (..., Cin, H, W) x (Cout, Cin, k, k) -> (..., Cout, OH, OW) through im2col."""
    if x.shape[-3] != w.shape[1] or w.shape[2] != w.shape[3]:
        raise ConfigError("weight", w.shape, f"need (Cout, {x.shape[-3]}, k, k)")
    k = w.shape[2]
    oh = conv_out_size(x.shape[-2], k, stride, padding)
    ow = conv_out_size(x.shape[-1], k, stride, padding)
    cols = im2col(x, k, stride, padding)  # (..., M, K)
    out = exact_matmul(cols, weights_to_matrix(w))  # (..., M, Cout)
    return np.moveaxis(out, -1, -2).reshape(*x.shape[:-3], w.shape[0], oh, ow)


def linear(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Integer linear layer: (..., in) x (out, in) -> (..., out). A (C, H, W) input is flattened c-major."""
    if x.shape[-1] != w.shape[1]:
        raise ConfigError("weight", w.shape, f"need (out, {x.shape[-1]})")
    return exact_matmul(x, w.T)


def residual_current(skip: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """Skip-path contribution to a join layer's membranes: ``gain[c] * skip[..., c, h, w]``.

    ``gain`` is the integer ratio of the skip's activation step to the join layer's accumulator unit."""
    g = np.asarray(gain, dtype=np.int64)
    if skip.ndim >= 3:  # (..., C, H, W): per-channel gain
        return skip.astype(np.int64) * g[:, None, None]
    return skip.astype(np.int64) * g


def sum_pool(x: np.ndarray, kernel: int, stride: int | None = None, padding: int = 0) -> np.ndarray:
    """Average pooling with the 1/kernel^2 folded into the consumer: integer window sums."""
    return _windows(x.astype(np.int64), kernel, stride or kernel, padding).sum(axis=(-1, -2))


def max_pool(x: np.ndarray, kernel: int, stride: int | None = None, padding: int = 0) -> np.ndarray:
    """Max pooling (padding never wins)."""
    low = np.iinfo(np.int64).min
    return _windows(x.astype(np.int64), kernel, stride or kernel, padding, pad_value=low).max(axis=(-1, -2))


class SpikingMaxPool:
    """Exact spiking max pool on accumulated tracers with ternary correction spikes (see module doc)."""

    def __init__(self, in_shape: tuple[int, ...], kernel: int, stride: int | None = None, padding: int = 0):
        self.kernel, self.stride, self.padding = kernel, stride or kernel, padding
        self.s_in = np.zeros(in_shape, np.int64)
        self.s_out = max_pool(self.s_in, kernel, self.stride, padding)

    def step(self, spikes: np.ndarray) -> np.ndarray:
        """Take one step of input spikes, return the ternary output spikes (int8)."""
        self.s_in += spikes
        m = max_pool(self.s_in, self.kernel, self.stride, self.padding)
        y = m - self.s_out
        if np.any(np.abs(y) > 1):  # impossible for ternary inputs; guards against misuse
            raise ConfigError("spikes", "non-ternary", "spiking max pool needs ternary input spikes")
        self.s_out = m
        return y.astype(np.int8)
