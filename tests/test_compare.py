"""The simulated chip beside the published ones: compare.csv, ratios.csv (from the run's own figures), the
figure, the headline sentences, make baselines in a reduced form, and bad input refused with one line."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from elsa_tlm import api
from elsa_tlm.baselines import load_baselines
from elsa_tlm.cli import main
from elsa_tlm.errors import ConfigError

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

    from elsa_tlm.compare import run_row

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
        [sys.executable, "-m", "elsa_tlm.compare", "--out", str(tmp_path / "p"), "--runs", str(tmp_path / "r"),
         "--models", "resnet18,resnet50", "--clocks", "200", "--set", "run.time_steps=2"],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "resnet50 (resnet50_200MHz, 200 MHz):" in r.stdout
    assert (tmp_path / "p" / "compare.csv").exists() and (
        tmp_path / "r" / "resnet18_200MHz" / "summary.json"
    ).exists()
    assert "baselines:" in (ROOT / "Makefile").read_text()
