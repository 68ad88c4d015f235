"""MM-sc products: identical membranes, counts equal to the closed forms, Gustavson's savings."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elsa_tlm.errors import ConfigError
from elsa_tlm.snn.products import (
    ActionCounts,
    gustavson_counts,
    gustavson_product,
    inner_counts,
    inner_product,
    outer_counts,
    outer_product,
    settle_counts,
    spikes_per_row,
)


def random_spikes(rng, M, K, density):
    x = rng.choice([-1, 1], size=(M, K)) * (rng.random((M, K)) < density)
    return x.astype(np.int8)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    M=st.integers(1, 40),
    K=st.integers(1, 70),
    C=st.integers(1, 300),
    density=st.floats(0.0, 1.0),
    ways=st.sampled_from([1, 4, 16]),
    seed=st.integers(0, 2**31 - 1),
)
def test_three_products_agree_and_match_closed_forms(M, K, C, density, ways, seed):
    rng = np.random.default_rng(seed)
    X = random_spikes(rng, M, K, density)
    W = rng.integers(-8, 8, (K, C))
    V0 = rng.integers(-1000, 1000, (M, C))
    ref = V0 + X.astype(np.int64) @ W
    r = spikes_per_row(X)
    for kernel, closed in (
        (gustavson_product, gustavson_counts(r, C, ways=ways)),
        (outer_product, outer_counts(r, C, ways=ways)),
        (inner_product, inner_counts(M, K, C, ways=ways)),
    ):
        V = V0.copy()
        counts = kernel(X, W, V, ways=ways)
        assert np.array_equal(V, ref), kernel.__name__
        assert counts == closed, kernel.__name__
    V = V0.copy()
    sparse_inner = inner_product(X, W, V, ways=ways, dense=False)
    assert np.array_equal(V, ref)
    assert sparse_inner == inner_counts(int(np.count_nonzero(r)), K, C, ways=ways)


def test_direct_coded_multibit_inputs_accumulate_exactly():
    rng = np.random.default_rng(3)
    X = rng.integers(0, 16, (20, 9)) * (rng.random((20, 9)) < 0.5)
    W = rng.integers(-8, 8, (9, 16))
    for kernel in (gustavson_product, inner_product, outer_product):
        V = np.zeros((20, 16), np.int64)
        kernel(X, W, V)
        assert np.array_equal(V, X @ W)


def test_hand_counts_for_one_small_case():
    # rows with 0, 1, 16, 17 and 40 spikes; C = 130 -> 9 macro rows per row, 2 lane blocks
    r = np.array([0, 1, 16, 17, 40])
    g = gustavson_counts(r, 130)
    assert g.mini_batches == 0 + 1 + 1 + 2 + 3
    assert g.weight_row_reads == 74 * 9
    assert g.membrane_row_reads == g.membrane_row_writes == 7 * 9
    assert g.adder_activations == 7 * 2
    assert g.fire_activations == 4 * 2 and g.tracer_reads == g.tracer_writes == 4 * 9
    o = outer_counts(r, 130)
    assert o.membrane_row_reads == 74 * 9 and o.mini_batches == 74
    i = inner_counts(5, 40, 130)
    assert i.weight_row_reads == 5 * 40 * 9 and i.mini_batches == 5 * 3 and i.fire_activations == 5 * 2
    s = settle_counts(3, 130)
    assert s.membrane_row_reads == 27 and s.fire_activations == 6 and s.weight_row_reads == 0


def test_gustavson_beats_outer_on_membrane_and_inner_on_weights_when_sparse():
    rng = np.random.default_rng(7)
    M, K, C = 64, 576, 64  # a 3x3x64 convolution on an 8x8 map, 10 % of im2col entries spiking
    X = random_spikes(rng, M, K, 0.10)
    W = rng.integers(-8, 8, (K, C))
    g = gustavson_product(X, W, np.zeros((M, C), np.int64))
    o = outer_product(X, W, np.zeros((M, C), np.int64))
    i = inner_product(X, W, np.zeros((M, C), np.int64))
    assert g.membrane_accesses * 8 < o.membrane_accesses
    assert g.weight_row_reads * 5 < i.weight_row_reads
    assert g.weight_row_reads == o.weight_row_reads


def test_closed_forms_take_any_shape_and_sum():
    r = np.random.default_rng(0).integers(0, 40, (5, 16, 7))  # (T, M, tiles) say
    total = gustavson_counts(r, 64)
    parts = sum((gustavson_counts(r[t], 64) for t in range(5)), ActionCounts())
    assert total == parts


def test_action_counts_arithmetic():
    a = ActionCounts(weight_row_reads=3, mini_batches=1)
    b = ActionCounts(membrane_row_reads=2, membrane_row_writes=2, mini_batches=4)
    c = a + b
    assert c.as_dict()["mini_batches"] == 5 and c.membrane_accesses == 4
    assert a.scaled(4).weight_row_reads == 12 and a.scaled(0) == ActionCounts()
    assert set(c.as_dict()) == {
        "weight_row_reads", "membrane_row_reads", "membrane_row_writes", "tracer_reads",
        "tracer_writes", "adder_activations", "fire_activations", "mini_batches",
    }  # fmt: skip


def test_bad_operands_refused():
    with pytest.raises(ConfigError, match="X"):
        gustavson_product(np.zeros((3, 4), np.int8), np.zeros((5, 2), np.int64), np.zeros((3, 2), np.int64))
    with pytest.raises(ConfigError, match="integer"):
        outer_product(np.zeros((3, 4)), np.zeros((4, 2), np.int64), np.zeros((3, 2), np.int64))
    with pytest.raises(ConfigError, match="ways"):
        gustavson_counts(np.array([1, 2]), 16, ways=0)
    with pytest.raises(ConfigError, match=">= 0"):
        outer_counts(np.array([-1]), 16)
