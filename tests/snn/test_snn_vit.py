"""The shipped digits ViT: loads, meets the accuracy bar, and its SNN equals its QANN bit for bit at T = 32."""

import json

import numpy as np
import pytest

from elsa_tlm.errors import ConfigError
from elsa_tlm.snn import digits, vit

EXPECTED_LAYERS = ["embed", *[f"blocks.0.{n}" for n in vit.BLOCK_LAYERS], "head"]


@pytest.fixture(scope="module")
def model():
    return vit.load_vit_model()


@pytest.fixture(scope="module")
def data():
    return digits.load_digits_data()


@pytest.fixture(scope="module")
def test_run(model, data):
    return vit.run_snn(model, data[2], vit.TIME_STEPS)


def test_model_file_layout(model):
    assert list(model.layer_names) == EXPECTED_LAYERS
    assert [s["name"] for s in vit.layer_specs(model)] == EXPECTED_LAYERS
    assert (model.dim, model.heads, model.tokens, model.head_pool) == (32, 4, 17, "sum")
    arrays = vit.model_arrays(model)
    for k, a in arrays.items():
        if k.endswith(".weight"):
            assert a.dtype == np.int8 and a.min() >= -8 and a.max() <= 7, k  # 4-bit weights
    groups = vit.neuron_groups(model)
    for name, q in groups.items():
        want = (0, 13) if name.endswith((".fc1", ".qk")) else (-7, 6)
        assert (q.lo, q.hi) == want, name
    assert json.loads(str(arrays["meta"]))["trained_by"] == "scripts/train_digits_vit.py"
    assert vit.steps_bound(model) == 1 + 12 * 12


def test_save_load_round_trip(model, tmp_path):
    path = tmp_path / "m.npz"
    vit.save_vit_model(model, path)
    again = vit.model_arrays(vit.load_vit_model(path))
    for k, a in vit.model_arrays(model).items():
        assert np.array_equal(again[k], a), k
    with np.load(path, allow_pickle=False) as z:  # plain arrays, no pickle
        assert set(z.files) == set(again)
    with pytest.raises(ConfigError):
        vit.load_vit_model(tmp_path / "missing.npz")


def test_qann_accuracy_bar(model, data):
    assert vit.qann_accuracy(model, data[2], data[3]) >= 0.90


def test_snn_equals_qann_on_the_test_split(model, data, test_run):
    run = test_run
    x_te, y_te = data[2], data[3]
    n, T, N = len(x_te), vit.TIME_STEPS, model.tokens
    assert np.array_equal(run.logits_per_step[:, -1], run.qann_logits)  # bit for bit at T = 32
    for g in vit.neuron_groups(model):
        assert np.array_equal(run.levels(g), run.qann[g]), g
    acc = vit.accuracy_per_step(run, y_te)
    assert acc[-1] == vit.qann_accuracy(model, x_te, y_te)
    assert acc[0] < acc[-1]  # elastic: early steps are worse
    assert run.settle_steps.max() <= T
    # shapes the chip integration relies on
    D, H = model.dim, model.heads
    feats = {"embed": 4, "blocks.0.q": D, "blocks.0.qk": 2 * D, "blocks.0.av": H * N, "blocks.0.proj": D,
             "blocks.0.add1": 2 * D, "blocks.0.fc1": D, "blocks.0.fc2": 64, "blocks.0.add2": 2 * D, "head": D}  # fmt: skip
    for layer, f in feats.items():
        assert run.input_signed[layer].shape == (n, T, f, N) and run.input_signed[layer].dtype == np.int8
        assert np.array_equal(run.input_spikes[layer], np.count_nonzero(run.input_signed[layer], axis=2))
    for layer in EXPECTED_LAYERS:
        assert run.output_spikes[layer].shape == (n, T, N if layer != "head" else 1)
    assert run.logits_per_step.shape == (n, T, 10) and run.pred_per_step.shape == (n, T)
    assert np.all(run.input_spikes["embed"][:, 1:] == 0)  # direct coding: pixels at step 0 only
    # the attention layer's input is what the q and k neurons emitted
    q_sp = np.swapaxes(run.group_spikes["blocks.0.q"], 2, 3)
    assert np.array_equal(run.input_signed["blocks.0.qk"][:, :, :D], q_sp)


def test_snn_is_deterministic(model, data):
    a = vit.run_snn(model, data[2][:6], 8)
    b = vit.run_snn(model, data[2][:6], 8)
    for k in a.input_signed:
        assert np.array_equal(a.input_signed[k], b.input_signed[k])
    assert np.array_equal(a.logits_per_step, b.logits_per_step)
