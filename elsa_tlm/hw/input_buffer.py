"""The PE input spike buffer: per-target queues whose flushes are the mini-batches of the Gustavson product.

ELSA_BRIEF §3: expanded input spikes (after im2col) are written into the PE's input buffer, ``pe.input_queues``
queues of ``pe.input_queue_depth`` entries. A live queue belongs to one *target* (output pixel = membrane row),
found through a lookup table. A spike whose target has no queue takes a free queue; when every queue is live,
the oldest-allocated queue is evicted (flushed) first. A queue that reaches its depth is flushed (it stays
allocated to its target). When a target's receptive field is complete it is released: what is left in its
queue is flushed (the *final* flush) and the row fires; the queue is freed. Whatever is left at the end of a
step has been released by then (deferred outputs are released after the step's last input).

A flush of m spikes is ceil(m / N) mini-batches (N = ``pe.weight_ways``). ``pe.weight_buffer = "nway"``
(ELSA, ELSA_BRIEF §3): the spikes of a mini-batch share one membrane row and the N-way weight buffer reads
their (up to N) weight rows in **one cycle**. ``"banked"`` (a what-if: a cheaper buffer of N single-ported
banks, weight row r in bank r mod N): a mini-batch takes as many cycles as its most loaded bank holds rows;
with functional activity the rows are known exactly (channel of each spike and kernel offset of the target),
with recorded counts a mini-batch costs the expected maximum bank load of its rows drawn uniformly over N
banks (:func:`expected_bank_cycles`).

Membrane row: ``pe.raw_hazard = "forward"`` (ELSA's pipelined accumulator): consecutive mini-batches of one
row chain in the accumulator, which forwards the row it is still writing: no stall, one membrane read and
one write per chain. ``"stall"`` (a what-if without forwarding): every mini-batch reads and writes its row,
and one that follows a mini-batch of the same row waits for the write-back (``hazard`` cycles).

The buffer is simulated once per layer and core share (the PEs of a core see the same spike stream), per time
step, over the stream of (input spine, target) records in the order the spines are absorbed: one record per
target of each input spine that carries spikes (≈10⁷ records for ResNet-50 at T = 16). That sequential kernel
runs in C: ``_ibuf_kernel.c``, built by the install as the extension ``elsa_tlm.hw._ibuf_kernel`` (optional)
and called through ctypes, so no run waits for a JIT compiler. Without it (no C compiler at install time) the
Python reference below runs, compiled by numba when numba is installed (imported only then), else as plain
Python; all three give bit-identical results (tests/test_input_buffer_kernel.py).
"""

from __future__ import annotations

import ctypes
import types
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from elsa_tlm.compiled import load_c_library

# per-step statistics, columns of BufferResult.per_step: mini-batches (a flush of m spikes is ceil(m / ways) of
# them), full-queue flushes, evictions, final flushes, spikes flushed, queue allocations, peak live queues,
# read-after-write stalls, membrane read-modify-writes (one per chain of mini-batches on one row when the
# accumulator forwards, one per mini-batch when it stalls)
FLUSHES, FULL, EVICTIONS, FINALS, SPIKES, ALLOCS, PEAK_LIVE, HAZARDS, MEMBRANE_RMW = range(9)
N_STATS = 9

WEIGHT_BUFFERS = ("nway", "banked")  # pe.weight_buffer
RAW_HAZARDS = ("forward", "stall")  # pe.raw_hazard
# a stream no kernel accepts: a queue would still be live at the end of a step
_RELEASED_EARLY = "a target received spikes after its release (release_after before its last input)"


@lru_cache(maxsize=64)
def expected_bank_cycles(depth: int, ways: int) -> np.ndarray:
    """E[max bank load] of m weight rows drawn uniformly over ``ways`` banks, m = 0..depth (cycles, >= 1 for
    m >= 1). Exact: dynamic programming over the distribution of the maximum load."""
    out = np.zeros(depth + 1)
    from math import comb

    for m in range(1, depth + 1):
        # P(max load <= L) = (number of ways to put m labelled balls in `ways` bins with each <= L) / ways^m
        cdf_prev = 0.0
        e = 0.0
        for L in range(1, m + 1):
            # count surjection-like: coefficient via DP over bins
            dp = [0] * (m + 1)
            dp[0] = 1
            for _ in range(ways):
                new = [0] * (m + 1)
                for used in range(m + 1):
                    if dp[used]:
                        for k in range(0, min(L, m - used) + 1):
                            new[used + k] += dp[used] * comb(m - used, k)
                dp = new
            cdf = dp[m] / ways**m
            e += L * (cdf - cdf_prev)
            cdf_prev = cdf
            if cdf >= 1.0 - 1e-15:
                break
        out[m] = e
    return out


