"""The trained 4-bit digits CNN: load it, run QANN and SNN, and record the functional spike activity.

Network (8x8 grey digits, 10 classes; 4-bit weights, activation levels 0..15, pixels quantized to 0..15):

    conv1  1 -> 16, 3x3, stride 1, pad 1   8x8 -> 8x8   ST-BIF
    conv2 16 -> 32, 3x3, stride 2, pad 1   8x8 -> 4x4   ST-BIF
    conv3 32 -> 32, 3x3, stride 1, pad 1   4x4 -> 4x4   ST-BIF
    fc    512 -> 10 (flattened c-major)                 readout integrator (membrane = logit)

Files: models/digits_qcnn.npz (weights, biases, thresholds), models/digits_data.npz (UCI digits via
scikit-learn, see models/DIGITS_ATTRIBUTION.md), models/digits.json (layer graph). Trained by
scripts/train_digits.py; at run time only numpy is needed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from elsa_tlm.datafiles import DataFile, array, in_range, read_npz
from elsa_tlm.errors import ConfigError
from elsa_tlm.snn.conversion import SNNRun, SpikingNetwork, convert
from elsa_tlm.snn.layers import conv_out_size, events_per_row
from elsa_tlm.snn.products import ActionCounts, gustavson_counts, inner_counts, outer_counts, settle_counts
from elsa_tlm.snn.qann import QNetwork, QNode

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"  # package data (elsa_tlm/models)
INPUT_LEVELS = 15
TIME_STEPS = 32
ARCH = (  # name, Cin, Cout, kernel, stride, padding
    ("conv1", 1, 16, 3, 1, 1),
    ("conv2", 16, 32, 3, 2, 1),
    ("conv3", 32, 32, 3, 1, 1),
)
LAYER_NAMES = ("conv1", "conv2", "conv3", "fc")
CLASSES = 10


def quantize_pixels(images: np.ndarray) -> np.ndarray:
    """Raw digits pixels 0..16 -> 4-bit input levels 0..15 (round half up)."""
    x = np.asarray(images)
    if x.min(initial=0) < 0 or x.max(initial=0) > 16:
        raise ConfigError("images", (int(x.min()), int(x.max())), "digits pixels must lie in 0..16")
    return np.floor(x.astype(np.float64) * INPUT_LEVELS / 16 + 0.5).astype(np.int64)


@dataclass(frozen=True)
class DigitsModel:
    """The integer QANN of the digits CNN and its SNN (converted on load)."""

    qnet: QNetwork
    snn: SpikingNetwork
    time_steps: int = TIME_STEPS
    layer_names: tuple[str, ...] = LAYER_NAMES

    def node(self, name: str) -> QNode:
        return next(n for n in self.qnet.nodes if n.name == name)


def load_digits_model(path: str | Path | None = None) -> DigitsModel:
    """Load the trained weights (npz, no pickle) into a QANN and convert it to an SNN."""
    a = check_digits_model(path)
    q_min, q_max = (int(v) for v in a["levels"])
    nodes: list[QNode] = []
    prev = "input"
    for name, _cin, _cout, _k, s, pad in ARCH:
        nodes.append(
            QNode(name, "conv", (prev,), a[f"{name}.weight"].astype(np.int64), a[f"{name}.bias"],
                  a[f"{name}.theta"], q_min, q_max, s, pad)
        )  # fmt: skip
        prev = name
    nodes.append(QNode("fc", "linear", (prev,), a["fc.weight"].astype(np.int64), a["fc.bias"], readout=True))
    qnet = QNetwork(tuple(nodes))
    return DigitsModel(qnet=qnet, snn=convert(qnet))


def check_digits_model(path: str | Path | None = None) -> dict[str, np.ndarray]:
    """The arrays of a digits weights file, checked: integer weights of ``ARCH``'s shapes within ``weight_bits``
    (4) bits, integer biases, positive thresholds, activation levels lo < hi."""
    f = DataFile("digits model", str(Path(path) if path else MODELS_DIR / "digits_qcnn.npz"))
    a = read_npz(f, "run scripts/train_digits.py")
    bits = 4
    if "weight_bits" in a:
        bits = int(array(f, a, "weight_bits", "int", ()))
        in_range(f, "weight_bits", a["weight_bits"], 1, 8, "bits per weight")
    w_lo, w_hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    for name, cin, cout, k, _s, _pad in ARCH:
        w = array(f, a, f"{name}.weight", "int", (cout, cin, k, k))
        in_range(f, f"{name}.weight", w, w_lo, w_hi, f"{bits}-bit weights")
        array(f, a, f"{name}.bias", "int", (cout,))
        in_range(f, f"{name}.theta", array(f, a, f"{name}.theta", "int", (cout,)), 1, None, "thresholds")
    fc_in = ARCH[-1][2] * 4 * 4  # conv3's 4x4 output map, flattened
    in_range(
        f, "fc.weight", array(f, a, "fc.weight", "int", (CLASSES, fc_in)), w_lo, w_hi, f"{bits}-bit weights"
    )
    array(f, a, "fc.bias", "int", (CLASSES,))
    lo, hi = (int(v) for v in array(f, a, "levels", "int", (2,)))
    if lo >= hi:
        raise f.bad("levels", [lo, hi], "activation levels [lo, hi] need lo < hi")
    return a


def load_digits_data(path: str | Path | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test): raw 8x8 pixels 0..16 (uint8) and labels (int64), checked: integer
    images (n, 8, 8) with pixels 0..16, one label 0..9 per image."""
    f = DataFile("digits data", str(Path(path) if path else MODELS_DIR / "digits_data.npz"))
    a = read_npz(f, "run scripts/train_digits.py")
    out = []
    for split in ("train", "test"):
        dims: dict[str, int] = {}
        x = array(f, a, f"x_{split}", "int", (f"n_{split}", 8, 8), dims)
        y = array(f, a, f"y_{split}", "int", (f"n_{split}",), dims)
        if x.shape[0] == 0:
            raise f.error(f"array 'x_{split}' holds no images")
        in_range(f, f"x_{split}", x, 0, 16, "digits pixels")
        in_range(f, f"y_{split}", y, 0, CLASSES - 1, "class labels")
        out += [x, y]
    return out[0], out[1], out[2], out[3]


