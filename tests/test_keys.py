"""No dead keys: every configuration key changes a run's results when changed, or the schema says why not."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import pytest

from elsa_tlm import sim
from elsa_tlm.config import SECTIONS, load_config
from elsa_tlm.errors import ElsaError

ROOT = Path(__file__).resolve().parents[1]
BASE = ['workload.model="vgg16_cifar10"', "run.time_steps=1", "output.plots=false"]
R18 = ['workload.model="resnet18"']  # co-mapped layers (T = 1)
DIGITS = ['workload.model="digits"', 'workload.activity="functional"', "run.time_steps=4"]
NIR_FUNCTIONAL = ["workload.model=@nir", 'workload.activity="functional"', "workload.inputs=@inputs"]
# key -> (changed value, context it needs). Keys missing here are probed with the generic rule below.
PROBES: dict[str, tuple[str, list[str]]] = {
    "workload.model": ('"vgg16_cifar100"', []),
    "workload.activity": ('"replay"', ["workload.replay_path=@replay"]),
    "workload.replay_path": ("@replay_other", ['workload.activity="replay"', "workload.replay_path=@replay"]),
    "workload.samples": ("2", DIGITS),
    "workload.sample_offset": ("5", DIGITS),
    "workload.classifier_density": ("0.5", ['workload.model="resnet18"']),
    "workload.step_profile": ('"uniform"', ['workload.model="vit_small"', 'mapping.partition="vit_blocks"']),
    "pe.product": ('"outer"', []),
    "chip.accumulator_lanes": ("1", ['workload.model="resnet18"']),
    "memory.technology": ('"edram"', []),
    "memory.edram_retention_us": ("3.0", ['memory.technology="edram"']),
    "noc.topology": ('"torus:6x6"', []),
    "noc.routing": ('"valiant"', []),
    "noc.protocol": ('"aer_morphic"', []),
    "noc.route_compute_cycles": ("2", ["noc.switch_alloc_cycles=3", "noc.switch_traversal_cycles=3"]),
    "noc.switch_alloc_cycles": ("2", ["noc.route_compute_cycles=3", "noc.switch_traversal_cycles=3"]),
    "noc.switch_traversal_cycles": ("3", ["noc.route_compute_cycles=2", "noc.switch_alloc_cycles=3"]),
    "noc.router": ('"vc"', []),
    "noc.virtual_channels": ("2", ['noc.router="vc"']),
    # deep VCs on the co-mapped ResNet-18 (VGG16 at T = 1 no longer depends on the depth once a core's local
    # paths take no VC credits)
    "noc.vc_buffer_flits": ("64", ['noc.router="vc"', *R18]),
    "mapping.partition": ('"none"', R18),
    "mapping.placement": ('"linear"', []),
    "mapping.refine": ("false", []),
    "mapping.max_layers_per_core": ("1", R18),
    "mapping.split": ('"auto"', []),
    "mapping.merge": ('"port_aware"', []),
    "noc.local_queues": ('"shared"', ["run.time_steps=2"]),
    "noc.input_queues": ('"shared"', ["run.time_steps=2"]),
    # a core whose slices need more circuits than 128/L each (phase-2 merges on a small mesh)
    "mapping.lanes": ('"by_need"', ['workload.model="resnet18"', 'noc.topology="mesh:3x4"']),
    "mapping.weight_spill": ("false", ['workload.model="resnet18"', 'noc.topology="mesh:4x4"']),
    "schedule.policy": ('"tbt"', []),
    "schedule.order": ('"raster"', []),
    "schedule.defer_padding": ("false", []),
    "schedule.core_arbitration": (
        '"oldest_step"',
        [*R18, "run.time_steps=2", 'pe.layer_groups="time_shared"'],
    ),
    "pe.weight_buffer": ('"banked"', []),
    "pe.layer_groups": ('"time_shared"', R18),
    "pe.raw_hazard": ('"stall"', []),
    "memory.access_cycles": ("2", ['pe.raw_hazard="stall"']),
    "run.time_steps": ("2", []),
    "run.mode": ('"lt"', []),
    "run.lt_batch_items": ("4", ['run.mode="lt"']),
    "run.lt_backpressure": ("true", ['run.mode="lt"']),
    "run.batch_items": ("2", []),
    "run.train_bytes": ("64", []),  # below the default (256 B): shorter trains
    "run.exit_confidence": ("0.9", DIGITS),
    "pe.tracer_bits": ("16", []),
    # a NIR graph (made by the fixture): its rate, per-node rates, input spikes and Euler step
    "workload.rate": ("0.3", ["workload.model=@nir", "workload.rate=0.1"]),
    "workload.rates": ("@rates", ["workload.model=@nir", "workload.rate=0.1"]),
    "workload.inputs": ("@inputs_other", NIR_FUNCTIONAL),
    "workload.nir_dt": ("0.25", NIR_FUNCTIONAL),
    "pe.tracer_sram_kib": ("20", []),
}


def _keys() -> list[tuple[str, str]]:
    return [(s, f.name) for s, cls in SECTIONS.items() for f in fields(cls)]


def _probe(section: str, name: str) -> tuple[str, list[str]]:
    key = f"{section}.{name}"
    if key in PROBES:
        return PROBES[key]
    default = getattr(load_config(None, BASE), section).__getattribute__(name)
    if isinstance(default, bool):
        return ("false" if default else "true", [])
    if isinstance(default, int):
        return (str(default // 2 if default > 2 else default + 1), [])
    if isinstance(default, float):
        return (repr(default * 0.5 if default > 0 else 0.5), [])
    raise AssertionError(f"no probe for {key}")


@pytest.fixture(scope="module")
def replay_files(tmp_path_factory) -> dict[str, str]:
    from elsa_tlm.workload.activity import save_activity

    d = tmp_path_factory.mktemp("replay")
    out = {}
    for tag, seed in (("@replay", 1), ("@replay_other", 2)):
        act = sim.prepare(load_config(None, [*BASE, f"run.seed={seed}"])).activity
        save_activity(str(d / f"{seed}.npz"), act, "vgg16_cifar10")
        out[tag] = json.dumps(str(d / f"{seed}.npz"))
    # a small NIR graph (conv -> LIF -> linear -> LIF), its inputs and per-node rates
    import nir
    import numpy as np

    rng = np.random.default_rng(0)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([2, 6, 6])}),
        "conv": nir.Conv2d(input_shape=(6, 6), weight=rng.normal(0, 0.8, (4, 2, 3, 3)), stride=1, padding=1,
                           dilation=1, groups=1, bias=np.zeros(4)),
        "lif": nir.LIF(tau=np.full((4, 6, 6), 2.0), r=np.ones((4, 6, 6)), v_leak=np.zeros((4, 6, 6)),
                       v_threshold=np.full((4, 6, 6), 0.5)),
        "flat": nir.Flatten(input_type={"input": np.array([4, 6, 6])}, start_dim=0),
        "fc": nir.Linear(weight=rng.normal(0, 0.3, (5, 144))),
        "out": nir.LIF(tau=np.full(5, 2.0), r=np.ones(5), v_leak=np.zeros(5), v_threshold=np.full(5, 0.5)),
        "output": nir.Output(output_type={"output": np.array([5])}),
    }  # fmt: skip
    edges = [
        ("input", "conv"),
        ("conv", "lif"),
        ("lif", "flat"),
        ("flat", "fc"),
        ("fc", "out"),
        ("out", "output"),
    ]
    nir.write(str(d / "g.nir"), nir.NIRGraph(nodes=nodes, edges=edges, type_check=False))
    out["@nir"] = json.dumps("nir:" + str(d / "g.nir"))
    for tag, seed in (("@inputs", 1), ("@inputs_other", 2)):
        spikes = (np.random.default_rng(seed).random((4, 2, 6, 6)) < 0.3).astype(np.int8)
        np.savez(d / f"in{seed}.npz", spikes=spikes)
        out[tag] = json.dumps(str(d / f"in{seed}.npz"))
    (d / "rates.toml").write_text("input = 0.3\nlif = 0.05\n")
    out["@rates"] = json.dumps(str(d / "rates.toml"))
    return out


def _summary(overrides: list[str]) -> str:
    from elsa_tlm import api

    try:
        s = api.run(load_config(None, overrides)).summary
    except ElsaError as exc:  # a change that makes the design refuse to run is a change too
        return f"error: {exc}"
    s.pop("sim", None)
    return json.dumps(s, sort_keys=True, default=str)


def _resolve(item: str, files: dict[str, str]) -> str:
    """``key=@tag`` -> ``key=<path of the replay file tagged @tag>``."""
    key, _, value = item.partition("=")
    return f"{key}={files[value]}" if value in files else item


@pytest.mark.parametrize(("section", "name"), _keys(), ids=[f"{s}.{n}" for s, n in _keys()])
def test_every_key_changes_results_or_says_why_not(section: str, name: str, replay_files) -> None:
    cls = SECTIONS[section]
    info = {f.name: f.metadata["informational"] for f in fields(cls)}[name]
    if info:
        assert len(info) > 10  # a reason a reader can check
        return
    value, context = _probe(section, name)
    context = [_resolve(c, replay_files) for c in context]
    value = replay_files.get(value, value)
    before = _summary([*BASE, *context])
    after = _summary([*BASE, *context, f"{section}.{name}={value}"])
    assert before != after, f"{section}.{name}={value} changed nothing"


def test_model_md_key_table_is_the_schema() -> None:
    from elsa_tlm.config import keys_table

    assert keys_table() in (ROOT / "docs" / "MODEL.md").read_text(), "regenerate with config.keys_table()"
