"""The chip as components: the input buffer against a hand count, conservation through bounded channels,
back-pressure, co-mapping, the firing rule, and the code's shape (results draw nothing; SimPy's internals only
in kernel.py; the import graph and its layers: tests/test_layers.py)."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import numpy as np
import pytest
from conftest import SMALL

from elsa_tlm import sim
from elsa_tlm.config import load_config
from elsa_tlm.energy import EnergyModel, Ledger
from elsa_tlm.energy.tables import memory_table
from elsa_tlm.hw.input_buffer import (
    EVICTIONS,
    FINALS,
    FLUSHES,
    FULL,
    HAZARDS,
    MEMBRANE_RMW,
    PEAK_LIVE,
    SPIKES,
    expected_bank_cycles,
    simulate_buffer,
)
from elsa_tlm.hw.pe import fire_mask, macro_counts
from elsa_tlm.schedule.orders import Windows

ROOT = Path(__file__).resolve().parents[1]
T2 = [*SMALL[:1], "run.time_steps=2", "output.plots=false"]


# ------------------------------------------------------------------------------------------- input buffer
def _toy(
    counts: list[int],
    queues: int = 2,
    depth: int = 4,
    ways: int = 4,
    channels=None,
    weight_buffer: str = "banked",
    raw_hazard: str = "stall",
):
    """A 1-D 3-tap convolution over 5 input spines (3 outputs), absorbed in raster order (by default on the
    what-if buffer: single-ported banks and no forwarding, whose costs the hand count spells out)."""
    w = Windows((1, 5), (1, 3), 3, 1, 0, False)  # 1 x 3 windows over a 1 x 5 grid (kernel rows clipped)
    order = np.arange(5)
    return simulate_buffer(
        np.array([counts]),
        order,
        w.rev_ptr,
        w.rev_idx,
        w.pair_kofs,
        w.release_after(order),
        3,
        queues,
        depth,
        ways,
        hazard=2,
        channels=channels,
        cin=8,
        weight_buffer=weight_buffer,
        raw_hazard=raw_hazard,
    )


def test_input_buffer_follows_the_hand_count() -> None:
    # spikes per input spine: in0=2, in1=1, in2=3, in3=0, in4=2; out o reads in o..o+2; 2 queues of 4 entries
    # p0: o0 gets 2 (q0).  p1: o0 -> 3, o1 gets 1 (q1).
    # p2: o0 -> 6: full flush of 4 (F1), 2 left; o1 -> 4: full flush (F2); o2 needs a queue: evict the oldest
    #     (q0 = o0, 2 spikes: F3) and take it with 3; o0 is released (nothing queued).
    # p3: no spikes; o1 released with an empty queue.  p4: o2 -> 5: full flush (F4), 1 left; o2 released: F5
    #     (1 spike) right after F4 on the same row: a read-after-write hazard (2 cycles)
    r = _toy([2, 1, 3, 0, 2])
    e = expected_bank_cycles(4, 4)
    st = r.per_step[0]
    assert st[FLUSHES] == 5 and st[FULL] == 3 and st[EVICTIONS] == 1 and st[FINALS] == 1
    assert st[SPIKES] == 15 == 6 + 4 + 5  # every expanded event flushed once
    assert st[PEAK_LIVE] == 2 and st[HAZARDS] == 1
    assert r.absorb_flush[0].tolist() == pytest.approx([0, 0, 2 * e[4] + e[2], 0, e[4]])
    assert r.final_cycles[0].tolist() == pytest.approx([0, 0, e[1] + 2])
    assert r.final_spikes[0].tolist() == [0, 0, 1]
    assert r.mean_spikes_per_flush == 3.0


def test_elsa_buffer_takes_one_cycle_per_mini_batch_and_forwards_the_row() -> None:
    # the same stream on ELSA's N-way buffer with a forwarding accumulator: every flush of <= 4 spikes is one
    # cycle, F4 and F5 (o2, back to back) chain in the accumulator: one membrane read-modify-write, no stall
    r = _toy([2, 1, 3, 0, 2], weight_buffer="nway", raw_hazard="forward")
    st = r.per_step[0]
    assert st[FLUSHES] == 5 and st[HAZARDS] == 0 and st[MEMBRANE_RMW] == 4
    assert r.absorb_flush[0].tolist() == [0, 0, 3, 0, 1]
    assert r.final_cycles[0].tolist() == [0, 0, 1]


@pytest.mark.parametrize(("depth", "ways"), [(4, 16), (16, 4), (4, 32), (1, 1), (3, 5)])
@pytest.mark.parametrize("weight_buffer", ["nway", "banked"])
def test_any_depth_and_ways_give_finite_costs_that_grow_with_the_mini_batches(
    depth, ways, weight_buffer
) -> None:
    """Depth below or above the ways: no index past the cost table (the defect that once returned garbage)."""
    r = _toy([2, 1, 3, 0, 2], queues=2, depth=depth, ways=ways, weight_buffer=weight_buffer)
    assert np.isfinite(r.absorb_flush).all() and np.isfinite(r.final_cycles).all()
    assert r.spikes == 15
    batches = r.flushes  # a flush of m spikes is ceil(m / ways) mini-batches, each at least one cycle
    assert r.absorb_flush.sum() + r.final_cycles.sum() >= batches
    if weight_buffer == "nway":
        assert r.absorb_flush.sum() + r.final_cycles.sum() == batches + 2 * r.per_step[0][HAZARDS]


def test_expected_bank_cycles_are_the_balls_in_bins_maximum() -> None:
    e = expected_bank_cycles(16, 16)
    assert e[0] == 0 and e[1] == 1 and e[2] == pytest.approx(1 + 1 / 16)
    assert all(np.diff(e[1:]) > 0) and 3.0 < e[16] < 3.2  # 16 random rows over 16 banks: ~3 cycles
    rng = np.random.default_rng(0)
    draws = [np.bincount(rng.integers(0, 16, 16), minlength=16).max() for _ in range(20000)]
    assert np.mean(draws) == pytest.approx(e[16], abs=0.02)


def test_exact_channels_decide_bank_conflicts() -> None:
    # every spike of in2 (3 spikes) on channels 0, 4, 8: with cin=8 and 4 banks, rows k*8 + c -> bank c % 4
    chans = [[np.array([1, 2]), np.array([3]), np.array([0, 4, 8]), np.array([], int), np.array([5, 6])]]
    r = _toy([2, 1, 3, 0, 2], channels=chans)
    assert r.per_step[0][FLUSHES] == 5
    assert r.final_cycles[0][2] == 1 + 2  # o2's last spike alone (1 cycle) + hazard


def test_fire_rule_is_exact_for_st_bif() -> None:
    # a row fires only in a step with input or right after a step in which it fired
    events = np.array([[0, 3, 0], [0, 0, 0], [2, 0, 0], [0, 0, 0]])
    emitted = np.array([[0, 1, 0], [0, 1, 0], [0, 0, 0], [0, 0, 0]])
    fires = fire_mask(events, emitted)
    assert fires.tolist() == [
        [False, True, False],
        [False, True, False],
        [True, True, False],
        [False, False, False],
    ]


def test_functional_spikes_only_come_from_rows_the_rule_fires() -> None:
    from elsa_tlm.chip import build_chip

    cfg = load_config(ROOT / "scenarios" / "digits.toml", ["workload.samples=1", "output.plots=false"])
    plan = sim.prepare(cfg)
    chip = build_chip(plan)
    wl, act = plan.workload, plan.activity
    for layer in wl.layers:
        if layer.out_pool is not None or layer is wl.output_layer:
            continue
        emitted = act.emitted[layer.name].reshape(act.time_steps, -1)
        assert not np.any((emitted > 0) & ~chip.fires[layer.name])  # a spike needs a fire pass


# --------------------------------------------------------------------------------------------- the chip
@pytest.fixture(scope="module")
def small_chip():
    plan = sim.prepare(load_config(None, T2))
    chip, _ = sim.simulate(plan)
    return plan, chip


def test_every_spike_and_flit_is_delivered_once(small_chip) -> None:
    plan, chip = small_chip
    nis = chip.nis.values()
    assert sum(n.trains_out for n in nis) == sum(n.trains_in for n in nis) > 0
    assert sum(n.flits_out for n in nis) == sum(n.flits_in for n in nis) == chip.transport.counters()["flits"]
    net = chip.transport.net
    assert net.in_flight == 0 and net.delivered == sum(n.trains_in for n in nis)
    wl, act, mapping = plan.workload, plan.activity, plan.mapping
    for layer in wl.layers:
        if not layer.consumers:
            continue
        dests = {s.core for c in layer.consumers for s in mapping.by_layer[c]}
        sent = int(act.emitted[layer.name].sum())  # all slices together emit the layer's spikes once
        got = sum(chip.nis[d].spikes_in.get(layer.name, 0) for d in dests)
        assert got == sent * len(dests), layer.name


def test_no_channel_ever_holds_more_than_its_capacity(small_chip) -> None:
    _, chip = small_chip
    for ni in chip.nis.values():
        assert ni.capacity > 0 and ni.out_peak <= ni.capacity and ni.in_peak <= ni.capacity
    net = chip.transport.net
    queues = [q for ni in chip.nis.values() for q in ni.inbox.queues]
    bufs = [ch for r in net.routers for ch in r.inputs] + queues
    assert all(b.peak <= b.cap for b in bufs) and any(b.peak == b.cap for b in bufs)  # full, never over
    for ni in chip.nis.values():  # the NI owns its input FIFOs; the ejection port takes their credits
        port = net.eject_ports[ni.node]
        assert all(q.up is port for q in ni.inbox.queues)
        if len(ni.inbox.queues) == 1:
            assert port.dest_buf is ni.inbox.queues[0] and port.fifos is None
        else:  # a queue per stream into the core, each a share of the FIFOs: every train takes its stream's
            assert port.dest_buf is None and port.fifos is ni.inbox
            assert sum(q.cap for q in ni.inbox.queues) <= ni.capacity


def test_each_pe_owns_its_macros_and_they_feed_the_energy_ledger(small_chip) -> None:
    """The SRAM lines of the ledger are the macros' row accesses, the one store of them (per owner layer)."""
    plan, chip = small_chip
    pes = [pe for node in sorted(chip.pes) for pe in chip.pes[node]]
    assert len(pes) == plan.mapping.cores_used * plan.config.chip.pes_per_core
    assert len({id(pe.macros["weight"]) for pe in pes}) == len(pes)  # no macro shared between PEs
    tot = {k: sum(pe.macros[k].total_reads for pe in pes) for k in ("weight", "membrane", "tracer")}
    assert tot["weight"] > 0
    # per layer, too: the owner of every access is the layer that made it
    views = [macro_counts(pes, layer.name) for layer in plan.workload.layers]
    assert sum(v.weight_row_reads for v in views) == tot["weight"]
    assert sum(v.membrane_row_reads for v in views) == tot["membrane"]
    assert sum(v.membrane_row_writes for v in views) == sum(pe.macros["membrane"].total_writes for pe in pes)
    assert sum(v.tracer_reads for v in views) == tot["tracer"]
    em, ledger = EnergyModel(plan.config), Ledger()
    for pe in pes:
        pe.report(ledger)
    e = ledger.by_category(em.table, ("weight_sram", "membrane_sram", "tracer_sram", "input_buffer"))
    assert e["weight_sram"] == pytest.approx(
        tot["weight"] * memory_table("sram")["weight"]["read_pj"] * 1e-12
    )
    summary = sim.collect(plan, chip, 0, 0.0).summary
    for k in ("weight_sram", "membrane_sram", "tracer_sram", "input_buffer"):
        assert summary["energy_breakdown_j"][k] == pytest.approx(e[k])


