"""Neural core: its PEs, driven in lock-step, divided into lane groups, one per co-mapped layer slice.

The core owns its :class:`~elsa_tlm.hw.pe.ProcessingElement` s (their buffers and column tiles). Its broadcast
bus feeds every spike to all PEs in the same cycle, so the PEs move in lock-step (:mod:`elsa_tlm.hw.pe`) and one
actor per lane group, not per PE, is exact for this bus. ELSA_BRIEF §3: a core holding P layers divides each
PE's neuron circuits and memories into P groups, each running its layer; the groups compute at once
(:class:`LaneGroup`; ``pe.layer_groups = "time_shared"`` is the what-if where they take turns). What the groups
share is the router's: the im2col write port (:mod:`elsa_tlm.hw.im2col`), the residual unit
(:mod:`elsa_tlm.hw.residual`), the network interface (:mod:`elsa_tlm.hw.ni`) and its input FIFOs.

A transaction of a group serves one slice:

1. **absorb** the input spines that have arrived for the slice (in arrival order, at most ``run.batch_items``
   spines): im2col writes their spikes into the input buffer, which flushes mini-batches into the membranes
   (cycles from :mod:`elsa_tlm.hw.pe`); each train's FIFO credits go back for the cycle its spikes are in;
2. **fire** the output spines whose receptive field is complete (at most ``run.batch_items``, oldest step
   first), interleaved with the absorption as the PEs do it: released outputs fire right after the train that
   released them (the final flush, whose write-back goes through the fire unit);
3. **emit** the fired spines through the fused pool and the schedule policy's gate (``spine``: at once;
   ``tbt``: when the layer's step is complete; ``lbl``: when all steps are): a train leaves the cycle its last
   spine is fired.

A slice whose outputs the network interface cannot take (output buffer full) is *blocked*: it stops firing but
keeps absorbing. With nothing to do a group waits for an arrival or for output space: *stalled on output* when
a slice is blocked, *starved on input* otherwise.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Final

import numpy as np

from elsa_tlm.hw.im2col import Im2colUnit
from elsa_tlm.hw.ni import FlitGenerator, NetworkInterface
from elsa_tlm.hw.pe import ProcessingElement
from elsa_tlm.hw.report import ActionSink
from elsa_tlm.hw.residual import ResidualUnit
from elsa_tlm.kernel import Kernel, Reusable
from elsa_tlm.schedule.orders import prefix_sums
from elsa_tlm.schedule.policy import EmissionPolicy
from elsa_tlm.schedule.readiness import ProducerLink, Readiness
from elsa_tlm.transfer import Train


@dataclass
class SliceStats:
    busy_cycles: int = 0
    first_finish: int = -1
    last_finish: int = -1
    packets_in: int = 0
    flits_in: int = 0
    packets_out: int = 0
    flits_out: int = 0
    transactions: int = 0
    step_done: list[int] = field(default_factory=list)


class _Part:
    """An arrived train's share of one slice's input, waiting to be absorbed."""

    __slots__ = ("items", "n", "cost", "write", "train", "link")

    def __init__(
        self,
        items: list[tuple[int, int, int]],
        n: int,
        cost: float,
        write: float,
        train: Train,
        link: ProducerLink,
    ) -> None:
        self.items = items  # (step, lo, hi): producer emission positions
        self.n = n  # spines in it
        self.cost = cost  # PE cycles to absorb it (im2col writes and forced flushes overlapped)
        self.write = write  # of those, the im2col unit's write cycles
        self.train = train
        self.link = link  # how its producer's trains complete this slice's input positions


class Work:
    """One transaction of a slice, as :meth:`LayerSlice.take` hands it to its lane group (a plain class, not
    a dataclass: compiled, its constructor is native)."""

    __slots__ = ("absorb", "write", "fire", "parts", "fires", "absorb_after", "write_after", "released_after")

    def __init__(
        self,
        absorb: float,
        write: float,
        fire: float,
        parts: list[_Part],
        fires: list[tuple[int, int, int]],
        absorb_after: list[float],
        write_after: list[float],
        released_after: list[int],
    ) -> None:
        self.absorb = absorb  # PE cycles of the absorbed parts
        # im2col write cycles of those parts (the unit is shared by the core's lane groups)
        self.write = write
        self.fire = fire  # PE cycles of the fired outputs (after the absorption)
        self.parts = parts
        self.fires = fires  # (step, f0, f1): outputs fired, in release order
        # the interleaving, per absorbed part k = 0 (none yet) .. n: cumulative PE and im2col cycles after
        # it, and how many outputs of the fired step are released after it
        self.absorb_after = absorb_after
        self.write_after = write_after
        self.released_after = released_after


# lane-group states the core integrates over time (Final: compiled, a constant, not a global looked up)
BUSY: Final = 0
STALLED: Final = 1
STARVED: Final = 2
_bisect_left: Final = bisect_left  # compiled, a C static: no globals look-up per output


@dataclass
class SliceSpec:
    """What a layer slice is, computed before time starts (:mod:`elsa_tlm.elaborate`): in *positions* (input
    spines in absorption order, outputs in release order, emitted spines in emission order)."""

    name: str
    layer: str
    node: int
    T: int
    n_in: int
    index: int  # slice index within its layer
    absorb_pos: np.ndarray  # (T, n_in) PE cycles to absorb each input position (whole spine)
    write_pos: np.ndarray  # (T, n_in) of those, the im2col unit's write cycles
    fire_rel: np.ndarray  # (T, n_out) cycles to fire each output, in release order
    rel_count: np.ndarray  # (n_in + 1,) outputs released once a prefix of P positions is complete
    emit_count: np.ndarray  # (n_out + 1,) spines emitted once F outputs are fired (pool), in order
    producers: list[ProducerLink]
    packets: np.ndarray  # (T, n_emit) per emission position
    flits: np.ndarray
    spikes: np.ndarray
    destinations: list[int]
    softmax: bool = False
    pe_share: list[float] = field(default_factory=list)  # per PE: fraction of a transaction it computes
    # what the router's units do for the slice, for their counts (owner: the layer): per step, the input
    # spikes the im2col unit expands and, first layer, the expanded events its multi-bit pixels add in the
    # accumulator (None: none); the PEs holding columns of the slice (an update arbiter each) and their
    # 16-column blocks
    step_spikes: np.ndarray | None = None  # (T,)
    step_events: np.ndarray | None = None  # (T,)
    active_pes: int = 0
    blocks: int = 0


def report_units(
    ledger: ActionSink, layer: str, spikes: int, spines: int, arbitrated: int, event_blocks: int
) -> None:
    """A slice's share of the router's units, into the energy ledger (owner ``layer``): im2col per spike
    expanded, order controller per spine ordered, update arbiters per spine per active PE, and the first
    layer's accumulator (one op adds 16 expanded events over one 16-column block)."""
    ledger.add("im2col", "spike", spikes, layer)
    ledger.add("order_controller", "spine", spines, layer)
    ledger.add("update_arbiter", "spine", arbitrated, layer)
    ledger.add("accumulator", "first_layer_op", event_blocks / 16, layer)


