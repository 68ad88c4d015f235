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
from typing import Any

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
MACRO_CATEGORY = {
    "weight": "weight_sram",
    "membrane": "membrane_sram",
    "tracer": "tracer_sram",
    "input_queue": "input_buffer",
}


class ActionTable:
    """(component, action) -> (joules per count, breakdown category) for one configuration.

    Components and their actions: the PE macros (``weight``/``membrane``/``tracer``/``input_queue`` ×
    ``read``/``write``, and ``operand_read``/``operand_write`` for a spike × spike product's dynamic operand in
    weight memory), ``adder_tree``/``lane_activation`` (an activation of the 128-lane tree weighted by the lanes
    it uses), ``fire``/``activation``, the router's ``im2col``/``spike``, ``order_controller``/``spine``,
    ``update_arbiter``/``spine``, ``accumulator`` × ``first_layer_op`` / ``residual_op`` / ``add_norm_op``,
    ``softmax``/``activation``, ``layernorm``/``activation``, the NI's ``flit_generator``/``packet`` and
    ``flit_decoder``/``flit``, the NoC's ``router``/``flit_hop`` and ``local_delivery``,
    ``routing_engine``/``lookup``; eDRAM ``<macro>``/``row_refresh``; ``core``/``powered_second`` (leakage of
    one powered core for one second); ``dram``/``bit``.
    """

    def __init__(self, cfg: Any, core_leakage_w: float) -> None:
        tech = load_tech()
        mem, lg = memory_table(cfg.memory.technology), tech["logic"]
        noc = tech["noc"]
        s = cfg.noc.flit_bits / NOC_TABLE_FLIT_BITS
        # an op of the router's accumulator with accumulator_lanes lanes: lanes/16 of the characterised 16-lane
        # block (the same energy per spike added, whatever the width)
        per_op = lg["accumulator"]["energy_pj"] * cfg.chip.accumulator_lanes / 16
        t: dict[tuple[str, str], tuple[float, str]] = {}
        for kind, cat in MACRO_CATEGORY.items():
            t[(kind, "read")] = (mem[kind]["read_pj"] * PJ, cat)
            t[(kind, "write")] = (mem[kind]["write_pj"] * PJ, cat)
        t[("weight", "operand_read")] = (mem["weight"]["read_pj"] * PJ, "operand_tracer")
        t[("weight", "operand_write")] = (mem["weight"]["write_pj"] * PJ, "operand_tracer")
        t[("adder_tree", "lane_activation")] = (lg["adder_tree"]["energy_pj"] * PJ, "adder")
        t[("fire", "activation")] = (lg["fire"]["energy_pj"] * PJ, "fire")
        t[("im2col", "spike")] = (lg["im2col"]["energy_pj"] * PJ, "scheduling_logic")
        t[("order_controller", "spine")] = (lg["order_controller"]["energy_pj"] * PJ, "scheduling_logic")
        t[("update_arbiter", "spine")] = (lg["update_arbiter"]["energy_pj"] * PJ, "scheduling_logic")
        t[("accumulator", "first_layer_op")] = (lg["accumulator"]["energy_pj"] * PJ, "accumulator")
        t[("accumulator", "residual_op")] = (per_op * PJ, "residual")
        t[("accumulator", "add_norm_op")] = (per_op * PJ, "residual_add")
        t[("softmax", "activation")] = (lg["softmax"]["energy_pj"] * PJ, "softmax")
        t[("layernorm", "activation")] = (lg["layernorm"]["energy_pj"] * PJ, "layernorm")
        t[("flit_generator", "packet")] = (lg["flit_generator"]["energy_pj"] * PJ, "packetisation")
        t[("flit_decoder", "flit")] = (lg["flit_decoder"]["energy_pj"] * PJ, "packetisation")
        t[("router", "flit_hop")] = (noc["hop_energy_pj_per_flit"] * s * PJ, "noc_hops")
        t[("router", "local_delivery")] = (
            noc["local_delivery_energy_pj_per_flit"] * s * PJ,
            "noc_local_delivery",
        )
        t[("routing_engine", "lookup")] = (lg["routing_engine"]["energy_pj"] * PJ, "routing_engine")
        for kind in ("weight", "membrane", "tracer"):
            t[(kind, "row_refresh")] = ((mem[kind]["read_pj"] + mem[kind]["write_pj"]) * PJ, "refresh")
        t[("core", "powered_second")] = (core_leakage_w, "leakage")
        t[("dram", "bit")] = (cfg.chip.dram_pj_per_bit * PJ, "dram")
        self.entries = t

    def __getitem__(self, key: tuple[str, str]) -> tuple[float, str]:
        try:
            return self.entries[key]
        except KeyError:
            raise KeyError(f"no energy for action {key[1]!r} of {key[0]!r} in the table") from None


def noc_energy_j(
    counters: dict, flit_bits: int, tech: dict | None = None, route_lookups_per_router: int = 1
) -> dict[str, float]:
    """NoC dynamic energy (J) from action counters, as ELSA's DSENT figures characterise it (synthetic-traffic
    runs, which have no chip around the network; a chip run prices the same counts in its ledger).

    ``noc_hops``: flit_hops × the energy of one flit over one router + link hop (12.99 pJ, DSENT: buffer,
    crossbar, arbitration and wire together, so the crossbar is not charged again); ``noc_local_delivery``:
    flits whose source and destination are the same core × the local-delivery energy (5.03 pJ), the only
    flits that pay it; ``routing_engine``: route_ops (packets × routers visited) × route-table lookups per
    packet per router (a format that carries hop offsets needs none) × the routing engine's energy per
    decision. Per-flit energies are characterised for 256-bit flits and scaled by flit_bits / 256.
    """
    tech = tech or load_tech()
    s = flit_bits / NOC_TABLE_FLIT_BITS
    noc, logic = tech["noc"], tech["logic"]
    hops = counters["flit_hops"] * noc["hop_energy_pj_per_flit"] * s
    local = counters.get("loopback_flits", 0) * noc["local_delivery_energy_pj_per_flit"] * s
    lookups = counters["route_ops"] * route_lookups_per_router * logic["routing_engine"]["energy_pj"]
    return {
        "noc_hops": hops * 1e-12,
        "noc_local_delivery": local * 1e-12,
        "routing_engine": lookups * 1e-12,
    }


def price_noc(counters: dict, flit_bits: int, tech: dict | None = None) -> dict[str, float]:
    """A NoC-only run's ``energy_j``: :func:`noc_energy_j` of its counters (``flit_hops``, ``route_ops``,
    ``loopback_flits`` when any) and their ``total``. The synthetic-traffic run counts; its driver prices."""
    energy = noc_energy_j(counters, flit_bits, tech)
    return energy | {"total": sum(energy.values())}
