"""Neural core: its PEs (one lock-step pipeline over 4 PEs) shared by the layer slices mapped onto the core.

The core is one SimPy process. Its PEs do one transaction at a time for one layer slice:

1. **absorb** the input spines that have arrived for the slice (in arrival order, at most ``run.batch_items``
   spines): im2col writes their spikes into the input buffer, which flushes mini-batches into the membranes
   (cycles from :mod:`elsa_tlm.hw.pe`); their FIFO credits go back to the router afterwards;
2. **fire** the output spines whose receptive field is now complete (at most ``run.batch_items``, oldest step
   first): the final flush and the fire pass of each membrane row that can fire;
3. **emit** the fired spines through the fused pool and the schedule policy's gate (``spine``: at once;
   ``tbt``: when the layer's step is complete; ``lbl``: when all steps are) to the network interface.

Co-mapped slices take turns (round robin): they share the PEs' time, input buffer and SRAM ports, and each
has its own group of adder lanes (the lane share is in its cycle costs). A slice whose outputs the network
interface cannot take (output buffer full) is *blocked*: it stops firing but keeps absorbing, and the core
serves the other slices meanwhile. With nothing to do the core waits for an arrival or for output space:
*stalled on output* when a slice is blocked, *starved on input* otherwise.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import simpy

from elsa_tlm.hw.ni import NetworkInterface, Train
from elsa_tlm.schedule.orders import Windows


@dataclass
class ProducerLink:
    """How one producer's trains complete this slice's input spines."""

    name: str
    n_slices: int
    flatten: bool  # the consumer reads all producer spines as its single input spine
    n_emit: int
    skip: bool  # taken by the router's residual unit (no PE time)


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


_ZERO = np.zeros(1, dtype=np.int64)


@dataclass
class _Part:
    items: list[tuple[int, np.ndarray]]  # (step, input spines completed; flatten: producer spines)
    n: int  # spines in it
    cost: float
    train: Train


class LayerSlice:
    """The state of one layer slice on its core: readiness counters, queues of work, emission."""

    def __init__(
        self,
        name: str,
        layer: str,
        node: int,
        T: int,
        n_in: int,
        absorb: np.ndarray,
        fire: np.ndarray,
        windows: Windows,
        release_rank: np.ndarray,
        producers: list[ProducerLink],
        policy: str,
        pool: Windows | None,
        input_order: np.ndarray | None,
        packets: np.ndarray,
        flits: np.ndarray,
        spikes: np.ndarray,
        destinations: list[int],
        chunk_flits: int,
    ) -> None:
        self.name, self.layer, self.node, self.T, self.n_in = name, layer, node, T, n_in
        self.n_out = fire.shape[1]
        self.fire_cost = fire
        self.windows, self.rank, self.pool, self.policy = windows, release_rank, pool, policy
        self.has_deferred = bool(windows.deferred.any())
        self.deferred_idx = np.flatnonzero(windows.deferred)
        self.producers = {p.name: p for p in producers}
        need = np.zeros(n_in, dtype=np.int64)
        main_parts = 0
        for p in producers:
            per = p.n_slices * (p.n_emit if p.flatten else 1)
            need += per
            if not p.skip:
                main_parts = per
        # absorb cost of a main part: the whole spine's cost shared by the parts that deliver it
        self.absorb_share = absorb / max(1, main_parts)
        self.missing_in = np.tile(need, (T, 1))
        self.missing_out = np.tile(windows.size + windows.deferred, (T, 1))
        self.inputs_done = np.zeros(T, dtype=np.int64)
        self.parts: deque[_Part] = deque()
        self.ready: list[deque[np.ndarray]] = [deque() for _ in range(T)]
        self.fired = np.zeros(T, dtype=np.int64)
        self.fire_step = 0
        self.missing_pool = np.tile(pool.size, (T, 1)) if pool is not None else None
        self.pending: list[tuple[int, np.ndarray]] = []
        self.outbox: deque[Train] = deque()
        self.blocked = False
        self.pk, self.fl, self.sp = packets, flits, spikes  # per (step, emitted spine) of this slice
        self.destinations = destinations
        self.chunk = chunk_flits
        self.out_log: list[tuple[int, list[int]]] = []  # output layer: (cycle, steps) leaving the chip
        self.stats = SliceStats(step_done=[-1] * T)
        self.first = not producers
        self.input_order = input_order  # first layer: the image's spines in visiting order
        self.next_input = 0  # first layer: flat (step, position) of the next input spine

    # ------------------------------------------------------------------------------------------ inputs
    def arrive(self, train: Train) -> bool:
        """A train from a producer arrived; returns True if it needs PE time (a main-path part)."""
        link = self.producers[train.producer]
        st = self.stats
        st.packets_in += train.packets
        st.flits_in += train.flits
        if link.skip:
            self._complete(link, train.items)
            return False
        share = self.absorb_share
        if link.flatten:
            cost = sum(float(share[t, 0]) * len(es) for t, es in train.items)
        else:
            cost = sum(float(share[t, es].sum()) for t, es in train.items)
        # an empty item list is the front of a spine longer than one FIFO: its spikes cost with its tail
        self.parts.append(_Part(train.items, sum(len(es) for _, es in train.items), cost, train))
        return True

    def _complete(self, link: ProducerLink, items: list[tuple[int, np.ndarray]]) -> None:
        """Parts of input spines absorbed: spines with every part in are complete."""
        for t, es in items:
            mi = self.missing_in[t]
            if link.flatten:
                mi[0] -= len(es)
                if mi[0] == 0:
                    self._inputs_complete(t, _ZERO)
            else:
                mi[es] -= 1  # a train holds each spine once
                done = es[mi[es] == 0]
                if done.size:
                    self._inputs_complete(t, done)

    def _inputs_complete(self, t: int, qs: np.ndarray) -> None:
        mo = self.missing_out[t]
        w = self.windows
        touched = w.outputs_of(qs)
        np.subtract.at(mo, touched, 1)
        self.inputs_done[t] += qs.size
        if self.inputs_done[t] == self.n_in and self.has_deferred:
            mo[w.deferred] -= 1
            touched = np.concatenate([touched, self.deferred_idx])
        cand = touched[mo[touched] == 0]
        if cand.size:
            rel = sorted(set(cand.tolist()), key=self.rank.__getitem__)  # release order
            mo[rel] = -1  # released
            self.ready[t].append(np.array(rel, dtype=np.int64))

    # ------------------------------------------------------------------------------------------ work
    def has_absorb(self) -> bool:
        if self.first:
            return self.next_input < self.T * self.n_in and self.next_input // self.n_in <= self.fire_step
        return bool(self.parts)

    def has_fire(self) -> bool:
        return not self.blocked and self.fire_step < self.T and bool(self.ready[self.fire_step])

    def take(self, limit: int) -> tuple[float, list[_Part], list[tuple[int, np.ndarray]]]:
        """Work of one transaction: absorb up to ``limit`` arrived spines, then fire up to ``limit``
        released outputs (oldest step first). Readiness is updated now; costs in cycles."""
        cost = 0.0
        parts: list[_Part] = []
        if self.first:
            j = self.next_input
            t = j // self.n_in
            if t <= self.fire_step and t < self.T:
                end = min(j + limit, (t + 1) * self.n_in)
                qs = self.input_order[j - t * self.n_in : end - t * self.n_in]
                cost += float(self.absorb_share[t, qs].sum())
                self.next_input = end
                self._inputs_complete(t, qs)
        else:
            n = 0
            while self.parts and n < limit:
                p = self.parts.popleft()
                parts.append(p)
                cost += p.cost
                n += p.n
                self._complete(self.producers[p.train.producer], p.items)
        fires: list[tuple[int, np.ndarray]] = []
        if not self.blocked:
            left = limit
            while left > 0 and self.fire_step < self.T and self.ready[self.fire_step]:
                t = self.fire_step
                q = self.ready[t]
                head = q[0]
                if head.size <= left:
                    q.popleft()
                    chunk = head
                else:
                    chunk, q[0] = head[:left], head[left:]
                left -= chunk.size
                fires.append((t, chunk))
                cost += float(self.fire_cost[t, chunk].sum())
                self.fired[t] += chunk.size
                if self.fired[t] == self.n_out:
                    self.fire_step += 1
                    if not self.first:
                        break  # next step's outputs in the next transaction
        return cost, parts, fires

    @property
    def done(self) -> bool:
        return self.fire_step >= self.T and not self.pending and not self.outbox

    # ------------------------------------------------------------------------------------------ emission
    def finish(self, now: int, fires: list[tuple[int, np.ndarray]]) -> None:
        """Fired spines: pool, gate by policy, packetise into trains for the outbox."""
        for t, outs in fires:
            if self.pool is not None:
                mp = self.missing_pool[t]
                touched = self.pool.outputs_of(outs)
                np.subtract.at(mp, touched, 1)
                emitted = touched[mp[touched] == 0]
                if emitted.size:
                    emitted = np.unique(emitted)
                    mp[emitted] = -1
            else:
                emitted = outs
            if emitted.size:
                self.pending.append((t, emitted))
        for t in sorted({t for t, _ in fires}):  # a step completed by this transaction
            if self.fired[t] == self.n_out and self.stats.step_done[t] < 0:
                self.stats.step_done[t] = now
                if self.policy == "tbt" or (self.policy == "lbl" and t == self.T - 1):
                    self._packetise(now)
        if self.policy == "spine":
            self._packetise(now)

    def _packetise(self, now: int) -> None:
        if not self.pending:
            return
        items, self.pending = self.pending, []
        if not self.destinations:  # output layer: results leave the chip
            self.out_log.append((now, [t for t, _ in items]))
            return
        ts = np.concatenate([np.full(es.size, t, dtype=np.int64) for t, es in items])
        es = np.concatenate([es for _, es in items])
        fl, pk, sp = self.fl[ts, es], self.pk[ts, es], self.sp[ts, es]
        total = int(fl.sum())
        if total <= self.chunk:  # the common case: one train
            self._train(items, total, int(pk.sum()), int(sp.sum()))
            return
        # longer outputs: trains of at most one FIFO each; a spine completes in the train with its tail
        members: list[int] = []
        cf = cp = cs = 0
        for k in range(es.size):
            f, p, s = int(fl[k]), int(pk[k]), int(sp[k])
            while f > 0 and cf + f > self.chunk:
                if cf and f <= self.chunk:  # close the train, the spine starts the next one
                    self._train(self._items(ts, es, members), cf, cp, cs)
                    members, cf, cp, cs = [], 0, 0, 0
                    continue
                take = self.chunk - cf  # fill this train with part of the spine (it is not complete yet)
                part = max(1, p * take // f)
                self._train(self._items(ts, es, members), self.chunk, cp + part, cs + s * take // f)
                members, cf, cp, cs = [], 0, 0, 0
                f, p, s = f - take, max(1, p - part), s - s * take // f
            members.append(k)
            cf, cp, cs = cf + f, cp + p, cs + s
        if members or cf:
            self._train(self._items(ts, es, members), cf, cp, cs)

    @staticmethod
    def _items(ts: np.ndarray, es: np.ndarray, members: list[int]) -> list[tuple[int, np.ndarray]]:
        if not members:
            return []
        m = np.asarray(members)
        t_m, e_m = ts[m], es[m]
        return [(int(t), e_m[t_m == t]) for t in np.unique(t_m)]

    def _train(self, items: list[tuple[int, np.ndarray]], flits: int, packets: int, spikes: int) -> None:
        if flits == 0:  # only empty spines: one head-only flit announces them
            flits, packets = 1, 1
        n = len(self.destinations)
        self.stats.packets_out += packets * n
        self.stats.flits_out += flits * n
        for dst in self.destinations:
            self.outbox.append(Train(self.layer, self.node, dst, items, flits, packets, spikes))


class NeuralCore:
    """The PEs of one core and the layer slices they serve (one SimPy process)."""

    def __init__(
        self,
        env: simpy.Environment,
        node: int,
        slices: list[LayerSlice],
        ni: NetworkInterface,
        batch: int,
        record: Callable[..., None] | None = None,
    ) -> None:
        self.env, self.node, self.slices, self.ni, self.batch = env, node, slices, ni, batch
        self.by_layer: dict[str, list[LayerSlice]] = {}
        for s in slices:
            for prod in s.producers:
                self.by_layer.setdefault(prod, []).append(s)
        self.record = record
        self.wake_event: simpy.Event | None = None
        self.rr = 0
        self.busy = self.stalled = self.starved = 0
        self.transactions = 0
        ni.deliver = self.deliver
        self.process = env.process(self.run())

    # ------------------------------------------------------------------------------------------ ports
    def deliver(self, train: Train) -> None:
        """Inbound port from the network interface: a train for the slices on this core."""
        users = self.by_layer.get(train.producer, [])
        refs = 0
        for s in users:
            if s.arrive(train):
                refs += 1
        train.refs = refs
        if refs == 0:  # skip path only: the residual unit took it on arrival
            self.ni.return_credits(min(train.flits, self.ni.capacity))
        self.poke()

    def poke(self) -> None:
        ev = self.wake_event
        if ev is not None and not ev.triggered:
            ev.succeed()

    # ------------------------------------------------------------------------------------------ process
    def _pick(self) -> LayerSlice | None:
        n = len(self.slices)
        for k in range(n):
            s = self.slices[(self.rr + k) % n]
            if s.has_fire() or s.has_absorb():
                self.rr = (self.rr + k + 1) % n
                return s
        return None

    def _drain(self, s: LayerSlice) -> None:
        """Hand the slice's trains to the network interface while it has room."""
        ni = self.ni
        while s.outbox:
            train = s.outbox[0]
            if not ni.can_send(train):
                if not s.blocked:
                    s.blocked = True
                    ni.wait_for_space(lambda s=s: self._unblock(s))
                return
            s.outbox.popleft()
            ni.send(train)
        s.blocked = False

    def _unblock(self, s: LayerSlice) -> None:
        s.blocked = False
        self._drain(s)
        self.poke()

    def run(self):
        env = self.env
        while True:
            s = self._pick()
            if s is None:
                if all(x.done for x in self.slices):
                    return
                blocked = any(x.blocked for x in self.slices)
                t0 = env.now
                self.wake_event = env.event()
                yield self.wake_event
                self.wake_event = None
                idle = env.now - t0
                if blocked:
                    self.stalled += idle
                else:
                    self.starved += idle
                if self.record is not None and idle:
                    self.record(
                        self.node, "stalled on output" if blocked else "waiting for input", t0, env.now
                    )
                continue
            start = env.now
            cost, parts, fires = s.take(self.batch)
            cycles = int(np.ceil(cost - 1e-9)) if cost > 0 else 0
            if cycles:
                yield env.timeout(cycles)
            now = env.now
            self.busy += cycles
            self.transactions += 1
            st = s.stats
            st.busy_cycles += cycles
            st.transactions += 1
            for p in parts:
                tr = p.train
                tr.refs -= 1
                if tr.refs == 0:
                    self.ni.return_credits(min(tr.flits, self.ni.capacity))
            if fires:
                if st.first_finish < 0:
                    st.first_finish = now
                st.last_finish = now
                s.finish(now, fires)
                self._drain(s)
            if self.record is not None and cycles:
                steps = [t for t, _ in fires] or [p.items[0][0] for p in parts[:1] if p.items]
                self.record(
                    self.node, s.name, start, now, steps[0] if steps else 0, sum(f.size for _, f in fires)
                )
