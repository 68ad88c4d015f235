"""Routers, links and the one SimPy fast path on their own."""

from __future__ import annotations

import simpy

from elsa_tlm.hw.channel import Channel
from elsa_tlm.kernel import Kernel, Tick
from elsa_tlm.noc.latency import PipelineTiming
from elsa_tlm.noc.link import EJECT, LINK, Link, Port
from elsa_tlm.noc.params import noc_config
from elsa_tlm.noc.router import NocActivity, Router, Txn


def test_kernel_matches_the_pinned_simpy() -> None:
    """The fast path relies on Environment._queue/_eid/_now and an event's _ok/_value: a pushed event runs
    at its cycle, in push order among equal cycles, with its callbacks; succeed_at triggers a plain event."""
    env = simpy.Environment()
    sched = Kernel(env)
    seen: list[tuple[int, str]] = []
    for name, when in (("b", 5), ("a", 3), ("c", 5)):
        t = Txn(0, 1, 1, 1, 256, 1, 1, (), 0, None, name, None, None, 0)
        t.callbacks = [lambda ev: seen.append((int(env.now), ev.tag))]
        sched.at(when, t)
    ev = simpy.Event(env)
    ev.callbacks.append(lambda e: seen.append((int(env.now), f"done {e.value}")))
    sched.succeed_at(ev, 42, 7)
    Tick(env, 4, lambda e: seen.append((int(env.now), f"tick {e.obj}")), "x")
    env.run()
    assert seen == [(3, "a"), (4, "tick x"), (5, "b"), (5, "c"), (7, "done 42")]
    assert sched.now() == env.now == 7


def _router(env: simpy.Environment, cap: int = 4) -> tuple[Router, Channel, Link, list]:
    p = noc_config(link_bits=256, flit_bits=256)
    timing = PipelineTiming(p)
    sched = Kernel(env)
    act = NocActivity()
    inputs = [Channel(Kernel(env), cap, "local"), Channel(Kernel(env), cap, "west")]
    for i, ch in enumerate(inputs):
        ch.node, ch.idx = 0, i
    r = Router(0, inputs, timing, sched, act, lambda: None, 10_000)
    downstream = Channel(Kernel(env), cap, "east")
    link = Link(0, 1, 2, downstream, r, timing.d_stages, timing.L)
    downstream.up = link
    downstream.on_credit = r.on_credit
    arrived: list = []
    link.next_hop = [lambda t: arrived.append((int(env.now), t.tag))]
    return r, downstream, link, arrived


def _txn(env: simpy.Environment, link: Port, eject: Port, flits: int, tag: str, buf: Channel) -> Txn:
    t = Txn(0, 1, flits, 1, flits * 256, flits, flits, (link, eject), 0, None, tag, None, buf, flits)
    buf.reserve(flits)
    return t


def test_link_serialises_and_router_arbitrates_round_robin() -> None:
    env = simpy.Environment()
    r, downstream, link, arrived = _router(env, cap=8)
    eject = Port(EJECT, 1, 1, 2, None, r)
    a = _txn(env, link, eject, 2, "a", r.inputs[0])
    b = _txn(env, link, eject, 3, "b", r.inputs[0])
    r.act.in_flight = 2
    r.request(link, a, 0)
    r.request(link, b, 0)  # the link is busy: b is granted back to back, for the cycle a's tail has left
    env.run()
    d = link.delay
    assert arrived == [(d, "a"), (2 + d, "b")]
    assert link.kind == LINK and (link.packets, link.flits, link.busy) == (2, 5, 5)
    assert downstream.peak == 5 and r.inputs[0].occupancy(int(env.now)) == 0  # tails left: credits back


def test_switch_allocation_is_round_robin_over_input_ports() -> None:
    env = simpy.Environment()
    r, downstream, link, arrived = _router(env, cap=2)
    eject = Port(EJECT, 1, 1, 2, None, r)
    a = _txn(env, link, eject, 2, "a", r.inputs[0])
    c = _txn(env, link, eject, 2, "c", r.inputs[0])
    b = _txn(env, link, eject, 2, "b", r.inputs[1])
    r.act.in_flight = 3
    r.request(link, a, 0)  # fills the downstream channel
    r.request(link, c, 0)
    r.request(link, b, 1)  # both wait; input 0 was served last, so input 1 goes next
    downstream.release(2, 5)
    downstream.release(2, 9)
    env.run()
    d = link.delay
    assert arrived == [(d, "a"), (5 + d, "b"), (9 + d, "c")]


def test_link_waits_for_credits_and_wakes_on_release() -> None:
    env = simpy.Environment()
    r, downstream, link, arrived = _router(env, cap=2)
    eject = Port(EJECT, 1, 1, 2, None, r)
    a = _txn(env, link, eject, 2, "a", r.inputs[0])
    b = _txn(env, link, eject, 2, "b", r.inputs[0])
    r.act.in_flight = 2
    r.request(link, a, 0)
    r.request(link, b, 0)  # the downstream channel is full: b waits, blocked
    assert link.blocked and link.nwait == 1
    downstream.release(2, 10)  # the next router frees a's flits at cycle 10
    env.run()
    assert arrived == [(link.delay, "a"), (10 + link.delay, "b")]
