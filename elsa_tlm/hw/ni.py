"""Network interface of a neural core: the router's local port seen from the core.

Out (reducer + flit generator): a finished transaction's spines, packetised, wait in the interface's output
buffer until the router's injection port takes them. The buffer holds ``noc.fifo_count`` × ``noc.fifo_bytes``
of flits; a train that does not fit makes the sending layer slice wait (stalled on output), which is how a
full network reaches back into the producer's PEs. Trains are at most one buffer long (longer outputs are cut
into several trains), so every train can always fit an empty buffer.

In (flit decoder + spike FIFOs): the router ejects a train only when the FIFOs (same size) have room for it
(credits); the core returns a train's credits for the cycle its spikes have entered the PE input buffers (the
decoder frees FIFO space as spikes leave it; a lane group knows that cycle when it starts the transaction), or,
for skip-path trains of residual joins, when the router's residual unit has added them
(:mod:`elsa_tlm.hw.residual`).

Both buffers are :class:`~elsa_tlm.hw.channel.Channel` s the interface owns: the output buffer's credits come
back when the router has taken a train's tail; the input FIFOs are the channel the network ejects trains into
(its credits are the ejection port's) and whose ``sink`` is the interface's decoder. The interface talks to the
network only through its transport's ``send`` (the train travels as the payload and lands in the destination
interface's input channel), and to its core only through the port the chip builder binds (``deliver``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import simpy

from elsa_tlm.hw.channel import Channel


@dataclass(slots=True)
class Train:
    """One transfer from a producer slice to one destination core: spines of one or more steps."""

    producer: str  # producer layer
    src: int
    dst: int
    items: list[tuple[int, int, int]]  # (step, lo, hi): producer emission positions completed by this train
    flits: int
    packets: int
    spikes: int
    src_slice: int = 0  # the producer slice (its emission order numbers the items)
    refs: int = 0  # consumer slices on the destination core that still have to absorb it
    done_at: int = 0  # the cycle the last of them has its spikes in (its FIFO space frees then)


class NetworkInterface:
    """Output buffer towards the router and input FIFOs from it, for one core (two channels it owns)."""

    def __init__(self, env: simpy.Environment, node: int, capacity_flits: int, bounded: bool) -> None:
        self.env, self.node = env, node
        self.capacity = capacity_flits
        self.bounded = bounded
        self.outbox = Channel(env, capacity_flits, f"ni{node}.out")
        self.outbox.on_credit = self._on_out_credit
        self.inbox = Channel(env, capacity_flits, f"ni{node}.in")
        self.inbox.sink = self._decode
        self.waiting: deque[Callable[[], None]] = deque()  # senders to wake when space frees
        self.wake_pending = False
        self.serving = False
        self.transport: Any = None  # bound by the chip builder (elsa_tlm.noc.transport.Transport)
        self.deliver: Callable[[Train], None] = lambda train: None  # bound by the chip builder: the core
        self.trains_out = self.trains_in = 0
        self.flits_out = self.flits_in = 0
        self.spikes_in: dict[str, int] = {}  # per producer layer (conservation checks)

    def bind(self, transport: Any, deliver: Callable[[Train], None]) -> None:
        """Builder's bind phase: the transport trains leave through, the core arrived trains go to."""
        self.transport, self.deliver = transport, deliver

    @property
    def out_peak(self) -> int:
        return self.outbox.peak

    @property
    def in_peak(self) -> int:
        return self.inbox.peak

    # ---------------------------------------------------------------------------------------------- out
    def can_send(self, train: Train) -> bool:
        if not self.bounded:
            return True
        if self.waiting and not self.serving:  # first come, first served: no overtaking a waiting sender
            return False
        return self.outbox.fits(train.flits, int(self.env.now))

    def send(self, train: Train) -> None:
        """Hand a train to the router (call only when :meth:`can_send`)."""
        need = min(train.flits, self.capacity)
        self.outbox.reserve(need)
        self.trains_out += 1
        self.flits_out += train.flits
        self.transport.send(
            train,
            train.src,
            train.dst,
            train.flits,
            train.packets,
            lambda tail, n=need: self.outbox.credit(tail, n),
        )

    def _on_out_credit(self, _ch: Channel) -> None:
        """The router took a train; its space frees when its tail has left (applied lazily, or by a wake-up
        event when a sender is waiting for it)."""
        if self.waiting and not self.wake_pending:
            self._schedule_wake()

    def _schedule_wake(self) -> None:
        self.wake_pending = True
        delay = max(0, self.outbox.next_release() - self.env.now)
        self.env.timeout(delay).callbacks.append(self._on_wake)

    def _on_wake(self, _ev: simpy.Event) -> None:
        self.wake_pending = False
        self.outbox.occupancy(int(self.env.now))
        waiting, self.waiting = self.waiting, deque()
        self.serving = True
        while waiting:  # waiting senders retry in order; the first that still does not fit stops the others
            wake = waiting.popleft()
            n = len(self.waiting)
            wake()
            if len(self.waiting) > n:
                break
        self.serving = False
        self.waiting.extend(waiting)
        if self.waiting and self.outbox.rel and not self.wake_pending:
            self._schedule_wake()

    def wait_for_space(self, wake: Callable[[], None]) -> None:
        self.waiting.append(wake)
        if self.outbox.rel and not self.wake_pending:
            self._schedule_wake()

    # ---------------------------------------------------------------------------------------------- in
    def _decode(self, train: Train) -> None:
        """The input channel's sink: a train landed in the FIFOs; the flit decoder hands it to the core."""
        self.trains_in += 1
        self.flits_in += train.flits
        self.spikes_in[train.producer] = self.spikes_in.get(train.producer, 0) + train.spikes
        self.deliver(train)

    def return_credits(self, flits: int, at: int) -> None:
        """The core has (or will have by cycle ``at``) written a train's spikes into its PE input buffers:
        its FIFO space goes back to the router then (the flit decoder frees FIFO space as spikes leave)."""
        self.inbox.release(flits, at)
