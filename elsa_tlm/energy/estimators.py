"""One list of the blocks a neural core is built from: their count, area and leakage (per block class).

Area (:mod:`elsa_tlm.energy.area`) and leakage (:class:`~elsa_tlm.energy.model.EnergyModel`) both read this
list, so a block cannot be in one and missing from the other. A :class:`Block` is a class of physical blocks
with a count per core (from the configuration and the core's capacity) and the area and leakage of one block
from the 28 nm table (``elsa_tlm/data/elsa_28nm.toml``):

* PE macros: the macros a PE provides (``CoreCapacity``) × the macro of the buffer technology; the input
  buffer is ``input_queues`` queues of ``input_queue_depth`` entries, one 16-row input-queue macro per 16
  entries of a queue.
* PE logic: ``neuron_circuits`` adder trees of ``weight_ways`` inputs and as many fire units, counted in units
  of the characterised 128-lane, 16-input blocks (``TABLE_LANES``, ``TABLE_TREE_INPUTS``): area and leakage ∝
  lanes, and a tree summing N weight rows into the membrane operand has N two-input adders.
* Router: the FIFOs (built from the weight-buffer macro; no leakage figure in the table: DSENT's hop energy is
  dynamic only), crossbar, routing engine, flit generator and decoder, im2col, the accumulator, the order
  controller and one update arbiter per PE; one spiking-softmax and one layer-norm unit per core, at the areas
  the paper reports for them (ELSA_BRIEF §3) and the table's leakage.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

UM2 = 1e-6  # mm² per µm²

# Geometry of the characterised blocks (comments of elsa_tlm/data/elsa_28nm.toml): named once
TABLE_LANES = 128  # [logic.adder_tree] and [logic.fire] cover all 128 lanes of a PE
TABLE_TREE_INPUTS = 16  # ... each lane a 16-input adder tree
INPUT_QUEUE_MACRO_ROWS = 16  # [sram.input_queue]: 16 rows x 4 words; one row per queue entry
NARROW_MACRO_BITS = 64 * 16 * 4  # [sram.weight]: 64 rows x 16 words x 4 bit = 4096 bit = 512 B

# Spiking softmax and layer-norm units, one of each per core, as reported (ELSA_BRIEF §3, paper)
SOFTMAX_UNIT_MM2 = 0.096
LAYERNORM_UNIT_MM2 = 0.091


@dataclass(frozen=True)
class Block:
    """A class of physical blocks of a core: ``count(cfg, cap)`` per core, ``area_mm2`` and ``leakage_w`` of
    one block from the technology table (``mem``: the memory technology's macros, ``logic``: the logic
    blocks)."""

    line: str  # the area breakdown line (summary.json area_breakdown_mm2)
    part: str  # "pe" or "router"
    count: Callable[[Any, Any], float]
    area_mm2: Callable[[dict, dict, Any], float]
    leakage_w: Callable[[dict, dict], float]


def _macro(kind: str) -> tuple[Callable[[dict, dict, Any], float], Callable[[dict, dict], float]]:
    return (lambda mem, lg, cfg: mem[kind]["area_um2"] * UM2), (
        lambda mem, lg: mem[kind]["leakage_nw"] * 1e-9
    )


def _logic(name: str) -> tuple[Callable[[dict, dict, Any], float], Callable[[dict, dict], float]]:
    return (lambda mem, lg, cfg: lg[name]["area_mm2"]), (lambda mem, lg: lg[name]["leakage_uw"] * 1e-6)


def _membrane_area(mem: dict, lg: dict, cfg: Any) -> float:
    """One membrane macro's worth of capacity (64 rows × 16 membranes), per ``cfg.membrane_macro``."""
    if cfg.membrane_macro == "membrane":
        return float(mem["membrane"]["area_um2"]) * UM2
    pe = cfg.pe
    return pe.membrane_bits / pe.weight_bits * float(mem["weight"]["area_um2"]) * UM2


def _lanes(cfg: Any) -> float:
    return cfg.pe.neuron_circuits / TABLE_LANES


def _queue_macros(cfg: Any) -> int:
    return cfg.pe.input_queues * math.ceil(cfg.pe.input_queue_depth / INPUT_QUEUE_MACRO_ROWS)


def _fifo_macros(cfg: Any) -> int:
    return cfg.noc.fifo_count * math.ceil(cfg.noc.fifo_bytes * 8 / NARROW_MACRO_BITS)


def _router(line: str, table: str | None = None, per_pe: bool = False) -> Block:
    area, leak = _logic(table or line)
    count = (lambda cfg, cap: cap.pes) if per_pe else (lambda cfg, cap: 1)
    return Block(line, "router", count, area, leak)


BLOCKS: tuple[Block, ...] = (
    Block("weight_memory", "pe", lambda cfg, cap: cap.pes * cap.weight_macros, *_macro("weight")),
    Block(
        "membrane_memory",
        "pe",
        lambda cfg, cap: cap.pes * cap.membrane_macros,
        _membrane_area,
        _macro("membrane")[1],
    ),
    Block("tracer_memory", "pe", lambda cfg, cap: cap.pes * cap.tracer_macros, *_macro("tracer")),
    Block("input_buffer", "pe", lambda cfg, cap: cap.pes * _queue_macros(cfg), *_macro("input_queue")),
    Block(
        "adder_trees",
        "pe",
        lambda cfg, cap: cap.pes * _lanes(cfg) * cfg.pe.weight_ways / TABLE_TREE_INPUTS,
        *_logic("adder_tree"),
    ),
    Block("fire", "pe", lambda cfg, cap: cap.pes * _lanes(cfg), *_logic("fire")),
    Block("fifos", "router", lambda cfg, cap: _fifo_macros(cfg), _macro("weight")[0], lambda mem, lg: 0.0),
    _router("crossbar"),
    _router("routing_engine"),
    _router("flit_generator"),
    _router("flit_decoder"),
    _router("im2col"),
    _router("accumulator"),
    _router("order_controller"),
    _router("update_arbiters", "update_arbiter", per_pe=True),
    Block(
        "softmax", "router", lambda cfg, cap: 1, lambda mem, lg, cfg: SOFTMAX_UNIT_MM2, _logic("softmax")[1]
    ),
    Block(
        "layernorm",
        "router",
        lambda cfg, cap: 1,
        lambda mem, lg, cfg: LAYERNORM_UNIT_MM2,
        _logic("layernorm")[1],
    ),
)

PE_LINES = tuple(b.line for b in BLOCKS if b.part == "pe")
ROUTER_LINES = tuple(b.line for b in BLOCKS if b.part == "router")


class AreaContext:
    """What the block formulas read: the config's pe/noc sections and the membrane macro choice."""

    def __init__(self, cfg: Any, membrane_macro: str) -> None:
        self.pe, self.noc, self.membrane_macro = cfg.pe, cfg.noc, membrane_macro


def block_areas_mm2(cfg: Any, cap: Any, mem: dict, logic: dict, membrane_macro: str) -> dict[str, float]:
    """Per-core area of every block class (mm²), in ``BLOCKS`` order."""
    ctx = AreaContext(cfg, membrane_macro)
    return {b.line: b.count(cfg, cap) * b.area_mm2(mem, logic, ctx) for b in BLOCKS}


def core_leakage_w(cfg: Any, cap: Any, mem: dict, logic: dict) -> float:
    """Leakage of one powered core: every block class × its count (W)."""
    return float(sum(b.count(cfg, cap) * b.leakage_w(mem, logic) for b in BLOCKS))
