"""Collect a finished run into plain data: the summary, the CSV rows, the timeline and trace material.

Reads the components' own counters (cores, PEs, network interfaces, the transport) and the energy model;
draws nothing (figures live in :mod:`elsa_tlm.figures`). :func:`collect` assembles what small builders
make, one per part of the result: the answer's timing, the energy ledger the components report into, the
summary's sections (configuration, energy, throughput, area, PEs, NoC totals), the per-layer and per-core
rows, the timeline and trace.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from elsa_tlm.chip import answer
from elsa_tlm.energy import EnergyModel, Ledger, report_noc
from elsa_tlm.results.result import Result
from elsa_tlm.results.writers import peak_rss_mb
from elsa_tlm.workload.activity import sop_counts

if TYPE_CHECKING:
    from elsa_tlm.chip import Chip
    from elsa_tlm.config import Config
    from elsa_tlm.hw.core import SliceStats
    from elsa_tlm.hw.pe import SliceCosts
    from elsa_tlm.plan import Plan


def collect(plan: Plan, chip: Chip, n_events: int, wall_s: float) -> Result:
    """The summary, CSV rows, timeline and trace of a finished run."""
    cfg, wl, mapping = plan.config, plan.workload, plan.mapping
    T = wl.time_steps
    step_done, first_output, latency = timing(plan, chip)
    latency_s = latency / (cfg.chip.clock_mhz * 1e6)
    counters = chip.transport.counters()
    link_rows = chip.transport.link_rows()
    core_rows = _core_rows(chip)
    energy = EnergyModel(cfg)
    occupied = energy.area.occupied(mapping.slices)
    ledger = energy_ledger(chip, counters)
    refreshed_rows = energy.report_refresh(ledger, occupied, latency_s)
    energy.report_leakage(ledger, mapping.cores_used, latency_s)
    softmax = _softmax_stall(chip, T)
    summary = summary_fields(
        plan,
        energy,
        ledger,
        occupied,
        refreshed_rows,
        (step_done, first_output, latency),
        chip.costs.values(),
        chip.fires,
        chip.events,
        core_rows,
        softmax,
        noc_totals(cfg, counters, link_rows, chip.payload_bits, latency),
        (n_events, wall_s),
    )
    timeline, trace = _timeline_and_trace(chip, cfg.output.trace)
    return Result(
        cfg,
        wl,
        mapping,
        plan.activity,
        summary,
        layer_rows(
            plan,
            {k: sl.stats for k, sl in chip.slices.items()},
            chip.costs,
            chip.events,
            chip.fires,
            energy.layer_energy(ledger),
        ),
        link_rows,
        timeline,
        trace,
        getattr(chip.transport, "transfers", []),
        getattr(chip.transport, "fifo_samples", []),
        core_rows,
        softmax_stalls(chip),
    )


def summary_fields(
    plan: Plan,
    energy: EnergyModel,
    ledger: Ledger,
    occupied: dict[str, Any],
    refreshed_rows: int,
    answer_at: tuple[list[int], int | None, int],
    costs: Collection[SliceCosts],
    fires: dict[str, np.ndarray],
    events: dict[str, np.ndarray],
    core_rows: list[dict[str, Any]],
    softmax: dict[str, Any],
    noc: dict[str, Any],
    run: tuple[int, float],
) -> dict[str, Any]:
    """summary.json from a run's parts, whichever mode measured them (a simulated run here, the analytic mode
    in :mod:`elsa_tlm.results.summary`): ``answer_at`` (step done cycles, first output, latency), the filled
    ledger, the elaboration's costs, fires and events, the cores' rows, the NoC totals, (events, wall s)."""
    cfg, wl = plan.config, plan.workload
    step_done, first_output, latency = answer_at
    latency_s = latency / (cfg.chip.clock_mhz * 1e6)
    breakdown = energy.breakdown(ledger, wl.is_transformer)
    synaptic_events, sops = sop_counts(wl, events, plan.activity)  # the published #SOPs (MODEL.md §5)
    energy_part = energy_fields(breakdown, energy.dram_energy(wl))
    n_events, wall_s = run
    return {
        **config_fields(plan),
        "latency_cycles": latency,
        "latency_ms": latency_s * 1e3,
        "step_done_cycles": step_done,
        "first_output_cycle": first_output,
        **energy_part,
        **throughput_fields(wl.dense_ops, synaptic_events, sops, latency_s, energy_part["energy_j"]),
        "edram_row_refreshes": refreshed_rows,
        **area_fields(energy, plan, wl.dense_ops, latency_s, occupied),
        "pe": pe_fields(costs, fires, core_rows, softmax),
        **flush_fields(costs),
        **softmax,
        "noc": noc,
        "elastic": None,
        # keys set away from their default that this configuration never reads (a what-if that did nothing)
        "warnings": plan.warnings,
        "sim": {
            "wall_s": round(wall_s, 3),
            "events": n_events,
            "peak_rss_mb": peak_rss_mb(),
            "mode": cfg.run.mode,
        },
    }


def timing(plan: Plan, chip: Chip) -> tuple[list[int], int | None, int]:
    """When the answer left the chip: each step's done cycle, the first output's cycle and the latency."""
    out_layer = plan.workload.output_layer
    out_slices = [chip.slices[(out_layer.name, s.index)] for s in plan.mapping.by_layer[out_layer.name]]
    # a step is done when its last output spine has left the chip (gated policies send it late)
    step_done, first_output, answered = answer(out_slices, plan.workload.time_steps)
    return step_done, first_output, chip.kernel.now() if answered is None else answered


def report_work(ledger: Ledger, costs: Mapping[tuple[str, int], Any], pes: Mapping[int, list[Any]]) -> None:
    """The ledger's first entries, in every mode: each slice's datapath (its elaborated costs, by layer), then
    each PE's macros, core by core."""
    for (layer, _), c in costs.items():
        c.report(ledger, layer)
    for node in sorted(pes):
        for pe in pes[node]:
            pe.report(ledger)


