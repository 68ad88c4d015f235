"""Trust: package and user data files are checked on load. Each kind (network recordings, the digits and ViT
npz files, activity traces, the energy table, the baselines) is copied, corrupted and refused with one
ConfigError naming the file, the field and the rule; through the CLI that is one ``error:`` line, exit 2,
nothing written."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from elsa_tlm.cli import main
from elsa_tlm.energy import tables
from elsa_tlm.errors import ConfigError
from elsa_tlm.snn import digits, trace_io, vit
from elsa_tlm.studies.baselines import load_baselines
from elsa_tlm.workload import activity, graph

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = str(ROOT / "scenarios" / "default.toml")
MODELS = ROOT / "elsa_tlm" / "models"
DATA = ROOT / "elsa_tlm" / "data"
T2 = ["--set", "run.time_steps=2", "--set", "output.plots=false"]


def _refused(load: Callable[[], Any], *needles: str) -> str:
    """``load()`` raises one ConfigError whose one-line message holds every needle."""
    with pytest.raises(ConfigError) as ei:
        load()
    msg = str(ei.value)
    assert "\n" not in msg, msg
    for n in needles:
        assert n in msg, f"{n!r} not in {msg!r}"
    return msg


def _one_error(capsys, *needles: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    for n in needles:
        assert n in err[0], err[0]
    return err[0]


def _truncate(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _garble(path: Path) -> Path:
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 64] = b"\x00" * 64
    path.write_bytes(bytes(data))
    return path


def test_every_packaged_file_passes_its_checks() -> None:
    for p in sorted(MODELS.glob("*.json")):
        graph.read_recording(str(p))
    tables.read_tech(DATA / "elsa_28nm.toml")
    assert tables.read_tech(DATA / "elsa_28nm.toml") == tables.load_tech()
    assert len(load_baselines(DATA / "baselines.toml")) == len(load_baselines())
    digits.load_digits_model()
    digits.load_digits_data()
    vit.load_vit_model()


# ------------------------------------------------------------------------------------------ network JSONs
def _index(doc: dict, kind: str) -> int:
    return next(i for i, lr in enumerate(doc["layers"]) if lr["type"] == kind)


def _set(path: str, value: Any) -> Callable[[dict], dict]:
    """Set the JSON path ``layers.3.shape.Cin`` (dots, integer list indices) to ``value``."""

    def change(doc: dict) -> dict:
        *parts, last = path.split(".")
        node: Any = doc
        for p in parts:
            node = node[int(p)] if isinstance(node, list) else node[p]
        if value is DROP:
            del node[int(last) if isinstance(node, list) else last]
        else:
            node[int(last) if isinstance(node, list) else last] = value
        return doc

    return change


DROP = object()


class Text:
    """A corruption of the file's text (the others change the parsed document)."""

    def __init__(self, fn: Callable[[str], str]) -> None:
        self.fn = fn


