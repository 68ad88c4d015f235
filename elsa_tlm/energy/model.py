"""The energy model of one configuration: how each component's counts enter the ledger, and its views.

Every price comes from ``elsa_tlm/data/elsa_28nm.toml`` (ELSA's 28 nm characterisation,
:class:`~elsa_tlm.energy.tables.ActionTable`) except the DRAM energy per bit (``chip.dram_pj_per_bit``) and
the eDRAM retention time (``memory.edram_retention_us``), assumptions stated in docs/MODEL.md. On-chip
categories (``energy_breakdown_j``, summing to ``energy_j``): adder, weight_sram, membrane_sram, tracer_sram,
fire, input_buffer, scheduling_logic, residual, accumulator, packetisation, noc_hops, noc_local_delivery,
routing_engine, refresh, leakage (+ softmax, layernorm, residual_add, operand_tracer for transformers). DRAM
(the input image) is apart: ``dram_energy_j``, and ``system_energy_j`` = both.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from elsa_tlm.config import Config
from elsa_tlm.energy.area import AreaModel
from elsa_tlm.energy.estimators import core_leakage_w
from elsa_tlm.energy.ledger import Ledger
from elsa_tlm.energy.tables import (
    CATEGORIES,
    MACRO_CATEGORY,
    PE_CATEGORIES,
    PJ,
    TRANSFORMER_CATEGORIES,
    ActionTable,
    load_tech,
    memory_table,
)
from elsa_tlm.hw.sram import OPERAND
from elsa_tlm.snn.products import ActionCounts


def sop_counts(wl: Any, events: dict[str, np.ndarray], act: Any = None) -> tuple[int, int]:
    """(synaptic events, SOPs). Every expanded input event adds a weight into its fan-out membranes (Cout, a
    head's block for spike × spike products, none for an addition): one synaptic event each. The published
    #SOPs count 2 ops per synaptic event, as #Ops count 2 per MAC, over the inputs the recordings count: for
    ViT's A·V the attention map only (its V operand's half, A_acc · V_t, is done and charged but not counted
    in SOPs, as in the published figure)."""
    syn = counted = 0
    for la in wl.layers:
        n = int(events[la.name].sum()) * la.fanout_cols
        syn += n
        if act is not None and la.operands and not la.counts_operands:
            main = float(act.emitted[la.main].sum())
            ops = sum(float(act.emitted[o].sum()) for o in la.operands)
            n = int(round(n * main / (main + ops))) if main + ops > 0 else n
        counted += n
    return syn, 2 * counted


class EnergyModel:
    """Prices for one configuration, and how a run's components report into a :class:`Ledger`."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.tech = load_tech()
        self.mem = memory_table(cfg.memory.technology)
        self.logic = self.tech["logic"]
        self.area = AreaModel(cfg)
        self.table = ActionTable(cfg, self.core_leakage_w())

    # ------------------------------------------------------------------ reports (components -> ledger)
    def report_macros(self, ledger: Ledger, pes: list[Any]) -> None:
        """Row reads and writes every PE's macros counted, per owner layer; a spike × spike product's
        dynamic operand written into weight memory is its own action (``operand_read``/``operand_write``)."""
        for pe in pes:
            for kind, mac in pe.macros.items():
                for counts, action in ((mac.reads, "read"), (mac.writes, "write")):
                    for owner, n in counts.items():
                        if owner.startswith(OPERAND):
                            ledger.add(kind, f"operand_{action}", n, owner.removeprefix(OPERAND))
                        else:
                            ledger.add(kind, action, n, owner)

    def report_datapath(self, ledger: Ledger, costs: dict[tuple[str, int], Any]) -> None:
        """The PEs' adder trees (activations weighted by the fraction of the 128 lanes they use) and fire
        units, and the router units of transformer layers (softmax and layer-norm activations, the residual
        additions of add_norm), per layer slice."""
        for (layer, _), c in costs.items():
            ledger.add("adder_tree", "lane_activation", c.adder_lane_acts, layer)
            ledger.add("fire", "activation", c.actions.fire_activations, layer)
            ledger.add("softmax", "activation", c.softmax_acts, layer)
            ledger.add("layernorm", "activation", c.layernorm_acts, layer)
            ledger.add("accumulator", "add_norm_op", c.accumulator_ops, layer)

    def report_scheduling(
        self,
        ledger: Ledger,
        wl: Any,
        act: Any,
        mapping: Any,
        events: dict[str, np.ndarray],
        residual_ops: int,
    ) -> None:
        """im2col, order controller, update arbiter, residual add and first-layer accumulate (the input
        buffer's queues are SRAM: :meth:`report_macros`).

        Per consumer slice (each core holding a slice does its own expansion, and every slice absorbs all of
        its layer's input spines by the end of a run): im2col per input spike; order controller per input
        spine per step; update arbiter per input spine per step per active PE; the residual units'
        ``residual_ops`` accumulator ops (what they added: ceil(spikes / lanes) per spine of every skip train,
        :mod:`elsa_tlm.hw.residual`); the first layer's multi-bit pixels accumulate in the 16-lane
        accumulator: one op per expanded event per 16 columns.
        """
        ledger.add("accumulator", "residual_op", residual_ops)
        for layer in wl.layers:
            slices = mapping.by_layer[layer.name]
            n = len(slices)
            spines = act.time_steps * layer.n_in
            active_pes = sum(sum(1 for c in s.pe_cols if c > 0) for s in slices)
            ledger.add("im2col", "spike", int(act.inputs[layer.name].sum()) * n, layer.name)
            ledger.add("order_controller", "spine", spines * n, layer.name)
            ledger.add("update_arbiter", "spine", spines * active_pes, layer.name)
            if layer.index == 0:
                blocks = sum(-(-c // 16) for s in slices for c in s.pe_cols if c > 0)
                ledger.add(
                    "accumulator", "first_layer_op", int(events[layer.name].sum()) * blocks / 16, layer.name
                )

    def report_packetisation(self, ledger: Ledger, packets_sent: int, flits_received: int) -> None:
        """Flit generator per packet generated; flit decoder per flit received."""
        ledger.add("flit_generator", "packet", packets_sent)
        ledger.add("flit_decoder", "flit", flits_received)

    def report_noc(self, ledger: Ledger, counters: dict[str, int], route_lookups_per_router: int = 1) -> None:
        """Flit hops (DSENT: buffer, crossbar, arbitration and wire of one router + link hop), local
        deliveries (flits whose source and destination are the same core) and route-table lookups (packets ×
        routers visited × lookups per packet per router; a format that carries hop offsets needs none)."""
        ledger.add("router", "flit_hop", counters["flit_hops"])
        ledger.add("router", "local_delivery", counters.get("loopback_flits", 0))
        ledger.add("routing_engine", "lookup", counters["route_ops"] * route_lookups_per_router)

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
        return bits * self.table[("dram", "bit")][0]

    # ------------------------------------------------------------------ prices
    def core_leakage_w(self) -> float:
        """Leakage of one powered core: every block class of :mod:`elsa_tlm.energy.estimators` (W)."""
        return core_leakage_w(self.cfg, self.area.cap, self.mem, self.logic)

    def pe_energy(self, a: ActionCounts, adder_lane_acts: float) -> dict[str, float]:
        """Joules of a set of PE actions (``adder_lane_acts``: adder activations weighted by the fraction of the
        128 lanes they use), priced with the same table as the ledger."""
        t = self.table
        return {
            "adder": adder_lane_acts * t[("adder_tree", "lane_activation")][0],
            "weight_sram": a.weight_row_reads * t[("weight", "read")][0],
            "membrane_sram": a.membrane_row_reads * t[("membrane", "read")][0]
            + a.membrane_row_writes * t[("membrane", "write")][0],
            "tracer_sram": a.tracer_reads * t[("tracer", "read")][0]
            + a.tracer_writes * t[("tracer", "write")][0],
            "fire": a.fire_activations * t[("fire", "activation")][0],
        }


__all__ = ["EnergyModel", "Ledger", "sop_counts", "MACRO_CATEGORY", "PJ"]
