"""Mapping: partition layers into core-sized groups, place them on routers, prepare routes."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from elsa_tlm.config import Config
from elsa_tlm.hw.capacity import CoreCapacity
from elsa_tlm.mapping.partition import (
    Loads,
    Partition,
    Slice,
    band_align,
    partition,
    row_splittable,
)
from elsa_tlm.mapping.placement import cost, initial_nodes, refine
from elsa_tlm.workload.activity import Activity
from elsa_tlm.workload.graph import INPUT, Workload


@dataclass
class Mapping:
    """Where every layer slice sits, and the traffic the placement optimised."""

    slices: list[Slice]
    by_layer: dict[str, list[Slice]]
    partitions: list[Partition]
    node_of_partition: list[int]
    flows: dict[tuple[int, int], float]  # (src node, dst node) -> spikes over the run
    cost_initial: float
    cost_final: float
    capacity: CoreCapacity

    @property
    def cores_used(self) -> int:
        return len(self.partitions)

    def to_json(self) -> dict[str, Any]:
        return {
            "cores_used": self.cores_used,
            "placement_cost_initial": self.cost_initial,
            "placement_cost_final": self.cost_final,
            "capacity_per_pe": {
                "weight_macros": self.capacity.weight_macros,
                "membrane_macros": self.capacity.membrane_macros,
                "tracer_macros": self.capacity.tracer_macros,
                "neuron_circuits": self.capacity.neuron_circuits,
            },
            "slices": [
                {
                    "layer": s.layer,
                    "slice": s.index,
                    "of": s.n_slices,
                    "core": s.core,
                    "columns": [s.col_lo, s.col_hi],
                    "rows": [s.row_lo, s.row_hi] if s.is_band else None,
                    "pe_columns": s.pe_cols,
                    "lanes": s.lanes,
                    "weight_macros_per_pe": s.weight_macros,
                    "membrane_macros_per_pe": s.membrane_macros,
                    "tracer_macros_per_pe": s.tracer_macros,
                }
                for s in self.slices
            ],
            "flows": [{"src": a, "dst": b, "spikes": v} for (a, b), v in sorted(self.flows.items())],
        }


def layer_traffic(wl: Workload, act: Activity) -> dict[tuple[str, str], float]:
    """Spikes sent along each producer→consumer edge over the whole run."""
    out: dict[tuple[str, str], float] = {}
    for layer in wl.layers:
        for src in layer.producers:
            if src != INPUT:
                out[(src, layer.name)] = float(act.emitted[src].sum())
    return out


def layer_events(wl: Workload, act: Activity) -> dict[str, float]:
    """Expanded input events (input spikes x the outputs each reaches) of every layer over the whole run."""
    from elsa_tlm.schedule.orders import expanded_events

    per_spine = expanded_events(wl, act)
    return {la.name: float(per_spine[la.name].sum()) for la in wl.layers}


def layer_work(wl: Workload, act: Activity, events: dict[str, float] | None = None) -> dict[str, float]:
    """A layer's PE work estimate: expanded events over the mini-batch size plus one fire per row and step."""
    events = events or layer_events(wl, act)
    return {la.name: events[la.name] / 16 + act.time_steps * la.n_out for la in wl.layers}


def spread_bands(
    wl: Workload,
    act: Activity,
    cfg: Config,
    n_cores: int,
    traffic: dict,
    parts: list[Partition],
    loads: Loads | None = None,
) -> list[Partition]:
    """``mapping.split = "auto"``: while cores are left free, cut the wide, shallow layer whose row band does
    the most work into one more band (a row band absorbs only the spikes of its own rows)."""
    work = layer_work(wl, act, loads.events if loads is not None else None)
    eligible = [la for la in wl.layers if row_splittable(la) and la.n_out > la.cout]
    bands = {la.name: sum(1 for p in parts for s in p.slices if s.layer == la.name) for la in eligible}
    for _ in range(n_cores):
        if len(parts) >= n_cores or not eligible:
            break
        heavy = max(eligible, key=lambda la: work[la.name] / bands[la.name])
        trial = dict(bands)
        trial[heavy.name] += 1
        if trial[heavy.name] > -(-heavy.out_hw[0] // band_align(heavy)):
            eligible.remove(heavy)
            continue
        new = partition(wl, cfg, n_cores, traffic, trial, loads)
        if len(new) > n_cores:
            break
        parts, bands = new, trial
    return parts


def map_workload(wl: Workload, act: Activity, cfg: Config, topo: Any) -> Mapping:
    """Partition → placement (Hilbert + swaps) → flows for the router's route preparation."""
    traffic = layer_traffic(wl, act)
    events = layer_events(wl, act)
    loads = Loads(events, cfg.pe.weight_ways, act.time_steps)
    parts = partition(wl, cfg, topo.n_nodes, traffic, loads=loads)
    topo.check_fits(len(parts))
    if cfg.mapping.split == "auto":
        parts = spread_bands(wl, act, cfg, topo.n_nodes, traffic, parts, loads)
    slices = [s for p in parts for s in p.slices]
    by_layer: dict[str, list[Slice]] = defaultdict(list)
    for s in slices:
        by_layer[s.layer].append(s)
    for v in by_layer.values():
        v.sort(key=lambda s: s.index)
    # partition-level traffic matrix (spikes), producer slices broadcast to all consumer slices
    n = len(parts)
    tm = np.zeros((n, n))
    for (src, dst), spikes in traffic.items():
        ps, cs = by_layer[src], by_layer[dst]
        for a in ps:
            for b in cs:
                if a.core != b.core:
                    tm[a.core, b.core] += spikes / len(ps)
    order = sorted(range(n), key=lambda i: min(wl.by_name[s.layer].index for s in parts[i].slices))
    nodes = initial_nodes(topo.graph, topo.rows, topo.cols, cfg.mapping.placement, topo.coords)
    node_of = np.empty(n, dtype=np.int64)
    for rank, pid in enumerate(order):
        node_of[pid] = nodes[rank]
    c0 = cost(tm, node_of, topo.hops)
    if cfg.mapping.refine:
        node_of = refine(tm, node_of, topo.hops, topo.graph)
    c1 = cost(tm, node_of, topo.hops)
    for s in slices:
        s.core = int(node_of[s.core])
    flows: dict[tuple[int, int], float] = defaultdict(float)
    for (src, dst), spikes in traffic.items():
        ps, cs = by_layer[src], by_layer[dst]
        dst_nodes = {b.core for b in cs}
        for a in ps:
            for d in dst_nodes:
                if a.core != d:
                    flows[(a.core, d)] += spikes / len(ps)
    return Mapping(
        slices,
        dict(by_layer),
        parts,
        [int(x) for x in node_of],
        dict(flows),
        c0,
        c1,
        CoreCapacity.from_config(cfg),
    )
