import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elsa_tlm.schedule.orders import Windows, shell_order, window_sums


def test_shell_order_visits_l_shaped_rings():
    order = shell_order(3, 3)
    rings = [max(divmod(int(i), 3)) for i in order]
    assert rings == sorted(rings) and sorted(order.tolist()) == list(range(9))


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    st.integers(1, 9),
    st.integers(1, 9),
    st.integers(1, 5),
    st.integers(1, 3),
    st.integers(0, 2),
    st.integers(0, 10**6),
)
def test_window_sums_match_brute_force(h, w, k, s, p, seed):
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    if oh < 1 or ow < 1:
        return
    x = np.random.default_rng(seed).integers(0, 5, (h, w))
    got = window_sums(x, (oh, ow), k, s, p)
    xp = np.pad(x, p)
    want = np.array([[xp[i * s : i * s + k, j * s : j * s + k].sum() for j in range(ow)] for i in range(oh)])
    np.testing.assert_array_equal(got, want)
    wd = Windows((h, w), (oh, ow), k, s, p, defer=True)
    # reverse map covers exactly the window sizes
    counts = np.bincount(wd.rev_idx, minlength=oh * ow)
    np.testing.assert_array_equal(counts, wd.size)
    order = wd.release_order(shell_order(h, w))
    assert sorted(order.tolist()) == list(range(oh * ow))


def test_hilbert_index_agrees_with_hilbert_order():
    from elsa_tlm.mapping.placement import hilbert_index, hilbert_order, initial_nodes

    cells = hilbert_order(8, 8)
    assert [hilbert_index(8, c, r) for r, c in cells] == list(range(64))
    import networkx as nx

    g = nx.path_graph(4)
    coords = {0: (0.0, 0.0), 1: (5.0, 0.0), 2: (5.0, 3.0), 3: (0.0, 3.0)}
    order = initial_nodes(g, None, None, "hilbert", coords)
    assert sorted(order) == [0, 1, 2, 3] and order[0] == 0


def _shell_order_by_rings(h: int, w: int) -> list[int]:
    """The shell order written out ring by ring (the definition the vectorised one must match)."""
    out: list[int] = []
    for s in range(max(h, w)):
        if s < w:
            out.extend(r * w + s for r in range(min(s, h)))  # column s, rows above the corner
        if s < h:
            out.extend(s * w + c for c in range(min(s, w - 1), -1, -1))  # row s, corner first
    return out


@pytest.mark.parametrize("h,w", [(1, 1), (1, 5), (5, 1), (3, 3), (4, 7), (7, 4), (32, 32), (224, 224)])
def test_shell_order_matches_its_ring_by_ring_definition(h: int, w: int) -> None:
    assert shell_order(h, w).tolist() == _shell_order_by_rings(h, w)
