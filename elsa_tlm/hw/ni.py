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

The interface talks to the network only through ``transport.send`` and ``transport.return_credits``, and to
its core only through the callbacks the chip builder binds (``deliver``, ``wake``).
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import simpy


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
    """Output buffer towards the router and input FIFO credits from it, for one core."""

    def __init__(self, env: simpy.Environment, node: int, transport: Any, capacity_flits: int, bounded: bool):
        self.env, self.node, self.transport = env, node, transport
        self.capacity = capacity_flits
        self.bounded = bounded
        self.out_used = 0
        self.out_peak = 0
        self.in_used = 0  # mirrored from deliveries and returned credits (for statistics)
        self.in_peak = 0
        self.in_released: list[tuple[int, int]] = []  # (cycle, flits): FIFO space the core frees then
        self.waiting: deque[Callable[[], None]] = deque()  # senders to wake when space frees
        self.released: list[tuple[int, int]] = []  # (cycle, flits): space that frees when a tail leaves
        self.wake_pending = False
        self.serving = False
        self.deliver: Callable[[Train], None] = lambda train: None  # bound by the chip builder: the core
        self.peers: dict[int, Callable[[Train], None]] = {}  # bound by the builder: node -> that NI's accept
        self.trains_out = self.trains_in = 0
        self.flits_out = self.flits_in = 0
        self.spikes_in: dict[str, int] = {}  # per producer layer (conservation checks)

    # ---------------------------------------------------------------------------------------------- out
    def can_send(self, train: Train) -> bool:
        if not self.bounded:
            return True
        if self.released and self.released[0][0] <= self.env.now:
            self._apply_releases()
        if self.waiting and not self.serving:  # first come, first served: no overtaking a waiting sender
            return False
        return self.out_used + min(train.flits, self.capacity) <= self.capacity

    def send(self, train: Train) -> None:
        """Hand a train to the router (call only when :meth:`can_send`)."""
        need = min(train.flits, self.capacity)
        self.out_used += need
        if self.out_used > self.out_peak:
            self.out_peak = self.out_used
        self.trains_out += 1
        self.flits_out += train.flits
        ev = self.transport.send(
            train.src, train.dst, train.flits, train.packets, lambda tail, n=need: self._injected(n, tail)
        )
        ev.callbacks.append(lambda _e, tr=train, accept=self.peers[train.dst]: accept(tr))

    def _injected(self, need: int, tail_leaves: int) -> None:
        """The router took the train; its space frees when its tail has left (applied lazily, or by a wake-up
        event when a sender is waiting for it)."""
        heapq.heappush(self.released, (tail_leaves, need))
        if self.waiting and not self.wake_pending:
            self._schedule_wake()

    def _apply_releases(self) -> None:
        now = self.env.now
        rel = self.released
        while rel and rel[0][0] <= now:
            self.out_used -= heapq.heappop(rel)[1]

    def _schedule_wake(self) -> None:
        self.wake_pending = True
        delay = max(0, self.released[0][0] - self.env.now)
        self.env.timeout(delay).callbacks.append(self._on_wake)

    def _on_wake(self, _ev: simpy.Event) -> None:
        self.wake_pending = False
        self._apply_releases()
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
        if self.waiting and self.released and not self.wake_pending:
            self._schedule_wake()

    def wait_for_space(self, wake: Callable[[], None]) -> None:
        self.waiting.append(wake)
        if self.released and not self.wake_pending:
            self._schedule_wake()

    # ---------------------------------------------------------------------------------------------- in
    def accept(self, train: Train) -> None:
        """Inbound port: the router ejected ``train`` into this interface's FIFOs."""
        self.trains_in += 1
        self.flits_in += train.flits
        self.spikes_in[train.producer] = self.spikes_in.get(train.producer, 0) + train.spikes
        rel, now = self.in_released, self.env.now
        while rel and rel[0][0] <= now:
            self.in_used -= heapq.heappop(rel)[1]
        self.in_used += min(train.flits, self.capacity)
        if self.in_used > self.in_peak:
            self.in_peak = self.in_used
        self.deliver(train)

    def return_credits(self, flits: int, at: int) -> None:
        """The core has (or will have by cycle ``at``) written a train's spikes into its PE input buffers:
        its FIFO space goes back to the router then (the flit decoder frees FIFO space as spikes leave)."""
        heapq.heappush(self.in_released, (at, flits))
        self.transport.return_credits(self.node, flits, at)
