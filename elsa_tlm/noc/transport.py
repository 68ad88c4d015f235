"""How the chip's trains cross the NoC: the router/link components (``at``) or the closed form (``lt``).

Both are a :class:`Transport`: a network interface hands a train to ``send`` with its source, destination
and size; the train is the payload, and it lands in the destination interface's input channel (bound with
``bind_inbox``) when its tail arrives. ``at`` (approximately timed) runs it through the routers of
``noc.router``: :class:`~elsa_tlm.noc.network.Network` (``fast``: finite input buffers, round-robin switch
allocation, link serialisation and back-pressure) or :class:`~elsa_tlm.noc.vc_network.VcNetwork` (``vc``:
input-queued virtual-channel routers with VC/switch allocation and credit round trips); in both the ejection
port takes the input channel's credits. ``lt`` (loosely timed)
delivers it after the zero-load closed form (:mod:`elsa_tlm.noc.latency`) — no contention, no queueing, no
credits — while counting the same link traffic along the same routes, so energy and link statistics agree.
With ``run.lt_backpressure`` the network stays zero-load but the buffers at its two ends are timing
constraints again: a train enters its destination's input FIFOs only when they have room for it (in arrival
order at each core: head-of-line, as the ejection port), and until then it holds its credits in the sender's
output queue, whose producer stalls when the queue is full (the network interfaces are bounded).
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from elsa_tlm.hw.channel import Channel, FifoBank
from elsa_tlm.kernel import Kernel, Wake
from elsa_tlm.noc.latency import PipelineTiming
from elsa_tlm.noc.network import NetworkBase, route_counters, route_link_rows
from elsa_tlm.noc.routing import Routing
from elsa_tlm.noc.topology import Topology
from elsa_tlm.noc.vc_network import make_network
from elsa_tlm.transfer import Transport


class _Flow:
    """The loosely-timed transport's record of one (source, destination) pair."""

    __slots__ = ("row", "base", "last")

    def __init__(self) -> None:
        self.row: list[int] | None = None  # the route's counters (deterministic routing: fixed per pair)
        self.base = 0  # its zero-load latency without serialisation
        self.last = 0  # delivery cycle of the pair's last train


