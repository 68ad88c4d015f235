"""ST-BIF neuron: the step rule, bounds, soft reset and the settled fixed point."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elsa_tlm.errors import ConfigError
from elsa_tlm.snn.neuron import STBIFNeurons


def scalar_step(v: int, s: int, i: int, theta: int, lo: int, hi: int) -> tuple[int, int, int]:
    """The rule written out for one neuron, as in the brief."""
    vh = v + i
    y = 1 if (vh >= theta and s < hi) else (-1 if (vh < 0 and s > lo) else 0)
    return vh - y * theta, s + y, y


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    theta=st.integers(1, 40),
    lo=st.integers(-5, 0),
    hi=st.integers(0, 15),
    v0=st.integers(-50, 50),
    currents=st.lists(st.integers(-80, 80), min_size=1, max_size=25),
)
def test_vectorised_step_matches_scalar_rule(theta, lo, hi, v0, currents):
    n = STBIFNeurons.create((1,), theta, lo, hi, v0)
    v, s = v0, 0
    for i in currents:
        y = n.step(np.array([i]))
        v, s, y_ref = scalar_step(v, s, i, theta, lo, hi)
        assert (int(n.v[0]), int(n.s[0]), int(y[0])) == (v, s, y_ref)
        assert lo <= n.s[0] <= hi


@settings(max_examples=40, deadline=None, derandomize=True)
@given(theta=st.integers(1, 30), lo=st.integers(-6, 0), hi=st.integers(0, 15), total=st.integers(-400, 400))
def test_settles_to_clipped_floor_within_range_steps(theta, lo, hi, total):
    n = STBIFNeurons.create((1,), theta, lo, hi, 0)
    n.step(np.array([total]))
    for _ in range(hi - lo):
        n.step(np.array([0]))
    assert int(n.s[0]) == int(np.clip(total // theta, lo, hi))
    assert not n.unsettled().any()
    # V stays consistent with the soft reset: V = total - theta * S
    assert int(n.v[0]) == total - theta * int(n.s[0])


def test_output_is_ternary_and_per_channel_theta_broadcasts():
    rng = np.random.default_rng(1)
    n = STBIFNeurons.create((4, 3, 5, 5), theta=np.array([2, 5, 9])[:, None, None], s_min=0, s_max=15)
    for _ in range(10):
        y = n.step(rng.integers(-20, 20, n.shape))
        assert y.dtype == np.int8 and set(np.unique(y)) <= {-1, 0, 1}
    assert n.theta[0, 2, 0, 0] == 9
    assert np.array_equal(n.value(), n.theta * n.s)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"theta": 0, "s_min": 0, "s_max": 3}, "theta"),
        ({"theta": 2.5, "s_min": 0, "s_max": 3}, "integer"),
        ({"theta": 2, "s_min": 1, "s_max": 3}, "S_min <= 0"),
        ({"theta": np.ones(4, int), "s_min": 0, "s_max": 3}, "broadcast"),
    ],
)
def test_bad_parameters_are_refused(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        STBIFNeurons.create((2, 3), **kwargs)


def test_float_current_refused():
    n = STBIFNeurons.create((2,), 3, 0, 3)
    with pytest.raises(ConfigError, match="integer"):
        n.step(np.array([0.5, 1.0]))
