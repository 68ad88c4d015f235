"""The one fast path onto SimPy (elsa_tlm.kernel) against the pinned simpy's own behaviour."""

from __future__ import annotations

import pytest
import simpy

from elsa_tlm import kernel


def _mixed(env: simpy.Environment, seen: list) -> None:
    """Timeouts, a process, plain events and kernel events interleaved at equal and distinct cycles."""
    k = kernel.Kernel(env)

    def proc(env: simpy.Environment):
        for d in (1, 0, 3):
            yield env.timeout(d)
            seen.append((env.now, f"proc {d}"))

    env.process(proc(env))
    for name, when in (("b", 4), ("a", 1), ("c", 4)):
        ev = kernel.Reusable()
        ev.callbacks = [lambda e, name=name: seen.append((env.now, name))]
        k.at(when, ev)
    kernel.Tick(env, 2, lambda e: seen.append((env.now, f"tick {e.obj}")), "x")
    env.timeout(4).callbacks.append(lambda e: seen.append((env.now, "timeout")))


def test_run_matches_simpy_run_event_for_event() -> None:
    a, b = simpy.Environment(), simpy.Environment()
    sa: list = []
    sb: list = []
    _mixed(a, sa)
    _mixed(b, sb)
    a.run()
    n = kernel.run(b)
    assert sa == sb and a.now == b.now == 4
    assert n == 10  # process init + 3 timeouts + process end + 3 kernel events + tick + timeout


def test_kernel_constants_and_clock_agree_with_simpy() -> None:
    """NORMAL is SimPy's; the native clock is the environment's time while kernel.run drives it, and
    Kernel.now falls back to SimPy's own clock before, after and under SimPy's loop."""
    from simpy.core import NORMAL

    assert kernel.NORMAL == NORMAL
    env = simpy.Environment()
    k = kernel.Kernel(env)
    assert kernel.clock_of(env) is k.clock and not k.clock.live
    seen = []
    for when in (3, 7):
        k.call_at(when, lambda w: seen.append((k.now(), env.now, k.clock.live)), None)
    kernel.run(env)
    assert seen == [(3, 3, True), (7, 7, True)] and not k.clock.live and k.now() == 7
    env.timeout(5).callbacks.append(lambda e: seen.append((k.now(), env.now, k.clock.live)))
    env.run()  # SimPy's loop: the clock is not live, Kernel.now reads SimPy's
    assert seen[-1] == (12, 12, False)


def test_a_failing_callback_leaves_the_clock_not_live() -> None:
    env = simpy.Environment()
    k = kernel.Kernel(env)

    def boom(_w: object) -> None:
        raise RuntimeError("boom")

    k.call_at(2, boom, None)
    with pytest.raises(RuntimeError, match="boom"):
        kernel.run(env)
    assert not k.clock.live and k.now() == 2


def test_run_reports_and_raises_like_simpy() -> None:
    env = simpy.Environment()
    calls = []
    for d in range(7):
        env.timeout(d)
    assert kernel.run(env, lambda: calls.append(env.now), every=3) == 7
    assert calls == [2, 5, 6]  # after events 3 and 6, and once at the end

    env = simpy.Environment()
    ev = env.event()
    ev.fail(ValueError("broken"))
    with pytest.raises(ValueError, match="broken"):
        kernel.run(env)
    env = simpy.Environment()
    ev = env.event()
    ev.fail(ValueError("defused"))
    ev.defused = True
    assert kernel.run(env) == 1


def test_reusable_event_runs_once_per_push() -> None:
    env = simpy.Environment()
    k = kernel.Kernel(env)
    ev = kernel.Reusable()
    seen = []

    def again(e: simpy.Event) -> None:
        seen.append(env.now)
        if len(seen) < 3:
            e.callbacks = [again]
            k.at(env.now + 5, e)

    ev.callbacks = [again]
    k.at(1, ev)
    kernel.run(env)
    assert seen == [1, 6, 11] and k.now() == 11


