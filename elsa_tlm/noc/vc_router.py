"""An input-queued virtual-channel router: per-VC input FIFOs, VC and switch allocation, credit round trips.

The ``vc`` router (``noc.router = "vc"``) queues like the routers of cycle-accurate NoC simulators (the
input-queued router of BookSim 2.0, Dally & Towles ch. 16-17), where the ``fast`` router
(:mod:`elsa_tlm.noc.router`) grants back to back out of pooled buffers:

* **Input buffers per virtual channel.** Every input port (the local core's and one per neighbour) has
  ``noc.virtual_channels`` FIFOs of ``noc.vc_buffer_flits`` flits. Only the *head* packet of each FIFO takes
  part in allocation (head-of-line blocking: a blocked head holds up the packets behind it in its FIFO, not
  those of the other VCs).
* **VC allocation.** A head needs an output VC of its output port (a VC of the next router's input port).
  A free output VC goes to the requesting input VCs in round-robin order, and the VCs themselves are
  handed out round-robin. A packet holds its output VC until its tail has left through the switch; then the
  VC may be given to another packet, which queues behind it in the downstream FIFO (no wait for the tail
  credit, BookSim's default ``wait_for_tail_credit = 0``).
* **Switch allocation** (separable, input first, one iteration, iSLIP pointers): each free crossbar input
  picks one of its VCs whose head has an output VC, credits and a free output, round-robin; each output
  picks one of the inputs that picked it, round-robin. Pointers move only on a grant. One packet per crossbar
  input and per output at a time: a packet holds both for its ``ser`` cycles (one flit per cycle when
  ``link_bits == flit_bits``).
* **Credits.** An output VC has ``vc_buffer_flits`` credits. A packet is granted when its VC has room for it
  (``need = min(flits, vc_buffer_flits)``: virtual cut-through inside a VC), the credits are taken at the
  grant, and come back to the upstream allocator ``ser + credit_delay`` cycles after the downstream router
  grants the packet onward (its tail has then left the downstream FIFO, and the credit has crossed back),
  with ``credit_delay = wire + 1`` (the link's ``link_latency_cycles``, or the local port's
  ``local_port_cycles``, plus one cycle to register the credit).

Timing (:mod:`elsa_tlm.noc.latency`): a head that reaches a router's FIFO at *a* may be allocated (VA and SA
together, in the SA stage) from ``max(a, h) + RC + SA``: its route is computed only once it is the FIFO's
head, and a head behind a packet granted at *g* is routed from ``h = g + ser - 1``, the cycle the previous
tail crosses the switch (BookSim 2's ``iq`` router: the next head enters route computation the cycle after
the tail's switch allocation; single-flit packets in one VC are granted RC + SA cycles apart). Granted at *t*,
it reaches the next FIFO at t + ST + L. So a packet that never waits takes the same 2P + (h+1)R + hL + ser cycles as with the fast
router (one closed form for both, and for ``lt``).

Transaction granularity: a packet (or a chip train) is one unit. The model schedules one allocation pass per
router and cycle in which something there may move (a head becomes eligible, an output, a VC or credits come
free), never per flit; what its flits do follows from its size.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, Final

from elsa_tlm.kernel import Kernel, Wake
from elsa_tlm.noc.link import EJECT, INJECT, LINK, link_row
from elsa_tlm.noc.router import NocActivity, Txn

NEVER: Final = 1 << 62  # a cycle that never comes


def _cls(t: Txn) -> int:
    """The dateline VC class of ``t``'s next hop (the router has classes, so the packet has them)."""
    cls = t.cls
    assert cls is not None
    return cls[t.idx]


class InputVc:
    """One virtual channel of an input port: a FIFO of packets (only its head competes)."""

    __slots__ = ("port", "v", "q", "head_since", "occ", "up")
    up: OutputPort  # the output that feeds it (bound by the network)

    def __init__(self, port: InputPort, v: int) -> None:
        self.port, self.v = port, v
        self.q: deque[Txn] = deque()
        # the cycle the head behind a leaving tail may start route computation: one cycle before that tail has
        # left (BookSim's iq router routes the next head in the cycle after the tail's switch allocation)
        self.head_since = 0
        self.occ = 0  # flits of the packets in the FIFO (credits taken by the upstream)


