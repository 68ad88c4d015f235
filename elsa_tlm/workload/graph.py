"""Layer graphs of the SNN workloads: conv/linear layers, pools fused at their producer, residual joins.

The measured networks come from ``models/<name>.json`` (copies of the ELSA artifact's recordings). Each
layer lists its producers; a layer with several producers is a residual join: the last producer is the main
(convolution) input, the others are skip paths added by the consumer router's residual unit. A pool that
sits between producer and consumer is fused into the producer's output stage: the producer emits pooled
spines. ResNet recordings stop at the last convolution; :func:`load_workload` appends the classifier
(global average pool folded into a 1000-way fully-connected layer), see docs/MODEL.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from elsa_tlm.datafiles import DataFile, read_json
from elsa_tlm.errors import ConfigError
from elsa_tlm.workload.recording import check_recording

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"  # package data (elsa_tlm/models)
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
    # transformers: producers whose spikes are PE inputs too (the second operand of a spike x spike product,
    # the residual operand of an add_norm); the recorded input counts them (``counts_operands``) or not
    operands: list[str] = field(default_factory=list)
    counts_operands: bool = False
    row_block: int = 0  # output columns one weight row touches (a head of a block-diagonal product; 0: all)
    # columns a weight row of the second operand's spikes touches (spike x spike products: the first
    # operand's accumulated tracer, one column per token: M); 0: as row_block
    operand_block: int = 0
    softmax: bool = False  # spiking softmax after the product: outputs wait for the step's every token
    heads: int = 1
    only_spine: int = -1  # the layer reads one input spine only (a transformer head: the class token)
    dense_macs: int = -1  # MACs of the equivalent ANN layer when not weight_rows x cout x n_out

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
        return self.dense_macs if self.dense_macs >= 0 else self.weight_rows * self.cout * self.n_out

    @property
    def fanout_cols(self) -> int:
        """Output columns (membranes) one input event adds a weight into: Cout, or one head's block;
        none for an addition (add_norm has no weights)."""
        if self.kind == "add_norm":
            return 0
        return self.row_block or self.cout

    @property
    def producers(self) -> list[str]:
        return [self.main, *self.operands, *self.skips]


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
    origin: str = ""  # a NIR graph elsa-tlm exported: the shipped model it came from (its traces replay)

    def __post_init__(self) -> None:
        self.by_name = {layer.name: layer for layer in self.layers}

    @property
    def output_layer(self) -> Layer:
        return self.layers[-1]

    @property
    def is_transformer(self) -> bool:
        """Has spike x spike products or add & norm layers (a spiking transformer)."""
        return any(la.kind in ("matmul_ss", "add_norm") for la in self.layers)

    def graph(self) -> nx.DiGraph:
        """Producer -> consumer DiGraph; edge attribute ``role`` is 'main' or 'skip'."""
        g = nx.DiGraph()
        g.add_node(INPUT)
        for layer in self.layers:
            g.add_node(layer.name, kind=layer.kind)
            g.add_edge(layer.main, layer.name, role="main")
            for s in layer.operands:
                g.add_edge(s, layer.name, role="operand")
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
def read_recording(path: str) -> dict:
    """A network recording (JSON), checked field by field (:mod:`elsa_tlm.workload.recording`); cached per
    path, treat as read-only."""
    f = DataFile("network recording", path)
    raw = read_json(f)
    check_recording(f, raw)
    return raw


def load_workload(
    model: str, time_steps: int = 0, classifier_density: float = -1.0, step_profile: str = "cnn"
) -> Workload:
    """Load ``models/<model>.json`` as a :class:`Workload`, padded/truncated to ``time_steps`` (0 = own).

    ``step_profile`` spreads a transformer recording's per-layer totals over the steps (see
    :func:`step_weights`); CNN recordings have their own per-step counts.
    """
    if (
        model == "digits_vit"
    ):  # the trained digits ViT: layers from its weights, spikes from its functional run
        from elsa_tlm.snn.vit import layer_specs, load_vit_model

        vit = load_vit_model()
        raw = {
            "model": "digits_vit",
            "dataset": "uci_digits",
            "time_steps": vit.time_steps,
            "layers": layer_specs(vit),
            "source": "models/digits_vit.npz (scripts/train_digits_vit.py)",
        }
        return _load_transformer(raw, time_steps, step_profile)
    path = MODELS_DIR / f"{model}.json"
    if not path.exists():
        raise ConfigError("workload.model", model, f"no workload file {path}")
    raw = read_recording(str(path))
    if any(lr["type"] in ("matmul_ss", "add_norm") for lr in raw["layers"]):
        return _load_transformer(raw, time_steps, step_profile)
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
        for src in layer.producers:
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


# -------------------------------------------------------------------------------------------- transformers
CNN_RECORDINGS = ("vgg16_cifar10", "vgg16_cifar100", "vgg16_cifar10dvs", "resnet18", "resnet34", "resnet50")
RATE_CODED_STEPS = 4  # the ViT image is rate-coded into steps 0-3 (pixel / 4 per step; vit_small.json)


def step_weights(profile: str, T: int) -> np.ndarray:
    """How a layer's spikes split over T steps when only totals were recorded (sums to 1).

    ``uniform``: 1/T each. ``cnn``: front-loaded like the measured CNNs: the mean, over the six recorded
    networks, of the share of each layer's input spikes falling in each step, resampled to T steps on the
    cumulative share.
    """
    if profile == "uniform":
        return np.full(T, 1.0 / T)
    if profile != "cnn":
        raise ConfigError("workload.step_profile", profile, "must be uniform or cnn")
    curves = []
    for name in CNN_RECORDINGS:
        raw = read_recording(str(MODELS_DIR / f"{name}.json"))
        per = np.array([lr["input_spikes_per_step"] for lr in raw["layers"]], dtype=float)
        share = per.sum(axis=0) / per.sum()
        cum = np.concatenate([[0.0], np.cumsum(share)])
        x = np.linspace(0, 1, cum.size)
        curves.append(np.interp(np.linspace(0, 1, T + 1), x, cum))
    cum = np.mean(curves, axis=0)
    w = np.diff(cum)
    return w / w.sum()


def _spread_total(total: int, weights: np.ndarray, cap: int) -> np.ndarray:
    """Integer split of ``total`` over steps by ``weights`` with at most ``cap`` per step (a step cannot
    carry more than one spike per neuron input): what a step cannot hold goes to the others in proportion
    to their weights (water filling); largest remainders make it sum exactly."""
    T = weights.size
    if total > cap * T:
        raise ConfigError("workload.model", total, f"{total} spikes cannot fit {T} steps of {cap}")
    alloc = np.zeros(T)
    free = np.ones(T, dtype=bool)
    left = float(total)
    for _ in range(T):
        share = weights * free
        if share.sum() <= 0:
            share = free.astype(float)
        raw = left * share / share.sum()
        over = free & (alloc + raw > cap)
        if not over.any():
            alloc += raw
            break
        left -= float((cap - alloc[over]).sum())
        alloc[over] = cap
        free &= ~over
    base = np.floor(alloc + 1e-9).astype(np.int64)
    short = int(total - base.sum())
    order = np.argsort(-(alloc - base), kind="stable")
    order = order[base[order] < cap]
    base[order[:short]] += 1
    return base


def _load_transformer(raw: dict, time_steps: int, profile: str) -> Workload:
    """A spiking vision transformer: token-wise layers on a 1 × tokens grid of spines.

    ``linear``: a 1×1 convolution over tokens. ``matmul_ss``: a spike × spike product per head, realised as two
    spike × weight products on tracers (the operand that plays weights is written into PE memory every
    step); ``qk`` is followed by the spiking softmax. ``add_norm``: residual addition (router) then spiking
    layer norm. The recording gives per-layer totals over all steps; they are spread over steps by
    ``step_profile``. Assumed (not recorded): the patch embedding (16×16/16 convolution of the 224×224×3
    image, every pixel non-zero, rate-coded over steps 0-3) and the classifier head (linear 384 → 1000 on the
    class token, whose input density is the last layer norm's input density).
    """
    t_own = int(raw["time_steps"])
    T = time_steps or t_own
    w = step_weights(profile, t_own)  # the totals are over the recording's own steps; then cut or pad to T

    def fit(per_step: np.ndarray) -> np.ndarray:
        out = np.zeros(T, dtype=np.int64)
        n = min(T, t_own)
        out[:n] = per_step[:n]
        return out

    L = raw["layers"]
    first = L[0]["shape"]
    tokens, C = first["tokens"], first["Cin"]
    grid = (1, tokens)
    layers: list[Layer] = []

    def add(
        name: str,
        kind: str,
        cin: int,
        cout: int,
        weight_rows: int,
        main: str,
        spikes: np.ndarray,
        stride: int = 1,
        out_hw: tuple[int, int] = grid,
        kernel: int = 1,
        **kw: Any,
    ) -> None:
        layers.append(
            Layer(
                name=name,
                index=len(layers),
                kind=kind,
                cin=cin,
                cout=cout,
                kernel=kernel,
                stride=stride,
                padding=0,
                in_hw=grid,
                out_hw=out_hw,
                main=main,
                skips=[],
                input_spikes=spikes,
                weight_rows=weight_rows,
                **kw,
            )
        )

    given = {lr["name"] for lr in L}
    rename = {}
    if "embed" not in given:  # patch embedding (assumed): 196 patches of 16×16×3 pixels, rate-coded
        patch_in, patches = 16 * 16 * 3, tokens - 1
        emb = np.zeros(T, dtype=np.int64)
        emb[: min(T, RATE_CODED_STEPS)] = patches * patch_in
        add("embed", "linear", patch_in, C, patch_in, INPUT, emb, assumed=True)
        rename = {"input": "embed"}
    head_spec = next((lr for lr in L if lr["name"] == "head"), None)
    for lr in L:
        if lr is head_spec:
            continue
        sh, kind = lr["shape"], lr["type"]
        ins = [rename.get(x, x) for x in lr["inputs"]]
        cin_tok = {"linear": sh.get("Cin", 0), "add_norm": 2 * sh.get("C", 0)}.get(kind)
        if kind == "matmul_ss":
            cin_tok = (
                2 * sh["heads"] * sh["head_dim"] if lr["name"].endswith(".qk") else sh["heads"] * sh["K"]
            )
        spikes = fit(_spread_total(int(lr.get("input_spikes_total", 0)), w, tokens * cin_tok))
        if kind == "linear":
            add(lr["name"], "linear", sh["Cin"], sh["Cout"], sh["Cin"], ins[0], spikes)
        elif kind == "matmul_ss":
            h, n, k = sh["heads"], sh["N"], sh["K"]
            qk = lr["name"].endswith(".qk")
            if qk:  # S = Q K^T: Q spikes read rows of K_acc^T, K spikes rows of Q_acc^T (N = keys wide)
                cin, rows, block = 2 * h * sh["head_dim"], 2 * h * sh["head_dim"], n
            else:  # A V: attention spikes read rows of V_acc (64 wide), V spikes rows of A_acc (tokens wide)
                cin, rows, block = h * k + h * sh["head_dim"], h * k + h * sh["head_dim"], n
            add(
                lr["name"],
                "matmul_ss",
                cin,
                h * n,
                rows,
                ins[0],
                spikes,
                operands=ins[1:],
                counts_operands=qk,  # qk's record counts Q and K; av's only the attention map
                row_block=block,
                operand_block=sh["M"],  # Q·K: a K spike reads a row of Q_accᵀ; A·V: a V spike a row of A_accᵀ
                softmax=qk,
                heads=h,
                dense_macs=h * sh["M"] * sh["K"] * sh["N"],
            )
        elif kind == "add_norm":
            add(
                lr["name"],
                "add_norm",
                2 * sh["C"],
                sh["C"],
                0,
                ins[0],
                spikes,
                operands=ins[1:],
                counts_operands=True,
                dense_macs=0,
            )
        else:
            raise ConfigError("workload.model", raw["model"], f"layer {lr['name']}: unsupported type {kind}")
    last = layers[-1]
    if head_spec is not None:  # a trained model's readout: over every token (sum) or the class token
        sh = head_spec["shape"]
        pooled = head_spec.get("pool") == "sum"
        add(
            "head",
            "linear",
            sh["Cin"],
            sh["Cout"],
            sh["Cin"],
            rename.get(head_spec["inputs"][0], head_spec["inputs"][0]),
            np.zeros(T, dtype=np.int64),
            kernel=tokens if pooled else 1,
            stride=1 if pooled else tokens,
            out_hw=(1, 1),
            dense_macs=sh["Cin"] * sh["Cout"],
            only_spine=-1 if pooled else 0,
        )
        return _finish_transformer(raw, T, layers)
    # classifier head (assumed): the class token through linear 384 -> 1000
    density = last.input_spikes / max(1, last.cin * last.n_in)
    head = np.rint(density * C).astype(np.int64)  # the class token only
    # one output, whose 1-wide window (stride = tokens) holds the class token only: it leaves once that token has
    add(
        "head",
        "linear",
        C,
        1000,
        C,
        last.name,
        head,
        stride=tokens,
        out_hw=(1, 1),
        assumed=True,
        dense_macs=C * 1000,
        only_spine=0,
    )
    return _finish_transformer(raw, T, layers)


def _finish_transformer(raw: dict, T: int, layers: list[Layer]) -> Workload:
    by_name = {la.name: la for la in layers}
    for la in layers:
        for src in la.producers:
            if src != INPUT:
                by_name[src].consumers.append(la.name)
    first = layers[0]
    return Workload(
        model=raw["model"],
        dataset=raw["dataset"],
        time_steps=T,
        layers=layers,
        input_hw=(224, 224) if raw["model"] == "vit_small" else first.in_hw,
        input_channels=3 if raw["model"] == "vit_small" else first.cin,
        source=raw.get("source", ""),
    )
