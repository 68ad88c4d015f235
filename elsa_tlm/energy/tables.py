"""Technology tables: per-action energy, leakage and area of ELSA's blocks (28 nm, 0.9 V), and the one table
of per-action energies the ledger prices its counts with (:class:`ActionTable`).

Source: ``elsa_tlm/data/elsa_28nm.toml``, a verbatim copy of the project's reference parameters
(ELSA, ISCA 2026, arXiv 2605.20802: synthesized RTL, SRAM compiler macros, DSENT for the NoC). Assumptions
that are not in it (DRAM energy per bit, eDRAM retention) come from the configuration (docs/MODEL.md §5).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

from elsa_tlm.datafiles import DataFile, number, read_text, read_toml, table

# the table the model prices with: None is the packaged elsa_tlm/data/elsa_28nm.toml (a test may point elsewhere)
TECH_FILE: str | Path | None = None

# entries the model reads (a missing one is named); every figure in the file is checked, read or not
MEMORY_KEYS = ("read_pj", "write_pj", "leakage_nw", "area_um2")
LOGIC_KEYS = ("energy_pj", "leakage_uw", "area_mm2")
LOGIC_BLOCKS = ("adder_tree", "fire", "accumulator", "im2col", "order_controller", "update_arbiter",
                "flit_generator", "flit_decoder", "crossbar", "routing_engine", "softmax", "layernorm")  # fmt: skip
REQUIRED: dict[str, tuple[str, ...]] = {
    **{f"sram.{m}": MEMORY_KEYS for m in ("weight", "membrane", "tracer", "input_queue")},
    **{f"edram.{m}": MEMORY_KEYS for m in ("weight", "membrane", "input_queue")},
    **{f"logic.{b}": LOGIC_KEYS for b in LOGIC_BLOCKS},
    "noc": ("hop_energy_pj_per_flit", "local_delivery_energy_pj_per_flit"),
    "reported.core": tuple(
        f"{b}_mm2"
        for b in ("weight_memory", "membrane_memory", "tracer_memory", "pe_subtotal", "router_subtotal")
    ),
    "reported.chip": ("area_mm2",),
}
# the unit of a figure is in its key's name (the file's convention)
UNITS = (("_pj_per_flit", "pJ per flit"), ("_pj", "pJ"), ("_nw", "nW"), ("_uw", "µW"), ("_mw", "mW"),
         ("_um2", "µm²"), ("_mm2", "mm²"), ("_mhz", "MHz"), ("_nm", "nm"), ("_v", "V"), ("_kib", "KiB"),
         ("_mb", "MB"), ("_bits", "bits"), ("_bytes", "bytes"), ("_cycles", "cycles"))  # fmt: skip


def unit_of(key: str) -> str:
    """The unit a key of the table names (``read_pj`` -> pJ); a plain count otherwise."""
    return next((u for suffix, u in UNITS if key.endswith(suffix)), "count")


def read_tech(path: str | Path | None = None) -> dict[str, Any]:
    """Parse and check a technology table (default: the packaged one): every entry the model reads present,
    every figure in the file a finite non-negative number in the unit its key names."""
    res = resources.files("elsa_tlm").joinpath("data/elsa_28nm.toml") if path is None else Path(path)
    f = DataFile("energy table", str(res))
    tech = read_toml(f, read_text(f) if isinstance(res, Path) else res.read_text(encoding="utf-8"))
    for section, keys in REQUIRED.items():
        t = table(f, tech, section)
        for k in keys:
            if k not in t:
                raise f.missing(f"{section}.{k}", f"a finite non-negative number [{unit_of(k)}]")

    def walk(node: dict[str, Any], prefix: str) -> None:
        for k, v in node.items():
            if isinstance(v, dict):
                walk(v, f"{prefix}{k}.")
            else:
                number(f, prefix + k, v, unit_of(k))

    walk(tech, "")
    return tech


@lru_cache(maxsize=4)
def _tech(path: str | None) -> dict[str, Any]:
    return read_tech(path)


def load_tech() -> dict[str, Any]:
    """The checked 28 nm table (:data:`TECH_FILE`, cached per file; treat as read-only)."""
    return _tech(None if TECH_FILE is None else str(TECH_FILE))


def memory_table(technology: str) -> dict[str, dict[str, float]]:
    """Per-macro read/write energy (pJ per 16-word row), leakage (nW) and area (um2) for a technology.

    eDRAM has no separate tracer table: the tracer buffer uses the weight-buffer macro in both technologies.
    """
    tech = load_tech()
    if technology == "sram":
        src = tech["sram"]
        return {k: dict(src[k]) for k in ("weight", "membrane", "tracer", "input_queue")}
    src = tech["edram"]
    return {
        "weight": dict(src["weight"]),
        "membrane": dict(src["membrane"]),
        "tracer": dict(src["weight"]),
        "input_queue": dict(src["input_queue"]),
    }


PJ = 1e-12
NOC_TABLE_FLIT_BITS = 256  # DSENT's per-flit energies are characterised for 256-bit flits

# energy_breakdown_j categories, in the order summary.json lists them; the transformer units only appear
# when the workload has transformer layers
CATEGORIES = (
    "adder",
    "weight_sram",
    "membrane_sram",
    "tracer_sram",
    "fire",
    "input_buffer",
    "scheduling_logic",
    "residual",
    "accumulator",
    "packetisation",
    "noc_hops",
    "noc_local_delivery",
    "routing_engine",
    "refresh",
    "leakage",
)
TRANSFORMER_CATEGORIES = ("softmax", "layernorm", "residual_add", "operand_tracer")
PE_CATEGORIES = ("adder", "weight_sram", "membrane_sram", "tracer_sram", "fire")  # a layer's own energy
NOC_CATEGORIES = ("noc_hops", "noc_local_delivery", "routing_engine")  # a NoC-only run's energy
MACRO_CATEGORY = {
    "weight": "weight_sram",
    "membrane": "membrane_sram",
    "tracer": "tracer_sram",
    "input_queue": "input_buffer",
}


class Price(NamedTuple):
    """One action's price: ``energy`` per count in the table's unit (pJ; W for a powered core's second),
    its breakdown ``category``, a ``scale`` (the NoC's flit width over DSENT's 256 bits) and the ``unit`` in
    joules."""

    energy: float
    category: str
    scale: float = 1.0
    unit: float = PJ


class ActionTable:
    """(component, action) -> :class:`Price` (its energy per count and breakdown category) for one
    configuration; ``table[key]`` is (joules per count, category), :meth:`joules` prices a count.

    Components and their actions: the PE macros (``weight``/``membrane``/``tracer``/``input_queue`` ×
    ``read``/``write``, and ``operand_read``/``operand_write`` for a spike × spike product's dynamic operand in
    weight memory), ``adder_tree``/``lane_activation`` (an activation of the 128-lane tree weighted by the lanes
    it uses), ``fire``/``activation``, the router's ``im2col``/``spike``, ``order_controller``/``spine``,
    ``update_arbiter``/``spine``, ``accumulator`` × ``first_layer_op`` / ``residual_op`` / ``add_norm_op``,
    ``softmax``/``activation``, ``layernorm``/``activation``, the NI's ``flit_generator``/``packet`` and
    ``flit_decoder``/``flit``, the NoC's ``router``/``flit_hop`` and ``local_delivery``,
    ``routing_engine``/``lookup``; eDRAM ``<macro>``/``row_refresh``; ``core``/``powered_second`` (leakage of
    one powered core for one second); ``dram``/``bit``. The NoC's per-flit energies are DSENT's for 256-bit
    flits, scaled by ``noc.flit_bits`` / 256; a NoC-only run is priced with the same rows
    (:func:`elsa_tlm.energy.model.price_noc`).
    """

    def __init__(self, cfg: Any, core_leakage_w: float) -> None:
        tech = load_tech()
        mem, lg = memory_table(cfg.memory.technology), tech["logic"]
        noc = tech["noc"]
        s = cfg.noc.flit_bits / NOC_TABLE_FLIT_BITS
        # an op of the router's accumulator with accumulator_lanes lanes: lanes/16 of the characterised 16-lane
        # block (the same energy per spike added, whatever the width)
        per_op = lg["accumulator"]["energy_pj"] * cfg.chip.accumulator_lanes / 16
        t: dict[tuple[str, str], Price] = {}
        for kind, cat in MACRO_CATEGORY.items():
            t[(kind, "read")] = Price(mem[kind]["read_pj"], cat)
            t[(kind, "write")] = Price(mem[kind]["write_pj"], cat)
        t[("weight", "operand_read")] = Price(mem["weight"]["read_pj"], "operand_tracer")
        t[("weight", "operand_write")] = Price(mem["weight"]["write_pj"], "operand_tracer")
        t[("adder_tree", "lane_activation")] = Price(lg["adder_tree"]["energy_pj"], "adder")
        t[("fire", "activation")] = Price(lg["fire"]["energy_pj"], "fire")
        t[("im2col", "spike")] = Price(lg["im2col"]["energy_pj"], "scheduling_logic")
        t[("order_controller", "spine")] = Price(lg["order_controller"]["energy_pj"], "scheduling_logic")
        t[("update_arbiter", "spine")] = Price(lg["update_arbiter"]["energy_pj"], "scheduling_logic")
        t[("accumulator", "first_layer_op")] = Price(lg["accumulator"]["energy_pj"], "accumulator")
        t[("accumulator", "residual_op")] = Price(per_op, "residual")
        t[("accumulator", "add_norm_op")] = Price(per_op, "residual_add")
        t[("softmax", "activation")] = Price(lg["softmax"]["energy_pj"], "softmax")
        t[("layernorm", "activation")] = Price(lg["layernorm"]["energy_pj"], "layernorm")
        t[("flit_generator", "packet")] = Price(lg["flit_generator"]["energy_pj"], "packetisation")
        t[("flit_decoder", "flit")] = Price(lg["flit_decoder"]["energy_pj"], "packetisation")
        t[("router", "flit_hop")] = Price(noc["hop_energy_pj_per_flit"], "noc_hops", s)
        t[("router", "local_delivery")] = Price(
            noc["local_delivery_energy_pj_per_flit"], "noc_local_delivery", s
        )
        t[("routing_engine", "lookup")] = Price(lg["routing_engine"]["energy_pj"], "routing_engine")
        for kind in ("weight", "membrane", "tracer"):
            t[(kind, "row_refresh")] = Price(mem[kind]["read_pj"] + mem[kind]["write_pj"], "refresh")
        t[("core", "powered_second")] = Price(core_leakage_w, "leakage", unit=1.0)  # watts x seconds
        t[("dram", "bit")] = Price(cfg.chip.dram_pj_per_bit, "dram")
        self.rows = t

    def row(self, key: tuple[str, str]) -> Price:
        """The price of one action (a missing one is named)."""
        try:
            return self.rows[key]
        except KeyError:
            raise KeyError(f"no energy for action {key[1]!r} of {key[0]!r} in the table") from None

    def __getitem__(self, key: tuple[str, str]) -> tuple[float, str]:
        """(joules per count, breakdown category)."""
        p = self.row(key)
        return p.energy * p.scale * p.unit, p.category

    def joules(self, key: tuple[str, str], n: float) -> float:
        """``n`` counts of an action in joules: n × its energy, × its scale, × its unit, in that order (one
        formula for every run, a chip's or a NoC-only one)."""
        p = self.row(key)
        return n * p.energy * p.scale * p.unit