class InputPort:
    """An input port of a router: its virtual channels and its crossbar input."""

    __slots__ = ("router", "idx", "name", "vcs", "busy_until", "rr")

    def __init__(self, router: VcRouter, idx: int, n_vcs: int, name: str) -> None:
        self.router, self.idx, self.name = router, idx, name
        self.vcs = [InputVc(self, v) for v in range(n_vcs)]
        self.busy_until = 0  # the crossbar input carries one packet at a time
        self.rr = n_vcs - 1  # switch allocation: the VC granted last

    def occupancy(self, now: int) -> int:
        """Flits held in this port's FIFOs (the trace samples it)."""
        return sum(vc.occ for vc in self.vcs)


class OutputPort:
    """An output: a link to the next router, the router's ejection port into its core, or the core's injection
    port into the router's local input. Link and injection outputs own the state of the downstream input
    port's VCs as the sender sees it (free for allocation, credits, credits coming back)."""

    __slots__ = (
        "kind",
        "src",
        "dst",
        "router",
        "down",
        "inbox",
        "fifos",
        "busy_until",
        "free_at",
        "credits",
        "returns",
        "va_rr",
        "vc_rr",
        "sa_rr",
        "cwait",
        "credit_delay",
        "packets",
        "flits",
        "bits",
        "busy",
        "loopback_flits",
    )
    down: InputPort  # the input port it feeds (bound by the network; an ejection port feeds its core's inbox)

    def __init__(self, kind: int, src: int, dst: int, router: VcRouter, n_vcs: int, depth: int) -> None:
        self.kind, self.src, self.dst, self.router = kind, src, dst, router
        self.inbox: Any = None  # ejection: the core's input channel (chip runs), whose credits it takes
        self.fifos: Any = None  # or its input FIFO queues divided among streams (a FifoBank): the train's own
        self.busy_until = 0
        self.free_at = [0] * n_vcs  # cycle from which each output VC may be allocated (NEVER: held)
        self.credits = [depth] * n_vcs
        self.returns: list[deque[tuple[int, int]]] = [deque() for _ in range(n_vcs)]  # (cycle, flits)
        self.va_rr = -1  # VC allocation: the input VC served last
        self.vc_rr = n_vcs - 1  # the output VC handed out last
        self.sa_rr = -1  # switch allocation: the input port granted last
        self.cwait = False  # a head waits for credits that are not yet on their way back
        self.credit_delay = 1
        self.packets = self.flits = self.bits = self.busy = 0
        self.loopback_flits = 0

    def deliver(self, payload: Any) -> None:
        """The ejection port puts a train that has arrived into its own buffer: the core's input channel (its
        stream's queue)."""
        self.queue(payload).push(payload)

    def queue(self, payload: Any) -> Any:
        """Ejection: the input FIFO queue ``payload`` takes credits in (None: no core attached)."""
        return self.inbox if self.fifos is None else self.fifos.queue(payload)

    def credits_at(self, w: int, now: int) -> int:
        """Credits of output VC ``w`` at cycle ``now`` (applies the returns due by then)."""
        ret = self.returns[w]
        c = self.credits[w]
        while ret and ret[0][0] <= now:
            c += ret.popleft()[1]
        self.credits[w] = c
        return c

    def credits_ready(self, w: int, need: int) -> int:
        """The first cycle output VC ``w`` will have ``need`` credits from the returns already on their way
        (NEVER: not without returns still unknown)."""
        c = self.credits[w]
        if c >= need:
            return 0
        for at, n in self.returns[w]:
            c += n
            if c >= need:
                return at
        return NEVER

    def give_back(self, w: int, flits: int, at: int) -> None:
        """``flits`` credits of VC ``w`` come back at cycle ``at`` (non-decreasing per VC)."""
        self.returns[w].append((at, flits))
        if self.cwait:
            self.cwait = False
            self.router.wake(at)

    def row(self) -> dict[str, int]:
        """links.csv: packets, flits, bits and busy cycles of this link."""
        return link_row(self)

    def __repr__(self) -> str:
        kind = ("inject", "link", "eject")[self.kind]
        return f"<vc {kind} {self.src}->{self.dst}: {self.packets} packets, {self.flits} flits>"


