import json

import pytest
from conftest import SMALL

from elsa_tlm import sim
from elsa_tlm.config import load_config
from elsa_tlm.errors import MappingError

BREAKDOWN_KEYS = {
    "adder",
    "weight_sram",
    "membrane_sram",
    "tracer_sram",
    "input_buffer",
    "fire",
    "scheduling_logic",
    "packetisation",
    "noc_hops",
    "noc_local_delivery",
    "routing_engine",
    "refresh",
    "leakage",
}


def test_summary_contract(small_results):
    s = small_results["spine"].summary
    for key in [
        "model",
        "dataset",
        "time_steps",
        "schedule",
        "product",
        "protocol",
        "flit_bits",
        "topology",
        "routing",
        "clock_mhz",
        "seed",
        "latency_cycles",
        "latency_ms",
        "step_done_cycles",
        "first_output_cycle",
        "energy_j",
        "energy_breakdown_j",
        "ops",
        "sops",
        "gops",
        "tops_per_w",
        "pj_per_sop",
        "area_mm2",
        "cores_used",
        "noc",
        "sim",
    ]:
        assert key in s, key
    assert len(s["step_done_cycles"]) == s["time_steps"] == 4
    assert s["step_done_cycles"] == sorted(s["step_done_cycles"])
    assert set(s["energy_breakdown_j"]) >= BREAKDOWN_KEYS and "dram" not in s["energy_breakdown_j"]
    assert sum(s["energy_breakdown_j"].values()) == pytest.approx(s["energy_j"], rel=1e-12)
    # energy scopes: the chip, DRAM apart, the system = both
    assert s["dram_energy_j"] > 0 and s["system_energy_j"] == pytest.approx(
        s["energy_j"] + s["dram_energy_j"]
    )
    assert sum(s["system_energy_breakdown_j"].values()) == pytest.approx(s["system_energy_j"], rel=1e-12)
    assert s["tops_per_w"] == pytest.approx(s["ops"] / s["energy_j"] / 1e12)
    assert s["sops"] == 2 * s["synaptic_events"] and s["pj_per_sop"] == pytest.approx(
        s["energy_j"] * 1e12 / s["sops"]
    )
    noc = s["noc"]
    assert noc["link_bits"] == noc["flit_hops"] * s["flit_bits"]  # Σ over traversed links
    assert noc["payload_bits"] <= noc["injected_bits"] == noc["flits"] * s["flit_bits"]
    assert all(v >= 0 for v in s["energy_breakdown_j"].values())
    assert s["latency_ms"] == pytest.approx(s["latency_cycles"] / (s["clock_mhz"] * 1e3))
    json.dumps(s, allow_nan=False)


def test_policy_ordering(small_results):
    sp, tb, lb = (small_results[p].summary for p in ("spine", "tbt", "lbl"))
    assert sp["first_output_cycle"] <= tb["first_output_cycle"] <= lb["first_output_cycle"]
    assert sp["latency_cycles"] <= tb["latency_cycles"]
    # lbl: no output before the last step of every layer: first output is the end of the run
    assert lb["first_output_cycle"] == lb["step_done_cycles"][0] == lb["latency_cycles"]


def test_layer_rows_match_activity_and_flits_are_conserved(small_results):
    r = small_results["spine"]
    for row, layer in zip(r.layer_rows, r.workload.layers, strict=True):
        assert row["input_spikes"] == int(layer.input_spikes.sum())
        assert row["first_spine_cycle"] <= row["last_spine_cycle"]
    sent = sum(row["flits_in"] for row in r.layer_rows)
    assert sent >= r.summary["noc"]["flits"] > 0  # a train to a core feeding two layers counts for both


def test_deterministic_bytes():
    a = sim.run(load_config(None, SMALL)).summary
    b = sim.run(load_config(None, SMALL)).summary
    a.pop("sim"), b.pop("sim")
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_lt_mode_close_to_at(small_results):
    """lt leaves out the queueing: with at's time quantum it is never much slower; with its own coarser
    quantum (lt_batch_items) it stays within 20 %."""
    at = small_results["spine"].summary
    same = sim.run(load_config(None, [*SMALL, 'run.mode="lt"', "run.lt_batch_items=16"])).summary
    assert same["latency_cycles"] <= at["latency_cycles"] * 1.05
    r = sim.run(load_config(None, [*SMALL, 'run.mode="lt"']))
    lt = r.summary
    assert abs(lt["latency_cycles"] - at["latency_cycles"]) / at["latency_cycles"] < 0.2
    # lt injects a train at once: the output buffer holds one train at a time, never every train sent (a bug
    # once: releases nobody applied piled up, and the reported peak was the flits sent over the run)
    peaks = [c["peak_output_buffer_flits"] for c in r.core_rows]
    cap = r.core_rows[0]["fifo_capacity_flits"]
    assert 0 < max(peaks) <= cap // 2 < lt["noc"]["flits"]


def test_network_too_big_is_refused_with_core_count():
    with pytest.raises(MappingError, match=r"needs \d+ cores .* has 4"):
        sim.run(load_config(None, [*SMALL, "noc.topology=mesh:2x2"]))


