"""A component written as a plain SimPy process runs on the chip's kernel beside the compiled actors.

The kernel is the chip's scheduler (its own events are almost all of a run's), yet a generator that ``yield``s a
timeout, a channel's ``put``/``get`` or a plain event must run in the same loop, in time order, with the kernel's
own wake-ups (issue 33: components an architect can add as SimPy processes)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from elsa_tlm.hw.channel import Channel
from elsa_tlm.kernel import Kernel


def test_processes_and_kernel_events_share_one_clock() -> None:
    """A producer and a consumer process (timeouts, a bounded channel's put/get) and the kernel's own wake-ups
    interleave in time order; a put into a full channel waits for the receiver's dated release."""
    k = Kernel.new()
    ch = Channel(k, 2, "host")
    log: list[tuple[int, str]] = []

    def producer() -> Iterator[Any]:
        for i in range(4):
            yield k.timeout(3)
            yield ch.put(i, 1)  # waits while the channel's two credits are taken
            log.append((k.now(), f"put {i}"))

    def consumer() -> Iterator[Any]:
        for _ in range(4):
            item = yield ch.get()
            log.append((k.now(), f"got {item}"))
            ch.release(1, k.now() + 10)  # the flit leaves the receiver 10 cycles later

    k.process(producer())
    k.process(consumer())
    for at in (1, 5, 13, 22):
        k.call_at(at, lambda w: log.append((k.now(), f"wake {w.obj}")), at)
    n = k.run()
    assert n > 0
    assert [t for t, _ in log] == sorted(t for t, _ in log), log
    # two credits: puts 0 and 1 go at 3 and 6; put 2 waits for the release of item 0 (3 + 10), put 3 for item 1's
    puts = {what: t for t, what in log if what.startswith("put")}
    assert puts == {"put 0": 3, "put 1": 6, "put 2": 13, "put 3": 16}
    assert [what for _, what in log if what.startswith("wake")] == ["wake 1", "wake 5", "wake 13", "wake 22"]
    assert k.now() == 22  # releases are applied lazily (no event each): the last event is the last wake-up
    assert ch.occupancy(26) == 0  # the last item's credits came back at 16 + 10
    assert ch.peak == 2


def test_a_process_can_wait_on_a_compiled_actor() -> None:
    """A plain event succeeded by a kernel callback wakes the process that yields it, at that cycle."""
    k = Kernel.new()
    done = k.event()
    seen: list[int] = []

    def waiter() -> Iterator[Any]:
        value = yield done
        seen.append(k.now())
        seen.append(value)

    k.process(waiter())
    k.call_at(7, lambda w: done.succeed(w.obj), 42)
    k.run()
    assert seen == [7, 42]