def energy_ledger(chip: Chip, counters: dict[str, int]) -> Ledger:
    """The ledger every component reports its counted actions into."""
    # the order the entries have always been reported in (a category's joules are summed in it): the slices'
    # datapath, the PEs' macros, the residual units, the router's units per slice in layer order, the flit
    # generators, the flit decoders, the network's counters
    ledger = Ledger()
    report_work(ledger, chip.costs, chip.pes)
    for core in chip.cores.values():
        if core.residual is not None:
            core.residual.report(ledger)
    for s in chip.slices.values():  # in layer order: im2col, order controller, update arbiters, accumulator
        s.report(ledger)
    for s in chip.slices.values():
        s.flitgen.report(ledger)
    for ni in chip.nis.values():
        ni.report(ledger)
    report_noc(ledger, counters, chip.fmt.route_lookups_per_router)
    return ledger


def config_fields(plan: Plan) -> dict[str, Any]:
    """What was run: the network, the chip's choices and the activity's source."""
    cfg, wl = plan.config, plan.workload
    return {
        "model": wl.model,
        "dataset": wl.dataset,
        "time_steps": wl.time_steps,
        "schedule": cfg.schedule.policy,
        "product": cfg.pe.product,
        "protocol": cfg.noc.protocol,
        "flit_bits": cfg.noc.flit_bits,
        "topology": plan.topology.spec,
        "routing": cfg.noc.routing,
        "memory": cfg.memory.technology,
        "clock_mhz": cfg.chip.clock_mhz,
        "seed": cfg.run.seed,
        "activity": plan.activity.source,
    }


def energy_fields(breakdown: dict[str, float], dram: float) -> dict[str, Any]:
    """The chip's energy (the breakdown's sum), its breakdown, and the system's with the DRAM load."""
    energy_j = float(sum(breakdown.values()))  # on chip
    return {
        "energy_j": energy_j,
        "energy_scope": "chip: dynamic + leakage (+ eDRAM refresh); DRAM apart (dram_energy_j)",
        "energy_breakdown_j": breakdown,
        "dram_energy_j": dram,
        "system_energy_j": energy_j + dram,
        "system_energy_breakdown_j": {**breakdown, "dram": dram},
    }


