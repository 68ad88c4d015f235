"""The analytic mode (``run.mode = "analytic"``): its closed forms, its result, its plan cache, and its error
against the simulation (reduced here; every case in ``make analytic-check``, docs/MODEL.md §8)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from conftest import SMALL
from hypothesis import given, settings
from hypothesis import strategies as st

from elsa_tlm import analytic, recurrences, sim
from elsa_tlm.config import SECTIONS, as_dict, load_config
from elsa_tlm.plan import prepare
from elsa_tlm.results.schema import read_summary

AN = [*SMALL, 'run.mode="analytic"']


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 9)), min_size=1, max_size=40))
def test_the_server_closed_form_is_the_recurrence(items: list[tuple[int, int]]) -> None:
    """F = C + cummax(A - C_prev) is F_i = max(A_i, F_{i-1}) + c_i, item by item."""
    a = np.array([float(x) for x, _ in items])
    c = np.array([float(y) for _, y in items])
    f, prev = [], 0.0
    for ai, ci in zip(a, c, strict=True):
        prev = max(ai, prev) + ci
        f.append(prev)
    cum = np.cumsum(c)
    assert np.allclose(recurrences.server(a, cum, cum - c)[0], f)
    wait = np.zeros(a.size)  # the ports' servers: each train's wait is its finish - its service - its arrival
    recurrences.queues_py(np.array([0, a.size]), a, c, np.arange(a.size), wait)
    assert np.allclose(wait, np.array(f) - c - a)


def test_an_analytic_run_is_a_full_result(tmp_path) -> None:
    """Same keys as a simulated run, valid against the schema, mode and NoC model named, no events; the
    traffic is the simulation's (same trains' packets within 3 %: the trains are cut by the same rules)."""
    r = sim.run(load_config(None, AN))
    s = r.summary
    ref = sim.run(load_config(None, SMALL)).summary
    assert set(s) == set(ref)
    assert s["sim"]["mode"] == "analytic" and s["sim"]["events"] == 0
    assert s["noc"]["router"] == "closed_form"
    assert s["latency_cycles"] > 0 and s["first_output_cycle"] <= s["latency_cycles"]
    assert s["step_done_cycles"] == sorted(s["step_done_cycles"])
    assert abs(s["noc"]["packets"] / ref["noc"]["packets"] - 1) < 0.03
    # counts that do not depend on timing are the simulation's exactly
    for k in ("ops", "sops", "synaptic_events", "cores_used", "area_mm2"):
        assert s[k] == ref[k], k
    r.save(tmp_path / "run")
    assert read_summary(tmp_path / "run")["sim"]["mode"] == "analytic"


def test_an_analytic_run_is_deterministic() -> None:
    a = sim.run(load_config(None, AN)).summary
    b = sim.run(load_config(None, AN)).summary
    a.pop("sim"), b.pop("sim")
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


@pytest.mark.parametrize(
    "case",
    [
        [],
        ['schedule.policy="tbt"'],
        ['workload.model="resnet18"', 'noc.topology="mesh:4x4"'],
        ['noc.protocol="aer_morphic"'],
        ["noc.flit_bits=64"],
    ],
    ids=["vgg16-spine", "vgg16-tbt", "resnet18-mesh4x4", "vgg16-aer", "vgg16-flit64"],
)
def test_analytic_against_the_simulation(case: list[str]) -> None:
    """Reduced accuracy check (T = 4) at issue 34's bar: latency and on-chip energy within 8 % of ``at``, first
    output within 15 % (measured: within 3.2 %). Every case is in ``make analytic-check``; MODEL.md §6b holds
    the table. VGG16 missed it by 8-20 % while a core's input FIFOs were one FIFO for every stream."""
    at = sim.run(load_config(None, [*SMALL, *case])).summary
    an = sim.run(load_config(None, [*AN, *case])).summary
    for key, bar in (("latency_cycles", 0.08), ("energy_j", 0.08), ("first_output_cycle", 0.15)):
        err = an[key] / at[key] - 1
        assert abs(err) <= bar, f"{key}: analytic {an[key]} against at {at[key]} ({100 * err:+.1f} %)"


