"""What crosses between the chip's components: a :class:`Train` of spines and the :class:`Transport` that
carries it across the network-on-chip.

A producer slice's flit generator (:mod:`elsa_tlm.hw.ni`) cuts its emitted spines into trains; the network
interface hands each train to the transport (:mod:`elsa_tlm.noc.transport`: the routers of ``at`` or the
closed form of ``lt``), which puts it into the destination interface's input channel when its tail arrives;
the consumer's readiness (:mod:`elsa_tlm.schedule.readiness`) reads which emission positions it completes.
hw/, noc/ and schedule/ import this module and nothing of each other's for it (part of the hot path,
compiled with them).
"""

from __future__ import annotations

from typing import Any, Protocol


class Train:
    """One transfer from a producer slice to one destination core: spines of one or more steps (a plain class,
    not a dataclass: compiled, its constructor is native)."""

    __slots__ = (
        "producer",
        "src",
        "dst",
        "items",
        "flits",
        "packets",
        "spikes",
        "src_slice",
        "refs",
        "done_at",
    )

    def __init__(
        self,
        producer: str,
        src: int,
        dst: int,
        items: list[tuple[int, int, int]],
        flits: int,
        packets: int,
        spikes: int,
        src_slice: int = 0,
    ) -> None:
        self.producer = producer  # producer layer
        self.src, self.dst = src, dst
        self.items = items  # (step, lo, hi): producer emission positions completed by this train
        self.flits, self.packets, self.spikes = flits, packets, spikes
        self.src_slice = src_slice  # the producer slice (its emission order numbers the items)
        self.refs = 0  # consumer slices on the destination core that still have to absorb it
        self.done_at = 0  # the cycle the last of them has its spikes in (its FIFO space frees then)

    def __repr__(self) -> str:
        return f"Train({self.producer} {self.src}->{self.dst}, {self.flits} flits, items {self.items})"


class Transport(Protocol):
    """What a network interface and the result collector see of the NoC."""

    transfers: list[tuple[int, int, int, int, int, int]]  # (src, dst, sent, delivered, flits, packets)
    fifo_samples: list[tuple[int, int, int, int]]  # (cycle, node, input port, flits)

    def bind_inbox(self, node: int, inbox: Any) -> None:
        """Core ``node``'s input FIFOs (a :class:`~elsa_tlm.hw.channel.FifoBank`): trains for it are put into
        their stream's queue there."""

    def send(self, payload: Any, src: int, dst: int, flits: int, packets: int, out: Any, held: int) -> None:
        """Carry ``payload`` from core ``src`` to core ``dst``. ``out`` is the sender's output queue (a
        :class:`~elsa_tlm.hw.channel.Channel`): its ``held`` credits go back (``out.credit(cycle, held)``) when the
        injection port has taken the tail, as every hop returns its input buffer's."""

    def counters(self) -> dict[str, int]:
        """Action counters (see :attr:`elsa_tlm.noc.network.Network.counters`)."""

    def link_rows(self) -> list[dict[str, Any]]:
        """Per directed link: packets, flits, bits, busy cycles (links.csv)."""