def _flush_py(
    q: int,
    row: int,
    last_row: int,
    qcount: np.ndarray,
    qhist: np.ndarray,
    nway: bool,
    exact: bool,
    table: np.ndarray,
    ways: int,
    forward: bool,
    hazard: int,
    st: np.ndarray,
) -> float:
    """Flush queue q (target ``row``): returns its cycles and updates the step's statistics ``st``.

    Its m spikes go as ceil(m / ways) mini-batches. ``nway``: a mini-batch reads its (up to ``ways``) weight
    rows in one cycle (ELSA's N-way buffer). Banked (``nway`` False): ``ways`` single-ported banks, a
    mini-batch takes as many cycles as its most loaded bank has rows (``exact``: the rows' banks are known),
    or the expected maximum (``table``, recorded counts). Membrane row: with ``forward`` the accumulator
    chains consecutive mini-batches of one row (one read and one write per chain, no stall); otherwise every
    mini-batch reads and writes the row and one that follows a mini-batch of the same row waits ``hazard``.
    """
    m = qcount[q]
    nb = (m + ways - 1) // ways
    if nway:
        cyc = float(nb)
        if exact:
            for b in range(ways):
                qhist[q, b] = 0
    elif exact:
        mx = 0
        for b in range(ways):
            if qhist[q, b] > mx:
                mx = qhist[q, b]
            qhist[q, b] = 0
        cyc = float(mx if mx > nb else nb)  # at least one cycle per mini-batch
    else:
        full = m // ways
        cyc = table[m - full * ways]
        if full > 0:
            cyc += full * table[ways]
    if forward:
        if row != last_row:
            st[MEMBRANE_RMW] += 1
    else:
        hz = nb - 1
        if row == last_row:
            hz += 1
        cyc += hz * hazard
        st[HAZARDS] += hz
        st[MEMBRANE_RMW] += nb
    st[FLUSHES] += nb
    st[SPIKES] += m
    qcount[q] = 0
    return cyc