def test_pes_move_in_lock_step_and_an_uneven_tile_leaves_pes_idle() -> None:
    """64 columns over 3 PEs of 21 circuits: tiles 22, 21, 21 take 2, 1, 1 lane passes; the widest sets the
    time (every PE is busy for as long as the core at most) and the others compute half of it."""
    keys = [*T2, "chip.pes_per_core=3", "pe.neuron_circuits=21", "mapping.max_layers_per_core=1"]
    r = sim.run(load_config(None, keys))
    assert r.summary["latency_cycles"] > 0
    seen_uneven = False
    for row in r.core_rows:
        busy = [int(x) for x in row["pe_busy_cycles"].split()]
        assert len(busy) == 3 and max(busy) <= int(row["busy_cycles"]) + 1
        if row["lane_passes"] == "2" and busy[0] > 0:
            assert busy[1] == pytest.approx(busy[0] / 2, abs=1) and busy[2] == pytest.approx(
                busy[0] / 2, abs=1
            )
            seen_uneven = True
    assert seen_uneven


def test_the_residual_unit_adds_every_skip_spike_once_per_join_core() -> None:
    keys = ['workload.model="resnet18"', "run.time_steps=2", "output.plots=false"]
    plan = sim.prepare(load_config(None, keys))
    chip, _ = sim.simulate(plan)
    units = {n: c.residual for n, c in chip.cores.items() if c.residual is not None}
    act, mapping = plan.activity, plan.mapping
    join_cores = {s.core for j in act.skip_inputs for s in mapping.by_layer[j]}
    assert set(units) == join_cores  # a unit where a join is, none elsewhere
    assert all(not u.pending for u in units.values())  # everything it got, it added
    lo = hi = 0  # ceil(s/16) per spine of the whole skip spine <= what the unit did <= one cycle per spike
    for j, sk in act.skip_inputs.items():
        n = len({s.core for s in mapping.by_layer[j]})
        lo += int(np.ceil(sk.reshape(sk.shape[0], -1) / 16).sum()) * n
        hi += int(sk.sum()) * n
    ops = sum(u.ops for u in units.values())
    assert 0 < lo <= ops <= hi
    r = sim.collect(plan, chip, 0, 0.0)
    assert r.summary["pe"]["residual_busy_cycles"] == ops
    slow = sim.run(load_config(None, [*keys, "chip.accumulator_lanes=1"])).summary
    assert slow["pe"]["residual_busy_cycles"] == hi  # one spike per cycle: every skip spike, per join core