def test_energy_equals_counts_times_table():
    from elsa_tlm.energy import EnergyModel
    from elsa_tlm.snn.products import ActionCounts

    cfg = load_config()
    em = EnergyModel(cfg)
    a = ActionCounts(
        weight_row_reads=10,
        membrane_row_reads=3,
        membrane_row_writes=2,
        tracer_reads=1,
        tracer_writes=1,
        adder_activations=4,
        fire_activations=5,
        mini_batches=4,
    )
    e = em.pe_energy(a, 2.0)
    assert e["weight_sram"] == pytest.approx(10 * 0.256e-12)
    assert e["membrane_sram"] == pytest.approx((3 * 0.730 + 2 * 0.480) * 1e-12)
    assert e["tracer_sram"] == pytest.approx((0.256 + 0.170) * 1e-12)
    assert e["adder"] == pytest.approx(2.0 * 35.648e-12)
    assert e["fire"] == pytest.approx(5 * 2.9185e-12)


def test_product_and_memory_directions():
    base = sim.run(load_config(None, [*SMALL, "run.time_steps=2"])).summary
    inner = sim.run(load_config(None, [*SMALL, "run.time_steps=2", "pe.product=inner"])).summary
    outer = sim.run(load_config(None, [*SMALL, "run.time_steps=2", "pe.product=outer"])).summary
    edram = sim.run(load_config(None, [*SMALL, "run.time_steps=2", "memory.technology=edram"])).summary
    assert inner["energy_j"] > base["energy_j"] and outer["energy_j"] > base["energy_j"]
    assert edram["area_mm2"] < base["area_mm2"] and edram["energy_j"] > base["energy_j"]


def test_long_trains_are_not_mistaken_for_deadlock():
    # lbl sends a layer's whole output as one train; with narrow links it streams for longer than the
    # watchdog window, which must count as progress
    cfg = load_config(
        None, [*SMALL, 'schedule.policy="lbl"', "noc.link_bits=64", "noc.deadlock_timeout_cycles=50"]
    )
    s = sim.run(cfg).summary
    assert s["latency_cycles"] > 0


def test_occupied_macros_fit_the_cores_used(small_results):
    s = small_results["spine"].summary
    occ, cap = s["macros_occupied"], small_results["spine"].mapping.capacity
    pes = cap.pes * s["cores_used"]
    assert 0 < occ["weight_macros"] <= pes * cap.weight_macros
    assert 0 < occ["membrane_macros"] <= pes * cap.membrane_macros
    assert 0 < occ["tracer_macros"] <= pes * cap.tracer_macros
    # every 4-bit weight of the network is stored: weight macros + spilled membrane macros hold them all
    wl = small_results["spine"].workload
    weight_bits = sum(la.weight_rows * la.cout for la in wl.layers) * 4
    held = (occ["weight_macros"] + occ["membrane_macros"] * cap.spill_ratio) * 64 * 16 * 4
    assert held >= weight_bits
    assert occ["area_mm2"] < s["area_mm2"]


def test_lt_backpressure_keeps_the_buffers_and_tracks_at(small_results):
    """run.lt_backpressure: the input FIFOs and output queues hold what fits (their peaks never pass their
    capacity, which plain lt's may), a producer stalls on a full output queue, the run stays within issue 34's
    bar of at, and where the buffers bind (64 B FIFO queues: at 16 % slower than plain lt on VGG16 at T = 4) it
    lands closer to at than plain lt; deterministic."""
    at = small_results["spine"].summary
    plain = sim.run(load_config(None, [*SMALL, 'run.mode="lt"']))
    bp_cfg = load_config(None, [*SMALL, 'run.mode="lt"', "run.lt_backpressure=true"])
    bp = sim.run(bp_cfg)
    for row in bp.core_rows:
        assert row["peak_input_fifo_flits"] <= row["fifo_capacity_flits"], row
        assert row["peak_output_buffer_flits"] <= row["fifo_capacity_flits"], row
    assert any(r["stalled_on_output_cycles"] > 0 for r in bp.core_rows)
    assert not any(r["stalled_on_output_cycles"] > 0 for r in plain.core_rows)

    def err(s: dict, ref: dict) -> float:
        return abs(s["latency_cycles"] / ref["latency_cycles"] - 1)

    assert err(bp.summary, at) < 0.08
    tiny = [*SMALL, "noc.fifo_bytes=64"]
    at_tiny = sim.run(load_config(None, tiny)).summary
    plain_tiny = sim.run(load_config(None, [*tiny, 'run.mode="lt"'])).summary
    bp_tiny = sim.run(load_config(None, [*tiny, 'run.mode="lt"', "run.lt_backpressure=true"])).summary
    assert err(bp_tiny, at_tiny) < err(plain_tiny, at_tiny)
    # the same traffic, counted the same way
    assert bp.summary["noc"]["flits"] == plain.summary["noc"]["flits"]
    again = sim.run(bp_cfg).summary
    a, b = dict(bp.summary), dict(again)
    a.pop("sim"), b.pop("sim")
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
