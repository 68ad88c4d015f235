"""The PE input spike buffer: per-target queues whose flushes are the mini-batches of the Gustavson product.

ELSA_BRIEF §3: expanded input spikes (after im2col) are written into the PE's input buffer, ``pe.input_queues``
queues of ``pe.input_queue_depth`` entries. A live queue belongs to one *target* (output pixel = membrane row),
found through a lookup table. A spike whose target has no queue takes a free queue; when every queue is live,
the oldest-allocated queue is evicted (flushed) first. A queue that reaches its depth is flushed (it stays
allocated to its target). When a target's receptive field is complete it is released: what is left in its
queue is flushed (the *final* flush) and the row fires; the queue is freed. Whatever is left at the end of a
step has been released by then (deferred outputs are released after the step's last input).

A flush of m spikes reads their m weight rows from the N-way weight buffer (``pe.weight_ways`` single-ported
banks, weight row r in bank r mod N): it takes as many cycles as the most loaded bank holds rows. With
functional activity the rows are known exactly (channel of each spike and kernel offset of the target); with
recorded counts the channels are unknown and a flush costs the expected maximum bank load of m rows drawn
uniformly over N banks (:func:`expected_bank_cycles`). A flush that hits the same membrane row as the flush
just before it waits for that row's write-back (read-after-write hazard, ``hazard`` cycles).

The buffer is simulated once per layer and core share (the PEs of a core see the same spike stream), per time
step, over the stream of (input spine, target) records in the order the spines are absorbed: one record per
target of each input spine that carries spikes. The kernel is compiled with numba when it is available (the
same code runs as plain Python otherwise, e.g. in tests of tiny layers).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

try:  # numba compiles the sequential queue kernel (≈10⁷ records for ResNet-50 at T = 16)
    from numba import njit
except ImportError:  # pragma: no cover - the pure-Python path is the same code

    def njit(*args, **kwargs):  # type: ignore[no-redef]
        def wrap(f):
            return f

        return wrap(args[0]) if args and callable(args[0]) else wrap


# per-step statistics, columns of BufferResult.per_step: mini-batches (a flush of m spikes is ceil(m / ways) of
# them), full-queue flushes, evictions, final flushes, spikes flushed, queue allocations, peak live queues,
# read-after-write hazards
FLUSHES, FULL, EVICTIONS, FINALS, SPIKES, ALLOCS, PEAK_LIVE, HAZARDS = range(8)
N_STATS = 8


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


@njit(cache=True)
def _flush_cost(q, qcount, qhist, exact, table, ways):
    """Cycles to flush queue q: its spikes go as mini-batches of at most ``ways`` weight rows; a mini-batch
    takes as many cycles as its most loaded bank has rows (exact), or the expected maximum (recorded)."""
    m = qcount[q]
    if m == 0:
        return 0.0
    if exact:
        mx = 0
        for b in range(ways):
            if qhist[q, b] > mx:
                mx = qhist[q, b]
            qhist[q, b] = 0
        lower = (m + ways - 1) // ways  # at least one cycle per mini-batch
        return float(mx if mx > lower else lower)
    full = m // ways
    return full * table[ways] + table[m - full * ways]


@njit(cache=True)
def _batches(m, ways):
    return (m + ways - 1) // ways


@njit(cache=True)
def _simulate(
    counts,  # (T, n_in) spikes per input spine
    order,  # (n_in,) absorption order of input spines
    fan_ptr,  # (n_in + 1,) CSR: targets of input spine i
    fan_tgt,  # targets
    fan_kofs,  # kernel offset of each (input, target) pair
    rel_ptr,  # (n_in + 1,) targets released after absorbing the input at position p (release order)
    rel_tgt,
    n_out,
    queues,
    depth,
    ways,
    table,  # expected cycles of a flush of m spikes (recorded counts)
    exact,  # bank ids from chan_* (functional activity)
    chan_ptr,  # (T, n_in + 1) CSR per step: channels of the spikes of input spine i
    chan_val,
    cin,
    hazard,
    absorb_flush,  # out (T, n_in) flush cycles triggered while absorbing the input at each position
    final_cycles,  # out (T, n_out) cycles of each target's final flush
    final_spikes,  # out (T, n_out) spikes in that flush
    stats,  # out (T, N_STATS)
):
    T = counts.shape[0]
    n_in = order.shape[0]
    qtarget = np.full(queues, -1, np.int64)
    qcount = np.zeros(queues, np.int64)
    qseq = np.zeros(queues, np.int64)
    qhist = np.zeros((queues, ways), np.int64)
    tgt_q = np.full(n_out, -1, np.int64)
    for t in range(T):
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
                            cyc = _flush_cost(old, qcount, qhist, exact, table, ways)
                            if qtarget[old] == last_row:
                                cyc += hazard
                                stats[t, 7] += 1
                            absorb_flush[t, p] += cyc
                            stats[t, 0] += _batches(qcount[old], ways)
                            stats[t, 2] += 1
                            stats[t, 4] += qcount[old]
                            last_row = qtarget[old]
                            tgt_q[qtarget[old]] = -1
                            qtarget[old] = -1
                            qcount[old] = 0
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
                        stats[t, 5] += 1
                        if nlive > stats[t, 6]:
                            stats[t, 6] = nlive
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
                            cyc = _flush_cost(q, qcount, qhist, exact, table, ways)
                            if o == last_row:
                                cyc += hazard
                                stats[t, 7] += 1
                            absorb_flush[t, p] += cyc
                            stats[t, 0] += _batches(qcount[q], ways)
                            stats[t, 1] += 1
                            stats[t, 4] += qcount[q]
                            last_row = o
                            qcount[q] = 0
            # targets whose receptive field is now complete: final flush, release the queue
            for r in range(rel_ptr[p], rel_ptr[p + 1]):
                o = rel_tgt[r]
                q = tgt_q[o]
                if q >= 0:
                    m = qcount[q]
                    if m > 0:
                        cyc = _flush_cost(q, qcount, qhist, exact, table, ways)
                        if o == last_row:
                            cyc += hazard
                            stats[t, 7] += 1
                        final_cycles[t, o] = cyc
                        final_spikes[t, o] = m
                        stats[t, 0] += _batches(m, ways)
                        stats[t, 3] += 1
                        stats[t, 4] += m
                        last_row = o
                    qtarget[q] = -1
                    qcount[q] = 0
                    tgt_q[o] = -1
                    nlive -= 1
        # every target is released by the end of the step (deferred ones after the last input)
    return 0


@dataclass
class BufferResult:
    """What the input buffer does with one layer's spike stream on one core (all steps)."""

    absorb_flush: np.ndarray  # (T, n_in) float: flush cycles triggered while absorbing input spine i
    final_cycles: np.ndarray  # (T, n_out) float: cycles of target o's final flush (0: nothing queued)
    final_spikes: np.ndarray  # (T, n_out) int: spikes in that flush
    per_step: (
        np.ndarray
    )  # (T, N_STATS) int: flushes, full, evictions, finals, spikes, allocations, peak, hazards

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
    def mean_spikes_per_flush(self) -> float:
        f = self.flushes
        return self.spikes / f if f else 0.0


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
) -> BufferResult:
    """Run the queue model over every step of one layer's input stream.

    ``counts`` (T, n_in): spikes per input spine; ``order``: absorption order of the input spines;
    ``fan_*``: CSR of each input spine's targets and the kernel offset of each pair; ``release_after`` (n_out,):
    the position in ``order`` after which each target is released, in release order (targets released at
    the same position keep their order in the argument); ``channels``: per step a (n_in,) object array or
    list of channel arrays of each input spine's spikes (exact bank conflicts), or None (expected).
    """
    T, n_in = counts.shape
    counts = np.ascontiguousarray(counts, dtype=np.int64)
    rel_order = np.argsort(release_after, kind="stable")
    rel_pos = release_after[rel_order]
    rel_ptr = np.searchsorted(rel_pos, np.arange(n_in + 1), side="left").astype(np.int64)
    rel_ptr[-1] = n_out  # deferred targets (released after the last position) are in the last slot
    table = expected_bank_cycles(depth, ways)
    exact = channels is not None
    if exact:
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
    _simulate(
        counts,
        np.ascontiguousarray(order, dtype=np.int64),
        np.ascontiguousarray(fan_ptr, dtype=np.int64),
        np.ascontiguousarray(fan_tgt, dtype=np.int64),
        np.ascontiguousarray(fan_kofs, dtype=np.int64),
        rel_ptr,
        np.ascontiguousarray(rel_order, dtype=np.int64),
        n_out,
        queues,
        depth,
        ways,
        table,
        exact,
        chan_ptr,
        chan_val,
        cin,
        hazard,
        absorb_flush,
        final_cycles,
        final_spikes,
        stats,
    )
    return BufferResult(absorb_flush, final_cycles, final_spikes, stats)
