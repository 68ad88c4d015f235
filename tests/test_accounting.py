"""Accounting an architect can put next to a paper: SOPs, energy scopes, NoC energy per hop, packet formats,
residual edges, products at macro-row and lane granularity, eDRAM refresh, area."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SMALL

from elsa_tlm import sim
from elsa_tlm.config import load_config
from elsa_tlm.hw.input_buffer import HAZARDS, simulate_buffer
from elsa_tlm.hw.pe import ProcessingElement, fire_mask, layer_stream, macro_counts, run_buffer, slice_costs
from elsa_tlm.hw.sram import pe_macros
from elsa_tlm.schedule.orders import Windows, window_sums
from elsa_tlm.snn.products import gustavson_counts, inner_counts, outer_counts
from elsa_tlm.workload.activity import emitted_totals, statistical_activity
from elsa_tlm.workload.graph import load_workload

T2 = [*SMALL[:1], "run.time_steps=2", "output.plots=false"]
# ELSA_BRIEF §6, #SOPs (G)
PUBLISHED_GSOPS = {
    "vgg16_cifar10": 0.62,
    "vgg16_cifar100": 0.62,
    "vgg16_cifar10dvs": 2.55,
    "resnet18": 3.22,
    "resnet34": 9.43,
    "resnet50": 10.04,
}


@pytest.mark.parametrize("model", sorted(PUBLISHED_GSOPS))
def test_sops_follow_the_published_convention(model: str) -> None:
    """``sops`` = 2 × synaptic events (expanded events × Cout), as the paper's #SOPs count them: within 5 %."""
    from elsa_tlm.schedule.orders import expanded_events as layer_events
    from elsa_tlm.workload.activity import sop_counts

    wl = load_workload(model, 0)
    act = statistical_activity(wl, 1)
    syn, sops = sop_counts(wl, layer_events(wl, act))
    assert sops == 2 * syn
    assert sops / 1e9 == pytest.approx(PUBLISHED_GSOPS[model], rel=0.05)


def test_residual_edges_carry_what_their_producer_emitted() -> None:
    wl = load_workload("resnet50", 0)
    out = emitted_totals(wl)
    for layer in wl.layers:
        # a join's main producer sends exactly the join's recorded input (the convolution's input) ...
        if layer.skips:
            assert np.array_equal(out[layer.main], layer.input_spikes)
        # ... and every layer read as a main input sends what its reader recorded
        readers = [c for c in layer.consumers if wl.by_name[c].main == layer.name]
        if readers:
            assert np.array_equal(out[layer.name], wl.by_name[readers[0]].input_spikes)
    act = statistical_activity(wl, 1)
    for layer in wl.layers:
        if layer.skips:  # the skip stream is the skip producers' emission, spread the same way
            assert act.skip_inputs[layer.name].sum() == sum(out[s].sum() for s in layer.skips)


@pytest.fixture(scope="module")
def small() -> dict:
    return sim.run(load_config(None, T2)).summary


def test_noc_energy_per_hop_and_local_delivery_once(small: dict) -> None:
    e, noc = small["energy_breakdown_j"], small["noc"]
    assert e["noc_hops"] == pytest.approx(noc["flit_hops"] * 12.99e-12)
    assert e["noc_local_delivery"] == pytest.approx(noc["loopback_flits"] * 5.03e-12)
    assert noc["loopback_flits"] < noc["flits"]  # flits that crossed the mesh pay no local delivery
    assert "router_logic" not in e and "noc_links" not in e  # the crossbar is inside the DSENT hop energy


