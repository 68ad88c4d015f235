"""Every scenario and study runs in a reduced form; the docs list every configuration key."""

import csv
import json
from pathlib import Path

import pytest

from elsa_tlm.cli import main
from elsa_tlm.config import describe_keys

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.toml"))
REDUCED = {
    "default": ["run.time_steps=2"],
    "digits": ["run.time_steps=32", "workload.samples=2"],
    "digits_vit": ["run.time_steps=32", "workload.samples=2"],
}


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_smoke(path, tmp_path):
    extra = REDUCED.get(path.stem, ["run.time_steps=2"])
    sets = [a for kv in extra for a in ("--set", kv)]
    assert main(["validate", str(path)]) == 0
    assert main(["run", str(path), "--out", str(tmp_path / "out"), *sets, "--set", "output.plots=false"]) == 0
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["latency_cycles"] > 0 and s["energy_j"] > 0


def test_digits_elastic_fields(tmp_path):
    out = tmp_path / "d"
    assert (
        main(
            ["run", str(ROOT / "scenarios" / "digits.toml"), "--out", str(out), "--set", "workload.samples=2"]
        )
        == 0
    )
    s = json.loads((out / "summary.json").read_text())
    assert s["qann_accuracy"] >= 0.9 and s["snn_accuracy"] == s["qann_accuracy"]
    el = s["elastic"]
    assert (
        len(el["accuracy_per_step"]) == s["time_steps"] and el["accuracy_per_step"][-1] == s["snn_accuracy"]
    )
    assert 0 <= el["exit_step"] < s["time_steps"] and el["exit_cycle"] <= s["latency_cycles"]
    assert el["energy_exit_j"] <= s["mean_energy_j"]
    rows = list(csv.DictReader((out / "samples.csv").open()))
    assert len(rows) == 2 and (out / "elastic.png").exists()


def test_pipelines_study_reduced(tmp_path):
    from elsa_tlm.studies.pipelines import pipelines

    rows = pipelines(tmp_path, ["vgg16_cifar10"], ["run.time_steps=2"], workers=1)
    by = {r["policy"]: r for r in rows}
    assert (
        by["spine"]["first_output_cycle"]
        <= by["tbt"]["first_output_cycle"]
        <= by["lbl"]["first_output_cycle"]
    )
    assert (tmp_path / "pipelines.csv").exists() and (tmp_path / "pipelines.png").exists()


def test_model_doc_lists_every_config_key():
    text = (ROOT / "docs" / "MODEL.md").read_text()
    missing = [k for k, _, _ in describe_keys() if f"`{k}`" not in text]
    assert not missing, missing


def test_elastic_policies_reduced(tmp_path):
    from elsa_tlm.studies.elastic import compare_policies

    rows = compare_policies(str(ROOT / "scenarios" / "digits.toml"), tmp_path, ["workload.samples=1"])
    exits = json.loads((tmp_path / "elastic_exits.json").read_text())
    assert exits["spine"]["exit_cycle"] <= exits["tbt"]["exit_cycle"] <= exits["lbl"]["exit_cycle"]
    assert len(rows) == 3 * 32 and (tmp_path / "elastic_policies.png").exists()
