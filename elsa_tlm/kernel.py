"""The one fast path onto SimPy: scheduling straight onto its heap, reusable events, and the run loop.

A transaction-level model is judged by its events per second. SimPy's public API allocates a
:class:`simpy.Timeout` (with its checks) for every delay and runs every event through
``Environment.step``; the components here (routers, lane groups, network interfaces, residual units) schedule
tens of millions of plain wake-ups, so they use this module instead:

* :class:`Kernel` pushes an already-triggered event onto the heap with one ``heappush`` (same priority and
  insertion counter as a :class:`simpy.Timeout`, so the order of events — and every result — is the same);
* :class:`Reusable` is an event an owner reschedules over and over (a transaction hopping from router to
  router, a lane group's next emission): no allocation per wake-up;
* :class:`Tick` is a bare one-shot event carrying one object to one callback;
* :func:`run` is ``Environment.run()`` without the per-event method call: pop, run callbacks, fail loudly on
  an undefused failed event (as ``step`` does), count the events.

They rely on SimPy's ``Environment._queue`` / ``_eid`` / ``_now`` and an event's ``_ok`` / ``_value``,
checked against the pinned simpy version by ``tests/test_kernel.py``; no other module touches SimPy
internals (tested over the whole package).
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any

import simpy
from simpy.core import NORMAL
from simpy.events import Event


class Kernel:
    """Schedules events straight onto one environment's heap."""

    __slots__ = ("env", "_heap", "_eid")

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self._heap: list[Any] = env._queue  # SimPy types its entries as its own events
        self._eid = env._eid

    def now(self) -> int:
        return self.env._now  # type: ignore[return-value]  # SimPy types it int | float; cycles are ints

    def at(self, when: int, event: Any) -> None:
        """Put an already-triggered ``event`` on the heap for cycle ``when`` (>= now)."""
        heappush(self._heap, (when, NORMAL, next(self._eid), event))

    def call_at(self, when: int, callback: Callable[[Any], None], obj: Any) -> None:
        """Run ``callback(wake)`` at cycle ``when`` (>= now), ``wake.obj`` being ``obj``: a :class:`Tick` by
        absolute cycle, without its look-ups on the environment."""
        heappush(self._heap, (when, NORMAL, next(self._eid), Wake(callback, obj)))

    def succeed_at(self, event: Event, value: Any, when: int) -> None:
        """Trigger a plain SimPy ``event`` with ``value`` at cycle ``when`` (its callbacks run then)."""
        event._ok = True
        event._value = value
        heappush(self._heap, (when, NORMAL, next(self._eid), event))


class Reusable:
    """A triggered event its owner puts back on the heap with :meth:`Kernel.at` as often as it likes. SimPy
    clears ``callbacks`` when it runs an event: the owner sets them again before each push.

    Not a :class:`simpy.events.Event` subclass: the loop (ours and ``Environment.step``) only reads
    ``callbacks``, ``_ok`` and ``_value`` of what it pops, so a plain class (compiled: a C struct) is enough
    and is built and read several times faster. Never ``yield`` it from a process."""

    callbacks: list[Callable[[Any], None]] | None
    _ok: bool
    _value: Any

    def __init__(self, env: simpy.Environment) -> None:  # triggered (not pending); no value
        self.env = env
        self.callbacks = None
        self._ok = True
        # not itself: a self-reference made every transaction (and the train and closures it holds) cyclic
        # garbage, left to the collector instead of freed when the transaction ends
        self._value = None


class Wake:
    """A bare one-shot event carrying one object to one callback, put on the heap by :meth:`Kernel.call_at`."""

    callbacks: list[Callable[[Any], None]] | None
    _ok: bool
    _value: Any

    def __init__(self, callback: Callable[[Any], None], obj: Any) -> None:
        self.callbacks = [callback]
        self.obj = obj
        self._value = obj
        self._ok = True


class Tick(Wake):
    """A :class:`Wake` that puts itself on the heap ``delay`` cycles from now (cheaper than Timeout + closure),
    for a component without a :class:`Kernel`."""

    def __init__(self, env: simpy.Environment, delay: int, callback: Callable[[Any], None], obj: Any) -> None:
        super().__init__(callback, obj)
        heap: list[Any] = env._queue  # SimPy types its entries as its own events
        heappush(heap, (env._now + delay, NORMAL, next(env._eid), self))


def run(env: simpy.Environment, report: Callable[[], None] | None = None, every: int = 50_000) -> int:
    """Run ``env`` until no event is left; ``report()`` every ``every`` events and at the end. Returns the
    number of events processed. Same semantics as ``env.run()`` (an event that failed and was not defused
    raises a copy of its exception, chained to it)."""
    heap = env._queue
    pop = heappop
    n = 0
    mark = every if report is not None else -1
    while heap:
        env._now, _, _, event = pop(heap)
        callbacks: list[Callable[[Any], None]] = event.callbacks  # type: ignore[assignment]
        event.callbacks = None  # type: ignore[assignment]  # SimPy's mark of a processed event
        for callback in callbacks:
            callback(event)
        n += 1
        if not event._ok and not hasattr(event, "_defused"):
            exc = type(event._value)(*event._value.args)
            exc.__cause__ = event._value
            raise exc
        if n == mark and report is not None:
            mark += every
            report()
    if report is not None:
        report()
    return n


__all__ = ["Kernel", "Reusable", "Tick", "Wake", "run"]