def test_a_run_leaves_no_cyclic_garbage(monkeypatch: pytest.MonkeyPatch) -> None:
    """Transactions, trains and work items are freed when they are done, not left to the cycle collector (a
    reusable event that was its own value once made every network transaction cyclic garbage)."""
    import gc

    from conftest import SMALL

    from elsa_tlm import sim
    from elsa_tlm.config import load_config

    orig = sim._run_kernel

    def saving(env, report=None, every=50_000):
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            return orig(env, report, every)
        finally:
            gc.collect()
            gc.set_debug(0)

    monkeypatch.setattr(sim, "_run_kernel", saving)
    gc.garbage.clear()
    try:
        for mode in ("at", "lt"):
            sim.run(load_config(None, [*SMALL, f'run.mode="{mode}"']))
        kinds = {type(o).__name__ for o in gc.garbage}
    finally:
        gc.garbage.clear()
    assert not kinds & {"Txn", "VcTxn", "Train", "Work", "_Tx", "_Part", "Tick", "Wake"}, kinds


def test_a_run_pauses_the_collector_and_restores_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """sim.run pauses the cycle collector (its passes only walk the plan and chip again) and gives it back
    as it found it, whether the run succeeds or fails."""
    import gc

    from conftest import SMALL

    from elsa_tlm import sim
    from elsa_tlm.config import load_config

    seen: list[bool] = []
    orig = sim._run_kernel

    def probe(env, report=None, every=50_000):
        seen.append(gc.isenabled())
        return orig(env, report, every)

    def boom(env, report=None, every=50_000):
        raise RuntimeError("boom")

    cfg = load_config(None, [*SMALL, 'run.mode="lt"'])
    assert gc.isenabled()
    monkeypatch.setattr(sim, "_run_kernel", probe)
    try:
        sim.run(cfg)
        assert seen == [False] and gc.isenabled()
        gc.disable()
        sim.run(cfg)
        assert not gc.isenabled()
        gc.enable()
        monkeypatch.setattr(sim, "_run_kernel", boom)
        with pytest.raises(RuntimeError):
            sim.run(cfg)
        assert gc.isenabled()
    finally:
        gc.enable()


def test_nested_pauses_are_one_and_never_collect() -> None:
    """run() pauses around simulate(), which pauses too: one pause, no collection when the inner one ends
    (a full collection with the chip alive walked every object of the run)."""
    import gc

    from elsa_tlm.sim import collector_paused

    collections: list[int] = []

    def count(phase: str, info: dict) -> None:
        if phase == "start":
            collections.append(info["generation"])

    gc.callbacks.append(count)
    try:
        with collector_paused():
            with collector_paused():
                pass
            assert not gc.isenabled()
        assert gc.isenabled() and collections == []
    finally:
        gc.callbacks.remove(count)


def test_concurrent_pauses_restore_the_collector_once_the_last_ends() -> None:
    """Threads of a sweep share one pause: the collector comes back only when the last run ends, and a
    thread that finishes while another still runs collects (its chip is cyclic garbage)."""
    import gc
    import threading
    import weakref

    from elsa_tlm.sim import collector_paused

    assert gc.isenabled()
    a, b = collector_paused(), collector_paused()
    entered, release = threading.Event(), threading.Event()

    def other() -> None:
        with b:
            entered.set()
            release.wait(10)

    th = threading.Thread(target=other)
    th.start()
    entered.wait(10)
    a.__enter__()

    class Node:
        pass

    n = Node()
    n.me = n  # cyclic garbage made during the overlap (a finished run's chip)
    dead = weakref.ref(n)
    del n
    a.__exit__(None, None, None)  # this thread's run ends while the other's still runs: it collects
    assert not gc.isenabled() and dead() is None
    release.set()
    th.join(10)
    assert gc.isenabled()
