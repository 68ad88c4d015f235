"""The simulated chip beside the published ones: compare.csv, ratios.csv (from the run's own figures), the
figure, the headline sentences, make baselines in a reduced form, and bad input refused with one line."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from elsa_tlm import api
from elsa_tlm.cli import main
from elsa_tlm.errors import ConfigError
from elsa_tlm.studies.baselines import load_baselines

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def r50_runs(tmp_path_factory) -> list[Path]:
    base = tmp_path_factory.mktemp("cmp")
    out = []
    for mhz in (200, 500):
        r = api.run(
            None,
            ['workload.model="resnet50"', "run.time_steps=2", "output.plots=false", f"chip.clock_mhz={mhz}"],
        )
        out.append(r.save(base / f"r50_{mhz}"))
    return out


def test_compare_a_resnet50_run_against_the_published_chips(
    r50_runs: list[Path], tmp_path: Path, capsys
) -> None:
    out = tmp_path / "cmp"
    assert main(["compare", *map(str, r50_runs), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert (
        "the energy efficiency of ANT" in printed and "of PAICORE" in printed and "not simulated" in printed
    )
    rows = list(csv.DictReader((out / "compare.csv").open()))
    chips = {r["chip"] for r in rows}
    assert {"ANT", "PAICORE", "SpinalFlow", "Eyeriss", "r50_200", "r50_500"} <= chips
    assert sum(r["kind"] == "simulated" for r in rows) == 2  # two configurations: two simulated entries
    base = load_baselines()
    ratios = list(csv.DictReader((out / "ratios.csv").open()))
    for run in ("r50_200", "r50_500"):
        sim = next(r for r in rows if r["chip"] == run)
        for b in ("ANT", "PAICORE"):
            x = next(r for r in ratios if r["run"] == run and r["baseline"] == b)
            assert float(x["speedup"]) == pytest.approx(float(sim["gops"]) / base[b].gops)
            assert float(x["efficiency_gain"]) == pytest.approx(float(sim["tops_per_w"]) / base[b].tops_per_w)
    assert {r["network"] for r in ratios} == {"resnet50"}  # only baselines that measured the same network
    assert (out / "compare.png").read_bytes()[:4] == b"\x89PNG"
    md = (out / "compare.md").read_text()
    assert "resnet50 (r50_200, 200 MHz):" in md and "not simulated" in md


def test_the_run_figures_are_computed_from_its_summary(r50_runs: list[Path]) -> None:
    import json

    from elsa_tlm.studies.compare import run_row

    s = json.loads((r50_runs[0] / "summary.json").read_text())
    row = run_row(r50_runs[0])
    assert row["gops"] == pytest.approx(s["ops"] / (s["latency_cycles"] / (s["clock_mhz"] * 1e6)) / 1e9)
    assert row["tops_per_w"] == pytest.approx(s["tops_per_w"])
    assert row["gops_per_mm2"] == pytest.approx(row["gops"] / s["area_mm2"])


def test_bad_input_is_one_line(r50_runs: list[Path], tmp_path: Path, capsys) -> None:
    assert main(["compare", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "summary.json" in err[0]
    digits = api.run("digits", ["workload.samples=1", "output.plots=false"]).save(tmp_path / "digits")
    capsys.readouterr()
    assert main(["compare", str(digits), "--out", str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no baseline measured digits" in err[0]
    bad = tmp_path / "b.toml"
    bad.write_text('[chips.X]\nkind = "qann"\ntechnology_nm = 28\ngops = "fast"\ntops_per_w = 1.0\n')
    with pytest.raises(ConfigError) as ei:
        load_baselines(bad)
    assert ei.value.key == "chips.X.gops"


def test_make_baselines_in_its_reduced_form(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "elsa_tlm", "baselines", "--out", str(tmp_path / "p"), "--runs", str(tmp_path / "r"),
         "--models", "resnet18,resnet50", "--clocks", "200", "--set", "run.time_steps=2"],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "resnet50 (resnet50_200MHz, 200 MHz):" in r.stdout
    assert (tmp_path / "p" / "compare.csv").exists() and (
        tmp_path / "r" / "resnet18_200MHz" / "summary.json"
    ).exists()
    assert "$(CLI) baselines --out plots/baselines" in (ROOT / "Makefile").read_text()


# ------------------------------------------------------------------------------ runs named by their folder
def test_same_named_runs_keep_their_own_ratios(r50_runs: list[Path], tmp_path: Path, capsys) -> None:
    """a/results/default and b/results/default (two clocks): each headline and row under its own label."""
    import json
    import shutil

    folders = []
    for exp, src in (("a", r50_runs[0]), ("b", r50_runs[1])):
        dst = tmp_path / exp / "results" / "default"
        shutil.copytree(src, dst)
        folders.append(dst)
    out = tmp_path / "cmp"
    assert main(["compare", *map(str, folders), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    base = load_baselines()
    rows = {r["chip"]: r for r in csv.DictReader((out / "compare.csv").open()) if r["kind"] == "simulated"}
    assert set(rows) == {"a/results/default", "b/results/default"}
    ratios = list(csv.DictReader((out / "ratios.csv").open()))
    for label, folder in zip(("a/results/default", "b/results/default"), folders, strict=True):
        s = json.loads((folder / "summary.json").read_text())
        gops = s["ops"] / (s["latency_cycles"] / (s["clock_mhz"] * 1e6)) / 1e9
        assert float(rows[label]["gops"]) == pytest.approx(gops)
        ant = next(r for r in ratios if r["run"] == label and r["baseline"] == "ANT")
        assert float(ant["speedup"]) == pytest.approx(gops / base["ANT"].gops)
        line = next(x for x in printed.splitlines() if f"({label}, {s['clock_mhz']:g} MHz)" in x)
        assert f"{gops / base['ANT'].gops:.1f}× the throughput" in line
    # the same folder twice is refused; a run folder named like a baseline chip keeps its parent in its label
    assert main(["compare", str(folders[0]), str(folders[0]), "--out", str(tmp_path / "o2")]) == 2
    assert "given twice" in capsys.readouterr().err
    ant_dir = tmp_path / "x" / "ANT"
    shutil.copytree(r50_runs[0], ant_dir)
    res = api.compare([ant_dir], tmp_path / "o3")
    assert [r["chip"] for r in res["rows"] if r["kind"] == "simulated"] == ["x/ANT"]


BAD_SUMMARIES = [
    ("latency_cycles", 0, "must be positive"),
    ("latency_cycles", -100, "must be positive"),
    ("energy_j", 0.0, "must be positive"),
    ("energy_j", "1e-5", "must be number"),
    ("area_mm2", True, "must be number"),
    ("clock_mhz", -200, "must be positive"),
    ("ops", float("nan"), "finite"),
    ("energy_breakdown_j", [1, 2], "must be object"),
    ("latency_cycels", 5, "not a field of summary.json"),
    ("model", None, "must be string"),
]


@pytest.mark.parametrize(
    ("field", "value", "rule"), BAD_SUMMARIES, ids=[f"{f}={v!r}" for f, v, _ in BAD_SUMMARIES]
)
def test_a_bad_summary_is_refused_before_anything_is_computed(
    field: str, value: object, rule: str, r50_runs: list[Path], tmp_path: Path, capsys
) -> None:
    import json
    import shutil

    run = tmp_path / "run"
    shutil.copytree(r50_runs[0], run)
    s = json.loads((run / "summary.json").read_text())
    s[field] = value
    (run / "summary.json").write_text(json.dumps(s))  # NaN as the bare token Python's json writes
    out = tmp_path / "o"
    assert main(["compare", str(r50_runs[1]), str(run), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert str(run / "summary.json") in err[0] and field in err[0] and rule in err[0], err[0]
    assert not out.exists()


@pytest.mark.parametrize("text", ["[1, 2]", "", "{", '"text"', "[" * 100_000])
def test_a_summary_that_is_not_an_object_is_one_line(
    text: str, r50_runs: list[Path], tmp_path: Path, capsys
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "summary.json").write_text(text)
    assert main(["compare", str(run), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "summary.json" in err[0], err
    assert not (tmp_path / "o").exists()


def test_the_summary_validator_agrees_with_jsonschema(r50_runs: list[Path]) -> None:
    """The built-in validator (the tool cannot depend on jsonschema at run time) finds a violation exactly
    where jsonschema does, on a real summary and on corrupted copies of it."""
    import copy
    import json

    import jsonschema

    from elsa_tlm.results.schema import schema_errors, summary_schema

    schema = summary_schema()
    good = json.loads((r50_runs[0] / "summary.json").read_text())
    assert schema_errors(good, schema) == [] and jsonschema.Draft202012Validator(schema).is_valid(good)
    mutations = [
        ("latency_cycles", "x"), ("latency_cycles", 1.5), ("latency_cycles", True), ("schedule", "zigzag"),
        ("energy_breakdown_j", {"adder": 1.0}), ("step_done_cycles", ["a"]), ("noc", None), ("extra", 1),
        ("warnings", [1]), ("pe", {}),
    ]  # fmt: skip
    for key, value in mutations:
        bad = copy.deepcopy(good)
        bad[key] = value
        ours = bool(schema_errors(bad, schema))
        theirs = not jsonschema.Draft202012Validator(schema).is_valid(bad)
        assert ours == theirs, (key, value)
    del good["sops"]
    assert schema_errors(good, schema) and not jsonschema.Draft202012Validator(schema).is_valid(good)
