"""Processing element: per-output-spine cycle cost and SRAM/adder/fire action counts.

A core's PEs hold disjoint column tiles of a layer slice and receive every input spike (broadcast), so
they work in lock-step on the same output spine; the slowest (widest) PE sets the time. Per output spine
(= membrane row) and time step, with e = im2col-expanded input events into the row, N = weight-buffer ways,
c = columns of the widest PE, L = neuron circuits (lanes) the slice owns, f = fire cycles per row pass:

* ``gustavson``: (ceil(e/N) + f) · ceil(c/L)    — one N-row mini-batch per cycle, then fire
* ``inner``:     (ceil(K/N) + f) · ceil(c/L)    — every row reads all K weight rows, spikes or not
* ``outer``:     (e + f) · ceil(c/L)            — one event per cycle (membrane read-modify-write each)

Every membrane row is fired once per step (the order controller visits every output spine each step:
ST-BIF neurons with residual charge may fire without new input). Action counts come from the closed forms
of :mod:`elsa_tlm.snn.products`, which the functional kernels are tested against.
"""

from __future__ import annotations

import numpy as np

from elsa_tlm.snn.products import ActionCounts, gustavson_counts, inner_counts, outer_counts, settle_counts


def item_cycles(
    product: str, events: np.ndarray, k_rows: int, cols: int, lanes: int, ways: int, fire_cycles: int
) -> np.ndarray:
    """Cycles per (step, output spine) for ``events`` of shape (T, n_out)."""
    passes = -(-cols // lanes)
    if product == "gustavson":
        per = -(-events // ways)
    elif product == "inner":
        per = np.full_like(events, -(-k_rows // ways))
    elif product == "outer":
        per = events
    else:  # pragma: no cover - validated by config
        raise ValueError(product)
    return ((per + fire_cycles) * passes).astype(np.int64)


def slice_actions(
    product: str, events: np.ndarray, k_rows: int, pe_cols: list[int], ways: int, lanes: int, words: int
) -> tuple[ActionCounts, float]:
    """Actions of all PEs of one slice over the whole run; ``events`` (T, n_out) per membrane row.

    ``lanes`` is the adder-tree block width used to count activations (128 on ELSA). Also returns the
    lane-weighted adder activations: mini-batches × columns / lanes — the energy model charges an
    activation in proportion to the lanes it uses (idle lanes clock-gated).
    """
    total = ActionCounts()
    lane_weighted = 0.0
    rows_all = int(events.size)
    for c in pe_cols:
        if c <= 0:
            continue
        if product == "gustavson":
            a = gustavson_counts(events, c, ways, lanes, words)
            idle = rows_all - int(np.count_nonzero(events))
        elif product == "inner":
            a = inner_counts(rows_all, k_rows, c, ways, lanes, words)
            idle = 0
        else:
            a = outer_counts(events, c, ways, lanes, words)
            idle = rows_all - int(np.count_nonzero(events))
        total = total + a + (settle_counts(idle, c, lanes, words) if idle else ActionCounts())
        lane_weighted += a.mini_batches * c / lanes
    return total, lane_weighted
