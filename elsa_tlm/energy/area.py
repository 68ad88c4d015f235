"""Area of a neural core and of the chip, block by block, reconciled with the paper's Table III (mm²).

A core = ``pes_per_core`` PEs + one router (ELSA_BRIEF §3). Every line is a count of physical blocks times
the area of one block:

* PE macros: the macros a PE provides (``CoreCapacity``) × the macro area of the buffer technology
  (``[sram.*]`` / ``[edram.*]``); the input buffer is ``input_queues`` queues of ``input_queue_depth`` entries,
  one 16-row input-queue macro per 16 entries of a queue.
* PE logic: ``neuron_circuits`` adder trees of ``weight_ways`` inputs and as many fire units, scaled from the
  characterised 128-lane, 16-input blocks (``[logic.adder_tree]``, ``[logic.fire]``): area ∝ lanes, and a tree
  summing N weight rows into the membrane operand has N two-input adders.
* Router: the 4 × 512 B FIFOs, each built from the weight-buffer macro (64 rows × 16 × 4 bit = 512 B, the same
  compiler family and capacity); crossbar, routing engine, flit generator and decoder, im2col, the residual /
  first-layer accumulator, the order controller and one update arbiter per PE from ``[logic.*]``; one spiking
  softmax and one layer-norm unit per core at the areas the paper reports for them (ELSA_BRIEF §3:
  0.096 mm² and 0.091 mm², together 6.7 % of the chip), see docs/model/area.md for why not ``[logic.softmax]``.

Chip = core × routers in the topology (no chip-level blocks: pads, PLL and DRAM interface are not modelled).
"""

from __future__ import annotations

from typing import Any

from elsa_tlm.config import Config
from elsa_tlm.energy.estimators import (
    LAYERNORM_UNIT_MM2,
    PE_LINES,
    ROUTER_LINES,
    SOFTMAX_UNIT_MM2,
    UM2,
    block_areas_mm2,
)
from elsa_tlm.energy.tables import load_tech, memory_table
from elsa_tlm.hw.capacity import CoreCapacity

__all__ = [
    "AreaModel",
    "PE_LINES",
    "ROUTER_LINES",
    "SOFTMAX_UNIT_MM2",
    "LAYERNORM_UNIT_MM2",
    "MEMBRANE_MACROS",
]

MEMBRANE_MACROS = ("membrane", "narrow")


