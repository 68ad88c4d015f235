"""The default chip does what ELSA_BRIEF §3 states, and each kept alternative is a slower what-if:
one-cycle N-way weight reads, co-mapped layers as parallel lane groups, a forwarding accumulator; more neuron
circuits never make the chip slower; the time quantum does not decide the answer; the input-buffer kernel is
the same compiled or not, for every legal depth/ways pair, in any process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from elsa_tlm import sim
from elsa_tlm.config import load_config
from elsa_tlm.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
R18 = ['workload.model="resnet18"', "run.time_steps=4", "output.plots=false"]
VGG = ['workload.model="vgg16_cifar10"', "run.time_steps=2", "output.plots=false"]


def _latency(keys: list[str]) -> int:
    return sim.run(load_config(None, keys)).summary["latency_cycles"]


@pytest.fixture(scope="module")
def r18() -> int:
    return _latency(R18)


@pytest.mark.parametrize(
    "what_if",
    ['pe.weight_buffer="banked"', 'pe.layer_groups="time_shared"', 'pe.raw_hazard="stall"'],
)
def test_each_kept_alternative_is_slower_than_elsa(r18: int, what_if: str) -> None:
    assert _latency([*R18, what_if]) > r18


def test_the_time_quantum_does_not_decide_the_answer(r18: int) -> None:
    """run.batch_items = 4 and 16 (the default) within 2 % (ResNet-18, T = 4)."""
    fine = _latency([*R18, "run.batch_items=4"])
    assert abs(fine - r18) / r18 < 0.02


def test_more_neuron_circuits_never_make_the_chip_slower() -> None:
    """On the same mapping (the port-aware merge keeps the partition from following the circuit count),
    more circuits never slow the chip; with ELSA's capacity merge, more circuits let more layers share a core
    (and its im2col unit), which docs/MODEL.md §2 measures: the default chip is then within 2 %."""
    lat = [_latency([*VGG, 'mapping.merge="port_aware"', f"pe.neuron_circuits={c}"]) for c in (64, 128, 256)]
    assert lat[0] >= lat[1] >= lat[2], lat
    default = _latency(VGG)
    assert _latency([*VGG, "pe.neuron_circuits=256"]) <= 1.02 * default


def test_unknown_values_of_the_new_keys_are_refused_with_the_valid_ones() -> None:
    for key, bad, valid in (
        ("pe.weight_buffer", "nway2", "nway, banked"),
        ("pe.layer_groups", "serial", "parallel, time_shared"),
        ("pe.raw_hazard", "bypass", "forward, stall"),
    ):
        with pytest.raises(ConfigError, match=f"{key}.*{valid}"):
            load_config(None, [f'{key}="{bad}"'])


CHILD = """
import json, os, sys
from elsa_tlm import sim
from elsa_tlm.config import load_config
if os.environ.get("IBUF_REFERENCE"):  # the plain-Python reference input-buffer kernel, not the installed one
    from elsa_tlm.hw import input_buffer
    input_buffer.kernel = lambda: ("python", input_buffer._simulate_py)
s = sim.run(load_config(None, sys.argv[1:])).summary
s.pop("sim")
print(json.dumps(s, sort_keys=True))
"""


def _summary_in_process(keys: list[str], env: dict[str, str] | None = None) -> str:
    p = subprocess.run(
        [sys.executable, "-c", CHILD, *keys],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    return p.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("odd", ["pe.input_queue_depth=4", "pe.weight_ways=32"])
def test_depth_below_ways_is_the_same_in_every_process_and_without_the_compiler(odd: str) -> None:
    """The pair that once read past the cost table: byte-identical summaries from three processes and from
    the plain-Python reference kernel; never faster than the default buffer."""
    keys = [*VGG, odd]
    runs = {_summary_in_process(keys) for _ in range(3)}
    runs.add(_summary_in_process(keys, {"IBUF_REFERENCE": "1"}))
    assert len(runs) == 1
    (text,) = runs
    assert json.loads(text)["latency_cycles"] >= _latency(VGG)
