"""QANN -> SNN conversion: bit-exact equality after the step bound, over random layers and small networks."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elsa_tlm.errors import ConfigError
from elsa_tlm.snn.conversion import convert
from elsa_tlm.snn.qann import QNetwork, QNode, quantized_from_scales


def conv_node(rng, name, inputs, cin, cout, k, s, p, q_min, q_max, gain=None):
    w = rng.integers(-8, 8, (cout, cin, k, k))
    theta = rng.integers(1, 4 * k * k * max(cin, 1) + 2, cout)
    bias = rng.integers(-3 * theta.max(), 3 * theta.max() + 1, cout)
    return QNode(name, "conv", inputs, w, bias, theta, q_min, q_max, s, p, skip_gain=gain)


def assert_exact(qnet, x, T):
    ref = qnet.forward(x)
    run = convert(qnet).run(x, T)
    for node in qnet.nodes:
        if node.readout:
            assert np.array_equal(run.readout[node.name][:, -1], ref[node.name]), node.name
        elif node.op == "sumpool":
            assert np.array_equal(run.levels(node.name)[:, -1], ref[node.name]), node.name
        else:
            assert np.array_equal(run.levels(node.name)[:, -1], ref[node.name]), node.name
            if node.op == "conv":  # theta * S equals the QANN activation in accumulator units
                th = node.theta[:, None, None]
                assert np.array_equal(run.values(node.name)[:, -1], th * ref[node.name])
    return run


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    cin=st.integers(1, 4),
    cout=st.integers(1, 5),
    hw=st.tuples(st.integers(3, 8), st.integers(3, 8)),
    k=st.integers(1, 3),
    s=st.integers(1, 3),
    p=st.integers(0, 1),
    levels=st.sampled_from([(0, 1), (0, 3), (0, 15), (-2, 5), (-8, 7)]),
    seed=st.integers(0, 2**31 - 1),
)
def test_single_conv_layer_exact_after_levels_steps(cin, cout, hw, k, s, p, levels, seed):
    rng = np.random.default_rng(seed)
    q_min, q_max = levels
    qnet = QNetwork((conv_node(rng, "c", ("input",), cin, cout, k, s, p, q_min, q_max),))
    x = rng.integers(-15, 16, (3, cin, *hw))  # signed direct-coded input exercises negative currents
    snn = convert(qnet)
    assert snn.steps_bound() == q_max - q_min
    run = assert_exact(qnet, x, snn.steps_bound())
    assert run.settle_steps().max() <= q_max - q_min


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    c1=st.integers(1, 4),
    c2=st.integers(1, 4),
    k=st.integers(1, 3),
    s=st.integers(1, 2),
    pool=st.sampled_from(["maxpool", "sumpool", None]),
    residual=st.booleans(),
    levels=st.sampled_from([(0, 3), (0, 7), (-3, 4)]),
    seed=st.integers(0, 2**31 - 1),
)
def test_small_networks_with_pools_residuals_and_readout(c1, c2, k, s, pool, residual, levels, seed):
    rng = np.random.default_rng(seed)
    q_min, q_max = levels
    nodes = [conv_node(rng, "c1", ("input",), 2, c1, 3, 1, 1, q_min, q_max)]  # 8x8 -> 8x8
    prev, c_prev = "c1", c1
    if pool:
        nodes.append(QNode("pool", pool, ("c1",), kernel=2, stride=2))  # -> 4x4
        prev = "pool"
    nodes.append(conv_node(rng, "c2", (prev,), c_prev, c2, k, 1, (k - 1) // 2 if k % 2 else 0, q_min, q_max))
    last, c_last = "c2", c2
    if residual and k % 2 == 1:  # same shape: join c2's output with a second conv's accumulator
        gain = rng.integers(1, 6, c2)
        nodes.append(conv_node(rng, "c3", ("c2", "c2"), c2, c2, 3, 1, 1, q_min, q_max, gain))
        last = "c3"
    qnet_shape = QNetwork(tuple(nodes)).forward(np.zeros((1, 2, 8, 8), np.int64))[last].shape
    feats = int(np.prod(qnet_shape[1:]))
    nodes.append(
        QNode(
            "fc", "linear", (last,), rng.integers(-8, 8, (5, feats)), rng.integers(-50, 50, 5), readout=True
        )
    )
    qnet = QNetwork(tuple(nodes))
    x = rng.integers(0, 16, (4, 2, 8, 8))
    snn = convert(qnet)
    assert_exact(qnet, x, snn.steps_bound())
    assert c_last > 0


def test_exactness_is_reached_not_given_one_step_is_not_enough():
    rng = np.random.default_rng(0)
    node = conv_node(rng, "c", ("input",), 1, 4, 3, 1, 1, 0, 15)
    node = QNode(
        "c", "conv", ("input",), node.weight, np.zeros(4, np.int64), np.ones(4, np.int64), 0, 15, 1, 1
    )
    qnet = QNetwork((node,))
    x = np.full((2, 1, 5, 5), 9)
    run = convert(qnet).run(x, 15)
    ref = qnet.forward(x)["c"]
    assert not np.array_equal(run.levels("c")[:, 0], ref)  # after one step: at most one spike each
    assert np.array_equal(run.levels("c")[:, -1], ref)
    assert run.fire_rows["c"][:, 0].max() == 25


def test_quantized_from_scales_and_refusals():
    theta, bias = quantized_from_scales(np.array([0.5, 0.25]), 0.1, 0.4, np.array([0.05, -0.1]))
    assert theta.tolist() == [8, 16] and bias.tolist() == [1 + 4, -4 + 8]
    with pytest.raises(ConfigError, match="positive integer"):
        quantized_from_scales(np.array([0.3]), 0.1, 0.4, np.array([0.0]))
    with pytest.raises(ConfigError, match="inputs"):
        QNetwork((QNode("p", "maxpool", ("nowhere",), kernel=2),))
    with pytest.raises(ConfigError, match="integer"):
        convert(QNetwork((QNode("p", "maxpool", ("input",), kernel=2),))).run(np.zeros((1, 1, 4, 4)), 2)
    with pytest.raises(ConfigError, match="skip_gain"):
        QNode("j", "conv", ("a", "b"), np.zeros((1, 1, 1, 1), int), np.zeros(1, int), np.ones(1, int))
