"""The bounded channel and the network interface on their own (a fake transport, no chip)."""

from __future__ import annotations

import pytest
import simpy

from elsa_tlm.hw.channel import Channel
from elsa_tlm.hw.ni import NetworkInterface
from elsa_tlm.kernel import Kernel
from elsa_tlm.transfer import Train


def test_a_put_waits_while_the_channel_is_full_and_goes_on_credit() -> None:
    env = simpy.Environment()
    ch = Channel(Kernel(env), 4, "fifo")
    log: list[tuple[int, str]] = []

    def sender(env: simpy.Environment):
        for name, flits in (("a", 3), ("b", 2), ("c", 1)):
            yield ch.put(name, flits)
            log.append((int(env.now), f"put {name}"))

    def receiver(env: simpy.Environment):
        for _ in range(3):
            item = yield ch.get()
            log.append((int(env.now), f"got {item}"))
            yield env.timeout(10)
            ch.release({"a": 3, "b": 2, "c": 1}[item])  # the receiver has drained it: credits back

    env.process(sender(env))
    env.process(receiver(env))
    env.run()
    # b (2 flits) does not fit beside a (3 of 4): it waits for a's credits at cycle 10
    assert log[:3] == [(0, "put a"), (0, "got a"), (10, "put b")]
    assert (10, "got b") in log and ch.peak <= 4 and ch.occupancy(int(env.now)) == 0


def test_credits_dated_in_the_future_free_space_then() -> None:
    env = simpy.Environment()
    ch = Channel(Kernel(env), 2)
    ch.reserve(2)
    ch.release(2, at=7)
    assert not ch.fits(1, 0) and ch.next_release() == 7
    done: list[int] = []

    def sender(env: simpy.Environment):
        yield ch.put("x", 2)
        done.append(int(env.now))

    env.process(sender(env))
    env.run()
    assert done == [7]


def test_a_channel_refuses_zero_capacity() -> None:
    with pytest.raises(ValueError, match="at least one flit"):
        Channel(Kernel(simpy.Environment()), 0)


class FakeTransport:
    """Takes trains at once, releases the output buffer ``tail`` cycles later, delivers to inboxes."""

    def __init__(self, env: simpy.Environment, tail: int) -> None:
        self.env, self.tail, self.inboxes, self.sent = env, tail, {}, []

    def bind_inbox(self, node: int, inbox: Channel) -> None:
        self.inboxes[node] = inbox

    def send(self, payload, src, dst, flits, packets, out, held) -> None:
        self.sent.append((int(self.env.now), payload))
        out.credit(int(self.env.now) + self.tail, held)
        q = self.inboxes[dst].queue(payload)  # the stream's queue of the destination's input FIFOs
        q.push(payload, min(flits, q.cap))


def _train(flits: int, dst: int = 1) -> Train:
    return Train("conv", 0, dst, [(0, 0, 1)], flits, 1, 3)


def test_ni_sends_through_its_output_channel_and_decodes_into_its_core() -> None:
    env = simpy.Environment()
    tr = FakeTransport(env, tail=5)
    a, b = (
        NetworkInterface(Kernel(env), 0, 4, bounded=True),
        NetworkInterface(Kernel(env), 1, 4, bounded=True),
    )
    got: list[Train] = []
    tr.bind_inbox(1, b.inbox)
    a.bind(tr, lambda t: None)
    b.bind(tr, got.append)
    t1, t2 = _train(3), _train(2)
    assert a.can_send(t1)
    a.send(t1)
    assert not a.can_send(t2)  # 3 + 2 > 4 flits: wait for the router to take t1's tail
    woken: list[int] = []
    a.wait_for_space(lambda: woken.append(int(env.now)) or (a.can_send(t2) and a.send(t2)))
    env.run()
    assert woken == [5] and [p for _, p in tr.sent] == [t1, t2]
    assert got == [t1, t2] and b.trains_in == 2 and b.spikes_in == {"conv": 6}
    assert b.in_peak == 5 and a.out_peak == 3  # the inbox counts until the core returns credits
    b.return_credits(t1, 9)
    b.return_credits(t2, 9)
    assert b.inbox.queues[0].occupancy(9) == 0