@pytest.mark.parametrize(
    "case",
    [
        [],
        ['schedule.policy="tbt"'],
        ['noc.protocol="aer_morphic"'],
        ['workload.model="resnet18"', "run.time_steps=2"],
        ["noc.fifo_bytes=64"],
    ],
    ids=["vgg16-spine", "vgg16-tbt", "vgg16-aer", "resnet18", "vgg16-fifo64"],
)
def test_the_fallback_for_back_pressure_meets_the_bar(case: list[str]) -> None:
    """What the closed form cannot express (back-pressure) its fallback simulates: lt with the buffers as
    timing constraints is within issue 34's bar of ``at`` (latency and energy 8 %, first output 15 %); with
    64 B FIFO queues, where the buffers bind, too (the closed form is 14 % early there)."""
    at = sim.run(load_config(None, [*SMALL, *case])).summary
    lt = sim.run(load_config(None, [*SMALL, 'run.mode="lt"', "run.lt_backpressure=true", *case])).summary
    for key, bar in (("latency_cycles", 0.08), ("energy_j", 0.08), ("first_output_cycle", 0.15)):
        err = lt[key] / at[key] - 1
        assert abs(err) <= bar, f"{key}: lt back-pressure {lt[key]} against at {at[key]} ({100 * err:+.1f} %)"


def test_the_plan_cache_hits_only_on_timing_settings() -> None:
    """Design points that differ in a timing or pricing setting share a plan; any other key misses (nothing
    stale), and each hit's result is the uncached run's."""
    cache = analytic.PlanCache(size=4)
    base = load_config(None, AN)
    cache.get(base)
    assert (cache.hits, cache.misses) == (0, 1)
    for item in (
        "chip.clock_mhz=400",
        "noc.link_latency_cycles=3",
        'schedule.policy="tbt"',
        "run.batch_items=8",
        'memory.technology="edram"',
    ):
        cfg = load_config(None, [*AN, item])
        plan, _, _, _ = cache.get(cfg)
        assert plan.config == cfg
    assert cache.misses == 1
    for item in (
        "noc.flit_bits=128",
        "pe.weight_ways=8",
        "run.seed=2",
        "memory.access_cycles=2",
        "run.time_steps=3",
    ):
        cache.get(load_config(None, [*AN, item]))
    assert cache.misses == 6
    # the cached plan gives the uncached answer
    for item in ("chip.clock_mhz=400", 'memory.technology="edram"'):
        cfg = load_config(None, [*AN, item])
        warm = analytic.run(*_from(cache, cfg)).summary
        cold = analytic.run(prepare(cfg), 0.0).summary  # built afresh
        warm.pop("sim"), cold.pop("sim")
        assert warm == cold, item


def test_a_pricing_only_change_reuses_the_timeline_and_prices_it_as_a_cold_run(monkeypatch) -> None:
    """Clock and memory technology do not move a cycle (nothing in solve reads them): the last timeline is
    priced again, and the result is a cold run's; a timing setting (the policy) computes a new one."""
    monkeypatch.setattr(analytic, "CACHE", analytic.PlanCache())

    def one(*extra: str) -> dict:
        r = analytic.run_config(load_config(None, [*AN, *extra]), 0.0)
        s = dict(r.summary)
        s.pop("sim")
        return {"summary": s, "layers": r.layer_rows, "cores": r.core_rows, "links": r.link_rows}

    one()
    for extra in (("chip.clock_mhz=400",), ('memory.technology="edram"', "memory.edram_retention_us=20")):
        before = analytic.CACHE.repriced
        warm = one(*extra)
        assert analytic.CACHE.repriced == before + 1, extra
        cold = analytic.run(prepare(load_config(None, [*AN, *extra])), 0.0)
        s = dict(cold.summary)
        s.pop("sim")
        assert warm == {
            "summary": s,
            "layers": cold.layer_rows,
            "cores": cold.core_rows,
            "links": cold.link_rows,
        }
    before = analytic.CACHE.repriced
    one('schedule.policy="tbt"')
    assert analytic.CACHE.repriced == before
    assert set(analytic.PRICING_ONLY) <= set(analytic.TIMING_ONLY)  # a pricing key never changes the plan
    for section, keys in analytic.PRICING_ONLY.items():
        assert keys == ("*",) or set(keys) <= set(analytic.TIMING_ONLY[section])