def _simulate_py(
    counts: np.ndarray,  # (T, n_in) spikes per input spine
    order: np.ndarray,  # (n_in,) absorption order of input spines
    fan_ptr: np.ndarray,  # (n_in + 1,) CSR: targets of input spine i
    fan_tgt: np.ndarray,  # targets
    fan_kofs: np.ndarray,  # kernel offset of each (input, target) pair
    rel_ptr: np.ndarray,  # (n_in + 1,) targets released after absorbing the input at position p (release order)
    rel_tgt: np.ndarray,
    n_out: int,
    queues: int,
    depth: int,
    ways: int,
    nway: bool,  # one-cycle N-way weight reads (else single-ported banks)
    table: np.ndarray,  # banked, recorded counts: expected cycles of a mini-batch of m rows, m = 0..max(depth, ways)
    exact: bool,  # bank ids from chan_* (functional activity)
    chan_ptr: np.ndarray,  # (T, n_in + 1) CSR per step: channels of the spikes of input spine i
    chan_val: np.ndarray,
    cin: int,
    forward: bool,  # the accumulator forwards a row to the next mini-batch of the same row (else it stalls)
    hazard: int,
    absorb_flush: np.ndarray,  # out (T, n_in) flush cycles triggered while absorbing the input at each position
    final_cycles: np.ndarray,  # out (T, n_out) cycles of each target's final flush
    final_spikes: np.ndarray,  # out (T, n_out) spikes in that flush
    stats: np.ndarray,  # out (T, N_STATS)
) -> int:
    """The queue model over every step (the reference implementation: ``_ibuf_kernel.c`` is its port, and the
    numba fallback compiles this very code). Fills the ``out`` arrays; returns 0."""
    T = counts.shape[0]
    n_in = order.shape[0]
    qtarget = np.full(queues, -1, np.int64)
    qcount = np.zeros(queues, np.int64)
    qseq = np.zeros(queues, np.int64)
    qhist = np.zeros((queues, ways), np.int64)
    tgt_q = np.full(n_out, -1, np.int64)
    for t in range(T):
        st = stats[t]
        seq = 0
        nlive = 0
        last_row = -1
        for p in range(n_in):
            i = order[p]
            c = counts[t, i]
            if c > 0:
                for f in range(fan_ptr[i], fan_ptr[i + 1]):
                    o = fan_tgt[f]
                    q = tgt_q[o]
                    if q < 0:
                        if nlive == queues:  # evict the oldest-allocated live queue
                            old = 0
                            best = -1
                            for k in range(queues):
                                if qtarget[k] >= 0 and (best < 0 or qseq[k] < best):
                                    best = qseq[k]
                                    old = k
                            row = qtarget[old]
                            if qcount[old] > 0:  # a queue just flushed full holds nothing: freed, no flush
                                absorb_flush[t, p] += _flush_py(
                                    old,
                                    row,
                                    last_row,
                                    qcount,
                                    qhist,
                                    nway,
                                    exact,
                                    table,
                                    ways,
                                    forward,
                                    hazard,
                                    st,
                                )
                                last_row = row
                            st[EVICTIONS] += 1
                            tgt_q[row] = -1
                            qtarget[old] = -1
                            nlive -= 1
                        for k in range(queues):  # a free queue
                            if qtarget[k] < 0:
                                q = k
                                break
                        qtarget[q] = o
                        qcount[q] = 0
                        qseq[q] = seq
                        seq += 1
                        tgt_q[o] = q
                        nlive += 1
                        st[ALLOCS] += 1
                        if nlive > st[PEAK_LIVE]:
                            st[PEAK_LIVE] = nlive
                    # write the record's c spikes; a queue that fills up is flushed (and stays allocated)
                    left = c
                    base = 0
                    if exact:
                        base = chan_ptr[t, i]
                    k0 = fan_kofs[f] * cin
                    while left > 0:
                        take = depth - qcount[q]
                        if take > left:
                            take = left
                        if exact:
                            for s in range(take):
                                ch = chan_val[base + (c - left) + s]
                                qhist[q, (k0 + ch) % ways] += 1
                        qcount[q] += take
                        left -= take
                        if qcount[q] == depth:
                            absorb_flush[t, p] += _flush_py(
                                q, o, last_row, qcount, qhist, nway, exact, table, ways, forward, hazard, st
                            )
                            st[FULL] += 1
                            last_row = o
            # targets whose receptive field is now complete: final flush, release the queue
            for r in range(rel_ptr[p], rel_ptr[p + 1]):
                o = rel_tgt[r]
                q = tgt_q[o]
                if q >= 0:
                    m = qcount[q]
                    if m > 0:
                        final_cycles[t, o] = _flush_py(
                            q, o, last_row, qcount, qhist, nway, exact, table, ways, forward, hazard, st
                        )
                        final_spikes[t, o] = m
                        st[FINALS] += 1
                        last_row = o
                    qtarget[q] = -1
                    tgt_q[o] = -1
                    nlive -= 1
        if nlive != 0:  # every target is released by the end of the step (deferred ones after the last input)
            raise ValueError(_RELEASED_EARLY)
    return 0


Kernel = Callable[..., int]  # _simulate_py's signature

_C_MODULE = "elsa_tlm.hw._ibuf_kernel"  # built from _ibuf_kernel.c by setup.py
_C_SOURCE = Path(__file__).with_name("_ibuf_kernel.c")


def _load_c() -> Kernel | None:
    """The C kernel built by the install, called through ctypes; None if it was not built, or (a clone whose
    _ibuf_kernel.c changed since ``pip install -e .``) if it is stale."""
    lib = load_c_library(_C_MODULE, _C_SOURCE, "ibuf_source_sha256", "the slower fallback")
    if lib is None:
        return None
    i64, b = ctypes.c_int64, ctypes.c_int
    ints, reals = np.ctypeslib.ndpointer(np.int64, flags="C"), np.ctypeslib.ndpointer(np.float64, flags="C")
    out_ints = np.ctypeslib.ndpointer(np.int64, flags="C,W")
    out_reals = np.ctypeslib.ndpointer(np.float64, flags="C,W")
    fn = lib.ibuf_simulate
    fn.restype = i64
    fn.argtypes = [i64, i64] + [ints] * 7 + [i64] * 4 + [b, reals, b, ints, ints, i64, b, i64]
    fn.argtypes += [out_reals, out_reals, out_ints, out_ints]

    def simulate_c(counts: np.ndarray, *args: object) -> int:
        """_simulate_py's call, run by ibuf_simulate (counts' shape passed first: the C side sizes by it)."""
        rc = fn(counts.shape[0], counts.shape[1], counts, *args)
        if rc == -2:
            raise ValueError(_RELEASED_EARLY)
        if rc != 0:
            raise MemoryError("input-buffer kernel: out of memory")
        return 0

    return simulate_c


