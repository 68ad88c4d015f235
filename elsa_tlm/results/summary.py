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
from elsa_tlm.results.writers import peak_rss_mb
from elsa_tlm.workload.activity import sop_counts


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
    mode: str = "at"


def fill_ledger(energy: EnergyModel, plan: Any, el: Any, m: Measured) -> tuple[Ledger, int, dict[str, Any]]:
    """The energy ledger of a run from the elaboration and what the mode measured (the entries and order a
    simulated run's components report, :func:`elsa_tlm.results.collect.energy_ledger`), then refresh and
    leakage over the latency. Returns the ledger, the eDRAM row refreshes and the occupied macros."""
    cfg, mapping = plan.config, plan.mapping
    latency_s = m.latency / (cfg.chip.clock_mhz * 1e6)
    ledger = Ledger()
    for (layer, _), c in el.costs.items():
        c.report(ledger, layer)
    for node in sorted(el.pes):
        for pe in el.pes[node]:
            pe.report(ledger)
    ledger.add("accumulator", "residual_op", m.residual_ops)
    _router_units(ledger, plan, el)
    ledger.add("flit_generator", "packet", int(m.counters["packets"]))
    ledger.add("flit_decoder", "flit", int(m.counters["flits"]))
    report_noc(ledger, m.counters, el.fmt.route_lookups_per_router)
    occupied = energy.area.occupied(mapping.slices)
    refreshed = energy.report_refresh(ledger, occupied, latency_s)
    energy.report_leakage(ledger, mapping.cores_used, latency_s)
    return ledger, refreshed, occupied


def _router_units(ledger: Ledger, plan: Any, el: Any) -> None:
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
    """summary.json's fields and each layer's energy (joules by layer name)."""
    cfg, wl, act, topo, mapping = plan.config, plan.workload, plan.activity, plan.topology, plan.mapping
    T = wl.time_steps
    energy = EnergyModel(cfg)
    ledger, refreshed, occupied = fill_ledger(energy, plan, el, m)
    latency = m.latency
    latency_s = latency / (cfg.chip.clock_mhz * 1e6)
    breakdown = energy.breakdown(ledger, wl.is_transformer)
    dram = energy.dram_energy(wl)
    energy_j = float(sum(breakdown.values()))  # on chip
    synaptic_events, sops = sop_counts(wl, el.events, act)  # the published #SOPs convention (MODEL.md §5)
    ops = wl.dense_ops
    counters, link_rows, core_rows = m.counters, m.link_rows, m.core_rows
    nl = max(1, len(link_rows))
    costs = el.costs.values()
    flushes = sum(c.flushes for c in costs)
    flushed = sum(c.spikes_flushed for c in costs)
    area = energy.area.chip_mm2(topo.n_nodes)
    summary: dict[str, Any] = {
        "model": wl.model,
        "dataset": wl.dataset,
        "time_steps": T,
        "schedule": cfg.schedule.policy,
        "product": cfg.pe.product,
        "protocol": cfg.noc.protocol,
        "flit_bits": cfg.noc.flit_bits,
        "topology": topo.spec,
        "routing": cfg.noc.routing,
        "memory": cfg.memory.technology,
        "clock_mhz": cfg.chip.clock_mhz,
        "seed": cfg.run.seed,
        "activity": act.source,
        "latency_cycles": latency,
        "latency_ms": latency_s * 1e3,
        "step_done_cycles": m.step_done,
        "first_output_cycle": m.first_output,
        "energy_j": energy_j,
        "energy_scope": "chip: dynamic + leakage (+ eDRAM refresh); DRAM apart (dram_energy_j)",
        "energy_breakdown_j": breakdown,
        "dram_energy_j": dram,
        "system_energy_j": energy_j + dram,
        "system_energy_breakdown_j": {**breakdown, "dram": dram},
        "ops": ops,
        "synaptic_events": synaptic_events,
        "sops": sops,
        "gops": ops / latency_s / 1e9 if latency_s > 0 else None,
        "tops_per_w": ops / energy_j / 1e12 if energy_j > 0 else None,
        "pj_per_sop": energy_j * 1e12 / sops if sops else None,
        "edram_row_refreshes": refreshed,
        "area_mm2": area,
        # the comparison tables' area efficiency: throughput per mm² of the simulated chip
        "gops_per_mm2": ops / latency_s / 1e9 / area if latency_s > 0 else None,
        "area_core_mm2": energy.area.core_mm2(),
        "area_breakdown_mm2": energy.area.core_breakdown_mm2(),
        "area_reconciliation": energy.area.reconciliation(topo.n_nodes),
        "macros_occupied": occupied,
        "cores_used": mapping.cores_used,
        "cores_total": topo.n_nodes,
        "pe": {
            "flushes": flushes,
            "mean_spikes_per_flush": flushed / flushes if flushes else None,
            **m.softmax,
            "evictions": sum(c.evictions for c in costs),
            "fired_rows": int(sum(int(f.sum()) for f in el.fires.values())),
            "row_steps": int(sum(f.size for f in el.fires.values())),
            "busy_cycles": sum(r["busy_cycles"] for r in core_rows),
            "stalled_on_output_cycles": sum(r["stalled_on_output_cycles"] for r in core_rows),
            "starved_on_input_cycles": sum(r["starved_on_input_cycles"] for r in core_rows),
            "residual_busy_cycles": sum(r["residual_busy_cycles"] for r in core_rows),
        },
        "mean_spikes_per_flush": flushed / flushes if flushes else None,
        **m.softmax,
        "noc": {
            # the model that timed the trains: noc.router's routers (at), the zero-load closed form (lt), or
            # the zero-load closed form with the ports' and links' queueing (analytic)
            "router": {"at": cfg.noc.router, "lt": "zero_load", "analytic": "closed_form"}[m.mode],
            "protocol": cfg.noc.protocol,
            "packets": int(counters["packets"]),  # BAER: one per spine and destination; AER: one per spike
            "flits": int(counters["flits"]),
            "injected_bits": int(counters["bits"]),  # flits × flit_bits entering the network
            "payload_bits": el.payload_bits,  # of those, headers, spikes and CRCs (no padding)
            "link_bits": int(sum(r["bits"] for r in link_rows)),  # Σ over links traversed
            "flit_hops": int(counters["flit_hops"]),
            "loopback_flits": int(counters["loopback_flits"]),
            "max_link_flits": int(max((r["flits"] for r in link_rows), default=0)),
            "mean_link_utilisation": float(sum(r["busy_cycles"] for r in link_rows) / nl / max(latency, 1)),
            "traffic_mb": counters["bits"] / 8e6,  # injected
            "link_traffic_mb": sum(r["bits"] for r in link_rows) / 8e6,
        },
        "elastic": None,
        # keys set away from their default that this configuration never reads (a what-if that did nothing)
        "warnings": plan.warnings,
        "sim": {
            "wall_s": round(wall_s, 3),
            "events": m.events,
            "peak_rss_mb": peak_rss_mb(),
            "mode": m.mode,
        },
    }
    return summary, energy.layer_energy(ledger)
