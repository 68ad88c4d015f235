"""Every sweep-based study (make products|flits|routing|topologies|scaling|memory|congestion) in reduced form."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import pytest

from elsa_tlm.cli import main
from elsa_tlm.errors import ConfigError
from elsa_tlm.figures.studies import STUDIES
from elsa_tlm.studies.sweep import SWEEP_STUDIES, draw_study, load_sweep, run_sweep

ROOT = Path(__file__).resolve().parents[1]
STUDY_FILES = sorted((ROOT / "scenarios" / "studies").glob("*.toml"))
T2 = ["run.time_steps=2"]
VGG = ['workload.model=["vgg16_cifar10"]']
# the reduced form of each study (what CI runs; the make targets take the same through SWEEP_ARGS)
REDUCED: dict[str, list[str]] = {
    "products": VGG,
    "flits": ["noc.flit_bits=[64, 256]"],
    "routing": VGG,
    "topologies": VGG,
    "scaling": ['noc.topology=["mesh:2x2", "mesh:6x6"]', "chip.clock_mhz=[200, 500]"],
    "memory": VGG,
    "congestion": ["noc.link_bits=[512, 8]"],
    "split": ['workload.model=["resnet18"]', 'mapping.split=["columns", "auto"]'],
}


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def _run(name: str, tmp_path: Path) -> list[dict[str, str]]:
    sweep = load_sweep(ROOT / "scenarios" / "studies" / f"{name}.toml", T2, REDUCED[name])
    rows = run_sweep(sweep, tmp_path / "sweep", workers=1)
    assert len(rows) >= 2
    out = tmp_path / "plots"
    assert main(["study", name, "--sweep-dir", str(tmp_path / "sweep"), "--out", str(out)]) == 0
    png = out / f"{name}.png"
    assert png.stat().st_size > 10_000 and png.read_bytes().startswith(b"\x89PNG")
    return _csv(out / f"{name}.csv")


def test_every_study_file_has_a_plot_a_reduced_form_and_a_make_target() -> None:
    assert {p.stem for p in STUDY_FILES} == set(STUDIES) == set(REDUCED) == set(SWEEP_STUDIES)
    for name in STUDIES:  # what `make <name>` would run (dry run): the study's own sweep file and plots
        proc = subprocess.run(
            ["make", "-n", "--no-print-directory", name],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        assert f"sweep scenarios/studies/{name}.toml --out results/studies/{name}" in proc.stdout
        assert f"elsa-tlm study {name} --sweep-dir results/studies/{name}" in proc.stdout


def test_products(tmp_path: Path) -> None:
    by = {r["product"]: r for r in _run("products", tmp_path)}
    assert set(by) == {"gustavson", "inner", "outer"}
    assert float(by["gustavson"]["energy_j"]) < min(
        float(by["inner"]["energy_j"]), float(by["outer"]["energy_j"])
    )
    parts = [k for k in by["inner"] if k.startswith("e_")]
    total = sum(float(by["inner"][k]) for k in parts)
    assert total == pytest.approx(float(by["inner"]["energy_j"]), rel=1e-6)
    assert float(by["gustavson"]["energy_vs_gustavson"]) == 1.0


def test_flits(tmp_path: Path) -> None:
    rows = _run("flits", tmp_path)
    assert len(rows) == 6 and all(r["status"] == "ok" for r in rows)
    t = {(r["protocol"], int(r["flit_bits"])): float(r["traffic_mb"]) for r in rows}
    assert t[("baer", 256)] < t[("aer_truenorth", 256)]  # bundling saves traffic
    # AER packets pack whole into flits: a 64-bit flit holds two 31-bit MorphIC or two 32-bit TrueNorth packets
    assert t[("aer_morphic", 64)] == t[("aer_truenorth", 64)]
    assert t[("baer", 64)] < t[("aer_morphic", 64)]


def test_routing(tmp_path: Path) -> None:
    by = {r["routing"]: r for r in _run("routing", tmp_path)}
    assert set(by) == {"xy", "valiant", "multipath"}
    assert int(by["valiant"]["flit_hops"]) > int(by["xy"]["flit_hops"])
    assert all(float(r["peak_link_gbps"]) > 0 and int(r["links_used"]) > 0 for r in by.values())


def test_topologies(tmp_path: Path) -> None:
    rows = _run("topologies", tmp_path)
    assert {r["topology"] for r in rows} == {"mesh:6x6", "torus:6x6", "ring:36", "mesh6x6_express"}
    assert all(r["status"] == "ok" for r in rows)
    for r in rows:  # same workload and packets everywhere; where they travel depends on the graph
        assert float(r["latency_cycles"]) > 0 and float(r["link_traffic_mb"]) > 0
    mb = {(r["topology"], r["protocol"]): float(r["traffic_mb"]) for r in rows}
    assert mb[("ring:36", "baer")] == mb[("mesh:6x6", "baer")] < mb[("mesh:6x6", "aer_truenorth")]


def test_scaling(tmp_path: Path) -> None:
    rows = _run("scaling", tmp_path)
    bad = [r for r in rows if r["topology"] == "mesh:2x2"]
    # the study records points that cannot be mapped (infeasible = "record") instead of refusing the sweep
    assert bad and all(r["status"] == "infeasible" and "needs 14 cores" in r["error"] for r in bad)
    ok = {int(float(r["clock_mhz"])): r for r in rows if r["status"] == "ok"}
    assert float(ok[500]["latency_ms"]) < float(ok[200]["latency_ms"])
    assert ok[500]["latency_cycles"] == ok[200]["latency_cycles"]


def test_memory(tmp_path: Path) -> None:
    by = {r["technology"]: r for r in _run("memory", tmp_path)}
    assert float(by["edram"]["area_mm2"]) < float(by["sram"]["area_mm2"])
    assert all(float(r["tops_per_w"]) > 0 for r in by.values())


def test_congestion(tmp_path: Path) -> None:
    by = {int(r["link_bits"]): r for r in _run("congestion", tmp_path)}
    assert float(by[8]["offered_rate"]) > float(by[512]["offered_rate"])
    # on wide links the two agree: lt leaves out the queueing, and without back-pressure its producers run
    # ahead, so its arrivals are burstier (not a strict lower bound: docs/MODEL.md §6)
    assert float(by[8]["slowdown"]) > 2.0 > float(by[512]["slowdown"]) > 0.9


def test_split(tmp_path: Path) -> None:
    by = {r["split"]: r for r in _run("split", tmp_path)}
    assert by["columns"]["status"] == by["auto"]["status"] == "ok"
    # row bands spread ResNet conv1 over the free cores: the first response comes much sooner
    assert float(by["auto"]["first_output_vs_columns"]) < 0.7
    assert int(by["auto"]["cores_used"]) > int(by["columns"]["cores_used"])


def test_study_needs_a_sweep_dir(tmp_path: Path, capsys) -> None:
    assert main(["study", "flits", "--out", str(tmp_path / "a")]) == 2
    assert main(["study", "flits", "--sweep-dir", str(tmp_path / "none"), "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(e.startswith("error: ") for e in err)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()  # nothing written
    with pytest.raises(ConfigError, match="must be one of"):
        draw_study("pipelines", tmp_path, tmp_path / "c")
