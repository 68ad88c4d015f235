"""SRAM macros of a PE: geometry, banking, ports and the access counts the energy ledger charges.

ELSA builds every PE buffer from 64-row × 16-word macros (``pe.macro_rows`` × ``pe.macro_words``): the weight
buffer (``pe.weight_ways`` banks, weight row r in bank r mod N, one row per bank per cycle), the membrane and
tracer buffers, and the input spike queues. Each macro is single-ported: one row read or write per cycle,
``memory.access_cycles`` cycles of latency (pipelined). A :class:`SramMacro` stands for all macros of one kind
in one slice's PEs and counts their row accesses; the energy ledger multiplies them by the per-access energy of
the technology (``memory.technology``: SRAM or eDRAM).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SramMacro:
    """The macros of one kind (weight, membrane, tracer, input_queue) that one layer slice uses."""

    kind: str
    rows: int  # rows per macro
    words: int  # words per row
    word_bits: int
    banks: int = 1  # independently addressed banks (the weight buffer's ways)
    ports: int = 1  # accesses per bank per cycle
    access_cycles: int = 1
    reads: int = 0  # row accesses over the run (all PEs of the slice)
    writes: int = 0

    def bank_of(self, row: int) -> int:
        """Bank holding logical row ``row`` (rows interleaved over banks)."""
        return row % self.banks

    def read(self, n: int) -> None:
        self.reads += int(n)

    def write(self, n: int) -> None:
        self.writes += int(n)

    @property
    def bits(self) -> int:
        return self.rows * self.words * self.word_bits


def pe_macros(cfg) -> dict[str, SramMacro]:
    """Fresh counters for the macro kinds of one PE configuration."""
    pe, a = cfg.pe, cfg.memory.access_cycles
    return {
        "weight": SramMacro("weight", pe.macro_rows, pe.macro_words, pe.weight_bits, pe.weight_ways, 1, a),
        "membrane": SramMacro("membrane", pe.macro_rows, pe.macro_words, pe.membrane_bits, 1, 1, a),
        "tracer": SramMacro("tracer", pe.macro_rows, pe.macro_words, pe.tracer_bits, 1, 1, a),
        "input_queue": SramMacro("input_queue", pe.input_queue_depth, 4, 4, pe.input_queues, 1, a),
    }
