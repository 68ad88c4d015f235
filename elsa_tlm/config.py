"""Scenario configuration: frozen dataclasses, strict TOML loading and validation, resolved-TOML output.

A scenario file is TOML with ``version = 1`` and the sections below. Every key has a type, a default that
reproduces the ELSA chip of the paper (28 nm, 6x6 mesh, 200 MHz; see ``elsa_tlm/data/elsa_28nm.toml``)
and a rule. Unknown keys, wrong types and out-of-range values raise :class:`ConfigError` naming the full
key path, the value and the rule. ``--set section.key=value`` overrides go through the same checks.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from elsa_tlm.datafiles import MAX_TOML_DEPTH, nesting_depth, toml_bracket_depth
from elsa_tlm.errors import ConfigError

MODELS = (
    "vgg16_cifar10",
    "vgg16_cifar100",
    "vgg16_cifar10dvs",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "yolov2",
    "vit_small",
    "digits",
    "digits_vit",
)
PROTOCOLS = ("baer", "aer_truenorth", "aer_morphic")
ROUTINGS = ("xy", "shortest", "valiant", "multipath")
# noc.router: the transaction router (default) or the input-queued virtual-channel router
ROUTERS = ("fast", "vc")
FLIT_BITS_MIN, FLIT_BITS_MAX = 48, 256
FUNCTIONAL_MODELS = ("digits", "digits_vit")  # trained weights shipped: spikes computed by the snn kernels
MAX_TIME_STEPS = 1024  # SNNs run 4-64 steps; beyond 1024 a run is a typo, not a study
NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")  # safe as one path component
TOPOLOGY_RE = re.compile(r"(mesh|torus):(\d+)x(\d+)|ring:(\d+)|file:(.+)", re.ASCII | re.DOTALL)
MAX_ROUTERS = 4096  # routing tables and link state grow with routers²: a 64 x 64 mesh is the largest accepted

Check = Callable[[Any], str | None]


def _opt(
    kind: type | tuple[type, ...], check: Check | None = None, doc: str = "", info: str = ""
) -> dict[str, Any]:
    return {"kind": kind, "check": check, "doc": doc, "informational": info}


def _positive(v: Any) -> str | None:
    return None if v > 0 else "must be > 0"


def _non_negative(v: Any) -> str | None:
    return None if v >= 0 else "must be >= 0"


def _one_of(*choices: str) -> Check:
    def check(v: Any) -> str | None:
        return None if v in choices else f"must be one of {', '.join(choices)}"

    check.allowed = ", ".join(f"`{c}`" for c in choices)  # type: ignore[attr-defined]
    return check


def _in_range(lo: float, hi: float) -> Check:
    def check(v: Any) -> str | None:
        return None if lo <= v <= hi else f"must be between {lo} and {hi}"

    check.allowed = f"{lo:g} … {hi:g}"  # type: ignore[attr-defined]
    return check


# what the other rules allow, for the key table
_ALLOWED = {
    "_positive": "> 0",
    "_non_negative": ">= 0",
    "_density_or_auto": "0 … 1, or `auto`",
    "_kib": "> 0, at least one macro",
    "_stage": "integer >= 0",
    "_topology": "`mesh:RxC`, `torus:RxC`, `ring:N`, `file:PATH`",
}


def _allowed(f: Any) -> str:
    """The allowed values of a key, from its rule (enum choices, a range) or its type."""
    check = f.metadata["check"]
    if check is not None and hasattr(check, "allowed"):
        return check.allowed
    if check is not None and getattr(check, "__name__", "") in _ALLOWED:
        return _ALLOWED[check.__name__]
    kind = f.metadata["kind"]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


def _model(v: Any) -> str | None:
    if isinstance(v, str) and v.startswith("nir:"):
        return None if v[4:].strip() else "nir: needs a path to a NIR graph (nir:PATH)"
    return None if v in MODELS else f"must be one of {', '.join(MODELS)}, or nir:PATH (a NIR graph)"


_model.allowed = ", ".join(f"`{m}`" for m in MODELS) + ", `nir:PATH`"  # type: ignore[attr-defined]


def _rate_or_unset(v: Any) -> str | None:
    return (
        None
        if v == -1 or 0 <= v <= 1
        else "must be a firing rate in [0, 1] (spikes per neuron and step), or -1 (unset)"
    )


def _density_or_auto(v: Any) -> str | None:
    return None if v == -1 or 0 <= v <= 1 else "must be -1 (auto) or a density in [0, 1]"


def _kib(v: Any) -> str | None:
    return None if 0 < v <= 65536 else "must be > 0 and <= 65536 KiB (64 MiB per PE)"


def _stage(v: Any) -> str | None:
    return None if v == -1 or 0 <= v <= 1000 else "must be -1 (derived) or between 0 and 1000 cycles"


def _derived_count(hi: int) -> Check:
    """-1 (derived from the other keys) or an integer between 1 and ``hi``."""

    def check(v: Any) -> str | None:
        return None if v == -1 or 1 <= v <= hi else f"must be -1 (derived) or between 1 and {hi}"

    check.allowed = f"-1 (derived) or 1 … {hi}"  # type: ignore[attr-defined]
    return check


def _topology(v: str) -> str | None:
    m = TOPOLOGY_RE.fullmatch(v)
    if not m or (m.group(5) is not None and any(ch in m.group(5) for ch in "\n\r\0")):
        return "must be mesh:RxC, torus:RxC, ring:N (ASCII digits) or file:PATH"
    if m.group(1):
        r, c = int(m.group(2)), int(m.group(3))
        if r < 1 or c < 1 or r * c < 2:
            return "mesh/torus dimensions must be >= 1 with at least 2 nodes"
        if r * c > MAX_ROUTERS:
            return f"has {r * c} routers; at most {MAX_ROUTERS} (64x64) are supported"
    elif m.group(4) is not None:
        if int(m.group(4)) < 3:
            return "a ring needs at least 3 nodes"
        if int(m.group(4)) > MAX_ROUTERS:
            return f"has {int(m.group(4))} routers; at most {MAX_ROUTERS} are supported"
    return None


def meta(
    default: Any, kind: type | tuple[type, ...], check: Check | None = None, doc: str = "", info: str = ""
) -> Any:
    """A schema field. ``info``: why the key never changes a run's results (files, watchdog...); every key
    without it must change them (a test checks both)."""
    return field(default=default, metadata=_opt(kind, check, doc, info))


@dataclass(frozen=True)
class WorkloadConfig:
    model: str = meta(
        "vgg16_cifar10",
        str,
        _model,
        "network: a measured workload, 'digits', or nir:PATH (a NIR graph; relative to the scenario)",
    )
    activity: str = meta(
        "statistical", str, _one_of("statistical", "functional", "replay"), "where spikes come from"
    )
    replay_path: str = meta(
        "", str, None, "npz spike trace for activity = 'replay' (relative to the scenario)"
    )
    samples: int = meta(
        1, int, _in_range(1, 100_000), "functional activity: number of test images simulated on the chip"
    )
    sample_offset: int = meta(0, int, _non_negative, "functional activity: first test image simulated")
    step_profile: str = meta(
        "cnn",
        str,
        _one_of("cnn", "uniform"),
        "how a transformer recording's per-layer totals split over the steps (not recorded): front-loaded like"
        " the six recorded CNNs, or uniform",
    )
    classifier_density: float = meta(
        -1.0,
        (int, float),
        _density_or_auto,
        "ResNet classifier input density in [0, 1]; -1 = last conv's input density (see MODEL.md)",
    )
    inputs: str = meta(
        "",
        str,
        None,
        "nir: input spikes for functional activity: an npz with array 'spikes' (T, *input shape) or "
        "(samples, T, *input shape) (relative to the scenario)",
    )
    rate: float = meta(
        -1.0,
        (int, float),
        _rate_or_unset,
        "nir: statistical activity's firing rate of the input and of every neuron layer (spikes per neuron "
        "and step); -1 = unset",
    )
    rates: str = meta(
        "",
        str,
        None,
        "nir: a TOML of firing rates per NIR node (the Input, a synaptic or a neuron node) over workload.rate "
        "(relative to the scenario)",
    )
    nir_dt: float = meta(
        0.0,
        (int, float),
        _non_negative,
        "nir: the Euler time step of the functional reference run, in the units of the graph's taus; 0 = the "
        "graph's metadata 'dt', else 1",
    )


@dataclass(frozen=True)
class ChipConfig:
    clock_mhz: float = meta(200.0, (int, float), _in_range(1, 10_000), "core and NoC clock (MHz)")
    pes_per_core: int = meta(4, int, _in_range(1, 64), "processing elements per neural core")
    dram_pj_per_bit: float = meta(
        15.0, (int, float), _in_range(0, 1000), "off-chip input load energy (pJ/bit)"
    )
    input_bits: int = meta(8, int, _in_range(1, 32), "bits per input pixel loaded from DRAM")
    accumulator_lanes: int = meta(
        16,
        int,
        _in_range(1, 1024),
        "spikes the router's accumulator adds per cycle (residual joins, transformer additions); "
        "energy per spike is kept",
    )


@dataclass(frozen=True)
class PEConfig:
    product: str = meta("gustavson", str, _one_of("gustavson", "inner", "outer"), "spiking product dataflow")
    neuron_circuits: int = meta(
        128, int, _in_range(1, 4096), "ST-BIF neuron circuits (adder-tree lanes) per PE"
    )
    weight_ways: int = meta(16, int, _in_range(1, 256), "N: weight rows read per cycle (mini-batch size)")
    weight_buffer: str = meta(
        "nway",
        str,
        _one_of("nway", "banked"),
        "weight buffer: nway (ELSA: a mini-batch's N weight rows in one cycle) or banked (what-if: N "
        "single-ported banks, row r in bank r mod N; a mini-batch waits for its most loaded bank)",
    )
    layer_groups: str = meta(
        "parallel",
        str,
        _one_of("parallel", "time_shared"),
        "co-mapped layers: parallel (ELSA: each runs on its own lane group of the core's circuits, queues and "
        "memories, at once) or time_shared (what-if: they also take turns on the PEs)",
    )
    raw_hazard: str = meta(
        "forward",
        str,
        _one_of("forward", "stall"),
        "back-to-back mini-batches of one membrane row: forward (ELSA's pipelined accumulator chains them: "
        "no stall, one membrane read and write per chain) or stall (what-if: 2 x memory.access_cycles each)",
    )
    weight_bits: int = meta(4, int, _in_range(1, 16), "bits per weight")
    membrane_bits: int = meta(16, int, _in_range(4, 32), "bits per membrane potential")
    tracer_bits: int = meta(4, int, _in_range(2, 16), "bits per spike tracer")
    weight_sram_kib: float = meta(100.0, (int, float), _kib, "weight buffer per PE (KiB)")
    membrane_sram_kib: float = meta(300.0, (int, float), _kib, "membrane buffer per PE (KiB)")
    tracer_sram_kib: float = meta(100.0, (int, float), _kib, "spike-tracer buffer per PE (KiB)")
    input_queues: int = meta(32, int, _in_range(1, 1024), "input spike queues per PE")
    input_queue_depth: int = meta(16, int, _in_range(1, 1024), "entries per input queue")
    fire_cycles: int = meta(1, int, _in_range(0, 1024), "cycles to fire/update one 128-lane membrane row")
    macro_rows: int = meta(64, int, _in_range(8, 4096), "rows per SRAM macro")
    macro_words: int = meta(16, int, _in_range(1, 1024), "words per SRAM macro row")


@dataclass(frozen=True)
class MemoryConfig:
    technology: str = meta(
        "sram", str, _one_of("sram", "edram"), "buffer technology (energy/leakage/area tables)"
    )
    access_cycles: int = meta(
        1,
        int,
        _in_range(1, 1000),
        "latency of one macro-row access (cycles, pipelined): what a mini-batch waits for the row just written "
        "when the accumulator does not forward (pe.raw_hazard = stall)",
    )
    edram_retention_us: float = meta(
        7.7,
        (int, float),
        _in_range(0.1, 1e6),
        "eDRAM data retention (µs): every occupied row is refreshed once per retention time (28 nm gain-cell"
        " eDRAMs retain < 7.7 µs: Giterman et al., IEEE SSC-L 2020)",
    )


@dataclass(frozen=True)
class NocConfig:
    topology: str = meta("mesh:6x6", str, _topology, "router graph")
    routing: str = meta("xy", str, _one_of(*ROUTINGS), "routing algorithm")
    protocol: str = meta("baer", str, _one_of(*PROTOCOLS), "spike packet format")
    flit_bits: int = meta(256, int, _in_range(FLIT_BITS_MIN, FLIT_BITS_MAX), "bits per flit")
    link_bits: int = meta(512, int, _in_range(8, 4096), "link width (bits per cycle)")
    fifo_bytes: int = meta(512, int, _in_range(1, 1 << 20), "bytes per input FIFO queue")
    fifo_count: int = meta(4, int, _in_range(1, 64), "FIFO queues per router input port")
    local_queues: str = meta(
        "per_group",
        str,
        _one_of("per_group", "shared"),
        "the router's local input FIFO queues and a core's lane groups: per_group (each group's flit generator "
        "writes into its own queues, fifo_count / groups each) or shared (one FIFO for all: a group running "
        "ahead can hold back its co-mapped consumer's earlier steps)",
    )
    input_queues: str = meta(
        "per_stream",
        str,
        _one_of("per_stream", "shared"),
        "a core's input FIFO queues and the streams into it: per_stream (each producer layer's trains wait in "
        "their own queues, fifo_count / streams each) or shared (one FIFO for all: a stream whose consumer is "
        "busy holds the others' trains at the ejection port)",
    )
    local_paths: int = meta(
        2,
        int,
        _in_range(1, 2),
        "the router's local paths from its core's PEs: 2 (ELSA: trains a core sends to itself take their own "
        "path into its input FIFOs, apart from the network-bound ones, so they do not contend) or 1 (what-if: "
        "one injection path for both, first come first served)",
    )
    router_pipeline_cycles: int = meta(
        8, int, _in_range(1, 1000), "per-hop router latency (sum of the three stages)"
    )
    route_compute_cycles: int = meta(
        -1, int, _stage, "route-compute stage; -1 = derived from router_pipeline_cycles"
    )
    switch_alloc_cycles: int = meta(-1, int, _stage, "switch-allocation stage; -1 = derived")
    switch_traversal_cycles: int = meta(-1, int, _stage, "switch-traversal stage; -1 = derived")
    link_latency_cycles: int = meta(
        0, int, _in_range(0, 1000), "wire latency per link (ELSA's 8 cycles/hop include it)"
    )
    local_port_cycles: int = meta(1, int, _in_range(0, 1000), "core<->router injection/ejection latency")
    router: str = meta(
        "fast",
        str,
        _one_of(*ROUTERS),
        "router model in at mode: fast (transactions granted back to back, pooled input FIFOs) or vc "
        "(input-queued virtual-channel router: per-VC FIFOs, VC and switch allocation, credit round trip)",
    )
    virtual_channels: int = meta(
        -1,
        int,
        _derived_count(64),
        "vc router: virtual channels per input port; -1 = noc.fifo_count (ELSA's 4 FIFO queues per port)",
    )
    vc_buffer_flits: int = meta(
        -1,
        int,
        _derived_count(65536),
        "vc router: flits of one virtual channel's FIFO; -1 = one FIFO queue (noc.fifo_bytes / flit)",
    )
    deadlock_timeout_cycles: int = meta(
        20000,
        int,
        _in_range(10, 10**9),
        "no-progress window (cycles) after which the watchdog looks for a cyclic wait (a deadlock)",
        info="the watchdog only reports a deadlock; a run that finishes is the same whatever the window",
    )


@dataclass(frozen=True)
class MappingConfig:
    partition: str = meta(
        "elsa",
        str,
        _one_of("elsa", "greedy", "none", "vit_blocks"),
        "how layers share cores: elsa (ELSA's rules: greedy for CNNs, three cores per block for transformers),"
        " greedy, none, or vit_blocks",
    )
    placement: str = meta("hilbert", str, _one_of("hilbert", "linear"), "initial placement order")
    refine: bool = meta(True, bool, None, "neighbour-swap refinement of Σ traffic × distance")
    max_layers_per_core: int = meta(4, int, _in_range(1, 16), "P: layer groups sharing one core")
    weight_spill: bool = meta(True, bool, None, "weights may overflow into unused membrane macros")
    split: str = meta(
        "columns",
        str,
        _one_of("columns", "rows", "auto"),
        "how layers are cut over cores: output channels (ELSA), output-row bands, or auto (row bands for wide,"
        " shallow layers, spread over the cores left free)",
    )
    merge: str = meta(
        "capacity",
        str,
        _one_of("capacity", "port_aware"),
        "when the greedy partition merges two partitions: capacity (ELSA: their memory and neuron circuits fit "
        "one core) or port_aware (also only if the core's shared im2col write port carries every member's "
        "writes within its PE time)",
    )
    lanes: str = meta(
        "equal",
        str,
        _one_of("equal", "by_need"),
        "how the L slices sharing a core divide each PE's neuron circuits: equal (ELSA: 128/L each) or by_need "
        "(each the circuits its columns need, shrunk in proportion when they do not all fit)",
    )


@dataclass(frozen=True)
class ScheduleConfig:
    policy: str = meta(
        "spine",
        str,
        _one_of("lbl", "tbt", "spine", "token"),
        "pipeline policy (token = spine: a transformer's tokens are its spines)",
    )
    order: str = meta("shell", str, _one_of("shell", "raster"), "input spine visiting order")
    defer_padding: bool = meta(
        True, bool, None, "outputs touching bottom/right padding wait for the step's last input"
    )
    core_arbitration: str = meta(
        "round_robin",
        str,
        _one_of("round_robin", "oldest_step"),
        "which co-mapped slice a core serves next when they take turns (pe.layer_groups = time_shared): in "
        "turn, or the one with the oldest time step's work",
    )


@dataclass(frozen=True)
class RunConfig:
    time_steps: int = meta(0, int, _in_range(0, MAX_TIME_STEPS), "T; 0 = the workload's own")
    seed: int = meta(1, int, _in_range(0, 2**63 - 1), "root seed")
    mode: str = meta(
        "at",
        str,
        _one_of("at", "lt", "analytic"),
        "approximately timed (contention), loosely timed, or analytic (closed form, no events: docs/MODEL.md §6b)",
    )
    batch_items: int = meta(
        16, int, _in_range(1, 4096), "max spines absorbed (and fired) per PE transaction: the time quantum"
    )
    lt_batch_items: int = meta(64, int, _in_range(1, 4096), "the same in lt mode: its coarser time quantum")
    train_bytes: int = meta(
        256,
        int,
        _in_range(1, 1 << 24),
        "the largest train, bytes: emitted spines cross the NoC as trains (its transactions, leaving with their "
        "last spine) of at most half their stream's queue of the consumer's input FIFOs and at most this, so "
        "bigger FIFOs do not coarsen the timing (256: half one of the brief's 512 B queues)",
    )
    lt_backpressure: bool = meta(
        False,
        bool,
        None,
        "lt mode: the cores' input FIFOs admit a train only when they have room and a full output queue stalls "
        "its producer (the network stays zero-load; docs/MODEL.md §6)",
    )
    exit_confidence: float = meta(
        0.0, (int, float), _in_range(0.0, 1.0), "early exit at max softmax >= this (0 = off)"
    )


@dataclass(frozen=True)
class OutputConfig:
    trace: bool = meta(
        False,
        bool,
        None,
        "write trace.json.gz (Chrome/Perfetto trace events, gzip-compressed)",
        info="which files are written",
    )
    plots: bool = meta(True, bool, None, "write PNG plots", info="which files are written")
    dir: str = meta("", str, None, "output folder; '' = results/<scenario-name>", info="where files go")
    copy_plots: bool = meta(
        True, bool, None, "also copy plots into plots/<scenario-name>/", info="where files go"
    )


SECTIONS: dict[str, type] = {
    "workload": WorkloadConfig,
    "chip": ChipConfig,
    "pe": PEConfig,
    "memory": MemoryConfig,
    "noc": NocConfig,
    "mapping": MappingConfig,
    "schedule": ScheduleConfig,
    "run": RunConfig,
    "output": OutputConfig,
}
TOP_KEYS = ("version", "name", "description")


@dataclass(frozen=True)
class Config:
    """A validated scenario. ``base_dir`` is where relative paths in the scenario resolve."""

    name: str = "default"
    description: str = ""
    workload: WorkloadConfig = WorkloadConfig()
    chip: ChipConfig = ChipConfig()
    pe: PEConfig = PEConfig()
    memory: MemoryConfig = MemoryConfig()
    noc: NocConfig = NocConfig()
    mapping: MappingConfig = MappingConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    run: RunConfig = RunConfig()
    output: OutputConfig = OutputConfig()
    base_dir: Path = field(default=Path("."), compare=False)
    raw: dict = field(default_factory=dict, compare=False, repr=False)  # the validated input, as given

    def replace(self, **sections: Any) -> Config:
        return dataclasses.replace(self, **sections)


def _check_value(section: str, f: dataclasses.Field, value: Any) -> Any:
    key = f"{section}.{f.name}"
    kind = f.metadata["kind"]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
    if not ok:
        names = " or ".join(k.__name__ for k in kinds)
        raise ConfigError(key, value, f"must be of type {names}")
    if float in kinds and isinstance(value, int):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(key, value, "must be a finite number")
    check = f.metadata["check"]
    if check is not None:
        problem = check(value)
        if problem:
            raise ConfigError(key, value, problem)
    return value


def _build_section(section: str, data: Any) -> Any:
    cls = SECTIONS[section]
    if not isinstance(data, dict):
        raise ConfigError(section, data, "must be a table")
    valid = {f.name: f for f in fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in valid:
            raise ConfigError(f"{section}.{key}", value, f"unknown key; valid keys: {', '.join(valid)}")
        kwargs[key] = _check_value(section, valid[key], value)
    return cls(**kwargs)


def _cross_checks(cfg: Config) -> Config:
    """Rules that involve several keys; also fills derived values (router stages)."""
    noc = cfg.noc
    stages = [noc.route_compute_cycles, noc.switch_alloc_cycles, noc.switch_traversal_cycles]
    names = ["noc.route_compute_cycles", "noc.switch_alloc_cycles", "noc.switch_traversal_cycles"]
    total = noc.router_pipeline_cycles
    if all(s < 0 for s in stages):
        rc = max(1, round(total * 3 / 8)) if total >= 3 else 1
        sa = max(1, round(total * 3 / 8)) if total >= 3 else 1
        st = total - rc - sa
        if st < 0:
            rc, sa, st = total, 0, 0
        stages = [rc, sa, st]
    elif any(s < 0 for s in stages):
        bad = next(n for n, s in zip(names, stages, strict=True) if s < 0)
        raise ConfigError(bad, -1, "give all three router stages or none")
    elif sum(stages) != total:
        raise ConfigError(
            "noc.router_pipeline_cycles", total, f"must equal the sum of the three stages ({sum(stages)})"
        )
    noc = dataclasses.replace(
        noc, route_compute_cycles=stages[0], switch_alloc_cycles=stages[1], switch_traversal_cycles=stages[2]
    )
    if noc.fifo_bytes * 8 < noc.flit_bits:
        raise ConfigError(
            "noc.fifo_bytes", noc.fifo_bytes, f"a FIFO must hold at least one {noc.flit_bits}-bit flit"
        )
    # vc router: by default one virtual channel per FIFO queue, each as deep as one queue (ELSA's buffer budget);
    # resolved only for the vc router (the fast router has no VCs: its resolved config, and a diff of two fast
    # runs, does not list values it never uses)
    if noc.router == "vc":
        derived = (noc.fifo_bytes * 8) // noc.flit_bits
        if noc.vc_buffer_flits < 0 and derived > 65536:  # the bound an explicit vc_buffer_flits has
            raise ConfigError(
                "noc.fifo_bytes",
                noc.fifo_bytes,
                f"gives {derived} flits per virtual channel (one FIFO queue of {noc.flit_bits}-bit flits); the vc"
                " router takes at most 65536: set noc.vc_buffer_flits",
            )
        noc = dataclasses.replace(
            noc,
            virtual_channels=noc.fifo_count if noc.virtual_channels < 0 else noc.virtual_channels,
            vc_buffer_flits=derived if noc.vc_buffer_flits < 0 else noc.vc_buffer_flits,
        )
    # paths are made absolute here, once, against the scenario's folder: every later user sees the same file
    noc = dataclasses.replace(noc, topology=absolute_path_value("noc.topology", noc.topology, cfg.base_dir))
    wlc = cfg.workload
    cfg = cfg.replace(
        workload=dataclasses.replace(
            wlc,
            replay_path=absolute_path_value("workload.replay_path", wlc.replay_path, cfg.base_dir),
            model=absolute_path_value("workload.model", wlc.model, cfg.base_dir),
            inputs=absolute_path_value("workload.inputs", wlc.inputs, cfg.base_dir),
            rates=absolute_path_value("workload.rates", wlc.rates, cfg.base_dir),
        )
    )
    pe = cfg.pe
    for kind, bits in (
        ("weight", pe.weight_bits),
        ("membrane", pe.membrane_bits),
        ("tracer", pe.tracer_bits),
    ):
        macro_bits = pe.macro_rows * pe.macro_words * bits  # one 64-row x 16-word macro of this buffer
        kib = getattr(pe, f"{kind}_sram_kib")
        if kib * 8192 < macro_bits:
            raise ConfigError(
                f"pe.{kind}_sram_kib",
                kib,
                f"must hold at least one {pe.macro_rows} x {pe.macro_words} x {bits}-bit macro "
                f"({macro_bits / 8192:g} KiB)",
            )
    wl = cfg.workload
    nir = wl.model.startswith("nir:")
    if wl.activity == "functional" and not nir and wl.model not in FUNCTIONAL_MODELS:
        raise ConfigError(
            "workload.activity",
            wl.activity,
            "functional activity needs trained weights: model 'digits', 'digits_vit' or a NIR graph (nir:PATH)",
        )
    if nir and wl.activity == "functional" and not wl.inputs:
        raise ConfigError(
            "workload.inputs", wl.inputs, "a NIR graph's functional activity needs input spikes (an npz)"
        )
    if nir and wl.activity == "statistical" and wl.rate < 0 and not wl.rates:
        raise ConfigError(
            "workload.rate",
            wl.rate,
            "a NIR graph has no recorded activity: set workload.rate (or workload.rates), or run it on input "
            "spikes (workload.activity = 'functional', workload.inputs)",
        )
    if wl.model == "digits_vit" and wl.activity not in ("functional", "replay"):
        raise ConfigError(
            "workload.model",
            wl.model,
            "the digits ViT has no recording: set workload.activity = 'functional'",
        )
    if wl.activity == "replay" and not wl.replay_path:
        raise ConfigError(
            "workload.replay_path", wl.replay_path, "required when workload.activity = 'replay'"
        )
    if cfg.run.exit_confidence > 0 and wl.activity != "functional":
        raise ConfigError(
            "run.exit_confidence",
            cfg.run.exit_confidence,
            "early exit needs functional activity (model 'digits')",
        )
    return cfg.replace(noc=noc)


def _default(section: type, key: str) -> Any:
    return next(f.default for f in dataclasses.fields(section) if f.name == key)


def inert_settings(cfg: Config, transformer: bool | None = None) -> list[str]:
    """Keys set away from their default that this configuration never reads, one sentence each.

    A what-if that changes nothing must not pass for a result (``noc.router = "vc"`` in an ``lt`` run is timed
    by the closed form, not by any router). Not an error: a sweep may cross such keys (``noc.router`` ×
    ``run.mode``). Reported in summary.json's ``warnings`` and on the CLI's stderr. ``transformer`` (whether the
    workload is one) is known only once the workload is loaded; ``None`` skips the rule that needs it."""
    out: list[str] = []
    noc, run, wl = cfg.noc, cfg.run, cfg.workload

    def inert(section: type, key: str, value: Any, why: str) -> None:
        if value != _default(section, key):
            name = next(n for n, cls in SECTIONS.items() if cls is section)
            out.append(f"{name}.{key} = {toml_value(value)} has no effect: {why}")

    if run.mode in ("lt", "analytic"):
        no_router = (
            f'run.mode = "{run.mode}" times the NoC by the zero-load closed form'
            + (" and the links' loads" if run.mode == "analytic" else "")
            + ", without router models"
        )
        inert(NocConfig, "router", noc.router, no_router)
        if noc.router != "vc":  # the vc router resolves both keys: the line above covers them
            inert(NocConfig, "virtual_channels", noc.virtual_channels, no_router)
            inert(NocConfig, "vc_buffer_flits", noc.vc_buffer_flits, no_router)
        inert(NocConfig, "deadlock_timeout_cycles", noc.deadlock_timeout_cycles, no_router)
        if run.mode == "lt":
            inert(RunConfig, "batch_items", run.batch_items, 'run.mode = "lt" uses run.lt_batch_items')
        else:
            inert(
                RunConfig, "lt_batch_items", run.lt_batch_items, 'run.mode = "analytic" uses run.batch_items'
            )
            # what the closed form does not model (docs/MODEL.md §6b): the groups' turns, their queues
            no_groups = 'run.mode = "analytic" times every lane group as its own server, in parallel'
            inert(PEConfig, "layer_groups", cfg.pe.layer_groups, no_groups)
            inert(ScheduleConfig, "core_arbitration", cfg.schedule.core_arbitration, no_groups)
            inert(
                NocConfig, "local_queues", noc.local_queues, 'run.mode = "analytic" models no back-pressure'
            )
    else:
        inert(RunConfig, "lt_batch_items", run.lt_batch_items, 'run.mode = "at" uses run.batch_items')
    if run.mode != "lt":
        inert(
            RunConfig,
            "lt_backpressure",
            run.lt_backpressure,
            f'run.mode = "{run.mode}": '
            + ("its buffers are always" if run.mode == "at" else "no buffer is")
            + " a timing constraint",
        )
        if noc.router == "fast":
            no_vcs = 'noc.router = "fast" has no virtual channels (set noc.router = "vc")'
            inert(NocConfig, "virtual_channels", noc.virtual_channels, no_vcs)
            inert(NocConfig, "vc_buffer_flits", noc.vc_buffer_flits, no_vcs)
    if cfg.memory.technology != "edram":
        why = f"memory.technology = {toml_value(cfg.memory.technology)} needs no refresh"
        inert(MemoryConfig, "edram_retention_us", cfg.memory.edram_retention_us, why)
    model = f"workload.model = {toml_value(wl.model)}"
    if wl.activity != "functional":
        why = (
            f"only functional activity simulates test images (workload.activity = {toml_value(wl.activity)})"
        )
        inert(WorkloadConfig, "samples", wl.samples, why)
        inert(WorkloadConfig, "sample_offset", wl.sample_offset, why)
    if not wl.model.startswith("resnet"):
        why = f"only a ResNet gets the appended classifier ({model})"
        inert(WorkloadConfig, "classifier_density", wl.classifier_density, why)
    if transformer is False:
        why = f"only a transformer recording is spread over the steps ({model})"
        inert(WorkloadConfig, "step_profile", wl.step_profile, why)
    nir = wl.model.startswith("nir:")
    if not nir:
        why = f"only a NIR graph (workload.model = nir:PATH) reads it ({model})"
        for key in ("inputs", "rate", "rates", "nir_dt"):
            inert(WorkloadConfig, key, getattr(wl, key), why)
    else:
        if wl.activity != "statistical":
            why = f"only statistical activity reads rates (workload.activity = {toml_value(wl.activity)})"
            inert(WorkloadConfig, "rate", wl.rate, why)
            inert(WorkloadConfig, "rates", wl.rates, why)
        if wl.activity != "functional":
            why = f"only functional activity runs the graph on inputs (workload.activity = {toml_value(wl.activity)})"
            inert(WorkloadConfig, "inputs", wl.inputs, why)
            inert(WorkloadConfig, "nir_dt", wl.nir_dt, why)
    how = cfg.mapping.partition
    if how in ("none", "vit_blocks") or (how == "elsa" and transformer):
        why = f"only the greedy partition merges partitions (mapping.partition = {toml_value(how)}" + (
            ", a transformer's ELSA rule is three cores per block)" if how == "elsa" else ")"
        )
        inert(MappingConfig, "merge", cfg.mapping.merge, why)
    return out


def from_dict(data: dict[str, Any], base_dir: Path = Path("."), name: str = "default") -> Config:
    """Validate a parsed scenario (the dict ``tomllib`` returns) into a :class:`Config`."""
    if "version" not in data:
        raise ConfigError("version", None, "missing: a scenario must say version = 1")
    v = data["version"]
    if type(v) is not int or v != 1:  # 1.0 and true compare equal to 1 but are not the integer 1
        raise ConfigError("version", v, "only version 1 (the integer) is supported")
    valid = list(TOP_KEYS) + list(SECTIONS)
    kwargs: dict[str, Any] = {"name": name, "base_dir": base_dir}
    for key, value in data.items():
        if key == "version":
            continue
        if key not in valid:
            raise ConfigError(key, value, f"unknown key; valid top-level keys: {', '.join(valid)}")
        if key in ("name", "description"):
            if not isinstance(value, str):
                raise ConfigError(key, value, "must be a string")
            if key == "name":
                check_name(value, "name")
            kwargs[key] = value
        else:
            kwargs[key] = _build_section(key, value)
    if "name" not in data:
        try:
            check_name(name, "name")
        except ConfigError as exc:
            raise ConfigError(
                "name", name, f"{exc.rule}; it comes from the file name: set name = ..."
            ) from None
    kwargs["raw"] = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
    return _cross_checks(Config(**kwargs))


def check_name(value: Any, key: str = "name") -> str:
    """A scenario or sweep name: used as one folder name, so it must be a safe path component."""
    if not isinstance(value, str) or not NAME_RE.fullmatch(value):
        raise ConfigError(
            key,
            value,
            "must be 1-100 letters, digits, '_', '-', '.', not starting with '.' or '-' (it names a folder)",
        )
    return value


def parse_override(item: str) -> tuple[str, str, Any]:
    """``section.key=value`` with value parsed as a TOML value (a bare word falls back to a string)."""
    if "=" not in item:
        raise ConfigError("--set", item, "must look like section.key=value")
    path, raw = item.split("=", 1)
    parts = path.strip().split(".")
    if len(parts) != 2 or not all(parts):
        raise ConfigError("--set", item, "key must be section.key (e.g. noc.flit_bits)")
    section, key = parts
    if section not in SECTIONS:
        raise ConfigError(section, raw, f"unknown section; valid sections: {', '.join(SECTIONS)}")
    raw = raw.strip()
    try:
        value = parse_toml(f"v = {raw}", "--set", item)["v"]
    except ConfigError as exc:
        if "not valid TOML" not in exc.rule:
            raise
        value = raw
    return section, key, value


PATH_KEYS = (
    "noc.topology",
    "workload.replay_path",
    "output.dir",
    "workload.model",
    "workload.inputs",
    "workload.rates",
)


def absolute_path_value(key: str, value: Any, folder: Path) -> Any:
    """A path-valued key (``file:`` topology, replay trace) made absolute against ``folder``."""
    if not isinstance(value, str) or key not in PATH_KEYS:
        return value
    if key == "noc.topology":
        if not value.startswith("file:") or not value[5:].strip():
            return value
        return "file:" + str(_absolute(folder, value[5:].strip()))
    if key == "workload.model":
        if not value.startswith("nir:") or not value[4:].strip():
            return value
        return "nir:" + str(_absolute(folder, value[4:].strip()))
    return str(_absolute(folder, value)) if value else value


def apply_overrides(
    data: dict[str, Any], overrides: Iterable[str], cwd: Path | None = None
) -> dict[str, Any]:
    """A copy of the raw scenario dict with ``section.key=value`` overrides applied.

    Paths in overrides come from the command line, so they resolve against the working folder (``cwd``),
    not against the scenario's folder.
    """
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
    for item in overrides:
        section, key, value = parse_override(item)
        value = absolute_path_value(f"{section}.{key}", value, cwd or Path.cwd())
        valid = {f.name: f for f in fields(SECTIONS[section])}
        if key not in valid:
            raise ConfigError(f"{section}.{key}", value, f"unknown key; valid keys: {', '.join(valid)}")
        _check_value(section, valid[key], value)  # now: a later value for the key must not hide a bad one
        out.setdefault(section, {})
        if not isinstance(out[section], dict):
            raise ConfigError(section, out[section], "must be a table")
        out[section][key] = value
    return out


SCENARIOS_DIR = Path(__file__).resolve().parent / "scenarios"  # shipped with the package


def shipped_scenarios() -> dict[str, Path]:
    """The scenarios that install with the package, by name (``elsa-tlm run default``)."""
    return {p.stem: p for p in sorted(SCENARIOS_DIR.glob("*.toml"))}


def scenario_path(path: str | Path) -> Path:
    """A scenario given as a file, or by the name of a shipped one when no such file exists here."""
    p = Path(path)
    if (p.exists() or p.is_symlink()) and not p.is_dir():  # a folder named like a scenario is not one
        return p
    name = str(path)
    if "/" not in name and "\\" not in name:
        shipped = shipped_scenarios().get(name.removesuffix(".toml"))
        if shipped is not None:
            return shipped
    return p


def read_text_file(path: str | Path, what: str) -> str:
    """The text of a file the user named: UTF-8 with or without a byte-order mark, any line ends. Every
    failure is a ConfigError naming ``what`` and the file (a missing file, a symlink loop, a device or FIFO,
    a folder, unreadable bytes)."""
    p = Path(path)
    if p.is_symlink() and not p.exists():
        raise ConfigError(what, str(path), "a symbolic link that leads nowhere (a loop, or a missing target)")
    if not p.exists():
        raise ConfigError(what, str(path), "file not found")
    if not p.is_file():
        raise ConfigError(what, str(path), "not a regular file (a folder, device or FIFO)")
    try:
        text = p.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(what, str(path), "not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(what, str(path), f"cannot be read: {exc.strerror or exc}") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def parse_toml(text: str, what: str, where: str) -> dict[str, Any]:
    """Parse TOML text (a file's, or a ``--set`` value's) with its nesting limited to
    :data:`MAX_TOML_DEPTH`, checked before parsing; any failure is one ConfigError naming ``what`` and
    ``where``, never a RecursionError."""
    if toml_bracket_depth(text) > MAX_TOML_DEPTH:
        raise ConfigError(
            what,
            where,
            f"nests arrays or tables more than {MAX_TOML_DEPTH} deep; no elsa-tlm file needs that",
        )
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(what, where, f"not valid TOML: {exc}") from None
    except RecursionError:  # pragma: no cover - the bracket check comes first
        raise ConfigError(what, where, f"nests more than {MAX_TOML_DEPTH} deep") from None
    if nesting_depth(data, MAX_TOML_DEPTH) > MAX_TOML_DEPTH:
        raise ConfigError(
            what, where, f"nests keys or tables more than {MAX_TOML_DEPTH} deep; no elsa-tlm file needs that"
        )
    return data


def read_toml(path: str | Path, what: str = "scenario") -> dict[str, Any]:
    """Parse a TOML file given by the user; every failure is a ConfigError naming ``what`` and the file."""
    p = Path(path)
    if what == "scenario" and not p.exists() and not p.is_symlink():
        names = ", ".join(shipped_scenarios())
        raise ConfigError(what, str(path), f"file not found (shipped scenarios, by name: {names})")
    return parse_toml(read_text_file(p, what), what, str(path))


def read_scenario(path: str | Path) -> tuple[dict[str, Any], Path, str]:
    """Parse a scenario file (or a shipped scenario by name); returns (raw dict, folder, scenario name)."""
    p = scenario_path(path)
    return read_toml(p, "scenario"), p.resolve().parent, p.stem


def load_config(path: str | Path | None = None, overrides: Iterable[str] = ()) -> Config:
    """Load and validate a scenario file (or the defaults when ``path`` is None) with overrides."""
    if path is None:
        data: dict[str, Any] = {"version": 1}
        base, name = Path.cwd(), "default"
    else:
        data, base, name = read_scenario(path)
    data = apply_overrides(data, overrides)
    name = data.get("name", name) if isinstance(data.get("name", name), str) else name
    return from_dict(data, base_dir=base, name=name)


def _absolute(base_dir: Path, value: str) -> Path:
    """A path from a scenario, relative to the scenario file's folder."""
    p = Path(value)
    if p.is_absolute():
        return p
    try:
        return (base_dir / p).resolve()
    except (OSError, RuntimeError):  # a symbolic-link loop: kept as given; reading it names the loop
        return Path(os.path.abspath(base_dir / p))


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):  # a TOML basic string: JSON's escapes, plus DEL, which TOML forbids raw
        return json.dumps(v, ensure_ascii=False).replace("\x7f", "\\u007f")
    raise TypeError(f"cannot write {v!r} to TOML")


