"""A faster unit never makes the chip slower (issue 31): free fires, more weight ways, more neuron circuits,
bigger FIFOs and wider flits each give a latency no more than 2 % above the default chip's, on VGG16-CIFAR10 and ResNet-18.

CI runs them at T = 4; ``ELSA_TLM_FULL=1`` (``make monotonicity``) at each network's own T. Before the router's
local input queues were divided among a core's lane groups, free fires made both networks 20-27 % slower: a
co-mapped producer running ahead into later steps filled the one shared local FIFO and held back its
consumer's earlier-step spines (docs/MODEL.md §3, local input queues).
"""

from __future__ import annotations

import os

import pytest

from elsa_tlm import sim
from elsa_tlm.config import load_config

FULL = os.environ.get("ELSA_TLM_FULL") == "1"
NETWORKS = {"vgg16_cifar10": 16, "resnet18": 16}
FASTER = {
    "free fires": ["pe.fire_cycles=0"],
    "more weight ways": ["pe.weight_ways=32"],
    "more neuron circuits": ["pe.neuron_circuits=256"],
    # 16x the FIFO queues (router buffers, output queues, input FIFOs): with a router buffer on the second local
    # path (6ae40d7) VGG16 at T = 4 took 52,677 cycles with 8 KB against 42,915 with 512 B (docs/MODEL.md §3)
    "bigger FIFOs": ["noc.fifo_bytes=8192"],
}
SLACK = 1.02


def _latency(model: str, extra: list[str], ci_t: int = 4) -> int:
    T = NETWORKS[model] if FULL else ci_t
    keys = [f'workload.model="{model}"', f"run.time_steps={T}", "output.plots=false", *extra]
    return sim.run(load_config(None, keys)).summary["latency_cycles"]


@pytest.fixture(scope="module")
def default() -> dict[str, int]:
    return {m: _latency(m, []) for m in NETWORKS}


@pytest.mark.parametrize("model", sorted(NETWORKS))
@pytest.mark.parametrize("what", sorted(FASTER))
def test_a_faster_unit_is_never_slower(model: str, what: str, default: dict[str, int]) -> None:
    lat = _latency(model, FASTER[what])
    assert lat <= SLACK * default[model], f"{model}, {what}: {lat} cycles against {default[model]}"


# the wider-flits check runs VGG16-CIFAR10 at its own T in CI too (a run takes well under a second): with trains of
# up to 1 KB, at T = 4 the 16-spine transaction quantum, not the flit, made 256-bit flits 2.6 % slower (42,606
# against 41,508 cycles: a transaction's spines leave as one train when its last has fired, and 128-bit flits cut
# them into more, earlier trains; docs/MODEL.md §7b); with 256 B trains the two are within 0.2 % (T = 16: 47,831
# against 47,920).
FLIT_T = {"vgg16_cifar10": 16}


@pytest.mark.parametrize("model", sorted(NETWORKS))
def test_wider_flits_are_never_slower(model: str) -> None:
    """The default flit (256 bits, the widest) against 128-bit flits."""
    ci_t = FLIT_T.get(model, 4)
    wide, narrow = _latency(model, [], ci_t), _latency(model, ["noc.flit_bits=128"], ci_t)
    assert wide <= SLACK * narrow, f"{model}: {wide} cycles with 256-bit flits against {narrow}"


def test_the_shared_local_fifo_what_if_shows_the_inversion(default: dict[str, int]) -> None:
    """One FIFO for all of a core's lane groups (the model before issue 31): free fires slow VGG16 down."""
    shared = ['noc.local_queues="shared"']
    assert _latency("vgg16_cifar10", [*shared, "pe.fire_cycles=0"]) > SLACK * _latency(
        "vgg16_cifar10", shared
    )


VIT = [
    'workload.model="vit_small"',
    'mapping.partition="vit_blocks"',
    'schedule.policy="token"',
    "run.time_steps=2",
]


@pytest.fixture(scope="module")
def vit_default() -> dict:
    return sim.run(load_config(None, [*VIT, "output.plots=false"])).summary


def test_bigger_fifos_do_not_coarsen_the_trains(vit_default: dict) -> None:
    """A train (the NoC's transaction, leaving with its last spine) is at most run.train_bytes whatever the
    FIFOs: ViT-Small's token spines are long, and trains of up to half the 4 x 8 KB FIFOs held each token back until its
    successors were ready (T = 2: 604,061 cycles with 8 KB queues against 495,846 with the brief's 512 B; at
    its own T 1,225,815 -> 1,327,272)."""
    bigger = sim.run(load_config(None, [*VIT, "output.plots=false", "noc.fifo_bytes=8192"])).summary
    for what in ("latency_cycles", "first_output_cycle"):
        assert bigger[what] <= SLACK * vit_default[what], (what, bigger[what], vit_default[what])


def test_free_fires_do_not_slow_vit_down(vit_default: dict) -> None:
    """ViT-Small at T = 2 with free fires took 15 % longer (570,077 cycles against 495,846) while a core's input
    FIFOs were one FIFO for every stream into it and trains were up to 1 KB: a stream whose consumer was busy
    held the others' trains at the ejection port (docs/MODEL.md §3, input FIFO queues)."""
    free = sim.run(load_config(None, [*VIT, "output.plots=false", "pe.fire_cycles=0"])).summary
    for what in ("latency_cycles", "first_output_cycle"):
        assert free[what] <= SLACK * vit_default[what], (what, free[what], vit_default[what])
