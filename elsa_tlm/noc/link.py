"""Links and local ports: the output side of a router, where transactions are serialised.

A :class:`Port` is an output that one transaction at a time occupies for ``ser`` cycles (flits × flit_bits /
link_bits): a core's injection port into its router, a router's ejection port into its core's input FIFOs,
or a :class:`Link` to a neighbouring router. It feeds one downstream :class:`~elsa_tlm.hw.channel.Channel`
(the next router's input buffer, the router's own local input buffer, or the core's input FIFOs) and grants a
transaction only when that channel has credits for it (virtual cut-through on packet-sized credits). A local
port without a channel (a core's injection port in a chip run, the second local path) is a path, not a buffer:
the transaction keeps its credits in the core's output queue until the next port grants it.
Transactions waiting for the port queue per input port of its router; the router's switch allocator grants
them round-robin (:mod:`elsa_tlm.noc.router`). Every port counts what crossed it; the network's counters are
sums over its ports.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Final

from elsa_tlm.hw.channel import FifoBank

# port kinds (hot-path rule 1: Final)
INJECT: Final = 0
LINK: Final = 1
EJECT: Final = 2


class Port:
    """An output of a router (a link, or the ejection port) or a core's injection port."""

    __slots__ = (
        "kind",
        "src",
        "dst",
        "dest_buf",
        "router",
        "next_hop",
        "queues",
        "nwait",
        "rr",
        "busy_until",
        "wake_at",
        "blocked",
        "need",
        "packets",
        "flits",
        "bits",
        "busy",
        "loopback_flits",
        "delay",
        "fifos",
    )

    def __init__(
        self, kind: int, src: int, dst: int, n_inputs: int, dest_buf: Any, router: Any, delay: int = 0
    ) -> None:
        self.kind, self.src, self.dst, self.dest_buf, self.router = kind, src, dst, dest_buf, router
        # the port's own step: cycles from its grant until the head reaches what is next (the next router's
        # switch allocator, or the core for the ejection port, before the tail's serialisation)
        self.delay = delay
        self.next_hop: list[Any] = []  # callbacks of the router the head reaches next (bound by the network)
        self.queues: list[deque] = [deque() for _ in range(n_inputs)]  # waiting transactions per input port
        self.nwait = self.rr = self.busy_until = 0
        self.wake_at: int | None = None
        self.blocked = False
        self.need = 0  # credits the blocked head transaction waits for
        self.packets = self.flits = self.bits = self.busy = 0
        self.loopback_flits = 0  # ejection ports: flits of transactions that never left the router
        # an ejection port into a core whose input FIFO queues are divided among its streams (a FifoBank):
        # each train takes credits in its own stream's queue (dest_buf is None then)
        self.fifos: FifoBank | None = None

    def deliver(self, payload: Any) -> None:
        """The ejection port puts a train that has arrived into its own buffer: the core's input FIFOs (its
        stream's queue)."""
        if self.fifos is not None:
            self.fifos.queue(payload).push(payload)
        else:
            self.dest_buf.push(payload)

    def __repr__(self) -> str:
        kind = ("inject", "link", "eject")[self.kind]
        return f"<{kind} {self.src}->{self.dst}: {self.packets} packets, {self.flits} flits>"


class Link(Port):
    """A directed router-to-router link: the output port that serialises transactions onto it (the switch
    traversal, then the next router's route computation and switch allocation: ``stages``) and its wire
    (``link_latency_cycles``), kept apart; its step is their sum."""

    __slots__ = ("wire", "stages")

    def __init__(
        self, src: int, dst: int, n_inputs: int, dest_buf: Any, router: Any, stages: int = 0, wire: int = 0
    ) -> None:
        super().__init__(LINK, src, dst, n_inputs, dest_buf, router, stages + wire)
        self.wire, self.stages = wire, stages

    def row(self) -> dict[str, int]:
        """links.csv: packets, flits, bits and busy cycles of this link."""
        return link_row(self)


def link_row(port: Any) -> dict[str, int]:
    """A link's links.csv row from its counters (both router models' links count the same way)."""
    return {
        "src": port.src,
        "dst": port.dst,
        "packets": port.packets,
        "flits": port.flits,
        "bits": port.bits,
        "busy_cycles": port.busy,
    }