def test_aer_formats_differ_on_the_wire() -> None:
    # 62-bit flits: two 31-bit MorphIC packets fit a flit, a 32-bit TrueNorth packet leaves room for one
    tn = sim.run(load_config(None, [*T2, "noc.protocol=aer_truenorth", "noc.flit_bits=62"])).summary["noc"]
    mo = sim.run(load_config(None, [*T2, "noc.protocol=aer_morphic", "noc.flit_bits=62"])).summary["noc"]
    assert tn["packets"] == mo["packets"]  # one packet per spike in both
    assert mo["flits"] < tn["flits"]
    assert tn["injected_bits"] != mo["injected_bits"]
    # 64-bit flits hold two packets of either format: same flits on the wire
    tn64 = sim.run(load_config(None, [*T2, "noc.protocol=aer_truenorth", "noc.flit_bits=64"])).summary["noc"]
    mo64 = sim.run(load_config(None, [*T2, "noc.protocol=aer_morphic", "noc.flit_bits=64"])).summary["noc"]
    assert tn64["packets"] == mo64["packets"] and tn64["flits"] == mo64["flits"]


def test_edram_refresh_grows_with_latency() -> None:
    sram = sim.run(load_config(None, T2)).summary
    assert sram["energy_breakdown_j"]["refresh"] == 0.0 and sram["edram_row_refreshes"] == 0
    runs = [
        sim.run(load_config(None, [*T2, "memory.technology=edram", f"chip.clock_mhz={mhz}"])).summary
        for mhz in (400, 200)
    ]
    fast, slow = (r["energy_breakdown_j"]["refresh"] for r in runs)
    assert 0 < fast < slow  # same cycles, twice the time: about twice the refreshes
    assert slow / fast == pytest.approx(2.0, rel=0.1)
    assert runs[1]["latency_ms"] == pytest.approx(2 * runs[0]["latency_ms"])


def test_area_breakdown_is_reported_and_reconciled(small: dict) -> None:
    bd = small["area_breakdown_mm2"]
    assert sum(bd.values()) == pytest.approx(small["area_core_mm2"])
    assert small["area_mm2"] == pytest.approx(small["area_core_mm2"] * small["cores_total"])
    assert any("softmax" in k for k in bd) and any("layernorm" in k or "layer_norm" in k for k in bd)
    lines = {r["reported_key"] for r in small["area_reconciliation"] if r.get("reported_key")}
    assert {"weight_memory_mm2", "membrane_memory_mm2", "tracer_memory_mm2"} <= lines


# ---------------------------------------------------------------------------------------- products
def _toy_layer(product: str, queues: int, depth: int, raw_hazard: str = "forward"):
    """A 3×3 convolution over a 6×6 map of 8 channels, 2 steps, 16 output columns on one PE."""
    rng = np.random.default_rng(3)
    counts = rng.integers(0, 5, size=(2, 6, 6))
    w = Windows((6, 6), (6, 6), 3, 1, 1, False)
    order = np.arange(36)
    events = window_sums(counts, (6, 6), 3, 1, 1).reshape(2, -1)
    fires = fire_mask(events, None)
    stream = layer_stream(counts.reshape(2, -1), w, order, events, fires, 8, 72)
    buf = run_buffer(stream, queues, depth, 16, 1, raw_hazard=raw_hazard) if product == "gustavson" else None
    pe = ProcessingElement(0, 0, pe_macros(load_config()), tiles={"toy#0": 16}, lanes={"toy#0": 128})
    c = slice_costs(product, stream, buf, [pe], "toy#0", "toy", 128, 16, 1, 16)
    return c, macro_counts([pe], "toy"), events, fires


