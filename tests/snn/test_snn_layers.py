"""im2col (dense and scatter), convolution, pooling rules and residual add."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elsa_tlm.errors import ConfigError
from elsa_tlm.snn.layers import (
    SpikingMaxPool,
    conv2d,
    conv_out_size,
    events_per_row,
    im2col,
    im2col_scatter,
    linear,
    max_pool,
    residual_current,
    sum_pool,
)

geometry = st.tuples(
    st.integers(1, 4),  # C
    st.integers(1, 9),  # H
    st.integers(1, 9),  # W
    st.integers(1, 4),  # kernel
    st.integers(1, 3),  # stride
    st.integers(0, 2),  # padding
).filter(lambda g: g[3] <= min(g[1], g[2]) + 2 * g[5])


def loop_conv(x, w, s, p):
    xp = np.pad(x, ((0, 0), (p, p), (p, p)))
    k = w.shape[2]
    oh, ow = conv_out_size(x.shape[1], k, s, p), conv_out_size(x.shape[2], k, s, p)
    out = np.zeros((w.shape[0], oh, ow), np.int64)
    for i in range(oh):
        for j in range(ow):
            out[:, i, j] = np.tensordot(w, xp[:, i * s : i * s + k, j * s : j * s + k], axes=3)
    return out


@settings(max_examples=50, deadline=None, derandomize=True)
@given(g=geometry, seed=st.integers(0, 2**31 - 1))
def test_conv_scatter_and_dense_im2col_agree(g, seed):
    c, h, w, k, s, p = g
    rng = np.random.default_rng(seed)
    x = (rng.integers(-1, 2, (c, h, w)) * (rng.random((c, h, w)) < 0.4)).astype(np.int8)
    wt = rng.integers(-8, 8, (3, c, k, k))
    assert np.array_equal(conv2d(x, wt, s, p), loop_conv(x, wt, s, p))
    dense = im2col(x, k, s, p)
    m, kk, v = im2col_scatter(x, k, s, p)
    rebuilt = np.zeros_like(dense)
    rebuilt[m, kk] = v
    assert np.array_equal(rebuilt, dense) and m.size == np.count_nonzero(dense)
    # events per membrane row from the per-spine counts alone
    per_spine = np.count_nonzero(x, axis=0)
    assert np.array_equal(events_per_row(per_spine, k, s, p).ravel(), np.count_nonzero(dense, axis=1))


def test_batched_conv_and_linear():
    rng = np.random.default_rng(2)
    x = rng.integers(0, 16, (4, 5, 2, 6, 6))  # (n, T, C, H, W)
    w = rng.integers(-8, 8, (3, 2, 3, 3))
    y = conv2d(x, w, 2, 1)
    assert y.shape == (4, 5, 3, 3, 3)
    assert np.array_equal(y[3, 1], loop_conv(x[3, 1], w, 2, 1))
    wl = rng.integers(-8, 8, (10, 72))
    assert np.array_equal(linear(x.reshape(4, 5, -1), wl)[1, 2], wl @ x[1, 2].ravel())


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    k=st.integers(1, 3),
    s=st.integers(1, 3),
    p=st.integers(0, 1),
    steps=st.integers(1, 20),
    seed=st.integers(0, 2**31 - 1),
)
def test_spiking_max_pool_tracks_max_of_tracers_exactly(k, s, p, steps, seed):
    if p >= k:
        p = 0
    rng = np.random.default_rng(seed)
    shape = (2, 3, 7, 7)
    pool = SpikingMaxPool(shape, k, s, p)
    acc_in = np.zeros(shape, np.int64)
    acc_out = 0
    for _ in range(steps):
        spikes = rng.integers(-1, 2, shape).astype(np.int8)
        y = pool.step(spikes)
        assert set(np.unique(y)) <= {-1, 0, 1}
        acc_in += spikes
        acc_out = acc_out + y.astype(np.int64)
        assert np.array_equal(acc_out, max_pool(acc_in, k, s, p))


def test_sum_pool_is_linear_so_spikes_can_be_remapped():
    rng = np.random.default_rng(4)
    steps = rng.integers(-1, 2, (6, 2, 3, 8, 8))
    per_step = sum_pool(steps, 2)
    assert np.array_equal(per_step.sum(axis=0), sum_pool(steps.sum(axis=0), 2))
    assert per_step.shape == (6, 2, 3, 4, 4)


def test_residual_current_per_channel_gain():
    skip = np.ones((2, 3, 4, 4), np.int8)
    out = residual_current(skip, np.array([1, 2, 5]))
    assert out[1, 2, 3, 3] == 5 and out[0, 0, 0, 0] == 1


def test_bad_geometry_refused():
    with pytest.raises(ConfigError, match="window larger"):
        conv_out_size(2, 5, 1, 0)
    with pytest.raises(ConfigError, match="stride"):
        conv_out_size(8, 3, 0, 0)
    with pytest.raises(ConfigError, match="Cout"):
        conv2d(np.zeros((2, 5, 5), np.int8), np.zeros((4, 3, 3, 3), np.int64))
    with pytest.raises(ConfigError, match="ternary"):
        SpikingMaxPool((1, 4, 4), 2).step(np.full((1, 4, 4), 2))
