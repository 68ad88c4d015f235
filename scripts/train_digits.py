"""Dev-only: train the 4-bit quantized CNN on scikit-learn's 8x8 digits and write models/digits_*.

Writes models/digits_data.npz (images, labels, split), models/digits_qcnn.npz (integer weights, biases,
thresholds, levels) and models/digits.json (layer graph + recorded input spikes per step).
Needs scikit-learn (only here, never at run time). Plain numpy training, seeded, a few minutes on 2 cores.

Training is in the *integer* domain of the deployed QANN, so the exported network is exactly the trained
one: latent float weights U are used as ``clip(round(U), -8, 7)`` (4-bit), biases as ``round(theta * beta)``,
activations as ``clip(floor((z + b) / theta), 0, 15)``; gradients pass these by the straight-through
estimator. Thresholds theta (per output channel, integer) are calibrated from activation statistics at
the start and once more after a few epochs, then frozen.

    python scripts/train_digits.py            # train and write everything
    python scripts/train_digits.py --json-only  # rebuild models/digits.json from the npz files
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from elsa_tlm.snn import digits  # noqa: E402
from elsa_tlm.snn.layers import conv_out_size, im2col  # noqa: E402

SEED = 20260527
LEVELS = 15  # activation levels 0..15 (4-bit unsigned)
W_MIN, W_MAX = -8, 7  # 4-bit signed weights
ARCH = digits.ARCH  # (name, Cin, Cout, kernel, stride, padding) of the conv layers; then fc 512 -> 10


def col2im_index(c: int, h: int, w: int, k: int, s: int, p: int) -> np.ndarray:
    """Flat index into the padded (C, H+2p, W+2p) map of every im2col entry (M, K)."""
    hp, wp = h + 2 * p, w + 2 * p
    idx = np.arange(c * hp * wp).reshape(1, c, hp, wp)
    cols = im2col(idx, k, s, 0)[0]  # im2col of the already padded index map
    return cols


class QConvLayer:
    def __init__(self, rng, cin, cout, k, s, p, h, w):
        self.cin, self.cout, self.k, self.s, self.p, self.h, self.w = cin, cout, k, s, p, h, w
        self.oh, self.ow = conv_out_size(h, k, s, p), conv_out_size(w, k, s, p)
        self.U = rng.normal(0, 2.5, (cin * k * k, cout))
        self.beta = np.full(cout, 0.5)
        self.theta = np.ones(cout)
        self.index = col2im_index(cin, h, w, k, s, p)

    def wq(self):
        return np.clip(np.round(self.U), W_MIN, W_MAX)

    def bias(self):
        return np.round(self.theta * self.beta)

    def pre(self, a):
        self.cols = im2col(a, self.k, self.s, self.p)  # (N, M, K)
        return self.cols @ self.wq()  # (N, M, C)

    def forward(self, a):
        self.u = (self.pre(a) + self.bias()) / self.theta
        q = np.clip(np.floor(self.u), 0, LEVELS)
        return q.transpose(0, 2, 1).reshape(a.shape[0], self.cout, self.oh, self.ow)

    def backward(self, g):
        n = g.shape[0]
        g = g.reshape(n, self.cout, -1).transpose(0, 2, 1)  # (N, M, C)
        gz = g * ((self.u > 0) & (self.u < LEVELS + 1)) / self.theta
        gW = np.einsum("nmk,nmc->kc", self.cols, gz)
        gU = gW * ((self.U > W_MIN - 0.5) & (self.U < W_MAX + 0.5))
        gbeta = gz.sum(axis=(0, 1)) * self.theta
        gcols = gz @ self.wq().T  # (N, M, K)
        hp, wp = self.h + 2 * self.p, self.w + 2 * self.p
        size = self.cin * hp * wp
        flat = (self.index[None] + size * np.arange(n)[:, None, None]).ravel()
        ga = np.bincount(flat, weights=gcols.ravel(), minlength=n * size).reshape(n, self.cin, hp, wp)
        ga = ga[:, :, self.p : self.p + self.h, self.p : self.p + self.w]
        return ga, [gU, gbeta]

    def params(self):
        return [self.U, self.beta]

    def calibrate(self, a, pct=99.0):
        z = self.pre(a).reshape(-1, self.cout)
        top = np.percentile(z, pct, axis=0)
        self.theta = np.maximum(1.0, np.ceil(top / LEVELS))


class FC:
    def __init__(self, rng, fin, fout):
        self.U = rng.normal(0, 2.5, (fin, fout))
        self.b = np.zeros(fout)
        self.tau = 1.0

    def wq(self):
        return np.clip(np.round(self.U), W_MIN, W_MAX)

    def forward(self, a):
        self.x = a.reshape(a.shape[0], -1)
        return self.x @ self.wq() + np.round(self.b)

    def backward(self, g):
        gW = self.x.T @ g
        return (g @ self.wq().T), [gW * ((self.U > W_MIN - 0.5) & (self.U < W_MAX + 0.5)), g.sum(0)]

    def params(self):
        return [self.U, self.b]


class Adam:
    def __init__(self, params, lrs):
        self.p, self.lrs = params, lrs
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, grads, scale=1.0):
        self.t += 1
        for i, (p, g) in enumerate(zip(self.p, grads, strict=True)):
            self.m[i] = 0.9 * self.m[i] + 0.1 * g
            self.v[i] = 0.999 * self.v[i] + 0.001 * g * g
            mh, vh = self.m[i] / (1 - 0.9**self.t), self.v[i] / (1 - 0.999**self.t)
            p -= scale * self.lrs[i] * mh / (np.sqrt(vh) + 1e-8)


def build(rng):
    layers, h = [], 8
    for _name, cin, cout, k, s, p in ARCH:
        layers.append(QConvLayer(rng, cin, cout, k, s, p, h, h))
        h = layers[-1].oh
    fc = FC(rng, ARCH[-1][2] * h * h, 10)
    return layers, fc


def forward(layers, fc, x):
    a = x
    for layer in layers:
        a = layer.forward(a)
    return fc.forward(a)


def calibrate(layers, fc, x):
    a = x
    for layer in layers:
        layer.calibrate(a)
        a = layer.forward(a)
    fc.tau = max(1.0, float(np.std(fc.forward(a))) / 2.0)


def train(x_tr, y_tr, epochs: int, batch: int, rng) -> tuple[list, FC]:
    layers, fc = build(rng)
    calibrate(layers, fc, x_tr[:512])
    params = [p for layer in layers for p in layer.params()] + fc.params()
    lrs = [0.03, 0.01] * len(layers) + [0.03, 1.0]
    opt = Adam(params, lrs)
    n = len(x_tr)
    for ep in range(epochs):
        if ep == 4:  # recalibrate thresholds once the weights have moved, then freeze them
            calibrate(layers, fc, x_tr[:512])
            opt = Adam(params, lrs)
        lr_scale = 0.5 * (1 + np.cos(np.pi * ep / epochs))
        order = rng.permutation(n)
        loss_sum, correct = 0.0, 0
        for i in range(0, n, batch):
            idx = order[i : i + batch]
            xb, yb = augment(x_tr[idx], rng), y_tr[idx]
            logits = forward(layers, fc, xb)
            z = logits / fc.tau
            z -= z.max(axis=1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(axis=1, keepdims=True)
            loss_sum += -np.log(p[np.arange(len(yb)), yb] + 1e-12).sum()
            correct += int((logits.argmax(1) == yb).sum())
            g = p.copy()
            g[np.arange(len(yb)), yb] -= 1
            g /= len(yb) * fc.tau
            ga, grads = fc.backward(g)
            ga = ga.reshape(len(yb), ARCH[-1][2], layers[-1].oh, layers[-1].ow)
            all_grads = [grads]
            for layer in reversed(layers):
                ga, gl = layer.backward(ga)
                all_grads.append(gl)
            flat = [g for gl in reversed(all_grads[1:]) for g in gl] + all_grads[0]
            opt.step(flat, lr_scale)
        print(f"epoch {ep + 1:3d}  loss {loss_sum / n:.4f}  train acc {correct / n:.4f}", flush=True)
    return layers, fc


def augment(x: np.ndarray, rng) -> np.ndarray:
    """Random shifts of at most one pixel (zero fill): cheap, keeps pixels on their levels."""
    out = np.zeros_like(x)
    dy, dx = rng.integers(-1, 2, 2)
    h, w = x.shape[-2:]
    out[..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = x[
        ..., max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def export(layers, fc) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    for (name, *_), layer in zip(ARCH, layers, strict=True):
        w = layer.wq().T.reshape(layer.cout, layer.cin, layer.k, layer.k)
        arrays[f"{name}.weight"] = w.astype(np.int8)
        arrays[f"{name}.bias"] = layer.bias().astype(np.int64)
        arrays[f"{name}.theta"] = layer.theta.astype(np.int64)
    arrays["fc.weight"] = fc.wq().T.astype(np.int8)
    arrays["fc.bias"] = np.round(fc.b).astype(np.int64)
    arrays["levels"] = np.array([0, LEVELS], np.int64)
    arrays["input_levels"] = np.array([0, digits.INPUT_LEVELS], np.int64)
    arrays["weight_bits"] = np.array(4, np.int64)
    return arrays


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--json-only", action="store_true")
    args = ap.parse_args()
    if not args.json_only:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        data = load_digits()
        images = data.images.astype(np.uint8)  # 0..16
        idx = np.arange(len(images))
        tr, te = train_test_split(idx, test_size=0.2, random_state=0, stratify=data.target)
        np.savez_compressed(
            ROOT / "models" / "digits_data.npz",
            x_train=images[tr], y_train=data.target[tr].astype(np.int64), train_index=tr.astype(np.int64),
            x_test=images[te], y_test=data.target[te].astype(np.int64), test_index=te.astype(np.int64),
        )  # fmt: skip
        x_tr = digits.quantize_pixels(images[tr])[:, None].astype(np.float64)
        rng = np.random.default_rng(SEED)
        t0 = time.time()
        layers, fc = train(x_tr, data.target[tr], args.epochs, args.batch, rng)
        print(f"trained in {time.time() - t0:.1f} s")
        np.savez_compressed(ROOT / "models" / "digits_qcnn.npz", **export(layers, fc))
    model = digits.load_digits_model()
    x_train, y_train, x_test, y_test = digits.load_digits_data()
    print(f"QANN train acc {digits.qann_accuracy(model, x_train, y_train):.4f}")
    print(f"QANN test  acc {digits.qann_accuracy(model, x_test, y_test):.4f}")
    digits.write_workload_json(model, x_test, ROOT / "models" / "digits.json", y_test)
    print("wrote models/digits.json")


if __name__ == "__main__":
    main()
