"""The chip's event kernel: one per run, on SimPy's heap, handed by the builder to every component.

Almost every event of a run is the kernel's own: a transaction hopping from router to router, a lane group's
next emission, a train landing in a channel. A transaction-level model is judged by its events per second,
and SimPy's public API allocates a :class:`simpy.Timeout` (with its checks) for every delay and runs every
event through ``Environment.step``; so the kernel schedules straight onto SimPy's heap and runs its own loop:

* :class:`Kernel` pushes an already-triggered event onto the heap with one ``heappush`` (same priority and
  insertion counter as a :class:`simpy.Timeout`, so the order of events — and every result — is the same),
  and is what every component reads time from (:meth:`Kernel.now`);
* :class:`Reusable` is an event an owner reschedules over and over (a transaction hopping from router to
  router, a lane group's next emission): no allocation per wake-up;
* :class:`Wake` / :class:`Tick` are bare one-shot events carrying one object to one callback;
* :func:`run` (:meth:`Kernel.run`) is ``Environment.run()`` without the per-event method call: pop, run
  callbacks, fail loudly on an undefused failed event (as ``step`` does), count the events; it reads the
  kernel's own events (:class:`Scheduled`) natively and keeps a native :class:`Clock` beside
  ``Environment._now`` for :meth:`Kernel.now`.

Components written as plain SimPy processes run in the same loop, in time order: :meth:`Kernel.process`,
:meth:`Kernel.timeout`, :meth:`Kernel.event`, and a channel's ``put``/``get`` (docs/EXTENDING.md).

They rely on SimPy's ``Environment._queue`` / ``_eid`` / ``_now`` and an event's ``_ok`` / ``_value``, and keep
the clock in the environment's ``__dict__`` (``_elsa_clock``),
checked against the pinned simpy version by ``tests/test_kernel.py``; no other module touches SimPy
internals (tested over the whole package).
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any, Final

import simpy
from simpy.events import Event

# SimPy's priority of a plain (non-urgent) event, ``simpy.core.NORMAL``; a compile-time constant here, not a
# global looked up per push (tests/test_kernel.py checks the two agree)
NORMAL: Final = 1
# hot-path rule 1 (docs/ARCHITECTURE.md): Final, a C static
_heappush: Final = heappush


class Clock:
    """The current cycle as a native int, kept by :func:`run` beside ``Environment._now``: the compiled
    components read it without a Python attribute look-up. ``live`` only while :func:`run` drives the
    environment; otherwise (SimPy's own ``run``/``step``, before and after a run) readers fall back to
    ``Environment._now``."""

    def __init__(self) -> None:
        self.now = 0
        self.live = False


def clock_of(env: simpy.Environment) -> Clock:
    """The :class:`Clock` of ``env`` (made at the first call, kept on the environment)."""
    clock = env.__dict__.get("_elsa_clock")
    if not isinstance(clock, Clock):
        clock = Clock()
        env.__dict__["_elsa_clock"] = clock
    return clock


class Kernel:
    """The chip's event kernel: one per run, made by the builder and handed to every component. It schedules
    straight onto the heap of one SimPy environment (the components' own events are almost all of a run's), and
    SimPy processes (:meth:`process`) run in the same loop, in time order; every component reads time here
    (:meth:`now`)."""

    __slots__ = ("env", "clock", "_heap", "_next_eid")

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.clock = clock_of(env)
        self._heap: list[Any] = env._queue  # SimPy types its entries as its own events
        # the environment's event counter, shared with SimPy's own events (ties break in insertion order)
        self._next_eid: Callable[[], Any] = env._eid.__next__

    @staticmethod
    def new() -> Kernel:
        """A kernel on a fresh SimPy environment at cycle 0 (what the builder makes, once per run)."""
        return Kernel(simpy.Environment())

    def peek(self) -> float:
        """The cycle of the next event (``inf`` when none is left)."""
        return self.env.peek()

    def step(self) -> None:
        """Run the next event alone (SimPy's own step: for a caller that checks something after each)."""
        self.env.step()

    def run(self, report: Callable[[], None] | None = None, every: int = 50_000) -> int:
        """Run every event in time order until none is left (:func:`run`); returns the number processed."""
        return run(self.env, report, every)

    def now(self) -> int:
        clock = self.clock
        if clock.live:
            return clock.now
        return self.env._now  # type: ignore[return-value]  # SimPy types it int | float; cycles are ints

    def at(self, when: int, event: Any) -> None:
        """Put an already-triggered ``event`` on the heap for cycle ``when`` (>= now)."""
        _heappush(self._heap, (when, NORMAL, self._next_eid(), event))

    def call_at(self, when: int, callback: Callable[[Any], None], obj: Any) -> None:
        """Run ``callback(wake)`` at cycle ``when`` (>= now), ``wake.obj`` being ``obj``: a :class:`Tick` by
        absolute cycle, without its look-ups on the environment."""
        _heappush(self._heap, (when, NORMAL, self._next_eid(), Wake(callback, obj)))

    def succeed_at(self, event: Event, value: Any, when: int) -> None:
        """Trigger a plain SimPy ``event`` with ``value`` at cycle ``when`` (its callbacks run then)."""
        event._ok = True
        event._value = value
        _heappush(self._heap, (when, NORMAL, self._next_eid(), event))

    # ---- for components written as plain SimPy processes (they run in the same loop, in time order)
    def event(self) -> Event:
        """A new SimPy event of this run (``yield`` it from a process; ``succeed`` it from anywhere)."""
        return Event(self.env)

    def timeout(self, delay: int, value: Any = None) -> Any:
        """``yield kernel.timeout(n)``: a SimPy timeout ``n`` cycles from now."""
        return self.env.timeout(delay, value)

    def process(self, generator: Any) -> Any:
        """Start a SimPy process (a generator that yields events: timeouts, a channel's ``put``/``get``)."""
        return self.env.process(generator)


class Scheduled:
    """What the loop reads of an event it pops (``callbacks``, ``_ok``, ``_value``), as a native class: the
    kernel's own events (:class:`Reusable`, :class:`Wake`) are read by :func:`run` without Python attribute
    look-ups. Not a :class:`simpy.events.Event` subclass, never ``yield`` one from a process."""

    callbacks: list[Callable[[Any], None]] | None
    _ok: bool
    _value: Any


class Reusable(Scheduled):
    """A triggered event its owner puts back on the heap with :meth:`Kernel.at` as often as it likes. SimPy
    clears ``callbacks`` when it runs an event: the owner sets them again before each push.

    Not a :class:`simpy.events.Event` subclass: the loop (ours and ``Environment.step``) only reads
    ``callbacks``, ``_ok`` and ``_value`` of what it pops, so a plain class (compiled: a C struct) is enough
    and is built and read several times faster. Never ``yield`` it from a process."""

    def __init__(self) -> None:  # triggered (not pending); no value
        self.callbacks = None
        self._ok = True
        # not itself: a self-reference made every transaction (and the train and closures it holds) cyclic
        # garbage, left to the collector instead of freed when the transaction ends
        self._value = None


class Wake(Scheduled):
    """A bare one-shot event carrying one object to one callback, put on the heap by :meth:`Kernel.call_at`."""

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
    heap: list[Any] = env._queue  # SimPy types the time int | float; cycles here are ints
    pop = heappop
    n = 0
    mark = every if report is not None else -1
    clock = clock_of(env)
    clock.now = env._now  # type: ignore[assignment]  # cycles are ints (SimPy's own loop may have moved it)
    clock.live = True
    try:
        while heap:
            when, _, _, event = pop(heap)
            t: int = when
            if t != clock.now:  # SimPy's clock too (its own events read it), only when time moves
                env._now = when
                clock.now = t
            if isinstance(event, Scheduled):  # the kernel's own events: native reads
                native: Scheduled = event
                cbs = native.callbacks
                native.callbacks = None  # SimPy's mark of a processed event
                assert cbs is not None  # a popped event has not run yet
                for cb in cbs:
                    cb(native)
                ok = native._ok
            else:  # SimPy's events (Timeout, Process, Event)
                callbacks: list[Callable[[Any], None]] = event.callbacks  # type: ignore[assignment]
                event.callbacks = None  # type: ignore[assignment]
                for callback in callbacks:
                    callback(event)
                ok = event._ok
            n += 1
            if not ok and not hasattr(event, "_defused"):
                exc = type(event._value)(*event._value.args)
                exc.__cause__ = event._value
                raise exc
            if n == mark and report is not None:
                mark += every
                report()
    finally:
        clock.live = False
    if report is not None:
        report()
    return n


__all__ = ["NORMAL", "Clock", "Kernel", "Reusable", "Scheduled", "Tick", "Wake", "clock_of", "run"]
