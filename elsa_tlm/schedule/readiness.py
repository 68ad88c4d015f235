"""Readiness: which of a layer slice's output spines may fire, given the input spines that have arrived.

ELSA's spine-wise pipeline (ELSA_BRIEF §2) starts an output spine as soon as its receptive field is in. The
model keeps this in *positions*: a slice absorbs its input spines in its producer's emission order (the
absorption order), and an output spine is *released* once every input position up to its release position is
complete (all parts in: every producer slice that delivers that spine, the skip and operand paths included).
So readiness is a prefix counter per step and a table ``rel_count[P]`` (outputs released once P positions are
complete), not per-spine bookkeeping.

Before time starts, :func:`plan_orders` derives every layer's absorption, release and emission orders from the
schedule's visiting order and the layers' windows, :func:`slice_release` a slice's release table,
:func:`emission` what it emits once F outputs are fired (through a fused pool), and :func:`producer_links` how
each producer's trains complete its input positions. During the run a slice's :class:`Readiness` advances the
prefixes as parts are absorbed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from elsa_tlm.schedule.orders import Windows, prefix_sums, visit_order
from elsa_tlm.transfer import Train
from elsa_tlm.workload.graph import INPUT


@dataclass
class ProducerLink:
    """How one producer layer's trains complete this slice's input spines.

    Trains carry ranges of their producer slice's emission order. ``posmaps[k]`` maps producer slice k's
    emission positions to this slice's absorption positions (None: the same order, the fast path);
    ``need``: parts per absorption position this producer delivers (its slices that emit that spine);
    ``flatten``: the producer's spines together form this slice's single input spine; ``skip_ops[k]``
    (skip links): cumulative residual-unit cycles over producer slice k's emission positions, (T, n + 1).
    """

    name: str
    need: np.ndarray  # (n_in,)
    flatten: bool
    skip: bool  # taken by the router's residual unit (no PE time)
    posmaps: list[np.ndarray | None]
    skip_ops: list[np.ndarray] | None = None

    def ops(self, train: Train) -> int:
        """Residual-unit cycles of a skip train: ceil(spikes / 16) per spine it completes."""
        if self.skip_ops is None:
            return 0
        item = self.skip_ops[train.src_slice].item
        return sum(item(t, hi) - item(t, lo) for t, lo, hi in train.items)


class Readiness:
    """The readiness state of one slice: per step, the parts each input position still waits for and the
    complete prefix of the absorption order; a spiking softmax also notes when each step's first token was
    absorbed and when its last one completed the step (the softmax stall)."""

    __slots__ = ("T", "n_in", "missing", "prefix", "rel_count", "softmax", "stall_from", "stall_to")

    def __init__(self, T: int, n_in: int, need: np.ndarray, rel_count: list[int], softmax: bool) -> None:
        self.T, self.n_in, self.rel_count, self.softmax = T, n_in, rel_count, softmax
        # per step: parts each input position waits for
        row: list[int] = need.tolist()
        self.missing: list[list[int]] = [row.copy() for _ in range(T)]
        self.prefix = [0] * T  # per step: input positions complete in absorption order
        self.stall_from = np.full(T, -1, dtype=np.int64)
        self.stall_to = np.full(T, -1, dtype=np.int64)

    def released(self, t: int) -> int:
        """Outputs of step ``t`` released so far (release order)."""
        return self.rel_count[self.prefix[t]]

    def complete(self, link: ProducerLink, items: list[tuple[int, int, int]], src: int, now: int) -> None:
        """Parts of input spines absorbed at cycle ``now``: advance each step's complete prefix (plain lists: a
        part touches a few positions, and the prefix passes each position once per step)."""
        posmap = link.posmaps[src]
        n = self.n_in
        for t, lo, hi in items:
            mi = self.missing[t]
            if link.flatten:
                mi[0] = mi[0] - (hi - lo)
                first = 0
            elif posmap is None:
                for q in range(lo, hi):
                    mi[q] = mi[q] - 1  # hot-path rule 2
                first = lo
            else:
                pos: list[int] = posmap[lo:hi].tolist()
                for q in pos:
                    mi[q] = mi[q] - 1
                first = min(pos)
            p = self.prefix[t]
            if first > p:
                continue  # the prefix still waits for an earlier position
            while p < n and mi[p] == 0:
                p += 1
            self.prefix[t] = p
            if self.softmax:
                if self.stall_from[t] < 0:
                    self.stall_from[t] = now
                if p == n and self.stall_to[t] < 0:
                    self.stall_to[t] = now

    def all_in(self) -> bool:
        """Every input position of every step is complete."""
        return all(p == self.n_in for p in self.prefix)


# ---------------------------------------------------------------------------------------------- planning
@dataclass
class Orders:
    """Per layer: the absorption order of its input spines (its producer's emission order), its windows, its
    outputs in release order, the fused pool's windows, and its emission order."""

    in_order: dict[str, np.ndarray]
    windows: dict[str, Windows]
    release: dict[str, np.ndarray]
    pools: dict[str, Windows | None]
    emit_order: dict[str, np.ndarray]


def plan_orders(wl: Any, order: str, defer_padding: bool) -> Orders:
    """Every layer's orders, from the schedule's visiting order of the input image (``schedule.order``)."""
    h, w = wl.layers[0].in_hw
    emit_order: dict[str, np.ndarray] = {INPUT: visit_order(h, w, order)}
    in_order: dict[str, np.ndarray] = {}
    windows: dict[str, Windows] = {}
    pools: dict[str, Windows | None] = {}
    release: dict[str, np.ndarray] = {}
    for layer in wl.layers:
        w = Windows(layer.in_hw, layer.out_hw, layer.kernel, layer.stride, layer.padding, defer_padding)
        if layer.softmax:  # spiking softmax needs every Q and K token of the step: the pipeline stalls here
            w.deferred[:] = True
        o = emit_order[layer.main]
        if o.size != layer.n_in:  # flatten: one input spine
            o = np.arange(layer.n_in)
        in_order[layer.name] = o
        windows[layer.name] = w
        release[layer.name] = w.release_order(o)
        pools[layer.name] = None
        emit_order[layer.name] = release[layer.name]
        if layer.out_pool is not None:
            p = layer.out_pool
            pw = Windows(layer.out_hw, p.out_hw, p.kernel, p.stride, p.padding, False)
            pools[layer.name] = pw
            emit_order[layer.name] = pw.release_order(release[layer.name])
    return Orders(in_order, windows, release, pools, emit_order)


def slice_release(release_after: np.ndarray, targets: np.ndarray, n_in: int) -> tuple[np.ndarray, np.ndarray]:
    """A slice's outputs in release order (local indices) and ``rel_count`` (n_in + 1): outputs released once
    a prefix of P input positions is complete. ``release_after[o]``: the input position output o waits for."""
    ra = release_after[targets]
    rel_local = np.lexsort((np.arange(targets.size), ra))
    rel_count = np.append(np.searchsorted(np.sort(ra), np.arange(n_in), side="left"), targets.size)
    return rel_local, rel_count


def emission(
    layer: Any, pool: Windows | None, targets: np.ndarray, rel_local: np.ndarray, s: Any
) -> tuple[np.ndarray, np.ndarray]:
    """The spines a slice emits, in emission order, and how many are emitted once F outputs have fired.

    Without a pool: its outputs in release order. With a fused pool: a pooled spine is emitted once its
    window's outputs have fired. A row band emits the pooled spines whose window's last row is in the band,
    once the band's own outputs in the window have fired (an overlapping pool window shares one row with
    the band above: that row is taken as fired with the band's).
    """
    n = targets.size
    if pool is None:
        return targets[rel_local], np.arange(n + 1)
    rank = np.full(layer.n_out, -1, dtype=np.int64)
    rank[targets[rel_local]] = np.arange(n)
    last = np.full(pool.size.size, -1, dtype=np.int64)  # latest-firing output of each pooled window
    np.maximum.at(last, pool.pair_out, rank[pool.pair_in])
    if s.is_band:
        ow = layer.out_hw[1]
        last_row = np.zeros(pool.size.size, dtype=np.int64)
        np.maximum.at(last_row, pool.pair_out, pool.pair_in // ow)
        mine = (last_row >= s.row_lo) & (last_row < s.row_hi)
    else:
        mine = np.ones(pool.size.size, dtype=bool)
    ids = np.flatnonzero(mine)
    ids = ids[np.lexsort((ids, last[ids]))]
    counts = np.searchsorted(np.sort(last[ids]), np.arange(n), side="left")
    return ids, np.append(counts, ids.size)


def producer_links(
    layer: Any,
    wl: Any,
    mapping: Any,
    in_order: np.ndarray,
    emit_ids: dict[tuple[str, int], np.ndarray],
    spikes_of: dict[tuple[str, int], np.ndarray],
    accumulator_lanes: int,
) -> list[ProducerLink]:
    """How each producer (main input, operands, skips) of ``layer`` completes its input positions, from the
    spines each producer slice emits (``emit_ids``) and, for skips, the residual unit's cycles per spine."""
    pos_in = np.empty(in_order.size, dtype=np.int64)
    pos_in[in_order] = np.arange(in_order.size)
    producers = []
    roles = (
        [("main", layer.main)] + [("operand", k) for k in layer.operands] + [("skip", k) for k in layer.skips]
    )
    for role, pname in roles:
        if pname == INPUT:
            continue
        p = wl.by_name[pname]
        flatten = p.n_emit != layer.n_in
        ids = [emit_ids[(pname, ps.index)] for ps in mapping.by_layer[pname]]
        need = np.zeros(layer.n_in, dtype=np.int64)
        posmaps: list[np.ndarray | None] = []
        for e in ids:
            if flatten:
                need[0] += e.size
                posmaps.append(None)
                continue
            pm = pos_in[e]  # producer slice emission position -> absorption position
            need += np.bincount(pm, minlength=layer.n_in)
            posmaps.append(None if np.array_equal(pm, np.arange(layer.n_in)) else pm)
        skip_ops = None
        if role == "skip":  # the residual unit adds each spine's skip spikes 16 per cycle
            skip_ops = [
                prefix_sums(-(-spikes_of[(pname, ps.index)] // accumulator_lanes))
                for ps in mapping.by_layer[pname]
            ]
        producers.append(ProducerLink(pname, need, flatten, role == "skip", posmaps, skip_ops))
    return producers
