"""The analytic mode's per-position loops: a lane group as a FIFO server, the flit generator's trains, the
arrivals of a producer's spines at their positions, the cycle each emitted spine is ready, and the NoC's ports
and links as FIFO servers over the trains.

:func:`server_py`, :func:`trains_py`, :func:`arrive_py`, :func:`ready_py` and :func:`port_queues_py` are
the reference implementations (numpy); ``_recurrences.c`` is their port to C, built by the install as the extension
``elsa_tlm._recurrences`` and called through ctypes (one pass over the positions, no temporaries: the analytic mode's time per design point is mostly these
loops over millions of positions). Both give bit-identical results (``tests/test_recurrences.py``);
:func:`engine` names the one in use, ``ELSA_TLM_RECURRENCES=numpy`` forces the reference. The C engine also
runs a whole analytic pass in one call (:func:`one_pass`, ``rec_pass``: the same loops over every slice of a
plan laid out by :func:`elsa_tlm.analytic.pass_layout`), whose reference is :func:`elsa_tlm.analytic.evaluate`.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from dataclasses import dataclass
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
    ready: np.ndarray | None,
    chunk: int,
    finish: np.ndarray | None = None,
    offset: np.ndarray | None = None,
) -> Trains:
    """The flit generator's trains over every step's emitted spines (flat, step-major): a train per (step,
    transaction), cut every ``chunk`` flits counted from the transaction's first spine; a train leaves with its
    last spine. A spine's transaction: its position's busy period (the last of ``starts`` at or before it,
    the position being ``t * n_in + pos_emit``) and its offset there // ``batch`` (``gated``: one per step).
    Returns each spine's train and each train's ready cycle, flits and packets (an all-empty train carries
    one head-only flit). A spine's ready cycle is ``ready``'s, or (``ready`` None) :func:`ready_py` of ``finish``
    and ``offset`` (the C port computes it for a train's last spine only)."""
    if ready is None:
        assert finish is not None and offset is not None
        ready = ready_py(finish, pos_emit, offset)
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


def arrive_py(
    arrive: np.ndarray,
    tail: np.ndarray,
    tid: np.ndarray,
    skip: np.ndarray | None,
    posmap: np.ndarray | None,
    flatten: bool,
) -> None:
    """Arrivals from one producer slice, into ``arrive`` (T, n_in) in place: each of its spines lands with its
    train's tail (``tail[tid]``) plus, for a skip part, the residual unit's cycles (``skip``: (T, n_emit + 1)
    running sums of its ops); a position has arrived when its last part has. The spine goes to position e
    (``posmap`` None), ``posmap[e]``, or (``flatten``: the producers' spines are one input spine) position 0."""
    arr = tail[tid]  # (T, n_emit): each spine with its train's tail
    if skip is not None:
        arr = arr + np.diff(skip, axis=1)
    if flatten:
        np.maximum(arrive[:, 0], arr.max(axis=1), out=arrive[:, 0])
    elif posmap is None:
        w = arr.shape[1]
        np.maximum(arrive[:, :w], arr, out=arrive[:, :w])
    else:
        for t in range(arrive.shape[0]):
            np.maximum.at(arrive[t], posmap, arr[t])


def ready_py(finish: np.ndarray, pos_emit: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """The cycle each emitted spine is ready (T, n_emit): its output's fire end, ``offset`` after the finish
    of the position that released it, rounded up to a cycle."""
    return np.ceil(finish[:, pos_emit] + offset - 1e-9)


def queues_py(
    bounds: np.ndarray, arrive: np.ndarray, service: np.ndarray, place: np.ndarray, wait: np.ndarray
) -> None:
    """FIFO servers, one per resource: resource r's entries are ``[bounds[r], bounds[r + 1])``, in the order it
    serves them (:func:`server_py`'s closed form each). Each entry's wait (finish - service - arrival) goes to
    its train, ``place``, which keeps the largest over its resources (``wait`` updated in place)."""
    for r in range(bounds.size - 1):
        a, s, q = (x[bounds[r] : bounds[r + 1]] for x in (arrive, service, place))
        c = np.cumsum(s)
        f = c + np.maximum.accumulate(np.maximum(a - (c - s), 0.0))
        np.maximum.at(wait, q, f - s - a)


def port_queues_py(
    res_ptr: np.ndarray,
    res_flow: np.ndarray,
    res_offset: np.ndarray,
    flow_first: np.ndarray,
    flow_size: np.ndarray,
    t0: np.ndarray,
    ser: np.ndarray,
    wait: np.ndarray,
) -> None:
    """The NoC's ports and links as FIFO servers over every flow's trains: flow f's trains are the places
    ``[flow_first[f], flow_first[f] + flow_size[f])`` of ``t0`` (the cycle each leaves) and ``ser`` (its
    serialisation cycles); resource r serves the flows ``res_flow[res_ptr[r]:res_ptr[r + 1]]`` (in flow order),
    a train reaching it ``res_offset`` cycles after it leaves, in arrival order (ties in place order), as
    :func:`queues_py` does; each train keeps the largest wait any resource gives it (``wait`` in place)."""
    bounds = [0]
    arrive, service, place = [], [], []
    for r in range(res_ptr.size - 1):
        parts = [
            np.arange(flow_first[f], flow_first[f] + flow_size[f])
            for f in res_flow[res_ptr[r] : res_ptr[r + 1]]
        ]
        q = np.concatenate(parts)
        a = t0[q] + np.repeat(res_offset[res_ptr[r] : res_ptr[r + 1]], [x.size for x in parts])
        order = np.argsort(a, kind="stable")  # the places rise along q: ties stay in place order
        arrive.append(a[order])
        service.append(ser[q][order])
        place.append(q[order])
        bounds.append(bounds[-1] + q.size)
    if len(bounds) > 1:
        queues_py(
            np.array(bounds), np.concatenate(arrive), np.concatenate(service), np.concatenate(place), wait
        )


@dataclass(frozen=True)
class Engine:
    """The four loops, by one engine."""

    name: str
    server: Callable[..., tuple[np.ndarray, np.ndarray]]
    trains: Callable[..., Trains]
    arrive: Callable[..., None]
    ready: Callable[..., np.ndarray]
    port_queues: Callable[..., None]
    # a whole analytic pass in one call (the C engine's ``rec_pass``; :func:`elsa_tlm.analytic.evaluate`, which
    # calls the loops above one slice at a time, is its reference): None when the engine has none
    one_pass: Callable[..., None] | None = None


REFERENCE = Engine("numpy", server_py, trains_py, arrive_py, ready_py, port_queues_py)


def _load_c() -> Engine | None:
    """The C port built by the install, through ctypes; None if it was not built or is stale (a clone whose
    _recurrences.c changed since ``pip install -e .``). Arrays go as raw pointers (the wrappers make them
    C-contiguous of the C side's type: ctypes' own array checks cost more than the small loops)."""
    lib = load_c_library(_C_MODULE, _C_SOURCE, "rec_source_sha256", "the numpy reference")
    if lib is None:
        return None
    i64, ptr = ctypes.c_int64, ctypes.c_void_p
    srv = lib.rec_server
    srv.restype = i64
    srv.argtypes = [i64, ptr, ptr, ptr, ptr, ptr]
    tr = lib.rec_trains
    tr.restype = i64
    tr.argtypes = [i64, i64, i64, ptr, ptr, i64, i64, i64, ptr, ptr, ptr, ptr, ptr, i64, ptr, ptr, ptr, ptr]
    arr = lib.rec_arrive
    arr.restype = None
    arr.argtypes = [i64, i64, i64, ptr, ptr, ptr, ptr, i64, ptr]
    rdy = lib.rec_ready
    rdy.restype = None
    rdy.argtypes = [i64, i64, i64, ptr, ptr, ptr, ptr]
    pq = lib.rec_port_queues
    pq.restype = None
    pq.argtypes = [i64, ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr]

    def server_c(arrive: np.ndarray, cum: np.ndarray, before: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = arrive.size
        if n == 0:
            return np.empty(0), np.zeros(1, np.int64)
        a, c, b = _f64(arrive), _f64(cum), _f64(before)
        finish, starts = np.empty(n), np.empty(n, np.int64)
        k = srv(n, _p(a), _p(c), _p(b), _p(finish), _p(starts))
        return finish, starts[:k]

    def trains_c(
        T: int,
        n_in: int,
        pos_emit: np.ndarray,
        starts: np.ndarray,
        batch: int,
        gated: bool,
        flits: np.ndarray,
        packets: np.ndarray,
        ready: np.ndarray | None,
        chunk: int,
        finish: np.ndarray | None = None,
        offset: np.ndarray | None = None,
    ) -> Trains:
        n_emit = pos_emit.size
        n = T * n_emit
        pe, st, fl, pk = _i64(pos_emit), _i64(starts), _i64(flits), _i64(packets)
        if ready is None:
            assert finish is not None and offset is not None and finish.shape[0] == T
            rd, fi, of = None, _f64(finish), _f64(offset)
            rdp, fip, ofp = None, _p(fi), _p(of)
        else:
            rd = _f64(ready)
            rdp, fip, ofp = _p(rd), None, None
        tid = np.empty(n, np.int64)
        t_ready, t_flits, t_packets = np.empty(n), np.empty(n, np.int64), np.empty(n, np.int64)
        args = (_p(pe), _p(st), st.size, batch, int(gated), _p(fl), _p(pk), rdp, fip, ofp, chunk)
        k = tr(T, n_emit, n_in, *args, _p(tid), _p(t_ready), _p(t_flits), _p(t_packets))
        return tid.reshape(T, n_emit), t_ready[:k], t_flits[:k], t_packets[:k]

    def arrive_c(
        arrive: np.ndarray,
        tail: np.ndarray,
        tid: np.ndarray,
        skip: np.ndarray | None,
        posmap: np.ndarray | None,
        flatten: bool,
    ) -> None:
        T, n_in = arrive.shape
        assert arrive.dtype == np.float64 and arrive.flags.c_contiguous  # written in place
        ids, tl = _i64(tid), _f64(tail)
        sk = None if skip is None else _i64(skip)
        pm = None if posmap is None else _i64(posmap)
        n_emit = ids.shape[1]
        sk_p = None if sk is None else _p(sk)
        pm_p = None if pm is None else _p(pm)
        arr(T, n_in, n_emit, _p(ids), _p(tl), sk_p, pm_p, int(flatten), _p(arrive))

    def ready_c(finish: np.ndarray, pos_emit: np.ndarray, offset: np.ndarray) -> np.ndarray:
        T, n_in = finish.shape
        f, pe, off = _f64(finish), _i64(pos_emit), _f64(offset)
        out = np.empty((T, pe.size))
        rdy(T, n_in, pe.size, _p(f), _p(pe), _p(off), _p(out))
        return out

    def port_queues_c(
        res_ptr: np.ndarray,
        res_flow: np.ndarray,
        res_offset: np.ndarray,
        flow_first: np.ndarray,
        flow_size: np.ndarray,
        t0: np.ndarray,
        ser: np.ndarray,
        wait: np.ndarray,
    ) -> None:
        tt = _f64(t0)
        # the merge needs each flow's trains leaving in order (a slice's trains leave with their last spine, in
        # emission order: they do on every network measured); if one does not, the reference sorts
        rising = tt[1:] >= tt[:-1]
        rising[flow_first[1:] - 1] = True  # a flow's first train after the previous flow's last
        if not rising.all():
            port_queues_py(res_ptr, res_flow, res_offset, flow_first, flow_size, tt, ser, wait)
            return
        assert wait.dtype == np.float64 and wait.flags.c_contiguous  # written in place
        rp, rf, ro = _i64(res_ptr), _i64(res_flow), _f64(res_offset)
        ff, fs, ss = _i64(flow_first), _i64(flow_size), _f64(ser)
        cursor = np.empty(rf.size, np.int64)
        pq(rp.size - 1, _p(rp), _p(rf), _p(ro), _p(ff), _p(fs), _p(tt), _p(ss), _p(cursor), _p(wait))

    ps = lib.rec_pass
    ps.restype = None
    # S; sm, first_offset, qm and the 8 arrays; policy, batch, flit_bits, link_bits; lay, the 4 carry
    # arrays, the 2 previous buffers, fb, ib, tid and the 5 scratch arrays (every pointer typed: an untyped one
    # would go as a 32-bit int)
    ps.argtypes = [i64, *[ptr] * 11, i64, i64, i64, i64, *[ptr] * 15]

    def one_pass(
        sm: np.ndarray,
        first_offset: np.ndarray,
        qm: np.ndarray,
        arrays: tuple[np.ndarray, ...],
        policy: int,
        batch: int,
        flit_bits: int,
        link_bits: int,
        lay: np.ndarray,
        carry: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None,
        prev: tuple[np.ndarray, np.ndarray] | None,
        fb: np.ndarray,
        ib: np.ndarray,
        tid: np.ndarray,
        scratch: tuple[np.ndarray, ...],
    ) -> None:
        """``rec_pass`` (its comment in _recurrences.c says what each argument holds): ``arrays`` are cum,
        before, pos_emit, emit_offset, last_offset, packed (packets << 32 | flits), skip and posmap; ``fb`` and
        ``ib`` are written, and ``tid`` (one buffer for both passes); ``scratch`` is arrive, finish, starts, tail and gate, each
        large enough."""
        assert [a.dtype for a in scratch] == [np.float64, np.float64, np.int64, np.float64, np.float64]
        assert len(arrays) == 8
        for a in (sm, qm, lay, ib, tid, *arrays[5:]):
            assert a.dtype == np.int64 and a.flags.c_contiguous
        for a in (first_offset, fb, *arrays[:2], arrays[3], arrays[4]):
            assert a.dtype == np.float64 and a.flags.c_contiguous
        assert arrays[2].dtype == np.int64 and arrays[2].flags.c_contiguous
        kept = [] if carry is None else [_f64(carry[0]), _f64(carry[1]), _i64(carry[2]), _i64(carry[3])]
        cp = tuple(_p(a) for a in kept) if kept else (None,) * 4
        pp = (None, None) if prev is None else (_p(prev[0]), _p(prev[1]))
        args = (
            sm.shape[0], _p(sm), _p(first_offset), _p(qm), *(_p(a) for a in arrays),
            policy, batch, flit_bits, link_bits, _p(lay), *cp, *pp, _p(fb), _p(ib), _p(tid),
            *(_p(a) for a in scratch),
        )  # fmt: skip
        assert len(args) == len(ps.argtypes)
        ps(*args)

    return Engine("c", server_c, trains_c, arrive_c, ready_c, port_queues_c, one_pass)


def _p(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]  # type: ignore[no-any-return]


def _f64(a: np.ndarray) -> np.ndarray:
    return a if a.dtype == np.float64 and a.flags.c_contiguous else np.ascontiguousarray(a, np.float64)


def _i64(a: np.ndarray) -> np.ndarray:
    return a if a.dtype == np.int64 and a.flags.c_contiguous else np.ascontiguousarray(a, np.int64)


@lru_cache(maxsize=1)
def _engine() -> Engine:
    if os.environ.get("ELSA_TLM_RECURRENCES", "") != "numpy":
        c = _load_c()
        if c is not None:
            return c
    return REFERENCE


def engine() -> str:
    """``c`` (the installed extension) or ``numpy`` (the reference); chosen once per process."""
    return _engine().name


def server(arrive: np.ndarray, cum: np.ndarray, before: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`server_py`, by the engine in use."""
    return _engine().server(arrive, cum, before)


def trains(*args: Any, **kwargs: Any) -> Trains:
    """:func:`trains_py` (its arguments), by the engine in use."""
    return _engine().trains(*args, **kwargs)


def arrive(*args: Any, **kwargs: Any) -> None:
    """:func:`arrive_py` (its arguments), by the engine in use."""
    _engine().arrive(*args, **kwargs)


def ready(finish: np.ndarray, pos_emit: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """:func:`ready_py`, by the engine in use."""
    return _engine().ready(finish, pos_emit, offset)


def one_pass() -> Callable[..., None] | None:
    """The engine's whole-pass call (``rec_pass``), or None (the numpy reference has none)."""
    return _engine().one_pass


def port_queues(*args: Any) -> None:
    """:func:`port_queues_py` (its arguments), by the engine in use."""
    _engine().port_queues(*args)