class LooselyTimedTransport:
    """Zero-load latency per train; link counters along the chosen route.

    The counters are kept per route (a few dozen distinct ones) and spread over the links when asked for:
    a train costs O(1) however long its route.
    """

    def __init__(
        self, kernel: Kernel, topo: Topology, params: Any, routing: Routing, backpressure: bool = False
    ) -> None:
        self.topo, self.routing = topo, routing
        self.backpressure = backpressure
        # with back-pressure, per input FIFO queue of a destination (a stream's, or the one shared): the trains
        # that arrived and wait for room in it (in arrival order), and the cycle a wake-up to admit them is due
        # (-1: none)
        self.waiting: dict[Channel, deque[tuple[Any, int, Channel, int]]] = {}
        self.wake_at: dict[Channel, int] = {}
        self._arrive_cb = self._arrive
        self._wake_cb = self._wake
        self.sched = kernel
        self.timing = PipelineTiming(params)
        self.flit_bits = params.flit_bits
        self.rng = np.random.default_rng(routing.seed + 7)
        self.routes: dict[tuple[int, ...], list[int]] = {}  # route -> packets, flits, bits, busy cycles
        self.transfers: list[tuple[int, int, int, int, int, int]] = []
        self.fifo_samples: list[tuple[int, int, int, int]] = []  # no buffers in lt mode
        self.inboxes: dict[int, FifoBank] = {}  # per core, its input FIFOs
        self._fixed: bool | None = None  # deterministic routing (asked at the first train: after prepare)
        # per (src, dst), keyed src * nodes + dst (an int hashes for free, a tuple per train did not): the
        # delivery cycle of its last train and, with deterministic routing, its route's counters and latency
        self._stride = topo.n_nodes
        self._flows: dict[int, _Flow] = {}
        self._deliver_cb = self._deliver  # one bound method for every delivery

    def bind_inbox(self, node: int, inbox: FifoBank) -> None:
        self.inboxes[node] = inbox
        if self.backpressure:
            for q in inbox.queues:
                self.waiting[q] = deque()
                self.wake_at[q] = -1
                q.on_credit = self._admit

    def send(
        self, payload: Any, src: int, dst: int, flits: int, packets: int, out: Channel, held: int
    ) -> None:
        now = self.sched.now()
        if not self.backpressure:
            out.credit(now, held)  # no contention: the injection port takes the train at once
        key = src * self._stride + dst
        flow = self._flows.get(key)
        if flow is None:
            flow = self._flows[key] = _Flow()
        row = flow.row
        base = flow.base
        if row is None:  # the route's counters and its zero-load latency without serialisation
            if self._fixed is None:
                self._fixed = self.routing.deterministic
            path = (src,) if src == dst else self.routing.choose(src, dst, self.rng)
            row = self.routes.get(path)
            if row is None:
                row = self.routes[path] = [0, 0, 0, 0]
            base = self.timing.zero_load(len(path) - 1, 0)
            if self._fixed:
                flow.row, flow.base = row, base
        fb = self.flit_bits
        ser = self.timing.ser(flits)
        # hot-path rule 2 (docs/ARCHITECTURE.md): no += on an item
        row[0] = row[0] + packets
        row[1] = row[1] + flits
        row[2] = row[2] + flits * fb
        row[3] = row[3] + ser
        # trains between one pair of cores arrive in the order they were sent (one path, FIFO buffers): a
        # short train never overtakes a long one sent before it
        at = now + base + ser
        if flow.last > at:
            at = flow.last
        flow.last = at
        bank = self.inboxes[dst]
        inbox = bank.queue(payload)  # its stream's queue
        need = bank.need(flits)
        if self.backpressure:  # its tail reaches the ejection port then; it enters when the queue has room
            self.sched.call_at(at, self._arrive_cb, (payload, inbox, need, out, held))
        else:
            self.sched.call_at(at, self._deliver_cb, (payload, inbox, need))

    def _deliver(self, ev: Wake) -> None:
        payload, inbox, need = ev.obj
        inbox.push(payload, need)  # no credits in lt: the FIFO counts the train as it lands

    # ---- back-pressure (run.lt_backpressure) ---------------------------------------------------------
    def _arrive(self, ev: Wake) -> None:
        payload, inbox, need, out, held = ev.obj
        self.waiting[inbox].append((payload, need, out, held))
        self._admit(inbox)

    def _wake(self, ev: Wake) -> None:
        inbox: Channel = ev.obj
        self.wake_at[inbox] = -1
        self._admit(inbox)

    def _admit(self, inbox: Channel) -> None:
        """The trains waiting for the input FIFO queue ``inbox`` (a core's, or one stream's into it), in
        arrival order, while it has room: each takes its credits there and gives the sender's output queue its
        own back; the first that does not fit waits (and holds those behind it) for the release that frees
        enough room. Also the queue's credit hook (credits came back, dated, maybe later)."""
        q = self.waiting[inbox]
        now = self.sched.now()
        while q:
            payload, need, out, held = q[0]
            if not inbox.fits(need, now):
                at = inbox.room_at(need)  # None: not with the releases known yet (a credit will call back)
                if at is not None:
                    if at < now:
                        at = now
                    w = self.wake_at[inbox]
                    if w < 0 or w > at:
                        self.wake_at[inbox] = at
                        self.sched.call_at(at, self._wake_cb, inbox)
                return
            q.popleft()
            inbox.reserve(need)
            out.credit(now, held)
            inbox.push(payload, 0)

    def counters(self) -> dict[str, int]:
        return route_counters(self.routes.items())

    def link_rows(self) -> list[dict[str, Any]]:
        return route_link_rows(self.routes.items(), self.topo.links)


class TimedTransport:
    """The router/link components with contention and back-pressure.

    With ``record`` set, every delivered train is logged as (src, dst, sent, delivered, flits, packets) and
    the occupancy (flits) of every input buffer of the destination router is sampled at delivery — the
    material of the Perfetto trace.
    """

    def __init__(self, net: NetworkBase, record: bool = False) -> None:
        self.net = net
        self.record = record
        self.transfers: list[tuple[int, int, int, int, int, int]] = []
        self.fifo_samples: list[tuple[int, int, int, int]] = []  # (cycle, node, input port, flits)
        if record:
            net.on_deliver = self._log

    def bind_inbox(self, node: int, inbox: FifoBank) -> None:
        self.net.attach_inbox(node, inbox)

    def send(
        self, payload: Any, src: int, dst: int, flits: int, packets: int, out: Channel, held: int
    ) -> None:
        self.net.transfer(payload, src, dst, flits, packets, out, held)

    def _log(self, src: int, dst: int, t0: int, done: int, flits: int, packets: int) -> None:
        self.transfers.append((src, dst, t0, done, flits, packets))
        for b in self.net.sampled_inputs(dst):
            self.fifo_samples.append((done, dst, b.idx, b.occupancy(done)))

    def counters(self) -> dict[str, int]:
        return dict(self.net.counters)

    def link_rows(self) -> list[dict[str, Any]]:
        return self.net.link_rows()


def make_transport(cfg: Any, kernel: Kernel, topo: Topology, routing: Routing) -> Transport:
    """The transport of ``cfg.run.mode`` over ``topo`` with a prepared ``routing``; in ``at`` mode the routers
    of ``cfg.noc.router`` (``fast``: :class:`Network`, ``vc``: :class:`VcNetwork`)."""
    if cfg.run.mode == "at":
        return TimedTransport(
            make_network(kernel, topo, cfg.noc, routing, seed=cfg.run.seed), record=cfg.output.trace
        )
    return LooselyTimedTransport(kernel, topo, cfg.noc, routing, cfg.run.lt_backpressure)