def qann_logits(model: DigitsModel, images: np.ndarray) -> np.ndarray:
    """Integer QANN logits (n, 10) of raw images (n, 8, 8)."""
    return model.qnet.logits(quantize_pixels(images)[:, None])


def qann_accuracy(model: DigitsModel, images: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(qann_logits(model, images).argmax(axis=1) == labels))


@dataclass
class FunctionalRun:
    """Functional spike activity of the digits SNN on n samples over T steps.

    Per layer name (same names/order as models/digits.json):

    * ``input_spikes[l]`` (n, T, IH, IW) int64: non-zero input entries (either sign) arriving at each input
      spine per step. conv1: non-zero quantized pixels, at step 0 only (direct coding). fc: per conv3
      output spine (4x4), as the flattened 512 inputs arrive spine by spine.
    * ``input_signed[l]`` (n, T, C, IH, IW) int8: the inputs themselves (ternary spikes; conv1: pixel levels).
    * ``output_spikes[l]`` (n, T, OH, OW) int64: non-zero output spikes per output spine and step
      (fc is a non-firing readout: zeros, shape (n, T, 1, 1)).
    * ``fire_rows[l]`` (n, T) int64: membrane rows fired (rows with input events or unsettled neurons).

    ``logits_per_step`` (n, T, 10): the readout membrane (bias + accumulated fc input) after each step;
    ``pred_per_step`` its argmax (ties -> lowest class, as for the QANN).
    """

    layer_names: tuple[str, ...]
    T: int
    input_spikes: dict[str, np.ndarray]
    input_signed: dict[str, np.ndarray]
    output_spikes: dict[str, np.ndarray]
    fire_rows: dict[str, np.ndarray]
    logits_per_step: np.ndarray
    pred_per_step: np.ndarray
    qann_logits: np.ndarray
    qann_pred: np.ndarray
    settle_steps: np.ndarray
    snn: SNNRun = field(repr=False)


