"""Neural-core actor: one layer slice (a column tile on one core) as a SimPy process.

The slice walks its work list — (time step, output spine) in release order, step after step — and waits
for each output spine's receptive field to arrive. Consecutive output spines that are already computable
are processed as one transaction of up to ``run.batch_items`` spines (temporal decoupling: their output
packets leave together at the end of the transaction). Finished spines go through the fused pool (if any)
and the schedule policy's emission gate (``spine``: at once; ``tbt``: when the step is complete; ``lbl``:
when all steps are complete), are packetised, and are sent as one train per destination core.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import simpy

from elsa_tlm.schedule.orders import Windows


@dataclass
class ProducerLink:
    """How one producer's emitted spines map onto this slice's input spines."""

    name: str
    n_slices: int
    flatten: bool  # the consumer reads all producer spines as its single input spine
    n_emit: int


@dataclass
class SliceStats:
    busy_cycles: int = 0
    first_finish: int = -1
    last_finish: int = -1
    packets_in: int = 0
    flits_in: int = 0
    packets_out: int = 0
    transactions: int = 0
    step_done: list[int] = field(default_factory=list)


class LayerSliceActor:
    """The PEs of one core working on one slice of one layer."""

    def __init__(
        self,
        env: simpy.Environment,
        name: str,
        node: int,
        T: int,
        order: np.ndarray,
        cost: np.ndarray,
        windows: Windows,
        producers: list[ProducerLink],
        n_in: int,
        policy: str,
        batch_items: int,
        pool: Windows | None,
        emit: Callable[[LayerSliceActor, list[tuple[int, np.ndarray]]], None],
        tracer: Callable[..., None] | None = None,
    ) -> None:
        self.env, self.name, self.node, self.T = env, name, node, T
        self.order, self.cost, self.windows = order, cost, windows
        self.n_out = order.size
        self.n_in = n_in
        self.policy, self.batch_items = policy, batch_items
        self.pool = pool
        self.emit_fn, self.tracer = emit, tracer
        self.producers = {p.name: p for p in producers}
        need = np.zeros(n_in, dtype=np.int64)
        for p in producers:
            need += p.n_slices * (p.n_emit if p.flatten else 1)
        self.missing_in = np.tile(need, (T, 1))
        self.missing_out = np.tile(windows.size + windows.deferred, (T, 1))
        self.inputs_done = np.zeros(T, dtype=np.int64)
        self.missing_pool = np.tile(pool.size, (T, 1)) if pool is not None else None
        self.pending: list[tuple[int, np.ndarray]] = []
        self.wait_event: simpy.Event | None = None
        self.wait_key = (0, 0)
        self.pos = 0
        self.stats = SliceStats(step_done=[-1] * T)
        if not producers:  # first layer: the image is in the input buffer at cycle 0 for every step
            for t in range(T):
                self._inputs_complete(t, np.arange(n_in))
        self.process = env.process(self.run())

    # ------------------------------------------------------------------ arrivals
    def _inputs_complete(self, t: int, qs: np.ndarray) -> None:
        if qs.size == 0:
            return
        np.subtract.at(self.missing_out[t], self.windows.outputs_of(qs), 1)
        self.inputs_done[t] += qs.size
        if self.inputs_done[t] == self.n_in and self.windows.deferred.any():
            self.missing_out[t, self.windows.deferred] -= 1

    def arrive(self, producer: str, items: list[tuple[int, np.ndarray]], packets: int, flits: int) -> None:
        """A train from ``producer`` delivered: (step, emitted spine indices) pairs."""
        link = self.producers[producer]
        self.stats.packets_in += packets
        self.stats.flits_in += flits
        for t, es in items:
            mi = self.missing_in[t]
            if link.flatten:
                mi[0] -= es.size
                done = np.zeros(1, np.int64) if mi[0] == 0 else np.zeros(0, np.int64)
            else:
                mi[es] -= 1
                done = es[mi[es] == 0]
            self._inputs_complete(t, done)
        if self.wait_event is not None and self.missing_out[self.wait_key] <= 0:
            ev, self.wait_event = self.wait_event, None
            ev.succeed()

    # ------------------------------------------------------------------ compute
    def run(self):
        T, n_out, order, cost, B = self.T, self.n_out, self.order, self.cost, self.batch_items
        missing = self.missing_out.reshape(-1)  # view: flat index t * n_out + o
        flat_seq = (np.arange(T)[:, None] * n_out + order[None, :]).ravel()  # work list as flat indices
        flat_cost = cost.reshape(-1)
        total = T * n_out
        env, st = self.env, self.stats
        j = 0
        while j < total:
            if missing[flat_seq[j]] > 0:
                self.wait_key = divmod(int(flat_seq[j]), n_out)
                self.wait_event = env.event()
                yield self.wait_event
            cand = flat_seq[j : j + B]
            blocked = np.flatnonzero(missing[cand] > 0)
            n = int(blocked[0]) if blocked.size else cand.size
            g = cand[:n]
            cycles = int(flat_cost[g].sum())
            start = env.now
            if cycles:
                yield env.timeout(cycles)
            st.busy_cycles += cycles
            st.transactions += 1
            if st.first_finish < 0:
                st.first_finish = start + int(flat_cost[g[0]])
            st.last_finish = env.now
            gt = g // n_out
            if self.tracer is not None:
                self.tracer(self, start, env.now, int(gt[0]), int(gt[-1]), n)
            self._finish(gt, g - gt * n_out)
            j += n

    def _finish(self, gt: np.ndarray, go: np.ndarray) -> None:
        """Pool, then gate by policy, then emit finished spines."""
        n_out = self.n_out
        steps = (int(gt[0]),) if gt[0] == gt[-1] else tuple(int(t) for t in np.unique(gt))
        for t in steps:
            outs = go if len(steps) == 1 else go[gt == t]
            if self.pool is not None:
                mp = self.missing_pool[t]
                touched = self.pool.outputs_of(outs)
                np.subtract.at(mp, touched, 1)
                emitted = touched[mp[touched] == 0]
                if emitted.size:
                    emitted = np.unique(emitted)
                    mp[emitted] = -1  # mark sent
            else:
                emitted = outs
            self.pos += outs.size
            step_complete = self.pos >= (t + 1) * n_out
            if emitted.size:
                self.pending.append((t, emitted))
            if step_complete:
                self.stats.step_done[t] = int(self.env.now)
                if self.policy == "tbt" or (self.policy == "lbl" and t == self.T - 1):
                    self._flush()
        if self.policy == "spine":
            self._flush()

    def _flush(self) -> None:
        if not self.pending:
            return
        items, self.pending = self.pending, []
        self.emit_fn(self, items)

    @property
    def done(self) -> bool:
        return self.pos >= self.T * self.n_out
