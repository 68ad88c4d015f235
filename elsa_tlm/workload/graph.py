"""Layer graphs of the SNN workloads: conv/linear layers, pools fused at their producer, residual joins.

The measured networks come from ``models/<name>.json`` (copies of the ELSA artifact's recordings). Each
layer lists its producers; a layer with several producers is a residual join: the last producer is the main
(convolution) input, the others are skip paths added by the consumer router's residual unit. A pool that
sits between producer and consumer is fused into the producer's output stage: the producer emits pooled
spines. ResNet recordings stop at the last convolution; :func:`load_workload` appends the classifier
(global average pool folded into a 1000-way fully-connected layer), see docs/MODEL.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import networkx as nx
import numpy as np

from elsa_tlm.errors import ConfigError

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
INPUT = "input"


@dataclass(frozen=True)
class Pool:
    """A pooling window applied to a producer's output grid (kernel, stride, padding in spines)."""

    name: str
    kernel: int
    stride: int
    padding: int
    in_hw: tuple[int, int]
    out_hw: tuple[int, int]


@dataclass
class Layer:
    """One SNN layer as the chip sees it: spine grids in and out, weights, membranes."""

    name: str
    index: int
    kind: str  # "conv" | "linear"
    cin: int
    cout: int
    kernel: int
    stride: int
    padding: int
    in_hw: tuple[int, int]
    out_hw: tuple[int, int]
    main: str  # main producer layer (or INPUT)
    skips: list[str]  # residual producers added by the router's residual unit
    input_spikes: np.ndarray  # recorded (or assumed) input spikes per step, shape (T,)
    weight_rows: int  # weight rows stored (K of the weight matrix; pool-folded classifiers store Cin rows)
    out_pool: Pool | None = None  # pooling fused into this layer's output stage
    assumed: bool = False  # activity assumed (not recorded), e.g. the ResNet classifier
    consumers: list[str] = field(default_factory=list)

    @property
    def k_im2col(self) -> int:
        return self.cin * self.kernel * self.kernel

    @property
    def n_in(self) -> int:
        return self.in_hw[0] * self.in_hw[1]

    @property
    def n_out(self) -> int:
        return self.out_hw[0] * self.out_hw[1]

    @property
    def emit_hw(self) -> tuple[int, int]:
        """Grid of the spines this layer sends (after its fused pool)."""
        return self.out_pool.out_hw if self.out_pool else self.out_hw

    @property
    def n_emit(self) -> int:
        h, w = self.emit_hw
        return h * w

    @property
    def macs(self) -> int:
        """Dense multiply-accumulates of the equivalent ANN layer (once per inference)."""
        return self.weight_rows * self.cout * self.n_out


@dataclass
class Workload:
    """A network: layers in execution order plus metadata."""

    model: str
    dataset: str
    time_steps: int
    layers: list[Layer]
    input_hw: tuple[int, int]
    input_channels: int
    source: str

    def __post_init__(self) -> None:
        self.by_name = {layer.name: layer for layer in self.layers}

    @property
    def output_layer(self) -> Layer:
        return self.layers[-1]

    def graph(self) -> nx.DiGraph:
        """Producer -> consumer DiGraph; edge attribute ``role`` is 'main' or 'skip'."""
        g = nx.DiGraph()
        g.add_node(INPUT)
        for layer in self.layers:
            g.add_node(layer.name, kind=layer.kind)
            g.add_edge(layer.main, layer.name, role="main")
            for s in layer.skips:
                g.add_edge(s, layer.name, role="skip")
        return g

    @property
    def dense_ops(self) -> int:
        """Dense ops of the network per inference: 2 per MAC (the paper's #Ops convention)."""
        return 2 * sum(layer.macs for layer in self.layers)


def _pool_geometry(name: str, in_hw: tuple[int, int], out_hw: tuple[int, int]) -> Pool:
    """Infer kernel/stride/padding: torchvision ResNet 'maxpool' is 3x3/2 pad 1, others tile exactly."""
    if out_hw == (1, 1):
        return Pool(name, in_hw[0], in_hw[0], 0, in_hw, out_hw)
    if name == "maxpool":
        return Pool(name, 3, 2, 1, in_hw, out_hw)
    s = in_hw[0] // out_hw[0]
    return Pool(name, s, s, 0, in_hw, out_hw)


