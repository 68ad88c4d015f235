"""What one neural core holds (:class:`CoreCapacity`): SRAM macros and neuron circuits per PE.

A fact of the hardware, read from the configuration: the mapping fits layer slices into it
(:mod:`elsa_tlm.mapping.partition`) and the area model counts its macros (:mod:`elsa_tlm.energy.area`), so it
lives below both.
"""

from __future__ import annotations

from dataclasses import dataclass

from elsa_tlm.config import Config


@dataclass(frozen=True)
class CoreCapacity:
    """Macros per PE and neuron circuits per PE of one neural core."""

    pes: int
    weight_macros: int
    membrane_macros: int
    tracer_macros: int
    neuron_circuits: int
    words: int
    rows: int
    spill_ratio: int = 0  # weight macros one spare membrane macro can hold (0 = no spilling)

    @classmethod
    def from_config(cls, cfg: Config) -> CoreCapacity:
        pe = cfg.pe
        bits_per_macro = pe.macro_rows * pe.macro_words
        return cls(
            pes=cfg.chip.pes_per_core,
            weight_macros=int(pe.weight_sram_kib * 8192 // (bits_per_macro * pe.weight_bits)),
            membrane_macros=int(pe.membrane_sram_kib * 8192 // (bits_per_macro * pe.membrane_bits)),
            tracer_macros=int(pe.tracer_sram_kib * 8192 // (bits_per_macro * pe.tracer_bits)),
            neuron_circuits=pe.neuron_circuits,
            words=pe.macro_words,
            rows=pe.macro_rows,
            spill_ratio=(pe.membrane_bits // pe.weight_bits) if cfg.mapping.weight_spill else 0,
        )
