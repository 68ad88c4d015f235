"""The analytic mode (``run.mode = "analytic"``): the elaborated plan evaluated in closed form, without events.

Same plan as ``at`` (mapping, per-slice costs, orders, packets and their flits, the schedule's readiness and
emission rules: :mod:`elsa_tlm.elaborate`), evaluated slice by slice in the layers' topological order with
numpy (docs/MODEL.md §6b names each formula and the ``at`` mechanism it stands for):

* **a lane group is one server** (:class:`~elsa_tlm.hw.core.LaneGroup`): it absorbs its slice's input spines in
  absorption order and fires the outputs each one releases right after it, so the cycle input position ``i`` is
  done is the single-server recurrence ``F_i = max(A_i, F_{i-1}) + c_i``, with ``A_i`` the cycle its last part
  arrived and ``c_i`` its absorb cycles plus the fire cycles of the outputs it releases (``rel_count``); in
  closed form ``F = C + cummax(A - C_prev)`` over cumulative costs ``C``;
* **outputs and emission**: an output's fire ends inside the cycles of the position that released it; a
  spine is emitted once the outputs it pools are fired (``emit_count``), gated by the policy (``spine`` and
  ``token``: at once; ``tbt``: the step's last output; ``lbl``: the layer's last);
* **trains** (the flit generator): a train per transaction (a new one when the group waited for input, or
  every ``run.batch_items`` positions), cut every ``chunk`` flits (half the stream's queue of the consumer's
  input FIFOs, at most ``run.train_bytes``: :func:`~elsa_tlm.elaborate.train_chunks`); a train leaves with its
  last spine;
* **the NoC**: a train arrives after the zero-load latency of its route and its serialisation
  (:class:`~elsa_tlm.noc.latency.PipelineTiming`, what ``lt`` uses); a second pass adds each train's queueing
  at the busiest injection port, link or ejection port of its route, each a FIFO server over the first pass's
  trains (:func:`port_waits`);
* **skip trains** are added by the residual unit (its cycles per spine, no queueing).

The per-position loops (the server, the trains, arrivals and ready cycles) run in C when the install built it
(:mod:`elsa_tlm.recurrences`, bit-identical to its numpy reference), a whole pass in one call over the plan laid
out once (:class:`PassLayout`; :func:`evaluate`, slice by slice, is its reference). What is not modelled (named in MODEL.md
§6b with its measured effect): back-pressure (full output buffers and input FIFO queues), contention for the
shared im2col write port between co-mapped groups, and switch allocation beyond FIFO order at each port.
Leakage and refresh are priced on the computed latency, every other energy count is the elaboration's (they do
not depend on timing).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from elsa_tlm import recurrences
from elsa_tlm.elaborate import train_chunks
from elsa_tlm.hw.core import SliceStats
from elsa_tlm.noc.latency import PipelineTiming
from elsa_tlm.noc.network import route_counters, route_link_rows
from elsa_tlm.noc.params import buffer_flits


@dataclass
class SliceTiming:
    """What the analytic pass computes for one layer slice."""

    name: str
    node: int
    busy_cycles: int
    first_finish: int
    last_finish: int
    step_done: list[int]
    # (T, n_emit) the train (slice-wide number) each emitted spine leaves in: what a pass's consumers read (None
    # once a pass ran in one call: its consumers read it in the engine's buffers)
    tid: np.ndarray | None
    train_ready: np.ndarray  # (trains,) the cycle each train leaves the flit generator (its last spine's)
    train_flits: np.ndarray  # (trains,)
    train_packets: np.ndarray  # (trains,)
    train_ser: (
        np.ndarray
    )  # (trains,) cycles each train occupies a port or link (PipelineTiming.ser, per train)
    destinations: list[int]
    transactions: int = 0  # lane-group transactions (busy periods cut every run.batch_items positions)
    packets_in: int = 0
    flits_in: int = 0
    packets_sent: int = field(init=False)  # its trains' packets and flits, to one destination
    flits_sent: int = field(init=False)

    def __post_init__(self) -> None:
        self.packets_sent = int(self.train_packets.sum())
        self.flits_sent = int(self.train_flits.sum())

    def stats(self) -> SliceStats:
        """The slice's statistics as a simulated slice keeps them (layers.csv reads either)."""
        n = len(self.destinations)
        return SliceStats(
            self.busy_cycles,
            self.first_finish,
            self.last_finish,
            self.packets_in,
            self.flits_in,
            self.packets_sent * n,
            self.flits_sent * n,
            self.transactions,
            list(self.step_done),
        )