def test_a_tiny_fifo_raises_latency_and_never_deadlocks() -> None:
    base = sim.run(load_config(None, T2)).summary
    tiny = sim.run(load_config(None, [*T2, "noc.fifo_count=1", "noc.fifo_bytes=64"])).summary
    assert tiny["latency_cycles"] > base["latency_cycles"]
    assert tiny["pe"]["stalled_on_output_cycles"] > base["pe"]["stalled_on_output_cycles"]


def test_input_buffer_keys_change_the_timing() -> None:
    base = sim.run(load_config(None, T2)).summary
    for key in ("pe.input_queue_depth=4", "pe.input_queues=4"):
        s = sim.run(load_config(None, [*T2, key])).summary
        assert s["latency_cycles"] > base["latency_cycles"], key
        assert s["mean_spikes_per_flush"] < base["mean_spikes_per_flush"], key
    assert 1 <= base["mean_spikes_per_flush"] <= 16


@pytest.mark.parametrize("layer", ["features.3", "features.17"])
def test_a_sparser_layer_never_makes_the_network_slower(layer: str) -> None:
    cfg = load_config(None, T2)
    plan = sim.prepare(cfg)
    base = sim.run(cfg, plan=plan).summary["latency_cycles"]
    act = plan.activity
    sparse_in = dict(act.inputs)
    sparse_in[layer] = act.inputs[layer] // 2
    sparser = dataclasses.replace(act, inputs=sparse_in)
    s = sim.run(cfg, activity=sparser, workload=plan.workload).summary["latency_cycles"]
    assert s <= base