def test_a_new_plan_reuses_the_spikes_only_when_the_workload_is_the_same() -> None:
    """A hardware axis (a new plan) reuses the last workload graph and statistical activity, and its result is
    a cold run's; a workload, time-step or seed change builds them again."""
    cache = analytic.PlanCache(size=1)
    first, _, _, _ = cache.get(load_config(None, AN))
    for item in ("pe.weight_ways=8", "pe.neuron_circuits=64", "noc.flit_bits=128"):
        cfg = load_config(None, [*AN, item])
        plan, _, _, _ = cache.get(cfg)
        assert plan.activity is first.activity and plan.workload is first.workload, item
        warm = analytic.run(*_from(cache, cfg)).summary
        cold = analytic.run(prepare(cfg), 0.0).summary
        warm.pop("sim"), cold.pop("sim")
        assert warm == cold, item
    for item in ("run.seed=2", "run.time_steps=3", "workload.classifier_density=0.2"):
        plan, _, _, _ = cache.get(load_config(None, [*AN, item]))
        assert plan.activity is not first.activity, item
        first = plan
    assert (
        analytic.inputs_key(load_config(None, ['workload.model="digits"', 'workload.activity="functional"']))
        is None
    )


def test_what_a_new_plan_reuses_from_the_spikes_is_keyed_by_every_setting_it_depends_on() -> None:
    """The expanded events, orders, fires, spike streams and input-buffer runs a plan derives from its activity
    (``Activity.derived``) serve the next plans that share the activity: after each change of a setting they
    depend on (and back), a design point is a cold run's, every time (nothing stale); a plan that changes none
    of them runs no input buffer again."""
    cache = analytic.PlanCache(size=1)
    base = [*AN, "run.time_steps=2"]
    cache.get(load_config(None, base))
    for item in (
        'schedule.order="raster"',
        "schedule.defer_padding=false",
        'pe.product="outer"',
        "pe.input_queue_depth=4",
        "pe.input_queues=8",
        "pe.weight_ways=8",
        "memory.access_cycles=2",
        'pe.weight_buffer="banked"',
        'pe.raw_hazard="stall"',
        "pe.neuron_circuits=64",
        'noc.topology="mesh:4x4"',
        "noc.flit_bits=128",
        "run.batch_items=8",
    ):
        for sets in ([*base, item], base):  # the change, then back to the memo's first values
            cfg = load_config(None, sets)
            warm = analytic.run(*_from(cache, cfg)).summary
            cold = analytic.run(prepare(cfg), 0.0).summary
            warm.pop("sim"), cold.pop("sim")
            assert warm == cold, (item, sets is base)
    plan, _, _, _ = cache.get(load_config(None, base))
    runs = sum(1 for k in plan.activity.memo if k[0] == "input_buffer")
    cache.get(load_config(None, [*base, "noc.flit_bits=64"]))  # the same costs, other packets: nothing new
    assert sum(1 for k in plan.activity.memo if k[0] == "input_buffer") == runs
    # an activity made from this one with other spikes starts with nothing derived (the memo is not copied)
    assert not dataclasses.replace(plan.activity, inputs=dict(plan.activity.inputs)).memo


def _from(cache: analytic.PlanCache, cfg) -> tuple:
    plan, el, specs, static = cache.get(cfg)
    return plan, 0.0, el, specs, static


def test_timing_only_keys_exist() -> None:
    """Every key the cache ignores is a real config key (a renamed key would silently make the cache stale)."""
    d = as_dict(load_config(None, []))
    for section, keys in analytic.TIMING_ONLY.items():
        assert section in SECTIONS
        for k in keys:
            assert k == "*" or k in d[section], f"{section}.{k}"


def test_analytic_needs_no_chip(monkeypatch: pytest.MonkeyPatch) -> None:
    """The analytic mode builds no component and runs no kernel."""

    def boom(*a, **k):
        raise AssertionError("the analytic mode built a chip")

    monkeypatch.setattr(sim, "simulate", boom)
    cfg = load_config(None, AN)
    assert sim.run(dataclasses.replace(cfg)).summary["sim"]["events"] == 0


def test_what_the_closed_form_does_not_model_is_said() -> None:
    """Settings the analytic mode never reads (the groups' turns, per-group queues, the routers) are warnings
    in its summary, not silent what-ifs."""
    cfg = load_config(
        None, [*AN, 'pe.layer_groups="time_shared"', 'noc.local_queues="shared"', 'noc.router="vc"']
    )
    warnings = sim.run(cfg).summary["warnings"]
    for key in ("pe.layer_groups", "noc.local_queues", "noc.router"):
        assert any(w.startswith(key) for w in warnings), (key, warnings)


