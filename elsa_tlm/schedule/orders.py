"""Spine orders and receptive-field dependencies (the spine-wise readiness rules).

Output spine o of a conv layer needs every input spine inside its kernel window (stride, padding). ELSA
visits input spines in *shell* order (for s = 0, 1, ... the L-shaped ring max(row, col) = s) and defers
outputs whose window touches the bottom/right zero padding until the step's last valid input. A layer
processes its output spines in the order they become releasable when its inputs arrive in that order.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def shell_order(h: int, w: int) -> np.ndarray:
    """Flat indices of an h×w grid in shell order: for s = 0.. the ring max(r, c) = s, column then row.

    Ring s is column s above the corner (rows 0..s-1, top down; when s < w) then row s from the corner
    leftwards (when s < h); computed as a sort key per cell (vectorised: 224×224 inputs are 50 k cells)."""
    r, c = np.divmod(np.arange(h * w, dtype=np.int64), w)
    s = np.maximum(r, c)
    in_column = (c == s) & (r < s)  # column s, above the corner (then s < w)
    # within the ring: the column part first (its rows in order), then the row part (columns descending)
    col_len = np.where(s < w, np.minimum(s, h), 0)
    within = np.where(in_column, r, col_len + np.minimum(s, w - 1) - c)
    order = np.lexsort((within, s)).astype(np.int64)
    # a permutation of the grid (a sort of the indices: np.unique would import numpy.ma, 15 ms per run)
    assert order.size == h * w and bool((np.sort(order) == np.arange(h * w)).all())
    return order


def raster_order(h: int, w: int) -> np.ndarray:
    return np.arange(h * w, dtype=np.int64)


def visit_order(h: int, w: int, how: str) -> np.ndarray:
    return shell_order(h, w) if how == "shell" else raster_order(h, w)


def window_bounds(n_out: int, n_in: int, k: int, s: int, p: int) -> tuple[np.ndarray, np.ndarray]:
    """Per output index along one axis, the [lo, hi) input range its window covers (clipped)."""
    o = np.arange(n_out)
    lo = o * s - p
    hi = lo + k
    return np.clip(lo, 0, n_in), np.clip(hi, 0, n_in)


def touches_far_padding(n_out: int, n_in: int, k: int, s: int, p: int) -> np.ndarray:
    o = np.arange(n_out)
    return o * s - p + k > n_in


def window_sums(x: np.ndarray, out_hw: tuple[int, int], k: int, s: int, p: int) -> np.ndarray:
    """Σ of ``x`` (..., H, W) over each output's window: the im2col-expanded spike count per output spine."""
    h, w = x.shape[-2:]
    c = np.zeros((*x.shape[:-2], h + 1, w + 1), dtype=np.int64)
    c[..., 1:, 1:] = x.cumsum(-2).cumsum(-1)
    rlo, rhi = window_bounds(out_hw[0], h, k, s, p)
    clo, chi = window_bounds(out_hw[1], w, k, s, p)
    a = c[..., rhi[:, None], chi[None, :]]
    b = c[..., rlo[:, None], chi[None, :]]
    d = c[..., rhi[:, None], clo[None, :]]
    e = c[..., rlo[:, None], clo[None, :]]
    return a - b - d + e


def expanded_events(wl: Any, act: Any) -> dict[str, np.ndarray]:
    """im2col-expanded input events per layer, step and output spine, (T, n_out): :func:`window_sums` of every
    layer's input spikes, once per activity (the mapper's loads and the elaboration read them)."""

    def make() -> dict[str, np.ndarray]:
        return {
            layer.name: window_sums(
                act.inputs[layer.name], layer.out_hw, layer.kernel, layer.stride, layer.padding
            ).reshape(act.time_steps, -1)
            for layer in wl.layers
        }

    return act.derived(("expanded_events",), make)


