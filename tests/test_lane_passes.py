"""Timing and energy describe the same tiling: for every layer kind (convolution, linear, the attention products,
the residual addition), the lane passes the timing charges follow from the very columns the energy ledger
charges, and a spike x spike product's heads are spread over the core's PEs as every layer's columns are."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from elsa_tlm import sim
from elsa_tlm.config import load_config
from elsa_tlm.elaborate import _operand_frac, elaborate
from elsa_tlm.energy.model import EnergyModel
from elsa_tlm.schedule.readiness import plan_orders

ROOT = Path(__file__).resolve().parents[1]
CASES = {
    "vgg16": (None, ['workload.model="vgg16_cifar10"', "run.time_steps=2"]),
    "resnet18": (None, ['workload.model="resnet18"', "run.time_steps=2"]),
    "vit": (str(ROOT / "scenarios" / "vit.toml"), ["run.time_steps=1"]),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    scenario, sets = CASES[request.param]
    plan = sim.prepare(load_config(scenario, [*sets, "output.plots=false"]))
    return plan, elaborate(plan)


def test_timing_passes_are_the_ledgers_columns_over_the_lanes(case) -> None:
    plan, el = case
    wl, mapping = plan.workload, plan.mapping
    orders = plan_orders(wl, plan.config.schedule.order, plan.config.schedule.defer_padding)
    kinds = set()
    for s in mapping.slices:
        c = el.costs[(s.layer, s.index)]
        layer = wl.by_name[s.layer]
        kinds.add(layer.kind)
        # the columns the energy ledger charges per weight row (main input, second operand) and per fire pass
        # give the lane passes the timing charges, with the lanes of the slice's group
        assert c.passes == math.ceil(max(c.row_cols) / s.lanes), s.layer
        assert c.fire_passes == math.ceil(max(s.pe_cols) / s.lanes), s.layer
        if layer.operand_block:
            assert c.operand_passes == math.ceil(max(c.operand_row_cols) / s.lanes), s.layer
        if layer.kind == "add_norm":
            continue
        # the ledger's adder energy is exactly those columns: rows summed x columns / (16 x 128 lanes)
        adds = c.spikes_flushed
        share = 0.0
        if layer.operand_block:
            f, counts = (
                _operand_frac(layer, plan.activity),
                plan.activity.inputs[layer.name].reshape(wl.time_steps, -1),
            )
            share = float((f * counts).sum()) / float(counts.sum())
        adds_o = round(adds * share)
        expect = ((adds - adds_o) * sum(c.row_cols) + adds_o * sum(c.operand_row_cols)) / (16 * 128)
        assert c.adder_lane_acts == pytest.approx(expect), s.layer
        # and the timing uses the passes: an input spine costs its writes or its flushes' lane passes
        buf = next(b for k, b in el.buffers.items() if k[0] == s.layer and k[2:] == (s.row_lo, s.row_hi))
        flush = np.zeros_like(buf.absorb_flush, dtype=float)
        flush[:, orders.in_order[s.layer]] = buf.absorb_flush  # absorption positions -> input spines
        passes = c.passes + (c.operand_passes - c.passes) * (
            _operand_frac(layer, plan.activity) if layer.operand_block else 0.0
        )
        matmul = (
            -(-plan.activity.inputs[layer.name].reshape(wl.time_steps, -1) // plan.config.pe.weight_ways)
        ) * (layer.kind == "matmul_ss")
        if not s.is_band:
            assert np.allclose(c.absorb, np.maximum(c.write, passes * flush) + matmul), s.layer
    expected = {
        "vgg16": {"conv", "linear"},
        "resnet18": {"conv", "linear"},
        "vit": {"linear", "matmul_ss", "add_norm"},
    }
    assert any(kinds >= e for e in expected.values())


def test_attention_heads_are_tiled_over_the_pes() -> None:
    """Q·Kᵀ: a Q or K spike's row is one head's 197 keys, split over the 4 PEs (50, 49, 49, 49 columns): 2
    passes with 25-42 lanes, not ⌈197/lanes⌉ on one PE while three idle. A·V: an attention spike's row is
    64 wide (16 per PE), a V spike's row one column per token (197: 50 per PE)."""
    plan = sim.prepare(load_config(str(ROOT / "scenarios" / "vit.toml"), ["run.time_steps=1"]))
    el = elaborate(plan)
    for s in plan.mapping.slices:
        c = el.costs[(s.layer, s.index)]
        if s.layer.endswith(".qk"):
            assert c.row_cols == [50, 49, 49, 49] and c.operand_row_cols == [50, 49, 49, 49]
        elif s.layer.endswith(".av"):
            assert c.row_cols == [16, 16, 16, 16] and c.operand_row_cols == [50, 49, 49, 49]
        else:
            continue
        assert c.passes == math.ceil(max(c.row_cols) / s.lanes)
        assert min(c.pe_share) > 0.5  # every PE computes: none idles while one does a head alone


def test_the_residual_unit_is_timed_and_charged_for_the_same_additions() -> None:
    r = sim.run(load_config(None, ['workload.model="resnet18"', "run.time_steps=2", "output.plots=false"]))
    busy = sum(row["residual_busy_cycles"] for row in r.core_rows)
    assert busy > 0
    ledger_ops = (
        r.summary["energy_breakdown_j"]["residual"]
        / EnergyModel(r.config).table[("accumulator", "residual_op")][0]
    )
    assert ledger_ops == pytest.approx(busy, rel=1e-9)
