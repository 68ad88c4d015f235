"""The analytic mode's two per-position loops: a lane group as a FIFO server, and the flit generator's trains.

:func:`server_py` and :func:`trains_py` are the reference implementations (numpy); ``_recurrences.c`` is
their port to C, built by the install as the extension ``elsa_tlm._recurrences`` and called through ctypes
(one pass over the positions, no temporaries: the analytic mode's time per design point is mostly these two
loops over millions of positions). Both give bit-identical results (``tests/test_recurrences.py``);
:func:`engine` names the one in use, ``ELSA_TLM_RECURRENCES=numpy`` forces the reference.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from elsa_tlm.compiled import load_c_library

_C_MODULE = "elsa_tlm._recurrences"
_C_SOURCE = Path(__file__).with_name("_recurrences.c")

Trains = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # tid (T, n_emit), ready, flits, packets


def server_py(arrive: np.ndarray, cum: np.ndarray, before: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A single FIFO server over positions in order: ``F_i = max(A_i, F_{i-1}) + c_i`` in closed form,
    ``F = C + cummax(max(A - C_prev, 0))`` (``cum`` = C, the running sum of the costs, ``before`` = C - c).
    Returns the finish cycles and the positions that start a busy period (0, and each one whose arrival is
    after the previous finish: the group waited for it)."""
    finish = cum + np.maximum.accumulate(np.maximum(arrive - before, 0.0))
    starts = np.r_[0, np.flatnonzero(arrive[1:] > (finish[:-1] + 1e-9)) + 1]
    return finish, starts.astype(np.int64)


def trains_py(
    T: int,
    n_in: int,
    pos_emit: np.ndarray,
    starts: np.ndarray,
    batch: int,
    gated: bool,
    flits: np.ndarray,
    packets: np.ndarray,
    ready: np.ndarray,
    chunk: int,
) -> Trains:
    """The flit generator's trains over every step's emitted spines (flat, step-major): a train per (step,
    transaction), cut every ``chunk`` flits counted from the transaction's first spine; a train leaves with its
    last spine. A spine's transaction: its position's busy period (the last of ``starts`` at or before it,
    the position being ``t * n_in + pos_emit``) and its offset there // ``batch`` (``gated``: one per step).
    Returns each spine's train and each train's ready cycle, flits and packets (an all-empty train carries
    one head-only flit)."""
    n_emit = pos_emit.size
    if gated:
        tx = np.zeros((T, n_emit), np.int64)
    else:
        p = (np.arange(T, dtype=np.int64)[:, None] * n_in + pos_emit).ravel()
        g = np.searchsorted(starts, p, side="right") - 1
        tx = ((g.astype(np.int64) << 20) + (p - starts[g]) // batch).reshape(T, n_emit)
    flat_key = ((np.arange(T, dtype=np.int64)[:, None] << 40) + tx).ravel()  # a step never shares a train
    new_tx = np.r_[True, flat_key[1:] != flat_key[:-1]]
    before = np.cumsum(flits) - flits
    start_cum = before[np.flatnonzero(new_tx)][np.cumsum(new_tx) - 1]
    piece = (before - start_cum) // chunk
    cut = new_tx | np.r_[True, piece[1:] != piece[:-1]]
    ids = np.cumsum(cut) - 1
    first = np.flatnonzero(cut)
    ends = np.r_[first[1:], ids.size] - 1
    tfl = np.add.reduceat(flits, first)
    tpk = np.add.reduceat(packets, first)
    empty = tfl == 0
    return (
        ids.reshape(T, n_emit),
        ready.ravel()[ends].astype(np.float64),
        np.where(empty, 1, tfl),
        np.where(empty, 1, tpk),
    )


def _load_c() -> tuple[Callable[..., tuple[np.ndarray, np.ndarray]], Callable[..., Trains]] | None:
    """The C port built by the install, through ctypes; None if it was not built or is stale (a clone whose
    _recurrences.c changed since ``pip install -e .``)."""
    lib = load_c_library(_C_MODULE, _C_SOURCE, "rec_source_sha256", "the numpy reference")
    if lib is None:
        return None
    i64 = ctypes.c_int64
    ints, reals = np.ctypeslib.ndpointer(np.int64, flags="C"), np.ctypeslib.ndpointer(np.float64, flags="C")
    out_ints = np.ctypeslib.ndpointer(np.int64, flags="C,W")
    out_reals = np.ctypeslib.ndpointer(np.float64, flags="C,W")
    srv = lib.rec_server
    srv.restype = i64
    srv.argtypes = [i64, reals, reals, reals, out_reals, out_ints]
    tr = lib.rec_trains
    tr.restype = i64
    tr.argtypes = [i64, i64, i64, ints, ints, i64, i64, i64, ints, ints, reals, i64]
    tr.argtypes += [out_ints, out_reals, out_ints, out_ints]

    def server_c(arrive: np.ndarray, cum: np.ndarray, before: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = arrive.size
        finish = np.empty(n)
        starts = np.empty(max(n, 1), np.int64)
        k = srv(n, np.ascontiguousarray(arrive, np.float64), cum, before, finish, starts)
        return (finish, starts[:k]) if n else (finish, np.zeros(1, np.int64))

    def trains_c(
        T: int,
        n_in: int,
        pos_emit: np.ndarray,
        starts: np.ndarray,
        batch: int,
        gated: bool,
        flits: np.ndarray,
        packets: np.ndarray,
        ready: np.ndarray,
        chunk: int,
    ) -> Trains:
        n_emit = pos_emit.size
        n = T * n_emit
        tid = np.empty(n, np.int64)
        t_ready, t_flits, t_packets = np.empty(n), np.empty(n, np.int64), np.empty(n, np.int64)
        k = tr(
            T,
            n_emit,
            n_in,
            np.ascontiguousarray(pos_emit, np.int64),
            np.ascontiguousarray(starts, np.int64),
            starts.size,
            batch,
            int(gated),
            flits,
            packets,
            np.ascontiguousarray(ready, np.float64).ravel(),
            chunk,
            tid,
            t_ready,
            t_flits,
            t_packets,
        )
        return tid.reshape(T, n_emit), t_ready[:k], t_flits[:k], t_packets[:k]

    return server_c, trains_c


@lru_cache(maxsize=1)
def _engine() -> tuple[str, Callable[..., tuple[np.ndarray, np.ndarray]], Callable[..., Trains]]:
    if os.environ.get("ELSA_TLM_RECURRENCES", "") != "numpy":
        c = _load_c()
        if c is not None:
            return "c", c[0], c[1]
    return "numpy", server_py, trains_py


def engine() -> str:
    """``c`` (the installed extension) or ``numpy`` (the reference); chosen once per process."""
    return _engine()[0]


def server(arrive: np.ndarray, cum: np.ndarray, before: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`server_py`, by the engine in use."""
    return _engine()[1](arrive, cum, before)


def trains(*args: Any, **kwargs: Any) -> Trains:
    """:func:`trains_py` (its arguments), by the engine in use."""
    return _engine()[2](*args, **kwargs)
