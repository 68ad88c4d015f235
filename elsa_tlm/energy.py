"""Energy ledger: action counts × per-action energy, leakage × powered time, eDRAM refresh, DRAM.

Every number comes from ``elsa_tlm/data/elsa_28nm.toml`` (ELSA's 28 nm characterisation) except the DRAM
energy per bit (``chip.dram_pj_per_bit``) and the eDRAM retention time (``memory.edram_retention_us``),
assumptions stated in docs/MODEL.md. On-chip categories (``energy_breakdown_j``, summing to ``energy_j``):
adder, accumulator, weight_sram, membrane_sram, tracer_sram, input_buffer, fire, scheduling_logic, residual,
packetisation, noc_hops, noc_local_delivery, routing_engine, refresh, leakage. DRAM (the input image) is
apart: ``dram_energy_j``, and ``system_energy_j`` = both.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from elsa_tlm.area import AreaModel
from elsa_tlm.config import Config
from elsa_tlm.hw.sram import OPERAND
from elsa_tlm.noc.network import noc_energy_j
from elsa_tlm.snn.products import ActionCounts
from elsa_tlm.tech import load_tech, memory_table

PJ = 1e-12


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
    """Turns the counts a run produced into joules per category."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.tech = load_tech()
        self.mem = memory_table(cfg.memory.technology)
        self.logic = self.tech["logic"]
        self.area = AreaModel(cfg)

    # ------------------------------------------------------------------ PE datapath
    def pe_energy(self, actions: dict[str, ActionCounts], adder_lanes: dict[str, float]) -> dict[str, float]:
        total = ActionCounts()
        for a in actions.values():
            total = total + a
        return self._pe_energy(total, sum(adder_lanes.values()))

    def datapath_energy(
        self, actions: dict[str, ActionCounts], adder_lanes: dict[str, float]
    ) -> dict[str, float]:
        """The PEs' logic: adder trees and fire units (their SRAM: :meth:`sram_energy`)."""
        e = self.pe_energy(actions, adder_lanes)
        return {"adder": e["adder"], "fire": e["fire"]}

    def sram_energy(self, pes: list[Any]) -> dict[str, float]:
        """Row reads and writes that every PE's macros counted × the technology's per-access energy: the
        weight, membrane and tracer buffers and the input queues; a spike x spike product's dynamic operand
        written into weight memory is its own line (``operand_tracer``)."""
        m = self.mem
        out = {"weight_sram": 0.0, "membrane_sram": 0.0, "tracer_sram": 0.0, "input_buffer": 0.0}
        operand = 0.0
        line = {"weight": "weight_sram", "membrane": "membrane_sram", "tracer": "tracer_sram"}
        line["input_queue"] = "input_buffer"
        for pe in pes:
            for kind, mac in pe.macros.items():
                for counts, pj_key in ((mac.reads, "read_pj"), (mac.writes, "write_pj")):
                    for owner, n in counts.items():
                        pj = n * m[kind][pj_key] * PJ
                        if owner.startswith(OPERAND):
                            operand += pj
                        else:
                            out[line[kind]] += pj
        if operand:
            out["operand_tracer"] = operand
        return out

    def _pe_energy(self, a: ActionCounts, adder_lane_acts: float) -> dict[str, float]:
        """``adder_lane_acts``: adder activations weighted by the fraction of the 128 lanes they use."""
        m, lg = self.mem, self.logic
        return {
            "adder": adder_lane_acts * lg["adder_tree"]["energy_pj"] * PJ,
            "weight_sram": a.weight_row_reads * m["weight"]["read_pj"] * PJ,
            "membrane_sram": (
                a.membrane_row_reads * m["membrane"]["read_pj"]
                + a.membrane_row_writes * m["membrane"]["write_pj"]
            )
            * PJ,
            "tracer_sram": (
                a.tracer_reads * m["tracer"]["read_pj"] + a.tracer_writes * m["tracer"]["write_pj"]
            )
            * PJ,
            "fire": a.fire_activations * lg["fire"]["energy_pj"] * PJ,
        }

    def layer_energy(self, a: ActionCounts, adder_lane_acts: float) -> float:
        return float(sum(self._pe_energy(a, adder_lane_acts).values()))

    # ------------------------------------------------------------------ router-side units
    def scheduling_energy(
        self, wl: Any, act: Any, mapping: Any, events: dict[str, np.ndarray], residual_ops: int
    ) -> dict[str, float]:
        """im2col, order controller, update arbiter, residual add and first-layer accumulate (the input
        buffer's queues are SRAM: :meth:`sram_energy`).

        Per consumer slice (each core holding a slice does its own expansion): im2col per input spike; order controller per
        input spine per step; update arbiter per input spine per step per PE; the residual units'
        ``residual_ops`` 16-lane accumulator ops (what they added: ceil(spikes / 16) per spine of every skip
        train, :mod:`elsa_tlm.hw.residual`); the first layer's multi-bit pixels
        accumulate in the 16-lane accumulator: one op per expanded event per 16 columns.
        """
        lg = self.logic
        e_im2col = e_order = e_arb = e_acc = 0.0
        per_op = lg["accumulator"]["energy_pj"] * self.cfg.chip.accumulator_lanes / 16  # same pJ per spike
        e_res = residual_ops * per_op
        for layer in wl.layers:
            slices = mapping.by_layer[layer.name]
            n = len(slices)
            ev = int(events[layer.name].sum())
            spikes = int(act.inputs[layer.name].sum())
            spines = act.time_steps * layer.n_in
            active_pes = sum(sum(1 for c in s.pe_cols if c > 0) for s in slices)
            e_im2col += spikes * n * lg["im2col"]["energy_pj"]
            e_order += spines * n * lg["order_controller"]["energy_pj"]
            e_arb += spines * active_pes * lg["update_arbiter"]["energy_pj"]
            if layer.index == 0:
                blocks = sum(-(-c // 16) for s in slices for c in s.pe_cols if c > 0)
                e_acc += ev * blocks / 16 * lg["accumulator"]["energy_pj"]
        return {
            "scheduling_logic": (e_im2col + e_order + e_arb) * PJ,
            "residual": e_res * PJ,
            "accumulator": e_acc * PJ,
        }

    def transformer_energy(self, costs: list[Any]) -> dict[str, float]:
        """Router units of transformer layers: spiking softmax and layer norm per 128-lane activation, the
        residual additions of add_norm (16-lane accumulator per 16 spikes). (The writes of a spike × spike
        product's dynamic operand into weight memory are counted by the PE's macros: :meth:`sram_energy`.)"""
        lg = self.logic
        return {
            "softmax": sum(c.softmax_acts for c in costs) * lg["softmax"]["energy_pj"] * PJ,
            "layernorm": sum(c.layernorm_acts for c in costs) * lg["layernorm"]["energy_pj"] * PJ,
            "residual_add": sum(c.accumulator_ops for c in costs)
            * lg["accumulator"]["energy_pj"]
            * self.cfg.chip.accumulator_lanes
            / 16
            * PJ,
        }

    def packetisation_energy(self, packets_sent: int, flits_received: int) -> dict[str, float]:
        """Flit generator per packet generated; flit decoder per flit received."""
        lg = self.logic
        return {
            "packetisation": (
                packets_sent * lg["flit_generator"]["energy_pj"]
                + flits_received * lg["flit_decoder"]["energy_pj"]
            )
            * PJ
        }

    def noc_energy(self, counters: dict[str, int], route_lookups_per_router: int = 1) -> dict[str, float]:
        return noc_energy_j(counters, self.cfg.noc.flit_bits, self.tech, route_lookups_per_router)

    def refresh_energy(self, occupied: dict[str, Any], seconds: float) -> tuple[float, int]:
        """eDRAM: every occupied row of weights, membranes and tracers is refreshed (read and written
        back) once per retention time while the inference runs; SRAM needs none. (joules, row refreshes)."""
        if self.cfg.memory.technology != "edram":
            return 0.0, 0
        refreshes = int(seconds * 1e6 // self.cfg.memory.edram_retention_us)
        rows = self.cfg.pe.macro_rows
        pj = 0.0
        n = 0
        for kind in ("weight", "membrane", "tracer"):
            k_rows = occupied[f"{kind}_macros"] * rows * refreshes
            n += k_rows
            pj += k_rows * (self.mem[kind]["read_pj"] + self.mem[kind]["write_pj"])
        return pj * PJ, n

    def dram_energy(self, wl: Any) -> float:
        h, w = wl.input_hw
        bits = h * w * wl.input_channels * self.cfg.chip.input_bits
        return bits * self.cfg.chip.dram_pj_per_bit * PJ

    # ------------------------------------------------------------------ leakage
    def core_leakage_w(self) -> float:
        """Leakage of one powered core: all its macros and logic blocks (W)."""
        cap, m, lg = self.area.cap, self.mem, self.logic
        pes = cap.pes
        nw = (
            cap.weight_macros * m["weight"]["leakage_nw"]
            + cap.membrane_macros * m["membrane"]["leakage_nw"]
            + cap.tracer_macros * m["tracer"]["leakage_nw"]
            + self.cfg.pe.input_queues * m["input_queue"]["leakage_nw"]
        ) * pes
        uw = pes * (
            lg["adder_tree"]["leakage_uw"] + lg["fire"]["leakage_uw"] + lg["update_arbiter"]["leakage_uw"]
        )
        uw += sum(
            lg[k]["leakage_uw"]
            for k in (
                "im2col",
                "order_controller",
                "flit_generator",
                "flit_decoder",
                "crossbar",
                "routing_engine",
                "accumulator",
                "softmax",  # every core's router has one spiking-softmax and one layer-norm unit
                "layernorm",
            )
        )
        # the router's spike FIFOs have no leakage figure in the table (DSENT's hop energy is dynamic only)
        return nw * 1e-9 + uw * 1e-6

    def leakage_energy(self, cores_used: int, seconds: float) -> float:
        """Used cores leak for the whole inference; unused cores are power-gated."""
        return self.core_leakage_w() * cores_used * seconds
