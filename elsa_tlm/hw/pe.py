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
macros count the row accesses its own columns make — the one store of SRAM accesses (:func:`macro_counts` reads
a layer's back) — and the PE reports them into the energy ledger (:meth:`ProcessingElement.report`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from elsa_tlm.hw.im2col import WRITE_SPIKES_PER_CYCLE
from elsa_tlm.hw.input_buffer import BufferResult, simulate_buffer
from elsa_tlm.hw.report import ActionSink
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

    def passes(self, owner: str, cols: int | None = None) -> int:
        """Lane passes over ``cols`` columns of ``owner``'s tile (default: the whole tile, a fire pass)."""
        c = self.tiles.get(owner, 0) if cols is None else cols
        return -(-c // max(1, self.lanes.get(owner, self.circuits))) if c > 0 else 0

    def report(self, ledger: ActionSink) -> None:
        """Its macros' row reads and writes into the energy ledger, per owner layer (weight, membrane, tracer,
        input queue)."""
        for mac in self.macros.values():
            mac.report(ledger)


def macro_counts(pes: list[ProcessingElement], owner: str) -> ActionCounts:
    """The SRAM row accesses ``owner`` (a layer) made on ``pes``, read from their macros (the one store of
    them; the datapath's counts are in its :class:`SliceCosts`)."""

    def total(kind: str, counts: str) -> int:
        return sum(getattr(pe.macros[kind], counts)[owner] for pe in pes)

    return ActionCounts(
        weight_row_reads=total("weight", "reads"),
        membrane_row_reads=total("membrane", "reads"),
        membrane_row_writes=total("membrane", "writes"),
        tracer_reads=total("tracer", "reads"),
        tracer_writes=total("tracer", "writes"),
    )


def row_cols(tiles: list[int], block: int = 0) -> list[int]:
    """Columns of one weight row on each PE: the PE's whole tile, or, for a block-diagonal product whose
    weight row spans one head's ``block`` columns (spike x spike attention), that head's share of the PE.

    Tiling is column-wise with the input spikes broadcast (ELSA_BRIEF §3) for every layer: each head's block of
    columns is split evenly over the core's PEs holding the slice (head-interleaved tiles), so a row's work is
    spread over all of them as it is for a convolution's row. The energy ledger and the timing both read the
    columns from here."""
    if not block:
        return list(tiles)
    active = [i for i, c in enumerate(tiles) if c > 0]
    b = min(block, sum(tiles))
    base, extra = divmod(b, max(1, len(active)))
    out = [0] * len(tiles)
    for k, i in enumerate(active):
        out[i] = min(tiles[i], base + (1 if k < extra else 0))
    return out


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
    """Cycles and datapath actions of one layer slice on its core (its SRAM accesses are counted by the PEs'
    macros only: :func:`macro_counts`)."""

    absorb: np.ndarray  # (T, n_in) cycles to absorb each whole input spine
    write: np.ndarray  # (T, n_in) of those, cycles the router's im2col unit writes the spine's spikes
    fire: np.ndarray  # (T, n_out) cycles to fire each output spine (0: nothing to do)
    # all PEs of the slice, whole run: 128-lane fire-unit and adder-tree activations, mini-batches
    fire_activations: int
    adder_activations: int
    mini_batches: int
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
    # the lane passes of a mini-batch of the second operand's spikes (spike x spike products), of a fire pass,
    # the columns of one weight row on each PE (main input, operand: what the ledger charges), each PE's share
    operand_passes: int = 0
    fire_passes: int = 0
    row_cols: list[int] = dataclasses.field(default_factory=list)
    operand_row_cols: list[int] = dataclasses.field(default_factory=list)
    pe_share: list[float] = dataclasses.field(default_factory=list)

    def report(self, ledger: ActionSink, layer: str) -> None:
        """The slice's datapath counts into the energy ledger (owner ``layer``): its PEs' adder trees
        (activations weighted by the fraction of the 128 lanes they use) and fire units, and the router units
        of transformer layers (softmax and layer-norm activations, add_norm's 16-lane additions)."""
        ledger.add("adder_tree", "lane_activation", self.adder_lane_acts, layer)
        ledger.add("fire", "activation", self.fire_activations, layer)
        ledger.add("softmax", "activation", self.softmax_acts, layer)
        ledger.add("layernorm", "activation", self.layernorm_acts, layer)
        ledger.add("accumulator", "add_norm_op", self.accumulator_ops, layer)


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
    operand_block: int = 0,
    operand_frac: np.ndarray | None = None,
) -> SliceCosts:
    """Per-spine cycles and whole-run actions of the slice ``owner`` (of ``layer``) whose tiles the core's
    ``pes`` hold, with ``lanes`` neuron circuits per PE (its lane group). Each PE's macros count the row
    accesses of its own tile, under ``layer``.

    Transformer layers: ``kind = "matmul_ss"`` with ``row_block`` (a main-input spike's weight row spans one
    head's block of columns, tiled over the PEs like every layer's columns, :func:`row_cols`) and
    ``operand_block`` (the row width of a spike of the second operand: A·V's V spikes read rows of A_acc, one
    column per token; ``operand_frac`` (T, n_in): the share of each input spine's spikes that are the
    operand's) also writes every input spike into its dynamic operand's tracer (one weight-memory row
    read-modify-write, N banks in parallel); ``softmax = (heads, width)`` adds the router's softmax unit (one
    128-lane activation per cycle) per fired row; ``kind = "add_norm"`` has no weights: the router's 16-lane
    adder takes the spikes, the layer-norm unit (one 128-lane activation per cycle) and the fire pass run per
    fired row. Timing and energy read the same per-PE row columns, so the lane passes the timing charges are
    those the ledger's accesses imply (tests/test_accounting.py).
    """
    if kind == "add_norm":
        return _add_norm_costs(stream, pes, owner, layer, lanes, fire_cycles, words, accumulator_lanes)
    pe_cols = [pe.tiles.get(owner, 0) for pe in pes]
    c = max(pe_cols)
    main_cols = row_cols(pe_cols, row_block)  # a main-input spike's weight row on each PE
    op_cols = row_cols(pe_cols, operand_block) if operand_block else main_cols
    passes = -(-max(main_cols) // lanes)  # a mini-batch's lane passes on the widest PE (lock-step)
    op_passes = -(-max(op_cols) // lanes)
    fire_passes = -(-c // lanes)  # the fire pass covers the whole row
    T = stream.counts.shape[0]
    # lane passes per mini-batch, per input spine (T, n_in) and per step's final flushes (T, 1): a spine's
    # operand spikes read rows of the operand's width
    if operand_block and operand_frac is not None:
        f_in = operand_frac
        step_f = np.divide(
            (operand_frac * stream.counts).sum(axis=1),
            stream.counts.sum(axis=1),
            out=np.zeros(T),
            where=stream.counts.sum(axis=1) > 0,
        )[:, None]
    else:
        f_in, step_f = np.zeros((1, 1)), np.zeros((1, 1))
    passes_in = passes + (op_passes - passes) * f_in
    passes_fin = passes + (op_passes - passes) * step_f
    writes = stream.counts * stream.fanout[None, :]  # expanded spikes written per input spine
    write_cycles = -(-writes // WRITE_SPIKES_PER_CYCLE)
    fires = stream.fires
    ev = stream.events
    n_fired = int(fires.sum())
    if product == "gustavson":
        assert buf is not None
        flush_by_input = np.zeros_like(buf.absorb_flush)
        flush_by_input[:, stream.order] = buf.absorb_flush  # positions -> input spine indices
        absorb = np.maximum(write_cycles, passes_in * flush_by_input)
        # the fire unit works on the row the final flush writes back: a fused fire costs no cycle of its
        # own (only the lane passes of columns the flush did not cover); a fire with nothing to ride on
        # takes its own pass over the row
        fused_rows = fires & (buf.final_spikes > 0)
        fire = passes_fin * buf.final_cycles + fire_cycles * (
            fire_passes * (fires & ~fused_rows) + np.maximum(fire_passes - passes_fin, 0) * fused_rows
        )
        flushes, evictions, spikes = buf.flushes, buf.evictions, buf.spikes
        fused = int(np.count_nonzero(fused_rows))
        mini_batches = flushes
        row_rmw = buf.membrane_rmw  # chains of mini-batches on one row (forwarding) or mini-batches (stall)
        adds = spikes  # rows the adder trees sum: one per spike
    elif product == "outer":
        absorb = np.maximum(write_cycles, passes_in * writes).astype(float)
        fire = fire_passes * fire_cycles * fires.astype(float)
        flushes = mini_batches = row_rmw = int(ev.sum())
        evictions, spikes, fused = 0, int(ev.sum()), 0
        adds = spikes
    else:  # inner: every row that has input or can fire reads all K weight rows, spikes or not
        k_passes = -(-stream.k_rows // ways)
        absorb = write_cycles.astype(float)
        computed = (ev > 0) | fires
        # the row's fire rides on its write-back (fused, as in the energy ledger)
        fire = (passes_fin * k_passes + np.maximum(fire_passes - passes_fin, 0) * fire_cycles) * computed
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
    fire_acts = adder_acts = batches = 0
    lane_acts = 0.0
    queue_spikes = int(writes.sum())  # every product writes the expanded spikes into the input buffer
    # the operand's share of the spikes, mini-batches and row accesses (whole run): its rows are op_cols wide
    total_in = float(stream.counts.sum())
    F = float((f_in * stream.counts).sum()) / total_in if total_in else 0.0

    def split(n: int) -> tuple[int, int]:
        op = int(round(n * F))
        return n - op, op

    # weight rows read: one per spike (Gustavson, outer), K per computed row (inner: dense reads)
    reads_m, reads_o = split(spikes if product != "inner" else n_rows * stream.k_rows)
    rmw_m, rmw_o = split(int(row_rmw))
    mb_m, mb_o = split(int(mini_batches))
    adds_m, adds_o = split(int(adds))
    fused_m, fused_o = split(fused)
    for pe, col_all, cm, co in zip(pes, pe_cols, main_cols, op_cols, strict=True):
        if col_all <= 0:
            continue
        macros = pe.macros
        # words and 128-lane blocks a weight row touches on this PE (main input, operand); the fire pass
        # touches the whole tile
        wr_m, wr_o = -(-cm // words), -(-co // words)
        bl_m, bl_o = -(-cm // 128), -(-co // 128)
        wr_row, bl_row = -(-col_all // words), -(-col_all // 128)
        touched = rmw_m * wr_m + rmw_o * wr_o
        # each membrane read-modify-write covers its row's touched words; a fire pass not fused with a final
        # flush reads+writes the whole row, a fused one the words the flush did not touch
        mem = (
            touched
            + (n_fired - fused) * wr_row
            + fused_m * max(0, wr_row - wr_m)
            + fused_o * max(0, wr_row - wr_o)
        )
        weight_reads = reads_m * wr_m + reads_o * wr_o
        adder_acts += mb_m * bl_m + mb_o * bl_o
        fire_acts += n_fired * bl_row
        batches += int(mini_batches)
        # an adder-tree activation sums up to 16 rows over 128 lanes; it is charged for the rows it sums and
        # the lanes it uses (an outer-product event adds one row: 1/16 of a full activation)
        lane_acts += (adds_m * cm + adds_o * co) / (16 * 128)
        macros["weight"].read(weight_reads, layer)
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
        fire_activations=fire_acts,
        adder_activations=adder_acts,
        mini_batches=batches,
        adder_lane_acts=lane_acts,
        queue_spikes=queue_spikes,
        flushes=int(flushes) if product == "gustavson" else 0,
        evictions=int(evictions),
        spikes_flushed=int(spikes) if product == "gustavson" else 0,
        passes=passes,
        softmax_acts=softmax_acts,
        operand_writes=operand_writes,
        operand_passes=op_passes,
        fire_passes=fire_passes,
        row_cols=main_cols,
        operand_row_cols=op_cols,
        pe_share=_shares(main_cols, op_cols, lanes, F),
    )


def _shares(main_cols: list[int], op_cols: list[int], lanes: int, op_share: float) -> list[float]:
    """Each PE's share of a transaction's computing (lock-step: the widest PE's lane passes set the time, a
    narrower PE computes its own and waits)."""
    per = [
        (1 - op_share) * -(-m // lanes) + op_share * -(-o // lanes)
        for m, o in zip(main_cols, op_cols, strict=True)
    ]
    widest = max(per)
    return [p / widest if widest else 0.0 for p in per]


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
    fire_acts = 0
    for pe in pes:
        col = pe.tiles.get(owner, 0)
        if col <= 0:
            continue
        macros = pe.macros
        wr, bl = -(-col // words), -(-col // 128)
        fire_acts += n_fired * bl
        macros["membrane"].read(n_fired * wr, layer)
        macros["membrane"].write(n_fired * wr, layer)
        macros["tracer"].read(n_fired * wr, layer)
        macros["tracer"].write(n_fired * wr, layer)
    return SliceCosts(
        absorb=absorb,
        write=np.zeros_like(absorb),  # the router's adder takes the spikes, not the im2col unit
        fire=fire.astype(float),
        fire_activations=fire_acts,
        adder_activations=0,
        mini_batches=0,
        adder_lane_acts=0.0,
        queue_spikes=0,
        flushes=0,
        evictions=0,
        spikes_flushed=0,
        passes=passes,
        layernorm_acts=n_fired * ln,
        accumulator_ops=int(absorb.sum()),
        fire_passes=passes,
        row_cols=list(pe_cols),
        operand_row_cols=list(pe_cols),
        pe_share=[(-(-x // lanes)) / passes if passes else 0.0 for x in pe_cols],
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