@dataclass
class AnalyticTiming:
    """The analytic pass's timeline and traffic: what the result reads instead of the components'."""

    latency: int
    first_output: int | None
    step_done: list[int]
    slices: dict[tuple[str, int], SliceTiming]
    counters: dict[str, int]
    link_rows: list[dict[str, int]]
    waits: dict[tuple[tuple[str, int], int], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    passes: int = 1


@dataclass
class Static:
    """What a slice's pass needs that does not depend on time, computed once per plan (:func:`statics`)."""

    # a position's cost: its absorb cycles + the fire cycles of the outputs it releases, (T * n_in,) in flat order
    cum_cost: np.ndarray  # their running sum, C
    cum_before: np.ndarray  # C - cost: the cost of the positions before each
    busy: int
    pos_emit: np.ndarray  # (n_emit,) the position whose absorption releases the output emitting each spine
    emit_offset: np.ndarray  # (T, n_emit) that output's fire end, relative to its position's finish
    last_pos: int  # the position releasing the step's last output
    last_offset: np.ndarray  # (T,) the step's last output's fire end relative to that position's finish
    first_offset: float  # the first output of step 0, relative to its position's finish
    first_pos: int
    flits: np.ndarray  # (T * n_emit,) int64
    packets: np.ndarray  # (T * n_emit,) int64


def statics(specs: list[tuple[tuple[str, int], Any]]) -> list[Static]:
    """:class:`Static` of every slice (cached with the plan: a pass reads them, many passes share them)."""
    out = []
    for _, spec in specs:
        T = spec.T
        fire = spec.fire_rel  # (T, n_out) release order
        rel = spec.rel_count  # (n_in + 1,) outputs released once a prefix of positions is complete
        n_out = fire.shape[1]
        cf = np.concatenate([np.zeros((T, 1)), np.cumsum(fire, axis=1)], axis=1)
        released = cf[:, rel[1:]] - cf[:, rel[:-1]]  # (T, n_in) fire cycles released by each position
        cost = (spec.absorb_pos + released).ravel()
        pos_of = np.searchsorted(rel, np.arange(n_out) + 1, side="left") - 1  # the position releasing f
        # an output's fire ends within the cycles of its releasing position: after the absorption and the fires
        # of the outputs released before it there
        offset = -released[:, pos_of] + (cf[:, 1:] - cf[:, rel[pos_of]]) if n_out else np.zeros((T, 0))
        n_emit = int(spec.emit_count[-1])
        out_of = np.searchsorted(spec.emit_count, np.arange(n_emit) + 1, side="left") - 1
        fl = spec.flits.astype(np.int64).ravel()
        out.append(
            Static(
                (cum := np.cumsum(cost)),
                cum - cost,
                int(np.ceil(float(cost.sum()) - 1e-9)),
                pos_of[out_of],
                np.ascontiguousarray(offset[:, out_of]),
                int(pos_of[-1]) if n_out else 0,
                offset[:, -1] if n_out else np.zeros(T),
                float(offset[0, 0]) if n_out else 0.0,
                int(pos_of[0]) if n_out else 0,
                fl,
                spec.packets.astype(np.int64).ravel(),
            )
        )
    return out


def _carry(ready_then: np.ndarray, wait: np.ndarray, ready_now: np.ndarray) -> np.ndarray:
    """A previous pass's per-train waits for this pass's trains: by index when the trains are the same ones,
    else by the cycle they leave (the earlier pass's trains in leaving order, ties in train order)."""
    if ready_then.size == ready_now.size:
        return wait
    if not ready_then.size:
        return np.zeros(ready_now.size)
    if (ready_then[1:] >= ready_then[:-1]).all():  # already in leaving order (as a slice's trains leave)
        idx = np.searchsorted(ready_then, ready_now, side="right") - 1
        return wait[np.clip(idx, 0, ready_then.size - 1)]
    order = np.argsort(ready_then, kind="stable")
    idx = np.searchsorted(ready_then[order], ready_now, side="right") - 1
    return wait[order][np.clip(idx, 0, order.size - 1)]


_FIRST_START = np.zeros(1, np.int64)  # a first layer's one busy period starts at its first position


class _Routes:
    """Each (source, destination) pair's route: the primary one (a randomised routing's most likely)."""

    def __init__(self, routing: Any) -> None:
        self.routing = routing
        self._cache: dict[tuple[int, int], tuple[int, ...]] = {}

    def route(self, src: int, dst: int) -> tuple[int, ...]:
        key = (src, dst)
        r = self._cache.get(key)
        if r is None:
            if src == dst:
                r = (src,)
            else:
                r = tuple(max(self.routing.paths(src, dst), key=lambda pw: pw[1])[0])
            self._cache[key] = r
        return r


def _lane_group(
    spec: Any,
    sx: Static,
    by_layer: dict[str, list[tuple[tuple[str, int], SliceTiming]]],
    routes: _Routes,
    timing: PipelineTiming,
    waits: dict[tuple[tuple[str, int], int], tuple[np.ndarray, np.ndarray]] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """A slice's arrivals (the cycle each input position, step by step, has all its parts: every producer
    slice's trains after the NoC and their waits, skip parts after the residual unit) and its lane group as one
    FIFO server over them: the finish cycle of every position and the positions that start a busy period."""
    T, n_in = spec.T, spec.n_in
    arrive = np.zeros((T, n_in), dtype=np.float64)
    for link in spec.producers:
        for k, (pkey, pt) in enumerate(by_layer.get(link.name, [])):
            assert pt.tid is not None
            if pt.tid.shape[1] == 0:
                continue
            hops = len(routes.route(pt.node, spec.node)) - 1
            tail = pt.train_ready + timing.zero_load(hops, pt.train_ser)  # (trains,) the tail lands
            if waits is not None:
                wt, wv = waits[(pkey, spec.node)]
                tail = tail + _carry(wt, wv, pt.train_ready)
            # each spine with its train's tail, a skip part after the residual unit has added it
            skip = link.skip_ops[k] if link.skip and link.skip_ops is not None else None
            recurrences.arrive(arrive, tail, pt.tid, skip, link.posmaps[k], link.flatten)
    # ---- the lane group: one server, positions in absorption order
    # the server's closed form with the slice's cumulative costs (static): F = C + cummax(A - C_prev)
    flat_f, starts = recurrences.server(arrive.ravel(), sx.cum_cost, sx.cum_before)
    return flat_f, starts


def evaluate(
    plan: Any,
    specs: list[tuple[tuple[str, int], Any]],
    waits: dict[tuple[tuple[str, int], int], tuple[np.ndarray, np.ndarray]] | None = None,
    static: list[Static] | None = None,
    reuse: dict[tuple[str, int], SliceTiming] | None = None,
) -> AnalyticTiming:
    """One analytic pass over the elaborated slices (``specs``, in layer order). ``waits``: per (slice, destination)
    the queueing wait of each of its trains at the ports and links of its route, from a previous pass;
    ``static``: :func:`statics` of ``specs`` when the caller keeps them; ``reuse``: a previous pass's slices,
    whose first-layer ones (no producers: nothing a pass changes reaches them) are taken as they are."""
    static = statics(specs) if static is None else static
    cfg = plan.config
    timing = PipelineTiming(cfg.noc)
    routes = _Routes(plan.routing)
    batch = cfg.run.batch_items
    chunks = train_chunks(cfg, plan.workload, plan.mapping)
    policy = cfg.schedule.policy
    by_layer: dict[str, list[tuple[tuple[str, int], SliceTiming]]] = {}
    out: dict[tuple[str, int], SliceTiming] = {}
    out_layer = plan.workload.output_layer.name
    answer_first: list[float] = []
    answer_steps: list[np.ndarray] = []
    for (key, spec), sx in zip(specs, static, strict=True):
        if reuse is not None and not spec.producers and spec.layer != out_layer and key in reuse:
            st = reuse[key]  # a first layer's input is on chip from cycle 0 in every pass
            by_layer.setdefault(spec.layer, []).append((key, st))
            out[key] = st
            continue
        T, n_in = spec.T, spec.n_in
        n_out = spec.fire_rel.shape[1]
        if not spec.producers:  # its input is on chip at cycle 0: the server never waits, F = C
            flat_f, starts = sx.cum_cost, _FIRST_START
        else:
            flat_f, starts = _lane_group(spec, sx, by_layer, routes, timing, waits)
        finish = flat_f.reshape(T, n_in)
        # ---- emission: a spine once the outputs it pools are fired, gated by the policy
        n_emit = sx.pos_emit.size
        step_end = np.ceil(finish[:, sx.last_pos] + sx.last_offset - 1e-9) if n_out else np.zeros(T)
        ready: np.ndarray | None = None  # spine and token: the trains compute a train's last spine's only
        if policy == "tbt":
            ready = np.repeat(step_end[:, None], n_emit, axis=1)
        elif policy == "lbl":
            ready = np.full((T, n_emit), step_end[-1])
        elif spec.layer == out_layer:  # the answer reads every spine's
            ready = recurrences.ready(finish, sx.pos_emit, sx.emit_offset)
        # ---- trains: a train leaves with its last spine
        # transactions: a new one when the group waited for input (it took what had arrived: a busy period
        # starts) or after run.batch_items positions; the flit generator closes a train at the end of each
        # transaction, and cuts a long emission every chunk flits (recurrences.trains)
        n_tx = int((-(-np.diff(np.r_[starts, flat_f.size]) // batch)).sum())
        if n_emit:
            gated = policy in ("tbt", "lbl")
            tid, train_ready, train_flits, train_packets = recurrences.trains(
                T,
                n_in,
                sx.pos_emit,
                starts,
                batch,
                gated,
                sx.flits,
                sx.packets,
                ready,
                chunks[spec.layer],
                finish,
                sx.emit_offset,
            )
        else:
            tid = np.zeros((T, 0), dtype=np.int64)
            train_ready, train_flits, train_packets = (
                np.zeros(0),
                np.zeros(0, np.int64),
                np.zeros(0, np.int64),
            )
        st = SliceTiming(
            spec.name,
            spec.node,
            sx.busy,
            int(np.ceil(finish[0, sx.first_pos] + sx.first_offset - 1e-9)) if n_out else 0,
            int(step_end.max()) if n_out else 0,
            step_end.astype(np.int64).tolist(),
            tid,
            train_ready,
            train_flits,
            train_packets,
            np.maximum(1, -(-train_flits * timing.flit_bits // timing.link_bits)),
            list(spec.destinations),
            n_tx,
        )
        for link in spec.producers:  # what arrived: every producer slice's trains
            for _, pt in by_layer.get(link.name, []):
                st.packets_in += pt.packets_sent
                st.flits_in += pt.flits_sent
        by_layer.setdefault(spec.layer, []).append((key, st))
        out[key] = st
        if spec.layer == out_layer:
            if n_emit:
                assert ready is not None
                answer_first.append(float(ready.min()))
                answer_steps.append(ready.max(axis=1))
            else:
                answer_first.append(float(st.first_finish))
                answer_steps.append(step_end)
    step_done = np.max(np.vstack(answer_steps), axis=0).astype(np.int64).tolist()
    counters, link_rows = _traffic(out, routes, timing, plan.topology)
    return AnalyticTiming(int(max(step_done)), int(min(answer_first)), step_done, out, counters, link_rows)


def _traffic(
    slices: dict[tuple[str, int], SliceTiming], routes: _Routes, timing: PipelineTiming, topo: Any
) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """The transport's counters and per-link rows for every train, kept per route as the loosely-timed
    transport keeps them (:func:`~elsa_tlm.noc.network.route_counters`, :func:`~elsa_tlm.noc.network.route_link_rows`)."""
    per_route: dict[tuple[int, ...], list[int]] = {}
    fb = timing.flit_bits
    for st in slices.values():
        if not st.destinations or st.train_flits.size == 0:
            continue
        fl, pk = st.flits_sent, st.packets_sent
        ser = int(st.train_ser.sum())
        for d in st.destinations:
            row = per_route.setdefault(routes.route(st.node, d), [0, 0, 0, 0])
            row[0] += pk
            row[1] += fl
            row[2] += fl * fb
            row[3] += ser
    return route_counters(per_route.items()), route_link_rows(per_route.items(), topo.links)


def port_waits(
    at: AnalyticTiming, plan: Any
) -> dict[tuple[tuple[str, int], int], tuple[np.ndarray, np.ndarray]]:
    """Each train's queueing at the ports and links of its route, from a pass's timeline: every injection
    port, link and ejection port is a FIFO server taking a train for its serialisation cycles, the trains in
    the order they reach it at zero load (``F = C + cummax(A - C_prev)`` per resource). Returns per (slice,
    destination) the summed wait of each train."""
    timing = PipelineTiming(plan.config.noc)
    routes = _Routes(plan.routing)
    two_paths = plan.config.noc.local_paths == 2
    # every flow's trains in one array (their places), and per resource the flows it serves with the cycles a
    # train takes to reach it after it leaves
    res: dict[tuple, list[tuple[int, float]]] = {}
    flows: list[tuple[tuple[str, int], int, int, int]] = []  # (slice, destination, first place, trains)
    t0s, sers = [], []
    n = 0
    for key, st in at.slices.items():
        if not st.destinations or st.train_flits.size == 0:
            continue
        ser = st.train_ser.astype(np.float64)
        for d in st.destinations:
            route = routes.route(st.node, d)
            f = len(flows)
            size = st.train_flits.size
            flows.append((key, d, n, size))
            t0s.append(st.train_ready)
            sers.append(ser)
            n += size
            # a loopback train takes the router's second local path (noc.local_paths = 2), not the injection port
            path = "loopback" if d == st.node and two_paths else "inject"
            res.setdefault((path, st.node), []).append((f, 0.0))
            for j, lk in enumerate(zip(route, route[1:], strict=False)):
                res.setdefault(("link", lk), []).append((f, float(timing.d_inject + j * timing.d_hop)))
            hops = len(route) - 1
            res.setdefault(("eject", d), []).append((f, float(timing.d_inject + hops * timing.d_hop)))
    # each resource serves its trains in arrival order (ties in flow and train order); pipelined flits queue
    # once: a train waits the most any one resource of its route makes it wait (recurrences.port_queues)
    wait = np.zeros(n)
    if flows:
        entries = [e for parts in res.values() for e in parts]
        res_ptr = np.zeros(len(res) + 1, np.int64)
        np.cumsum([len(parts) for parts in res.values()], out=res_ptr[1:])
        recurrences.port_queues(
            res_ptr,
            np.array([f for f, _ in entries], np.int64),
            np.array([o for _, o in entries], np.float64),
            np.array([first for _, _, first, _ in flows], np.int64),
            np.array([size for _, _, _, size in flows], np.int64),
            np.concatenate(t0s),
            np.concatenate(sers),
            wait,
        )
    waits = [wait[first : first + size] for _, _, first, size in flows]
    return {(key, d): (at.slices[key].train_ready, waits[i]) for i, (key, d, _, _) in enumerate(flows)}


# ------------------------------------------------------------------------------------------------ the run
def residual_ops(specs: list[tuple[tuple[str, int], Any]]) -> dict[int, int]:
    """Per core, its residual unit's accumulator ops (= its busy cycles): each skip train is added once per
    consumer core (for all the join's slices there), ceil(spikes / lanes) per spine (:mod:`elsa_tlm.hw.residual`)."""
    seen: set[tuple[str, int, int]] = set()
    ops: dict[int, int] = {}
    for _, spec in specs:
        for link in spec.producers:
            if not link.skip or link.skip_ops is None:
                continue
            for k in range(len(link.skip_ops)):
                tag = (link.name, k, spec.node)
                if tag in seen:
                    continue
                seen.add(tag)
                ops[spec.node] = ops.get(spec.node, 0) + int(link.skip_ops[k][:, -1].sum())
    return ops


def solve(
    plan: Any,
    specs: list[tuple[tuple[str, int], Any]],
    static: list[Static] | None = None,
    layout: PassLayout | None = None,
) -> AnalyticTiming:
    """The zero-load pass, then one pass with each train's queueing at its route's ports and links: each pass
    one call of the engine's ``one_pass`` (C) when it has one, with the plan laid out for it (``layout``, kept
    by the caller across design points), else :func:`evaluate` slice by slice (the reference)."""
    static = statics(specs) if static is None else static
    if recurrences.one_pass() is not None:
        return _solve_in_one_call(plan, specs, static if layout is None else None, layout)
    first = evaluate(plan, specs, None, static)
    second = evaluate(plan, specs, port_waits(first, plan), static, first.slices)
    second.passes = 2
    return second


@dataclass
class PassLayout:
    """A plan's slices laid out for the engine's one call per pass (``rec_pass`` in ``_recurrences.c``, which
    says what each array holds): per slice a row of metadata and its static arrays concatenated at its offsets,
    per producer part (a producer slice of a producer link) a row, and the NoC's flows and resources as
    :func:`port_waits` builds them. Built once per plan (:func:`pass_layout`); what depends on timing-only
    settings (the policy, the zero-load latency, the transaction size, the trains' size) is given per pass."""

    keys: list[tuple[str, int]]
    specs: list[Any]
    sm: np.ndarray  # (S, S_NCOL) int64
    first_offset: np.ndarray  # (S,)
    qm: np.ndarray  # (parts, Q_NCOL) int64, its zero-load column filled per timing
    q_hops: np.ndarray  # (parts,) link hops from the producer's core to the consumer's
    # cum, before, pos_emit, emit_offset, last_offset, packed (packets << 32 | flits), skip, posmap
    arrays: tuple[np.ndarray, ...]
    lay: np.ndarray  # (cap, sum_T)
    flows: list[tuple[int, int]]  # (slice, destination core), in port_waits' order
    res_ptr: np.ndarray
    res_flow: np.ndarray
    res_hop: np.ndarray  # a resource's flow reaches it d_inject + hop * d_hop after leaving (-1: at once)
    producers: list[list[int]]  # per slice, its producers' slices (what arrived: packets_in, flits_in)
    busy: list[int]  # per slice, its lane group's busy cycles (Static.busy)
    _buffers: tuple[np.ndarray, ...] | None = None
    # held while a solve uses the kept buffers: a second thread of the process (a Dask worker with several
    # threads shares the plan cache) solving the same plan meanwhile gets buffers of its own
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def buffers(self, fresh: bool = False) -> tuple[np.ndarray, ...]:
        """The two passes' output buffers (fb, ib each), the spines' trains and the engine's scratch, allocated
        once and reused by every design point of the plan (fresh ones would cost their pages' first touch each
        time; ``fresh``: new ones, not kept); a result copies what it keeps out of them."""
        if self._buffers is not None and not fresh:
            return self._buffers
        cap, sum_T = (int(x) for x in self.lay)
        S = self.sm.shape[0]
        T, n_in, n_emit = (self.sm[:, _S[c]] for c in ("T", "n_in", "n_emit"))
        max_pos, max_tr = int(max(1, (T * n_in).max(initial=1))), int(max(1, (T * n_emit).max(initial=1)))
        made = (
            *(
                np.empty(cap + 2 * sum_T + 2 * S) if k % 2 == 0 else np.empty(3 * cap + 3 * S, np.int64)
                for k in range(4)
            ),
            np.empty(cap, np.int64),  # each spine's train: one buffer for both passes
            np.empty(max_pos),
            np.empty(max_pos),
            np.empty(max_pos, np.int64),
            np.empty(max_tr),
            np.empty(int(T.max(initial=1))),
        )
        if not fresh:
            self._buffers = made
        return made


# rec_pass's row layouts (the enums in _recurrences.c)
_S_COLS = ("T", "n_in", "n_emit", "n_out", "pos", "emit", "spine", "step", "last_pos", "first_pos", "part_lo",
           "part_hi", "producers", "out", "reuse", "shifted", "chunk")  # fmt: skip
_S = {c: i for i, c in enumerate(_S_COLS)}
_Q_COLS = ("src", "skip", "posmap", "flatten", "flow", "zero_load")
_Q = {c: i for i, c in enumerate(_Q_COLS)}


def pass_layout(plan: Any, specs: list[tuple[tuple[str, int], Any]], static: list[Static]) -> PassLayout:
    """``static`` laid out for one call per pass: their arrays are concatenated and each :class:`Static` then
    holds views of the concatenation (no second copy)."""
    routes = _Routes(plan.routing)
    two_paths = plan.config.noc.local_paths == 2
    out_layer = plan.workload.output_layer.name
    by_layer: dict[str, list[int]] = {}
    for i, (_, spec) in enumerate(specs):
        by_layer.setdefault(spec.layer, []).append(i)
    S = len(specs)
    sm = np.zeros((S, len(_S_COLS)), np.int64)
    first_offset = np.zeros(S)
    pos = emit = spine = step = 0
    for i, ((_, spec), sx) in enumerate(zip(specs, static, strict=True)):
        T, n_emit = spec.T, sx.pos_emit.size
        n_out = spec.fire_rel.shape[1]
        row = sm[i]
        row[[_S["T"], _S["n_in"], _S["n_emit"], _S["n_out"]]] = (T, spec.n_in, n_emit, int(n_out > 0))
        row[[_S["pos"], _S["emit"], _S["spine"], _S["step"]]] = (pos, emit, spine, step)
        row[[_S["last_pos"], _S["first_pos"]]] = (sx.last_pos, sx.first_pos)
        row[_S["producers"]] = int(bool(spec.producers))
        # the costs before a position are the running sum's previous entry, exactly (whole cycles): the engine
        # reads one array, not two
        row[_S["shifted"]] = int(
            sx.cum_before.size > 0
            and sx.cum_before[0] == 0
            and np.array_equal(sx.cum_before[1:], sx.cum_cost[:-1])
        )
        row[_S["out"]] = int(spec.layer == out_layer)
        first_offset[i] = sx.first_offset
        pos += T * spec.n_in
        emit += n_emit
        spine += T * n_emit
        step += T
    # the NoC's flows (a slice's trains to one destination) and resources, in port_waits' order
    flows: list[tuple[int, int]] = []
    flow_of: dict[tuple[int, int], int] = {}
    res: dict[tuple, list[tuple[int, int]]] = {}
    for i, (_, spec) in enumerate(specs):
        if not spec.destinations or sm[i, _S["n_emit"]] == 0:
            continue
        for d in spec.destinations:
            route = routes.route(spec.node, d)
            f = len(flows)
            flows.append((i, d))
            flow_of[(i, d)] = f
            path = "loopback" if d == spec.node and two_paths else "inject"
            res.setdefault((path, spec.node), []).append((f, -1))
            for j, lk in enumerate(zip(route, route[1:], strict=False)):
                res.setdefault(("link", lk), []).append((f, j))
            res.setdefault(("eject", d), []).append((f, len(route) - 1))
    entries = [e for parts in res.values() for e in parts]
    res_ptr = np.zeros(len(res) + 1, np.int64)
    np.cumsum([len(parts) for parts in res.values()], out=res_ptr[1:])
    # producer parts
    q_rows: list[list[int]] = []
    hops: list[int] = []
    skips: list[np.ndarray] = []
    posmaps: list[np.ndarray] = []
    n_skip = n_posmap = 0
    producers: list[list[int]] = []
    for i, (_, spec) in enumerate(specs):
        sm[i, _S["part_lo"]] = len(q_rows)
        mine: list[int] = []
        for link in spec.producers:
            for k, p in enumerate(by_layer.get(link.name, [])):
                mine.append(p)
                sk = link.skip_ops[k] if link.skip and link.skip_ops is not None else None
                pm = link.posmaps[k]
                row = [p, -1, -1, int(link.flatten), -1, 0]
                if sk is not None:
                    row[_Q["skip"]] = n_skip
                    skips.append(np.ascontiguousarray(sk, np.int64).ravel())
                    n_skip += skips[-1].size
                if pm is not None:
                    row[_Q["posmap"]] = n_posmap
                    posmaps.append(np.ascontiguousarray(pm, np.int64).ravel())
                    n_posmap += posmaps[-1].size
                if sm[p, _S["n_emit"]]:
                    row[_Q["flow"]] = flow_of[(p, spec.node)]
                q_rows.append(row)
                hops.append(len(routes.route(specs[p][1].node, spec.node)) - 1)
        sm[i, _S["part_hi"]] = len(q_rows)
        producers.append(mine)
    qm = np.array(q_rows, np.int64).reshape(-1, len(_Q_COLS))

    for sx in static:
        if sx.flits.size and (sx.flits.max() >= 2**31 or sx.packets.max() >= 2**31 or sx.flits.min() < 0):
            raise ValueError("a spine's flits or packets do not fit the engine's packed 32-bit halves")

    def cat(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
        return (
            np.concatenate([np.ravel(a) for a in parts]).astype(dtype, copy=False)
            if parts
            else np.zeros(1, dtype)
        )

    arrays = (
        cat([sx.cum_cost for sx in static], np.float64),
        cat([sx.cum_before for sx in static], np.float64),
        cat([sx.pos_emit for sx in static], np.int64),
        cat([sx.emit_offset for sx in static], np.float64),
        cat([sx.last_offset for sx in static], np.float64),
        # a spine's packets and flits in one int64 (one stream, one sum; both far below 2^31, checked above)
        cat([(sx.packets.astype(np.int64) << 32) | sx.flits for sx in static], np.int64),
        cat(skips, np.int64),
        cat(posmaps, np.int64),
    )
    # the statics hold views of the concatenation from now on (the same values)
    for i, sx in enumerate(static):
        T, n_in, n_emit = (int(sm[i, _S[c]]) for c in ("T", "n_in", "n_emit"))
        p0, e0, s0, t0 = (int(sm[i, _S[c]]) for c in ("pos", "emit", "spine", "step"))
        sx.cum_cost = arrays[0][p0 : p0 + T * n_in]
        sx.cum_before = arrays[1][p0 : p0 + T * n_in]
        sx.pos_emit = arrays[2][e0 : e0 + n_emit]
        sx.emit_offset = arrays[3][s0 : s0 + T * n_emit].reshape(T, n_emit)
        sx.last_offset = arrays[4][t0 : t0 + T]
    return PassLayout(
        [key for key, _ in specs],
        [spec for _, spec in specs],
        sm,
        first_offset,
        qm,
        np.array(hops, np.int64),
        arrays,
        np.array([spine, step], np.int64),
        flows,
        res_ptr,
        np.array([f for f, _ in entries], np.int64),
        np.array([h for _, h in entries], np.int64),
        producers,
        [sx.busy for sx in static],
    )


def _solve_in_one_call(
    plan: Any,
    specs: list[tuple[tuple[str, int], Any]],
    static: list[Static] | None,
    layout: PassLayout | None,
) -> AnalyticTiming:
    """:func:`solve` by the engine's ``one_pass``: the same numbers as :func:`evaluate` (bit-identical:
    tests/test_recurrences.py), without a Python step per slice."""
    if layout is None:
        assert static is not None
        layout = pass_layout(plan, specs, static)
    kept = layout.lock.acquire(blocking=False)  # another thread solving this plan: buffers of its own
    try:
        return _two_passes(plan, layout, layout.buffers(fresh=not kept))
    finally:
        if kept:
            layout.lock.release()


def _two_passes(plan: Any, layout: PassLayout, buffers: tuple[np.ndarray, ...]) -> AnalyticTiming:
    """:func:`_solve_in_one_call`'s passes, in ``buffers`` (:meth:`PassLayout.buffers`)."""
    one_pass = recurrences.one_pass()
    assert one_pass is not None
    cfg = plan.config
    timing = PipelineTiming(cfg.noc)
    policy = {"tbt": 1, "lbl": 2}.get(cfg.schedule.policy, 0)
    batch = cfg.run.batch_items
    qm = layout.qm.copy()
    qm[:, _Q["zero_load"]] = [timing.zero_load(int(h), 0) for h in layout.q_hops]
    sm = layout.sm.copy()
    chunks = train_chunks(cfg, plan.workload, plan.mapping)  # run.train_bytes is timing-only: per point
    sm[:, _S["chunk"]] = [chunks[spec.layer] for spec in layout.specs]
    cap = int(layout.lay[0])
    S = sm.shape[0]
    fb1, ib1, fb2, ib2, tid, *scratch = buffers

    def run_pass(
        carry: Any, prev: tuple[np.ndarray, np.ndarray] | None, fb: np.ndarray, ib: np.ndarray
    ) -> None:
        one_pass(
            sm, layout.first_offset, qm, layout.arrays, policy, batch, timing.flit_bits,
            timing.link_bits, layout.lay, carry, prev, fb, ib, tid, tuple(scratch),
        )  # fmt: skip

    run_pass(None, None, fb1, ib1)
    # each train's queueing at the ports and links of its route (port_waits over the first pass's trains)
    n_tr, off = ib1[3 * cap : 3 * cap + S], ib1[3 * cap + 2 * S : 3 * cap + 3 * S]  # trains, where they start
    sizes = np.array([n_tr[i] for i, _ in layout.flows], np.int64)
    first = np.zeros(len(layout.flows), np.int64)
    np.cumsum(sizes[:-1], out=first[1:])
    t0 = (
        np.concatenate([fb1[off[i] : off[i] + n_tr[i]] for i, _ in layout.flows])
        if layout.flows
        else np.zeros(0)
    )
    ser = (
        np.concatenate([ib1[2 * cap + off[i] : 2 * cap + off[i] + n_tr[i]] for i, _ in layout.flows]).astype(
            np.float64
        )
        if layout.flows
        else np.zeros(0)
    )
    wait = np.zeros(t0.size)
    if layout.flows:
        res_offset = np.where(
            layout.res_hop < 0, 0.0, (timing.d_inject + layout.res_hop * timing.d_hop).astype(np.float64)
        )
        recurrences.port_queues(layout.res_ptr, layout.res_flow, res_offset, first, sizes, t0, ser, wait)
    # the second pass: a first layer's slices (no producers: nothing a pass changes reaches them) as they were
    out_layer = plan.workload.output_layer.name
    sm[:, _S["reuse"]] = [int(not spec.producers and spec.layer != out_layer) for spec in layout.specs]
    run_pass((t0, wait, first, sizes), (fb1, ib1), fb2, ib2)
    return _timing_of(plan, layout, sm, fb2, ib2, timing)


def _timing_of(
    plan: Any, layout: PassLayout, sm: np.ndarray, fb: np.ndarray, ib: np.ndarray, timing: PipelineTiming
) -> AnalyticTiming:
    """The :class:`AnalyticTiming` of a pass's buffers (each slice's trains copied out of them)."""
    cap, sum_T = (int(x) for x in layout.lay)
    S = sm.shape[0]
    tr_ready, step_end, ans = fb[:cap], fb[cap : cap + sum_T], fb[cap + sum_T : cap + 2 * sum_T]
    first_finish, ans_first = fb[cap + 2 * sum_T : cap + 2 * sum_T + S], fb[cap + 2 * sum_T + S :]
    tr_fl, tr_pk, tr_ser = ib[:cap], ib[cap : 2 * cap], ib[2 * cap : 3 * cap]
    n_tr, n_tx = ib[3 * cap : 3 * cap + S].tolist(), ib[3 * cap + S : 3 * cap + 2 * S].tolist()
    offs = ib[3 * cap + 2 * S :].tolist()  # where each slice's trains start
    rows = sm.tolist()
    iT, iO, iP, iOut = (_S[c] for c in ("T", "n_out", "step", "out"))
    out: dict[tuple[str, int], SliceTiming] = {}
    timings: list[SliceTiming] = []
    answer_first: list[float] = []
    answer_steps: list[np.ndarray] = []
    for i, (key, spec) in enumerate(zip(layout.keys, layout.specs, strict=True)):
        r = rows[i]
        T, sp, st, n = r[iT], offs[i], r[iP], n_tr[i]
        ends = step_end[st : st + T]
        has_out = r[iO]
        sl = SliceTiming(
            spec.name,
            spec.node,
            layout.busy[i],
            int(first_finish[i]) if has_out else 0,
            int(ends.max()) if has_out else 0,
            ends.astype(np.int64).tolist(),
            None,
            tr_ready[sp : sp + n].copy(),
            tr_fl[sp : sp + n].copy(),
            tr_pk[sp : sp + n].copy(),
            tr_ser[sp : sp + n].copy(),
            list(spec.destinations),
            n_tx[i],
        )
        timings.append(sl)
        out[key] = sl
        if r[iOut]:
            answer_first.append(float(ans_first[i]))
            answer_steps.append(ans[st : st + T].copy())
    for sl, mine in zip(
        timings, layout.producers, strict=True
    ):  # what arrived: every producer slice's trains
        for p in mine:
            sl.packets_in += timings[p].packets_sent
            sl.flits_in += timings[p].flits_sent
    step_done = np.max(np.vstack(answer_steps), axis=0).astype(np.int64).tolist()
    routes = _Routes(plan.routing)
    counters, link_rows = _traffic(out, routes, timing, plan.topology)
    return AnalyticTiming(
        int(max(step_done)), int(min(answer_first)), step_done, out, counters, link_rows, passes=2
    )


# the terms the closed form leaves out (docs/MODEL.md §6b measures what each costs against at) and the simulation
# that models them, both named in every analytic summary (summary.json's sim.not_modelled, sim.fallback)
NOT_MODELLED = (
    "back-pressure: a full output queue stalls its producer, a stream's queue of a core's input FIFOs admits "
    "trains only with room (binds where the FIFOs are small)",
    "contention of co-mapped groups for the core's im2col write port",
    "switch allocation beyond first-come first-served at each port and link",
)
FALLBACK = 'run.mode = "lt" with run.lt_backpressure = true'

# settings that only time or price what the plan and its elaboration describe (none of them is read by
# prepare or elaborate: tests/test_analytic.py changes each and checks the plan is reused, and changes every
# other key and checks it is not)
TIMING_ONLY: dict[str, tuple[str, ...]] = {
    "chip": ("clock_mhz",),
    "noc": (
        "router_pipeline_cycles",
        "route_compute_cycles",
        "switch_alloc_cycles",
        "switch_traversal_cycles",
        "link_latency_cycles",
        "local_port_cycles",
        "router",
        "virtual_channels",
        "vc_buffer_flits",
        "deadlock_timeout_cycles",
    ),
    "memory": ("technology", "edram_retention_us"),  # priced (energy, area, refresh); access_cycles is timed
    "schedule": ("policy",),
    "run": ("mode", "batch_items", "lt_batch_items", "lt_backpressure", "train_bytes"),
    "output": ("*",),
}
CACHE_SIZE = 2  # plans kept per process (a ResNet-50 plan and elaboration: ~0.5 s to build, ~200 MB)
# of those, the settings that only price a timeline (its cycles do not depend on them: nothing in solve reads
# them; tests/test_analytic.py checks a repriced result equals a cold run): a design point that differs from the
# last one only here reuses its timeline
PRICING_ONLY: dict[str, tuple[str, ...]] = {
    "chip": ("clock_mhz",),
    "memory": ("technology", "edram_retention_us"),
    "output": ("*",),
}
TIMELINES = 2  # timelines kept per plan


def _key_without(cfg: Any, leave_out: dict[str, tuple[str, ...]]) -> str:
    import json

    from elsa_tlm.config import as_dict

    d = as_dict(cfg)
    for section, keys in leave_out.items():
        if keys == ("*",):
            d.pop(section, None)
        else:
            for k in keys:
                d[section].pop(k, None)
    return json.dumps({"base_dir": str(cfg.base_dir), **d}, sort_keys=True, default=str)


def plan_key(cfg: Any) -> str:
    """What the plan and its elaboration depend on: the resolved config without :data:`TIMING_ONLY`."""
    return _key_without(cfg, TIMING_ONLY)


def timeline_key(cfg: Any) -> str:
    """What the analytic timeline (in cycles) depends on: the resolved config without :data:`PRICING_ONLY`."""
    return _key_without(cfg, PRICING_ONLY)


def inputs_key(cfg: Any) -> str | None:
    """What the workload graph and its statistical activity depend on (the workload section, the time steps
    and the seed), or None when the activity is not the statistical model's (a replayed trace, a functional
    or NIR run: read or computed from more of the config, never shared)."""
    import json

    from elsa_tlm.config import as_dict

    w = cfg.workload
    if w.activity != "statistical" or str(w.model).startswith("nir:"):
        return None
    d = {"workload": as_dict(cfg)["workload"], "time_steps": cfg.run.time_steps, "seed": cfg.run.seed}
    return json.dumps({"base_dir": str(cfg.base_dir), **d}, sort_keys=True, default=str)


class PlanCache:
    """The last :data:`CACHE_SIZE` plans with their elaborations, by :func:`plan_key`: design points that
    differ only in timing or pricing settings share one (a sweep's or an explorer's worker runs many). A new
    plan reuses the last workload graph and statistical activity when :func:`inputs_key` matches (a hardware
    axis changes the mapping and the costs, not the spikes)."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self.entries: dict[str, tuple[Any, Any, list[tuple[tuple[str, int], Any]], list[Static]]] = {}
        self.inputs: tuple[str, Any, Any] | None = None  # (inputs_key, workload, activity) of the last plan
        self.timelines: dict[str, dict[str, AnalyticTiming]] = {}  # per plan key, by timeline_key
        self.layouts: dict[str, PassLayout] = {}  # per plan key (the C engine's)
        self.hits = self.misses = 0
        self.repriced = 0  # design points that reused a timeline
        # a Dask worker's threads share the cache: its dicts are changed under this lock (a plan, a layout or a
        # timeline is built outside it: two threads may both build one, and one is kept)
        self.lock = threading.Lock()

    def get(self, cfg: Any) -> tuple[Any, Any, list[tuple[tuple[str, int], Any]], list[Static]]:
        """(plan for ``cfg``, elaboration, slice specs, their statics): the cached ones, with ``cfg`` as the
        plan's config."""
        import dataclasses

        from elsa_tlm.elaborate import elaborate
        from elsa_tlm.plan import prepare

        key = plan_key(cfg)
        with self.lock:
            hit = self.entries.get(key)
            inputs = self.inputs
            if hit is None:
                self.misses += 1
            else:
                self.hits += 1
        if hit is None:
            ikey = inputs_key(cfg)
            if ikey is not None and inputs is not None and inputs[0] == ikey:
                plan = prepare(cfg, activity=inputs[2], workload=inputs[1])
            else:
                plan = prepare(cfg)
            el = elaborate(plan)
            specs = list(el.specs)
            hit = (plan, el, specs, statics(specs))
            with self.lock:
                self.inputs = None if ikey is None else (ikey, plan.workload, plan.activity)
        with self.lock:
            self.entries.pop(key, None)
            self.entries[key] = hit  # most recent last
            while len(self.entries) > self.size:  # the oldest plan goes, with its timelines
                oldest = next(iter(self.entries))
                del self.entries[oldest]
                self.timelines.pop(oldest, None)
                self.layouts.pop(oldest, None)
        plan, el, specs, static = hit
        return dataclasses.replace(plan, config=cfg), el, specs, static

    def timing(
        self, cfg: Any, plan: Any, specs: list[tuple[tuple[str, int], Any]], static: list[Static]
    ) -> Any:
        """:func:`solve` of ``cfg``'s plan (from :meth:`get`), or the timeline of a design point that differs
        from it only in :data:`PRICING_ONLY` settings."""
        pkey, tkey = plan_key(cfg), timeline_key(cfg)
        with self.lock:
            at = self.timelines.get(pkey, {}).get(tkey)
            layout = self.layouts.get(pkey)
            if at is not None:
                self.repriced += 1
        if at is None:
            if (
                recurrences.one_pass() is not None
            ):  # the plan laid out once for the engine's one call per pass
                if layout is None:
                    layout = pass_layout(plan, specs, static)
                    with self.lock:
                        if pkey in self.entries:  # (not if another thread evicted the plan meanwhile)
                            layout = self.layouts.setdefault(pkey, layout)
            else:
                layout = None
            at = solve(plan, specs, static, layout)
        with self.lock:
            if pkey not in self.entries:  # another thread evicted the plan meanwhile: keep nothing of it
                return at
            kept = self.timelines.setdefault(pkey, {})
            kept.pop(tkey, None)
            kept[tkey] = at  # most recent last
            while len(kept) > TIMELINES:
                kept.pop(next(iter(kept)))
        return at


CACHE = PlanCache()


def run_config(cfg: Any, wall0: float) -> Any:
    """:func:`run` of ``cfg`` with its plan and elaboration from :data:`CACHE`."""
    plan, el, specs, static = CACHE.get(cfg)
    return run(plan, wall0, el, specs, static, CACHE.timing(cfg, plan, specs, static))


def run(
    plan: Any,
    wall0: float,
    el: Any = None,
    specs: list[tuple[tuple[str, int], Any]] | None = None,
    static: list[Static] | None = None,
    timing: AnalyticTiming | None = None,
    layout: PassLayout | None = None,
) -> Any:
    """The :class:`~elsa_tlm.results.Result` of ``plan`` in the analytic mode: the elaboration, the closed-form
    timeline (:func:`solve`, or ``timing`` when the caller has it) and the energy ledger from the same reports as
    a simulated run (:func:`elsa_tlm.results.summary.build_summary`); ``summary["sim"]`` says
    ``mode = "analytic"``, 0 events. ``layout``: the plan's :class:`PassLayout` when the caller keeps one."""
    import time

    from elsa_tlm.elaborate import elaborate
    from elsa_tlm.results import Result, collect
    from elsa_tlm.results.summary import Measured, build_summary

    if el is None or specs is None:
        el = elaborate(plan)
        specs = list(el.specs)
    at = solve(plan, specs, static, layout) if timing is None else timing
    wl, mapping, act = plan.workload, plan.mapping, plan.activity
    core_rows = _core_rows(plan, el, specs, at)
    m = Measured(
        at.latency,
        at.first_output,
        at.step_done,
        at.counters,
        at.link_rows,
        sum(_residual_ops(el, specs).values()),
        core_rows,
    )
    summary, layer_energy = build_summary(plan, el, m, time.perf_counter() - wall0)
    # what the closed form leaves out, and the simulation that has it (docs/MODEL.md §6b: the error it costs)
    summary["sim"]["not_modelled"] = list(NOT_MODELLED)
    summary["sim"]["fallback"] = FALLBACK
    timeline: list[tuple[str, int, int, int, int]] = []
    for (layer, _), st in at.slices.items():  # one bar per slice and step: from its first to its last output
        prev = 0
        for t, done in enumerate(st.step_done):
            timeline.append((layer, prev, done, t, t))
            prev = done
    stats = {k: st.stats() for k, st in at.slices.items()}
    activity = el.memo.get("layer_activity")
    if activity is None:
        activity = el.memo["layer_activity"] = collect.layer_activity(plan, el.costs, el.events, el.fires)
    layer_rows = collect.layer_rows(plan, stats, el.costs, el.events, el.fires, layer_energy, activity)
    return Result(
        plan.config, wl, mapping, act, summary, layer_rows, at.link_rows, timeline, core_rows=core_rows
    )


def _residual_ops(el: Any, specs: list[tuple[tuple[str, int], Any]]) -> dict[int, int]:
    """:func:`residual_ops`, once per elaboration."""
    ops = el.memo.get("residual_ops")
    if ops is None:
        ops = el.memo["residual_ops"] = residual_ops(specs)
    return ops  # type: ignore[no-any-return]


def _core_rows(
    plan: Any, el: Any, specs: list[tuple[tuple[str, int], Any]], at: AnalyticTiming
) -> list[dict[str, Any]]:
    """Per neural core, what the analytic mode knows: each lane group's busy cycles (its slice's absorb and fire
    cycles), the core busy while its busiest group is (a lower bound: the groups overlap), the rest of the
    latency starved; no stall on output (back-pressure is not modelled)."""
    cap = buffer_flits(plan.config.noc)
    by_core: dict[int, list[tuple[tuple[str, int], SliceTiming]]] = {}
    for key, st in at.slices.items():
        by_core.setdefault(st.node, []).append((key, st))
    skip_cycles = _residual_ops(el, specs)
    rows = []
    for node in sorted(by_core):
        items = by_core[node]
        cs = [el.costs[k] for k, _ in items]
        fl = sum(c.flushes for c in cs)
        busy = max(st.busy_cycles for _, st in items)
        pes = el.pes[node]
        rows.append(
            {
                "core": node,
                "layers": " ".join(st.name for _, st in items),
                "busy_cycles": busy,
                "stalled_on_output_cycles": 0,
                "starved_on_input_cycles": max(0, at.latency - busy),
                "busy_after_answer_cycles": 0,
                "transactions": sum(st.transactions for _, st in items),
                "lane_groups": len(items),
                "group_busy_cycles": " ".join(str(st.busy_cycles) for _, st in items),
                "im2col_wait_cycles": 0,
                "fifo_capacity_flits": cap,
                "flushes": fl,
                "evictions": sum(c.evictions for c in cs),
                "mean_spikes_per_flush": sum(c.spikes_flushed for c in cs) / fl if fl else "",
                "lane_passes": " ".join(str(c.passes) for c in cs),
                "pe_busy_cycles": " ".join(
                    str(round(sum(st.busy_cycles * el.costs[k].pe_share[i] for k, st in items)))
                    for i in range(len(pes))
                ),
                "residual_busy_cycles": skip_cycles.get(node, 0),
            }
        )
    return rows
