"""Assemble and run one simulation: ``run(config) -> Result``.

Builds, from a validated :class:`Config`: the workload graph and its activity, the topology, the mapping
(partition → placement → routes), one :class:`LayerSliceActor` per layer slice, and the NoC transport
(``at``: router/link actors with contention and back-pressure; ``lt``: closed-form latency, no queueing).
Runs the SimPy environment to completion and returns plain data for :mod:`elsa_tlm.results`.
"""

from __future__ import annotations

import resource
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy

from elsa_tlm.config import Config
from elsa_tlm.energy import EnergyModel
from elsa_tlm.errors import StallError
from elsa_tlm.hw.core import LayerSliceActor, ProducerLink
from elsa_tlm.hw.pe import item_cycles, slice_actions
from elsa_tlm.mapping import Mapping, map_workload
from elsa_tlm.noc.packet import PacketFormat, dest_bits_for
from elsa_tlm.noc.routing import Routing, make_routing
from elsa_tlm.noc.topology import Topology, build_topology
from elsa_tlm.noc.transport import make_transport
from elsa_tlm.results import Result
from elsa_tlm.schedule.orders import Windows, visit_order, window_sums
from elsa_tlm.snn.products import ActionCounts
from elsa_tlm.workload.activity import Activity, load_activity, statistical_activity
from elsa_tlm.workload.graph import INPUT, Workload, load_workload

# lanes of one characterised adder-tree activation (elsa_28nm.toml [logic.adder_tree])
ADDER_BLOCK_LANES = 128


def build_activity(cfg: Config, wl: Workload) -> Activity:
    src = cfg.workload.activity
    if src == "statistical":
        return statistical_activity(wl, cfg.run.seed)
    if src == "replay":
        return load_activity(cfg.workload.replay_path, wl)
    from elsa_tlm.workload.functional import functional_activity

    return functional_activity(cfg, wl)


def _events(wl: Workload, act: Activity) -> dict[str, np.ndarray]:
    """im2col-expanded input events per layer, step and output spine: (T, n_out)."""
    out = {}
    for layer in wl.layers:
        x = act.inputs[layer.name]
        ev = window_sums(x, layer.out_hw, layer.kernel, layer.stride, layer.padding)
        out[layer.name] = ev.reshape(act.time_steps, -1)
    return out


@dataclass
class Plan:
    """Everything a run needs before time starts: workload, activity, topology, mapping, routing.

    Building it refuses every configuration that cannot run (a topology that does not exist, a routing the
    topology does not support, a network that does not fit), so ``elsa-tlm validate`` and a sweep's
    up-front check refuse exactly what ``run`` would.
    """

    config: Config
    workload: Workload
    activity: Activity
    topology: Topology
    mapping: Mapping
    routing: Routing

    @property
    def work_items(self) -> int:
        """(step, output spine) items over all layer slices: the size of the simulation."""
        T = self.workload.time_steps
        return sum(T * self.workload.by_name[s.layer].n_out for s in self.mapping.slices)


def prepare(cfg: Config, activity: Activity | None = None, workload: Workload | None = None) -> Plan:
    """Build (and so check) the workload, activity, topology, mapping and routes of ``cfg``."""
    wl = workload or load_workload(cfg.workload.model, cfg.run.time_steps, cfg.workload.classifier_density)
    act = activity or build_activity(cfg, wl)
    topo = build_topology(cfg.noc.topology, cfg.base_dir)
    mapping = map_workload(wl, act, cfg, topo)
    routing = make_routing(cfg.noc.routing, topo, cfg.run.seed)
    flits_per_spike = 13 / cfg.noc.flit_bits  # BAER: 13 payload bits per spike; splits only need proportions
    routing.prepare({k: v * flits_per_spike for k, v in mapping.flows.items()})
    return Plan(cfg, wl, act, topo, mapping, routing)