def to_toml(cfg: Config) -> str:
    """The exact, complete configuration as TOML (every key, derived values filled; paths are absolute)."""
    lines = ["# resolved by elsa-tlm: every key, with derived values filled in", "version = 1"]
    lines.append(f"name = {toml_value(cfg.name)}")
    if cfg.description:
        lines.append(f"description = {toml_value(cfg.description)}")
    for section in SECTIONS:
        obj = getattr(cfg, section)
        lines.append("")
        lines.append(f"[{section}]")
        for f in fields(obj):
            v = getattr(obj, f.name)
            lines.append(f"{f.name} = {toml_value(v)}")
    return "\n".join(lines) + "\n"


def as_dict(cfg: Config) -> dict[str, dict[str, Any]]:
    return {s: dataclasses.asdict(getattr(cfg, s)) for s in SECTIONS}


def validate(cfg: object, what: str = "config") -> Config:
    """``cfg`` checked by the same rules as a TOML file or ``--set``, however it was built (directly, or with
    ``dataclasses.replace``): returns the validated Config, or raises ConfigError naming the key."""
    if not isinstance(cfg, Config):
        raise ConfigError(what, type(cfg).__name__, "must be an elsa_tlm Config (see load_config)")
    sections = {}
    for section in SECTIONS:
        obj = getattr(cfg, section)
        if not dataclasses.is_dataclass(obj):
            raise ConfigError(section, type(obj).__name__, f"must be the [{section}] section's dataclass")
        sections[section] = {f.name: getattr(obj, f.name) for f in fields(obj)}
    data: dict[str, Any] = {"version": 1, "name": cfg.name, **sections}
    if cfg.description:
        data["description"] = cfg.description
    checked = from_dict(data, base_dir=cfg.base_dir, name=cfg.name)
    if cfg.raw:  # keep the configuration as given only if it still describes this Config (not replaced since)
        try:
            same = from_dict(dict(cfg.raw), base_dir=cfg.base_dir, name=cfg.name) == checked
        except ConfigError:
            same = False
        if same:
            return dataclasses.replace(checked, raw=cfg.raw)
    return checked


def keys_table() -> str:
    """The configuration-key table of docs/MODEL.md (a test keeps the document in step)."""
    rows = ["| key | default | allowed | meaning |", "|---|---|---|---|"]
    for section, cls in SECTIONS.items():
        for f in fields(cls):
            info = f.metadata["informational"]
            note = f" (does not change results: {info})" if info else ""
            allowed = _allowed(f).replace("|", "\\|")
            rows.append(f"| `{section}.{f.name}` | `{f.default!r}` | {allowed} | {f.metadata['doc']}{note} |")
    return "\n".join(rows) + "\n"


def describe_keys() -> list[tuple[str, Any, str]]:
    """(key, default, doc) for every key: the reference table in README/MODEL."""
    out = []
    for section, cls in SECTIONS.items():
        for f in fields(cls):
            out.append((f"{section}.{f.name}", f.default, f.metadata["doc"]))
    return out