class AreaModel:
    """Core and chip area from the blocks a core holds (mm²), with a line-by-line reconciliation.

    ``membrane_macro``: ``"membrane"`` (default) builds the membrane buffer from the characterised 16 × 16-bit
    membrane macro, the one whose access energy the energy model charges; ``"narrow"`` tiles the same capacity
    from the 16 × 4-bit weight-buffer macro, which is how the paper's Table III sizes it (docs/model/area.md).
    """

    def __init__(self, cfg: Config, membrane_macro: str = "membrane") -> None:
        if membrane_macro not in MEMBRANE_MACROS:
            raise ValueError(f"membrane_macro must be one of {MEMBRANE_MACROS}, not {membrane_macro!r}")
        self.cfg = cfg
        self.cap = CoreCapacity.from_config(cfg)
        self.mem = memory_table(cfg.memory.technology)
        tech = load_tech()
        self.logic = tech["logic"]
        self.reported = tech["reported"]
        self.membrane_macro = membrane_macro

    # ------------------------------------------------------------------ blocks
    def membrane_macro_um2(self, membrane_macro: str | None = None) -> float:
        """Area of one membrane macro's worth of capacity (64 rows × 16 membranes)."""
        kind = membrane_macro or self.membrane_macro
        if kind == "membrane":
            return float(self.mem["membrane"]["area_um2"])
        pe = self.cfg.pe
        return pe.membrane_bits / pe.weight_bits * float(self.mem["weight"]["area_um2"])

    def _membrane_mm2(self, membrane_macro: str | None = None) -> float:
        return self.cap.pes * self.cap.membrane_macros * self.membrane_macro_um2(membrane_macro) * UM2

    def core_breakdown_mm2(self) -> dict[str, float]:
        """Per-core area of every block (keys ``PE_LINES`` + ``ROUTER_LINES``, the block classes of
        :mod:`elsa_tlm.energy.estimators`); sums to :meth:`core_mm2`."""
        return block_areas_mm2(self.cfg, self.cap, self.mem, self.logic, self.membrane_macro)

    def pe_mm2(self) -> float:
        """All PEs of a core (macros, input buffers, adder trees, fire units)."""
        b = self.core_breakdown_mm2()
        return float(sum(b[k] for k in PE_LINES))

    def router_mm2(self) -> float:
        b = self.core_breakdown_mm2()
        return float(sum(b[k] for k in ROUTER_LINES))

    def core_mm2(self) -> float:
        return float(sum(self.core_breakdown_mm2().values()))

    def chip_mm2(self, n_cores: int) -> float:
        return self.core_mm2() * n_cores

    def occupied(self, slices: list[Any]) -> dict[str, Any]:
        """Macros the mapped layers actually occupy (all PEs) and their area; weights spilled into membrane
        macros are counted as the membrane macros they fill."""
        cap = self.cap
        w = m = t = 0
        for sl in slices:
            pes = sum(1 for c in sl.pe_cols if c > 0)
            w_in_wbuf = min(sl.weight_macros, cap.weight_macros)
            spill = sl.weight_macros - w_in_wbuf
            w += pes * w_in_wbuf
            m += pes * (sl.membrane_macros + (-(-spill // cap.spill_ratio) if spill else 0))
            t += pes * sl.tracer_macros
        area = (
            w * self.mem["weight"]["area_um2"]
            + m * self.membrane_macro_um2()
            + t * self.mem["tracer"]["area_um2"]
        ) * UM2
        return {"weight_macros": w, "membrane_macros": m, "tracer_macros": t, "area_mm2": area}

    # ------------------------------------------------------------------ reconciliation
    def reconciliation(self, n_cores: int | None = None) -> list[dict[str, Any]]:
        """Model vs the paper's Table III, line by line: one row per ``[reported.core]`` area key, plus the
        model's lines the table does not itemise, the core and the chip (``n_cores`` cores; default: the
        routers of the configured topology, 36 on ELSA).

        Row: ``line``, ``reported_key`` (None if not in the table), ``model_mm2``, ``reported_mm2`` (None if not
        reported), ``difference_mm2`` (model − reported), ``note``. JSON-ready.
        """
        if n_cores is None:
            from elsa_tlm.noc.topology import build_topology

            n_cores = build_topology(self.cfg.noc.topology, self.cfg.base_dir).n_nodes
        b = self.core_breakdown_mm2()
        rep, rep_chip = self.reported["core"], self.reported["chip"]
        pe_rep, router_rep = rep["pe_subtotal_mm2"], rep["router_subtotal_mm2"]
        narrow = self._membrane_mm2("narrow")
        pe, router = self.pe_mm2(), self.router_mm2()
        pe_without_queues = pe - b["input_buffer"]
        router_logic = router - b["softmax"] - b["layernorm"]
        implied_router = rep_chip["area_mm2"] / n_cores - pe_rep  # chip total shared by the cores
        tech = self.cfg.memory.technology
        caveat = "" if tech == "sram" else f" (model in {tech}; the paper's table is SRAM)"

        def row(
            line: str, key: str | None, model: float, reported: float | None, note: str
        ) -> dict[str, Any]:
            diff = None if reported is None else model - reported
            return {
                "line": line,
                "reported_key": key,
                "model_mm2": model,
                "reported_mm2": reported,
                "difference_mm2": diff,
                "note": note + caveat,
            }

        macros = f"{self.cap.pes} PEs × {{n}} macros × {{a:.3f}} µm²"
        n_narrow = self.cap.membrane_macros * self.cfg.pe.membrane_bits // self.cfg.pe.weight_bits
        tiled = (
            f"the same capacity tiled from the 4-bit weight-buffer macro: {self.cap.pes} × {n_narrow} × "
            f"{self.mem['weight']['area_um2']:.3f} µm² = {narrow:.4f} mm²"
        )
        if self.membrane_macro == "narrow":
            membrane_note = f"model built as the paper's figure: {tiled}"
        else:
            membrane_note = (
                f"model: {self.cap.membrane_macros} 64×16×16-bit membrane macros per PE of "
                f"{self.mem['membrane']['area_um2']:.1f} µm² (1024 membranes each); the paper's figure is {tiled}. "
                "The wide macro amortises its periphery (decoders, sense amplifiers, control) over 4× the bits per "
                "row, so it is denser per bit; the model keeps it because the energy model charges its per-row "
                "access energy (AreaModel(cfg, membrane_macro='narrow') reproduces the paper's construction)"
            )
        return [
            row(
                "weight memory",
                "weight_memory_mm2",
                b["weight_memory"],
                rep["weight_memory_mm2"],
                macros.format(n=self.cap.weight_macros, a=self.mem["weight"]["area_um2"])
                + " (64×16×4-bit macros); same construction as the paper",
            ),
            row(
                "membrane memory",
                "membrane_memory_mm2",
                b["membrane_memory"],
                rep["membrane_memory_mm2"],
                membrane_note,
            ),
            row(
                "tracer memory",
                "tracer_memory_mm2",
                b["tracer_memory"],
                rep["tracer_memory_mm2"],
                macros.format(n=self.cap.tracer_macros, a=self.mem["tracer"]["area_um2"])
                + " (weight-buffer macro); same construction as the paper",
            ),
            row(
                "input buffer",
                None,
                b["input_buffer"],
                None,
                f"{self.cap.pes} PEs × {self.cfg.pe.input_queues} queues × input-queue macro; not in Table III: "
                "the paper's PE subtotal equals its three memories + adder trees + fire units "
                f"({pe_without_queues - b['membrane_memory'] + rep['membrane_memory_mm2']:.4f} mm² with the "
                "reported membrane), so the table has no line for the input queues",
            ),
            row("adder trees", None, b["adder_trees"], None, "inside the paper's PE subtotal"),
            row("fire units", None, b["fire"], None, "inside the paper's PE subtotal"),
            row(
                "PE subtotal",
                "pe_subtotal_mm2",
                pe,
                pe_rep,
                f"difference = membrane tiling ({b['membrane_memory'] - narrow:+.4f}) + input buffer "
                f"({b['input_buffer']:+.4f}) + residue "
                f"({pe - pe_rep - (b['membrane_memory'] - narrow) - b['input_buffer']:+.4f}, the table's rounding)",
            ),
            row(
                "router: softmax + layer norm",
                None,
                b["softmax"] + b["layernorm"],
                None,
                "unit areas reported by the paper (ELSA_BRIEF §3), one of each per core",
            ),
            row(
                "router: other blocks",
                None,
                router_logic,
                None,
                f"FIFOs {b['fifos']:.4f} (4 × 512 B, one weight-buffer macro each) + crossbar, routing engine, "
                "flit generator/decoder, im2col, accumulator, order controller, update arbiters from [logic.*]",
            ),
            row(
                "router subtotal",
                "router_subtotal_mm2",
                router,
                router_rep,
                f"reported to two digits (0.185–0.195); the chip total / {n_cores} implies "
                f"{implied_router:.4f} mm² for the router; the blocks besides softmax "
                f"and layer norm are {router_logic / router:.0%} of the model's router, which is "
                f"{router - implied_router:+.4f} mm² off the implied figure; the table does not itemise the "
                "router further, so the excess cannot be attributed to a block",
            ),
            row(
                "core",
                None,
                self.core_mm2(),
                pe_rep + router_rep,
                "reported = PE subtotal + router subtotal",
            ),
            row(
                "chip",
                None,
                self.chip_mm2(n_cores),
                float(rep_chip["area_mm2"]),
                f"{n_cores} cores; the model has no chip-level blocks (pads, clocking, DRAM interface); "
                f"the paper's {rep_chip['area_mm2']} mm² is {rep_chip['area_mm2'] / n_cores:.3f} mm² per core",
            ),
        ]

    # ------------------------------------------------------------------ markdown (docs/model/area.md)
    def breakdown_markdown(self) -> str:
        """Per-core breakdown as a markdown table (block, mm², share of the core)."""
        b, core = self.core_breakdown_mm2(), self.core_mm2()
        lines = ["| part | block | mm² | share |", "|---|---|---|---|"]
        for part, keys in ((f"PEs (×{self.cap.pes})", PE_LINES), ("router", ROUTER_LINES)):
            lines += [f"| {part} | {k} | {b[k]:.5f} | {b[k] / core:.1%} |" for k in keys]
        lines.append(f"| core | total | {core:.4f} | 100.0% |")
        return "\n".join(lines)

    def reconciliation_markdown(self, n_cores: int | None = None) -> str:
        """:meth:`reconciliation` as a markdown table (notes left out)."""

        def f(x: float | None, fmt: str = ".4f") -> str:
            return "–" if x is None else format(x, fmt)

        lines = [
            "| line | Table III key | model mm² | reported mm² | model − reported |",
            "|---|---|---|---|---|",
        ]
        for r in self.reconciliation(n_cores):
            key = f"`{r['reported_key']}`" if r["reported_key"] else "–"
            diff = f(r["difference_mm2"], "+.4f")
            lines.append(f"| {r['line']} | {key} | {f(r['model_mm2'])} | {f(r['reported_mm2'])} | {diff} |")
        return "\n".join(lines)


if __name__ == "__main__":  # regenerate the tables of docs/model/area.md
    from elsa_tlm.config import load_config

    _cfg = load_config(None, [])
    print(AreaModel(_cfg).breakdown_markdown(), end="\n\n")
    print(AreaModel(_cfg).reconciliation_markdown(36), end="\n\n")
    print(AreaModel(_cfg, membrane_macro="narrow").reconciliation_markdown(36))
