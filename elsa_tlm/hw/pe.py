"""Processing element: its buffers, and what one layer slice costs the PEs of its core per input and output spine.

A :class:`ProcessingElement` owns its SRAM buffers (:class:`~elsa_tlm.hw.sram.SramMacro`: the N-way weight
buffer, membranes, tracers, input queues), its 128 neuron circuits and the column tile of each slice mapped
on its core. A core's PEs hold disjoint column tiles of a slice and receive every input spike over the core's
broadcast bus: the bus writes a spike into all PEs' input buffers in the same cycle, so their queues hold the
same targets and flush the same mini-batches, and a PE that is not ready (fewer columns done) holds the bus.
They therefore work in lock-step on the same spike stream and the widest PE (c columns) sets the time; a
narrower PE idles for the difference, which :class:`ProcessingElement` counts. The PE timing comes from the
components it is built of (ELSA_BRIEF §3):

* **absorbing an input spine** (Gustavson): the router's im2col unit writes its expanded spikes into the input
  buffer at ``WRITE_SPIKES_PER_CYCLE`` per cycle while the buffer flushes the mini-batches that eviction and
  full queues force (:mod:`elsa_tlm.hw.input_buffer`: one cycle per mini-batch with the N-way weight
  buffer); each flush runs once per lane pass (ceil(c / L), L = the adder lanes of the slice's lane group).
  The two overlap: the slower sets the time. The write cycles are also reported apart (``write``): the im2col
  unit is shared by a core's lane groups (:mod:`elsa_tlm.hw.core`).
* **firing an output spine** (membrane row): the final flush of what is left in its queue, whose write-back
  goes through the fire unit (a *fused* fire: no cycle of its own); a row with nothing left to flush takes
  its own fire pass (``pe.fire_cycles`` per lane pass). A row is fired in a step only if it received input in
  that step or emitted a spike in the step before (:func:`fire_mask`); otherwise it cannot fire.
* ``outer``: every expanded event is one cycle (a membrane read-modify-write each), no mini-batches.
* ``inner``: every row with input or a possible fire reads all K weight rows in ceil(K / N) cycles (dense
  reads); the adder trees add only the rows an input spike meets; the fire rides on the write-back.

Energy actions are counted from the same flushes, so timing and energy agree (docs/MODEL.md §4): each PE's
macros count the row accesses its own columns make, and the energy ledger charges the SRAM from them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from elsa_tlm.hw.im2col import WRITE_SPIKES_PER_CYCLE
from elsa_tlm.hw.input_buffer import BufferResult, simulate_buffer
from elsa_tlm.hw.sram import OPERAND, SramMacro
from elsa_tlm.schedule.orders import Windows
from elsa_tlm.snn.products import ActionCounts


@dataclass
class ProcessingElement:
    """One PE of a core: 128 neuron circuits (ST-BIF, 16-input adder trees), its SRAM buffers, and the output
    columns (tile) it holds of each layer slice mapped on its core.

    It is driven by its core in lock-step with the other PEs (module docstring): in a transaction of a slice
    its circuits compute its own tile's lane passes and wait for the widest PE for the rest; ``busy_cycles``
    counts the cycles they computed (the core adds them, :meth:`share` of each transaction).
    """

    core: int
    index: int
    macros: dict[str, SramMacro]
    circuits: int = 128
    tiles: dict[str, int] = dataclasses.field(default_factory=dict)  # slice name -> columns held
    lanes: dict[str, int] = dataclasses.field(default_factory=dict)  # slice name -> neuron circuits given
    busy_cycles: float = 0.0

    def passes(self, owner: str, block: int = 0) -> int:
        """Lane passes of one row of ``owner``'s tile (a spike x spike row spans ``block`` columns at most)."""
        c = self.tiles.get(owner, 0)
        if block:
            c = min(c, block)
        return -(-c // max(1, self.lanes.get(owner, self.circuits))) if c > 0 else 0

    def share(self, owner: str, widest: int, block: int = 0) -> float:
        """The fraction of a transaction of ``owner`` its circuits compute (the widest PE makes ``widest``
        lane passes per row; lock-step)."""
        return self.passes(owner, block) / widest if widest else 0.0


@dataclass
class LayerStream:
    """The input stream of one layer: which spikes reach which membrane rows, in absorption order."""

    counts: np.ndarray  # (T, n_in) spikes per input spine
    order: np.ndarray  # (n_in,) absorption order (the producer's emission order)
    fan_ptr: np.ndarray  # (n_in + 1,) CSR input spine -> targets
    fan_tgt: np.ndarray
    fan_kofs: np.ndarray  # kernel offset of each (input, target) pair
    release_after: np.ndarray  # (n_out,) position in ``order`` after which each target's window is complete
    events: np.ndarray  # (T, n_out) expanded events per membrane row
    fires: np.ndarray  # (T, n_out) bool: the row is fired in that step
    channels: list[list[np.ndarray]] | None  # per step, per input spine: channels of its spikes (functional)
    cin: int
    k_rows: int  # K: weight rows of the layer

    @property
    def fanout(self) -> np.ndarray:
        return np.diff(self.fan_ptr)


def fire_mask(events: np.ndarray, emitted_rows: np.ndarray | None) -> np.ndarray:
    """Rows fired per step: input in the step, or a spike emitted in the step before.

    Exact for ST-BIF: a row that neither receives input nor fired in the previous step has the state of its
    last evaluation, which produced no spike, so it cannot fire now. ``emitted_rows`` (T, n_out): spikes each
    row emitted (None: unknown, then every row that ever had input keeps firing).
    """
    fires = events > 0
    if emitted_rows is not None:
        fires[1:] |= emitted_rows[:-1] > 0
        fires |= (
            emitted_rows > 0
        )  # a row that emits was fired (a bias, the initial membrane, fires at step 0)
    else:
        fires |= np.cumsum(events, axis=0) > 0
    return fires


def emitted_rows(emitted: np.ndarray | None, n_out: int, pool: Windows | None) -> np.ndarray | None:
    """Per (step, membrane row) whether the row emitted, from what the layer sent (after its fused pool:
    a pooled spine that carries spikes marks every row of its pooling window)."""
    if emitted is None:
        return None
    T = emitted.shape[0]
    e = emitted.reshape(T, -1)
    if pool is None:
        return e if e.shape[1] == n_out else None
    rows = np.zeros((T, n_out), dtype=bool)
    hit = e[:, pool.pair_out] > 0  # (T, pairs): pooled output of each (row, pooled) pair emitted
    np.logical_or.at(rows, (slice(None), pool.pair_in), hit)
    return rows


def layer_stream(
    counts: np.ndarray,
    windows: Windows,
    order: np.ndarray,
    events: np.ndarray,
    fires: np.ndarray,
    cin: int,
    k_rows: int,
    signed: np.ndarray | None = None,
) -> LayerStream:
    """Build the stream of a layer from its input counts (T, n_in), windows and absorption order.

    ``signed`` (T, C, H, W): the input entries themselves (functional activity); their non-zero channels
    are the exact weight rows of the spikes.
    """
    T = counts.shape[0]
    channels = None
    if signed is not None:
        s = signed.reshape(T, signed.shape[1], -1)
        channels = [[np.flatnonzero(s[t, :, i]) for i in range(s.shape[2])] for t in range(T)]
    return LayerStream(
        counts=counts,
        order=order,
        fan_ptr=windows.rev_ptr,
        fan_tgt=windows.rev_idx,
        fan_kofs=windows.pair_kofs,
        release_after=windows.release_after(order),
        events=events,
        fires=fires,
        channels=channels,
        cin=cin,
        k_rows=k_rows,
    )


def run_buffer(
    stream: LayerStream,
    queues: int,
    depth: int,
    ways: int,
    access_cycles: int,
    weight_buffer: str = "nway",
    raw_hazard: str = "forward",
) -> BufferResult:
    """The input buffer's flushes for this stream (``queues`` = the queues the slice's layer gets)."""
    n_out = stream.events.shape[1]
    return simulate_buffer(
        stream.counts,
        stream.order,
        stream.fan_ptr,
        stream.fan_tgt,
        stream.fan_kofs,
        stream.release_after,
        n_out,
        queues=queues,
        depth=depth,
        ways=ways,
        hazard=2 * access_cycles,  # without forwarding: the row's read and write-back
        channels=stream.channels,
        cin=stream.cin,
        weight_buffer=weight_buffer,
        raw_hazard=raw_hazard,
    )


@dataclass
class SliceCosts:
    """Cycles and actions of one layer slice on its core."""

    absorb: np.ndarray  # (T, n_in) cycles to absorb each whole input spine
    write: np.ndarray  # (T, n_in) of those, cycles the router's im2col unit writes the spine's spikes
    fire: np.ndarray  # (T, n_out) cycles to fire each output spine (0: nothing to do)
    actions: ActionCounts  # all PEs of the slice, whole run
    adder_lane_acts: float  # full adder-tree activations equivalent: rows summed / 16 × lanes used / 128
    queue_spikes: int  # expanded spikes written into (and read from) each active PE's input buffer
    flushes: int
    evictions: int
    spikes_flushed: int
    passes: int
    # transformer units (router): spiking softmax and layer-norm activations (128 lanes), 16-lane additions,
    # and macro-row writes of a spike x spike product's dynamic operand into weight memory
    softmax_acts: int = 0
    layernorm_acts: int = 0
    accumulator_ops: int = 0
    operand_writes: int = 0


def slice_costs(
    product: str,
    stream: LayerStream,
    buf: BufferResult | None,
    pes: list[ProcessingElement],
    owner: str,
    layer: str,
    lanes: int,
    ways: int,
    fire_cycles: int,
    words: int,
    kind: str = "conv",
    row_block: int = 0,
    softmax: tuple[int, int] | None = None,
    accumulator_lanes: int = 16,
) -> SliceCosts:
    """Per-spine cycles and whole-run actions of the slice ``owner`` (of ``layer``) whose tiles the core's
    ``pes`` hold, with ``lanes`` neuron circuits per PE (its lane group). Each PE's macros count the row
    accesses of its own tile, under ``layer``.

    Transformer layers: ``kind = "matmul_ss"`` with ``row_block`` (a spike's weight row spans one head's
    block of columns: lane passes over that block only) also writes every input spike into its dynamic
    operand's tracer (one weight-memory row read-modify-write, N banks in parallel); ``softmax = (heads,
    width)`` adds the router's softmax unit (one 128-lane activation per cycle) per fired row; ``kind =
    "add_norm"`` has no weights: the router's 16-lane adder takes the spikes, the layer-norm unit (one
    128-lane activation per cycle) and the fire pass run per fired row.
    """
    if kind == "add_norm":
        return _add_norm_costs(stream, pes, owner, layer, lanes, fire_cycles, words, accumulator_lanes)
    pe_cols = [pe.tiles.get(owner, 0) for pe in pes]
    c = max(pe_cols)
    block = min(c, row_block) if row_block else c
    passes = -(-block // lanes)  # a mini-batch's lane passes: a weight row spans one head's block at most
    fire_passes = -(-c // lanes)  # the fire pass covers the whole row
    T = stream.counts.shape[0]
    writes = stream.counts * stream.fanout[None, :]  # expanded spikes written per input spine
    write_cycles = -(-writes // WRITE_SPIKES_PER_CYCLE)
    fires = stream.fires
    ev = stream.events
    n_fired = int(fires.sum())
    if product == "gustavson":
        assert buf is not None
        flush_by_input = np.zeros_like(buf.absorb_flush)
        flush_by_input[:, stream.order] = buf.absorb_flush  # positions -> input spine indices
        absorb = np.maximum(write_cycles, passes * flush_by_input)
        # the fire unit works on the row the final flush writes back: a fused fire costs no cycle of its
        # own (only the lane passes of columns the flush did not cover); a fire with nothing to ride on
        # takes its own pass over the row
        fused_rows = fires & (buf.final_spikes > 0)
        fire = passes * buf.final_cycles + fire_cycles * (
            fire_passes * (fires & ~fused_rows) + (fire_passes - passes) * fused_rows
        )
        flushes, evictions, spikes = buf.flushes, buf.evictions, buf.spikes
        fused = int(np.count_nonzero(fused_rows))
        mini_batches = flushes
        row_rmw = buf.membrane_rmw  # chains of mini-batches on one row (forwarding) or mini-batches (stall)
        adds = spikes  # rows the adder trees sum: one per spike
    elif product == "outer":
        absorb = np.maximum(write_cycles, passes * writes).astype(float)
        fire = fire_passes * fire_cycles * fires.astype(float)
        flushes = mini_batches = row_rmw = int(ev.sum())
        evictions, spikes, fused = 0, int(ev.sum()), 0
        adds = spikes
    else:  # inner: every row that has input or can fire reads all K weight rows, spikes or not
        k_passes = -(-stream.k_rows // ways)
        absorb = write_cycles.astype(float)
        computed = (ev > 0) | fires
        # the row's fire rides on its write-back (fused, as in the energy ledger)
        fire = (passes * k_passes + (fire_passes - passes) * fire_cycles) * computed.astype(float)
        n_rows = int(computed.sum())
        mini_batches = n_rows * k_passes
        flushes, evictions, spikes, fused = n_rows, 0, int(ev.sum()), n_rows
        row_rmw = n_rows
        n_fired = n_rows
        adds = spikes  # the dense weight rows are read, but only those an input spike meets are added
    operand_writes = 0
    if kind == "matmul_ss":  # each arriving spike updates its operand's accumulated tracer (weight memory)
        operand_writes = int(stream.counts.sum())
        absorb = absorb + (-(-stream.counts // ways))
    softmax_acts = 0
    if softmax is not None:
        heads, width = softmax
        per_row = heads * -(-width // 128)
        fire = fire + per_row * fires
        softmax_acts = int(fires.sum()) * per_row
    actions = ActionCounts()
    lane_acts = 0.0
    queue_spikes = int(writes.sum())  # every product writes the expanded spikes into the input buffer
    frac = min(1.0, row_block / max(1, sum(pe_cols))) if row_block else 1.0  # columns a weight row touches
    for pe in pes:
        col_all = pe.tiles.get(owner, 0)
        if col_all <= 0:
            continue
        macros = pe.macros
        col = col_all * frac  # columns a weight row (mini-batch) touches; the fire pass touches all col_all
        wr = -(-int(np.ceil(col)) // words)
        bl = -(-int(np.ceil(col)) // 128)
        wr_row, bl_row = -(-col_all // words), -(-col_all // 128)
        # weight rows read: one per spike (Gustavson, outer), K per computed row (inner: dense reads)
        reads = spikes if product != "inner" else n_rows * stream.k_rows
        # each membrane read-modify-write covers its row's touched words; a fire pass not fused with a final
        # flush reads+writes the whole row, a fused one the words the flush did not touch
        mem = row_rmw * wr + (n_fired - fused) * wr_row + fused * (wr_row - wr)
        actions = actions + ActionCounts(
            weight_row_reads=reads * wr,
            membrane_row_reads=mem,
            membrane_row_writes=mem,
            tracer_reads=n_fired * wr_row,
            tracer_writes=n_fired * wr_row,
            adder_activations=mini_batches * bl,
            fire_activations=n_fired * bl_row,
            mini_batches=mini_batches,
        )
        # an adder-tree activation sums up to 16 rows over 128 lanes; it is charged for the rows it sums and
        # the lanes it uses (an outer-product event adds one row: 1/16 of a full activation)
        lane_acts += adds * col / (16 * 128)
        macros["weight"].read(reads * wr, layer)
        macros["membrane"].read(mem, layer)
        macros["membrane"].write(mem, layer)
        macros["tracer"].read(n_fired * wr_row, layer)
        macros["tracer"].write(n_fired * wr_row, layer)
        macros["input_queue"].write(queue_spikes, layer)
        macros["input_queue"].read(queue_spikes, layer)
    if operand_writes:  # the operand's tracer row, N banks in parallel, in the first PE holding a tile
        holder = next(pe for pe in pes if pe.tiles.get(owner, 0) > 0)
        holder.macros["weight"].read(operand_writes, OPERAND + layer)
        holder.macros["weight"].write(operand_writes, OPERAND + layer)
    assert absorb.shape == (T, stream.counts.shape[1])
    return SliceCosts(
        absorb=absorb.astype(float),
        write=write_cycles.astype(float),
        fire=fire.astype(float),
        actions=actions,
        adder_lane_acts=lane_acts,
        queue_spikes=queue_spikes,
        flushes=int(flushes) if product == "gustavson" else 0,
        evictions=int(evictions),
        spikes_flushed=int(spikes) if product == "gustavson" else 0,
        passes=passes,
        softmax_acts=softmax_acts,
        operand_writes=operand_writes,
    )


def _add_norm_costs(
    stream: LayerStream,
    pes: list[ProcessingElement],
    owner: str,
    layer: str,
    lanes: int,
    fire_cycles: int,
    words: int,
    acc_lanes: int,
) -> SliceCosts:
    """Residual addition then spiking layer norm: no weights, no mini-batches. The router's adder takes
    ``acc_lanes`` spikes per cycle; a token that fires goes through the layer-norm unit (ceil(C/128)
    activations, one per cycle) and the fire pass of its ST-BIF neurons (differential form)."""
    pe_cols = [pe.tiles.get(owner, 0) for pe in pes]
    c = max(pe_cols)
    passes = -(-c // lanes)
    C = sum(pe_cols)
    fires = stream.fires
    n_fired = int(fires.sum())
    absorb = (-(-stream.counts // acc_lanes)).astype(float)
    ln = -(-C // 128)
    fire = (ln + passes * fire_cycles) * fires.astype(float)
    actions = ActionCounts()
    for pe in pes:
        col = pe.tiles.get(owner, 0)
        if col <= 0:
            continue
        macros = pe.macros
        wr, bl = -(-col // words), -(-col // 128)
        actions = actions + ActionCounts(
            membrane_row_reads=n_fired * wr,
            membrane_row_writes=n_fired * wr,
            tracer_reads=n_fired * wr,
            tracer_writes=n_fired * wr,
            fire_activations=n_fired * bl,
        )
        macros["membrane"].read(n_fired * wr, layer)
        macros["membrane"].write(n_fired * wr, layer)
        macros["tracer"].read(n_fired * wr, layer)
        macros["tracer"].write(n_fired * wr, layer)
    return SliceCosts(
        absorb=absorb,
        write=np.zeros_like(absorb),  # the router's adder takes the spikes, not the im2col unit
        fire=fire.astype(float),
        actions=actions,
        adder_lane_acts=0.0,
        queue_spikes=0,
        flushes=0,
        evictions=0,
        spikes_flushed=0,
        passes=passes,
        layernorm_acts=n_fired * ln,
        accumulator_ops=int(absorb.sum()),
    )


def restrict(stream: LayerStream, targets: np.ndarray) -> LayerStream:
    """The stream of a row band: the same input spines, only the records whose target is in ``targets``
    (renumbered 0..len(targets)-1 in that order)."""
    n_out = stream.events.shape[1]
    local = np.full(n_out, -1, dtype=np.int64)
    local[targets] = np.arange(targets.size)
    n_in = stream.fan_ptr.size - 1
    src = np.repeat(np.arange(n_in), np.diff(stream.fan_ptr))
    keep = local[stream.fan_tgt] >= 0
    fan_ptr = np.concatenate([[0], np.cumsum(np.bincount(src[keep], minlength=n_in))]).astype(np.int64)
    return dataclasses.replace(
        stream,
        fan_ptr=fan_ptr,
        fan_tgt=local[stream.fan_tgt[keep]],
        fan_kofs=stream.fan_kofs[keep],
        release_after=stream.release_after[targets],
        events=stream.events[:, targets],
        fires=stream.fires[:, targets],
    )
