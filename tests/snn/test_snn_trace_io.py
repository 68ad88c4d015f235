"""Activity npz round trip for the replay source."""

import numpy as np
import pytest

from elsa_tlm.errors import ConfigError
from elsa_tlm.snn.trace_io import load_activity, save_activity


def test_round_trip_keeps_order_names_dtype_and_meta(tmp_path):
    rng = np.random.default_rng(0)
    counts = {
        "layer1.0.conv1": rng.integers(0, 50, (16, 56, 56)),
        "conv1": rng.integers(0, 3, (4, 16, 8, 8)).astype(np.int32),
    }
    meta = {"model": "x", "time_steps": 16, "samples": [1, 2]}
    path = tmp_path / "act.npz"
    save_activity(path, counts, meta)
    back, meta_back = load_activity(path)
    assert list(back) == list(counts) and meta_back == meta
    for k in counts:
        assert back[k].dtype == np.int64 and np.array_equal(back[k], counts[k])
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize(
    ("counts", "meta", "match"),
    [
        ({"a": np.zeros((4, 4))}, {}, "integer"),
        ({"a": np.zeros((2, 4, 4), float)}, {}, "integer"),
        ({"a": -np.ones((2, 4, 4), int)}, {}, ">= 0"),
        ({"a": np.zeros((2, 4, 4), int)}, {"x": object()}, "JSON"),
    ],
)
def test_bad_activity_refused(tmp_path, counts, meta, match):
    with pytest.raises(ConfigError, match=match):
        save_activity(tmp_path / "a.npz", counts, meta)


def test_load_refuses_missing_and_foreign_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_activity(tmp_path / "none.npz")
    np.savez(tmp_path / "f.npz", a=np.zeros(3))
    with pytest.raises(ConfigError, match="meta"):
        load_activity(tmp_path / "f.npz")