def _numba_kernel() -> Kernel:
    """_simulate_py compiled by numba (cached on disk), its _flush_py calls bound to a compiled _flush_py."""
    from numba import njit

    ref = _simulate_py
    flush = njit(cache=True)(_flush_py)
    code = types.FunctionType(ref.__code__, {**ref.__globals__, "_flush_py": flush}, ref.__name__)
    return njit(cache=True)(code)


@lru_cache(maxsize=1)
def kernel() -> tuple[str, Kernel]:
    """The engine of the queue model and its name: ``c`` (the installed extension), else ``numba`` (numba
    imported only now), else ``python``; chosen once per process, all bit-identical."""
    c = _load_c()
    if c is not None:
        return "c", c
    try:
        return "numba", _numba_kernel()
    except ImportError:
        return "python", _simulate_py


@dataclass
class BufferResult:
    """What the input buffer does with one layer's spike stream on one core (all steps)."""

    absorb_flush: np.ndarray  # (T, n_in) float: flush cycles triggered while absorbing input spine i
    final_cycles: np.ndarray  # (T, n_out) float: cycles of target o's final flush (0: nothing queued)
    final_spikes: np.ndarray  # (T, n_out) int: spikes in that flush
    per_step: np.ndarray  # (T, N_STATS) int: the statistics named by the column constants above

    @property
    def flushes(self) -> int:
        return int(self.per_step[:, FLUSHES].sum())

    @property
    def spikes(self) -> int:
        return int(self.per_step[:, SPIKES].sum())

    @property
    def evictions(self) -> int:
        return int(self.per_step[:, EVICTIONS].sum())

    @property
    def membrane_rmw(self) -> int:
        """Membrane row read-modify-writes (per PE, of the rows the mini-batches touch)."""
        return int(self.per_step[:, MEMBRANE_RMW].sum())

    @property
    def mean_spikes_per_flush(self) -> float:
        f = self.flushes
        return self.spikes / f if f else 0.0


def _check_stream(
    order: np.ndarray,
    fan_ptr: np.ndarray,
    fan_tgt: np.ndarray,
    fan_kofs: np.ndarray,
    release_after: np.ndarray,
    n_in: int,
    n_out: int,
    spiking: np.ndarray,
) -> None:
    """Refuse a stream that would index outside its arrays (the compiled kernels do not check bounds), or
    that writes spikes to a target after its release. ``spiking`` (n_in,): inputs with a spike in any step."""
    bad = []
    if order.shape != (n_in,) or (n_in and not (order.min() >= 0 and order.max() < n_in)):
        bad.append(f"order must hold {n_in} input positions in [0, {n_in})")
    if fan_ptr.shape != (n_in + 1,) or fan_ptr.min() < 0 or fan_ptr.max() > min(fan_tgt.size, fan_kofs.size):
        bad.append(f"fan_ptr must have {n_in + 1} offsets into fan_tgt and fan_kofs")
    elif (used := fan_tgt[: fan_ptr.max()]).size and not (used.min() >= 0 and used.max() < n_out):
        bad.append(f"fan_tgt must hold targets in [0, {n_out})")
    if release_after.shape != (n_out,):
        bad.append(f"release_after must have {n_out} entries (one per target)")
    if bad:
        raise ValueError("simulate_buffer: " + "; ".join(bad))
    # no spike may reach a target after its release (its queue would be reallocated and the row fired twice):
    # every input position that feeds a target with spikes comes no later than the target's release position
    spans = np.diff(fan_ptr)
    if (spans < 0).any():
        raise ValueError("simulate_buffer: fan_ptr must not decrease")
    pos = np.empty(n_in, dtype=np.int64)
    pos[order] = np.arange(n_in)
    src = np.repeat(np.arange(n_in), spans)
    tgt = fan_tgt[fan_ptr[0] : fan_ptr[-1]] if n_in else fan_tgt[:0]
    live = spiking[src] if src.size else src.astype(bool)
    if live.any() and (pos[src[live]] > release_after[tgt[live]]).any():
        raise ValueError(f"simulate_buffer: {_RELEASED_EARLY}")


