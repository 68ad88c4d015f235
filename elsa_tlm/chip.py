"""Chip builder: from a prepared :class:`~elsa_tlm.sim.Plan` to bound components on one SimPy environment.

Two phases and nothing else. **Instantiate**: the transport (routers and links in ``at`` mode, closed-form
latency in ``lt``), per used router node a :class:`~elsa_tlm.hw.ni.NetworkInterface` and a
:class:`~elsa_tlm.hw.core.NeuralCore` owning its :class:`~elsa_tlm.hw.pe.ProcessingElement` s and the
:class:`~elsa_tlm.hw.core.LayerSlice` s mapped there (each from its :class:`~elsa_tlm.hw.core.SliceSpec`, with
the schedule's emission policy). **Bind**: each interface's input channel to the transport (the ejection
port's credits and payload), its output to the transport and its arrivals to its core. Everything known before
time starts comes from :mod:`elsa_tlm.elaborate`. After :func:`build_chip` the simulation only runs.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from elsa_tlm.config import Config
from elsa_tlm.elaborate import elaborate, streams_into, train_chunks
from elsa_tlm.hw.channel import Channel, queue_share
from elsa_tlm.hw.core import LayerSlice, NeuralCore
from elsa_tlm.hw.input_buffer import BufferResult
from elsa_tlm.hw.ni import NetworkInterface
from elsa_tlm.hw.pe import ProcessingElement, SliceCosts
from elsa_tlm.kernel import Kernel
from elsa_tlm.noc.packet import PacketFormat
from elsa_tlm.noc.params import buffer_flits
from elsa_tlm.noc.transport import make_transport
from elsa_tlm.schedule.policy import policy_for
from elsa_tlm.transfer import Transport


@dataclass
class Chip:
    """The bound components of one run, and what the builder computed for them."""

    kernel: Kernel  # the run's event kernel (time, the heap, the run loop)
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


def answer(out_slices: list[LayerSlice], T: int) -> tuple[list[int], int | None, int | None]:
    """When the output layer's results leave the chip: per step the cycle its last output spine left (gated
    policies send late), the first output spine's cycle, and the latency (the last of them; None while the
    output layer has logged nothing)."""
    logs = [e for s in out_slices for e in s.out_log]  # (first spine's cycle, last spine's cycle, steps)
    left = [[c for _, c, steps in logs if t in steps] for t in range(T)]
    step_done = [max(c) if c else max(s.stats.step_done[t] for s in out_slices) for t, c in enumerate(left)]
    first = min(c for c, _, _ in logs) if logs else None
    latency = max(max(c for _, c, _ in logs), max(step_done)) if logs else None
    return step_done, first, latency


class AnswerWatch:
    """Once every output slice has sent its last step, schedules one event at the latency that snapshots
    every core's cycle accounting there (:meth:`NeuralCore.snapshot`): cores.csv reports cycles within the
    latency, and what a core still does after the answer has left apart."""

    def __init__(self, kernel: Kernel, out_slices: list[LayerSlice], cores: list[NeuralCore]) -> None:
        self.kernel, self.out_slices, self.cores = kernel, out_slices, cores
        self.waiting = {s.name for s in out_slices}
        for s in out_slices:
            s.on_answered = self.answered

    def answered(self, s: LayerSlice) -> None:
        self.waiting.discard(s.name)
        if self.waiting:
            return
        _, _, latency = answer(self.out_slices, self.out_slices[0].T)
        now = self.kernel.now()
        at = now if latency is None else max(int(latency), now)
        self.kernel.call_at(at, self._on_answer, at)

    def _on_answer(self, wake: Any) -> None:
        self._snapshot(wake.obj)

    def _snapshot(self, at: int) -> None:
        for core in self.cores:
            core.snapshot(at)


def build_chip(plan: Any, record: bool = False) -> Chip:
    """Instantiate and bind every component of ``plan``'s chip on a fresh environment (the elaboration,
    :func:`elsa_tlm.elaborate.elaborate`, has computed everything known before time starts)."""
    cfg: Config = plan.config
    el = elaborate(plan)
    at = cfg.run.mode == "at"
    cap = buffer_flits(cfg.noc)
    batch = cfg.run.batch_items if at else cfg.run.lt_batch_items
    # a train fills at most half of its stream's input FIFO queue at the consumer, so one can be absorbed while
    # the next arrives (double buffering between cores), and at most run.train_bytes (the timing's resolution:
    # train_flits); lt sends the same trains (it differs from at only by the queueing)
    chunks = train_chunks(cfg, plan.workload, plan.mapping)
    policy = policy_for(cfg.schedule.policy)
    groups_on: dict[int, int] = defaultdict(int)
    for s in plan.mapping.slices:
        groups_on[s.core] += 1
    per_group = cfg.noc.local_queues == "per_group"
    streams = streams_into(plan.workload, plan.mapping) if cfg.noc.input_queues == "per_stream" else {}

    def share(node: int) -> int:
        return queue_share(cap, cfg.noc.fifo_count, groups_on[node] if per_group else 1)

    # ---- instantiate
    kernel = Kernel.new()  # the run's one event kernel, handed to every component
    transport = make_transport(cfg, kernel, plan.topology, plan.routing)
    chip_slices = {key: LayerSlice(spec, policy, chunks[spec.layer]) for key, spec in el.specs}
    by_core: dict[int, list[LayerSlice]] = defaultdict(list)
    for sl in chip_slices.values():
        by_core[sl.node].append(sl)
    trace: list[tuple] = []
    recorder = trace.append if record else None  # rows: (node, thread, name, start, end[, step, fired])
    # the interfaces' buffers are timing constraints in at, and in lt with run.lt_backpressure (a full output
    # queue stalls its producer; the transport admits a train into the input FIFOs only when they have room)
    bounded = at or (cfg.run.mode == "lt" and cfg.run.lt_backpressure)
    nis = {
        node: NetworkInterface(
            kernel,
            node,
            cap,
            bounded,
            sorted({s.layer for s in by_core[node]}) if per_group else None,
            share(node),
            streams.get(node),
            cfg.noc.fifo_count,
        )
        for node in sorted(by_core)
    }
    cores = {
        node: NeuralCore(
            kernel,
            node,
            el.pes[node],
            by_core[node],
            nis[node],
            batch,
            recorder,
            oldest_first=cfg.schedule.core_arbitration == "oldest_step",
            parallel=cfg.pe.layer_groups == "parallel",
        )
        for node in sorted(by_core)
    }
    # ---- bind: each interface's input channel to the transport, its output to the transport and its
    # arrivals to its core; the output layer's slices to the answer watch
    for node, ni in nis.items():
        transport.bind_inbox(node, ni.inbox)
        ni.bind(transport, cores[node].deliver)
    out_layer = plan.workload.output_layer.name
    AnswerWatch(kernel, [sl for sl in chip_slices.values() if sl.layer == out_layer], list(cores.values()))
    return Chip(
        kernel,
        transport,
        nis,
        cores,
        chip_slices,
        el.pes,
        el.costs,
        el.events,
        el.fires,
        el.buffers,
        el.fmt,
        el.payload_bits,
        trace,
    )


def input_port(chip: Chip, capacity_flits: int, name: str = "host.in") -> Channel:
    """Stream the first layer's input into ``chip`` through a bounded channel instead of having it on chip at
    cycle 0 (the brief's assumption): every first-layer slice starts with no input; an item put into the
    returned channel is a flat input position ``upto`` (step-major: ``t * n_in + position``), and the first
    layer may absorb every input spine before it. The channel's credits come back as the item is admitted (the
    spines are then in the core's input path). For components written as SimPy processes:
    docs/EXTENDING.md."""
    firsts = [s for s in chip.slices.values() if s.first]
    for s in firsts:
        s.input_limit = 0
    cores = sorted({s.node for s in firsts})
    ch = Channel(chip.kernel, capacity_flits, name)

    def admit(item: Any) -> None:
        upto = int(item)
        for node in cores:
            chip.cores[node].admit_input(upto)
        ch.release(ch.used)  # the admitted spines left the channel

    ch.sink = admit
    return ch
