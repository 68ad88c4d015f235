import numpy as np
import pytest

from elsa_tlm.workload.activity import spread, statistical_activity
from elsa_tlm.workload.graph import load_workload

PUBLISHED_GOPS = {
    "vgg16_cifar10": 0.66,
    "vgg16_cifar100": 0.66,
    "resnet18": 3.63,
    "resnet34": 7.36,
    "resnet50": 8.18,
}


@pytest.mark.parametrize("model", sorted(PUBLISHED_GOPS))
def test_dense_ops_match_published(model):
    wl = load_workload(model)
    assert wl.dense_ops / 1e9 == pytest.approx(PUBLISHED_GOPS[model], rel=0.01)


@pytest.mark.parametrize("model", ["resnet50", "resnet18", "vgg16_cifar10dvs"])
def test_statistical_source_reproduces_recorded_totals_exactly(model):
    wl = load_workload(model)
    act = statistical_activity(wl, seed=3)
    for layer in wl.layers:
        assert act.inputs[layer.name].shape == (wl.time_steps, *layer.in_hw)
        np.testing.assert_array_equal(act.totals(layer.name), layer.input_spikes)
        assert act.inputs[layer.name].max() <= layer.cin


def test_statistical_source_is_seeded():
    wl = load_workload("resnet18")
    a, b, c = (statistical_activity(wl, s) for s in (1, 1, 2))
    assert all((a.inputs[k] == b.inputs[k]).all() for k in a.inputs)
    assert any((a.inputs[k] != c.inputs[k]).any() for k in a.inputs)


def test_spread_caps_and_sums():
    rng = np.random.default_rng(0)
    p = np.full((4, 4), 1 / 16)
    p[0, 0] = 0.9
    p /= p.sum()
    x = spread(100, p, 8, rng)
    assert x.sum() == 100 and x.max() <= 8


def test_resnet_graph_has_joins_pools_and_classifier():
    wl = load_workload("resnet18")
    assert wl.layers[-1].name == "fc" and wl.layers[-1].assumed
    assert wl.by_name["conv1"].out_pool.kernel == 3
    joins = [la for la in wl.layers if la.skips]
    assert joins and all(la.main not in la.skips for la in joins)
    g = wl.graph()
    assert g.number_of_nodes() == len(wl.layers) + 1


def test_functional_activity_has_positions_and_signs_and_replays(tmp_path):
    from elsa_tlm.config import load_config
    from elsa_tlm.workload.activity import check_activity, load_activity, save_activity
    from elsa_tlm.workload.functional import functional_activity

    cfg = load_config(
        None, ['workload.model="digits"', 'workload.activity="functional"', "workload.sample_offset=3"]
    )
    wl = load_workload("digits")
    act = functional_activity(cfg, wl)
    check_activity(wl, act)  # counts == non-zeros of the signed entries, per spine and step
    assert set(np.unique(act.signed["conv2"])) <= {-1, 0, 1}
    assert act.totals("conv1")[1:].sum() == 0 and act.totals("conv1")[0] > 0  # direct coding: step 0 only
    save_activity(str(tmp_path / "a.npz"), act)
    back = load_activity(str(tmp_path / "a.npz"), wl)
    for k in act.inputs:
        np.testing.assert_array_equal(back.inputs[k], act.inputs[k])
        np.testing.assert_array_equal(back.signed[k], act.signed[k])
