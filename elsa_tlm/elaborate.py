"""Elaboration: everything about a run's chip that is known before time starts, computed once.

From a prepared :class:`~elsa_tlm.sim.Plan`: the im2col-expanded events of every layer, the orders of the
schedule (:mod:`elsa_tlm.schedule.readiness`), the PEs of every used core with the column tiles of their
slices, the PE costs of every slice (the input-buffer kernel run once per layer and queue share,
:mod:`elsa_tlm.hw.pe`), the packet sizes of every emitted spine (:mod:`elsa_tlm.noc.packet`) and, per slice,
its :class:`~elsa_tlm.hw.core.SliceSpec`. The chip builder (:mod:`elsa_tlm.chip`) then only instantiates the
components and binds their ports.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from elsa_tlm.config import Config
from elsa_tlm.hw.core import SliceSpec
from elsa_tlm.hw.input_buffer import BufferResult
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
from elsa_tlm.noc.params import train_flits
from elsa_tlm.schedule.orders import expanded_events
from elsa_tlm.schedule.readiness import Orders, emission, plan_orders, producer_links, slice_release
from elsa_tlm.workload.graph import INPUT


@dataclass
class Elaboration:
    """What the builder needs and what the result collector reads back."""

    fmt: PacketFormat
    events: dict[str, np.ndarray]  # (T, n_out) expanded events per layer
    fires: dict[str, np.ndarray]  # (T, n_out) rows fired
    pes: dict[int, list[ProcessingElement]]  # per used core
    buffers: dict[tuple, BufferResult]  # (layer, queues, band rows) -> input-buffer behaviour
    costs: dict[tuple[str, int], SliceCosts]
    specs: Iterator[tuple[tuple[str, int], SliceSpec]]  # (layer, slice index) -> spec, in layer order, made
    # lazily: the builder turns each into its slice before the next is made (a run's peak memory holds the
    # slices, not the slices and all their specs)
    payload_bits: int = (
        0  # meaningful bits of every packet sent (headers, spikes, CRCs; no padding); complete
    )
    # once ``specs`` is exhausted
    # what a mode without components derives from the elaboration alone (its work counts for the energy ledger,
    # layers.csv's activity columns), computed once: the analytic mode's design points share an elaboration
    memo: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


def _targets(wl: Any, mapping: Any) -> dict[tuple[str, int], np.ndarray]:
    """Each slice's outputs: all of the layer's (column slices) or the rows of its band."""
    targets: dict[tuple[str, int], np.ndarray] = {}
    for s in mapping.slices:
        layer = wl.by_name[s.layer]
        if s.is_band:
            ow = layer.out_hw[1]
            targets[(s.layer, s.index)] = np.arange(s.row_lo * ow, s.row_hi * ow)
        else:
            targets[(s.layer, s.index)] = np.arange(layer.n_out)
    return targets


def _pes(cfg: Config, mapping: Any) -> dict[int, list[ProcessingElement]]:
    """Every used core's PEs, each with its buffers and its tile (columns, lane group) of each slice there."""
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
    return pes


