"""A router: input buffers, a round-robin switch allocator per output, and the hop to the next router.

Unit of transfer: a *transaction* (one packet, or several back-to-back packets of one spine sent together),
with its size in flits. A head that reaches a router's switch allocator requests the output its route names
(:class:`~elsa_tlm.noc.link.Port`); the output grants transactions one at a time, round-robin over the router's
input ports, only when the downstream channel has credits for ``min(flits, capacity)`` (virtual cut-through).
A granted head cuts through to the next router (one SimPy event per hop) while its tail follows ``ser`` cycles
behind; its credits in this router's input buffer come back when the tail has left. Output and credit waits
add one wake-up event only when a transaction actually has to wait. Stage delays: :mod:`elsa_tlm.noc.latency`.

A hop reschedules the transaction itself (a :class:`Txn` is a reusable event of :mod:`elsa_tlm.kernel`, the
one fast path onto SimPy's heap) with one heap push, and a wake-up is a bare :class:`~elsa_tlm.kernel.Wake`, so
a hop costs one heap entry and no allocation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from elsa_tlm.hw.channel import Channel
from elsa_tlm.kernel import Kernel, Reusable, Wake
from elsa_tlm.noc.latency import PipelineTiming
from elsa_tlm.noc.link import EJECT, INJECT, LINK, Port

_HEAD: Final = (0,)  # a FIFO input: only its head competes


class Txn(Reusable):
    """A transaction in flight — one packet, or a train's back-to-back packets — for the fast and the VC router
    alike, built whole here. It is its own SimPy event: the fast router reschedules it once per hop (its head
    reaches the next router's switch allocator), so a hop costs one heap entry and no allocation.

    ``buf`` is the buffer its tail is in and ``held`` the credits it holds there: at first the sender's output
    queue (a core's network interface; None for synthetic traffic), whose credits go back when the injection
    port has taken the tail, as every hop returns its input buffer's."""

    src: int
    dst: int
    flits: int
    packets: int
    bits: int
    ser: int  # serialisation cycles per hop
    need: int  # credits (flits) it takes in a router buffer
    ports: tuple[Any, ...]  # its route: injection, links, ejection (Port, or the VC router's OutputPort)
    idx: int  # the port it requests next
    buf: Channel | None  # the buffer its tail is in
    held: int  # credits it holds there
    t0: int
    ev: Any
    tag: Any
    payload: Any
    # the VC router's: the VC (index) its tail is in, when it entered that FIFO, when its head may compete for
    # switch allocation, its dateline VC class per hop (None: one class)
    vc: int
    arrived: int
    ready: int
    cls: tuple[int, ...] | None

    def __init__(
        self,
        src: int,
        dst: int,
        flits: int,
        packets: int,
        bits: int,
        ser: int,
        need: int,
        ports: tuple[Any, ...],
        t0: int,
        ev: Any,
        tag: Any,
        payload: Any,
        buf: Channel | None,
        held: int,
    ) -> None:
        super().__init__()
        self.src, self.dst, self.flits, self.packets, self.bits = src, dst, flits, packets, bits
        self.ser, self.need, self.ports, self.idx = ser, need, ports, 0
        self.buf, self.held = buf, held
        self.t0, self.ev, self.tag, self.payload = t0, ev, tag, payload
        self.vc, self.arrived, self.ready, self.cls = -1, 0, 0, None


class NocActivity:
    """What the deadlock watchdog watches, shared by the routers of one network."""

    __slots__ = ("in_flight", "pending", "last_progress", "delivered", "events")

    def __init__(self) -> None:
        self.in_flight = self.pending = self.last_progress = self.delivered = self.events = 0


class Router:
    """One router: its input channels (index 0 the local core, then the neighbours in ascending order), its
    outputs (links to the neighbours and the ejection port; the core's injection port is served here too) and
    their switch allocation."""

    def __init__(
        self,
        node: int,
        inputs: list[Channel],
        timing: PipelineTiming,
        sched: Kernel,
        act: NocActivity,
        check: Callable[[], None],
        timeout: int,
    ) -> None:
        self.node, self.inputs = node, inputs
        self.sched, self.act, self.check, self.timeout = sched, act, check, timeout
        self.arrive_cbs = [self.arrive]  # shared by every head that reaches this router (SimPy swaps it out)
        self.on_eject: Callable[[Txn, int], None] = lambda t, done: None  # bound by the network

    # ---- heads arriving -------------------------------------------------------------------------------
    def arrive(self, t: Txn) -> None:
        """The head of ``t`` reaches this router's switch allocator: request its next output."""
        act = self.act
        act.pending -= 1
        buf = t.buf
        # its tail is in an input buffer, or (the second local path) still in the core's output queue, or nowhere
        # (synthetic traffic): the ejection port queues those with the local input's (index 0)
        inp = 0 if buf is None else buf.idx
        # it waits, or it left the network: can anything still move (the watchdog's two conditions)?
        if (
            not self.request(t.ports[t.idx], t, inp)
            and act.in_flight
            and (not act.pending or self.sched.now() - act.last_progress > self.timeout)
        ):
            self.check()

    def request(self, port: Port, t: Txn, inp: int) -> bool:
        """Queue ``t`` at ``port``; fast path: with nobody waiting there and room downstream, it is granted at
        once — for now if the port is idle, back to back for the cycle it frees if busy (what
        :meth:`allocate` would do with this one request). True when a hop was scheduled (progress is
        possible: nothing for the watchdog to check)."""
        if not port.nwait:
            now = self.sched.now()
            at = port.busy_until
            if at < now:
                at = now
            fifos = port.fifos  # a core's input FIFOs, a queue per stream: the train's own
            buf = port.dest_buf if fifos is None else fifos.queue(t.payload)
            if buf is None:
                self.grant(port, t, at, None)
                return False
            if fifos is not None:
                need = fifos.need(t.flits)
            else:
                need = t.need if t.need < buf.cap else buf.cap
            used = buf.used  # Channel.fits without two calls (releases due by now applied only if any)
            if buf.rel and buf.rel[0][0] <= now:
                used = buf.occupancy(now)
            if used + need <= buf.cap:
                buf.reserve(need)
                port.rr = inp
                self.grant(port, t, at, buf)
                return True
        port.queues[inp].append(t)
        port.nwait += 1
        self.allocate(port)
        return False

    # ---- switch allocation ----------------------------------------------------------------------------
    def allocate(self, port: Port) -> None:
        """Grant the transactions waiting at ``port``, round-robin over the input ports, back to back.

        A busy port grants its next transaction for the cycle it frees (its credits are reserved now: only
        this port feeds the downstream channel, so they cannot be taken in between), which needs no wake-up
        event; a port blocked on credits waits for the release that frees enough room.
        """
        if not port.nwait:
            return
        if port.fifos is not None:
            self._allocate_fifos(port)
            return
        now = self.sched.now()
        queues = port.queues
        n = len(queues)
        buf = port.dest_buf
        while port.nwait:
            i = port.rr
            for _ in range(n):
                i = i + 1 if i + 1 < n else 0
                if queues[i]:
                    break
            t = queues[i][0]
            if buf is not None:
                need = t.need if t.need < buf.cap else buf.cap
                if buf.occupancy(now) + need > buf.cap:
                    port.blocked = True
                    port.need = need
                    self.wake_when_room(port, buf)
                    return
                buf.reserve(need)
                port.blocked = False
            queues[i].popleft()
            port.nwait -= 1
            port.rr = i
            self.grant(port, t, port.busy_until if port.busy_until > now else now, buf)

    def _allocate_fifos(self, port: Port) -> None:
        """:meth:`allocate` for an ejection port into input FIFO queues divided among streams: round-robin
        over the router's inputs, a head whose stream's queue has no room for it is passed over (its credits
        are that queue's alone; it still holds the trains behind it in its input buffer), back to back. The
        local input's trains (the second local path's) are still in their groups' output queues, one FIFO per
        group, so there each group's first train competes (:meth:`_heads`)."""
        now = self.sched.now()
        queues = port.queues
        n = len(queues)
        fifos = port.fifos
        assert fifos is not None  # an ejection port into streams' queues
        while port.nwait:
            i = port.rr
            found = -1
            k = 0
            buf: Channel | None = None
            need = 0
            for _ in range(n):
                i = i + 1 if i + 1 < n else 0
                if queues[i]:
                    for k in self._heads(queues[i], i):
                        t = queues[i][k]
                        buf = fifos.queue(t.payload)
                        need = fifos.need(t.flits)
                        if buf.occupancy(now) + need <= buf.cap:
                            found = i
                            break
                    if found >= 0:
                        break
            if found < 0 or buf is None:
                port.blocked = True
                self._wake_fifos(port)
                return
            buf.reserve(need)
            port.blocked = False
            q = queues[found]
            if k == 0:
                t = q.popleft()
            else:
                t = q[k]
                del q[k]
            port.nwait -= 1
            port.rr = found
            self.grant(port, t, port.busy_until if port.busy_until > now else now, buf)

    @staticmethod
    def _heads(q: Any, i: int) -> tuple[int, ...]:
        """The places in input ``i``'s waiting trains ``q`` that may compete: the head of a router input
        buffer (a FIFO), or on the local input (0) each group output queue's first train."""
        n = len(q)
        if i != 0 or n == 1:
            return _HEAD
        seen: list[Any] = []
        out: list[int] = []
        for k in range(n):
            b = q[k].buf
            new = True
            for x in seen:
                if x is b:
                    new = False
                    break
            if new:
                seen.append(b)
                out.append(k)
        return tuple(out)

    def _wake_fifos(self, port: Port) -> None:
        """Wake a blocked ejection port of :meth:`_allocate_fifos` at the first known release that makes room
        for one of its heads (none known: a credit will call back)."""
        best = -1
        fifos = port.fifos
        assert fifos is not None
        queues = port.queues
        for i in range(len(queues)):
            q = queues[i]
            if q:
                for k in self._heads(q, i):
                    t = q[k]
                    buf = fifos.queue(t.payload)
                    at = buf.room_at(fifos.need(t.flits))
                    if at is not None and (best < 0 or at < best):
                        best = at
        if best >= 0:
            now = self.sched.now()
            self._wake(port, best if best > now else now)

    def grant(self, port: Port, t: Txn, now: int, buf: Channel | None) -> None:
        """``t`` wins ``port`` for cycle ``now`` (the current cycle or, back to back, the cycle the port
        frees; credits already taken in ``buf``): the port is busy for ``ser`` cycles, the head goes on."""
        ser = t.ser
        flits = t.flits
        end = now + ser
        port.busy_until = end
        port.packets += t.packets
        port.flits += flits
        port.bits += t.bits
        port.busy += ser
        act = self.act
        if end > act.last_progress:  # a granted train streams until its tail leaves: that is progress
            act.last_progress = end
        old = t.buf
        if port.kind != EJECT and port.dest_buf is None:
            # a local path (injection, or the second local path) has no buffer of its own: the train stays in the
            # core's output queue, holding its credits there, until a link or the ejection port takes it
            t.idx += 1
            act.pending += 1
            act.events += 1
            t.callbacks = port.next_hop
            self.sched.at(now + port.delay, t)
            return
        if old is not None:  # the tail leaves the buffer it is in (a router's, or the core's output queue)
            old.credit(end, t.held)
        if port.kind != EJECT:
            t.buf = buf
            t.held = t.need
            t.idx += 1
            act.pending += 1
            act.events += 1
            t.callbacks = port.next_hop
            self.sched.at(now + port.delay, t)  # the port's own step: the local port, or the link's wire
        else:
            if len(t.ports) == 2:  # injection then ejection: it never left its router
                port.loopback_flits += flits
            done = now + port.delay + ser
            t.buf = None
            act.in_flight -= 1
            act.delivered += 1
            self.on_eject(t, done)

    # ---- waiting for credits --------------------------------------------------------------------------
    def on_credit(self, buf: Channel) -> None:
        """Credits came back to ``buf``: wake the output that feeds it if it waits for them."""
        port = buf.up
        if port.blocked:
            if port.fifos is not None:
                port.router._wake_fifos(port)
            else:
                port.router.wake_when_room(port, buf)

    def wake_when_room(self, port: Port, buf: Channel) -> None:
        """Wake a port blocked on ``buf``'s credits when the releases already known free enough room for
        its head transaction (no wake-up for a release that would not be enough)."""
        at = buf.room_at(port.need)
        if at is not None:
            self._wake(port, max(at, self.sched.now()))

    def _wake(self, port: Port, at: int) -> None:
        if port.wake_at is not None and port.wake_at <= at:
            return
        port.wake_at = at
        self.act.pending += 1
        self.act.events += 1
        self.sched.call_at(at, self._on_wake, port)

    def _on_wake(self, ev: Wake) -> None:
        self.act.pending -= 1
        port = ev.obj
        if port.wake_at == self.sched.now():
            port.wake_at = None
        self.allocate(port)
        act = self.act
        if act.in_flight and (not act.pending or self.sched.now() - act.last_progress > self.timeout):
            self.check()


__all__ = ["Txn", "NocActivity", "Router", "INJECT", "LINK", "EJECT"]
