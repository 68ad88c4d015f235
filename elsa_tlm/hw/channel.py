"""A bounded channel with credit flow control: the one way components hand each other trains and flits.

A :class:`Channel` is a FIFO of ``capacity`` flits between a sender and a receiver (a router input buffer, a
network interface's output buffer or input FIFOs). The sender takes **credits** for the flits it will put in
(at grant time, as a credit-based router does); the receiver gives them back with :meth:`Channel.release`,
possibly dated in the future (the cycle the flits will have left, known when the receiver starts draining
them); the channel then calls its ``on_credit`` hook, which the builder binds to whoever may be waiting for room
(a blocked link, a sender waiting on an output buffer). Items (trains) that arrive are handed to ``sink``, the
receiver's decode port, bound by the builder.

Two ways to use it, one state:

* **callback-driven components** (routers, links, network interfaces, lane groups) call :meth:`fits`,
  :meth:`reserve`, :meth:`release`, :meth:`push` directly: no SimPy event per flit or per credit, which is
  what lets a ResNet-50 run in seconds;
* **SimPy processes** (tests, traffic generators) use SimPy's resource protocol, ``yield ch.put(item, flits)``
  (waits while the channel is full) and ``yield ch.get()`` (waits for an item; its credits stay taken until
  the receiver releases them): plain :class:`simpy.Event` s served from FIFO put and get queues, as SimPy's
  ``BaseResource`` serves its ``_do_put``/``_do_get`` hooks (a put that does not fit holds back the ones
  behind it; no cancelling a waiting request).

The channel is on the hot path and compiled with the others (:mod:`elsa_tlm.compiled`), so it is a plain class
rather than a ``BaseResource`` subclass: a compiled class over a Python base crashed some clean builds.

Space is counted in credits taken (``used``), releases are kept in a heap and applied lazily when someone asks
(no event per release). ``peak`` is the most credits ever taken at once; a bounded sender never exceeds
``capacity`` (tested); an unbounded one (``lt`` mode, where buffers are not a timing constraint) may.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any, Final

import simpy

from elsa_tlm.kernel import Kernel
from elsa_tlm.transfer import Train

# compiled, Final module values are C statics: no globals look-up per credit
_heappush: Final = heappush
_heappop: Final = heappop


class Channel:
    """A bounded FIFO of ``capacity`` flits with credits (see the module docstring)."""

    def __init__(self, kernel: Kernel, capacity: int, name: str = "") -> None:
        if capacity < 1:
            raise ValueError(f"a channel holds at least one flit (got capacity {capacity})")
        self.kernel, self.name, self.cap = kernel, name, int(capacity)
        self.used = 0  # credits taken
        self.peak = 0
        self.rel: list[tuple[int, int]] = []  # (cycle, flits): credits coming back then
        self.items: deque[Any] = deque()  # held for process-style receivers (``get``)
        self.sink: Callable[[Any], None] | None = None  # the receiver's decode port (bound by the builder)
        self.on_credit: Callable[[Channel], None] | None = None  # whoever waits for room (bound)
        self.up: Any = None  # the output port that feeds it (a link or a local port; bound by the network)
        self.node, self.idx = -1, 0  # the router and input port it belongs to (router input buffers)
        self._timer = False
        # process-style requests waiting, oldest first: (event, item, flits) puts, get events
        self.put_queue: deque[tuple[simpy.Event, Any, int]] = deque()
        self.get_queue: deque[simpy.Event] = deque()

    def put(self, item: Any, flits: int = 1) -> simpy.Event:
        """``yield channel.put(item, flits)``: succeeds once the channel has taken ``flits`` credits (at most its
        capacity) for ``item``, which then goes to the receiver."""
        event = self.kernel.event()
        self.put_queue.append((event, item, flits))
        self._retry_puts()
        return event

    def get(self) -> simpy.Event:
        """``yield channel.get()``: succeeds with the oldest item (its credits stay taken until released)."""
        event = self.kernel.event()
        self.get_queue.append(event)
        self._serve_gets()
        return event

    # ---- credits (callback-driven components) ---------------------------------------------------------
    def occupancy(self, now: int) -> int:
        """Credits taken at the current cycle ``now`` (applies the releases due by then; never pass a future
        cycle: the releases it applies would be gone)."""
        rel = self.rel
        while rel and rel[0][0] <= now:
            self.used -= _heappop(rel)[1]
        return self.used

    def fits(self, flits: int, now: int) -> bool:
        return self.occupancy(now) + min(flits, self.cap) <= self.cap

    def reserve(self, flits: int) -> None:
        """Take ``flits`` credits (the sender checked :meth:`fits`, or is unbounded)."""
        self.used += flits
        if self.used > self.peak:
            self.peak = self.used

    def release(self, flits: int, at: int | None = None) -> None:
        """Give ``flits`` credits back at cycle ``at`` (default now; never earlier than now)."""
        now = self.kernel.now()
        self.credit(now if at is None or at < now else at, flits)

    def credit(self, at: int, flits: int) -> None:
        """:meth:`release` for a caller that knows ``at`` is not in the past (the routers' hot path)."""
        _heappush(self.rel, (at, flits))
        if self.on_credit is not None:
            self.on_credit(self)
        if self.put_queue:
            self._retry_puts()

    def room_at(self, flits: int) -> int | None:
        """The cycle of the dated release from which ``flits`` more credits fit, counting the releases
        already known in time order (None: not without releases still unknown)."""
        deficit = self.used + flits - self.cap
        acc = 0
        for at, amount in sorted(self.rel):
            acc += amount
            if acc >= deficit:
                return at
        return None

    def next_release(self) -> int | None:
        """The cycle of the earliest pending release (None: none pending)."""
        return self.rel[0][0] if self.rel else None

    def push(self, item: Any, flits: int = 0) -> None:
        """An item arrives (its credits already taken by a bounded sender; ``flits`` > 0: take them now, for an
        unbounded sender). It goes to the receiver's ``sink``, or waits for a ``get``."""
        if flits:
            self.occupancy(self.kernel.now())
            self.reserve(flits)
        if self.sink is not None:
            self.sink(item)
        else:
            self.items.append(item)
            if self.get_queue:
                self._serve_gets()

    # ---- the resource protocol (process-style users) -----------------------------------------------
    def _serve_gets(self) -> None:
        """Hand the items held to the waiting gets, oldest first."""
        while self.items and self.get_queue:
            self.get_queue.popleft().succeed(self.items.popleft())

    def _retry_puts(self) -> None:
        """Serve the waiting puts in order while they fit; the first that does not waits for credits (tried
        again when one comes back, and when the next dated release is due)."""
        queue = self.put_queue
        while queue:
            event, item, flits = queue[0]
            need = min(flits, self.cap)
            if self.occupancy(self.kernel.now()) + need > self.cap:
                break
            queue.popleft()
            self.reserve(need)
            event.succeed()
            self.push(item)
        if queue and self.rel and not self._timer:  # credits already dated: try again when the first is due
            self._arm()

    def _arm(self) -> None:
        self._timer = True
        now = self.kernel.now()
        at = self.rel[0][0]
        self.kernel.call_at(at if at > now else now, self._on_timer, None)

    def _on_timer(self, _ev: Any) -> None:
        self._timer = False
        self._retry_puts()


def queue_share(capacity: int, fifo_count: int, users: int) -> int:
    """Flits of ``fifo_count`` FIFO queues (``capacity`` flits in all) one of ``users`` owns: whole queues
    divided among them (one user: all of them; more users than queues: an equal share of the whole)."""
    if users <= 1:
        return capacity
    fifo = max(1, capacity // max(1, fifo_count))
    if users <= fifo_count:
        return (fifo_count // users) * fifo
    return max(1, capacity // users)


class FifoBank:
    """A core's input FIFO queues (ELSA_BRIEF §3: 4 × 512 B, where the flit decoder's spikes wait), divided
    among the streams that come in: the producer layers ``streams``, each with its own
    ``queue_share(capacity, fifo_count, len(streams))`` flits (``noc.input_queues = "per_stream"``), or one
    FIFO for all (``"shared"``, ``streams`` empty). A train takes credits in its stream's queue only, so a
    stream whose consumer is busy fills its own queue and never holds another stream's trains at the
    ejection port (they would wait behind it in one FIFO). Each queue is a :class:`Channel` whose ``sink`` is
    the decoder; a payload that is not a train of a listed stream (synthetic traffic) takes the first
    queue."""

    def __init__(
        self, kernel: Kernel, capacity: int, fifo_count: int, streams: list[str], name: str = ""
    ) -> None:
        n = len(streams)
        share = queue_share(capacity, fifo_count, n)
        self.index: dict[str, int] = {s: i for i, s in enumerate(streams)}
        self.queues: list[Channel] = [Channel(kernel, share, f"{name}.{i}") for i in range(max(1, n))]
        self.cap = share  # one queue's flits

    def need(self, flits: int) -> int:
        """Credits a train of ``flits`` takes in its queue: all of them, at most the queue (a longer train
        streams through it, cut-through: it needs the queue empty and holds it whole)."""
        return flits if flits < self.cap else self.cap

    def queue(self, payload: Any) -> Channel:
        """The queue ``payload`` (a train) is written into: its producer's."""
        queues = self.queues
        if len(queues) == 1:
            return queues[0]
        if isinstance(payload, Train):
            return queues[self.index.get(payload.producer, 0)]
        return queues[0]

    def bind(self, sink: Callable[[Any], None]) -> None:
        """The decoder every queue hands its trains to."""
        for q in self.queues:
            q.sink = sink

    @property
    def peak(self) -> int:
        """Most flits one queue held."""
        return max(q.peak for q in self.queues)
