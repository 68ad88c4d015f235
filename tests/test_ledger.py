"""The energy ledger on its own: counts priced by one table; the breakdown and per-layer energy are views of
the same entries; leakage and area come from one block list."""

from __future__ import annotations

import pytest

from elsa_tlm import sim
from elsa_tlm.config import load_config
from elsa_tlm.energy import EnergyModel, Ledger
from elsa_tlm.energy.estimators import BLOCKS, PE_LINES, ROUTER_LINES
from elsa_tlm.energy.tables import CATEGORIES, PE_CATEGORIES


def test_counts_are_priced_by_the_table_and_views_agree() -> None:
    em = EnergyModel(load_config())
    led = Ledger()
    led.add("weight", "read", 10, "conv1")
    led.add("weight", "read", 5, "conv2")
    led.add("fire", "activation", 3, "conv1")
    led.add("router", "flit_hop", 7)
    led.add("weight", "read", 0, "conv3")  # nothing done: no entry
    assert led.count("weight", "read") == 15 and led.count("weight", "read", "conv1") == 10
    assert ("weight", "read", "conv3") not in led.counts
    b = em.breakdown(led, transformer=False)
    assert list(b) == list(CATEGORIES)
    assert b["weight_sram"] == pytest.approx(15 * 0.256e-12)
    assert b["noc_hops"] == pytest.approx(7 * 12.99e-12)
    per = em.layer_energy(led)
    assert set(per) == {"conv1", "conv2"}  # the NoC hop has no layer
    assert per["conv1"] + per["conv2"] == pytest.approx(b["weight_sram"] + b["fire"])


def test_an_action_outside_the_breakdown_is_refused() -> None:
    em = EnergyModel(load_config())
    led = Ledger()
    led.add("softmax", "activation", 1, "qk")
    with pytest.raises(KeyError, match="softmax"):
        em.breakdown(led, transformer=False)  # a CNN breakdown has no softmax line: energy would go missing
    with pytest.raises(KeyError, match="no energy"):
        led.add("warp_drive", "engage", 1)
        em.breakdown(led, transformer=True)


def test_layer_energies_are_the_ledger_view_of_the_breakdown() -> None:
    r = sim.run(
        load_config(None, ['workload.model="vgg16_cifar10"', "run.time_steps=2", "output.plots=false"])
    )
    b = r.summary["energy_breakdown_j"]
    assert sum(float(row["energy_j"]) for row in r.layer_rows) == pytest.approx(
        sum(b[k] for k in PE_CATEGORIES)
    )
    assert r.summary["energy_j"] == pytest.approx(sum(b.values()))


def test_leakage_and_area_read_one_block_list() -> None:
    cfg = load_config()
    em = EnergyModel(cfg)
    assert set(em.area.core_breakdown_mm2()) == {b.line for b in BLOCKS} == set(PE_LINES) | set(ROUTER_LINES)
    # a wider PE has more adder-tree and fire blocks: more area and more leakage, in the same proportion
    wide = EnergyModel(load_config(None, ["pe.neuron_circuits=256"]))
    lg = em.logic
    extra_w = 4 * (lg["adder_tree"]["leakage_uw"] + lg["fire"]["leakage_uw"]) * 1e-6
    assert wide.core_leakage_w() - em.core_leakage_w() == pytest.approx(extra_w)
    extra_mm2 = 4 * (lg["adder_tree"]["area_mm2"] + lg["fire"]["area_mm2"])
    assert wide.area.core_mm2() - em.area.core_mm2() == pytest.approx(extra_mm2)