def test_co_mapped_layers_compute_at_once_in_their_lane_groups() -> None:
    """ELSA_BRIEF §3: a core holding P layers divides its circuits into P groups that run their layers at
    once; the time-shared what-if makes them take turns, which costs time."""
    keys = ['workload.model="resnet18"', "run.time_steps=2", "output.plots=false"]
    par = sim.run(load_config(None, keys))
    shared = [r for r in par.core_rows if r["lane_groups"] > 1]
    assert shared  # the greedy partition put several layers on a core ...
    for r in shared:  # ... whose groups overlap: the core is busy for less than the sum of its groups
        groups = [int(x) for x in r["group_busy_cycles"].split()]
        assert len(groups) == r["lane_groups"] and max(groups) <= r["busy_cycles"] < sum(groups)
    turns = sim.run(load_config(None, [*keys, 'pe.layer_groups="time_shared"']))
    assert all(r["lane_groups"] == 1 for r in turns.core_rows)
    assert turns.summary["latency_cycles"] > par.summary["latency_cycles"]


def test_cores_csv_has_the_promised_columns(tmp_path: Path) -> None:
    import csv

    r = sim.run(load_config(None, T2))
    r.save(tmp_path / "r")
    with (tmp_path / "r" / "cores.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    need = {
        "busy_cycles",
        "stalled_on_output_cycles",
        "starved_on_input_cycles",
        "peak_input_fifo_flits",
        "peak_output_buffer_flits",
        "flushes",
        "evictions",
        "mean_spikes_per_flush",
    }
    assert need <= set(rows[0]) and len(rows) == r.summary["cores_used"]
    lat = r.summary["latency_cycles"]
    for row in rows:  # every cycle of a core is busy, stalled, starved or after its work
        assert (
            int(row["busy_cycles"])
            + int(row["stalled_on_output_cycles"])
            + int(row["starved_on_input_cycles"])
            <= lat
        )