class VcRouter:
    """One input-queued VC router: input ports (0 = the local core, then the neighbours in ascending order),
    outputs (links and the ejection port), the core's injection port and source queue, and one allocation
    pass per cycle in which something may move."""

    inject_port: OutputPort  # bound by the network
    eject_port: OutputPort
    loop_port: OutputPort | None  # the second local path's injection port (noc.local_paths = 2), or None

    def __init__(
        self,
        kernel: Kernel,
        node: int,
        n_vcs: int,
        timing: Any,
        act: NocActivity,
        check: Callable[[], None],
        classes: list[tuple[int, int]] | None = None,
    ) -> None:
        self.node, self.n_vcs, self.act, self.check = node, n_vcs, act, check
        self.sched = kernel
        # dateline VC classes (tori, rings): the output VCs [lo, hi) a head of class c may take; None: any
        self.classes = classes
        self.inputs: list[InputPort] = []
        self.source: deque[Txn] = deque()  # the core's packets not yet injected (unbounded)
        self.loop_source: deque[Txn] = deque()  # those it sends to itself, with a second local path
        self.loop_port = None
        self.hold_out = False  # a core's router: its trains keep their output queue's credits (attach_inbox)
        self.active: list[InputVc] = []  # input VCs holding packets
        self.wakes: set[int] = set()  # cycles with an allocation pass scheduled
        self.RC, self.SA = timing.RC, timing.SA
        self.to_next = timing.ST + timing.L  # granted -> in the next router's FIFO
        self.d_local = timing.P  # injection granted -> in the local FIFO
        self.d_eject = timing.d_eject
        self.on_eject: Callable[[Txn, int], None] = lambda t, done: None  # bound by the network

    # ---- scheduling ----------------------------------------------------------------------------------
    def wake(self, at: int) -> None:
        """Run an allocation pass at cycle ``at`` (>= now; once per cycle)."""
        if at in self.wakes:
            return
        now = self.sched.now()
        if at < now:
            at = now
            if at in self.wakes:
                return
        self.wakes.add(at)
        act = self.act
        act.pending += 1
        act.events += 1
        self.sched.call_at(at, self._on_wake, at)

    def _on_wake(self, ev: Wake) -> None:
        self.act.pending -= 1
        self.wakes.discard(ev.obj)
        self.allocate(ev.obj)
        if self.act.in_flight:
            self.check()

    # ---- taking a packet in --------------------------------------------------------------------------
    def enqueue(self, t: Txn) -> None:
        """A packet joins the source queue of its local path (each served FIFO by its injection port)."""
        o: OutputPort = t.ports[0]
        src = self.source if o is self.inject_port else self.loop_source
        src.append(t)
        if len(src) == 1:
            nxt = self._inject(src, o, self.sched.now())
            if nxt < NEVER:
                self.wake(nxt)

    def inject(self, now: int) -> int:
        """Serve the source queues at cycle ``now`` (the network-bound one, then the loopback one of the second
        local path). Returns the cycle to try again (NEVER: nothing to do, or waiting for a credit not yet on
        its way)."""
        nxt = self._inject(self.source, self.inject_port, now)
        lo = self.loop_port
        if self.loop_source and lo is not None:
            at = self._inject(self.loop_source, lo, now)
            if at < nxt:
                nxt = at
        return nxt

    def _inject(self, src: deque[Txn], o: OutputPort, now: int) -> int:
        """Serve one source queue: its head takes a free VC of its local input with room for it."""
        if not src:
            return NEVER
        if o.busy_until > now:
            return o.busy_until
        t = src[0]
        n = self.n_vcs
        w = o.vc_rr
        retry = NEVER
        for _ in range(n):
            w = w + 1 if w + 1 < n else 0
            fa = o.free_at[w]
            if fa > now:
                if fa < retry:
                    retry = fa
                continue
            if self.hold_out or o is self.loop_port or o.credits_at(w, now) >= t.need:
                break  # a core's local paths take no credits of their own (see _send)
            at = o.credits_ready(w, t.need)
            if at < retry:
                retry = at
        else:
            if retry == NEVER:
                o.cwait = True
            return retry
        src.popleft()
        o.vc_rr = w
        self._send(o, t, w, now)
        return now + t.ser if src else NEVER

    # ---- allocation ----------------------------------------------------------------------------------
    def allocate(self, now: int) -> None:
        """One allocation pass at cycle ``now``: injection, VC allocation, switch allocation, grants; then the
        next cycle anything here may move."""
        nxt = self.inject(now)
        active = self.active
        if not active:
            if nxt < NEVER:
                self.wake(nxt)
            return
        n_vcs = self.n_vcs
        # ---- VC allocation: eligible heads without an output VC, per output, round-robin
        eligible: list[InputVc] = []
        va: dict[OutputPort, list[InputVc]] = {}
        for ivc in active:
            h = ivc.q[0]
            if h.ready > now:
                continue
            eligible.append(ivc)
            if h.vc < 0:
                o = h.ports[h.idx]
                if o.kind == EJECT:
                    h.vc = 0
                else:
                    lst = va.get(o)
                    if lst is None:
                        va[o] = [ivc]
                    else:
                        lst.append(ivc)
        if not eligible:  # every head still in the pipeline
            at = min(ivc.q[0].ready for ivc in active)
            self.wake(at if at < nxt else nxt)
            return
        classes = self.classes
        for o, lst in va.items():
            if classes is None:
                self._assign_vcs(o, lst, 0, n_vcs, now)
                continue
            for c, (lo, hi) in enumerate(classes):  # a head takes a VC of its dateline class
                sub = [ivc for ivc in lst if _cls(ivc.q[0]) == c]
                if sub:
                    self._assign_vcs(o, sub, lo, hi, now)
        # ---- switch allocation, input stage: one VC per free crossbar input, round-robin
        best: dict[InputPort, tuple[int, InputVc]] = {}
        for ivc in eligible:
            h = ivc.q[0]
            if h.vc < 0:
                continue
            p = ivc.port
            if p.busy_until > now:
                continue
            o = h.ports[h.idx]
            if o.busy_until > now:
                continue
            if o.kind == EJECT:
                inbox = o.queue(h.payload)
                if inbox is not None and not inbox.fits(h.flits, now):
                    continue
            elif o.credits_at(h.vc, now) < h.need:
                continue
            key = (ivc.v - p.rr - 1) % n_vcs
            b = best.get(p)
            if b is None or key < b[0]:
                best[p] = (key, ivc)
        picks: dict[OutputPort, list[InputVc]] = {}
        for _, ivc in best.values():
            h = ivc.q[0]
            o = h.ports[h.idx]
            lst = picks.get(o)
            if lst is None:
                picks[o] = [ivc]
            else:
                lst.append(ivc)
        # ---- output stage: one input per output, round-robin; grants
        n_in = len(self.inputs)
        for o, lst in picks.items():
            if len(lst) == 1:
                ivc = lst[0]
            else:
                start = o.sa_rr
                ivc = min(lst, key=lambda c: (c.port.idx - start - 1) % n_in)
            self._grant(ivc, o, now)
        # ---- when to look again
        for ivc in active:
            h = ivc.q[0]
            if h.ready > now:
                at = h.ready
            else:
                at = self._retry(h, ivc.port, now)
            if at < nxt:
                nxt = at
        if nxt < NEVER:
            self.wake(nxt)

    def _assign_vcs(self, o: OutputPort, lst: list[InputVc], lo: int, hi: int, now: int) -> None:
        """VC allocation at output ``o``: the free VCs among ``[lo, hi)`` go to the heads of ``lst``, both in
        round-robin order (the input VC served last, the VC handed out last)."""
        n_vcs = self.n_vcs
        free = [w for w in range(lo, hi) if o.free_at[w] <= now]
        if not free:
            return
        if len(lst) > 1:
            k = len(self.inputs) * n_vcs
            start = o.va_rr
            lst.sort(key=lambda ivc: (ivc.port.idx * n_vcs + ivc.v - start - 1) % k)
        if len(free) > 1:
            r = o.vc_rr
            free.sort(key=lambda w: (w - r - 1) % n_vcs)
        for ivc, w in zip(lst, free, strict=False):
            ivc.q[0].vc = w
            o.free_at[w] = NEVER
            o.va_rr = ivc.port.idx * n_vcs + ivc.v
            o.vc_rr = w

    def _retry(self, h: Txn, p: InputPort, now: int) -> int:
        """The next cycle an eligible head that was not granted at ``now`` may move (NEVER: it waits for an
        event that will wake this router)."""
        o = h.ports[h.idx]
        if o.kind == EJECT:
            inbox = o.queue(h.payload)
            need = min(h.flits, inbox.cap) if inbox is not None else 0
            if inbox is not None and inbox.occupancy(now) + need > inbox.cap:
                at = inbox.room_at(need)
                if at is not None:
                    return max(at, now + 1)
                o.cwait = True
                return NEVER
        elif h.vc < 0:
            if self.classes is None:
                soonest = min(o.free_at)
            else:
                lo, hi = self.classes[_cls(h)]
                soonest = min(o.free_at[lo:hi])
            if soonest >= NEVER:
                return NEVER  # every VC held by a head here: its grant re-plans this router
            return max(soonest, now + 1)
        elif o.credits_at(h.vc, now) < h.need:
            at = o.credits_ready(h.vc, h.need)
            if at >= NEVER:
                o.cwait = True
                return NEVER
            return max(at, now + 1)
        return max(now + 1, p.busy_until, o.busy_until)

    def _grant(self, ivc: InputVc, o: OutputPort, now: int) -> None:
        """The head of ``ivc`` wins ``o`` at cycle ``now``: crossbar input and output busy for ``ser``
        cycles; it leaves its FIFO (credits go back upstream once its tail is out and the credit crossed);
        the packet behind becomes the head."""
        t = ivc.q.popleft()
        p = ivc.port
        end = now + t.ser
        out = t.buf
        if out is not None:  # a core's train held its output queue's credits until the switch took it on
            out.credit(end, t.held)
            t.buf = None
        p.busy_until = end
        p.rr = ivc.v
        o.sa_rr = p.idx
        ivc.occ -= t.need
        ivc.head_since = end - 1  # the next head is routed while this tail crosses the switch
        up = ivc.up
        up.give_back(ivc.v, t.need, end + up.credit_delay)
        if ivc.q:
            nh = ivc.q[0]
            nh.ready = (nh.arrived if nh.arrived > end - 1 else end - 1) + self.RC + self.SA
        else:
            self.active.remove(ivc)
        if o.kind == EJECT:
            self._occupy(o, t, end)
            act = self.act
            if len(t.ports) == 2:
                o.loopback_flits += t.flits
            inbox = o.queue(t.payload)
            if inbox is not None:
                inbox.reserve(min(t.flits, inbox.cap))
            act.in_flight -= 1
            act.delivered += 1
            self.on_eject(t, now + self.d_eject + t.ser)
        else:
            self._send(o, t, t.vc, now)

    def _occupy(self, o: OutputPort, t: Txn, end: int) -> None:
        """``t`` holds output ``o`` until ``end`` (its tail has left): the port's counters, and progress for
        the watchdog (a granted train streams until its tail leaves)."""
        o.busy_until = end
        o.packets += t.packets
        o.flits += t.flits
        o.bits += t.bits
        o.busy += t.ser
        if end > self.act.last_progress:
            self.act.last_progress = end

    def _send(self, o: OutputPort, t: Txn, w: int, now: int) -> None:
        """``t`` goes out through ``o`` (a link or the injection port) on output VC ``w`` at ``now``."""
        end = now + t.ser
        o.free_at[w] = end  # the VC may be given to the next packet once this tail has left
        o.credits[w] = o.credits[w] - t.need  # hot-path rule 2
        self._occupy(o, t, end)
        if o.kind == INJECT:
            out = t.buf
            # the core's output queue frees when the tail has left it; a core's trains keep its credits until
            # the switch takes them on (_grant): the output queues are the local port's FIFO queues
            if out is not None and not self.hold_out and o is not self.loop_port:
                out.credit(end, t.held)
                t.buf = None
            arrive = now + self.d_local
        else:
            arrive = now + self.to_next
        dvc = o.down.vcs[w]
        dr = o.down.router
        t.idx += 1
        t.vc = -1
        t.arrived = arrive  # in the FIFO; its route is computed once it is the head
        dvc.occ += t.need
        dvc.q.append(t)
        if len(dvc.q) == 1:
            dr.active.append(dvc)
            t.ready = (arrive if arrive > dvc.head_since else dvc.head_since) + dr.RC + dr.SA
            dr.wake(t.ready)


__all__ = ["NEVER", "InputVc", "InputPort", "OutputPort", "VcRouter", "INJECT", "LINK", "EJECT"]
