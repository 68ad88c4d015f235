"""The energy model of one configuration: its prices, the entries no component counts, and the ledger's views.

Every price comes from ``elsa_tlm/data/elsa_28nm.toml`` (ELSA's 28 nm characterisation,
:class:`~elsa_tlm.energy.tables.ActionTable`) except the DRAM energy per bit (``chip.dram_pj_per_bit``) and
the eDRAM retention time (``memory.edram_retention_us``), assumptions stated in docs/MODEL.md. On-chip
categories (``energy_breakdown_j``, summing to ``energy_j``): adder, weight_sram, membrane_sram, tracer_sram,
fire, input_buffer, scheduling_logic, residual, accumulator, packetisation, noc_hops, noc_local_delivery,
routing_engine, refresh, leakage (+ softmax, layernorm, residual_add, operand_tracer for transformers). DRAM
(the input image) is apart: ``dram_energy_j``, and ``system_energy_j`` = both.

The counts are the components': each counts its actions where it does them and reports them into the
:class:`Ledger` itself (``report(ledger)``: the PEs' macros and datapath, the router's im2col unit, order
controller, update arbiters and accumulator per layer slice, the residual unit, the network interfaces' flit
generators and decoders; the network's counters through :func:`report_noc`). This module adds only what is a
matter of time and occupancy (eDRAM refresh, leakage) and prices; it derives nothing from the activity.
"""

from __future__ import annotations

from typing import Any

from elsa_tlm.config import Config, NocConfig, from_dict
from elsa_tlm.energy.area import AreaModel
from elsa_tlm.energy.estimators import core_leakage_w
from elsa_tlm.energy.ledger import Ledger
from elsa_tlm.energy.tables import (
    CATEGORIES,
    MACRO_CATEGORY,
    NOC_CATEGORIES,
    PE_CATEGORIES,
    PJ,
    TRANSFORMER_CATEGORIES,
    ActionTable,
    load_tech,
    memory_table,
)
from elsa_tlm.snn.products import ActionCounts


class EnergyModel:
    """Prices for one configuration, the entries of time and occupancy, and the views of a :class:`Ledger`."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.tech = load_tech()
        self.mem = memory_table(cfg.memory.technology)
        self.logic = self.tech["logic"]
        self.area = AreaModel(cfg)
        self.table = ActionTable(cfg, self.core_leakage_w())

    # ------------------------------------------------------------------ entries of time and occupancy
    def report_refresh(self, ledger: Ledger, occupied: dict[str, Any], seconds: float) -> int:
        """eDRAM: every occupied row of weights, membranes and tracers is refreshed (read and written
        back) once per retention time while the inference runs; SRAM needs none. Returns the row refreshes."""
        if self.cfg.memory.technology != "edram":
            return 0
        refreshes = int(seconds * 1e6 // self.cfg.memory.edram_retention_us)
        rows = self.cfg.pe.macro_rows
        n = 0
        for kind in ("weight", "membrane", "tracer"):
            k_rows = occupied[f"{kind}_macros"] * rows * refreshes
            n += k_rows
            ledger.add(kind, "row_refresh", k_rows)
        return n

    def report_leakage(self, ledger: Ledger, cores_used: int, seconds: float) -> None:
        """Used cores leak for the whole inference; unused cores are power-gated."""
        ledger.add("core", "powered_second", cores_used * seconds)

    # ------------------------------------------------------------------ views of the ledger
    def breakdown(self, ledger: Ledger, transformer: bool) -> dict[str, float]:
        """``energy_breakdown_j``: joules per on-chip category."""
        return ledger.by_category(self.table, CATEGORIES + (TRANSFORMER_CATEGORIES if transformer else ()))

    def layer_energy(self, ledger: Ledger) -> dict[str, float]:
        """Each layer's own energy (its PEs' adder trees, fire units and weight/membrane/tracer accesses)."""
        return ledger.by_owner(self.table, PE_CATEGORIES)

    def dram_energy(self, wl: Any) -> float:
        """Loading the input image from DRAM (apart from the chip's energy)."""
        h, w = wl.input_hw
        bits = h * w * wl.input_channels * self.cfg.chip.input_bits
        return self.table.joules(("dram", "bit"), bits)

    # ------------------------------------------------------------------ prices
    def core_leakage_w(self) -> float:
        """Leakage of one powered core: every block class of :mod:`elsa_tlm.energy.estimators` (W)."""
        return core_leakage_w(self.cfg, self.area.cap, self.mem, self.logic)

    def pe_energy(self, a: ActionCounts, adder_lane_acts: float) -> dict[str, float]:
        """Joules of a set of PE actions (``adder_lane_acts``: adder activations weighted by the fraction of the
        128 lanes they use), priced with the same table as the ledger."""
        j = self.table.joules
        return {
            "adder": j(("adder_tree", "lane_activation"), adder_lane_acts),
            "weight_sram": j(("weight", "read"), a.weight_row_reads),
            "membrane_sram": j(("membrane", "read"), a.membrane_row_reads)
            + j(("membrane", "write"), a.membrane_row_writes),
            "tracer_sram": j(("tracer", "read"), a.tracer_reads) + j(("tracer", "write"), a.tracer_writes),
            "fire": j(("fire", "activation"), a.fire_activations),
        }


def report_noc(ledger: Ledger, counters: dict[str, int], route_lookups_per_router: int = 1) -> None:
    """A network's counters into the ledger: flit hops (DSENT: buffer, crossbar, arbitration and wire of one
    router + link hop), local deliveries (flits whose source and destination are the same core) and
    route-table lookups (packets × routers visited × lookups per packet per router; a format that carries hop
    offsets needs none). A chip run and a NoC-only run report the same entries."""
    ledger.add("router", "flit_hop", counters["flit_hops"])
    ledger.add("router", "local_delivery", counters.get("loopback_flits", 0))
    ledger.add("routing_engine", "lookup", counters["route_ops"] * route_lookups_per_router)


def price_noc(
    counters: dict[str, int], noc: NocConfig, route_lookups_per_router: int = 1
) -> dict[str, float]:
    """A NoC-only run's ``energy_j`` (synthetic traffic: no chip around the network): its counters
    (``flit_hops``, ``route_ops``, ``loopback_flits`` when any) reported into a :class:`Ledger` as a chip run
    reports them (:func:`report_noc`) and priced by the :class:`ActionTable`'s NoC rows at ``noc``'s flit
    width; joules per category and their ``total``."""
    table = ActionTable(from_dict({"version": 1}).replace(noc=noc), 0.0)
    ledger = Ledger()
    report_noc(ledger, counters, route_lookups_per_router)
    energy = ledger.by_category(table, NOC_CATEGORIES)
    return energy | {"total": sum(energy.values())}


__all__ = ["EnergyModel", "Ledger", "MACRO_CATEGORY", "PJ", "price_noc", "report_noc"]