def run_snn(model: DigitsModel, images: np.ndarray, T: int | None = None) -> FunctionalRun:
    """Run the SNN on raw images (n, 8, 8) for T steps (default: the model's time_steps), vectorised."""
    T = model.time_steps if T is None else int(T)
    x = quantize_pixels(images)[:, None]  # (n, 1, 8, 8)
    n = x.shape[0]
    run = model.snn.run(x, T)
    inputs_signed: dict[str, np.ndarray] = {}
    first = np.zeros((n, T, *x.shape[1:]), np.int8)
    first[:, 0] = x
    inputs_signed["conv1"] = first
    for prev, name in zip(LAYER_NAMES[:-1], LAYER_NAMES[1:], strict=True):
        inputs_signed[name] = run.spikes[prev]
    input_spikes = {k: np.count_nonzero(v, axis=2).astype(np.int64) for k, v in inputs_signed.items()}
    output_spikes = {k: np.count_nonzero(run.spikes[k], axis=2).astype(np.int64) for k in LAYER_NAMES[:-1]}
    output_spikes["fc"] = np.zeros((n, T, 1, 1), np.int64)
    fire_rows = dict(run.fire_rows)
    fire_rows["fc"] = np.zeros((n, T), np.int64)
    logits = run.readout["fc"]
    ql = model.qnet.logits(x)
    return FunctionalRun(
        layer_names=LAYER_NAMES,
        T=T,
        input_spikes=input_spikes,
        input_signed=inputs_signed,
        output_spikes=output_spikes,
        fire_rows=fire_rows,
        logits_per_step=logits,
        pred_per_step=logits.argmax(axis=2),
        qann_logits=ql,
        qann_pred=ql.argmax(axis=1),
        settle_steps=run.settle_steps(),
        snn=run,
    )


def accuracy_per_step(run: FunctionalRun, labels: np.ndarray) -> list[float]:
    """SNN accuracy after each step (the elastic-inference curve)."""
    return [float(v) for v in np.mean(run.pred_per_step == np.asarray(labels)[:, None], axis=0)]