def run(
    cfg: Config,
    activity: Activity | None = None,
    workload: Workload | None = None,
    progress: Callable[[int, int], None] | None = None,
    plan: Plan | None = None,
) -> Result:
    """Simulate one inference (or one functional sample) on the configured chip.

    ``progress(done, total)`` is called now and then with finished and total work items; ``plan`` is a
    :func:`prepare` result for ``cfg`` when the caller already built one.
    """
    wall0 = time.perf_counter()
    plan = plan or prepare(cfg, activity, workload)
    wl, act, topo, mapping = plan.workload, plan.activity, plan.topology, plan.mapping
    T = wl.time_steps
    fmt = PacketFormat(cfg.noc.protocol, cfg.noc.flit_bits, dest_bits_for(topo))
    env = simpy.Environment()
    transport = make_transport(cfg, env, topo, plan.routing)
    events = _events(wl, act)
    batch_items = cfg.run.batch_items if cfg.run.mode == "at" else cfg.run.lt_batch_items
    energy = EnergyModel(cfg)
    trace: list[dict[str, Any]] = []
    timeline: list[tuple[str, int, int, int, int]] = []

    # processing order per layer: release order given the producer's emission order
    emit_order: dict[str, np.ndarray] = {INPUT: visit_order(*wl.layers[0].in_hw, cfg.schedule.order)}
    orders: dict[str, np.ndarray] = {}
    windows: dict[str, Windows] = {}
    pools: dict[str, Windows | None] = {}
    for layer in wl.layers:
        w = Windows(
            layer.in_hw, layer.out_hw, layer.kernel, layer.stride, layer.padding, cfg.schedule.defer_padding
        )
        prod_order = emit_order[layer.main]
        if prod_order.size != layer.n_in:  # flatten: one input spine
            prod_order = np.arange(layer.n_in)
        orders[layer.name] = w.release_order(prod_order)
        windows[layer.name] = w
        if layer.out_pool is not None:
            p = layer.out_pool
            pw = Windows(layer.out_hw, p.out_hw, p.kernel, p.stride, p.padding, False)
            pools[layer.name] = pw
            emit_order[layer.name] = pw.release_order(orders[layer.name])
        else:
            pools[layer.name] = None
            emit_order[layer.name] = orders[layer.name]

    actors: dict[tuple[str, int], LayerSliceActor] = {}
    slice_packets: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}
    pe_actions: dict[str, ActionCounts] = defaultdict(ActionCounts)
    adder_lanes: dict[str, float] = defaultdict(float)

    def on_trace(actor: LayerSliceActor, start: int, end: int, t0: int, t1: int, n: int) -> None:
        timeline.append((actor.name.split("#")[0], start, end, t0, t1))
        if cfg.output.trace:
            trace.append(
                {
                    "name": f"{actor.name} t{t0}" + (f"-{t1}" if t1 != t0 else ""),
                    "ph": "X",
                    "pid": actor.node,
                    "tid": actor.name,
                    "ts": start,
                    "dur": max(end - start, 0),
                    "args": {"spines": n, "step": t0},
                }
            )

    def make_emit(layer_name: str, sidx: int):
        layer = wl.by_name[layer_name]
        pk, fl = slice_packets[(layer_name, sidx)]
        dests: dict[int, list[LayerSliceActor]] = defaultdict(list)
        for cname in layer.consumers:
            for s in mapping.by_layer[cname]:
                dests[s.core].append(actors[(cname, s.index)])

        def emit(actor: LayerSliceActor, items: list[tuple[int, np.ndarray]]) -> None:
            n_pk = int(sum(pk[t, es].sum() for t, es in items))
            n_fl = int(sum(fl[t, es].sum() for t, es in items))
            if not dests:  # output layer: results leave the chip
                out_log.append((int(env.now), [t for t, _ in items]))
                return
            if n_fl == 0:  # only empty spines: one head-only flit announces them
                n_pk, n_fl = 1, 1
            actor.stats.packets_out += n_pk * len(dests)
            for node, consumers in dests.items():
                ev = transport.send(actor.node, node, n_fl, n_pk)
                ev.callbacks.append(_deliver(consumers, layer_name, items, n_pk, n_fl))

        out_log: list[tuple[int, list[int]]] = []
        emit.out_log = out_log  # type: ignore[attr-defined]
        return emit

    def _deliver(consumers, producer, items, n_pk, n_fl):
        def cb(_ev):
            for c in consumers:
                c.arrive(producer, items, n_pk, n_fl)

        return cb

    # build actors in reverse execution order so that every emit knows its consumers' actors
    emitters = {}
    for layer in reversed(wl.layers):
        ev = events[layer.name]
        for s in mapping.by_layer[layer.name]:
            key = (layer.name, s.index)
            total = act.emitted[layer.name].reshape(T, -1)
            sp = (total * s.col_hi) // layer.cout - (total * s.col_lo) // layer.cout  # this slice's channels
            pk, fl, _ = fmt.size(sp)
            slice_packets[key] = (pk.reshape(sp.shape), fl.reshape(sp.shape))
            cost = item_cycles(
                cfg.pe.product,
                ev,
                layer.k_im2col,
                s.max_pe_cols,
                s.lanes,
                cfg.pe.weight_ways,
                cfg.pe.fire_cycles,
            )
            producers = []
            for pname in [layer.main, *layer.skips]:
                if pname == INPUT:
                    continue
                p = wl.by_name[pname]
                producers.append(
                    ProducerLink(pname, len(mapping.by_layer[pname]), p.n_emit != layer.n_in, p.n_emit)
                )
            emit = make_emit(layer.name, s.index)
            emitters[key] = emit
            actors[key] = LayerSliceActor(
                env,
                f"{layer.name}#{s.index}",
                s.core,
                T,
                orders[layer.name],
                cost.reshape(T, -1),
                windows[layer.name],
                producers,
                layer.n_in,
                cfg.schedule.policy,
                batch_items,
                pools[layer.name],
                emit,
                on_trace,
            )
            acts, lane_acts = slice_actions(
                cfg.pe.product,
                ev,
                layer.k_im2col,
                s.pe_cols,
                cfg.pe.weight_ways,
                ADDER_BLOCK_LANES,
                cfg.pe.macro_words,
            )
            pe_actions[layer.name] = pe_actions[layer.name] + acts
            adder_lanes[layer.name] += lane_acts
    total_items = plan.work_items
    n_events = _run_env(
        env, None if progress is None else lambda: progress(sum(a.pos for a in actors.values()), total_items)
    )
    stuck = [a.name for a in actors.values() if not a.done]
    if stuck:
        raise StallError(f"pipeline stalled with work left in {len(stuck)} slices: {', '.join(stuck[:5])}")

    # ---------------------------------------------------------------- results
    out_layer = wl.output_layer
    out_slices = [actors[(out_layer.name, s.index)] for s in mapping.by_layer[out_layer.name]]
    step_done = [max(a.stats.step_done[t] for a in out_slices) for t in range(T)]
    logs = [e for s in mapping.by_layer[out_layer.name] for e in emitters[(out_layer.name, s.index)].out_log]
    first_output = min(c for c, _ in logs) if logs else None
    latency = int(env.now) if not logs else max(max(c for c, _ in logs), max(step_done))
    clock_hz = cfg.chip.clock_mhz * 1e6
    counters = transport.counters()
    dyn = energy.pe_energy(pe_actions, adder_lanes)
    sched = energy.scheduling_energy(wl, act, mapping, events)
    pkt = energy.packetisation_energy(int(counters["packets"]), int(counters["flits"]))  # each decoded once
    noc = energy.noc_energy(counters)
    dram = energy.dram_energy(wl)
    leak = energy.leakage_energy(mapping.cores_used, latency / clock_hz)
    breakdown = {**dyn, **sched, **pkt, **noc, "dram": dram, "leakage": leak}
    energy_j = float(sum(breakdown.values()))
    sops = int(sum(int(events[la.name].sum()) * la.cout for la in wl.layers))
    ops = wl.dense_ops
    latency_s = latency / clock_hz
    wall = time.perf_counter() - wall0
    link_rows = transport.link_rows()
    nl = max(1, len(link_rows))
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
        "step_done_cycles": step_done,
        "first_output_cycle": first_output,
        "energy_j": energy_j,
        "energy_breakdown_j": breakdown,
        "ops": ops,
        "sops": sops,
        "gops": ops / latency_s / 1e9 if latency_s > 0 else None,
        "tops_per_w": ops / energy_j / 1e12 if energy_j > 0 else None,
        "pj_per_sop": energy_j * 1e12 / sops if sops else None,
        "area_mm2": energy.area.chip_mm2(topo.n_nodes),
        "area_core_mm2": energy.area.core_mm2(),
        "area_breakdown_mm2": energy.area.core_breakdown_mm2(),
        "macros_occupied": energy.area.occupied(mapping.slices),
        "cores_used": mapping.cores_used,
        "cores_total": topo.n_nodes,
        "noc": {
            "packets": int(counters["packets"]),
            "flits": int(counters["flits"]),
            "bits": int(counters["bits"]),
            "flit_hops": int(counters["flit_hops"]),
            "max_link_flits": int(max((r["flits"] for r in link_rows), default=0)),
            "mean_link_utilisation": float(sum(r["busy_cycles"] for r in link_rows) / nl / max(latency, 1)),
            "traffic_mb": counters["bits"] / 8e6,
        },
        "elastic": None,
        "sim": {
            "wall_s": round(wall, 3),
            "events": n_events,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "mode": cfg.run.mode,
        },
    }
    layer_rows = []
    for layer in wl.layers:
        acts = [actors[(layer.name, s.index)] for s in mapping.by_layer[layer.name]]
        le = energy.layer_energy(pe_actions[layer.name], adder_lanes[layer.name])
        layer_rows.append(
            {
                "layer": layer.name,
                "kind": layer.kind,
                "cores": " ".join(str(s.core) for s in mapping.by_layer[layer.name]),
                "input_spikes": int(act.inputs[layer.name].sum()),
                "output_spikes": int(act.emitted[layer.name].sum()),
                "expanded_events": int(events[layer.name].sum()),
                "packets_in": sum(a.stats.packets_in for a in acts),
                "flits_in": sum(a.stats.flits_in for a in acts),
                "packets_out": sum(a.stats.packets_out for a in acts),
                "busy_cycles": max(a.stats.busy_cycles for a in acts),
                "first_spine_cycle": min(a.stats.first_finish for a in acts),
                "last_spine_cycle": max(a.stats.last_finish for a in acts),
                "transactions": sum(a.stats.transactions for a in acts),
                "energy_j": le,
            }
        )
    return Result(
        cfg,
        wl,
        mapping,
        act,
        summary,
        layer_rows,
        link_rows,
        timeline,
        trace,
        transport.transfers,
        transport.fifo_samples,
    )


def _run_env(env: simpy.Environment, report: Callable[[], None] | None = None, every: int = 50_000) -> int:
    """Run to completion, counting processed events; ``report()`` every ``every`` events and at the end."""
    n = 0
    step = env.step
    try:
        while True:
            step()
            n += 1
            if report is not None and n % every == 0:
                report()
    except simpy.core.EmptySchedule:
        pass
    if report is not None:
        report()
    return n
