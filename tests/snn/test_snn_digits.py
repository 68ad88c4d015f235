"""The trained digits model: QANN accuracy, SNN == QANN bit-exactly, activity format, real-data counts."""

import json
from pathlib import Path

import numpy as np
import pytest

from elsa_tlm.errors import ConfigError
from elsa_tlm.snn import digits
from elsa_tlm.snn.layers import im2col
from elsa_tlm.snn.products import gustavson_counts, gustavson_product, inner_product, outer_product

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def model():
    return digits.load_digits_model()


@pytest.fixture(scope="module")
def data():
    return digits.load_digits_data()


@pytest.fixture(scope="module")
def test_run(model, data):
    return digits.run_snn(model, data[2])


def test_data_split_and_qann_accuracy(model, data):
    x_tr, y_tr, x_te, y_te = data
    assert x_tr.shape[1:] == x_te.shape[1:] == (8, 8)
    assert len(x_tr) + len(x_te) == 1797 and set(np.unique(y_te)) == set(range(10))
    assert digits.qann_accuracy(model, x_te, y_te) >= 0.95


def test_snn_equals_qann_at_last_step_on_the_whole_test_set(model, data, test_run):
    y_te = data[3]
    run = test_run
    assert run.T == model.time_steps == 32
    assert np.array_equal(run.logits_per_step[:, -1], run.qann_logits)
    q = model.qnet.forward(digits.quantize_pixels(data[2])[:, None])
    for name in ("conv1", "conv2", "conv3"):
        theta = model.node(name).theta[:, None, None]
        assert np.array_equal(run.snn.values(name)[:, -1], theta * q[name])
    acc = digits.accuracy_per_step(run, y_te)
    assert acc[-1] == digits.qann_accuracy(model, data[2], y_te)
    assert acc[0] < 0.5 < acc[-1]  # elastic: the answer improves step by step
    assert run.settle_steps.max() <= run.T <= model.snn.steps_bound()


def test_activity_format(model, data, test_run):
    run, n, T = test_run, len(data[2]), test_run.T
    assert run.layer_names == ("conv1", "conv2", "conv3", "fc")
    assert run.input_spikes["conv1"].shape == (n, T, 8, 8)
    assert run.input_spikes["conv2"].shape == (n, T, 8, 8) and run.output_spikes["conv2"].shape == (
        n,
        T,
        4,
        4,
    )
    assert run.input_spikes["fc"].shape == (n, T, 4, 4)
    # direct coding: only step 0 carries the non-zero quantized pixels
    pixels = digits.quantize_pixels(data[2])
    assert np.array_equal(run.input_spikes["conv1"][:, 0], (pixels != 0).astype(np.int64))
    assert np.array_equal(run.input_signed["conv1"][:, 0, 0], pixels)
    assert run.input_spikes["conv1"][:, 1:].sum() == 0
    # a layer's input spikes are its producer's output spikes, all ternary
    assert np.array_equal(run.input_spikes["conv2"], run.output_spikes["conv1"])
    assert set(np.unique(run.input_signed["conv3"])) <= {-1, 0, 1}
    # every spike leaves a fired row
    for name in ("conv1", "conv2", "conv3"):
        rows_spiking = (run.output_spikes[name].reshape(n, T, -1) > 0).sum(axis=2)
        assert np.all(run.fire_rows[name] >= rows_spiking)
    assert np.array_equal(run.pred_per_step, run.logits_per_step.argmax(axis=2))


def test_workload_json_matches_a_fresh_run(model, data, test_run):
    doc = json.loads((ROOT / "models" / "digits.json").read_text())
    assert doc["time_steps"] == test_run.T and doc["weight_bits"] == 4
    assert [layer["name"] for layer in doc["layers"]] == list(test_run.layer_names)
    for layer in doc["layers"]:
        name = layer["name"]
        per_step = test_run.input_spikes[name].reshape(len(data[2]), test_run.T, -1).sum(axis=2).mean(axis=0)
        assert layer["input_spikes_per_step"] == [int(v) for v in np.rint(per_step)]
        assert {k: v for k, v in layer["shape"].items() if k != "in_shape"} == digits.layer_geometry(
            model, name
        )
    assert doc["qann_test_accuracy"] == pytest.approx(float(np.mean(test_run.qann_pred == data[3])))


def test_kernels_on_real_spikes_match_closed_forms_and_each_other(model, test_run):
    node = model.node("conv2")
    Wm = node.weight.reshape(node.weight.shape[0], -1).T
    spikes = test_run.input_signed["conv2"][:3]  # three samples, (3, T, 16, 8, 8)
    total = None
    for s in range(3):
        V = {p: np.zeros((16, 32), np.int64) for p in ("g", "i", "o")}
        for t in range(test_run.T):
            X = im2col(spikes[s, t], 3, 2, 1)
            c = gustavson_product(X, Wm, V["g"])
            inner_product(X, Wm, V["i"])
            outer_product(X, Wm, V["o"])
            assert c == gustavson_counts(np.count_nonzero(X, axis=1), 32)
            total = c if total is None else total + c
        assert np.array_equal(V["g"], V["i"]) and np.array_equal(V["g"], V["o"])
    assert total.mini_batches > 0


def test_layer_counts_gustavson_wins_where_it_should(model, test_run):
    for name in ("conv2", "conv3"):
        g = digits.layer_action_counts(model, test_run, name, "gustavson")
        i = digits.layer_action_counts(model, test_run, name, "inner")
        o = digits.layer_action_counts(model, test_run, name, "outer")
        assert g.membrane_accesses < o.membrane_accesses
        assert g.weight_row_reads < i.weight_row_reads
        assert g.weight_row_reads == o.weight_row_reads
    with pytest.raises(ConfigError, match="product"):
        digits.layer_action_counts(model, test_run, "conv2", "diagonal")


def test_missing_files_and_bad_pixels(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        digits.load_digits_model(tmp_path / "none.npz")
    with pytest.raises(ConfigError, match="not found"):
        digits.load_digits_data(tmp_path / "none.npz")
    with pytest.raises(ConfigError, match="0..16"):
        digits.quantize_pixels(np.array([[17]]))
    assert digits.quantize_pixels(np.array([0, 1, 8, 16])).tolist() == [0, 1, 8, 15]
