"""SRAM macros of a PE: geometry, banking, ports and the row accesses the energy ledger charges.

ELSA builds every PE buffer from 64-row × 16-word macros (``pe.macro_rows`` × ``pe.macro_words``): the weight
buffer (``pe.weight_ways`` ways, weight row r in way r mod N), the membrane and tracer buffers, and the input
spike queues. The N-way weight buffer reads the N weight rows of a mini-batch in one cycle (ELSA_BRIEF §3;
``pe.weight_buffer = "banked"`` is the what-if of single-ported banks, one row per bank per cycle); membrane
macros are two-port (the row a mini-batch reads is written back while the next one is read: one mini-batch per
cycle, ``memory.access_cycles`` cycles of latency, forwarded by the accumulator to a mini-batch of the same row,
``pe.raw_hazard``). ``banks``/``ports`` record this; the timing rules that use it live in the input-buffer
kernel. A :class:`SramMacro` stands for all macros of one kind
in one PE (the buffer) and counts its row accesses per owner (the layer that made them): the one store of
them. It reports them into the energy ledger (:meth:`SramMacro.report`), which multiplies them by the per-access
energy of the technology (``memory.technology``: SRAM or eDRAM).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from elsa_tlm.hw.report import ActionSink

KINDS = ("weight", "membrane", "tracer", "input_queue")
OPERAND = "operand:"  # owner prefix of a spike x spike product's dynamic operand written into weight memory


@dataclass
class SramMacro:
    """The macros of one kind (weight, membrane, tracer, input_queue) of one PE."""

    kind: str
    rows: int  # rows per macro
    words: int  # words per row
    word_bits: int
    banks: int = 1  # independently addressed banks (the weight buffer's ways)
    ports: int = 1  # accesses per bank per cycle
    access_cycles: int = 1
    reads: Counter[str] = field(default_factory=Counter)  # row reads over the run, per owner
    writes: Counter[str] = field(default_factory=Counter)

    def bank_of(self, row: int) -> int:
        """Bank holding logical row ``row`` (rows interleaved over banks)."""
        return row % self.banks

    def read(self, n: int, owner: str) -> None:
        if n:
            self.reads[owner] += int(n)

    def write(self, n: int, owner: str) -> None:
        if n:
            self.writes[owner] += int(n)

    def report(self, ledger: ActionSink) -> None:
        """Row reads and writes per owner into the energy ledger; a spike × spike product's dynamic operand
        written into weight memory is its own action (``operand_read``/``operand_write``)."""
        for counts, action in ((self.reads, "read"), (self.writes, "write")):
            for owner, n in counts.items():
                if owner.startswith(OPERAND):
                    ledger.add(self.kind, f"operand_{action}", n, owner.removeprefix(OPERAND))
                else:
                    ledger.add(self.kind, action, n, owner)

    @property
    def total_reads(self) -> int:
        return sum(self.reads.values())

    @property
    def total_writes(self) -> int:
        return sum(self.writes.values())

    @property
    def bits(self) -> int:
        return self.rows * self.words * self.word_bits


def pe_macros(cfg) -> dict[str, SramMacro]:
    """Fresh buffers of one PE of this configuration."""
    pe, a = cfg.pe, cfg.memory.access_cycles
    return {
        "weight": SramMacro("weight", pe.macro_rows, pe.macro_words, pe.weight_bits, pe.weight_ways, 1, a),
        "membrane": SramMacro("membrane", pe.macro_rows, pe.macro_words, pe.membrane_bits, 1, 2, a),
        "tracer": SramMacro("tracer", pe.macro_rows, pe.macro_words, pe.tracer_bits, 1, 1, a),
        "input_queue": SramMacro("input_queue", pe.input_queue_depth, 4, 4, pe.input_queues, 1, a),
    }