def test_waits_are_carried_by_train_not_by_a_tie() -> None:
    """A pass's per-train waits reach the next pass's trains one for one when the trains are the same (trains
    that leave together, as a gated policy's do, keep their own waits, not the last one's), and by leaving
    cycle when the passes cut them differently."""
    same = np.array([5.0, 5.0, 5.0])
    waits = np.array([0.0, 3.0, 6.0])
    assert analytic._carry(same, waits, same).tolist() == [0.0, 3.0, 6.0]
    then = np.array([10.0, 20.0, 30.0])
    now = np.array([12.0, 25.0, 31.0, 40.0])
    assert analytic._carry(then, waits, now).tolist() == [0.0, 3.0, 6.0, 6.0]


def test_residual_work_is_the_simulations() -> None:
    """The residual units' additions do not depend on timing: the analytic mode counts what at's units do,
    per core (cores.csv) and in total (each skip train added once per consumer core)."""
    base = ['workload.model="resnet18"', "run.time_steps=2", "output.plots=false"]
    at = sim.run(load_config(None, base))
    an = sim.run(load_config(None, [*base, 'run.mode="analytic"']))
    assert an.summary["pe"]["residual_busy_cycles"] == at.summary["pe"]["residual_busy_cycles"] > 0
    per_core = {r["core"]: r["residual_busy_cycles"] for r in at.core_rows}
    assert {r["core"]: r["residual_busy_cycles"] for r in an.core_rows} == per_core


def test_threads_sharing_an_activity_derive_what_a_lone_elaboration_does(monkeypatch) -> None:
    """A Dask worker's threads elaborate plans that share one activity at once: its memo (changed under a lock,
    here kept tiny so that entries are evicted while others are read) gives each the costs of a lone cold
    elaboration."""
    from concurrent.futures import ThreadPoolExecutor

    from elsa_tlm.elaborate import elaborate
    from elsa_tlm.workload import activity

    monkeypatch.setattr(activity, "MEMO_BYTES", 1)  # every input-buffer run evicts the one before
    sets = [f"pe.weight_ways={n}" for n in (4, 8, 16, 32)] * 2
    base = prepare(load_config(None, AN))

    def absorb(plan) -> list:
        return [c.absorb.tobytes() for c in elaborate(plan).costs.values()]

    cold = {s: absorb(prepare(load_config(None, [*AN, s]))) for s in set(sets)}
    plans = [dataclasses.replace(base, config=load_config(None, [*AN, s])) for s in sets]
    with ThreadPoolExecutor(4) as pool:
        warm = list(pool.map(absorb, plans))
    assert all(w == cold[s] for w, s in zip(warm, sets, strict=True))
    assert base.activity.memo  # they did share it


def test_threads_sharing_the_plan_cache_get_what_lone_runs_do() -> None:
    """A Dask worker's threads share analytic.CACHE: design points of three plans (two kept) asked from 4 threads
    at once, evicting each other's plans and timelines, each equal a lone cold run."""
    from concurrent.futures import ThreadPoolExecutor

    items = ["noc.flit_bits=128", "pe.weight_ways=8", "chip.clock_mhz=400", 'schedule.policy="tbt"', ""] * 3
    cache = analytic.PlanCache(size=2)

    def point(item: str) -> str:
        cfg = load_config(None, [*AN, *([item] if item else [])])
        s = dict(analytic.run(*_from_timed(cache, cfg)).summary)
        s.pop("sim")
        return json.dumps(s, sort_keys=True)

    def cold(item: str) -> str:
        s = dict(analytic.run(prepare(load_config(None, [*AN, *([item] if item else [])])), 0.0).summary)
        s.pop("sim")
        return json.dumps(s, sort_keys=True)

    lone = {i: cold(i) for i in set(items)}
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(point, items))
    assert got == [lone[i] for i in items]


def _from_timed(cache: analytic.PlanCache, cfg) -> tuple:
    """Like :func:`_from`, through the cache's timelines too (what run_config does)."""
    plan, el, specs, static = cache.get(cfg)
    return plan, 0.0, el, specs, static, cache.timing(cfg, plan, specs, static)