@lru_cache(maxsize=16)
def _read_json(path: str) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def load_workload(model: str, time_steps: int = 0, classifier_density: float = -1.0) -> Workload:
    """Load ``models/<model>.json`` as a :class:`Workload`, padded/truncated to ``time_steps`` (0 = own)."""
    path = MODELS_DIR / f"{model}.json"
    if not path.exists():
        raise ConfigError("workload.model", model, f"no workload file {path}")
    raw = _read_json(str(path))
    t_own = int(raw["time_steps"])
    T = time_steps or t_own
    pools_raw = {p["name"]: p for p in raw.get("pools", [])}
    layers: list[Layer] = []
    out_hw: dict[str, tuple[int, int]] = {}
    for i, lr in enumerate(raw["layers"]):
        sh = lr["shape"]
        if lr["type"] == "conv":
            cin, cout, k, s, p = sh["Cin"], sh["Cout"], sh["kernel"], sh["stride"], sh["padding"]
            ihw, ohw = (sh["IH"], sh["IW"]), (sh["OH"], sh["OW"])
        elif lr["type"] == "linear" and "in_shape" in sh:  # flattens a (C, H, W) map: one H×W window
            c_in, h_in, w_in = sh["in_shape"]
            cin, cout, k, s, p = c_in, sh["out_features"], h_in, 1, 0
            ihw, ohw = (h_in, w_in), (1, 1)
        elif lr["type"] == "linear":
            cin, cout, k, s, p = sh["in_features"], sh["out_features"], 1, 1, 0
            ihw, ohw = (1, 1), (1, 1)
        else:
            raise ConfigError("workload.model", model, f"layer {lr['name']}: unsupported type {lr['type']}")
        spikes = np.zeros(T, dtype=np.int64)
        rec = np.asarray(lr.get("input_spikes_per_step", []), dtype=np.int64)
        n = min(T, len(rec))
        spikes[:n] = rec[:n]
        producers = []
        for src in lr["inputs"]:
            producers.append(pools_raw[src]["inputs"][0] if src in pools_raw else src)
        layer = Layer(
            name=lr["name"],
            index=i,
            kind=lr["type"],
            cin=cin,
            cout=cout,
            kernel=k,
            stride=s,
            padding=p,
            in_hw=ihw,
            out_hw=ohw,
            main=producers[-1],
            skips=producers[:-1],
            input_spikes=spikes,
            weight_rows=sh.get("in_features", cin * k * k),
        )
        layers.append(layer)
        out_hw[layer.name] = ohw
    by_name = {layer.name: layer for layer in layers}
    # fuse pools into their producer's output stage
    for pname, pr in pools_raw.items():
        prod = pr["inputs"][0]
        if prod not in by_name:
            continue
        consumers = [lr for lr in raw["layers"] if pname in lr["inputs"]]
        if consumers:
            c = by_name[consumers[0]["name"]]
            target = c.in_hw
        else:  # a trailing pool (ResNet avgpool) feeds the appended classifier
            target = (1, 1)
        by_name[prod].out_pool = _pool_geometry(pname, by_name[prod].out_hw, target)
    if model.startswith("resnet"):
        last = layers[-1]
        density = classifier_density if classifier_density >= 0 else None
        _append_classifier(layers, last, T, density)
    by_name = {layer.name: layer for layer in layers}
    for layer in layers:
        for src in [layer.main, *layer.skips]:
            if src != INPUT:
                by_name[src].consumers.append(layer.name)
    first = layers[0]
    wl = Workload(
        model=raw["model"],
        dataset=raw["dataset"],
        time_steps=T,
        layers=layers,
        input_hw=first.in_hw,
        input_channels=first.cin,
        source=raw.get("source", ""),
    )
    _check_shapes(wl)
    return wl


def _append_classifier(layers: list[Layer], last: Layer, T: int, density: float | None) -> None:
    """ResNet tail: avgpool folded into fc — a 'linear' layer that reads every spine of the last conv.

    Its input spikes per step are the last conv's estimated output spikes (density rule, MODEL.md).
    """
    h, w = last.out_hw
    last.out_pool = None  # the average is folded into the classifier's weights
    if density is None:
        density_t = last.input_spikes / max(1, last.cin * last.n_in)
    else:
        density_t = np.full(T, density) * (last.input_spikes > 0)
    spikes = np.rint(density_t * last.cout * h * w).astype(np.int64)
    layers.append(
        Layer(
            name="fc",
            index=len(layers),
            kind="linear",
            cin=last.cout,
            cout=1000,
            kernel=h,
            stride=1,
            padding=0,
            in_hw=(h, w),
            out_hw=(1, 1),
            main=last.name,
            skips=[],
            input_spikes=spikes,
            weight_rows=last.cout,
            assumed=True,
        )
    )


def _check_shapes(wl: Workload) -> None:
    """Every edge must connect matching grids and channels (catches a malformed workload file)."""
    for layer in wl.layers:
        for src in [layer.main, *layer.skips]:
            if src == INPUT:
                continue
            p = wl.by_name[src]
            if layer.kind == "conv" and p.emit_hw != layer.in_hw:
                raise ConfigError(
                    "workload.model",
                    wl.model,
                    f"{src} emits {p.emit_hw} but {layer.name} reads {layer.in_hw}",
                )
        if layer.main != INPUT and layer.in_hw == (1, 1):
            p = wl.by_name[layer.main]
            if p.cout * p.n_emit != layer.cin:
                raise ConfigError(
                    "workload.model",
                    wl.model,
                    f"{layer.main} gives {p.cout * p.n_emit} features, {layer.name} wants {layer.cin}",
                )
