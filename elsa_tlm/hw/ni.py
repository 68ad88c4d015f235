"""Network interface of a neural core: the router's local port seen from the core.

Out (reducer + flit generator): a finished transaction's spines, packetised, wait in the interface's output
buffer (the router's local input FIFO queues) until a link or the ejection port takes them on: the injection
port and the second local path are paths, not buffers. The buffer holds ``noc.fifo_count`` × ``noc.fifo_bytes``
of flits; a train that does not fit makes the sending layer slice wait (stalled on output), which is how a
full network reaches back into the producer's PEs. Trains are at most one buffer long (longer outputs are cut
into several trains), so every train can always fit an empty buffer.

In (flit decoder + spike FIFOs): the router ejects a train only when the FIFOs (same size) have room for it
(credits); the core returns a train's credits for the cycle its spikes have entered the PE input buffers (the
decoder frees FIFO space as spikes leave it; a lane group knows that cycle when it starts the transaction), or,
for skip-path trains of residual joins, when the router's residual unit has added them
(:mod:`elsa_tlm.hw.residual`).

The flit generator (:class:`FlitGenerator`, one per producer slice) cuts a slice's emitted spines into trains.

Both buffers are :class:`~elsa_tlm.hw.channel.Channel` s the interface owns: the output buffer's credits come
back when the router has taken a train's tail; the input FIFOs are the channel the network ejects trains into
(its credits are the ejection port's) and whose ``sink`` is the interface's decoder. The interface talks to the
network only through its transport's ``send`` (the train travels as the payload and lands in the destination
interface's input channel), and to its core only through the port the chip builder binds (``deliver``).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any, Final

import numpy as np

from elsa_tlm.hw.channel import Channel, FifoBank
from elsa_tlm.hw.report import ActionSink
from elsa_tlm.kernel import Kernel
from elsa_tlm.schedule.orders import prefix_sums
from elsa_tlm.transfer import Train, Transport

_bisect_right: Final = bisect_right  # compiled, a C static: no globals look-up per train


class OutQueue:
    """One FIFO queue of the router's local input path, owned by one lane group's flit generator (a plain class:
    compiled, native attributes)."""

    __slots__ = ("buf", "waiting", "wake_pending", "serving")

    def __init__(self, buf: Channel) -> None:
        self.buf = buf
        self.waiting: deque[Callable[[], None]] = deque()  # its senders to wake when space frees
        self.wake_pending = False
        self.serving = False


class NetworkInterface:
    """Output queues towards the router and input FIFOs from it, for one core (channels it owns).

    The output side is the router's local input path: ``noc.fifo_count`` FIFO queues (ELSA_BRIEF §3: 4 × 512 B
    per port) divided among the core's lane groups, each group's flit generator writing into its own queues
    (``groups`` names the producer layers on the core; ``per_group`` flits each). A group that runs ahead into
    later time steps fills only its own queues, never the one its co-mapped consumer's earlier-step spines
    need (no priority inversion on the shared local path).

    The input side is the core's input FIFO queues (:class:`~elsa_tlm.hw.channel.FifoBank`): the same
    ``noc.fifo_count`` queues divided among the incoming streams (``streams``, the producer layers of the
    core's slices), or one FIFO for all (``streams`` None)."""

    def __init__(
        self,
        kernel: Kernel,
        node: int,
        capacity_flits: int,
        bounded: bool,
        groups: list[str] | None = None,
        per_group: int = 0,
        streams: list[str] | None = None,
        fifo_count: int = 1,
    ) -> None:
        self.kernel, self.node = kernel, node
        self.capacity = capacity_flits
        self.bounded = bounded
        names = groups or [""]
        size = per_group if per_group > 0 else capacity_flits
        self.group_of: dict[str, int] = {g: i for i, g in enumerate(names)}
        self.queues: list[OutQueue] = []
        for i in range(len(names)):
            q = OutQueue(Channel(kernel, size, f"ni{node}.out{i}"))
            q.buf.on_credit = partial(self._on_out_credit, q)
            self.queues.append(q)
        self.outbox = self.queues[0].buf  # a core with one lane group: its one output queue
        self.inbox = FifoBank(kernel, capacity_flits, fifo_count, streams or [], f"ni{node}.in")
        self.inbox.bind(self._decode)
        self.transport: Transport | None = None  # bound by the chip builder (elsa_tlm.noc.transport)
        self.deliver: Callable[[Train], None] = lambda train: None  # bound by the chip builder: the core
        self.trains_out = self.trains_in = 0
        self.flits_out = self.flits_in = 0
        self.spikes_in: dict[str, int] = {}  # per producer layer (conservation checks)

    def bind(self, transport: Transport, deliver: Callable[[Train], None]) -> None:
        """Builder's bind phase: the transport trains leave through, the core arrived trains go to."""
        self.transport, self.deliver = transport, deliver

    @property
    def out_peak(self) -> int:
        """Most flits a group's local input queues held (the fullest group's)."""
        return max(q.buf.peak for q in self.queues)

    @property
    def in_peak(self) -> int:
        """Most flits a stream's input FIFO queues held (the fullest stream's; all of them when shared)."""
        return self.inbox.peak

    # ---------------------------------------------------------------------------------------------- out
    def _out_queue(self, train: Train) -> OutQueue:
        return self.queues[self.group_of.get(train.producer, 0)]

    def can_send(self, train: Train) -> bool:
        if not self.bounded:
            return True
        q = self._out_queue(train)
        if q.waiting and not q.serving:  # first come, first served: no overtaking a waiting sender
            return False
        # a train longer than its group's queues streams through them (cut-through): it needs them empty
        return q.buf.fits(min(train.flits, q.buf.cap), self.kernel.now())

    def send(self, train: Train) -> None:
        """Hand a train to the router (call only when :meth:`can_send`)."""
        q = self._out_queue(train)
        buf = q.buf
        need = min(train.flits, buf.cap)
        if not self.bounded:  # nothing checked room (can_send): apply the releases due by now, so the buffer
            buf.occupancy(self.kernel.now())  # holds what it holds (its peak), not every train sent
        buf.reserve(need)
        self.trains_out += 1
        self.flits_out += train.flits
        transport = self.transport
        assert transport is not None  # bound by the builder before time starts
        transport.send(
            train,
            train.src,
            train.dst,
            train.flits,
            train.packets,
            buf,
            need,
        )

    def try_send(self, train: Train) -> bool:
        """:meth:`send` the train if :meth:`can_send` allows it; False (nothing sent) otherwise."""
        if not self.can_send(train):
            return False
        self.send(train)
        return True

    def _on_out_credit(self, q: OutQueue, _ch: Channel) -> None:
        """The router took a train; its space frees when its tail has left (applied lazily, or by a wake-up
        event when a sender is waiting for it)."""
        if q.waiting and not q.wake_pending:
            self._schedule_wake(q)

    def _schedule_wake(self, q: OutQueue) -> None:
        q.wake_pending = True
        at = q.buf.next_release()
        assert at is not None  # a wake-up is scheduled only with releases pending
        self.kernel.call_at(max(at, self.kernel.now()), self._on_wake, q)

    def _on_wake(self, ev: Any) -> None:
        q: OutQueue = ev.obj
        q.wake_pending = False
        q.buf.occupancy(self.kernel.now())
        waiting, q.waiting = q.waiting, deque()
        q.serving = True
        while waiting:  # waiting senders retry in order; the first that still does not fit stops the others
            wake = waiting.popleft()
            n = len(q.waiting)
            wake()
            if len(q.waiting) > n:
                break
        q.serving = False
        q.waiting.extend(waiting)
        if q.waiting and q.buf.rel and not q.wake_pending:
            self._schedule_wake(q)

    def wait_for_space(self, wake: Callable[[], None], producer: str = "") -> None:
        q = self.queues[self.group_of.get(producer, 0)]
        q.waiting.append(wake)
        if q.buf.rel and not q.wake_pending:
            self._schedule_wake(q)

    # ---------------------------------------------------------------------------------------------- in
    def _decode(self, train: Train) -> None:
        """The input channel's sink: a train landed in the FIFOs; the flit decoder hands it to the core."""
        self.trains_in += 1
        self.flits_in += train.flits
        self.spikes_in[train.producer] = self.spikes_in.get(train.producer, 0) + train.spikes
        self.deliver(train)

    def return_credits(self, train: Train, at: int) -> None:
        """The core has (or will have by cycle ``at``) written ``train``'s spikes into its PE input buffers:
        its space in its stream's FIFO queue goes back to the router then (the flit decoder frees FIFO space
        as spikes leave)."""
        q = self.inbox.queue(train)
        q.release(self.inbox.need(train.flits), at)

    def report(self, ledger: ActionSink) -> None:
        """The flit decoder's count into the energy ledger: every flit that landed in the input FIFOs."""
        ledger.add("flit_decoder", "flit", self.flits_in)


class FlitGenerator:
    """The flit generator of the router's network interface for one producer slice: packetises its emitted
    spines (ranges of its emission order) into trains, one per destination core, of at most ``chunk`` flits
    (half the consumer's input FIFOs: one train is absorbed while the next arrives); a spine longer than that
    goes as fronts without completion, then its tail. Sizes per spine (packets, flits, spikes per step) come
    from the packet format, computed before time starts."""

    def __init__(
        self,
        layer: str,
        node: int,
        index: int,
        packets: np.ndarray,
        flits: np.ndarray,
        spikes: np.ndarray,
        destinations: list[int],
        chunk: int,
    ) -> None:
        self.layer, self.node, self.index, self.destinations, self.chunk = (
            layer,
            node,
            index,
            destinations,
            chunk,
        )
        self.cum_fl, self.cum_pk, self.cum_sp = prefix_sums(flits), prefix_sums(packets), prefix_sums(spikes)
        # per step, the prefix sums as memoryviews (no copy): Python ints by index, searchable with bisect,
        # several times cheaper per read than numpy's scalar indexing
        self.rows_fl = [memoryview(r) for r in self.cum_fl]
        self.rows_pk = [memoryview(r) for r in self.cum_pk]
        self.rows_sp = [memoryview(r) for r in self.cum_sp]
        self.packets_out = self.flits_out = 0

    def trains(
        self, items: list[tuple[int, int, int]], ready: Callable[[int], int]
    ) -> list[tuple[int, list[Train]]]:
        """``(cycle, trains)`` for emitted spines ``items`` ((step, lo, hi) ranges); ``ready(e)``: the cycle
        emitted spine ``e`` is complete (a train leaves when its last spine is)."""
        rows_fl, rows_pk, rows_sp = self.rows_fl, self.rows_pk, self.rows_sp
        chunk = self.chunk
        total: int = 0
        for t, lo, hi in items:
            rf = rows_fl[t]
            total += rf[hi] - rf[lo]
        if total <= chunk:  # the common case: one train
            packets: int = 0
            spikes: int = 0
            for t, lo, hi in items:
                rp, rs = rows_pk[t], rows_sp[t]
                packets += rp[hi] - rp[lo]
                spikes += rs[hi] - rs[lo]
            return [(ready(items[-1][2] - 1), self._train(items, total, packets, spikes))]
        # longer outputs: trains of at most one FIFO queue each; a spine completes in the train with its tail
        out: list[tuple[int, list[Train]]] = []
        for t, lo, hi in items:
            rf, rp, rs = rows_fl[t], rows_pk[t], rows_sp[t]
            a = lo
            while a < hi:
                base: int = rf[a]
                # the last position whose spines fit in one chunk from a (the prefix sums do not decrease)
                b = _bisect_right(rf, base + chunk, a, hi + 1) - 1
                if b < a:
                    b = a
                if b == a:  # spine a alone is longer than a FIFO: fronts without completion, then its tail
                    f: int = rf[a + 1] - base
                    p: int = rp[a + 1] - rp[a]
                    sp: int = rs[a + 1] - rs[a]
                    when = ready(a)
                    trains: list[Train] = []
                    while f > chunk:
                        trains += self._train([], chunk, max(1, p * chunk // f), sp * chunk // f)
                        p, sp, f = max(1, p - p * chunk // f), sp - sp * chunk // f, f - chunk
                    trains += self._train([(t, a, a + 1)], f, p, sp)
                    out.append((when, trains))
                    a += 1
                    continue
                fl: int = rf[b] - base
                pk: int = rp[b] - rp[a]
                sk: int = rs[b] - rs[a]
                out.append((ready(b - 1), self._train([(t, a, b)], fl, pk, sk)))
                a = b
        return out

    def _train(self, items: list[tuple[int, int, int]], flits: int, packets: int, spikes: int) -> list[Train]:
        """One train per destination core."""
        if flits == 0:  # only empty spines: one head-only flit announces them
            flits, packets = 1, 1
        n = len(self.destinations)
        self.packets_out += packets * n
        self.flits_out += flits * n
        layer, node, index = self.layer, self.node, self.index
        return [Train(layer, node, dst, items, flits, packets, spikes, index) for dst in self.destinations]

    def report(self, ledger: ActionSink) -> None:
        """The flit generator's count into the energy ledger: every packet it generated (per destination)."""
        ledger.add("flit_generator", "packet", self.packets_out)
