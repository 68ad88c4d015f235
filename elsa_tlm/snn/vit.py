"""The trained 4-bit digits vision transformer: load it, run its integer QANN and its exact ST-BIF SNN.

Tokens: the 8x8 image (pixels quantized to 0..15 as for the CNN) is cut into 16 patches of 2x2 pixels
(raster order, each patch a 4-vector in raster order); token 0 is a class token (no pixels, its embedding
is the learned initial membrane of the embedding neurons). The shipped model: D = 32, 4 heads of 8, MLP 64,
one block, the classifier reads the sum over all 17 tokens (``meta["head_pool"] = "sum"``; "cls" reads the
class token only). Pre-norm blocks, quantized everywhere:

    embed   x  = Q(patch W_e + pos)                               residual stream, levels -7..6
            u  = Q(G1 . LN(x))                                      blocks.0.norm1 (attached to embed)
    block   q, k, v = Q(u W)                                        -7..6, per head dh = D / H
            A  = Q(softmax(q k^T . m_h))  per head                 qk, levels 0..13 (unsigned)
            o  = Q(A v)                                             av, -7..6
            p  = Q(o W_proj)                                        proj
            r1 = Q(g p + g' x);  u2 = Q(G2 . LN(r1))               add1 (+ norm2)
            h  = Q(u2 W_fc1) (levels 0..13: quantized ReLU);  f = Q(h W_fc2)
            r2 = Q(g f + g' r1); u = Q(G . LN(r2))                  add2 (+ next block's norm1 / final norm)
    head    logits = (sum over tokens of u) W_head + b                readout integrator

``Q(z) = clip(floor((z + b) / theta), lo, hi)`` with integer b and theta (per output channel or per node),
softmax and LN are the integer kernels of transformer.py. The SNN runs every such node as ST-BIF neurons
(theta = threshold, b = initial membrane, lo/hi = tracer bounds), linear ops as MM-sc, q k^T and A v as
MM-ss on tracers, softmax/LN as differential units; it is bit-exact after :func:`steps_bound` steps.

Files: models/digits_vit.npz (integer arrays + a JSON ``meta`` string, no pickle), trained by
scripts/train_digits_vit.py; only numpy at run time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from elsa_tlm.datafiles import DataFile, array, in_range, integer, read_npz
from elsa_tlm.errors import ConfigError
from elsa_tlm.snn.digits import MODELS_DIR, quantize_pixels
from elsa_tlm.snn.neuron import STBIFNeurons
from elsa_tlm.snn.transformer import (
    DifferentialUnit,
    MMSSCounts,
    exact_matmul,
    exp_constants,
    int_layernorm,
    int_softmax,
    mmss_counts,
    mmss_step,
    quantize,
    residual_current,
)

TIME_STEPS = 32
BLOCK_LAYERS = ("q", "k", "v", "qk", "av", "proj", "add1", "fc1", "fc2", "add2")
LAYER_TYPES = {"q": "linear", "k": "linear", "v": "linear", "qk": "matmul_ss", "av": "matmul_ss",
               "proj": "linear", "add1": "add_norm", "fc1": "linear", "fc2": "linear", "add2": "add_norm"}  # fmt: skip


@dataclass(frozen=True)
class Quant:
    """Quantizer / ST-BIF parameters of one node: clip(floor((z + bias) / theta), lo, hi)."""

    theta: np.ndarray  # int, > 0: threshold (per channel, or a scalar)
    bias: np.ndarray  # int: initial membrane (bias + rounding offset), broadcast to the neurons
    lo: int
    hi: int

    def __call__(self, z: np.ndarray) -> np.ndarray:
        return quantize(z, self.bias, self.theta, self.lo, self.hi)

    def neurons(self, shape: tuple[int, ...]) -> STBIFNeurons:
        return STBIFNeurons.create(shape, self.theta, self.lo, self.hi, self.bias)

    @property
    def levels(self) -> int:
        return self.hi - self.lo


@dataclass(frozen=True)
class Linear:
    weight: np.ndarray  # int (out, in), 4-bit
    q: Quant


@dataclass(frozen=True)
class Norm:
    gain: np.ndarray  # int (D,): y = gain * LN(r) (units 2^-ln_frac_bits of a standard deviation)
    q: Quant  # theta = ln_theta (scalar), bias (D,) = beta in y units + rounding


@dataclass(frozen=True)
class Attention:
    mult: np.ndarray  # int (H,): softmax input x = scores * mult, fixed point 2^-exp_frac_bits
    a: Quant  # softmax output (units 2^-softmax_out_bits) -> attention levels 0..13
    o: Quant  # A v (units: attention level x v level) -> levels -7..6


@dataclass(frozen=True)
class Add:
    gain: np.ndarray  # int (2,): gains of the two operands, in the order of the layer's inputs
    q: Quant


@dataclass(frozen=True)
class Block:
    norm1: Norm
    q: Linear
    k: Linear
    v: Linear
    attn: Attention
    proj: Linear
    add1: Add  # inputs (proj, block input x)
    norm2: Norm
    fc1: Linear
    fc2: Linear
    add2: Add  # inputs (fc2, add1)


@dataclass(frozen=True)
class ViTModel:
    """Integer parameters of the quantized ViT; ``meta`` holds dims, level ranges and fixed-point bits."""

    embed: Linear  # q.bias (tokens, D): position embedding (+ class token) as initial membrane
    blocks: tuple[Block, ...]
    norm: Norm
    head: Linear  # readout: q.theta unused, q.bias (10,) = logit bias
    meta: dict
    time_steps: int = TIME_STEPS

    @property
    def heads(self) -> int:
        return int(self.meta["heads"])

    @property
    def head_pool(self) -> str:
        """What the classifier reads: the sum over all tokens ("sum") or the class token only ("cls")."""
        return str(self.meta.get("head_pool", "cls"))

    @property
    def dim(self) -> int:
        return int(self.embed.weight.shape[0])

    @property
    def tokens(self) -> int:
        return int(self.embed.q.bias.shape[0])

    @property
    def layer_names(self) -> tuple[str, ...]:
        names = ["embed"]
        for i in range(len(self.blocks)):
            names += [f"blocks.{i}.{n}" for n in BLOCK_LAYERS]
        return (*names, "head")


# --------------------------------------------------------------------------------------------- file i/o
def _quant_arrays(prefix: str, q: Quant) -> dict[str, np.ndarray]:
    return {f"{prefix}.theta": np.asarray(q.theta, np.int64), f"{prefix}.bias": np.asarray(q.bias, np.int64),
            f"{prefix}.levels": np.array([q.lo, q.hi], np.int64)}  # fmt: skip


def model_arrays(model: ViTModel) -> dict[str, np.ndarray]:
    """Flat name -> integer array view of the model (what the npz holds), plus the JSON ``meta`` string."""
    a: dict[str, np.ndarray] = {"embed.weight": model.embed.weight.astype(np.int8)}
    a.update(_quant_arrays("embed", model.embed.q))
    for i, b in enumerate(model.blocks):
        p = f"blocks.{i}"
        for name in ("norm1", "norm2"):
            nrm: Norm = getattr(b, name)
            a[f"{p}.{name}.gain"] = nrm.gain.astype(np.int64)
            a.update(_quant_arrays(f"{p}.{name}", nrm.q))
        for name in ("q", "k", "v", "proj", "fc1", "fc2"):
            lin: Linear = getattr(b, name)
            a[f"{p}.{name}.weight"] = lin.weight.astype(np.int8)
            a.update(_quant_arrays(f"{p}.{name}", lin.q))
        a[f"{p}.qk.mult"] = b.attn.mult.astype(np.int64)
        a.update(_quant_arrays(f"{p}.qk", b.attn.a))
        a.update(_quant_arrays(f"{p}.av", b.attn.o))
        for name in ("add1", "add2"):
            add: Add = getattr(b, name)
            a[f"{p}.{name}.gain"] = add.gain.astype(np.int64)
            a.update(_quant_arrays(f"{p}.{name}", add.q))
    a["norm.gain"] = model.norm.gain.astype(np.int64)
    a.update(_quant_arrays("norm", model.norm.q))
    a["head.weight"] = model.head.weight.astype(np.int8)
    a["head.bias"] = model.head.q.bias.astype(np.int64)
    a["meta"] = np.array(json.dumps({**model.meta, "time_steps": model.time_steps}, sort_keys=True))
    return a


def model_from_arrays(a: dict[str, np.ndarray]) -> ViTModel:
    """Inverse of :func:`model_arrays` (validates integer dtypes)."""
    for k, v in a.items():
        if k != "meta" and v.dtype.kind not in "iu":
            raise ConfigError(f"digits_vit.{k}", v.dtype, "model arrays must be integer")

    def quant(p: str) -> Quant:
        lo, hi = (int(v) for v in a[f"{p}.levels"])
        return Quant(a[f"{p}.theta"].astype(np.int64), a[f"{p}.bias"].astype(np.int64), lo, hi)

    def lin(p: str) -> Linear:
        return Linear(a[f"{p}.weight"].astype(np.int64), quant(p))

    def norm(p: str) -> Norm:
        return Norm(a[f"{p}.gain"].astype(np.int64), quant(p))

    meta = json.loads(str(a["meta"]))
    blocks = []
    for i in range(int(meta["blocks"])):
        p = f"blocks.{i}"
        blocks.append(Block(
            norm(f"{p}.norm1"), lin(f"{p}.q"), lin(f"{p}.k"), lin(f"{p}.v"),
            Attention(a[f"{p}.qk.mult"].astype(np.int64), quant(f"{p}.qk"), quant(f"{p}.av")),
            lin(f"{p}.proj"), Add(a[f"{p}.add1.gain"].astype(np.int64), quant(f"{p}.add1")), norm(f"{p}.norm2"),
            lin(f"{p}.fc1"), lin(f"{p}.fc2"), Add(a[f"{p}.add2.gain"].astype(np.int64), quant(f"{p}.add2")),
        ))  # fmt: skip
    head = Linear(
        a["head.weight"].astype(np.int64), Quant(np.ones(1, np.int64), a["head.bias"].astype(np.int64), 0, 0)
    )
    return ViTModel(
        lin("embed"), tuple(blocks), norm("norm"), head, meta, int(meta.get("time_steps", TIME_STEPS))
    )


def save_vit_model(model: ViTModel, path: str | Path) -> None:
    """The model's arrays as an npz (``path``: new, or a model file this function wrote)."""
    import io
    import zipfile

    from elsa_tlm.fileio import check_output_file, write_bytes_atomic

    def ours(p: Path) -> bool:
        try:
            with zipfile.ZipFile(p) as z:
                return "meta.npy" in z.namelist() and "head.weight.npy" in z.namelist()
        except (OSError, zipfile.BadZipFile, ValueError):
            return False

    target = check_output_file(path, "path", ours)
    buf = io.BytesIO()
    np.savez_compressed(buf, **model_arrays(model))
    write_bytes_atomic(target, buf.getvalue())


