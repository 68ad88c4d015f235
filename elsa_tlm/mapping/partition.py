"""Partition: split big layers column-wise over cores, then greedily merge slices that share a core.

Memory is counted in SRAM macros (64 rows × 16 words): per PE, a slice with ``c`` columns needs
``ceil(weight_rows·ceil(c/16)/64)`` weight macros, ``ceil(spines·ceil(c/16)/64)`` membrane and tracer
macros. A layer's output channels are split evenly over its cores and, inside a core, over the 4 PEs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from elsa_tlm.config import Config
from elsa_tlm.errors import MappingError
from elsa_tlm.hw.capacity import CoreCapacity
from elsa_tlm.hw.im2col import WRITE_SPIKES_PER_CYCLE
from elsa_tlm.workload.graph import Layer, Workload


@dataclass
class Slice:
    """Output channels [col_lo, col_hi) of one layer, placed on one core."""

    layer: str
    index: int
    n_slices: int
    col_lo: int
    col_hi: int
    pe_cols: list[int]  # columns held by each PE of the core
    weight_macros: int  # per PE (the fullest PE)
    membrane_macros: int
    tracer_macros: int
    circuits: int  # neuron circuits per PE this slice needs to run without time-multiplexing
    lanes: int = 0  # neuron circuits per PE it gets (set after partitioning)
    core: int = -1  # partition id, then topology node after placement
    row_lo: int = 0  # output rows [row_lo, row_hi) of a row-band slice (all rows: row_hi = -1)
    row_hi: int = -1

    @property
    def is_band(self) -> bool:
        return self.row_hi >= 0

    @property
    def cols(self) -> int:
        return self.col_hi - self.col_lo

    @property
    def max_pe_cols(self) -> int:
        return max(self.pe_cols)


def _split(n: int, parts: int) -> list[int]:
    base, extra = divmod(n, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def slice_needs(
    layer: Layer, cols: int, cap: CoreCapacity, spines: int | None = None
) -> tuple[list[int], int, int, int, int]:
    """Per-PE macros (weights, membranes, tracers) and neuron circuits of a slice with ``cols`` columns and
    ``spines`` output spines (default: all of the layer's).

    Storage is packed: a PE with c < 16 columns shares one 16-word macro row between 16 // c spines
    (or weight rows), so rows = ceil(entries × c / 16); accesses still cost whole macro rows.
    """
    pe_cols = _split(cols, cap.pes)
    c = max(pe_cols)
    n = layer.n_out if spines is None else spines
    w = math.ceil(math.ceil(layer.weight_rows * c / cap.words) / cap.rows)
    m = math.ceil(math.ceil(n * c / cap.words) / cap.rows)
    return pe_cols, w, m, m, min(c, cap.neuron_circuits)  # tracer rows = membrane rows


def fits(w: int, m: int, t: int, cap: CoreCapacity) -> bool:
    """Macros per PE fit. Weights beyond the weight buffer may spill into unused membrane macros, each
    holding ``cap.spill_ratio`` weight-macro rows (membrane_bits / weight_bits); see docs/MODEL.md."""
    if m > cap.membrane_macros or t > cap.tracer_macros:
        return False
    return w <= cap.weight_macros + (cap.membrane_macros - m) * cap.spill_ratio


def split_columns(layer: Layer, cap: CoreCapacity) -> list[Slice]:
    """Fewest equal column slices of ``layer`` that each fit one core."""
    for k in range(1, layer.cout + 1):
        cols = _split(layer.cout, k)
        needs = [slice_needs(layer, c, cap) for c in cols]
        if all(fits(n[1], n[2], n[3], cap) for n in needs):
            out, lo = [], 0
            for i, (c, n) in enumerate(zip(cols, needs, strict=True)):
                out.append(Slice(layer.name, i, k, lo, lo + c, n[0], n[1], n[2], n[3], n[4]))
                lo += c
            return out
    pe_cols, w, m, t, _ = slice_needs(layer, 1, cap)
    raise MappingError(
        f"layer {layer.name} does not fit: even one column per core needs per PE "
        f"{w} weight / {m} membrane / {t} tracer macros; a PE has {cap.weight_macros} / "
        f"{cap.membrane_macros} / {cap.tracer_macros}"
    )


def band_align(layer: Layer) -> int:
    """Row-band boundaries fall on multiples of the fused pool's stride (a pooled row stays in one band,
    except for the one row an overlapping pool window shares across a boundary)."""
    return layer.out_pool.stride if layer.out_pool is not None else 1


def row_splittable(layer: Layer) -> bool:
    """A convolution with a spatial output grid of more than one row can be split into row bands."""
    return layer.kind == "conv" and layer.out_hw[0] > 1


def split_rows(layer: Layer, cap: CoreCapacity, bands: int = 1) -> list[Slice] | None:
    """At least ``bands`` row bands of ``layer`` (all columns each), the fewest that fit one core each;
    None when the weights alone do not fit a core (a row band holds all of them) or bands cannot be cut."""
    oh, ow = layer.out_hw
    align = band_align(layer)
    units = -(-oh // align)
    for k in range(max(1, bands), units + 1):
        per = _split(units, k)
        rows, lo = [], 0
        for u in per:
            hi = min(oh, lo + u * align)
            rows.append((lo, hi))
            lo = hi
        needs = [slice_needs(layer, layer.cout, cap, (hi - lo) * ow) for lo, hi in rows]
        if needs[0][1] > cap.weight_macros + cap.membrane_macros * cap.spill_ratio:
            return None
        if all(fits(n[1], n[2], n[3], cap) for n in needs):
            return [
                Slice(layer.name, i, k, 0, layer.cout, n[0], n[1], n[2], n[3], n[4], row_lo=lo, row_hi=hi)
                for i, ((lo, hi), n) in enumerate(zip(rows, needs, strict=True))
            ]
    return None


def split_layer(layer: Layer, cap: CoreCapacity, mode: str = "columns", bands: int = 1) -> list[Slice]:
    """The slices of ``layer``: column slices (ELSA), or row bands (``rows``; ``auto``: for wide, shallow
    layers with more output spines than channels) when the layer can be cut that way."""
    rows = mode == "rows" or (mode == "auto" and layer.n_out > layer.cout)
    if rows and row_splittable(layer):
        out = split_rows(layer, cap, bands)
        if out is not None:
            return out
    return split_columns(layer, cap)


@dataclass(frozen=True)
class Loads:
    """What the layers ask of a core over a run, from the measured activity: the cycles of the shared im2col
    write port (expanded events / 32 per cycle) and of the PEs (one mini-batch of N spikes per cycle, one
    fire per row and step). The greedy merge uses them so that no co-mapped layer waits for the write port."""

    events: dict[str, float]  # expanded input events per layer
    ways: int
    time_steps: int

    def write(self, layer: Layer, s: Slice) -> float:
        """Write-port cycles of a slice: every input spike of its layer (of its rows, for a row band)."""
        return self.events[layer.name] * self._rows(layer, s) / WRITE_SPIKES_PER_CYCLE

    def pe(self, layer: Layer, s: Slice) -> float:
        """PE cycles of a slice with all the lanes it needs (lock-step PEs: the slice's columns run in
        parallel): its mini-batches and its fires."""
        rows = self._rows(layer, s)
        return (self.events[layer.name] / self.ways + self.time_steps * layer.n_out) * rows

    @staticmethod
    def _rows(layer: Layer, s: Slice) -> float:
        return (s.row_hi - s.row_lo) / layer.out_hw[0] if s.is_band else 1.0


@dataclass
class Partition:
    """Slices that share one core."""

    slices: list[Slice] = field(default_factory=list)

    def totals(self) -> tuple[int, int, int, int]:
        return (
            sum(s.weight_macros for s in self.slices),
            sum(s.membrane_macros for s in self.slices),
            sum(s.tracer_macros for s in self.slices),
            sum(s.circuits for s in self.slices),
        )

    @property
    def layers(self) -> set[str]:
        return {s.layer for s in self.slices}


def partition(
    wl: Workload,
    cfg: Config,
    n_cores: int,
    traffic: dict[tuple[str, str], float],
    bands: dict[str, int] | None = None,
    loads: Loads | None = None,
) -> list[Partition]:
    """Split layers, then merge partitions along the heaviest producer→consumer flows while they fit.

    Phase 1 is ELSA's greedy rule (ELSA_BRIEF §5): two partitions merge "if their total memory and
    neuron-circuit needs still fit one core". ``mapping.merge = "port_aware"`` (a what-if) adds, with
    ``loads``, that the merged core's shared im2col write port must carry all its layers' writes within the PE
    time of each of them. Phase 2, only if there are more partitions than cores, merges on memory alone, and
    phase 3 merges neighbours in execution order: what the brief leaves open, so that a network too big for
    phase 1 still maps. The slices of a core then divide each PE's neuron circuits (:func:`assign_lanes`).
    """
    cap = CoreCapacity.from_config(cfg)
    bands = bands or {}
    mode = cfg.mapping.split
    slices = [s for layer in wl.layers for s in split_layer(layer, cap, mode, bands.get(layer.name, 1))]
    parts = [Partition([s]) for s in slices]
    owner = {id(s): i for i, s in enumerate(slices)}
    pmax = cfg.mapping.max_layers_per_core
    by_layer: dict[str, list[Slice]] = {}
    for s in slices:
        by_layer.setdefault(s.layer, []).append(s)
    pairs = sorted(traffic.items(), key=lambda kv: (-kv[1], kv[0]))
    # phase 1 with loads: the shared im2col write port of a merged core carries the writes of all its layers
    # (w_j cycles each) within the PE time p_i of every one of them, so no layer waits for the port however
    # their work overlaps: sum_j w_j <= min_i p_i
    write: dict[int, float] = {}  # per slice: write-port cycles
    pe_load: dict[int, float] = {}  # per slice: PE cycles
    if loads is not None:
        write = {id(s): loads.write(wl.by_name[s.layer], s) for s in slices}
        pe_load = {id(s): loads.pe(wl.by_name[s.layer], s) for s in slices}

    def port_fits(members: list[Slice]) -> bool:
        if not write or cfg.mapping.merge != "port_aware":
            return True
        total = sum(write[id(s)] for s in members)
        return all(total <= pe_load[id(s)] for s in members)

    def try_merges(need_circuits: bool) -> None:
        for (src, dst), _ in pairs:
            if len([p for p in parts if p.slices]) <= (n_cores if not need_circuits else 0):
                return
            for a in by_layer.get(src, []):
                for b in by_layer.get(dst, []):
                    ia, ib = owner[id(a)], owner[id(b)]
                    if ia == ib:
                        continue
                    pa, pb = parts[ia], parts[ib]
                    if pa.layers & pb.layers or len(pa.layers | pb.layers) > pmax:
                        continue
                    w, m, t, c = (x + y for x, y in zip(pa.totals(), pb.totals(), strict=True))
                    if not fits(w, m, t, cap) or (need_circuits and c > cap.neuron_circuits):
                        continue
                    if need_circuits and not port_fits(pa.slices + pb.slices):
                        continue
                    for s in pb.slices:
                        owner[id(s)] = ia
                    pa.slices.extend(pb.slices)
                    pb.slices = []

    def merge_neighbours() -> None:
        """Phase 3: partitions next to each other in execution order merge (the smallest pair first) while
        they fit, until the network fits the routers."""
        order = {la.name: la.index for la in wl.layers}
        while sum(1 for p in parts if p.slices) > n_cores:
            live = sorted((p for p in parts if p.slices), key=lambda p: min(order[s.layer] for s in p.slices))
            best = None
            for pa, pb in zip(live, live[1:], strict=False):
                if pa.layers & pb.layers or len(pa.layers | pb.layers) > pmax:
                    continue
                w, m, t, c = (x + y for x, y in zip(pa.totals(), pb.totals(), strict=True))
                if fits(w, m, t, cap) and (best is None or w + m < best[0]):
                    best = (w + m, pa, pb)
            if best is None:
                return
            _, pa, pb = best
            pa.slices.extend(pb.slices)
            pb.slices = []

    how = cfg.mapping.partition
    if how == "elsa":  # ELSA's rules: three cores per block for a transformer, the greedy merge for a CNN
        how = "vit_blocks" if any(la.kind == "matmul_ss" for la in wl.layers) else "greedy"
    if how == "greedy":
        try_merges(need_circuits=True)
        if sum(1 for p in parts if p.slices) > n_cores:
            try_merges(need_circuits=False)
        if sum(1 for p in parts if p.slices) > n_cores:
            merge_neighbours()
    elif how == "vit_blocks":
        parts = vit_block_groups(wl, slices, cap)
    result = [p for p in parts if p.slices]
    if len(result) > n_cores:
        side = math.ceil(math.sqrt(len(result)))
        hint = f"try a larger noc.topology, e.g. mesh:{side}x{side}"
        if wl.is_transformer:
            hint += ", or mapping.partition=vit_blocks (ELSA's three cores per block)"
        raise MappingError(
            f"{wl.model} needs {len(result)} cores after partitioning but the topology has {n_cores} ({hint})"
        )
    for i, p in enumerate(result):
        for s in p.slices:
            s.core = i
        assign_lanes(p, cap.neuron_circuits, cfg.mapping.lanes)
    return result


def assign_lanes(p: Partition, circuits: int, how: str) -> None:
    """Divide each PE's ``circuits`` neuron circuits among the core's L slices (lane groups).

    ``equal`` (ELSA_BRIEF §3): "with L layers, a layer gets about 128/L lanes per PE, and a row of c output
    columns takes ⌈c/(128/L)⌉ lane passes": ⌊circuits / L⌋ each, whatever the slices need. ``by_need`` (a
    what-if): each slice the circuits its widest PE tile needs, shrunk in proportion when they do not all fit.
    """
    L = len(p.slices)
    total = sum(s.circuits for s in p.slices)
    for s in p.slices:
        if how == "equal":
            s.lanes = max(1, circuits // L)
        elif total <= circuits:
            s.lanes = s.circuits
        else:
            s.lanes = max(1, int(np.floor(circuits * s.circuits / total)))


VIT_GROUPS = (("q", "k", "qk"), ("v", "av", "proj", "add1"), ("fc1", "fc2"))


def vit_block_groups(wl: Workload, slices: list[Slice], cap: CoreCapacity) -> list[Partition]:
    """ELSA's transformer placement, three cores per block: {q, k, QKᵀ + softmax, the previous block's
    second addition}, {v, A·V, projection, first addition + norm}, {fc1, fc2}. The recording has no patch
    embedding and head; here the embedding joins the first block's second core, the head the last block's
    second core and the last addition its MLP core (where they fit). Every group must fit one core (its
    layers unsplit)."""
    group_of: dict[str, tuple[int, int]] = {}
    blocks = sorted({int(la.name.split(".")[1]) for la in wl.layers if la.name.startswith("blocks.")})
    if not blocks:
        raise MappingError(f"{wl.model}: mapping.partition = 'vit_blocks' needs a transformer (blocks.N.op)")
    last = blocks[-1]
    for la in wl.layers:
        parts = la.name.split(".")
        if la.name == "embed":
            group_of[la.name] = (0, 1)
        elif la.name == "head":
            group_of[la.name] = (last, 1)
        elif parts[0] == "blocks":
            b, op = int(parts[1]), parts[2]
            if op == "add2":
                group_of[la.name] = (b + 1, 0) if b < last else (last, 2)
            else:
                group_of[la.name] = (b, next(i for i, g in enumerate(VIT_GROUPS) if op in g))
    groups: dict[tuple[int, int], Partition] = {}
    for s in slices:
        if s.n_slices > 1:
            raise MappingError(
                f"vit_blocks: layer {s.layer} does not fit one core; use mapping.partition=greedy"
            )
        groups.setdefault(group_of[s.layer], Partition()).slices.append(s)
    for key, p in sorted(groups.items()):
        w, m, t, _ = p.totals()
        if not fits(w, m, t, cap):
            raise MappingError(
                f"vit_blocks: block {key[0]} group {sorted(p.layers)} needs {w} weight / {m} membrane macros per "
                f"PE; a PE has {cap.weight_macros} / {cap.membrane_macros} (+ spill)"
            )
    return [groups[k] for k in sorted(groups)]
