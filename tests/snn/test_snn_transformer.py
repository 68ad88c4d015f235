"""Spiking-transformer kernels and the ViT SNN: bit-exact against the integer QANN after the step bound.

Every property is also shown to catch a deliberately wrong kernel (``*_catches_*`` tests), so a passing run
means something.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elsa_tlm.errors import ConfigError
from elsa_tlm.snn import transformer as tf
from elsa_tlm.snn import vit
from elsa_tlm.snn.neuron import STBIFNeurons
from elsa_tlm.snn.products import gustavson_product

FAST = settings(max_examples=25, deadline=None, derandomize=True)
SEEDS = st.integers(0, 2**31 - 1)


def spike_train(rng, T, shape, lo=-7, hi=6):
    """Ternary spikes whose running sum (tracer) stays within [lo, hi], as ST-BIF neurons emit."""
    s = np.zeros(shape, np.int64)
    out = np.zeros((T, *shape), np.int64)
    for t in range(T):
        y = rng.integers(-1, 2, shape) * (rng.random(shape) < 0.6)
        y = np.where((s + y < lo) | (s + y > hi), 0, y)
        s += y
        out[t] = y
    return out


def run_mmss(step, xs, ys):
    """Accumulate a per-step MM-ss kernel; return the running products after every step."""
    xa, ya = np.zeros_like(xs[0]), np.zeros_like(ys[0])
    acc, out = 0, []
    for x, y in zip(xs, ys, strict=True):
        inc, _ = step(x, y, xa, ya)
        acc = acc + inc
        xa, ya = xa + x, ya + y
        out.append(acc)
    return out


def wrong_mmss(x_t, y_t, x_acc_prev, y_acc_prev):
    """The tempting but wrong increment: both halves on the old tracers (drops x_t y_t)."""
    return x_t @ y_acc_prev + x_acc_prev @ y_t, None


# ------------------------------------------------------------------------------------------------ MM-ss
@FAST
@given(
    lead=st.sampled_from([(), (2,), (2, 3)]),
    m=st.integers(1, 6),
    k=st.integers(1, 6),
    n=st.integers(1, 6),
    T=st.integers(1, 10),
    seed=SEEDS,
)
def test_mmss_running_sum_is_product_of_tracers(lead, m, k, n, T, seed):
    rng = np.random.default_rng(seed)
    xs = spike_train(rng, T, (*lead, m, k), 0, 13)
    ys = spike_train(rng, T, (*lead, k, n))
    for t, acc in enumerate(run_mmss(tf.mmss_step, xs, ys)):
        assert np.array_equal(acc, xs[: t + 1].sum(0) @ ys[: t + 1].sum(0))


def test_mmss_property_catches_wrong_increment():
    rng = np.random.default_rng(3)
    xs, ys = spike_train(rng, 6, (4, 5)), spike_train(rng, 6, (5, 3))
    final = xs.sum(0) @ ys.sum(0)
    assert np.array_equal(run_mmss(tf.mmss_step, xs, ys)[-1], final)
    assert not np.array_equal(run_mmss(wrong_mmss, xs, ys)[-1], final)


@FAST
@given(m=st.integers(1, 7), k=st.integers(1, 7), n=st.integers(1, 20), seed=SEEDS)
def test_mmss_halves_are_gustavson_products_with_the_same_counts(m, k, n, seed):
    rng = np.random.default_rng(seed)
    x_t, y_t = spike_train(rng, 1, (m, k))[0], spike_train(rng, 1, (k, n))[0]
    xa, ya = rng.integers(-7, 7, (m, k)), rng.integers(-7, 7, (k, n))
    inc, counts = tf.mmss_step(x_t, y_t, xa, ya)
    v1 = np.zeros((m, n), np.int64)  # half 1: x spikes, Y tracer as weights, membranes rows m
    c1 = gustavson_product(x_t, ya, v1)
    v2 = np.zeros((n, m), np.int64)  # half 2: y spikes (transposed), X tracer as weights, rows n
    c2 = gustavson_product(np.ascontiguousarray(y_t.T), np.ascontiguousarray((xa + x_t).T), v2)
    assert np.array_equal(inc, v1 + v2.T)
    keep = (
        "weight_row_reads",
        "membrane_row_reads",
        "membrane_row_writes",
        "adder_activations",
        "mini_batches",
    )
    for mine, ref in ((counts.first, c1), (counts.second, c2)):
        assert {f: getattr(mine, f) for f in keep} == {f: getattr(ref, f) for f in keep}
        assert mine.fire_activations == mine.tracer_reads == 0
    assert counts.x_spikes == np.count_nonzero(x_t) and counts.y_spikes == np.count_nonzero(y_t)
    assert counts.first_weight_rows_written == np.count_nonzero(np.any(y_t != 0, axis=1))
    assert counts.second_weight_rows_written == np.count_nonzero(np.any(x_t != 0, axis=0))


def test_mmss_rejects_bad_operands():
    with pytest.raises(ConfigError):
        tf.mmss_step(
            np.zeros((2, 3), int), np.zeros((4, 2), int), np.zeros((2, 3), int), np.zeros((4, 2), int)
        )
    with pytest.raises(ConfigError):
        tf.mmss_step(np.zeros((2, 3)), np.zeros((3, 2), int), np.zeros((2, 3), int), np.zeros((3, 2), int))


# ------------------------------------------------------------------------------------------ integer maths
@FAST
@given(st.lists(st.integers(0, 2**62), min_size=1, max_size=30))
def test_isqrt_is_floor_sqrt(vals):
    got = tf.isqrt(np.array(vals, np.int64))
    assert [int(g) for g in got] == [math.isqrt(v) for v in vals]


def test_isqrt_property_would_catch_an_off_by_one():
    v = np.array([15, 16, 17, 2**62 - 1], np.int64)
    assert [int(g) for g in tf.isqrt(v)] == [3, 4, 4, 2**31 - 1]
    assert [math.isqrt(int(x)) for x in v] != [int(g) + 1 for g in tf.isqrt(v)]


def test_int_exp_error_bound():
    """Proven bound, checked on every 2^-E step of [-2, 0] and sampled down to -24: with x = -z ln2 + p,
    |int_exp * a 2^-2E - exp(x)| <= exp(x) (0.0032 + z d 2^-E) (1.01) + a 2^-2E, where 0.0032 bounds the
    relative error of the I-BERT polynomial on (-ln2, 0] (0.31 %, computed below), d = |LN2 - ln2 2^E| the
    rounding of the ln2 constant (p is off by at most z d units), and a 2^-2E one output unit lost by the
    floor of the shift."""
    E, a = tf.EXP_FRAC_BITS, tf.EXP_A
    pf = np.linspace(-math.log(2), 0, 20001)
    fit = np.max(np.abs(a * (pf + tf.EXP_B) ** 2 + tf.EXP_C - np.exp(pf)) / np.exp(pf))
    assert fit < 0.0032
    k = tf.exp_constants()
    d = abs(k.ln2 - math.log(2) * 2**E)
    x = np.concatenate([-np.arange(0, 2 << E), -np.arange(2 << E, 24 << E, 37)])
    z = (-x) // k.ln2
    ref = np.exp(x / 2.0**E)
    bound = ref * (0.0032 + z * d / 2.0**E) * 1.01 + a / 2.0 ** (2 * E)
    got = tf.int_exp(x) * a / 2.0 ** (2 * E)
    assert np.all(np.abs(got - ref) <= bound)
    wrong = tf.int_exp(x - (x >> 6)) * a / 2.0 ** (2 * E)  # a 1.6 % input-scale error breaks the bound
    assert not np.all(np.abs(wrong - ref) <= bound)
    with pytest.raises(ConfigError):
        tf.int_exp(np.array([1]))


@FAST
@given(n=st.integers(1, 20), scale=st.sampled_from([1, 50, 1000, 30000]), seed=SEEDS)
def test_int_softmax_sums_orders_and_error(n, scale, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(-scale, scale + 1, (4, n))
    P = tf.SOFTMAX_OUT_BITS
    p = tf.int_softmax(x)
    s = p.sum(axis=1)
    assert np.all((s <= 1 << P) & (s > (1 << P) - n - 1))  # floors lose < 1 unit each; the fit ~0.3 %
    assert np.array_equal(tf.int_softmax(x + int(rng.integers(-9999, 9999))), p)  # shift invariant, exact
    order = np.argsort(x, axis=1, kind="stable")
    assert np.all(np.diff(np.take_along_axis(p, order, axis=1), axis=1) >= 0)  # monotone
    xf = x / 2.0**tf.EXP_FRAC_BITS
    ref = np.exp(xf - xf.max(1, keepdims=True))
    ref /= ref.sum(1, keepdims=True)
    assert np.all(np.abs(p / 2.0**P - ref) <= 0.006 * ref + 2.0**-P)


@FAST
@given(d=st.integers(2, 48), lo_hi=st.sampled_from([(-7, 6), (0, 13), (-300, 300)]), seed=SEEDS)
def test_int_layernorm_exact_invariance_and_error_bound(d, lo_hi, seed):
    """Bound: n = floor(c 2^(F+K) / sigma) with sigma = floor(sqrt(sum (c 2^K)^2 / D)) = floor(s*) for
    s* = 2^K D std(r); so 0 <= n 2^-F ... the error vs (r - mean)/std is <= 2^-F + |n_hat| / sigma."""
    rng = np.random.default_rng(seed)
    r = rng.integers(*lo_hi, (6, d), endpoint=True)
    n = tf.int_layernorm(r)
    assert np.array_equal(tf.int_layernorm(r + int(rng.integers(-50, 50))), n)  # exact shift invariance
    F, K = tf.LN_FRAC_BITS, tf.LN_PRE_SHIFT
    sd = r.std(axis=1, keepdims=True)
    nh = np.where(sd > 0, (r - r.mean(1, keepdims=True)) / np.where(sd > 0, sd, 1), 0.0)
    sigma = tf.isqrt(np.sum(((d * r - r.sum(1, keepdims=True)) << K) ** 2, axis=1, keepdims=True) // d)
    bound = 2.0**-F + np.abs(nh) / np.maximum(sigma, 1) + 1e-12
    assert np.all(np.abs(n / 2.0**F - nh) <= bound)
    assert np.all(n[sd[:, 0] == 0] == 0)


def test_int_layernorm_bound_catches_a_missing_pre_shift_scale():
    r = np.random.default_rng(1).integers(-7, 7, (50, 32))
    nh = (r - r.mean(1, keepdims=True)) / r.std(1, keepdims=True)
    wrong = tf.int_layernorm(r, pre_shift=0) >> 1  # a wrong output scale
    assert np.abs(wrong / 2.0**tf.LN_FRAC_BITS - nh).max() > 0.1
    assert np.abs(tf.int_layernorm(r) / 2.0**tf.LN_FRAC_BITS - nh).max() < 0.01


# ------------------------------------------------------------------------------- differential form, ST-BIF
@FAST
@given(kind=st.sampled_from(["softmax", "layernorm"]), T=st.integers(1, 12), seed=SEEDS)
def test_differential_unit_running_sum_is_f_of_running_input(kind, T, seed):
    rng = np.random.default_rng(seed)
    f = (lambda a: tf.int_softmax(a * 97)) if kind == "softmax" else (lambda a: 37 * tf.int_layernorm(a))
    unit = tf.DifferentialUnit(f, (3, 5))
    total, acc = 0, np.zeros((3, 5), np.int64)
    for t in range(T):
        inc = rng.integers(-2, 3, (3, 5))
        out = unit.step(inc)
        # out_t = f(acc_t) - f(acc_t - in_t) for t >= 1; the first step emits f(acc_0) whole (F_-1 = 0)
        assert np.array_equal(out, f(acc + inc) - (f(acc) if t else 0))
        acc = acc + inc
        total = total + out
        assert np.array_equal(total, f(acc))


@FAST
@given(
    levels=st.sampled_from([(-7, 6), (0, 13), (-2, 3)]),
    theta=st.integers(1, 50),
    t0=st.integers(0, 8),
    seed=SEEDS,
)
def test_stbif_after_final_input_settles_within_levels_steps(levels, theta, t0, seed):
    """A neuron whose cumulative input is final from step t0 equals clip(floor((V0 + F) / theta)) from step
    t0 + L - 1 on (L = hi - lo), whatever happened before; the bound is reached (walk lo -> hi)."""
    lo, hi = levels
    L = hi - lo
    rng = np.random.default_rng(seed)
    v0 = rng.integers(-theta, theta, 40)
    nrn = STBIFNeurons.create((40,), theta, lo, hi, v0)
    F = np.zeros(40, np.int64)
    for t in range(t0 + L + 3):
        inc = rng.integers(-3 * theta, 3 * theta + 1, 40) if t <= t0 else np.zeros(40, np.int64)
        F += inc
        nrn.step(inc)
        if t >= t0 + L - 1:
            assert np.array_equal(nrn.s, np.clip(np.floor_divide(v0 + F, theta), lo, hi))
    worst = STBIFNeurons.create((1,), theta, lo, hi, 0)
    worst.step(np.array([lo * theta - 1]))  # drive to lo... then to hi: needs exactly L steps
    while worst.s[0] > lo:
        worst.step(np.array([0]))
    worst.step(np.array([(hi - lo + 1) * theta * 2]))
    steps = 1
    while worst.s[0] < hi:
        worst.step(np.array([0]))
        steps += 1
    assert steps == L


def test_quantize_and_residual():
    z = np.array([-100, -8, -1, 0, 7, 8, 100])
    assert tf.quantize(z, 4, 8, -7, 6).tolist() == [-7, -1, 0, 0, 1, 1, 6]
    assert tf.residual_current(np.array([1, -1]), np.array([1, 1]), 2, 3).tolist() == [5, 1]
    with pytest.raises(ConfigError):
        tf.quantize(np.array([0.5]), 0, 1, 0, 1)


# ------------------------------------------------------------------------------- whole transformer, exact
def random_quant(rng, shape, lo, hi, z_scale):
    theta = rng.integers(max(1, z_scale // 8), max(2, z_scale // 2) + 1, shape)
    bias = theta // 2 + rng.integers(-2, 3, shape) * theta
    return vit.Quant(theta.astype(np.int64), bias.astype(np.int64), lo, hi)


def random_model(rng, patch, dim, heads, mlp, blocks, head_pool):
    """A random integer ViT whose activations spread over their levels (thresholds scaled to the fan-in)."""
    S, U = (-7, 6), (0, 13)
    N = 1 + (8 // patch) ** 2

    def lin(cout, cin, lo, hi):
        return vit.Linear(
            rng.integers(-8, 8, (cout, cin)), random_quant(rng, (cout,), lo, hi, int(12 * cin**0.5))
        )

    def norm():
        return vit.Norm(
            rng.integers(-60, 61, dim), vit.Quant(np.array(4096), rng.integers(-8000, 8000, dim), *S)
        )

    emb_q = random_quant(rng, (dim,), *S, 30 * patch)
    emb = vit.Linear(rng.integers(-8, 8, (dim, patch * patch)),
                     vit.Quant(emb_q.theta, rng.integers(-6, 7, (N, dim)) * emb_q.theta, *S))  # fmt: skip
    bl = []
    for _ in range(blocks):
        attn = vit.Attention(rng.integers(20, 400, heads),
                             vit.Quant(np.array(int(rng.integers(20, 90))), np.array(10), *U),
                             random_quant(rng, (dim,), *S, 6 * N))  # fmt: skip
        add = [vit.Add(rng.integers(1, 3, 2), vit.Quant(np.array(int(rng.integers(1, 3))), np.array(0), *S))
               for _ in range(2)]  # fmt: skip
        bl.append(vit.Block(norm(), lin(dim, dim, *S), lin(dim, dim, *S), lin(dim, dim, *S), attn,
                            lin(dim, dim, *S), add[0], norm(), lin(mlp, dim, *U), lin(dim, mlp, *S), add[1]))  # fmt: skip
    head = vit.Linear(
        rng.integers(-8, 8, (10, dim)), vit.Quant(np.ones(1, np.int64), rng.integers(-50, 50, 10), 0, 0)
    )
    meta = {"patch": patch, "heads": heads, "blocks": blocks, "exp_frac_bits": 12, "softmax_out_bits": 10,
            "ln_frac_bits": 8, "ln_pre_shift": 4, "class_token": True, "head_pool": head_pool}  # fmt: skip
    return vit.ViTModel(emb, tuple(bl), norm(), head, meta)


def assert_snn_exact(model, images, T):
    run = vit.run_snn(model, images, T)
    for g, q in vit.neuron_groups(model).items():
        assert np.array_equal(run.levels(g), run.qann[g]), g
        assert np.array_equal(q.theta * run.levels(g), q.theta * run.qann[g]), g  # theta * S = activation
    assert np.array_equal(run.logits_per_step[:, -1], run.qann_logits)
    return run


@settings(max_examples=10, deadline=None, derandomize=True)
@given(
    patch=st.sampled_from([2, 4]),
    dim_heads=st.sampled_from([(4, 1), (4, 2), (8, 2), (6, 3)]),
    mlp=st.sampled_from([4, 8]),
    blocks=st.integers(1, 2),
    head_pool=st.sampled_from(["cls", "sum"]),
    seed=SEEDS,
)
def test_vit_snn_equals_qann_after_steps_bound(patch, dim_heads, mlp, blocks, head_pool, seed):
    rng = np.random.default_rng(seed)
    model = random_model(rng, patch, *dim_heads, mlp, blocks, head_pool)
    images = rng.integers(0, 17, (3, 8, 8))
    bound = vit.steps_bound(model)
    assert (
        bound == 1 + (12 + 10 * (blocks - 1)) * 12
    )  # 12 groups on the longest path of block 1, +10 per block
    run = assert_snn_exact(model, images, bound)
    assert run.settle_steps.max() <= bound
    # the recorded activity is the spikes themselves
    assert np.array_equal(
        run.input_signed[f"blocks.{blocks - 1}.fc2"],
        np.swapaxes(run.group_spikes[f"blocks.{blocks - 1}.fc1"], 2, 3),
    )
    assert np.array_equal(
        run.input_spikes["blocks.0.qk"], np.count_nonzero(run.input_signed["blocks.0.qk"], axis=2)
    )


def test_attention_counts_equal_the_kernel_counts_summed_over_steps():
    rng = np.random.default_rng(5)
    model = random_model(rng, 2, 8, 2, 8, 1, "cls")
    run = vit.run_snn(model, rng.integers(0, 17, (2, 8, 8)), 12)
    H, total = model.heads, {"qk": None, "av": None}
    acc = {g: np.zeros(run.group_spikes[f"blocks.0.{g}"].shape[:1] + run.group_spikes[f"blocks.0.{g}"].shape[2:], np.int64)
           for g in ("q", "k", "qk", "v")}  # fmt: skip
    for t in range(run.T):
        sp = {g: run.group_spikes[f"blocks.0.{g}"][:, t] for g in acc}
        kt = np.swapaxes(vit._heads(sp["k"], H), -1, -2)
        ka = np.swapaxes(vit._heads(acc["k"], H), -1, -2)
        pairs = {"qk": (vit._heads(sp["q"], H), kt, vit._heads(acc["q"], H), ka),
                 "av": (sp["qk"], vit._heads(sp["v"], H), acc["qk"], vit._heads(acc["v"], H))}  # fmt: skip
        for kind, (x, y, xa, ya) in pairs.items():
            _, c = tf.mmss_step(x, y, xa, ya)
            total[kind] = c if total[kind] is None else total[kind] + c
        acc = {g: acc[g] + sp[g] for g in acc}
    for kind in ("qk", "av"):
        got = vit.attention_counts(model, run, f"blocks.0.{kind}")
        assert got == total[kind]
        assert got.total.weight_row_reads > 0
    with pytest.raises(ConfigError):
        vit.attention_counts(model, run, "blocks.0.fc1")


def test_random_models_are_not_trivially_saturated():
    """The exactness property above is only meaningful if levels vary: check the random models spread."""
    rng = np.random.default_rng(7)
    model = random_model(rng, 2, 8, 2, 8, 1, "sum")
    q = vit.qann_forward(model, rng.integers(0, 17, (8, 8, 8)))
    for g, quant in vit.neuron_groups(model).items():
        lv = q[g]
        inner = np.mean((lv > quant.lo) & (lv < quant.hi))
        assert inner > 0.2 and len(np.unique(lv)) >= 4, (g, inner)


@pytest.mark.parametrize("break_what", ["mmss", "differential"])
def test_vit_exactness_catches_a_broken_kernel(monkeypatch, break_what):
    rng = np.random.default_rng(11)
    model = random_model(rng, 2, 8, 2, 8, 1, "sum")
    images = rng.integers(0, 17, (4, 8, 8))
    T = vit.steps_bound(model)
    assert_snn_exact(model, images, T)
    if break_what == "mmss":
        monkeypatch.setattr(vit, "mmss_step", wrong_mmss)
    else:  # feed f(acc_t) every step instead of its increment

        class NotDifferential(tf.DifferentialUnit):
            def step(self, increment):
                self.acc = self.acc + increment
                return self.f(self.acc)

        monkeypatch.setattr(vit, "DifferentialUnit", NotDifferential)
    with pytest.raises(AssertionError):
        assert_snn_exact(model, images, T)