# -------------------------------------------------------------------------------------------- code shape
def test_results_import_no_plotting() -> None:
    """Results are plain data: nothing under elsa_tlm/results imports matplotlib (or the figures)."""
    for f in (ROOT / "elsa_tlm" / "results").rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
        assert not {
            n for n in names if n.split(".")[0] == "matplotlib" or n.startswith("elsa_tlm.figures")
        }, f


def _simpy_private_names() -> set[str]:
    """Every private attribute SimPy's own classes keep (``self._x = ...`` in the installed simpy)."""
    import re

    import simpy

    names: set[str] = set()
    for f in Path(simpy.__file__).parent.rglob("*.py"):
        names |= set(re.findall(r"\bself\.(_[a-z]\w*)\s*[:=]", f.read_text()))
    return names


def test_simpy_internals_only_in_the_documented_fast_path() -> None:
    """No module but kernel.py (Kernel, Reusable, Tick, run) touches a private SimPy attribute, in
    any form (``env._queue``, ``ev._value``, ``self._ok`` on an Event subclass ...)."""
    private = _simpy_private_names()
    assert {"_queue", "_eid", "_now", "_ok", "_value"} <= private
    users: dict[str, set[str]] = {}
    for f in (ROOT / "elsa_tlm").rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in private:
                users.setdefault(f.relative_to(ROOT).as_posix(), set()).add(node.attr)
    assert set(users) == {"elsa_tlm/kernel.py"}, users