JSON_CASES: list[tuple[str, Any, tuple[str, ...]]] = [
    ("vgg16_cifar10", Text(lambda t: t[: len(t) // 2]), ("truncated JSON at line",)),
    ("vgg16_cifar10", Text(lambda t: t.replace('"layers":', '"layers";', 1)), ("invalid JSON at line",)),
    ("vgg16_cifar10", Text(lambda t: t.replace("2127,", "NaN,", 1)), ("NaN is not a JSON number",)),
    ("vgg16_cifar10", lambda d: d["layers"], ("top level must be a JSON object, not an array",)),
    ("vgg16_cifar10", _set("time_steps", DROP), ("time_steps: missing",)),
    ("vgg16_cifar10", _set("time_steps", 0), ("time_steps = 0: must be a positive integer",)),
    ("vgg16_cifar10", _set("model", 7), ("model = 7: must be a non-empty string",)),
    (
        "vgg16_cifar10",
        _set("layers.0.shape.Cin", -3),
        ("layers[0].shape.Cin = -3: must be a positive integer", "'features.0'"),
    ),
    ("vgg16_cifar10", _set("layers.1.shape.kernel", "3"), ("layers[1].shape.kernel = '3'",)),
    ("vgg16_cifar10", _set("layers.0.shape.OH", 31), ("layers[0].shape.OH = 31", "gives 32")),
    ("vgg16_cifar10", _set("layers.0.shape", DROP), ("layers[0].shape: missing",)),
    ("vgg16_cifar10", _set("layers.0.type", "pool"), ("layers[0].type = 'pool'",)),
    ("vgg16_cifar10", _set("layers.2.name", "features.3"), ("layers[2].name = 'features.3'", "unique")),
    ("vgg16_cifar10", _set("layers.4.inputs", ["ghost"]), ("layers[4].inputs[0] = 'ghost'",)),
    ("vgg16_cifar10", _set("pools.0.inputs", ["ghost"]), ("pools[0].inputs",)),
    (
        "vgg16_cifar10",
        lambda d: _set("layers.2.input_spikes_per_step", d["layers"][2]["input_spikes_per_step"][:-1])(d),
        ("layers[2].input_spikes_per_step", "one count per step: time_steps = 16"),
    ),
    (
        "vgg16_cifar10",
        _set("layers.3.input_spikes_per_step.0", -5),
        ("layers[3].input_spikes_per_step[0] = -5: must be a non-negative integer",),
    ),
    (
        "vgg16_cifar10",
        _set("layers.3.input_spikes_per_step.1", 1.5),
        ("layers[3].input_spikes_per_step[1] = 1.5",),
    ),
    ("digits", _set("layers.3.shape.in_shape", [32, 4]), ("layers[3].shape.in_shape = [32, 4]",)),
    ("digits", _set("layers.3.shape.in_features", 500), ("layers[3].shape.in_features = 500", "C*H*W")),
    ("resnet18", _set("layers.5.inputs.0", "layer4.0.conv1"), ("layers[5].inputs[0] = 'layer4.0.conv1'",)),
    (
        "vit_small",
        lambda d: _set(f"layers.{_index(d, 'matmul_ss')}.shape.heads", 0)(d),
        (".shape.heads = 0",),
    ),
    ("vit_small", lambda d: _set(f"layers.{_index(d, 'add_norm')}.shape.C", DROP)(d), (".shape.C: missing",)),
    ("vit_small", _set("layers.1.input_spikes_total", -1), ("layers[1].input_spikes_total = -1",)),
]


@pytest.mark.parametrize(("model", "corrupt", "needles"), JSON_CASES)
def test_a_corrupt_network_recording_is_refused(
    tmp_path: Path, model: str, corrupt: Any, needles: tuple[str, ...]
) -> None:
    text = (MODELS / f"{model}.json").read_text(encoding="utf-8")
    bad = corrupt.fn(text) if isinstance(corrupt, Text) else json.dumps(corrupt(json.loads(text)))
    assert bad != text
    path = tmp_path / f"{model}.json"
    path.write_text(bad, encoding="utf-8")
    _refused(lambda: graph.read_recording(str(path)), "network recording", str(path), *needles)


def test_load_workload_reads_the_checked_file(tmp_path: Path, monkeypatch) -> None:
    doc = json.loads((MODELS / "resnet18.json").read_text())
    doc["layers"][2]["shape"]["Cout"] = 0
    (tmp_path / "resnet18.json").write_text(json.dumps(doc))
    monkeypatch.setattr(graph, "MODELS_DIR", tmp_path)
    _refused(lambda: graph.load_workload("resnet18", 2), "layers[2].shape.Cout = 0", "resnet18.json")


def test_cli_refuses_a_corrupt_network_recording(tmp_path: Path, monkeypatch, capsys) -> None:
    models = tmp_path / "models"
    models.mkdir()
    text = (MODELS / "vgg16_cifar10.json").read_text()
    (models / "vgg16_cifar10.json").write_text(text[: len(text) - 300])
    monkeypatch.setattr(graph, "MODELS_DIR", models)
    out = tmp_path / "out"
    assert main(["run", DEFAULT, *T2, "--out", str(out)]) == 2
    _one_error(capsys, "network recording", str(models / "vgg16_cifar10.json"), "truncated JSON at line")
    assert not out.exists()


# ------------------------------------------------------------------------------------------- npz files
def _npz(tmp_path: Path, src: str, change: Callable[[dict[str, np.ndarray]], None]) -> Path:
    with np.load(MODELS / src) as z:
        a = {k: z[k] for k in z.files}
    change(a)
    path = tmp_path / src
    np.savez(path, **a)
    return path


def _put(key: str, value: Any) -> Callable[[dict[str, np.ndarray]], None]:
    def change(a: dict[str, np.ndarray]) -> None:
        if value is DROP:
            del a[key]
        else:
            a[key] = value(a[key]) if callable(value) else value

    return change


def _flat0(x: np.ndarray, v: Any) -> np.ndarray:
    y = x.copy()
    y.flat[0] = v
    return y


DIGITS_MODEL_CASES = [
    (_put("conv2.theta", DROP), "array 'conv2.theta' is missing"),
    (
        _put("conv1.weight", lambda w: w.astype(np.float64)),
        "array 'conv1.weight': dtype float64, expected an integer",
    ),
    (
        _put("conv2.weight", lambda w: w[..., 0]),
        "array 'conv2.weight' has shape (32, 16, 3), expected (32, 16, 3, 3)",
    ),
    (_put("fc.weight", lambda w: w[:, :511]), "array 'fc.weight' has shape (10, 511), expected (10, 512)"),
    (_put("conv3.theta", lambda t: _flat0(t, 0)), "array 'conv3.theta': values 0..", "(thresholds)"),
    (_put("conv1.weight", lambda w: _flat0(w, 9)), "expected -8..7 (4-bit weights)"),
    (_put("levels", np.array([0.0, np.nan])), "array 'levels': dtype float64"),
    (_put("levels", np.array([5, 5])), "levels = [5, 5]", "lo < hi"),
    (_put("conv1.bias", np.array([object()] * 16)), "not a readable npz archive", "allow_pickle"),
]


@pytest.mark.parametrize(("change", "needles"), [(c[0], c[1:]) for c in DIGITS_MODEL_CASES])
def test_a_corrupt_digits_model_is_refused(tmp_path: Path, change, needles: tuple[str, ...]) -> None:
    path = _npz(tmp_path, "digits_qcnn.npz", change)
    _refused(lambda: digits.load_digits_model(path), "digits model", str(path), *needles)


@pytest.mark.parametrize(
    ("damage", "needle"),
    [(_truncate, "not an npz archive (truncated"), (_garble, "not a readable npz archive")],
)
def test_a_damaged_npz_is_refused(tmp_path: Path, damage, needle: str) -> None:
    loaders = [
        ("digits_qcnn.npz", digits.load_digits_model, "digits model"),
        ("digits_data.npz", digits.load_digits_data, "digits data"),
        ("digits_vit.npz", vit.load_vit_model, "digits_vit model"),
    ]
    for name, load, label in loaders:
        path = tmp_path / name
        shutil.copy(MODELS / name, path)
        damage(path)
        _refused(lambda p=path, ld=load: ld(p), label, str(path), needle)


@pytest.mark.parametrize(
    ("change", "needles"),
    [
        (_put("y_train", lambda y: y[:-1]), ("array 'y_train' has shape (1436,), expected (1437,)",)),
        (
            _put("x_test", lambda x: _flat0(x, 17)),
            ("array 'x_test': values 0..17, expected 0..16 (digits pixels)",),
        ),
        (_put("y_test", lambda y: _flat0(y, 10)), ("array 'y_test'", "(class labels)")),
        (_put("x_train", lambda x: x.astype(np.float32)), ("array 'x_train': dtype float32",)),
        (_put("x_test", DROP), ("array 'x_test' is missing",)),
    ],
)
def test_corrupt_digits_data_is_refused(tmp_path: Path, change, needles: tuple[str, ...]) -> None:
    path = _npz(tmp_path, "digits_data.npz", change)
    _refused(lambda: digits.load_digits_data(path), "digits data", str(path), *needles)


def _meta(**kw: Any) -> Callable[[dict[str, np.ndarray]], None]:
    def change(a: dict[str, np.ndarray]) -> None:
        m = json.loads(str(a["meta"]))
        for k, v in kw.items():
            if v is DROP:
                del m[k]
            else:
                m[k] = v
        a["meta"] = np.array(json.dumps(m))

    return change


@pytest.mark.parametrize(
    ("change", "needles"),
    [
        (_put("blocks.0.fc2.theta", DROP), ("array 'blocks.0.fc2.theta' is missing",)),
        (_put("meta", np.array("{")), ("array 'meta' must hold a JSON object",)),
        (_meta(heads=3), ("meta.heads = 3: must divide the embedding width 32",)),
        (_meta(patch=DROP), ("meta.patch: missing",)),
        (_put("embed.bias", lambda b: b[:16]), ("array 'embed.bias' has shape (16, 32), expected (17, 32)",)),
        (
            _put("blocks.0.fc1.weight", lambda w: w[:, :31]),
            ("array 'blocks.0.fc1.weight' has shape (64, 31)",),
        ),
        (_put("blocks.0.q.weight", lambda w: w.astype(float)), ("array 'blocks.0.q.weight': dtype float64",)),
        (_put("blocks.0.q.theta", lambda t: t[:5]), ("array 'blocks.0.q.theta' has shape (5,)", "broadcast")),
        (_put("blocks.0.k.theta", lambda t: _flat0(t, -1)), ("array 'blocks.0.k.theta'", "(thresholds)")),
    ],
)
def test_a_corrupt_vit_model_is_refused(tmp_path: Path, change, needles: tuple[str, ...]) -> None:
    path = _npz(tmp_path, "digits_vit.npz", change)
    _refused(lambda: vit.load_vit_model(path), "digits_vit model", str(path), *needles)


def test_cli_refuses_a_corrupt_digits_data_file(tmp_path: Path, monkeypatch, capsys) -> None:
    from elsa_tlm.workload import functional

    path = _npz(tmp_path, "digits_data.npz", _put("y_test", lambda y: y[:-3]))
    shutil.copy(MODELS / "digits_qcnn.npz", tmp_path / "digits_qcnn.npz")
    monkeypatch.setattr(digits, "MODELS_DIR", tmp_path)
    functional._functional.cache_clear()  # the shipped run may be cached by an earlier test
    out = tmp_path / "out"
    args = ["--set", "workload.samples=1", "--set", "output.plots=false", "--out", str(out)]
    assert main(["run", "digits", *args]) == 2
    _one_error(capsys, "digits data", str(path), "array 'y_test' has shape (357,), expected (360,)")
    assert not out.exists()


# -------------------------------------------------------------------------------------- activity traces
def test_a_corrupt_snn_activity_file_is_refused(tmp_path: Path) -> None:
    good = tmp_path / "good.npz"
    trace_io.save_activity(good, {"conv1": np.ones((2, 8, 8), int), "fc": np.ones((2, 4, 4), int)}, {"T": 2})
    with np.load(good) as z:
        base = {k: z[k] for k in z.files}
    cases: list[tuple[dict[str, np.ndarray], str]] = [
        ({**base, "layer/fc": base["layer/fc"].astype(float)}, "array 'layer/fc': dtype float64"),
        (
            {**base, "layer/fc": -base["layer/fc"]},
            "array 'layer/fc': values -1..-1, expected 0.. (spike counts)",
        ),
        (
            {**base, "layer/fc": base["layer/fc"][0]},
            "array 'layer/fc' has shape (4, 4), expected (T, IH, IW)",
        ),
        ({k: v for k, v in base.items() if k != "layer/fc"}, "array 'layer/fc' is missing"),
        ({**base, "__meta_json__": np.array("[1, 2]")}, "array '__meta_json__' must hold a JSON object"),
        ({**base, "__layer_order__": np.array(["fc", "fc"])}, "names a layer twice"),
    ]
    for i, (arrays, needle) in enumerate(cases):
        path = tmp_path / f"bad{i}.npz"
        np.savez(path, **arrays)
        _refused(lambda p=path: trace_io.load_activity(p), "activity file", str(path), needle)
    _refused(lambda: trace_io.load_activity(_truncate(good)), "activity file", "not an npz archive")


@pytest.fixture
def digits_trace(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """A replay trace of the digits network at T = 2 (statistical activity) and its arrays."""
    wl = graph.load_workload("digits", 2)
    act = activity.statistical_activity(wl, 1)
    arrays = {f"in:{k}": v for k, v in act.inputs.items()} | {f"out:{k}": v for k, v in act.emitted.items()}
    arrays |= {"time_steps": np.array(2), "model": np.array(wl.model)}  # save_activity's layout
    path = tmp_path / "trace.npz"
    np.savez(path, **arrays)
    assert activity.load_activity(str(path), wl).time_steps == 2
    return path, arrays


def test_a_corrupt_replay_trace_is_refused(tmp_path: Path, digits_trace) -> None:
    good, base = digits_trace
    wl = graph.load_workload("digits", 2)
    signed = np.zeros((2, 16, 8, 8), np.int16)
    signed[0, 0, 0, 0] = 300
    cases: list[tuple[dict[str, np.ndarray], str]] = [
        ({**base, "out:conv1": base["out:conv1"][:, :7, :7]}, "producer conv1: emitted shape (2, 7, 7)"),
        ({**base, "time_steps": np.array([2, 2])}, "array time_steps has shape (2,), expected a scalar"),
        ({**base, "model": np.array(5)}, "array model: dtype int64"),
        ({**base, "signed:conv2": signed}, "array signed:conv2: signed entries must lie in -128..127"),
        ({**base, "in:conv2": base["in:conv2"][0]}, "array in:conv2 has shape (8, 8), expected (T, H, W)"),
    ]
    for i, (arrays, needle) in enumerate(cases):
        path = tmp_path / f"bad{i}.npz"
        np.savez(path, **arrays)
        _refused(lambda p=path: activity.load_activity(str(p), wl), "workload.replay_path", str(path), needle)


def test_cli_refuses_a_corrupt_replay_trace(tmp_path: Path, digits_trace, capsys) -> None:
    _, base = digits_trace
    bad = tmp_path / "bad.npz"
    np.savez(bad, **{**base, "out:conv2": base["out:conv2"][:1]})
    out = tmp_path / "out"
    keys = ['workload.model="digits"', 'workload.activity="replay"', f'workload.replay_path="{bad}"']
    assert main(["run", DEFAULT, *T2, *sum((["--set", k] for k in keys), []), "--out", str(out)]) == 2
    _one_error(capsys, "workload.replay_path", str(bad), "producer conv2: emitted shape (1, 4, 4)")
    assert not out.exists()


# ------------------------------------------------------------------------------------------ energy table
TECH_CASES = [
    (("energy_pj = 2.9185", "energy_pj = -2.9185"), "logic.fire.energy_pj = -2.9185: must be a finite non-negative number [pJ]"),
    (("read_pj = 0.730", "read_pj = nan"), "sram.membrane.read_pj = nan: must be a finite non-negative number [pJ]"),
    (("leakage_nw = 11.558", "leakage_nw = inf"), "edram.weight.leakage_nw = inf: must be a finite non-negative number [nW]"),
    (("leakage_uw = 0.66949", "leakage_uw = -0.1"), "logic.layernorm.leakage_uw = -0.1: must be a finite non-negative number [µW]"),
    (("area_mm2 = 0.000357588", 'area_mm2 = "small"'), "logic.softmax.area_mm2 = 'small': must be a finite non-negative number [mm²]"),
    (("area_um2 = 412.09\n", ""), "edram.membrane.area_um2: missing (a finite non-negative number [µm²])"),
    (("hop_energy_pj_per_flit = 12.99", "hop_energy_pj_per_flit = -12.99"), "noc.hop_energy_pj_per_flit = -12.99: must be a finite non-negative number [pJ per flit]"),
    (("power_mw = 82.49", "power_mw = -82.49"), "reported.chip.power_mw = -82.49: must be a finite non-negative number [mW]"),
    (("[logic.layernorm]", "[logic.layer_norm]"), "logic.layernorm: missing (a table)"),
    (("[noc]", "[noc"), "invalid TOML", "line"),
]  # fmt: skip


@pytest.mark.parametrize(("edit", "needles"), [(c[0], c[1:]) for c in TECH_CASES])
def test_a_corrupt_energy_table_is_refused(
    tmp_path: Path, edit: tuple[str, str], needles: tuple[str, ...]
) -> None:
    text = (DATA / "elsa_28nm.toml").read_text(encoding="utf-8")
    assert edit[0] in text
    path = tmp_path / "elsa_28nm.toml"
    path.write_text(text.replace(edit[0], edit[1], 1), encoding="utf-8")
    _refused(lambda: tables.read_tech(path), "energy table", str(path), *needles)


def test_a_truncated_energy_table_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "elsa_28nm.toml"
    text = (DATA / "elsa_28nm.toml").read_text(encoding="utf-8")
    path.write_text(text[: text.index("hop_energy_pj_per_flit = ") + 25], encoding="utf-8")
    _refused(lambda: tables.read_tech(path), "energy table", str(path), "truncated TOML", "end of document")
    path.write_text(
        text[: text.index("[logic.crossbar]")], encoding="utf-8"
    )  # cut at a line: entries missing
    _refused(lambda: tables.read_tech(path), "energy table", str(path), "logic.crossbar: missing")


def test_cli_refuses_a_negative_energy(tmp_path: Path, monkeypatch, capsys) -> None:
    text = (DATA / "elsa_28nm.toml").read_text(encoding="utf-8")
    path = tmp_path / "elsa_28nm.toml"
    path.write_text(text.replace("energy_pj = 2.9185", "energy_pj = -2.9185", 1), encoding="utf-8")
    monkeypatch.setattr(tables, "TECH_FILE", path)
    out = tmp_path / "out"
    assert main(["run", DEFAULT, *T2, "--out", str(out)]) == 2
    # sim.prepare reads the table before time starts: one error line, no progress lines, nothing written
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert "energy table" in err[-1] and str(path) in err[-1]
    assert "logic.fire.energy_pj = -2.9185: must be a finite non-negative number [pJ]" in err[-1]
    assert not out.exists()
    assert main(["validate", DEFAULT]) == 2  # validate refuses what run would
    assert "energy table" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ baselines.toml
BASELINE_CASES = [
    (("gops = 684.5", "gops = -684.5"), "chips.SpinalFlow.gops", "must be a finite positive number"),
    (("tops_per_w = 0.299", "tops_per_w = nan"), "chips.Prosperity.tops_per_w", "finite positive"),
    (("gops_per_mm2 = 27.00", "gops_per_mm2 = 0"), "chips.SASAP.gops_per_mm2 = 0", "positive"),
    (("technology_nm = 40\n", ""), "chips.SASAP.technology_nm", "missing in"),
    (('network = "resnet34"', "network = 34"), "chips.SpinalFlow.network = 34", "must be a string"),
    (('kind = "qann"', 'kind = "gpu"'), "chips.Eyeriss.kind = 'gpu'", "must be one of"),
    (("[chips.Phi]", "[chips.Phi"), "cannot be read", "line"),
    (("[chips.Phi]", "[chi"), "cannot be read", "line"),  # truncated: ``[chi`` and nothing after
]


@pytest.mark.parametrize(("edit", "needles"), [(c[0], c[1:]) for c in BASELINE_CASES])
def test_a_corrupt_baselines_file_is_refused(
    tmp_path: Path, edit: tuple[str, str], needles: tuple[str, ...]
) -> None:
    text = (DATA / "baselines.toml").read_text(encoding="utf-8")
    assert edit[0] in text
    path = tmp_path / "baselines.toml"
    bad = text.replace(edit[0], edit[1], 1)
    path.write_text(bad if edit[1] != "[chi" else bad[: bad.index("[chi") + 4], encoding="utf-8")
    _refused(lambda: load_baselines(path), str(path), *needles)