def test_products_charge_what_their_dataflow_touches() -> None:
    """With a buffer big enough never to evict, Gustavson's flushes are the ideal ⌈e/N⌉ mini-batches of the
    functional kernel; outer and inner match their kernels' closed forms (counts for one 16-column PE)."""
    g, gm, events, fires = _toy_layer("gustavson", queues=64, depth=16, raw_hazard="stall")
    ideal = gustavson_counts(events, 16, fire_rows=int(fires.sum()))
    assert g.evictions == 0
    assert g.mini_batches == ideal.mini_batches
    assert gm.weight_row_reads == ideal.weight_row_reads == int(events.sum())
    # without forwarding every mini-batch reads and writes its row; a fire pass is fused with the row's final
    # flush; a row whose spikes all left in full flushes (or that had none) reads its membrane once more
    unfused = int((fires & (events % 16 == 0)).sum())
    assert gm.membrane_row_reads == ideal.membrane_row_reads + unfused
    # with forwarding (ELSA) back-to-back mini-batches of one row share one read and one write
    f, fm, _, _ = _toy_layer("gustavson", queues=64, depth=16)
    assert f.mini_batches == g.mini_batches
    assert unfused < fm.membrane_row_reads < gm.membrane_row_reads
    assert g.adder_lane_acts == pytest.approx(int(events.sum()) * 16 / (16 * 128))  # rows summed, lanes used
    o, om, _, _ = _toy_layer("outer", 64, 16)
    oc = outer_counts(events, 16, fire_rows=int(fires.sum()))
    assert om.membrane_row_reads == oc.membrane_row_reads + int(fires.sum())  # events, then the fire
    assert o.adder_lane_acts == pytest.approx(g.adder_lane_acts)  # one row per event: 1/16 of an activation
    i, im, _, _ = _toy_layer("inner", 64, 16)
    rows = int(((events > 0) | fires).sum())
    ic = inner_counts(rows, 72, 16)
    assert im.weight_row_reads == ic.weight_row_reads and i.mini_batches == ic.mini_batches
    # a small buffer evicts: more, smaller mini-batches than the ideal
    small_buf, _, _, _ = _toy_layer("gustavson", queues=2, depth=16)
    assert small_buf.evictions > 0 and small_buf.mini_batches > ideal.mini_batches


def test_product_energies_are_explained_by_their_mechanisms() -> None:
    base = sim.run(load_config(None, [*T2])).summary
    outer = sim.run(load_config(None, [*T2, "pe.product=outer"])).summary
    inner = sim.run(load_config(None, [*T2, "pe.product=inner"])).summary
    b, o, i = (s["energy_breakdown_j"] for s in (base, outer, inner))
    assert o["adder"] == pytest.approx(b["adder"], rel=1e-9)  # the same rows summed, in other groupings
    assert o["membrane_sram"] > 3 * b["membrane_sram"]  # a membrane read and write per event
    assert i["weight_sram"] > 3 * b["weight_sram"]  # every weight row of every computed row


def test_buffer_kernel_matches_for_a_single_queue() -> None:
    # one input, one target, 40 spikes, depth 16 over 16 banks: two full flushes and a final of 8
    r = simulate_buffer(
        np.array([[40]]),
        np.array([0]),
        np.array([0, 1]),
        np.array([0]),
        np.array([0]),
        np.array([0]),
        1,
        1,
        16,
        16,
        0,
    )
    assert r.flushes == 3 and r.spikes == 40 and r.final_spikes[0, 0] == 8
    # N-way buffer: one cycle per mini-batch; the accumulator forwards the row from one to the next
    assert r.absorb_flush[0, 0] == 2 and r.final_cycles[0, 0] == 1
    assert r.membrane_rmw == 1 and r.per_step[0, HAZARDS] == 0


def test_without_forwarding_each_mini_batch_of_one_row_waits_and_rewrites() -> None:
    args = (np.array([[40]]), np.array([0]), np.array([0, 1]), np.array([0]), np.array([0]), np.array([0]), 1)
    r = simulate_buffer(*args, 1, 16, 16, 2, raw_hazard="stall")
    assert r.flushes == 3 and r.membrane_rmw == 3 and r.per_step[0, HAZARDS] == 2
    assert r.absorb_flush[0, 0] == 1 + (1 + 2)  # the second full flush follows the first on the same row
    assert r.final_cycles[0, 0] == 1 + 2
    # depth 32 over 16 ways: one flush of 32 spikes is two mini-batches of one row
    d = simulate_buffer(*args, 1, 32, 16, 2, raw_hazard="stall")
    assert d.flushes == 3 and d.absorb_flush[0, 0] == 2 + 2 and d.per_step[0, HAZARDS] == 2