def throughput_fields(
    ops: int, synaptic_events: int, sops: int, latency_s: float, energy_j: float
) -> dict[str, Any]:
    """Work done (dense ops, synaptic events, SOPs) and its rate per second and per joule."""
    return {
        "ops": ops,
        "synaptic_events": synaptic_events,
        "sops": sops,
        "gops": ops / latency_s / 1e9 if latency_s > 0 else None,
        "tops_per_w": ops / energy_j / 1e12 if energy_j > 0 else None,
        "pj_per_sop": energy_j * 1e12 / sops if sops else None,
    }


def area_fields(
    energy: EnergyModel, plan: Plan, ops: int, latency_s: float, occupied: dict[str, Any]
) -> dict[str, Any]:
    """The chip's and a core's area, reconciled with the paper; the macros and cores the mapping uses."""
    area, n = energy.area, plan.topology.n_nodes
    return {
        "area_mm2": area.chip_mm2(n),
        # the comparison tables' area efficiency: throughput per mm² of the simulated chip
        "gops_per_mm2": ops / latency_s / 1e9 / area.chip_mm2(n) if latency_s > 0 else None,
        "area_core_mm2": area.core_mm2(),
        "area_breakdown_mm2": area.core_breakdown_mm2(),
        "area_reconciliation": area.reconciliation(n),
        "macros_occupied": occupied,
        "cores_used": plan.mapping.cores_used,
        "cores_total": n,
    }


def flush_fields(costs: Iterable[SliceCosts]) -> dict[str, Any]:
    """The input buffers' mean spikes per flush over every slice."""
    flushes = flushed = 0
    for c in costs:
        flushes += c.flushes
        flushed += c.spikes_flushed
    return {"mean_spikes_per_flush": flushed / flushes if flushes else None}


def pe_fields(
    costs: Collection[SliceCosts],
    fires: dict[str, np.ndarray],
    core_rows: list[dict[str, Any]],
    softmax: dict[str, Any],
) -> dict[str, Any]:
    """The PEs' totals: flushes, evictions, rows fired, and the cores' busy, stalled and starved cycles."""
    return {
        "flushes": sum(c.flushes for c in costs),
        **flush_fields(costs),
        **softmax,
        "evictions": sum(c.evictions for c in costs),
        "fired_rows": int(sum(int(f.sum()) for f in fires.values())),
        "row_steps": int(sum(f.size for f in fires.values())),
        "busy_cycles": sum(r["busy_cycles"] for r in core_rows),
        "stalled_on_output_cycles": sum(r["stalled_on_output_cycles"] for r in core_rows),
        "starved_on_input_cycles": sum(r["starved_on_input_cycles"] for r in core_rows),
        "residual_busy_cycles": sum(r["residual_busy_cycles"] for r in core_rows),
    }


def noc_totals(
    cfg: Config, counters: dict[str, int], link_rows: list[dict[str, Any]], payload_bits: int, latency: int
) -> dict[str, Any]:
    """The network's totals: packets, flits and bits injected, over links and staying on their core."""
    nl = max(1, len(link_rows))
    return {
        # the model that timed the trains: noc.router's routers (at), the zero-load closed form (lt), or that
        # with each port's and link's queueing (analytic)
        "router": {"at": cfg.noc.router, "lt": "zero_load"}.get(cfg.run.mode, "closed_form"),
        "protocol": cfg.noc.protocol,
        "packets": int(counters["packets"]),  # BAER: one per spine and destination; AER: one per spike
        "flits": int(counters["flits"]),
        "injected_bits": int(counters["bits"]),  # flits × flit_bits entering the network
        "payload_bits": payload_bits,  # of those, headers, spikes and CRCs (no padding)
        "link_bits": int(sum(r["bits"] for r in link_rows)),  # Σ over links traversed
        "flit_hops": int(counters["flit_hops"]),
        "loopback_flits": int(counters["loopback_flits"]),
        "max_link_flits": int(max((r["flits"] for r in link_rows), default=0)),
        "mean_link_utilisation": float(sum(r["busy_cycles"] for r in link_rows) / nl / max(latency, 1)),
        "traffic_mb": counters["bits"] / 8e6,  # injected
        "link_traffic_mb": sum(r["bits"] for r in link_rows) / 8e6,
    }


