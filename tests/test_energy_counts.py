"""Energy counted where it happens: the router's units, the flit generators and decoders and the residual units
count their actions while the chip runs and report them into the ledger themselves; the energy model derives
nothing from the activity.

The oracle is the closed form the energy model used to re-derive after a run (per consumer slice: im2col per
input spike, the order controller per input spine per step, the update arbiters per input spine per step per
active PE, the first layer's accumulator per expanded event per 16-column block / 16; the flit generators per
packet and the decoders per flit the transport carried): the components' own counts must come to exactly it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from elsa_tlm.config import load_config
from elsa_tlm.energy import Ledger
from elsa_tlm.results.collect import energy_ledger
from elsa_tlm.sim import prepare, simulate

ROOT = Path(__file__).resolve().parents[1]
CASES = {
    "vgg16": (None, ['workload.model="vgg16_cifar10"', "run.time_steps=2"]),
    # residual joins (skip trains completing positions), layers split over cores
    "resnet18": (None, ['workload.model="resnet18"', "run.time_steps=2"]),
    # row bands of the first layer, the loosely timed transport
    "resnet18_bands_lt": (
        None,
        ['workload.model="resnet18"', "run.time_steps=2", 'mapping.split="auto"', 'run.mode="lt"'],
    ),
    # spike x spike products (operands), add_norm, the token-wise pipeline
    "vit": (str(ROOT / "scenarios" / "vit.toml"), ["run.time_steps=1"]),
    # functional spikes, the time-shared what-if
    "digits": (
        str(ROOT / "scenarios" / "digits.toml"),
        ["workload.samples=1", 'pe.layer_groups="time_shared"'],
    ),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def run(request):
    scenario, sets = CASES[request.param]
    plan = prepare(load_config(scenario, [*sets, "output.plots=false"]))
    chip, _ = simulate(plan)
    return plan, chip


def closed_form(plan, chip) -> Ledger:
    """The scheduling and packetisation entries as the energy model derived them from the activity (the
    code this test replaced), in its order."""
    wl, act, mapping = plan.workload, plan.activity, plan.mapping
    counters = chip.transport.counters()
    old = Ledger()
    for layer in wl.layers:
        slices = mapping.by_layer[layer.name]
        n = len(slices)
        spines = act.time_steps * layer.n_in
        active_pes = sum(sum(1 for c in s.pe_cols if c > 0) for s in slices)
        old.add("im2col", "spike", int(act.inputs[layer.name].sum()) * n, layer.name)
        old.add("order_controller", "spine", spines * n, layer.name)
        old.add("update_arbiter", "spine", spines * active_pes, layer.name)
        if layer.index == 0:
            blocks = sum(-(-c // 16) for s in slices for c in s.pe_cols if c > 0)
            old.add(
                "accumulator", "first_layer_op", int(chip.events[layer.name].sum()) * blocks / 16, layer.name
            )
    old.add("flit_generator", "packet", int(counters["packets"]))
    old.add("flit_decoder", "flit", int(counters["flits"]))
    return old


SCHEDULING = {"im2col", "order_controller", "update_arbiter", "flit_generator", "flit_decoder"}


def _entries(ledger: Ledger) -> list[tuple[tuple[str, str, str], float]]:
    """The ledger's scheduling and packetisation entries, in order (the first-layer accumulate included)."""
    return [
        (k, n)
        for k, n in ledger.counts.items()
        if k[0] in SCHEDULING or k[:2] == ("accumulator", "first_layer_op")
    ]


def test_components_count_what_the_closed_form_says(run) -> None:
    """Each slice counted every input spine of every step once; the sums are the old closed form's, entry for
    entry and in the same order (so the breakdown sums the same floats in the same order)."""
    plan, chip = run
    for s in chip.slices.values():
        assert s.ordered_spines == s.T * s.n_in, s.name  # every input position of every step, once
        assert s.im2col_spikes == int(plan.activity.inputs[s.layer].sum()), s.name
    got = _entries(energy_ledger(chip, chip.transport.counters()))
    assert got == list(closed_form(plan, chip).counts.items())


def test_the_interfaces_count_what_the_transport_carried(run) -> None:
    plan, chip = run
    counters = chip.transport.counters()
    assert sum(s.flitgen.packets_out for s in chip.slices.values()) == counters["packets"] > 0
    assert sum(ni.flits_in for ni in chip.nis.values()) == counters["flits"]


def test_residual_units_report_their_additions(run) -> None:
    _, chip = run
    units = [c.residual for c in chip.cores.values() if c.residual is not None]
    ledger = Ledger()
    for u in units:
        u.report(ledger)
    assert ledger.count("accumulator", "residual_op") == sum(u.ops for u in units)


def test_the_energy_model_reads_no_activity() -> None:
    """energy/model.py prices and views; it takes no activity, events or mapping to count from."""
    src = (ROOT / "elsa_tlm" / "energy" / "model.py").read_text()
    names = {n.id for n in ast.walk(ast.parse(src)) if isinstance(n, ast.Name)}
    names |= {n.arg for n in ast.walk(ast.parse(src)) if isinstance(n, ast.arg)}
    attrs = {n.attr for n in ast.walk(ast.parse(src)) if isinstance(n, ast.Attribute)}
    assert not {"act", "activity", "events", "mapping"} & names
    assert not {"inputs", "emitted", "activity", "by_layer", "pe_cols"} & attrs
    assert "report_scheduling" not in src and "report_packetisation" not in src


def test_one_store_of_sram_accesses() -> None:
    """A slice's costs hold its datapath counts only; its SRAM accesses are the PEs' macros' (one store)."""
    from dataclasses import fields

    from elsa_tlm.hw.pe import SliceCosts

    names = {f.name for f in fields(SliceCosts)}
    assert not {"actions", "weight_row_reads", "membrane_row_reads", "tracer_reads"} & names
