"""Area model: per-core breakdown, router units, technologies, and the reconciliation with Table III."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from elsa_tlm.config import load_config
from elsa_tlm.energy import EnergyModel
from elsa_tlm.energy.area import LAYERNORM_UNIT_MM2, PE_LINES, ROUTER_LINES, SOFTMAX_UNIT_MM2, AreaModel
from elsa_tlm.energy.tables import load_tech


def _area(*sets: str, **kw: str) -> AreaModel:
    return AreaModel(load_config(None, list(sets)), **kw)


def test_breakdown_sums_to_core_and_chip():
    a = _area()
    b = a.core_breakdown_mm2()
    assert set(b) == set(PE_LINES) | set(ROUTER_LINES) and all(v > 0 for v in b.values())
    assert sum(b.values()) == pytest.approx(a.core_mm2())
    assert a.pe_mm2() + a.router_mm2() == pytest.approx(a.core_mm2())
    assert a.chip_mm2(36) == pytest.approx(36 * a.core_mm2())


def test_lines_follow_the_macro_counts():
    """4 PEs × 200 weight / 150 membrane / 200 tracer macros × the characterised macro areas."""
    b = _area().core_breakdown_mm2()
    sram = load_tech()["sram"]
    assert b["weight_memory"] == pytest.approx(4 * 200 * sram["weight"]["area_um2"] * 1e-6)
    assert b["membrane_memory"] == pytest.approx(4 * 150 * sram["membrane"]["area_um2"] * 1e-6)
    assert b["tracer_memory"] == pytest.approx(4 * 200 * sram["tracer"]["area_um2"] * 1e-6)
    assert b["input_buffer"] == pytest.approx(4 * 32 * sram["input_queue"]["area_um2"] * 1e-6)
    assert b["fifos"] == pytest.approx(4 * sram["weight"]["area_um2"] * 1e-6)  # 4 × 512 B, one macro each
    assert b["update_arbiters"] == pytest.approx(4 * load_tech()["logic"]["update_arbiter"]["area_mm2"])


def test_softmax_and_layernorm_in_every_router():
    a = _area()
    b = a.core_breakdown_mm2()
    assert (b["softmax"], b["layernorm"]) == (SOFTMAX_UNIT_MM2, LAYERNORM_UNIT_MM2)
    share = 36 * (b["softmax"] + b["layernorm"]) / load_tech()["reported"]["chip"]["area_mm2"]
    assert share == pytest.approx(0.067, abs=0.001)  # ELSA_BRIEF §3: 6.7 % of the chip's area


def test_edram_shrinks_area():
    s, e = _area(), _area('memory.technology="edram"')
    bs, be = s.core_breakdown_mm2(), e.core_breakdown_mm2()
    for k in ("weight_memory", "membrane_memory", "tracer_memory", "input_buffer", "fifos"):
        assert be[k] < bs[k]
    for k in ("adder_trees", "fire", "crossbar", "softmax", "layernorm"):
        assert be[k] == bs[k]
    assert e.core_mm2() < s.core_mm2()


def test_logic_scales_with_lanes_and_ways():
    b = _area().core_breakdown_mm2()
    half = _area("pe.neuron_circuits=64", "pe.weight_ways=8").core_breakdown_mm2()
    assert half["fire"] == pytest.approx(b["fire"] / 2)
    assert half["adder_trees"] == pytest.approx(b["adder_trees"] / 4)


def test_reconciliation_covers_every_reported_area_key():
    rows = _area().reconciliation()
    reported = {k for k in load_tech()["reported"]["core"] if k.endswith("_mm2")}
    assert reported <= {r["reported_key"] for r in rows}
    for r in rows:
        assert r["note"] and r["model_mm2"] > 0
        if r["reported_mm2"] is not None:
            assert r["difference_mm2"] == pytest.approx(r["model_mm2"] - r["reported_mm2"])
    json.dumps(rows)  # ready for summary.json


def test_reconciliation_numbers():
    """Weight and tracer memories match Table III; the membrane figure is the capacity in 4-bit macros; the
    PE subtotal differs by exactly that tiling plus the input buffer, up to the table's rounding."""
    by = {r["line"]: r for r in _area().reconciliation(36)}
    assert abs(by["weight memory"]["difference_mm2"]) < 0.001
    assert abs(by["tracer memory"]["difference_mm2"]) < 0.001
    narrow = _area(membrane_macro="narrow")
    assert narrow.core_breakdown_mm2()["membrane_memory"] == pytest.approx(1.460, abs=0.001)
    tiling = _area().core_breakdown_mm2()["membrane_memory"] - narrow.core_breakdown_mm2()["membrane_memory"]
    residue = by["PE subtotal"]["difference_mm2"] - tiling - by["input buffer"]["model_mm2"]
    assert abs(residue) < 0.005  # 2.59 is given to two decimals
    assert abs(by["router subtotal"]["difference_mm2"]) < 0.01
    assert by["chip"]["reported_mm2"] == 100.23 and by["chip"]["model_mm2"] == pytest.approx(
        36 * by["core"]["model_mm2"]
    )


def test_energy_model_uses_area_model():
    cfg = load_config(None, [])
    em = EnergyModel(cfg)
    assert isinstance(em.area, AreaModel) and em.area.core_mm2() == pytest.approx(AreaModel(cfg).core_mm2())


def test_occupied_counts_filled_macros():
    a = _area()
    assert a.occupied([]) == {"weight_macros": 0, "membrane_macros": 0, "tracer_macros": 0, "area_mm2": 0.0}
    sl = SimpleNamespace(pe_cols=[3, 3, 2, 0], weight_macros=5, membrane_macros=2, tracer_macros=2)
    occ = a.occupied([sl])
    assert (occ["weight_macros"], occ["membrane_macros"], occ["tracer_macros"]) == (15, 6, 6)
    sram = load_tech()["sram"]
    um2 = 15 * sram["weight"]["area_um2"] + 6 * sram["membrane"]["area_um2"] + 6 * sram["tracer"]["area_um2"]
    assert occ["area_mm2"] == pytest.approx(um2 * 1e-6) and occ["area_mm2"] < a.core_mm2()
    with pytest.raises(ValueError):
        _area(membrane_macro="huge")


def test_docs_tables_are_current():
    """docs/model/area.md shows the tables `python -m elsa_tlm.area` prints."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "model" / "area.md").read_text()
    cfg = load_config(None, [])
    assert AreaModel(cfg).breakdown_markdown() in doc
    assert AreaModel(cfg).reconciliation_markdown(36) in doc
    assert AreaModel(cfg, membrane_macro="narrow").reconciliation_markdown(36) in doc