def load_vit_model(path: str | Path | None = None) -> ViTModel:
    """Load models/digits_vit.npz (no pickle), checked by :func:`check_vit_arrays`."""
    f = DataFile("digits_vit model", str(Path(path) if path else MODELS_DIR / "digits_vit.npz"))
    a = read_npz(f, "run scripts/train_digits_vit.py")
    check_vit_arrays(f, a)
    return model_from_arrays(a)


META_INTS = ("blocks", "heads", "patch", "ln_frac_bits", "ln_pre_shift", "exp_frac_bits", "softmax_out_bits")
IMAGE = 8  # the digits are 8x8


def check_vit_arrays(f: DataFile, a: dict[str, np.ndarray]) -> None:
    """The arrays of a ViT file agree with its ``meta`` and with each other: integer arrays, weights within
    ``weight_bits``, dims D (embedding), H (heads, dividing D), N (tokens), MLP and classes consistent across
    blocks, positive thresholds, levels lo < hi, and each quantizer's theta/bias broadcasting to its output."""
    text = str(array(f, a, "meta", "str", ()))
    try:
        meta = json.loads(text)
    except ValueError:
        meta = None
    if not isinstance(meta, dict):
        raise f.error("array 'meta' must hold a JSON object (the model's dims and fixed-point bits)")
    for k in META_INTS:
        if k not in meta:
            raise f.missing(f"meta.{k}", "a non-negative integer")
        integer(f, f"meta.{k}", meta[k], 1 if k in ("heads", "patch") else 0, 64)
    if "time_steps" in meta:
        integer(f, "meta.time_steps", meta["time_steps"], 1, 1024)
    if meta.get("head_pool", "cls") not in ("sum", "cls"):
        raise f.bad("meta.head_pool", meta["head_pool"], "must be sum or cls")
    patch, H = meta["patch"], meta["heads"]
    if IMAGE % patch:
        raise f.bad("meta.patch", patch, f"must divide the {IMAGE}x{IMAGE} image")
    bits = integer(f, "meta.weight_bits", meta.get("weight_bits", 4), 1, 8)
    for k, v in a.items():
        if k != "meta":
            array(f, a, k, "int")
            if k.endswith(".weight"):
                in_range(f, k, v, -(2 ** (bits - 1)), 2 ** (bits - 1) - 1, f"{bits}-bit weights")
    N = (IMAGE // patch) ** 2 + int(bool(meta.get("class_token", True)))
    dims: dict[str, int] = {"N": N, "H": H}
    array(f, a, "embed.weight", "int", ("D", patch * patch), dims)
    if dims["D"] % H:
        raise f.bad("meta.heads", H, f"must divide the embedding width {dims['D']}")
    array(f, a, "embed.bias", "int", ("N", "D"), dims)  # the position embedding: one row per token
    tok, mlp = ("N", "D"), ("N", "MLP")
    quants: dict[str, tuple[str, ...]] = {"embed": tok, "norm": tok}
    for i in range(meta["blocks"]):
        p = f"blocks.{i}"
        for name, shape in (("q", ("D", "D")), ("k", ("D", "D")), ("v", ("D", "D")), ("proj", ("D", "D")),
                            ("fc1", ("MLP", "D")), ("fc2", ("D", "MLP"))):  # fmt: skip
            array(f, a, f"{p}.{name}.weight", "int", shape, dims)
        for name in ("norm1", "norm2"):
            array(f, a, f"{p}.{name}.gain", "int", ("D",), dims)
        array(f, a, f"{p}.qk.mult", "int", ("H",), dims)
        for name in ("add1", "add2"):
            array(f, a, f"{p}.{name}.gain", "int", (2,), dims)
        quants.update(
            {f"{p}.{n}": tok for n in ("norm1", "norm2", "q", "k", "v", "av", "proj", "add1", "fc2", "add2")}
        )
        quants.update({f"{p}.fc1": mlp, f"{p}.qk": ("H", "N", "N")})
    array(f, a, "norm.gain", "int", ("D",), dims)
    array(f, a, "head.weight", "int", ("classes", "D"), dims)
    array(f, a, "head.bias", "int", ("classes",), dims)
    for p, out in quants.items():
        shape = tuple(dims.get(d, 0) for d in out)
        lo, hi = (int(v) for v in array(f, a, f"{p}.levels", "int", (2,)))
        if lo >= hi:
            raise f.bad(f"{p}.levels", [lo, hi], "levels [lo, hi] need lo < hi")
        in_range(f, f"{p}.theta", array(f, a, f"{p}.theta", "int"), 1, None, "thresholds")
        for k in (f"{p}.theta", f"{p}.bias"):
            got = array(f, a, k, "int").shape
            try:
                ok = np.broadcast_shapes(got, shape) == shape
            except ValueError:
                ok = False
            if not ok:
                raise f.error(f"array {k!r} has shape {got}, which does not broadcast to the output {shape}")


# ----------------------------------------------------------------------------------------- tokens, QANN
def tokenize(levels: np.ndarray, patch: int = 2, class_token: bool = True) -> np.ndarray:
    """Pixel levels (n, H, W) -> tokens (n, [1 +] (H/p)(W/p), p*p): [class token (zeros),] patches, raster."""
    x = np.asarray(levels, np.int64)
    n, h, w = x.shape
    if h % patch or w % patch:
        raise ConfigError("patch", patch, f"must divide the image size {h}x{w}")
    pt = x.reshape(n, h // patch, patch, w // patch, patch).transpose(0, 1, 3, 2, 4)
    pt = pt.reshape(n, (h // patch) * (w // patch), patch * patch)
    if not class_token:
        return pt
    return np.concatenate([np.zeros((n, 1, patch * patch), np.int64), pt], axis=1)


def model_tokens(model: ViTModel, images: np.ndarray) -> np.ndarray:
    """Input tokens (n, N, patch^2) of raw images (n, 8, 8): pixel levels 0..15 cut into patches."""
    return tokenize(
        quantize_pixels(images), int(model.meta["patch"]), bool(model.meta.get("class_token", True))
    )


def head_input(model: ViTModel, u: np.ndarray) -> np.ndarray:
    """Tokens the classifier reads from the final norm's output (n, N, D): all of them (summed) or the class
    token."""
    return u if model.head_pool == "sum" else u[:, :1]


def _heads(x: np.ndarray, h: int) -> np.ndarray:
    """(..., N, D) -> (..., H, N, D/H)."""
    *lead, n, d = x.shape
    return np.moveaxis(x.reshape(*lead, n, h, d // h), -2, -3)


def _merge(x: np.ndarray) -> np.ndarray:
    """(..., H, N, dh) -> (..., N, H*dh)."""
    x = np.moveaxis(x, -3, -2)
    return x.reshape(*x.shape[:-2], -1)


def _mm(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Integer a @ w.T (tokens x features times a (out, in) weight), exact."""
    return exact_matmul(a, w.T)


def _ln_fn(model: ViTModel, norm: Norm):
    bits, pre = int(model.meta["ln_frac_bits"]), int(model.meta["ln_pre_shift"])
    return lambda r: norm.gain * int_layernorm(r, -1, bits, pre)


def _softmax_fn(model: ViTModel, attn: Attention):
    consts = exp_constants(int(model.meta["exp_frac_bits"]))
    out_bits = int(model.meta["softmax_out_bits"])
    mult = attn.mult[:, None, None]
    return lambda s: int_softmax(s * mult, -1, out_bits, consts)


def qann_forward(model: ViTModel, images: np.ndarray) -> dict[str, np.ndarray]:
    """Integer QANN on raw images (n, 8, 8): every node's levels (keys as ``neuron_groups``), scores, logits.

    Shapes: token nodes (n, N, D) (fc1: (n, N, MLP)); ``blocks.i.qk`` attention levels (n, H, N, N) and
    ``blocks.i.qk.scores`` the integer q k^T (n, H, N, N); ``head`` logits (n, 10).
    """
    tok = model_tokens(model, images)
    out: dict[str, np.ndarray] = {}
    x = model.embed.q(_mm(tok, model.embed.weight))
    out["embed"] = x
    H = model.heads
    for i, b in enumerate(model.blocks):
        p = f"blocks.{i}"
        u = b.norm1.q(_ln_fn(model, b.norm1)(x))
        out[f"{p}.norm1"] = u
        q, k, v = (lin.q(_mm(u, lin.weight)) for lin in (b.q, b.k, b.v))
        out[f"{p}.q"], out[f"{p}.k"], out[f"{p}.v"] = q, k, v
        s = exact_matmul(_heads(q, H), np.swapaxes(_heads(k, H), -1, -2))
        out[f"{p}.qk.scores"] = s
        a = b.attn.a(_softmax_fn(model, b.attn)(s))
        out[f"{p}.qk"] = a
        o = b.attn.o(_merge(exact_matmul(a, _heads(v, H))))
        out[f"{p}.av"] = o
        pr = b.proj.q(_mm(o, b.proj.weight))
        out[f"{p}.proj"] = pr
        r1 = b.add1.q(residual_current(pr, x, *b.add1.gain))
        out[f"{p}.add1"] = r1
        u2 = b.norm2.q(_ln_fn(model, b.norm2)(r1))
        out[f"{p}.norm2"] = u2
        h = b.fc1.q(_mm(u2, b.fc1.weight))
        out[f"{p}.fc1"] = h
        f = b.fc2.q(_mm(h, b.fc2.weight))
        out[f"{p}.fc2"] = f
        x = b.add2.q(residual_current(f, r1, *b.add2.gain))
        out[f"{p}.add2"] = x
    u = model.norm.q(_ln_fn(model, model.norm)(x))
    out["norm"] = u
    out["head"] = _mm(head_input(model, u).sum(axis=1), model.head.weight) + model.head.q.bias
    return out


def qann_logits(model: ViTModel, images: np.ndarray) -> np.ndarray:
    return qann_forward(model, images)["head"]


def qann_accuracy(model: ViTModel, images: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(qann_logits(model, images).argmax(axis=1) == np.asarray(labels)))


# ------------------------------------------------------------------------------------------ structure
def neuron_groups(model: ViTModel) -> dict[str, Quant]:
    """Every ST-BIF neuron group, in execution order, with its quantizer (= neuron parameters)."""
    g: dict[str, Quant] = {"embed": model.embed.q}
    for i, b in enumerate(model.blocks):
        p = f"blocks.{i}"
        g.update({f"{p}.norm1": b.norm1.q, f"{p}.q": b.q.q, f"{p}.k": b.k.q, f"{p}.v": b.v.q,
                  f"{p}.qk": b.attn.a, f"{p}.av": b.attn.o, f"{p}.proj": b.proj.q, f"{p}.add1": b.add1.q,
                  f"{p}.norm2": b.norm2.q, f"{p}.fc1": b.fc1.q, f"{p}.fc2": b.fc2.q, f"{p}.add2": b.add2.q})  # fmt: skip
    g["norm"] = model.norm.q
    return g


def group_inputs(model: ViTModel) -> dict[str, tuple[str, ...]]:
    """Producer neuron groups of every group (its current is a function of their tracers only)."""
    d: dict[str, tuple[str, ...]] = {"embed": ()}
    x = "embed"
    for i in range(len(model.blocks)):
        p = f"blocks.{i}"
        d.update({f"{p}.norm1": (x,), f"{p}.q": (f"{p}.norm1",), f"{p}.k": (f"{p}.norm1",),
                  f"{p}.v": (f"{p}.norm1",), f"{p}.qk": (f"{p}.q", f"{p}.k"), f"{p}.av": (f"{p}.qk", f"{p}.v"),
                  f"{p}.proj": (f"{p}.av",), f"{p}.add1": (f"{p}.proj", x), f"{p}.norm2": (f"{p}.add1",),
                  f"{p}.fc1": (f"{p}.norm2",), f"{p}.fc2": (f"{p}.fc1",), f"{p}.add2": (f"{p}.fc2", f"{p}.add1")})  # fmt: skip
        x = f"{p}.add2"
    d["norm"] = (x,)
    return d


def steps_bound(model: ViTModel) -> int:
    """Steps after which the SNN equals the QANN for every input: 1 + max over paths of sum (levels - 1).

    A group whose current is final from step t on is final from step t + L - 1 on (L = hi - lo), and a
    group's current is final once all its producers are (linear, MM-ss and differential units add no
    delay); the direct-coded input is final from step 0, the readout from its producer's final step.
    """
    groups, ins = neuron_groups(model), group_inputs(model)
    final: dict[str, int] = {}
    for name, q in groups.items():
        start = max((final[p] for p in ins[name]), default=0)
        final[name] = start + q.levels - 1
    return final["norm"] + 1


def layer_specs(model: ViTModel) -> list[dict]:
    """Chip-facing layer list (names/types/inputs/shapes in the style of workloads/vit_small.json)."""
    N, D, H = model.tokens, model.dim, model.heads
    mlp = int(model.blocks[0].fc1.weight.shape[0]) if model.blocks else D
    specs = [{"name": "embed", "type": "linear", "inputs": ["input"], "then": "layernorm",
              "shape": {"tokens": N, "Cin": int(model.embed.weight.shape[1]), "Cout": D}}]  # fmt: skip
    x = "embed"
    for i in range(len(model.blocks)):
        p = f"blocks.{i}"
        lin = {"tokens": N, "Cin": D, "Cout": D}
        specs += [
            {"name": f"{p}.q", "type": "linear", "inputs": [x], "shape": lin},
            {"name": f"{p}.k", "type": "linear", "inputs": [x], "shape": lin},
            {"name": f"{p}.v", "type": "linear", "inputs": [x], "shape": lin},
            {"name": f"{p}.qk", "type": "matmul_ss", "inputs": [f"{p}.q", f"{p}.k"], "then": "softmax",
             "shape": {"tokens": N, "heads": H, "head_dim": D // H, "M": N, "K": D // H, "N": N}},
            {"name": f"{p}.av", "type": "matmul_ss", "inputs": [f"{p}.qk", f"{p}.v"],
             "shape": {"tokens": N, "heads": H, "head_dim": D // H, "M": N, "K": N, "N": D // H}},
            {"name": f"{p}.proj", "type": "linear", "inputs": [f"{p}.av"], "shape": lin},
            {"name": f"{p}.add1", "type": "add_norm", "inputs": [f"{p}.proj", x], "then": "layernorm",
             "shape": {"tokens": N, "C": D}},
            {"name": f"{p}.fc1", "type": "linear", "inputs": [f"{p}.add1"], "shape": {"tokens": N, "Cin": D, "Cout": mlp}},
            {"name": f"{p}.fc2", "type": "linear", "inputs": [f"{p}.fc1"], "shape": {"tokens": N, "Cin": mlp, "Cout": D}},
            {"name": f"{p}.add2", "type": "add_norm", "inputs": [f"{p}.fc2", f"{p}.add1"], "then": "layernorm",
             "shape": {"tokens": N, "C": D}},
        ]  # fmt: skip
        x = f"{p}.add2"
    specs.append({"name": "head", "type": "linear", "inputs": [x], "readout": True,
                  "pool": model.head_pool, "shape": {"tokens": N if model.head_pool == "sum" else 1, "Cin": D,
                  "Cout": int(model.head.weight.shape[0])}})  # fmt: skip
    return specs


# ---------------------------------------------------------------------------------------------- SNN
@dataclass
class ViTRun:
    """Functional spike activity of the digits ViT SNN on n samples over T steps.

    Per chip layer (``layer_names``: embed, blocks.i.{q,k,v,qk,av,proj,add1,fc1,fc2,add2}, head), per step
    and token (token 0 = class token):

    * ``input_signed[l]`` (n, T, F, tokens) int8, the ternary spikes arriving (embed: pixel levels 0..15 at
      step 0 only, F = 4, class token zero). F per layer: q/k/v/fc1: D (the norm's output); proj: D (A v);
      fc2: MLP; qk: 2D (features 0..D-1 the q spikes, D..2D-1 the k spikes, heads in order); av: H*N (the
      attention spikes of each query token, head-major; the V operand is ``v``'s output); add1: 2D (proj,
      then block input); add2: 2D (fc2, then add1's residual); head: D, the final norm's spikes of every
      token (``head_pool = "sum"``, the shipped model) or tokens = 1, the class token (``"cls"``).
    * ``input_spikes[l]`` (n, T, tokens) int64: non-zero entries of ``input_signed[l]`` per token.
    * ``output_spikes[l]`` (n, T, tokens) int64: spikes the layer's neurons emit per token (embed/add
      layers: residual neurons + the attached norm's neurons; qk: attention neurons per query token; head:
      zeros).
    * ``group_spikes[g]`` int8: raw ternary spikes of every neuron group (``neuron_groups``), (n, T, N, F)
      or (n, T, H, N, N) for ``blocks.i.qk``; ``fire_rows[g]`` (n, T): neuron rows (tokens; (head, query)
      for qk) fired in the step: rows with non-zero input current or unsettled neurons.

    ``logits_per_step`` (n, T, 10) readout membrane after each step, ``pred_per_step`` its argmax (ties
    -> lowest class, as the QANN); ``qann_logits``, ``qann_pred``; ``settle_steps`` (n,): steps after which
    no group spikes; ``qann`` the QANN node outputs.
    """

    layer_names: tuple[str, ...]
    T: int
    input_spikes: dict[str, np.ndarray]
    input_signed: dict[str, np.ndarray]
    output_spikes: dict[str, np.ndarray]
    group_spikes: dict[str, np.ndarray]
    fire_rows: dict[str, np.ndarray]
    logits_per_step: np.ndarray
    pred_per_step: np.ndarray
    qann_logits: np.ndarray
    qann_pred: np.ndarray
    settle_steps: np.ndarray
    qann: dict[str, np.ndarray] = field(repr=False)

    def levels(self, group: str, step: int = -1) -> np.ndarray:
        """Tracer S of a neuron group after ``step`` (default: the last)."""
        s = self.group_spikes[group]
        return s[:, : (step % self.T) + 1].astype(np.int64).sum(axis=1)


class _Group:
    """ST-BIF neurons of one group plus its per-step recording."""

    def __init__(self, q: Quant, shape: tuple[int, ...], T: int) -> None:
        self.neurons = q.neurons(shape)
        self.spikes = np.zeros((shape[0], T, *shape[1:]), np.int8)
        self.fire_rows = np.zeros((shape[0], T), np.int64)
        self.acc = np.zeros(shape, np.int64)  # tracer before the current step

    def step(self, t: int, current: np.ndarray) -> np.ndarray:
        rows = np.any(current != 0, axis=-1) | np.any(self.neurons.unsettled(), axis=-1)
        self.fire_rows[:, t] = rows.reshape(rows.shape[0], -1).sum(axis=1)
        y = self.neurons.step(current)
        self.spikes[:, t] = y
        return y


def run_snn(model: ViTModel, images: np.ndarray, T: int | None = None) -> ViTRun:
    """Run the SNN on raw images (n, 8, 8) for T steps (default: the model's time_steps), vectorised."""
    T = model.time_steps if T is None else int(T)
    if T < 1:
        raise ConfigError("T", T, "need at least one time step")
    tok = model_tokens(model, images)
    n, N = tok.shape[:2]
    D, H = model.dim, model.heads
    shapes = {k: (n, N, D) for k in neuron_groups(model)}
    for i, b in enumerate(model.blocks):
        shapes[f"blocks.{i}.qk"] = (n, H, N, N)
        shapes[f"blocks.{i}.fc1"] = (n, N, int(b.fc1.weight.shape[0]))
    G = {k: _Group(q, shapes[k], T) for k, q in neuron_groups(model).items()}
    units: dict[str, DifferentialUnit] = {"norm": DifferentialUnit(_ln_fn(model, model.norm), (n, N, D))}
    for i, b in enumerate(model.blocks):
        p = f"blocks.{i}"
        units[f"{p}.norm1"] = DifferentialUnit(_ln_fn(model, b.norm1), (n, N, D))
        units[f"{p}.norm2"] = DifferentialUnit(_ln_fn(model, b.norm2), (n, N, D))
        units[f"{p}.qk"] = DifferentialUnit(_softmax_fn(model, b.attn), (n, H, N, N))
    rec: dict[str, list[np.ndarray]] = {name: [] for name in model.layer_names}
    logits = np.zeros((n, T, int(model.head.weight.shape[0])), np.int64)
    readout = np.broadcast_to(model.head.q.bias, (n, logits.shape[2])).astype(np.int64)
    tokT = np.swapaxes(tok, 1, 2)
    for t in range(T):
        rec["embed"].append(tokT if t == 0 else np.zeros_like(tokT))
        x = G["embed"].step(t, _mm(tok, model.embed.weight) if t == 0 else np.zeros((n, N, D), np.int64))
        norm_name = "blocks.0.norm1" if model.blocks else "norm"
        for i, b in enumerate(model.blocks):
            p = f"blocks.{i}"
            u = G[norm_name].step(t, units[norm_name].step(x))
            q, k, v = (
                G[f"{p}.{nm}"].step(t, _mm(u, lin.weight)) for nm, lin in (("q", b.q), ("k", b.k), ("v", b.v))
            )
            for nm in ("q", "k", "v"):
                rec[f"{p}.{nm}"].append(np.swapaxes(u, 1, 2))
            rec[f"{p}.qk"].append(np.concatenate([np.swapaxes(q, 1, 2), np.swapaxes(k, 1, 2)], axis=1))
            qh, kh = _heads(q, H), np.swapaxes(_heads(k, H), -1, -2)
            ds, _ = mmss_step(
                qh, kh, _heads(G[f"{p}.q"].acc, H), np.swapaxes(_heads(G[f"{p}.k"].acc, H), -1, -2)
            )
            a = G[f"{p}.qk"].step(t, units[f"{p}.qk"].step(ds))
            rec[f"{p}.av"].append(np.moveaxis(a, 1, 2).reshape(n, N, H * N).swapaxes(1, 2))
            do, _ = mmss_step(a, _heads(v, H), G[f"{p}.qk"].acc, _heads(G[f"{p}.v"].acc, H))
            o = G[f"{p}.av"].step(t, _merge(do))
            rec[f"{p}.proj"].append(np.swapaxes(o, 1, 2))
            pr = G[f"{p}.proj"].step(t, _mm(o, b.proj.weight))
            rec[f"{p}.add1"].append(np.concatenate([np.swapaxes(pr, 1, 2), np.swapaxes(x, 1, 2)], axis=1))
            r1 = G[f"{p}.add1"].step(t, residual_current(pr, x, *b.add1.gain))
            u2 = G[f"{p}.norm2"].step(t, units[f"{p}.norm2"].step(r1))
            rec[f"{p}.fc1"].append(np.swapaxes(u2, 1, 2))
            h = G[f"{p}.fc1"].step(t, _mm(u2, b.fc1.weight))
            rec[f"{p}.fc2"].append(np.swapaxes(h, 1, 2))
            f = G[f"{p}.fc2"].step(t, _mm(h, b.fc2.weight))
            rec[f"{p}.add2"].append(np.concatenate([np.swapaxes(f, 1, 2), np.swapaxes(r1, 1, 2)], axis=1))
            x = G[f"{p}.add2"].step(t, residual_current(f, r1, *b.add2.gain))
            norm_name = f"blocks.{i + 1}.norm1" if i + 1 < len(model.blocks) else "norm"
        u = G["norm"].step(t, units["norm"].step(x))
        hin = head_input(model, u)
        rec["head"].append(np.swapaxes(hin, 1, 2))
        readout = readout + _mm(hin.sum(axis=1), model.head.weight)
        logits[:, t] = readout
        for g in G.values():  # tracers after this step, for the next step's MM-ss halves
            g.acc = g.neurons.s.copy()
    return _finish(model, images, T, G, rec, logits)


def _finish(
    model: ViTModel, images: np.ndarray, T: int, G: dict[str, _Group], rec: dict, logits: np.ndarray
) -> ViTRun:
    input_signed = {k: np.stack(v, axis=1).astype(np.int8) for k, v in rec.items()}
    input_spikes = {k: np.count_nonzero(v, axis=2).astype(np.int64) for k, v in input_signed.items()}
    n = logits.shape[0]

    def per_token(g: str) -> np.ndarray:
        s = G[g].spikes
        if s.ndim == 5:  # attention neurons (n, T, H, Nq, Nk): per query token
            return np.count_nonzero(s, axis=(2, 4)).astype(np.int64)
        return np.count_nonzero(s, axis=3).astype(np.int64)

    output_spikes: dict[str, np.ndarray] = {"embed": per_token("embed")}
    nxt = [f"blocks.{i + 1}.norm1" for i in range(len(model.blocks) - 1)] + ["norm"]
    if model.blocks:
        output_spikes["embed"] = output_spikes["embed"] + per_token("blocks.0.norm1")
    for i in range(len(model.blocks)):
        p = f"blocks.{i}"
        for nm in ("q", "k", "v", "qk", "av", "proj", "fc1", "fc2"):
            output_spikes[f"{p}.{nm}"] = per_token(f"{p}.{nm}")
        output_spikes[f"{p}.add1"] = per_token(f"{p}.add1") + per_token(f"{p}.norm2")
        output_spikes[f"{p}.add2"] = per_token(f"{p}.add2") + per_token(nxt[i])
    output_spikes["head"] = np.zeros((n, T, 1), np.int64)
    group_spikes = {k: g.spikes for k, g in G.items()}
    active = np.zeros((n, T), bool)
    for s in group_spikes.values():
        active |= np.any(s.reshape(n, T, -1) != 0, axis=2)
    settle = np.maximum(np.where(active, np.arange(1, T + 1)[None, :], 0).max(axis=1), 1)
    qann = qann_forward(model, images)
    return ViTRun(
        layer_names=model.layer_names,
        T=T,
        input_spikes=input_spikes,
        input_signed=input_signed,
        output_spikes=output_spikes,
        group_spikes=group_spikes,
        fire_rows={k: g.fire_rows for k, g in G.items()},
        logits_per_step=logits,
        pred_per_step=logits.argmax(axis=2),
        qann_logits=qann["head"],
        qann_pred=qann["head"].argmax(axis=1),
        settle_steps=settle,
        qann=qann,
    )


def attention_counts(model: ViTModel, run: ViTRun, layer: str) -> MMSSCounts:
    """PE actions of an MM-ss layer (``blocks.i.qk`` or ``blocks.i.av``) over all samples, steps and heads.

    qk: X = q spikes (per head N x dh), Y = k spikes transposed; av: X = attention spikes (N x N), Y = v
    spikes (N x dh). Same counts as summing :func:`mmss_step` over the run (one PE tile per head)."""
    block, kind = layer.rsplit(".", 1)
    H = model.heads
    if kind == "qk":
        x = _heads(run.group_spikes[f"{block}.q"], H)
        y = np.swapaxes(_heads(run.group_spikes[f"{block}.k"], H), -1, -2)
    elif kind == "av":
        x, y = run.group_spikes[f"{block}.qk"], _heads(run.group_spikes[f"{block}.v"], H)
    else:
        raise ConfigError("layer", layer, "attention counts exist for blocks.i.qk and blocks.i.av only")
    return mmss_counts(x, y)


def accuracy_per_step(run: ViTRun, labels: np.ndarray) -> list[float]:
    """SNN accuracy after each step (the elastic-inference curve)."""
    return [float(v) for v in np.mean(run.pred_per_step == np.asarray(labels)[:, None], axis=0)]