def layer_geometry(model: DigitsModel, name: str) -> dict[str, int]:
    """Shape entry of a layer as in the workload JSON schema."""
    node = model.node(name)
    if node.op == "linear":
        return {"in_features": int(node.weight.shape[1]), "out_features": int(node.weight.shape[0]),
                "Cout_padded_to_4": int(-(-node.weight.shape[0] // 4) * 4)}  # fmt: skip
    h = 8
    for n in model.qnet.nodes:
        if n.name == name:
            break
        h = conv_out_size(h, n.weight.shape[2], n.stride, n.padding)
    cout, cin, k, _ = node.weight.shape
    oh = conv_out_size(h, k, node.stride, node.padding)
    return {"Cin": int(cin), "Cout": int(cout), "kernel": int(k), "stride": node.stride, "padding": node.padding,
            "IH": h, "IW": h, "OH": oh, "OW": oh, "K_im2col": int(cin * k * k), "M_out_pixels": oh * oh}  # fmt: skip


def layer_action_counts(
    model: DigitsModel, run: FunctionalRun, name: str, product: str = "gustavson"
) -> ActionCounts:
    """PE actions of one layer over all samples and steps (one PE tile holding all output channels).

    Accumulation counts come from the closed forms with the recorded events per membrane row; rows that fire
    without input (unsettled neurons) add :func:`settle_counts`. ``inner`` is dense: every row, every step the
    layer receives any input."""
    node = model.node(name)
    counts = run.input_spikes[name]  # (n, T, IH, IW)
    if node.op == "conv":
        k = node.weight.shape[2]
        per_row = events_per_row(counts, k, node.stride, node.padding)
        per_row = per_row.reshape(*per_row.shape[:2], -1)  # (n, T, M)
        K, C = int(node.weight.shape[1] * k * k), int(node.weight.shape[0])
    else:
        per_row = counts.reshape(*counts.shape[:2], -1).sum(axis=2, keepdims=True)  # one membrane row
        K, C = int(node.weight.shape[1]), int(node.weight.shape[0])
    M = per_row.shape[2]
    readout = node.op == "linear" and node.readout  # an integrator: no fire, no tracer
    rows_with_input = 0 if readout else int(np.count_nonzero(per_row))
    steps_with_input = np.any(per_row > 0, axis=2)  # (n, T)
    fired = int(run.fire_rows[name].sum())
    if product == "gustavson":
        acc = gustavson_counts(per_row, C, fire_rows=rows_with_input)
        settle = fired - rows_with_input
    elif product == "outer":
        acc = outer_counts(per_row, C, fire_rows=rows_with_input)
        settle = fired - rows_with_input
    elif product == "inner":
        dense_rows = int(steps_with_input.sum()) * M
        acc = inner_counts(dense_rows, K, C, fire_rows=0 if readout else dense_rows)
        settle = int(run.fire_rows[name][~steps_with_input].sum())
    else:
        raise ConfigError("product", product, "must be gustavson, inner or outer")
    if readout:
        settle = 0
    return acc + settle_counts(max(settle, 0), C)


def write_workload_json(
    model: DigitsModel, x_test: np.ndarray, path: str | Path, y_test: np.ndarray | None = None
) -> dict:
    """Write the layer graph with input spikes per step (mean over the test set, rounded)."""
    run = run_snn(model, x_test)
    layers = []
    prev = "input"
    for name in LAYER_NAMES:
        node = model.node(name)
        per_step = (
            run.input_spikes[name].reshape(*run.input_spikes[name].shape[:2], -1).sum(axis=2).mean(axis=0)
        )
        layers.append({"name": name, "type": node.op, "inputs": [prev], "shape": layer_geometry(model, name),
                       "input_spikes_per_step": [int(v) for v in np.rint(per_step)]})  # fmt: skip
        prev = name
    layers[-1]["shape"]["in_shape"] = [ARCH[-1][2], 4, 4]
    doc = {
        "model": "digits_qcnn",
        "dataset": "UCI optical digits 8x8 (scikit-learn load_digits), test split",
        "time_steps": run.T,
        "weight_bits": 4,
        "source": "Input-side spike activity recorded from the functional ST-BIF SNN of elsa_tlm.snn.digits "
        "(converted bit-exactly from the 4-bit QANN trained by scripts/train_digits.py), mean over the "
        f"{len(x_test)} test images, rounded.",
        "field_notes": {
            "input_spikes_per_step": "number of non-zero input entries (spikes, either sign) arriving at the "
            "layer in each time step, before image-to-column expansion; for the first layer these are the "
            "non-zero pixels of the directly coded input, injected at step 0 only",
            "inputs": "producer layers; no residual joins in this network",
            "shape": "Cin/Cout/kernel/stride/padding/IH/IW/OH/OW for conv; in_features/out_features for "
            "linear; K_im2col = Cin*kernel*kernel, M_out_pixels = OH*OW; fc.in_shape = the (C, H, W) map it "
            "flattens, c-major (its input spines are conv3's 4x4 output spines)",
            "missing": "nothing: every layer including the classifier is recorded; the classifier is a "
            "non-firing readout integrator (its membrane is the logit), so it emits no spikes",
        },
        "pools": [],
        "layers": layers,
        "qann_test_accuracy": None,
        "snn_test_accuracy_per_step": None,
    }
    if y_test is not None:
        doc["qann_test_accuracy"] = float(np.mean(run.qann_pred == y_test))
        doc["snn_test_accuracy_per_step"] = [round(a, 4) for a in accuracy_per_step(run, y_test)]
    from elsa_tlm.fileio import check_output_file, write_text_atomic

    def ours(p: Path) -> bool:  # a digits workload recording this function wrote
        try:
            old = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return isinstance(old, dict) and old.get("model") == "digits" and "layers" in old

    write_text_atomic(check_output_file(path, "path", ours), json.dumps(doc, indent=1) + "\n")
    return doc