def layer_rows(
    plan: Plan,
    stats: Mapping[tuple[str, int], SliceStats],
    costs: Mapping[tuple[str, int], SliceCosts],
    events: dict[str, np.ndarray],
    fires: dict[str, np.ndarray],
    layer_energy: dict[str, float],
    activity: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Per layer: spikes in and out, packets, PE time, flushes and its own energy (layers.csv), from each
    slice's statistics (a simulated slice's own, or the analytic mode's) and the elaboration (``activity``:
    :func:`layer_activity`'s columns when the caller keeps them)."""
    mapping = plan.mapping
    activity = layer_activity(plan, costs, events, fires) if activity is None else activity
    rows = []
    for layer, act in zip(plan.workload.layers, activity, strict=True):
        sl = [stats[(layer.name, s.index)] for s in mapping.by_layer[layer.name]]
        rows.append(
            {
                **act,
                "packets_in": sum(a.packets_in for a in sl),
                "flits_in": sum(a.flits_in for a in sl),
                "packets_out": sum(a.packets_out for a in sl),
                "busy_cycles": max(a.busy_cycles for a in sl),
                "first_spine_cycle": min(a.first_finish for a in sl),
                "last_spine_cycle": max(a.last_finish for a in sl),
                "transactions": sum(a.transactions for a in sl),
                "energy_j": layer_energy.get(layer.name, 0.0),
            }
        )
    return [{k: r[k] for k in _LAYER_COLUMNS} for r in rows]


_LAYER_COLUMNS = (
    "layer", "kind", "cores", "input_spikes", "output_spikes", "expanded_events", "packets_in", "flits_in",
    "packets_out", "busy_cycles", "first_spine_cycle", "last_spine_cycle", "transactions", "flushes",
    "mean_spikes_per_flush", "evictions", "fired_rows", "energy_j",
)  # fmt: skip


def layer_activity(
    plan: Plan,
    costs: Mapping[tuple[str, int], SliceCosts],
    events: dict[str, np.ndarray],
    fires: dict[str, np.ndarray],
) -> list[dict[str, Any]]:
    """layers.csv's columns that come from the plan and its elaboration alone (spikes, events, flushes,
    evictions, rows fired), per layer: the same for every run of one elaboration."""
    act, mapping = plan.activity, plan.mapping
    out = []
    for layer in plan.workload.layers:
        cs = [costs[(layer.name, s.index)] for s in mapping.by_layer[layer.name]]
        fl = sum(c.flushes for c in cs)
        out.append(
            {
                "layer": layer.name,
                "kind": layer.kind,
                "cores": " ".join(str(s.core) for s in mapping.by_layer[layer.name]),
                "input_spikes": int(act.inputs[layer.name].sum()),
                "output_spikes": int(act.emitted[layer.name].sum()),
                "expanded_events": int(events[layer.name].sum()),
                "flushes": fl,
                "mean_spikes_per_flush": sum(c.spikes_flushed for c in cs) / fl if fl else "",
                "evictions": sum(c.evictions for c in cs),
                "fired_rows": int(fires[layer.name].sum()),
            }
        )
    return out


def softmax_stalls(chip: Chip) -> list[tuple[str, int, int, int]]:
    """Transformers: (layer, from, to, step) of every step's softmax stall."""
    return [
        (sl.layer, int(sl.stall_from[t]), int(sl.stall_to[t]), t)
        for sl in chip.slices.values()
        if sl.softmax
        for t in range(sl.T)
        if sl.stall_to[t] >= 0
    ]


def _softmax_stall(chip: Chip, T: int) -> dict[str, Any]:
    """Transformers: the softmax stall (first Q/K token absorbed to the last), in total and per step."""
    sm = [s for s in chip.slices.values() if s.softmax]
    if not sm:
        return {}
    per = np.array([np.where(s.stall_to >= 0, s.stall_to - s.stall_from, 0) for s in sm])
    return {
        "softmax_stall_cycles": int(per.sum()),
        "softmax_stall_cycles_per_step": [float(x) for x in per.mean(axis=0)],
    }


def _core_rows(chip: Chip) -> list[dict[str, Any]]:
    """Per neural core: PE time, stalls, buffer peaks, flushes."""
    rows = []
    for node, core in sorted(chip.cores.items()):
        keys = [(s.layer, int(s.name.rsplit("#", 1)[1])) for s in core.slices]
        cs = [chip.costs[k] for k in keys]
        fl = sum(c.flushes for c in cs)
        ni = chip.nis[node]
        # cycles within the latency (the snapshot the answer watch took); a run that never answered: all
        busy, stalled, starved = core.at_answer or (core.busy, core.stalled, core.starved)
        rows.append(
            {
                "core": node,
                "layers": " ".join(s.name for s in core.slices),
                "busy_cycles": busy,
                "stalled_on_output_cycles": stalled,
                "starved_on_input_cycles": starved,
                "busy_after_answer_cycles": core.busy - busy,
                "transactions": core.transactions,
                "lane_groups": len(core.groups),
                "group_busy_cycles": " ".join(str(g.busy) for g in core.groups),
                "im2col_wait_cycles": round(core.im2col.wait_cycles),
                "peak_input_fifo_flits": ni.in_peak,
                "peak_output_buffer_flits": ni.out_peak,
                "fifo_capacity_flits": ni.capacity,
                "flushes": fl,
                "evictions": sum(c.evictions for c in cs),
                "mean_spikes_per_flush": sum(c.spikes_flushed for c in cs) / fl if fl else "",
                "lane_passes": " ".join(str(c.passes) for c in cs),
                "pe_busy_cycles": " ".join(str(round(pe.busy_cycles)) for pe in chip.pes[node]),
                "residual_busy_cycles": core.residual.busy_cycles if core.residual is not None else 0,
            }
        )
    return rows


def _timeline_and_trace(chip: Chip, want_trace: bool) -> tuple[list[tuple], list[dict[str, Any]]]:
    """Timeline rows (layer, start, end, step, step) for the plots and Perfetto slices per core."""
    timeline: list[tuple] = []
    trace: list[dict[str, Any]] = []
    if want_trace:  # the softmax stall of every step, on its own thread of the core
        for s in chip.slices.values():
            if s.softmax:
                for t in range(s.T):
                    if s.stall_to[t] >= 0:
                        trace.append(
                            {
                                "name": f"softmax stall {s.name} t{t}",
                                "ph": "X",
                                "pid": s.node,
                                "tid": f"softmax {s.name}",
                                "ts": int(s.stall_from[t]),
                                "dur": int(s.stall_to[t] - s.stall_from[t]),
                                "args": {"step": t, "waits for": "every Q and K token of the step"},
                            }
                        )
    layer_of: dict[str, str] = {}  # slice name -> its layer
    for row in chip.trace:
        if len(row) == 5:  # (node, lane group, reason, start, end): the group's PEs idle
            node, group, why, start, end = row
            if want_trace and why != "waiting for input":  # a gap on the group's thread says that
                trace.append(
                    {
                        "name": why,
                        "ph": "X",
                        "pid": node,
                        "tid": group,
                        "ts": start,
                        "dur": end - start,
                        "args": {"state": why},
                    }
                )
            continue
        node, group, name, start, end, step, n = row
        layer = layer_of.get(name)
        if layer is None:
            layer = layer_of[name] = name.split("#")[0]
        timeline.append((layer, start, end, step, step))
        if want_trace:
            trace.append(
                {
                    "name": f"{name} t{step}",
                    "ph": "X",
                    "pid": node,
                    "tid": group,
                    "ts": start,
                    "dur": max(end - start, 0),
                    "args": {"state": "busy", "spines fired": n, "step": step},
                }
            )
    return timeline, trace