def simulate_buffer(
    counts: np.ndarray,
    order: np.ndarray,
    fan_ptr: np.ndarray,
    fan_tgt: np.ndarray,
    fan_kofs: np.ndarray,
    release_after: np.ndarray,
    n_out: int,
    queues: int,
    depth: int,
    ways: int,
    hazard: int,
    channels: list[np.ndarray] | None = None,
    cin: int = 1,
    weight_buffer: str = "nway",
    raw_hazard: str = "forward",
) -> BufferResult:
    """Run the queue model over every step of one layer's input stream.

    ``counts`` (T, n_in): spikes per input spine; ``order``: absorption order of the input spines;
    ``fan_*``: CSR of each input spine's targets and the kernel offset of each pair; ``release_after`` (n_out,):
    the position in ``order`` after which each target is released, in release order (targets released at
    the same position keep their order in the argument); ``channels``: per step a (n_in,) object array or
    list of channel arrays of each input spine's spikes (exact bank conflicts of a banked buffer), or None
    (expected). ``weight_buffer``: ``nway`` | ``banked``; ``raw_hazard``: ``forward`` | ``stall``.
    """
    if weight_buffer not in WEIGHT_BUFFERS:
        raise ValueError(f"weight_buffer must be one of {WEIGHT_BUFFERS}, got {weight_buffer!r}")
    if raw_hazard not in RAW_HAZARDS:
        raise ValueError(f"raw_hazard must be one of {RAW_HAZARDS}, got {raw_hazard!r}")
    if min(queues, depth, ways) < 1:
        raise ValueError(f"queues, depth and ways must be >= 1 (got {queues}, {depth}, {ways})")
    T, n_in = counts.shape
    counts = np.ascontiguousarray(counts, dtype=np.int64)
    order, fan_ptr, fan_tgt, fan_kofs = (
        np.ascontiguousarray(a, dtype=np.int64) for a in (order, fan_ptr, fan_tgt, fan_kofs)
    )
    release_after = np.asarray(release_after)
    _check_stream(order, fan_ptr, fan_tgt, fan_kofs, release_after, n_in, n_out, (counts > 0).any(axis=0))
    rel_order = np.argsort(release_after, kind="stable")
    rel_pos = release_after[rel_order]
    rel_ptr = np.searchsorted(rel_pos, np.arange(n_in + 1), side="left").astype(np.int64)
    rel_ptr[-1] = n_out  # deferred targets (released after the last position) are in the last slot
    nway = weight_buffer == "nway"
    # a mini-batch holds at most min(depth, ways) rows; the table covers every index the kernel can use
    table = np.zeros(1) if nway else expected_bank_cycles(max(depth, ways), ways)
    exact = channels is not None and not nway  # an N-way buffer has no bank conflicts: channels do not matter
    if exact:
        assert channels is not None
        chan_ptr = np.zeros((T, n_in + 1), np.int64)
        vals = []
        off = 0
        for t in range(T):
            for i in range(n_in):
                ch = np.asarray(channels[t][i], dtype=np.int64)
                if ch.size != counts[t, i]:
                    raise ValueError(f"step {t} spine {i}: {ch.size} channels for {counts[t, i]} spikes")
                chan_ptr[t, i] = off
                vals.append(ch)
                off += ch.size
            chan_ptr[t, n_in] = off
        chan_val = np.concatenate(vals) if vals else np.zeros(0, np.int64)
    else:
        chan_ptr = np.zeros((1, 1), np.int64)
        chan_val = np.zeros(1, np.int64)
    absorb_flush = np.zeros((T, n_in))
    final_cycles = np.zeros((T, n_out))
    final_spikes = np.zeros((T, n_out), np.int64)
    stats = np.zeros((T, N_STATS), np.int64)
    kernel()[1](
        counts,
        order,
        fan_ptr,
        fan_tgt,
        fan_kofs,
        rel_ptr,
        np.ascontiguousarray(rel_order, dtype=np.int64),
        n_out,
        queues,
        depth,
        ways,
        nway,
        table,
        exact,
        chan_ptr,
        chan_val,
        cin,
        raw_hazard == "forward",
        hazard,
        absorb_flush,
        final_cycles,
        final_spikes,
        stats,
    )
    return BufferResult(absorb_flush, final_cycles, final_spikes, stats)
