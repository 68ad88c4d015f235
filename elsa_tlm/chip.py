"""Chip builder: from a prepared :class:`~elsa_tlm.sim.Plan` to bound components on one SimPy environment.

It creates, per used router node, a :class:`~elsa_tlm.hw.ni.NetworkInterface` and a
:class:`~elsa_tlm.hw.core.NeuralCore` owning its :class:`~elsa_tlm.hw.pe.ProcessingElement` s (each with its
SRAM macros and the column tiles of the slices mapped there) and the :class:`~elsa_tlm.hw.core.LayerSlice`
states of those slices; the transport (routers and links in ``at`` mode, closed-form latency in ``lt``); and binds
their ports: each interface's ``peers`` (node -> that interface's inbound port) and ``deliver`` (its core),
the network's ejection credits (the cores' input FIFOs). The per-spine costs come from the PE model, run once
per layer (and input-buffer share) before time starts. After :func:`build_chip` the simulation only runs.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy

from elsa_tlm.config import Config
from elsa_tlm.hw.core import LayerSlice, NeuralCore, ProducerLink
from elsa_tlm.hw.input_buffer import BufferResult
from elsa_tlm.hw.ni import NetworkInterface
from elsa_tlm.hw.pe import (
    ProcessingElement,
    SliceCosts,
    emitted_rows,
    fire_mask,
    layer_stream,
    restrict,
    run_buffer,
    slice_costs,
)
from elsa_tlm.hw.sram import pe_macros
from elsa_tlm.noc.packet import PacketFormat, dest_bits_for
from elsa_tlm.noc.params import buffer_flits
from elsa_tlm.noc.transport import Transport, make_transport
from elsa_tlm.schedule.orders import Windows, visit_order, window_sums
from elsa_tlm.schedule.policy import policy_for
from elsa_tlm.workload.graph import INPUT


@dataclass
class Chip:
    """The bound components of one run, and what the builder computed for them."""

    env: simpy.Environment
    transport: Transport
    nis: dict[int, NetworkInterface]
    cores: dict[int, NeuralCore]
    slices: dict[tuple[str, int], LayerSlice]
    pes: dict[int, list[ProcessingElement]]  # per core
    costs: dict[tuple[str, int], SliceCosts]
    events: dict[str, np.ndarray]  # (T, n_out) expanded events per layer
    fires: dict[str, np.ndarray]  # (T, n_out) rows fired
    buffers: dict[tuple, BufferResult]  # (layer, queues, band rows) -> input-buffer behaviour
    fmt: PacketFormat
    payload_bits: int  # meaningful bits of every packet sent (headers, spikes, CRCs; no padding)
    trace: list[tuple] = field(
        default_factory=list
    )  # (node, group, slice, start, end, step, spines) | idle rows


def _cumsum0(a: np.ndarray) -> np.ndarray:
    """(T, n) -> (T, n + 1) cumulative sums with a leading zero column."""
    out = np.zeros((a.shape[0], a.shape[1] + 1), dtype=np.int64)
    np.cumsum(a, axis=1, out=out[:, 1:])
    return out


def layer_events(wl: Any, act: Any) -> dict[str, np.ndarray]:
    """im2col-expanded input events per layer, step and output spine: (T, n_out)."""
    out = {}
    for layer in wl.layers:
        x = act.inputs[layer.name]
        ev = window_sums(x, layer.out_hw, layer.kernel, layer.stride, layer.padding)
        out[layer.name] = ev.reshape(act.time_steps, -1)
    return out


def _emission(
    layer: Any, pool: Windows | None, targets: np.ndarray, rel_local: np.ndarray, s: Any
) -> tuple[np.ndarray, np.ndarray]:
    """The spines a slice emits, in emission order, and how many are emitted once F outputs have fired.

    Without a pool: its outputs in release order. With a fused pool: a pooled spine is emitted once its
    window's outputs have fired. A row band emits the pooled spines whose window's last row is in the band,
    once the band's own outputs in the window have fired (an overlapping pool window shares one row with
    the band above: that row is taken as fired with the band's).
    """
    n = targets.size
    if pool is None:
        return targets[rel_local], np.arange(n + 1)
    rank = np.full(layer.n_out, -1, dtype=np.int64)
    rank[targets[rel_local]] = np.arange(n)
    last = np.full(pool.size.size, -1, dtype=np.int64)  # latest-firing output of each pooled window
    np.maximum.at(last, pool.pair_out, rank[pool.pair_in])
    if s.is_band:
        ow = layer.out_hw[1]
        last_row = np.zeros(pool.size.size, dtype=np.int64)
        np.maximum.at(last_row, pool.pair_out, pool.pair_in // ow)
        mine = (last_row >= s.row_lo) & (last_row < s.row_hi)
    else:
        mine = np.ones(pool.size.size, dtype=bool)
    ids = np.flatnonzero(mine)
    ids = ids[np.lexsort((ids, last[ids]))]
    counts = np.searchsorted(np.sort(last[ids]), np.arange(n), side="left")
    return ids, np.append(counts, ids.size)


def build_chip(plan: Any, record: bool = False) -> Chip:
    """Build and bind every component of ``plan``'s chip on a fresh environment."""
    cfg: Config = plan.config
    wl, act, topo, mapping = plan.workload, plan.activity, plan.topology, plan.mapping
    T = wl.time_steps
    env = simpy.Environment()
    transport = make_transport(cfg, env, topo, plan.routing)
    at = cfg.run.mode == "at"
    cap = buffer_flits(cfg.noc)
    fmt = PacketFormat(cfg.noc.protocol, cfg.noc.flit_bits, dest_bits_for(topo), topology=topo)
    events = layer_events(wl, act)
    batch = cfg.run.batch_items if at else cfg.run.lt_batch_items
    # a train fills at most half of the consumer's input FIFOs, so one can be absorbed while the next arrives
    # (double buffering between cores); lt sends the same trains (it differs from at only by the queueing)
    chunk = max(1, cap // 2)
    policy = policy_for(cfg.schedule.policy)

    # absorption order of each layer's input spines: its producer's emission order
    emit_order: dict[str, np.ndarray] = {INPUT: visit_order(*wl.layers[0].in_hw, cfg.schedule.order)}
    in_order: dict[str, np.ndarray] = {}
    windows: dict[str, Windows] = {}
    pools: dict[str, Windows | None] = {}
    release: dict[str, np.ndarray] = {}
    for layer in wl.layers:
        w = Windows(
            layer.in_hw, layer.out_hw, layer.kernel, layer.stride, layer.padding, cfg.schedule.defer_padding
        )
        if layer.softmax:  # spiking softmax needs every Q and K token of the step: the pipeline stalls here
            w.deferred[:] = True
        order = emit_order[layer.main]
        if order.size != layer.n_in:  # flatten: one input spine
            order = np.arange(layer.n_in)
        in_order[layer.name] = order
        windows[layer.name] = w
        release[layer.name] = w.release_order(order)
        pools[layer.name] = None
        emit_order[layer.name] = release[layer.name]
        if layer.out_pool is not None:
            p = layer.out_pool
            pw = Windows(layer.out_hw, p.out_hw, p.kernel, p.stride, p.padding, False)
            pools[layer.name] = pw
            emit_order[layer.name] = pw.release_order(release[layer.name])

    # PE costs: the input buffer runs once per layer and per queue share (co-mapped layers split the queues)
    layers_on = defaultdict(set)
    for s in mapping.slices:
        layers_on[s.core].add(s.layer)
    fires: dict[str, np.ndarray] = {}
    streams = {}
    for layer in wl.layers:
        rows_out = emitted_rows(act.emitted.get(layer.name), layer.n_out, pools[layer.name])
        fires[layer.name] = fire_mask(events[layer.name], rows_out)
        streams[layer.name] = layer_stream(
            act.inputs[layer.name].reshape(T, -1),
            windows[layer.name],
            in_order[layer.name],
            events[layer.name],
            fires[layer.name],
            layer.cin,
            layer.k_im2col,
            act.signed.get(layer.name) if cfg.pe.product == "gustavson" else None,
        )
    # each slice's outputs: all of the layer's (column slices) or the rows of its band
    targets: dict[tuple[str, int], np.ndarray] = {}
    for s in mapping.slices:
        layer = wl.by_name[s.layer]
        if s.is_band:
            ow = layer.out_hw[1]
            targets[(s.layer, s.index)] = np.arange(s.row_lo * ow, s.row_hi * ow)
        else:
            targets[(s.layer, s.index)] = np.arange(layer.n_out)
    # every used core's PEs, each with its buffers and its tile (columns, lane group) of each slice there
    pes: dict[int, list[ProcessingElement]] = {}
    for s in mapping.slices:
        if s.core not in pes:
            pes[s.core] = [
                ProcessingElement(s.core, i, pe_macros(cfg), cfg.pe.neuron_circuits)
                for i in range(cfg.chip.pes_per_core)
            ]
        for pe, cols in zip(pes[s.core], s.pe_cols, strict=True):
            pe.tiles[f"{s.layer}#{s.index}"] = cols
            pe.lanes[f"{s.layer}#{s.index}"] = s.lanes
    buffers: dict[tuple, BufferResult] = {}
    costs: dict[tuple[str, int], SliceCosts] = {}
    for s in mapping.slices:
        queues = max(1, cfg.pe.input_queues // len(layers_on[s.core]))
        key = (s.layer, queues, s.row_lo, s.row_hi)
        stream = streams[s.layer]
        if s.is_band:
            stream = restrict(stream, targets[(s.layer, s.index)])
        layer = wl.by_name[s.layer]
        if cfg.pe.product == "gustavson" and layer.kind != "add_norm" and key not in buffers:
            buffers[key] = run_buffer(
                stream,
                queues,
                cfg.pe.input_queue_depth,
                cfg.pe.weight_ways,
                cfg.memory.access_cycles,
                cfg.pe.weight_buffer,
                cfg.pe.raw_hazard,
            )
        costs[(s.layer, s.index)] = slice_costs(
            cfg.pe.product,
            stream,
            buffers.get(key),
            pes[s.core],
            f"{s.layer}#{s.index}",
            s.layer,
            s.lanes,
            cfg.pe.weight_ways,
            cfg.pe.fire_cycles,
            cfg.pe.macro_words,
            kind=layer.kind,
            row_block=layer.row_block,
            softmax=(layer.heads, layer.row_block) if layer.softmax else None,
            accumulator_lanes=cfg.chip.accumulator_lanes,
        )

    # every slice in positions: absorption (its layer's input order), release and emission orders
    emit_ids: dict[tuple[str, int], np.ndarray] = {}  # spines each slice emits, in its emission order
    spikes_of: dict[
        tuple[str, int], np.ndarray
    ] = {}  # (T, emitted spines): spikes each slice sends per spine
    payload = 0
    chip_slices: dict[tuple[str, int], LayerSlice] = {}
    by_core: dict[int, list[LayerSlice]] = defaultdict(list)
    for layer in wl.layers:
        total = act.emitted[layer.name].reshape(T, -1)
        dest_nodes = sorted({c.core for cname in layer.consumers for c in mapping.by_layer[cname]})
        order_in = in_order[layer.name]
        ra = windows[layer.name].release_after(order_in)
        pos_in = np.empty(order_in.size, dtype=np.int64)
        pos_in[order_in] = np.arange(order_in.size)
        producers = []
        roles = (
            [("main", layer.main)]
            + [("operand", k) for k in layer.operands]
            + [("skip", k) for k in layer.skips]
        )
        for role, pname in roles:
            if pname == INPUT:
                continue
            p = wl.by_name[pname]
            flatten = p.n_emit != layer.n_in
            ids = [emit_ids[(pname, ps.index)] for ps in mapping.by_layer[pname]]
            need = np.zeros(layer.n_in, dtype=np.int64)
            posmaps: list[np.ndarray | None] = []
            for e in ids:
                if flatten:
                    need[0] += e.size
                    posmaps.append(None)
                    continue
                pm = pos_in[e]  # producer slice emission position -> absorption position
                need += np.bincount(pm, minlength=layer.n_in)
                posmaps.append(None if np.array_equal(pm, np.arange(layer.n_in)) else pm)
            skip_ops = None
            if role == "skip":  # the residual unit adds each spine's skip spikes 16 per cycle
                skip_ops = [
                    _cumsum0(-(-spikes_of[(pname, ps.index)] // cfg.chip.accumulator_lanes))
                    for ps in mapping.by_layer[pname]
                ]
            producers.append(ProducerLink(pname, need, flatten, role == "skip", posmaps, skip_ops))
        for s in mapping.by_layer[layer.name]:
            tg = targets[(layer.name, s.index)]
            ra_s = ra[tg]
            rel_local = np.lexsort((np.arange(tg.size), ra_s))  # the slice's outputs in release order
            rel_count = np.append(np.searchsorted(np.sort(ra_s), np.arange(layer.n_in), side="left"), tg.size)
            ids, emit_count = _emission(layer, pools[layer.name], tg, rel_local, s)
            emit_ids[(layer.name, s.index)] = ids
            if s.is_band:
                sp = total[:, ids]  # every channel of its rows
            else:
                share = (total * s.col_hi) // layer.cout - (total * s.col_lo) // layer.cout  # its channels
                sp = share[:, ids]
            spikes_of[(layer.name, s.index)] = sp
            pk, fl, _ = fmt.size(sp)
            payload += int(fmt.payload_bits(sp).sum()) * len(dest_nodes)
            c = costs[(layer.name, s.index)]
            sl = LayerSlice(
                f"{layer.name}#{s.index}",
                layer.name,
                s.core,
                T,
                layer.n_in,
                c.absorb[:, order_in],
                c.write[:, order_in],
                c.fire[:, rel_local],
                rel_count,
                emit_count,
                producers,
                policy,
                pk.reshape(sp.shape),
                fl.reshape(sp.shape),
                sp,
                dest_nodes,
                chunk,
                s.index,
                softmax=layer.softmax,
                pe_share=[
                    pe.share(f"{layer.name}#{s.index}", c.passes, layer.row_block) for pe in pes[s.core]
                ],
            )
            chip_slices[(layer.name, s.index)] = sl
            by_core[s.core].append(sl)

    trace: list[tuple] = []
    recorder = (lambda *row: trace.append(row)) if record else None
    nis = {node: NetworkInterface(env, node, cap, bounded=at) for node in sorted(by_core)}
    cores = {
        node: NeuralCore(
            env,
            node,
            pes[node],
            by_core[node],
            nis[node],
            batch,
            recorder,
            oldest_first=cfg.schedule.core_arbitration == "oldest_step",
            parallel=cfg.pe.layer_groups == "parallel",
        )
        for node in sorted(by_core)
    }
    # bind phase: each interface's input channel to the transport, its output to the transport and its
    # arrivals to its core
    for node, ni in nis.items():
        transport.bind_inbox(node, ni.inbox)
        ni.bind(transport, cores[node].deliver)
    return Chip(
        env, transport, nis, cores, chip_slices, pes, costs, events, fires, buffers, fmt, payload, trace
    )
