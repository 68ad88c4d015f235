"""The router's two local paths (ELSA_BRIEF §3, ``noc.local_paths``): a core's trains to itself do not contend
with its network-bound trains, for both router models; with one path (the what-if) they share it."""

from __future__ import annotations

import pytest
import simpy

from elsa_tlm.hw.channel import Channel, FifoBank
from elsa_tlm.kernel import Kernel
from elsa_tlm.noc.params import buffer_flits, noc_config
from elsa_tlm.noc.routes import make_routing
from elsa_tlm.noc.topology import build_topology
from elsa_tlm.noc.vc_network import make_network

ROUTERS = {"fast": {}, "vc": {"virtual_channels": 1, "vc_buffer_flits": 8}}


def _remote_latency(router: str, paths: int) -> tuple[int, int, int, dict[str, int]]:
    """Core 0's input FIFOs are full until cycle 400. Core 0 sends itself a train as long as a router buffer, then
    a one-flit train to core 1. Returns the remote train's latency, its zero-load latency, the loopback train's
    serialisation, when the loopback train reached core 0, and the counters."""
    spec = "mesh:1x3"
    topo = build_topology(spec)
    p = noc_config(topology=spec, local_paths=paths, router=router, **ROUTERS[router])
    env = simpy.Environment()
    net = make_network(Kernel(env), topo, p, make_routing("xy", topo, 0))
    cap = p.vc_buffer_flits if router == "vc" else buffer_flits(p)
    bank = FifoBank(Kernel(env), cap, 1, [], "ni0.in")  # one FIFO
    inbox = bank.queues[0]
    got: list[int] = []
    inbox.sink = lambda _train: got.append(int(env.now))
    net.attach_inbox(0, bank)
    inbox.reserve(cap)
    inbox.release(cap, at=400)
    net.transfer("self", 0, 0, cap, 1, Channel(Kernel(env), cap, "ni0.out"), 0)
    remote = net.send(0, 1, 1)
    env.run()
    assert net.in_flight == 0
    return int(remote.value), net.zero_load_latency(0, 1, 1), net.ser(cap), got[0], dict(net.counters)


@pytest.mark.parametrize("router", sorted(ROUTERS))
def test_a_loopback_train_does_not_hold_up_the_network_bound_ones(router: str) -> None:
    two, zl, ser, looped2, c2 = _remote_latency(router, 2)
    one, _, _, looped1, c1 = _remote_latency(router, 1)
    assert two == zl  # its own path: the loopback train is not in the way
    if router == "fast":  # one path: the remote train waits for the injection port the loopback train took
        assert one == zl + ser
    else:  # one path and one VC: it waits behind the blocked loopback train in the local input VC
        assert one > 400
    assert looped1 > 400 and looped2 > 400  # the loopback train itself waits for core 0's FIFOs either way
    assert c1 == c2  # the same traffic is counted, whichever path it took
    assert c2["loopback_flits"] > 0


@pytest.mark.parametrize("router", sorted(ROUTERS))
def test_a_train_keeps_its_output_queue_credits_until_the_switch_takes_it(router: str) -> None:
    """A core's output queues are its router's local input FIFO queues: a train waiting for a full path keeps
    their credits (no second buffer behind them frees them early), and gives them back once a link takes it."""
    spec = "mesh:1x3"
    topo = build_topology(spec)
    p = noc_config(topology=spec, router=router, **ROUTERS[router])
    env = simpy.Environment()
    net = make_network(Kernel(env), topo, p, make_routing("xy", topo, 0))
    for node in range(3):
        bank = FifoBank(Kernel(env), 8, 1, [], f"ni{node}.in")
        inbox = bank.queues[0]
        inbox.sink = lambda _train, inbox=inbox: inbox.release(4, int(env.now))  # absorbed at once
        net.attach_inbox(node, bank)
        if node == 2:  # core 2's FIFOs are full until cycle 400
            inbox.reserve(8)
            inbox.release(8, at=400)
    out = Channel(Kernel(env), 400, "ni0.out")
    for _ in range(80):  # more 4-flit trains to core 2 than the routers on the way can hold
        out.reserve(4)
        net.transfer("t", 0, 2, 4, 1, out, 4)
    env.run(until=300)
    # what the routers on the way hold (the input buffers from 0 at router 1 and from 1 at router 2) has left the
    # output queue, nothing more: no local input buffer at router 0 takes trains off it
    held_on_the_way = 2 * (p.vc_buffer_flits if router == "vc" else buffer_flits(p))
    assert out.occupancy(300) == 320 - held_on_the_way
    env.run()
    assert out.occupancy(int(env.now)) == 0 and net.in_flight == 0


@pytest.mark.parametrize("router", sorted(ROUTERS))
def test_the_second_path_has_no_buffer_of_its_own(router: str) -> None:
    """A loopback train keeps its credits in the core's output queue until the ejection port takes it (the
    local input reducer writes into the core's own FIFOs): the output queue frees only after cycle 400."""
    spec = "mesh:1x3"
    topo = build_topology(spec)
    p = noc_config(topology=spec, router=router, **ROUTERS[router])
    env = simpy.Environment()
    net = make_network(Kernel(env), topo, p, make_routing("xy", topo, 0))
    bank = FifoBank(Kernel(env), 8, 1, [], "ni0.in")
    inbox = bank.queues[0]
    inbox.sink = lambda _train: None
    net.attach_inbox(0, bank)
    inbox.reserve(8)
    inbox.release(8, at=400)
    out = Channel(Kernel(env), 8, "ni0.out")
    out.reserve(4)
    net.transfer("self", 0, 0, 4, 1, out, 4)
    env.run(until=300)
    assert out.occupancy(300) == 4  # still held: the train waits for core 0's FIFOs in its output queue
    env.run()
    assert out.occupancy(int(env.now)) == 0 and net.in_flight == 0


def test_the_second_path_is_the_default() -> None:
    assert noc_config().local_paths == 2