def _costs(
    cfg: Config,
    wl: Any,
    act: Any,
    mapping: Any,
    orders: Orders,
    events: dict[str, np.ndarray],
    fires: dict[str, np.ndarray],
    targets: dict[tuple[str, int], np.ndarray],
    pes: dict[int, list[ProcessingElement]],
) -> tuple[dict[tuple, BufferResult], dict[tuple[str, int], SliceCosts]]:
    """PE costs of every slice: the input buffer runs once per layer and per queue share (co-mapped layers
    split the queues), then the product's cost model per slice."""
    T = wl.time_steps
    layers_on = defaultdict(set)
    for s in mapping.slices:
        layers_on[s.core].add(s.layer)
    okey = _orders_key(cfg)
    streams = act.derived(
        ("layer_streams", *okey, cfg.pe.product),
        lambda: {
            layer.name: layer_stream(
                act.inputs[layer.name].reshape(T, -1),
                orders.windows[layer.name],
                orders.in_order[layer.name],
                events[layer.name],
                fires[layer.name],
                layer.cin,
                layer.k_im2col,
                act.signed.get(layer.name) if cfg.pe.product == "gustavson" else None,
            )
            for layer in wl.layers
        },
    )
    p = cfg.pe
    buffers: dict[tuple, BufferResult] = {}
    costs: dict[tuple[str, int], SliceCosts] = {}
    for s in mapping.slices:
        queues = max(1, cfg.pe.input_queues // len(layers_on[s.core]))
        key = (s.layer, queues, s.row_lo, s.row_hi)
        stream = streams[s.layer]
        if s.is_band:
            stream = restrict(stream, targets[(s.layer, s.index)])
        layer = wl.by_name[s.layer]
        if p.product == "gustavson" and layer.kind != "add_norm" and key not in buffers:
            settings = (
                p.input_queue_depth,
                p.weight_ways,
                cfg.memory.access_cycles,
                p.weight_buffer,
                p.raw_hazard,
            )
            buffers[key] = act.derived(
                ("input_buffer", *okey, *key, *settings),
                lambda stream=stream, queues=queues, settings=settings: run_buffer(stream, queues, *settings),
                _nbytes,
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
            operand_block=layer.operand_block,
            operand_frac=_operand_frac(layer, act) if layer.operand_block else None,
        )
    return buffers, costs


def streams_into(wl: Any, mapping: Any) -> dict[int, list[str]]:
    """Per used core, the streams into it, sorted: the producer layers of its slices (main inputs, operands,
    skips; the chip's input is not a stream). Each has its own queue of the core's input FIFOs with
    ``noc.input_queues = "per_stream"`` (:class:`~elsa_tlm.hw.channel.FifoBank`)."""
    streams: dict[int, set[str]] = defaultdict(set)
    for layer in wl.layers:
        names = {layer.main, *layer.operands, *layer.skips} - {INPUT}
        for c in mapping.by_layer[layer.name]:
            streams[c.core] |= names
    return {core: sorted(names) for core, names in streams.items()}


def train_chunks(cfg: Config, wl: Any, mapping: Any) -> dict[str, int]:
    """Per producer layer, the most flits one of its trains carries (:func:`~elsa_tlm.noc.params.train_flits`):
    half its stream's input FIFO queue at the most crowded core it sends to (:func:`streams_into`), at most
    ``run.train_bytes``. A flit generator cuts the same trains for every destination, so the smallest queue
    sets them."""
    streams = streams_into(wl, mapping)
    out = {}
    for layer in wl.layers:
        dests = {c.core for cname in layer.consumers for c in mapping.by_layer[cname]}
        n = max((len(streams.get(d, ())) for d in dests), default=1)
        out[layer.name] = train_flits(cfg.noc, cfg.run.train_bytes, n)
    return out


def _orders_key(cfg: Config) -> tuple[str, bool]:
    """The settings the schedule's orders depend on besides the workload (:func:`plan_orders`)."""
    return (cfg.schedule.order, cfg.schedule.defer_padding)


def _nbytes(buf: BufferResult) -> int:
    return sum(a.nbytes for a in (buf.absorb_flush, buf.final_cycles, buf.final_spikes, buf.per_step))


def _operand_frac(layer: Any, act: Any) -> np.ndarray:
    """(T, n_in): the share of each input spine's spikes that come from the layer's second operand(s)."""
    total = act.inputs[layer.name].reshape(act.time_steps, -1).astype(float)
    op = sum(act.emitted[o].reshape(act.time_steps, -1) for o in layer.operands).astype(float)
    return np.divide(op, total, out=np.zeros_like(total), where=total > 0).clip(0.0, 1.0)


def elaborate(plan: Any) -> Elaboration:
    """Everything of ``plan``'s chip that is known before time starts."""
    cfg: Config = plan.config
    wl, act, topo, mapping = plan.workload, plan.activity, plan.topology, plan.mapping
    T = wl.time_steps
    fmt = PacketFormat(cfg.noc.protocol, cfg.noc.flit_bits, dest_bits_for(topo), topology=topo)
    events = expanded_events(wl, act)  # (T, n_out) per layer, once per activity
    # derived from the workload, its spikes and the schedule's orders alone: shared by the plans that share the
    # activity (the analytic mode's design points, analytic.PlanCache)
    okey = _orders_key(cfg)
    orders = act.derived(("orders", *okey), lambda: plan_orders(wl, *okey))
    fires = act.derived(
        ("fires", *okey),
        lambda: {
            layer.name: fire_mask(
                events[layer.name],
                emitted_rows(act.emitted.get(layer.name), layer.n_out, orders.pools[layer.name]),
            )
            for layer in wl.layers
        },
    )
    targets = _targets(wl, mapping)
    pes = _pes(cfg, mapping)
    buffers, costs = _costs(cfg, wl, act, mapping, orders, events, fires, targets, pes)

    el = Elaboration(fmt, events, fires, pes, buffers, costs, iter(()))

    def specs() -> Iterator[tuple[tuple[str, int], SliceSpec]]:
        # every slice in positions: absorption (its layer's input order), release and emission orders
        emit_ids: dict[tuple[str, int], np.ndarray] = {}  # spines each slice emits, in its emission order
        # (T, emitted spines): spikes each slice sends per spine
        spikes_of: dict[tuple[str, int], np.ndarray] = {}
        for layer in wl.layers:
            total = act.emitted[layer.name].reshape(T, -1)
            dest_nodes = sorted({c.core for cname in layer.consumers for c in mapping.by_layer[cname]})
            order_in = orders.in_order[layer.name]
            ra = orders.windows[layer.name].release_after(order_in)
            producers = producer_links(
                layer, wl, mapping, order_in, emit_ids, spikes_of, cfg.chip.accumulator_lanes
            )
            # per step, what the router's units count once its input is complete: the spikes the im2col unit
            # expands; the first layer's expanded pixel events (the accumulator's)
            counts = act.inputs[layer.name].reshape(T, -1)
            step_spikes = counts.sum(axis=1)
            step_events = events[layer.name].sum(axis=1) if layer.index == 0 else None
            for s in mapping.by_layer[layer.name]:
                tg = targets[(layer.name, s.index)]
                rel_local, rel_count = slice_release(ra, tg, layer.n_in)
                ids, emit_count = emission(layer, orders.pools[layer.name], tg, rel_local, s)
                emit_ids[(layer.name, s.index)] = ids
                if s.is_band:
                    sp = total[:, ids]  # every channel of its rows
                else:
                    share = (total * s.col_hi) // layer.cout - (
                        total * s.col_lo
                    ) // layer.cout  # its channels
                    sp = share[:, ids]
                spikes_of[(layer.name, s.index)] = sp
                pk, fl, _ = fmt.size(sp)
                el.payload_bits += int(fmt.payload_bits(sp).sum()) * len(dest_nodes)
                c = costs[(layer.name, s.index)]
                yield (
                    (layer.name, s.index),
                    SliceSpec(
                        f"{layer.name}#{s.index}",
                        layer.name,
                        s.core,
                        T,
                        layer.n_in,
                        s.index,
                        c.absorb[:, order_in],
                        c.write[:, order_in],
                        c.fire[:, rel_local],
                        rel_count,
                        emit_count,
                        producers,
                        pk.reshape(sp.shape),
                        fl.reshape(sp.shape),
                        sp,
                        dest_nodes,
                        softmax=layer.softmax,
                        pe_share=c.pe_share,
                        step_spikes=step_spikes,
                        step_events=step_events,
                        active_pes=sum(1 for x in s.pe_cols if x > 0),
                        blocks=sum(-(-x // 16) for x in s.pe_cols if x > 0),
                    ),
                )

    el.specs = specs()
    return el
