"""A core's input FIFO queues divided among the streams into it (``noc.input_queues = "per_stream"``): a stream
whose queue is full holds only its own trains at the ejection port, for both router models and for ``lt`` with
back-pressure; with one FIFO for all (``"shared"``, the what-if) the other stream's train waits behind it."""

from __future__ import annotations

import pytest
import simpy

from elsa_tlm.hw.channel import Channel, FifoBank, queue_share
from elsa_tlm.kernel import Kernel
from elsa_tlm.noc.params import buffer_flits, noc_config
from elsa_tlm.noc.routes import make_routing
from elsa_tlm.noc.topology import build_topology
from elsa_tlm.noc.transport import LooselyTimedTransport
from elsa_tlm.noc.vc_network import make_network
from elsa_tlm.transfer import Train

FULL_UNTIL = 400


def _train(producer: str) -> Train:
    """A train of one stream (what the ejection port reads of it: its producer)."""
    return Train(producer, 0, 1, [], 2, 1, 0)


def _arrivals(kind: str, per_stream: bool) -> dict[str, int]:
    """Core 1 takes streams "a" and "b"; stream a's queue (all of the FIFOs when shared) is full until cycle
    400. Core 0 sends a train of a, then core 2 one of b (from the other side: another input of the router, as a
    train behind a blocked one in the same input buffer waits behind it). Returns the cycle each reached core
    1's queues."""
    spec = "mesh:1x3"
    topo = build_topology(spec)
    extra = {"virtual_channels": 1, "vc_buffer_flits": 8} if kind == "vc" else {}
    p = noc_config(topology=spec, router="vc" if kind == "vc" else "fast", **extra)
    env = simpy.Environment()
    k = Kernel(env)
    routing = make_routing("xy", topo, 0)
    bank = FifoBank(k, buffer_flits(p), p.fifo_count, ["a", "b"] if per_stream else [], "ni1.in")
    got: dict[str, int] = {}
    bank.bind(lambda t: got.setdefault(t.producer, int(env.now)))
    full = bank.queues[0]
    full.reserve(full.cap)
    full.release(full.cap, at=FULL_UNTIL)
    if kind == "lt_bp":
        tr = LooselyTimedTransport(k, topo, p, routing, backpressure=True)
        tr.bind_inbox(1, bank)
        send = tr.send
    else:
        net = make_network(k, topo, p, routing)
        net.attach_inbox(1, bank)
        send = net.transfer
    send(_train("a"), 0, 1, 2, 1, Channel(k, 64, "ni0.out"), 2)
    send(_train("b"), 2, 1, 2, 1, Channel(k, 64, "ni2.out"), 2)
    env.run()
    return got


@pytest.mark.parametrize("kind", ["fast", "vc", "lt_bp"])
def test_a_full_stream_holds_only_its_own_trains(kind: str) -> None:
    per = _arrivals(kind, per_stream=True)
    shared = _arrivals(kind, per_stream=False)
    assert per["a"] >= FULL_UNTIL and shared["a"] >= FULL_UNTIL  # its queue frees at 400
    assert per["b"] < 100  # its own queue: in at its zero-load latency
    assert shared["b"] >= FULL_UNTIL  # one FIFO for both: behind stream a


def test_each_stream_has_a_share_of_the_fifos() -> None:
    k = Kernel(simpy.Environment())
    bank = FifoBank(k, 64, 4, ["a", "b", "c"], "in")
    assert [q.cap for q in bank.queues] == [16, 16, 16] == [queue_share(64, 4, 3)] * 3
    assert bank.queue(_train("c")) is bank.queues[2] and bank.queue(_train("x")) is bank.queues[0]
    assert bank.need(40) == 16 and bank.need(5) == 5  # a longer train streams through its queue, whole
    assert [q.cap for q in FifoBank(k, 64, 4, [], "in").queues] == [64]  # shared: one FIFO, all of it


def test_a_loopback_train_for_a_full_stream_does_not_hold_another_groups() -> None:
    """The second local path's trains wait in their groups' output queues (one FIFO each), not in one FIFO:
    a loopback train whose stream's queue is full holds only its own group's trains behind it. (The fast
    router; the vc router's loopback path is an input port with its own VC FIFOs.)"""
    spec = "mesh:1x3"
    topo = build_topology(spec)
    p = noc_config(topology=spec)
    env = simpy.Environment()
    k = Kernel(env)
    net = make_network(k, topo, p, make_routing("xy", topo, 0))
    bank = FifoBank(k, buffer_flits(p), p.fifo_count, ["a", "b"], "ni1.in")
    got: dict[str, int] = {}
    bank.bind(lambda t: got.setdefault(t.producer, int(env.now)))
    full = bank.queues[0]
    full.reserve(full.cap)
    full.release(full.cap, at=FULL_UNTIL)
    net.attach_inbox(1, bank)
    group_a, group_b = Channel(k, 64, "ni1.out0"), Channel(k, 64, "ni1.out1")
    net.transfer(_train("a"), 1, 1, 2, 1, group_a, 2)
    net.transfer(_train("a"), 1, 1, 2, 1, group_a, 2)  # behind the first in its group's queue
    net.transfer(_train("b"), 1, 1, 2, 1, group_b, 2)
    env.run()
    assert got["b"] < 100 and got["a"] >= FULL_UNTIL
