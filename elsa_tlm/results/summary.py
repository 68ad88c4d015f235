"""summary.json's fields from what a run measured, whichever mode measured it.

A simulated run (``at``, ``lt``: :mod:`elsa_tlm.results.collect`, from the components' counters) and an analytic
one (:mod:`elsa_tlm.analytic`, from the closed form) both hand :func:`build_summary` a :class:`Measured`; the
energy ledger is filled by :func:`fill_ledger` from the same reports, so the two modes price the same counts
the same way and write the same keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from elsa_tlm.energy import EnergyModel, Ledger, report_noc
from elsa_tlm.hw.core import report_units


@dataclass
class Measured:
    """What one run measured: its timing, traffic and activity counts (every mode fills the same fields)."""

    latency: int  # cycles until the answer left the chip
    first_output: int | None
    step_done: list[int]
    counters: dict[str, int]  # the transport's: packets, flits, bits, flit_hops, route_ops, loopback_flits...
    link_rows: list[dict[str, Any]]
    residual_ops: int  # residual-unit accumulator ops
    core_rows: list[dict[str, Any]] = field(default_factory=list)
    softmax: dict[str, Any] = field(default_factory=dict)  # softmax_stall_cycles(_per_step), transformers
    events: int = 0  # kernel events processed (0: analytic)


def fill_ledger(energy: EnergyModel, plan: Any, el: Any, m: Measured) -> tuple[Ledger, int, dict[str, Any]]:
    """The energy ledger of a run from the elaboration and what the mode measured (the entries and order a
    simulated run's components report, :func:`elsa_tlm.results.collect.energy_ledger`), then refresh and
    leakage over the latency. Returns the ledger, the eDRAM row refreshes and the occupied macros."""
    from elsa_tlm.results.collect import report_work

    cfg, mapping = plan.config, plan.mapping
    latency_s = m.latency / (cfg.chip.clock_mhz * 1e6)
    work = el.memo.get("work_counts")
    if work is None:  # the elaboration's counts: the same for every design point that shares it
        done = Ledger()
        report_work(done, el.costs, el.pes)
        units = _Adds()
        _router_units(units, plan, el)
        work = el.memo["work_counts"] = (done.counts, units.adds)
    ledger = Ledger()
    ledger.counts = dict(work[0])  # report_work's entries, in their order
    ledger.add("accumulator", "residual_op", m.residual_ops)
    for add in work[1]:  # the router's units, as _router_units adds them
        ledger.add(*add)
    ledger.add("flit_generator", "packet", int(m.counters["packets"]))
    ledger.add("flit_decoder", "flit", int(m.counters["flits"]))
    report_noc(ledger, m.counters, el.fmt.route_lookups_per_router)
    occupied = energy.area.occupied(mapping.slices)
    refreshed = energy.report_refresh(ledger, occupied, latency_s)
    energy.report_leakage(ledger, mapping.cores_used, latency_s)
    return ledger, refreshed, occupied


class _Adds:
    """An energy-ledger sink that keeps its adds in order (to replay them into another ledger)."""

    def __init__(self) -> None:
        self.adds: list[tuple[str, str, float, str]] = []

    def add(self, component: str, action: str, n: float, owner: str = "") -> None:
        self.adds.append((component, action, n, owner))


def _router_units(ledger: Any, plan: Any, el: Any) -> None:
    """The router's units per layer slice in closed form, for a mode without a simulation: every slice absorbs
    all of its layer's input spines, which is what a simulated slice counts by the end of its run
    (:meth:`elsa_tlm.hw.core.LayerSlice.report`; tests/test_energy_counts.py)."""
    T = plan.workload.time_steps
    for layer in plan.workload.layers:
        spikes = int(plan.activity.inputs[layer.name].sum())
        events = int(el.events[layer.name].sum()) if layer.index == 0 else 0
        n = T * layer.n_in
        for s in plan.mapping.by_layer[layer.name]:
            active = [c for c in s.pe_cols if c > 0]
            report_units(
                ledger, layer.name, spikes, n, n * len(active), events * sum(-(-c // 16) for c in active)
            )


def build_summary(plan: Any, el: Any, m: Measured, wall_s: float) -> tuple[dict[str, Any], dict[str, float]]:
    """summary.json's fields (:func:`elsa_tlm.results.collect.summary_fields`, as a simulated run's) and each
    layer's energy (joules by layer name)."""
    from elsa_tlm.results.collect import noc_totals, summary_fields

    energy = EnergyModel(plan.config)
    ledger, refreshed, occupied = fill_ledger(energy, plan, el, m)
    summary = summary_fields(
        plan,
        energy,
        ledger,
        occupied,
        refreshed,
        (m.step_done, m.first_output, m.latency),
        el.costs.values(),
        el.fires,
        el.events,
        m.core_rows,
        m.softmax,
        noc_totals(plan.config, m.counters, m.link_rows, el.payload_bits, m.latency),
        (m.events, wall_s),
    )
    return summary, energy.layer_energy(ledger)