class LayerSlice:
    """The state of one layer slice on its core: readiness, queues of work, emission.

    Everything is kept in *positions*: input spines in the order they are absorbed (the producer's emission
    order), output spines in release order, emitted spines in emission order. An output spine is released
    once every input position up to its release position is complete (all parts in), so readiness and costs
    are prefix counters and cumulative sums, not per-spine bookkeeping.
    """

    def __init__(self, spec: SliceSpec, policy: EmissionPolicy, chunk_flits: int) -> None:
        self.name, self.layer, self.node, self.T, self.n_in = (
            spec.name,
            spec.layer,
            spec.node,
            spec.T,
            spec.n_in,
        )
        T, n_in = spec.T, spec.n_in
        self.index = spec.index  # slice index within its layer (trains carry it)
        self.n_out = spec.fire_rel.shape[1]
        self.n_emit = int(spec.emit_count[-1])
        # plain lists: read a few entries per transaction
        self.emit_count: list[int] = spec.emit_count.tolist()
        self.cum_fire = prefix_sums(spec.fire_rel)
        # per step: Python floats by index (no copy; typed Any: mypy reads memoryview items as int)
        self.rows_fire: list[Any] = [memoryview(r) for r in self.cum_fire]
        self.policy = policy
        producers = spec.producers
        self.producers = {p.name: p for p in producers}
        main = sum((p.need for p in producers if not p.skip), np.zeros(n_in, dtype=np.int64))
        # absorb cost of a main part: the whole spine's cost shared by the parts that deliver it
        self.absorb_pos = spec.absorb_pos / np.maximum(main, 1)[None, :]
        self.cum_absorb = prefix_sums(self.absorb_pos)
        self.write_pos = spec.write_pos / np.maximum(main, 1)[None, :]
        self.cum_write = prefix_sums(self.write_pos)
        self.rows_absorb: list[Any] = [memoryview(r) for r in self.cum_absorb]
        self.rows_write: list[Any] = [memoryview(r) for r in self.cum_write]
        need = sum((p.need for p in producers), np.zeros(n_in, dtype=np.int64))
        # which outputs are released: the schedule's readiness rule (prefixes of the absorption order)
        self.ready = Readiness(T, n_in, need, spec.rel_count.tolist(), spec.softmax)
        self.prefix, self.rel_count = self.ready.prefix, self.ready.rel_count
        self.parts: deque[_Part] = deque()
        self.fired = [0] * T  # per step: outputs fired (release order)
        self.emitted = [0] * T  # per step: spines emitted (emission order)
        self.fire_step = 0
        self.pending: list[tuple[int, int, int]] = []
        self.outbox: deque[Train] = deque()
        self.blocked = False
        # output layer: (first spine's cycle, last spine's cycle, steps) of each batch leaving the chip
        self.out_log: list[tuple[int, int, list[int]]] = []
        self.stats = SliceStats(step_done=[-1] * T)
        # the flit generator of the router's network interface: packetises the emitted spines into trains
        self.flitgen = FlitGenerator(
            spec.layer,
            spec.node,
            spec.index,
            spec.packets,
            spec.flits,
            spec.spikes,
            spec.destinations,
            chunk_flits,
        )
        self.destinations = spec.destinations
        self.first = not producers
        self.now = 0  # the cycle of the transaction being prepared (set by the core)
        self.softmax = spec.softmax  # a spiking softmax: the step waits for its every Q and K token
        self.stall_from, self.stall_to = self.ready.stall_from, self.ready.stall_to
        self.next_input = 0  # first layer: flat (step, position) of the next input spine
        self.n_total = T * n_in
        # first layer: flat input positions on chip (all of them unless an input port streams them in:
        # NeuralCore.admit_input, bound by chip.input_port)
        self.input_limit = self.n_total
        self.pe_share = spec.pe_share  # per PE of the core: fraction of a transaction its circuits compute
        # output layer: told once its last step has left (bound by the builder: the answer watch)
        self.on_answered: Callable[[LayerSlice], None] | None = None
        # the router's units' work for this slice, counted as the input spines of each step complete in
        # absorption order (:meth:`_ordered`): spines the order controller ordered, spines x active PEs the
        # update arbiters took; once a step's input is complete, the spikes the im2col unit expanded and,
        # first layer, the expanded events x 16-column blocks its pixels added in the accumulator (16 per op)
        self.step_spikes: list[int] = [0] * T if spec.step_spikes is None else spec.step_spikes.tolist()
        events = [0] * T if spec.step_events is None else spec.step_events.tolist()
        self.step_event_blocks: list[int] = [e * spec.blocks for e in events]
        self.active_pes = spec.active_pes
        self.counted = [0] * T  # per step: input positions counted (the complete prefix when last looked)
        self.im2col_spikes = 0
        self.ordered_spines = 0
        self.arbitrated_spines = 0
        self.event_blocks = 0

    # ------------------------------------------------------------------------------------------ inputs
    def is_skip(self, producer: str) -> bool:
        return self.producers[producer].skip

    def skip_ops(self, train: Train) -> int:
        return self.producers[train.producer].ops(train)

    def skip_added(self, train: Train) -> None:
        """The residual unit added a skip train: its spines' skip parts are complete."""
        self.ready.complete(self.producers[train.producer], train.items, train.src_slice, self.now)
        self._count_complete(train.items)

    def arrive(self, train: Train) -> bool:
        """A train from a producer arrived; returns True if it needs PE time (a main-path part). A skip
        train goes to the residual unit; the slice counts it in when the unit has added it."""
        link = self.producers[train.producer]
        st = self.stats
        st.packets_in += train.packets
        st.flits_in += train.flits
        if link.skip:
            return False
        if not train.items and self.done:  # a front overtaken by its tail (multipath routes): nothing left
            return False
        cost = write = 0.0
        n = 0
        posmap = link.posmaps[train.src_slice]
        rows_a, rows_w = self.rows_absorb, self.rows_write
        for t, lo, hi in train.items:
            n += hi - lo
            if link.flatten:
                cost += float(self.absorb_pos[t, 0]) * (hi - lo)
                write += float(self.write_pos[t, 0]) * (hi - lo)
            elif posmap is None:
                ra, rw = rows_a[t], rows_w[t]
                cost += ra[hi] - ra[lo]
                write += rw[hi] - rw[lo]
            else:
                cost += float(self.absorb_pos[t, posmap[lo:hi]].sum())
                write += float(self.write_pos[t, posmap[lo:hi]].sum())
        # an empty item list is the front of a spine longer than one FIFO: its spikes cost with its tail
        self.parts.append(_Part(train.items, n, cost, write, train, link))
        return True

    # ------------------------------------------------------------------------------------------ work
    def oldest_step(self) -> int:
        """The time step of the oldest work the slice has (input to absorb or outputs to fire)."""
        t = self.fire_step
        if self.first:
            return min(t, self.next_input // self.n_in)
        for p in self.parts:  # arrival order; an empty front part belongs with its tail
            if p.items:
                return min(t, p.items[0][0])
        return t

    def _released(self, t: int) -> int:
        return self.rel_count[self.prefix[t]]

    def has_work(self) -> bool:
        """Whether the slice has work for a transaction: released outputs to fire (unless blocked on output) or
        arrived input to absorb (the first layer: the next input spines of a step it may start)."""
        t = self.fire_step
        if t < self.T and not self.blocked and self.rel_count[self.prefix[t]] > self.fired[t]:
            return True
        if self.first:
            j = self.next_input
            return j < self.input_limit and j // self.n_in <= t
        return bool(self.parts)

    def take(self, limit: int) -> Work:
        """Work of one transaction: absorb up to ``limit`` arrived spines and fire up to ``limit`` released
        outputs of the oldest unfinished step, interleaved as the PEs do it: outputs already released fire
        first, then each part is absorbed and the outputs it releases fire right after it. Readiness is
        updated now; costs in cycles (:class:`Work` carries the interleaving)."""
        parts: list[_Part] = []
        ft = self.fire_step
        live = ft < self.T
        if self.first:
            j = self.next_input
            t = j // self.n_in
            if t <= ft and t < self.T and j < self.input_limit:
                lo = j - t * self.n_in
                hi = min(lo + limit, self.n_in, self.input_limit - t * self.n_in)
                # numpy, not a list comprehension: ~66 entries a transaction, 50 k transactions of a ResNet run
                ca, cw = self.cum_absorb[t], self.cum_write[t]
                acost = (ca[lo : hi + 1] - ca[lo]).tolist()
                awrite = (cw[lo : hi + 1] - cw[lo]).tolist()
                self.next_input = t * self.n_in + hi
                self.prefix[t] = hi
                self._ordered(t, lo, hi)
                if t == ft:
                    thr = self.rel_count[lo : hi + 1]
                else:
                    thr = [self.rel_count[self.prefix[ft]]] * len(acost)
            else:
                acost, awrite, thr = [0.0], [0.0], [self._released(ft) if live else 0]
        else:
            n = 0
            sa: float = 0.0  # cumulative PE and im2col cycles of the parts taken so far
            sw: float = 0.0
            acost, awrite = [0.0], [0.0]
            thr = [self._released(ft) if live else 0]
            budget = self.fired[ft] + limit if live else 0  # outputs this transaction may fire
            while self.parts and n < limit:
                head = self.parts[0]
                if head.items and head.items[0][0] > ft and thr[-1] >= budget and not self.blocked:
                    break  # the step's released rows fire before the next step's spikes are integrated
                p = self.parts.popleft()
                parts.append(p)
                sa += p.cost
                sw += p.write
                acost.append(sa)
                awrite.append(sw)
                n += p.n
                self.ready.complete(p.link, p.items, p.train.src_slice, self.now)
                self._count_complete(p.items)
                thr.append(self._released(ft) if live else 0)
        fires: list[tuple[int, int, int]] = []
        fire = 0.0
        if not self.blocked and live:
            f0 = self.fired[ft]
            f1 = min(f0 + limit, self._released(ft))
            if f1 > f0:
                rf = self.rows_fire[ft]
                fire = rf[f1] - rf[f0]
                self.fired[ft] = f1
                fires.append((ft, f0, f1))
                if f1 == self.n_out:
                    self.fire_step += 1
        return Work(acost[-1], awrite[-1], fire, parts, fires, acost, awrite, thr)

    def _count_complete(self, items: list[tuple[int, int, int]]) -> None:
        """After parts of ``items`` were completed: count the input positions that joined a step's complete
        prefix since it was last looked at."""
        prefix, counted = self.prefix, self.counted
        for t, _, _ in items:
            p, c = prefix[t], counted[t]
            if p > c:
                counted[t] = p
                self._ordered(t, c, p)

    def _ordered(self, t: int, a: int, b: int) -> None:
        """Input positions ``a`` .. ``b`` of step ``t`` are complete, in absorption order: the order controller
        orders each spine, every active PE's update arbiter takes it. With the step's last one, the im2col
        unit has expanded all of the step's spikes into the PE input buffers (the first layer's pixels are
        added in the accumulator)."""
        n = b - a
        self.ordered_spines += n
        self.arbitrated_spines += n * self.active_pes
        if b == self.n_in:
            self.im2col_spikes += self.step_spikes[t]
            self.event_blocks += self.step_event_blocks[t]

    def report(self, ledger: ActionSink) -> None:
        """The router's units' counts for this slice, into the energy ledger (owner: the layer)."""
        report_units(
            ledger,
            self.layer,
            self.im2col_spikes,
            self.ordered_spines,
            self.arbitrated_spines,
            self.event_blocks,
        )

    @property
    def done(self) -> bool:
        """Every output fired and sent, and every input absorbed (a row band may fire all its outputs
        before the spines it does not need have arrived; it still absorbs them and returns their credits)."""
        if self.fire_step < self.T or self.pending or self.outbox or self.parts:
            return False
        return self.first or all(p == self.n_in for p in self.prefix)

    # ------------------------------------------------------------------------------------------ emission
    def part_ends(self, w: Work, start: int, absorbed: list[float]) -> list[int]:
        """The cycle each absorbed part of ``w`` is in the PE input buffers: its absorption (``absorbed``:
        cycles after the transaction start, per part) plus the fires interleaved before it."""
        # math.ceil spelt out and index loops, not zip(..., strict=...): compiled, those are native calls
        if not w.fires:
            return [start + math.ceil(x - 1e-9) for x in absorbed[1:]]
        t, f0, f1 = w.fires[0]
        cf = self.rows_fire[t]
        c0: float = cf[f0]
        rel = w.released_after
        out = []
        for i in range(min(len(absorbed) - 1, len(rel))):
            x = absorbed[i + 1]
            r = rel[i]
            k = f0 if r < f0 else (f1 if r > f1 else r)  # outputs fired before the part: released before it
            ck: float = cf[k]
            out.append(start + math.ceil(x + ck - c0 - 1e-9))
        return out

    def finish(self, w: Work, start: int, absorbed: list[float]) -> list[tuple[int, list[Train]]]:
        """Fired outputs of ``w``: through the pool (emission count), gated by the policy, packetised into
        trains. The f-th output fired is complete once the parts up to the one that released it are absorbed
        (``absorbed``: cycles after ``start`` per part) and the outputs up to it are fired; a train leaves
        when its last spine is complete (the flit generator sends a spine as soon as it is fired, not at the
        end of the transaction). Returns ``(cycle, trains)`` in time order."""
        out: list[tuple[int, list[Train]]] = []
        thr = w.released_after
        for t, f0, f1 in w.fires:
            cf = self.rows_fire[t]
            c0: float = cf[f0]
            base = start - c0

            def at(f: int, cf: Any = cf, base: float = base) -> int:  # the f-th output of step t done
                cff: float = cf[f]
                return math.ceil(base + absorbed[_bisect_left(thr, f)] + cff - 1e-9)

            st = self.stats
            if st.first_finish < 0:
                st.first_finish = at(f0 + 1)
            st.last_finish = at(f1)
            e0, e1 = self.emitted[t], self.emit_count[f1]
            if e1 > e0:
                self.emitted[t] = e1
                if self.pending and self.pending[-1][0] == t and self.pending[-1][2] == e0:
                    self.pending[-1] = (t, self.pending[-1][1], e1)
                else:
                    self.pending.append((t, e0, e1))
            step_end = f1 == self.n_out
            if step_end and st.step_done[t] < 0:
                st.step_done[t] = at(f1)
            ready = self.policy.leave(t, step_end, self.T - 1, at, f1, self.emit_count)
            if ready is not None:
                out += self._packetise(ready)
        if self.on_answered is not None and self.fire_step >= self.T and not self.pending:
            self.on_answered(
                self
            )  # the output layer's last spines have their leave cycles: the answer is known
            self.on_answered = None
        return out

    def _packetise(self, ready: Callable[[int], int]) -> list[tuple[int, list[Train]]]:
        """Trains of the pending spines (the flit generator's); ``ready(e)``: the cycle emitted spine ``e`` is
        complete. The output layer's spines leave the chip instead: logged."""
        if not self.pending:
            return []
        items, self.pending = self.pending, []
        if not self.destinations:  # output layer: results leave the chip
            _, lo0, _ = items[0]
            _, _, hi1 = items[-1]
            self.out_log.append((ready(lo0), ready(hi1 - 1), [t for t, _, _ in items]))
            return []
        out = self.flitgen.trains(items, ready)
        self.stats.packets_out, self.stats.flits_out = self.flitgen.packets_out, self.flitgen.flits_out
        return out


class _Tx:
    """A lane group's transaction in flight: its slice and work, start, end, and its emissions (``(cycle,
    trains)``, the first ``k`` already sent)."""

    __slots__ = ("s", "w", "start", "end", "cycles", "emissions", "k")

    def __init__(
        self, s: LayerSlice, w: Work, start: int, cycles: int, emissions: list[tuple[int, list[Train]]]
    ) -> None:
        self.s, self.w, self.start, self.end, self.cycles = s, w, start, start + cycles, cycles
        self.emissions = emissions
        self.k = 0


class LaneGroup:
    """The neuron circuits, input-buffer queues and memories a core gives its layer slices.

    ``pe.layer_groups = "parallel"`` (ELSA_BRIEF §3): each co-mapped slice has a group of its own (its lane
    share of every PE, its queues, its macros) and the groups compute at once. ``"time_shared"`` (a what-if):
    one group holds every slice of the core and serves them one transaction at a time (round robin, or the
    oldest time step's work first: ``schedule.core_arbitration``). Either way a slice whose outputs the network
    interface cannot take is *blocked*: it stops firing but keeps absorbing. With nothing to do the group
    waits for an arrival or for output space: *stalled on output* when a slice is blocked, *starved on input*
    otherwise.

    A group is a server driven by callbacks, like the residual unit: a transaction is planned when it starts
    (its parts, fires, emission cycles and end), one timeout per emission point and one for its end; a poke
    (an arrival, output space) starts the next transaction at once when the group is idle. No process and no
    wake-up event: a run has as many events as transactions and emission points.
    """

    def __init__(self, core: NeuralCore, name: str, slices: list[LayerSlice], oldest_first: bool) -> None:
        self.core, self.name, self.slices = core, name, slices
        self.oldest_first = oldest_first
        self.rr = 0
        self.busy = self.stalled = self.starved = 0
        self.transactions = 0
        self.idle_since = -1  # the cycle the group went idle (-1: it is computing, or done)
        self.idle_blocked = False
        self.done = False
        self._tx: _Tx | None = None  # the transaction in flight
        # the group's one pending wake-up (next emission point or the end of its transaction), reused
        self.kernel = core.kernel
        self._tick = Reusable()
        self._cbs: list[Callable[[Any], None]] = [self._on_tick]
        self._wake_at(0)  # start at cycle 0

    def _wake_at(self, when: int) -> None:
        self._tick.callbacks = self._cbs
        self.kernel.at(when, self._tick)

    def poke(self) -> None:
        """Something the group may be waiting for happened (input arrived, output space freed)."""
        if self.idle_since < 0:
            return  # computing: it looks for work when its transaction ends
        now = self.kernel.now()
        t0, blocked = self.idle_since, self.idle_blocked
        self.idle_since = -1
        core = self.core
        core.account(now, STALLED if blocked else STARVED, -1)
        idle = now - t0
        if blocked:
            self.stalled += idle
        else:
            self.starved += idle
        if core.record is not None and idle:
            core.record(
                (core.node, self.name, "stalled on output" if blocked else "waiting for input", t0, now)
            )
        self._next()

    def _pick(self) -> LayerSlice | None:
        n = len(self.slices)
        if n == 1:
            s = self.slices[0]
            return s if s.has_work() else None
        if self.oldest_first:  # the slice with the oldest step's work; ties in turn
            best, key, pos = None, None, 0
            for k in range(n):
                s = self.slices[(self.rr + k) % n]
                if s.has_work():
                    st = s.oldest_step()
                    if key is None or st < key:
                        best, key, pos = s, st, k
            if best is not None:
                self.rr = (self.rr + pos + 1) % n
            return best
        for k in range(n):
            s = self.slices[(self.rr + k) % n]
            if s.has_work():
                self.rr = (self.rr + k + 1) % n
                return s
        return None

    def _on_tick(self, _ev: Any) -> None:
        if self._tx is None or self._advance():
            self._next()

    def _next(self) -> None:
        """Start transactions until one takes time (or the group goes idle)."""
        core = self.core
        while True:
            s = self._pick()
            if s is None:
                if all(x.done for x in self.slices):
                    self.done = True
                    core.settle()
                    return
                self.idle_blocked = any(x.blocked for x in self.slices)
                now = self.kernel.now()
                self.idle_since = now
                core.account(now, STALLED if self.idle_blocked else STARVED, +1)
                return
            start = self.kernel.now()
            s.now = start
            w = s.take(core.batch)
            # the im2col unit writes the parts' spikes (shared with the core's other groups) while the PEs
            # flush the mini-batches they force; outputs fire as the parts release them
            wait = core.im2col.reserve(start, w.write) if w.write > 0 else 0.0
            absorbed = w.absorb_after  # per part, from the start; the im2col unit binds only after a wait
            if wait > 0:  # a part's PE cycles cover its own writes; shared, the writes stretch by the wait
                f = 1.0 + wait / w.write
                wa = w.write_after
                assert len(wa) == len(absorbed)
                absorbed = [absorbed[i] if absorbed[i] >= f * wa[i] else f * wa[i] for i in range(len(wa))]
            total = absorbed[-1] + w.fire
            cycles = math.ceil(total - 1e-9) if total > 0 else 0
            if w.parts:  # a part's FIFO space frees once its spikes are in the PE input buffers
                ends = s.part_ends(w, start, absorbed)
                assert len(ends) == len(w.parts)
                for i, p in enumerate(w.parts):
                    core.release(p.train, ends[i])
            emissions = s.finish(w, start, absorbed) if w.fires else []
            if cycles:
                core.account(start, BUSY, +1)
            self._tx = _Tx(s, w, start, cycles, emissions)
            if not self._advance():
                return

    def _advance(self) -> bool:
        """Send the trains whose cycle has come; schedule the next emission or the end. True: it ended."""
        tx = self._tx
        assert tx is not None  # called with a transaction in flight
        s, emissions, k = tx.s, tx.emissions, tx.k
        now = self.kernel.now()
        n = len(emissions)
        while k < n and emissions[k][0] <= now:  # trains leave as their last spine is fired
            s.outbox.extend(emissions[k][1])
            self.core.drain(s)
            k += 1
        tx.k = k
        if k < n:
            self._wake_at(emissions[k][0])
            return False
        end = tx.end
        if end > now:
            self._wake_at(end)
            return False
        self._tx = None
        w, start, cycles = tx.w, tx.start, tx.cycles
        core = self.core
        if cycles:
            core.account(end, BUSY, -1)
        self.busy += cycles
        self.transactions += 1
        st = s.stats
        st.busy_cycles += cycles
        st.transactions += 1
        if core.record is not None and cycles:
            fires = w.fires
            if fires:
                step = fires[0][0]
            elif w.parts and w.parts[0].items:
                step = w.parts[0].items[0][0]
            else:
                step = 0
            fired = 0
            for _, a, b in fires:
                fired += b - a
            core.record((core.node, self.name, s.name, start, tx.end, step, fired))
        return True


class NeuralCore:
    """A neural core: its PEs (driven in lock-step, :mod:`elsa_tlm.hw.pe`) divided into lane groups, and what
    the groups share: the router's im2col unit (:mod:`elsa_tlm.hw.im2col`) and residual unit
    (:mod:`elsa_tlm.hw.residual`), the network interface (output buffer, flit generator) and the input FIFOs
    whose credits go back to the router.

    The core's broadcast bus feeds every spike to all PEs in the same cycle, so the PEs move in lock-step and
    one process per lane group, not per PE, is exact for this bus.
    """

    def __init__(
        self,
        kernel: Kernel,
        node: int,
        pes: list[ProcessingElement],
        slices: list[LayerSlice],
        ni: NetworkInterface,
        batch: int,
        record: Callable[[tuple], None] | None = None,
        oldest_first: bool = False,
        parallel: bool = True,
    ) -> None:
        self.kernel, self.node, self.slices, self.ni, self.batch = kernel, node, slices, ni, batch
        self.pes = pes
        self.record = record
        self.by_layer: dict[str, list[LayerSlice]] = {}
        for s in slices:
            for prod in s.producers:
                self.by_layer.setdefault(prod, []).append(s)
        # core-level time: busy while any lane group computes; otherwise stalled on output while any group
        # waits for output space, else starved on input while any group waits for input
        self.busy = self.stalled = self.starved = 0
        self.at_answer: tuple[int, int, int] | None = None  # (busy, stalled, starved) when the answer left
        self._n = [0, 0, 0]  # groups busy, stalled, starved now
        self._since = 0
        self.im2col = Im2colUnit()
        self.residual: ResidualUnit | None = None
        if any(p.skip for s in slices for p in s.producers.values()):
            self.residual = ResidualUnit(kernel, node, self._skip_added)
        if parallel or len(slices) == 1:  # a group per slice, named after it (its thread in the trace)
            self.groups = [LaneGroup(self, f"PE {s.name}", [s], oldest_first) for s in slices]
        else:  # the time-shared what-if: one group serves every slice in turn
            self.groups = [LaneGroup(self, "PE (time-shared)", slices, oldest_first)]
        self.group_of = {s.name: g for g in self.groups for s in g.slices}

    # ------------------------------------------------------------------------------------------ statistics
    @property
    def transactions(self) -> int:
        return sum(g.transactions for g in self.groups)

    def account(self, now: int, state: int, delta: int) -> None:
        """A lane group enters (+1) or leaves (-1) ``state`` at ``now``: close the core's current interval."""
        dt = now - self._since
        if dt:
            n = self._n
            if n[BUSY]:
                self.busy += dt
            elif n[STALLED]:
                self.stalled += dt
            elif n[STARVED]:
                self.starved += dt
            self._since = now
        self._n[state] = self._n[state] + delta  # not +=: compiled, that is a generic call

    def snapshot(self, now: int) -> None:
        """The answer has left the chip at ``now``: keep the core's busy/stalled/starved cycles up to here (the
        run's accounting window is the latency; what the core still does afterwards is counted apart)."""
        self.account(now, BUSY, 0)
        self.at_answer = (self.busy, self.stalled, self.starved)

    def settle(self) -> None:
        """Each PE computed its share of every transaction of every slice (lock-step): its busy cycles are
        the slices' busy cycles weighted by its shares (summed once at the end, not per transaction)."""
        for i, pe in enumerate(self.pes):
            pe.busy_cycles = sum(s.stats.busy_cycles * s.pe_share[i] for s in self.slices)

    # ------------------------------------------------------------------------------------------ ports
    def deliver(self, train: Train) -> None:
        """Inbound port from the network interface: a train for the slices on this core."""
        users = self.by_layer.get(train.producer, [])
        refs = 0
        skips = []
        woken = []
        for s in users:
            if s.arrive(train):
                refs += 1
                woken.append(self.group_of[s.name])
            elif s.is_skip(train.producer):
                skips.append(s)
        if skips:  # the residual unit adds it once for all the join's slices here
            assert self.residual is not None
            refs += 1
            self.residual.put((train, skips), skips[0].skip_ops(train))
        train.refs = refs
        if refs == 0:  # nobody here uses it (cannot happen for a routed train)
            self.ni.return_credits(train, self.kernel.now())
        for g in woken:  # after the train's users are counted: a group may start absorbing it at once
            g.poke()

    def admit_input(self, upto: int) -> None:
        """Input port of a first layer: its input spines up to flat position ``upto`` (step-major) are on chip;
        its group may absorb them (without a port every input spine is on chip from cycle 0)."""
        for s in self.slices:
            if s.first and upto > s.input_limit:
                s.input_limit = upto if upto < s.n_total else s.n_total
                self.group_of[s.name].poke()

    def _skip_added(self, item: tuple[Train, list[LayerSlice]]) -> None:
        """Port from the residual unit: the skip train is in the joins' membranes."""
        train, skips = item
        for s in skips:
            s.skip_added(train)
            self.group_of[s.name].poke()
        self.release(train, self.kernel.now())

    def release(self, train: Train, at: int) -> None:
        """One user of the train has its spikes in (by cycle ``at``); the last one returns its FIFO credits."""
        train.refs -= 1
        if at > train.done_at:
            train.done_at = at
        if train.refs == 0:
            self.ni.return_credits(train, train.done_at)

    def drain(self, s: LayerSlice) -> None:
        """Hand the slice's trains to the network interface while it has room."""
        ni = self.ni
        while s.outbox:
            if not ni.try_send(s.outbox[0]):
                if not s.blocked:
                    s.blocked = True
                    ni.wait_for_space(partial(self._unblock, s), s.layer)
                return
            s.outbox.popleft()
        s.blocked = False

    def _unblock(self, s: LayerSlice) -> None:
        s.blocked = False
        self.drain(s)
        self.group_of[s.name].poke()