class Windows:
    """Dependencies of output spines on input spines for one (k, s, p) window geometry.

    ``rev_ptr/rev_idx``: CSR map input spine -> outputs whose window contains it. ``size``: number of
    input spines per output window. ``deferred``: outputs that wait for the whole step (far padding).
    """

    def __init__(self, in_hw: tuple[int, int], out_hw: tuple[int, int], k: int, s: int, p: int, defer: bool):
        ih, iw = in_hw
        oh, ow = out_hw
        rlo, rhi = window_bounds(oh, ih, k, s, p)
        clo, chi = window_bounds(ow, iw, k, s, p)
        self.size = ((rhi - rlo)[:, None] * (chi - clo)[None, :]).ravel().astype(np.int64)
        far = touches_far_padding(oh, ih, k, s, p)[:, None] | touches_far_padding(ow, iw, k, s, p)[None, :]
        self.deferred = far.ravel() if (defer and p > 0) else np.zeros(oh * ow, dtype=bool)
        # (input, output) pairs of every window, then the reverse map input -> outputs (CSR and padded)
        oy, ox = np.divmod(np.arange(oh * ow), ow)
        dy, dx = np.divmod(np.arange(k * k), k)
        iy = (oy * s - p)[:, None] + dy[None, :]
        ix = (ox * s - p)[:, None] + dx[None, :]
        ok = (iy >= 0) & (iy < ih) & (ix >= 0) & (ix < iw)
        pair_out = np.broadcast_to(np.arange(oh * ow)[:, None], ok.shape)[ok]
        pair_in = (iy * iw + ix)[ok]
        pair_kofs = np.broadcast_to(np.arange(k * k)[None, :], ok.shape)[ok]  # kernel offset dy·k + dx
        srt = np.lexsort((pair_out, pair_in))
        self.pair_in, self.pair_out, self.pair_kofs = pair_in[srt], pair_out[srt], pair_kofs[srt]
        fan = np.bincount(self.pair_in, minlength=ih * iw)
        self.rev_ptr = np.concatenate([[0], np.cumsum(fan)]).astype(np.int64)
        self.rev_idx = self.pair_out.astype(np.int64)
        width = max(int(fan.max()) if fan.size else 0, 1)
        self.rev_mat = np.full((ih * iw, width), -1, dtype=np.int64)
        col = np.arange(self.pair_in.size) - self.rev_ptr[self.pair_in]
        self.rev_mat[self.pair_in, col] = self.rev_idx

    def outputs_of(self, inputs: np.ndarray) -> np.ndarray:
        """All (with repetition) outputs whose window contains any of ``inputs``."""
        sel = self.rev_mat[inputs].ravel()
        return sel[sel >= 0]

    def release_after(self, input_order: np.ndarray) -> np.ndarray:
        """Per output, the position in ``input_order`` after which its window is complete (deferred outputs:
        ``len(input_order)``, i.e. after the step's last input)."""
        pos = np.empty(input_order.size, dtype=np.int64)
        pos[input_order] = np.arange(input_order.size)
        last = np.zeros(self.size.size, dtype=np.int64)
        np.maximum.at(last, self.pair_out, pos[self.pair_in])
        last[self.deferred] = input_order.size
        return last

    def release_order(self, input_order: np.ndarray) -> np.ndarray:
        """Outputs sorted by when they become computable if inputs arrive in ``input_order``."""
        pos = np.empty(input_order.size, dtype=np.int64)
        pos[input_order] = np.arange(input_order.size)
        last = np.full(self.size.size, -1, dtype=np.int64)
        np.maximum.at(last, self.pair_out, pos[self.pair_in])
        last[self.deferred] = input_order.size
        return np.lexsort((np.arange(last.size), last)).astype(np.int64)


def prefix_sums(a: np.ndarray) -> np.ndarray:
    """Cumulative sums along the last axis with a leading zero: range sums in O(1)."""
    out = np.zeros((*a.shape[:-1], a.shape[-1] + 1), dtype=np.float64 if a.dtype.kind == "f" else np.int64)
    np.cumsum(a, axis=-1, out=out[..., 1:])
    return out
