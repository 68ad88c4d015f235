"""Readiness rules on their own, and a neural core driven by a hand-made slice (no mapping, no network)."""

from __future__ import annotations

import numpy as np
import simpy

from elsa_tlm.config import load_config
from elsa_tlm.hw.core import LayerSlice, NeuralCore, SliceSpec
from elsa_tlm.hw.ni import NetworkInterface
from elsa_tlm.hw.pe import ProcessingElement
from elsa_tlm.hw.sram import pe_macros
from elsa_tlm.kernel import Kernel
from elsa_tlm.schedule.policy import LayerWise, SpineWise, StepWise, policy_for
from elsa_tlm.schedule.readiness import ProducerLink, Readiness, slice_release


def test_prefix_advances_only_over_complete_positions() -> None:
    # 4 input positions, two producer slices each delivering every position (need 2 parts per position)
    link = ProducerLink("conv", np.full(4, 2), False, False, [None, np.array([3, 2, 1, 0])])
    r = Readiness(1, 4, link.need, [0, 0, 1, 1, 2], softmax=False)
    r.complete(link, [(0, 0, 2)], 0, now=5)  # slice 0 delivers positions 0, 1: still one part missing each
    assert r.prefix == [0] and r.released(0) == 0
    r.complete(link, [(0, 2, 4)], 1, now=6)  # slice 1's emission positions 2, 3 are absorption positions 1, 0
    assert r.prefix == [2] and r.released(0) == 1  # positions 0 and 1 complete: output 0 released
    r.complete(link, [(0, 2, 4)], 0, now=7)
    assert r.prefix == [2]  # positions 2, 3 still wait for slice 1
    r.complete(link, [(0, 0, 2)], 1, now=8)
    assert r.prefix == [4] and r.released(0) == 2 and r.all_in()


def test_release_table_from_release_positions() -> None:
    # outputs 0..3 wait for input positions 3, 1, 1, 0
    rel_local, rel_count = slice_release(np.array([3, 1, 1, 0]), np.arange(4), 4)
    assert rel_local.tolist() == [3, 1, 2, 0]  # release order
    assert rel_count.tolist() == [0, 1, 3, 3, 4]  # released once P positions are complete


def test_policies_gate_emission() -> None:
    def at(f: int) -> int:
        return 10 * f

    ec = [0, 1, 2]
    assert SpineWise().leave(0, False, 3, at, 1, ec)(0) == 10
    assert (
        StepWise().leave(0, False, 3, at, 1, ec) is None and StepWise().leave(0, True, 3, at, 2, ec)(0) == 20
    )
    assert (
        LayerWise().leave(2, True, 3, at, 2, ec) is None and LayerWise().leave(3, True, 3, at, 2, ec)(0) == 20
    )
    assert policy_for("token").name == "token" and policy_for("lbl").name == "lbl"


def test_a_core_runs_a_hand_made_first_layer() -> None:
    """4 input spines of 1 cycle each; output 0 is released after 2 of them, output 1 after all 4; each output
    fires in 2 cycles. The PEs interleave: output 0 fires right after the spine that released it (cycle 2 + 2 =
    4), output 1 after the rest (4 + 2 + 2 = 8)."""
    cfg = load_config()
    env = simpy.Environment()
    spec = SliceSpec(
        "out#0",
        "out",
        0,
        1,
        4,
        0,
        absorb_pos=np.ones((1, 4)),
        write_pos=np.zeros((1, 4)),
        fire_rel=np.full((1, 2), 2.0),
        rel_count=np.array([0, 0, 1, 1, 2]),
        emit_count=np.array([0, 1, 2]),
        producers=[],
        packets=np.ones((1, 2), dtype=np.int64),
        flits=np.ones((1, 2), dtype=np.int64),
        spikes=np.ones((1, 2), dtype=np.int64),
        destinations=[],
        pe_share=[1.0] * cfg.chip.pes_per_core,
    )
    sl = LayerSlice(spec, SpineWise(), chunk_flits=8)
    pes = [ProcessingElement(0, i, pe_macros(cfg), 128) for i in range(cfg.chip.pes_per_core)]
    ni = NetworkInterface(Kernel(env), 0, 16, bounded=True)
    core = NeuralCore(Kernel(env), 0, pes, [sl], ni, 16, None)
    env.run()
    assert sl.done and sl.out_log == [(4, 8, [0])]
    assert core.busy == 8 and sl.stats.step_done == [8]
