"""Spike x weight products (MM-sc) as the PE performs them, with the SRAM/adder actions they cost.

Operands of one layer, one time step, one PE tile of C output channels:

* ``X`` (M x K): input spikes after im2col. Row m = output position = membrane row m; column k = weight row
  k. Entries are ternary spikes (or, for a directly coded first layer, multi-bit pixel values); every
  non-zero entry is one *event*.
* ``W`` (K x C): integer weights (4-bit on the chip).
* ``V`` (M x C): integer membranes, updated in place: ``V += X @ W`` for all three products.

Units of the counts (``ActionCounts``):

* SRAM macro rows are 16 words wide (``words_per_row``). A weight row of C 4-bit weights costs
  ``ceil(C / 16)`` macro-row reads; a membrane row of C 16-bit membranes costs ``ceil(C / 16)`` macro-row
  reads (or writes); a tracer row (C 4-bit tracers) costs ``ceil(C / 16)`` reads (or writes).
* An adder-tree activation is one 128-lane (``lanes``) block of neuron circuits summing up to 16 (``ways``)
  inputs per lane; C columns need ``ceil(C / 128)`` activations for each summation.
* A fire activation is one 128-lane block of fire/update units processing one membrane row.

Per time step, the three dataflows (r_m = events of membrane row m, R = rows with r_m > 0,
wr = ceil(C/16) macro rows per row, bl = ceil(C/128) lane blocks):

=================  ========================  ==================  ==================  ===================
product            weight_row_reads          membrane r = w      adder_activations   mini_batches
=================  ========================  ==================  ==================  ===================
Gustavson (N=16)   sum r_m * wr              sum ceil(r_m/N)*wr  sum ceil(r_m/N)*bl  sum ceil(r_m/N)
inner (P rows)     P * K * wr                P * wr              P*ceil(K/N)*bl      P * ceil(K/N)
outer              sum r_m * wr              sum r_m * wr        sum r_m * bl        sum r_m
=================  ========================  ==================  ==================  ===================

Fire and tracer actions are the same rule for all three: each membrane row *updated in the step* is fired
once after its last accumulation (R rows for Gustavson/outer, P rows for inner; P = M when dense):
``fire_activations = rows * bl``, ``tracer_reads = tracer_writes = rows * wr``. Rows that receive no input
but still hold an unsettled neuron (residual membrane) are fired by :func:`settle_counts`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

from elsa_tlm.errors import ConfigError

WAYS = 16
LANES = 128
WORDS_PER_ROW = 16


@dataclass(frozen=True)
class ActionCounts:
    """Countable PE actions (macro-row accesses, adder/fire block activations, mini-batches)."""

    weight_row_reads: int = 0
    membrane_row_reads: int = 0
    membrane_row_writes: int = 0
    tracer_reads: int = 0
    tracer_writes: int = 0
    adder_activations: int = 0
    fire_activations: int = 0
    mini_batches: int = 0

    def __add__(self, other: ActionCounts) -> ActionCounts:
        if not isinstance(other, ActionCounts):
            return NotImplemented
        return ActionCounts(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def scaled(self, factor: int) -> ActionCounts:
        """Counts multiplied by an integer factor (e.g. the number of PE tiles doing identical work)."""
        return ActionCounts(**{f.name: getattr(self, f.name) * int(factor) for f in fields(self)})

    def as_dict(self) -> dict[str, int]:
        return {k: int(v) for k, v in asdict(self).items()}

    @property
    def membrane_accesses(self) -> int:
        return self.membrane_row_reads + self.membrane_row_writes


def _ceil_div(a: np.ndarray | int, b: int) -> np.ndarray | int:
    return -(-a // b)


def _check_geometry(C: int, ways: int, lanes: int, words_per_row: int) -> tuple[int, int]:
    for key, val in (("C", C), ("ways", ways), ("lanes", lanes), ("words_per_row", words_per_row)):
        if int(val) < 1:
            raise ConfigError(key, val, "must be a positive integer")
    return int(_ceil_div(C, words_per_row)), int(_ceil_div(C, lanes))


def _event_counts(spikes_per_row: np.ndarray) -> np.ndarray:
    """Events per membrane row as int64, refusing negative counts."""
    r = np.asarray(spikes_per_row, dtype=np.int64)
    if np.any(r < 0):
        raise ConfigError("spikes_per_row", int(r.min()), "event counts must be >= 0")
    return r


def _fire_part(rows: int, wr: int, bl: int) -> dict[str, int]:
    return {"tracer_reads": rows * wr, "tracer_writes": rows * wr, "fire_activations": rows * bl}


# ---------------------------------------------------------------------------------------------- closed forms
def gustavson_counts(
    spikes_per_row: np.ndarray,
    C: int,
    ways: int = WAYS,
    lanes: int = LANES,
    words_per_row: int = WORDS_PER_ROW,
    fire_rows: int | None = None,
) -> ActionCounts:
    """Mini-batch Gustavson counts from the events per membrane row (any array shape, summed over all).

    ``fire_rows`` overrides the number of (row, step) pairs fired; default: rows with at least one event.
    """
    wr, bl = _check_geometry(C, ways, lanes, words_per_row)
    r = _event_counts(spikes_per_row)
    events = int(r.sum())
    batches = int(_ceil_div(r, ways).sum())
    rows = int(np.count_nonzero(r)) if fire_rows is None else int(fire_rows)
    return ActionCounts(
        weight_row_reads=events * wr,
        membrane_row_reads=batches * wr,
        membrane_row_writes=batches * wr,
        adder_activations=batches * bl,
        mini_batches=batches,
        **_fire_part(rows, wr, bl),
    )


def inner_counts(
    rows_active: int | np.ndarray,
    K: int,
    C: int,
    ways: int = WAYS,
    lanes: int = LANES,
    words_per_row: int = WORDS_PER_ROW,
    fire_rows: int | None = None,
) -> ActionCounts:
    """Inner-product counts: each processed row reads all K weight rows, in ceil(K/ways) adder passes.

    ``rows_active``: number of (row, step) pairs computed (dense: M per step; an array is summed).
    """
    wr, bl = _check_geometry(C, ways, lanes, words_per_row)
    if int(K) < 1:
        raise ConfigError("K", K, "must be a positive integer")
    p = int(np.sum(rows_active))
    passes = int(_ceil_div(int(K), ways))
    rows = p if fire_rows is None else int(fire_rows)
    return ActionCounts(
        weight_row_reads=p * int(K) * wr,
        membrane_row_reads=p * wr,
        membrane_row_writes=p * wr,
        adder_activations=p * passes * bl,
        mini_batches=p * passes,
        **_fire_part(rows, wr, bl),
    )


def outer_counts(
    spikes_per_row: np.ndarray,
    C: int,
    ways: int = WAYS,
    lanes: int = LANES,
    words_per_row: int = WORDS_PER_ROW,
    fire_rows: int | None = None,
) -> ActionCounts:
    """Outer-product counts: every event reads a weight row and reads + writes its membrane row."""
    wr, bl = _check_geometry(C, ways, lanes, words_per_row)
    r = _event_counts(spikes_per_row)
    events = int(r.sum())
    rows = int(np.count_nonzero(r)) if fire_rows is None else int(fire_rows)
    return ActionCounts(
        weight_row_reads=events * wr,
        membrane_row_reads=events * wr,
        membrane_row_writes=events * wr,
        adder_activations=events * bl,
        mini_batches=events,
        **_fire_part(rows, wr, bl),
    )


def settle_counts(rows: int, C: int, lanes: int = LANES, words_per_row: int = WORDS_PER_ROW) -> ActionCounts:
    """Firing rows that got no input this step but hold unsettled neurons: membrane + tracer read/write, fire."""
    wr, bl = _check_geometry(C, WAYS, lanes, words_per_row)
    rows = int(rows)
    return ActionCounts(
        membrane_row_reads=rows * wr, membrane_row_writes=rows * wr, **_fire_part(rows, wr, bl)
    )


# ---------------------------------------------------------------------------------------------- kernels
def _check_operands(X: np.ndarray, W: np.ndarray, V: np.ndarray) -> None:
    if X.ndim != 2 or W.ndim != 2 or V.ndim != 2:
        raise ConfigError("operands", (X.shape, W.shape, V.shape), "X (M x K), W (K x C), V (M x C) are 2-D")
    if X.shape[1] != W.shape[0] or V.shape != (X.shape[0], W.shape[1]):
        raise ConfigError("operands", (X.shape, W.shape, V.shape), "need X (M x K), W (K x C), V (M x C)")
    for name, arr in (("X", X), ("W", W), ("V", V)):
        if arr.dtype.kind not in "iu":
            raise ConfigError(name, arr.dtype, "must be an integer array")


def spikes_per_row(X: np.ndarray) -> np.ndarray:
    """Events per membrane row (non-zero entries per row of the im2col spike matrix)."""
    return np.count_nonzero(X, axis=-1)


def gustavson_product(
    X: np.ndarray, W: np.ndarray, V: np.ndarray, ways: int = WAYS, lanes: int = LANES,
    words_per_row: int = WORDS_PER_ROW,
) -> ActionCounts:  # fmt: skip
    """Mini-batch spiking Gustavson product: ``V += X @ W`` in row-coherent batches of <= ``ways`` events.

    Events are taken row by row; each batch sums up to ``ways`` (signed) weight rows in the adder tree and
    adds the sum into its membrane row with one membrane read and one write.
    """
    _check_operands(X, W, V)
    wr, bl = _check_geometry(W.shape[1], ways, lanes, words_per_row)
    rows, cols = np.nonzero(X)  # row-major: grouped by membrane row
    if rows.size:
        vals = X[rows, cols].astype(np.int64)
        per_row = np.bincount(rows, minlength=X.shape[0])
        first = np.cumsum(per_row) - per_row
        pos_in_row = np.arange(rows.size) - first[rows]
        batch_start = np.flatnonzero(pos_in_row % ways == 0)
        batch_sums = np.add.reduceat(vals[:, None] * W[cols].astype(np.int64), batch_start, axis=0)
        np.add.at(V, rows[batch_start], batch_sums)
        n_batches, n_rows = int(batch_start.size), int(np.count_nonzero(per_row))
    else:
        n_batches = n_rows = 0
    return ActionCounts(
        weight_row_reads=int(rows.size) * wr,
        membrane_row_reads=n_batches * wr,
        membrane_row_writes=n_batches * wr,
        adder_activations=n_batches * bl,
        mini_batches=n_batches,
        **_fire_part(n_rows, wr, bl),
    )


def inner_product(
    X: np.ndarray, W: np.ndarray, V: np.ndarray, ways: int = WAYS, lanes: int = LANES,
    words_per_row: int = WORDS_PER_ROW, dense: bool = True,
) -> ActionCounts:  # fmt: skip
    """Inner product: each processed output row reads all K weight rows (``ways`` per adder pass).

    ``dense=True`` (the classic dataflow) processes every row; ``dense=False`` skips rows without events.
    """
    _check_operands(X, W, V)
    wr, bl = _check_geometry(W.shape[1], ways, lanes, words_per_row)
    M, K = X.shape
    active = np.arange(M) if dense else np.flatnonzero(np.any(X != 0, axis=1))
    passes = int(_ceil_div(K, ways))
    pad = passes * ways - K
    Xa = np.pad(X[active].astype(np.int64), ((0, 0), (0, pad))).reshape(active.size, passes, ways)
    Wa = np.pad(W.astype(np.int64), ((0, pad), (0, 0))).reshape(passes, ways, W.shape[1])
    partial = np.einsum("mpw,pwc->mpc", Xa, Wa)  # one adder-tree pass per (row, chunk of ways weight rows)
    V[active] += partial.sum(axis=1)
    p = int(active.size)
    return ActionCounts(
        weight_row_reads=p * K * wr,
        membrane_row_reads=p * wr,
        membrane_row_writes=p * wr,
        adder_activations=p * passes * bl,
        mini_batches=p * passes,
        **_fire_part(p, wr, bl),
    )


def outer_product(
    X: np.ndarray, W: np.ndarray, V: np.ndarray, ways: int = WAYS, lanes: int = LANES,
    words_per_row: int = WORDS_PER_ROW,
) -> ActionCounts:  # fmt: skip
    """Outer product: column by column of X, each event adds its weight row into its membrane row alone."""
    _check_operands(X, W, V)
    wr, bl = _check_geometry(W.shape[1], ways, lanes, words_per_row)
    cols, rows = np.nonzero(X.T)  # column-major: one weight row, all its spikes
    if rows.size:
        vals = X[rows, cols].astype(np.int64)
        np.add.at(V, rows, vals[:, None] * W[cols].astype(np.int64))
    events = int(rows.size)
    n_rows = int(np.unique(rows).size)
    return ActionCounts(
        weight_row_reads=events * wr,
        membrane_row_reads=events * wr,
        membrane_row_writes=events * wr,
        adder_activations=events * bl,
        mini_batches=events,
        **_fire_part(n_rows, wr, bl),
    )


PRODUCTS = {"gustavson": gustavson_product, "inner": inner_product, "outer": outer_product}
