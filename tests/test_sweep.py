"""Sweep files: strict validation, path resolution, process and Dask executors, resume, failed points."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from elsa_tlm.cli import main
from elsa_tlm.config import to_toml
from elsa_tlm.errors import ConfigError
from elsa_tlm.studies import sweep as sweeps
from elsa_tlm.studies.sweep import config_hash, load_sweep, parse_sweep, plan, run_sweep

ROOT = Path(__file__).resolve().parents[1]
TINY = ["run.time_steps=2", "output.plots=false"]


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _rows(out: Path) -> list[dict[str, str]]:
    with (out / "sweep.csv").open() as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def two_points(tmp_path: Path) -> Path:
    """A two-point sweep whose base scenario is given relative to the sweep file."""
    (tmp_path / "sc").mkdir()
    shutil.copy(ROOT / "scenarios" / "default.toml", tmp_path / "sc" / "base.toml")
    (tmp_path / "sw").mkdir()
    return _write(
        tmp_path / "sw" / "two.toml",
        'version = 1\nbase = "../sc/base.toml"\nset = ["run.time_steps=2", "output.plots=false"]\n'
        '[axes]\n"memory.technology" = ["sram", "edram"]\n',
    )


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('version = 1\nbogus = 1\n[axes]\n"noc.flit_bits" = [64]\n', "unknown key"),
        ('version = 2\n[axes]\n"noc.flit_bits" = [64]\n', "version = 1"),
        ('version = 1\n[axes]\n"noc.flit_bits" = 64\n', "non-empty list"),
        ('version = 1\n[axes]\n"noc.flit_bits" = []\n', "non-empty list"),
        ('version = 1\n[axes]\n"noc.flits" = [64]\n', "valid keys of [noc]"),
        ('version = 1\n[axes]\n"nocflit_bits" = [64]\n', "dotted config key"),
        ('version = 1\n[axes]\n"chips.clock_mhz" = [200]\n', "unknown section"),
        ("version = 1\n", "at least one axis"),
        ('version = 1\nbase = "nowhere.toml"\n[axes]\n"noc.flit_bits" = [64]\n', "not found"),
        ('version = 1\nset = "run.seed=2"\n[axes]\n"noc.flit_bits" = [64]\n', "list"),
        ("version = 1\npoints = [1]\n", "non-empty tables"),
        ('version = 1\npoints = [{ "noc.bogus" = 1 }]\n', "valid keys of [noc]"),
    ],
)
def test_bad_sweep_files(tmp_path: Path, text: str, needle: str) -> None:
    path = _write(tmp_path / "bad.toml", text)
    with pytest.raises(ConfigError) as exc:
        load_sweep(path)
    assert needle in str(exc.value)


def test_bad_point_is_reported_before_anything_runs(tmp_path: Path, capsys) -> None:
    path = _write(tmp_path / "s.toml", 'version = 1\n[axes]\n"noc.flit_bits" = [64, 300]\n"run.seed" = [1]\n')
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: noc.flit_bits = 300") and "sweep point 1" in err[0]
    assert not out.exists()
    assert main(["sweep", str(tmp_path / "missing.toml")]) == 2
    assert main(["sweep", str(path), "--set", "noc.nothing=1"]) == 2
    assert main(["sweep", str(path), "--axis", "noc.flit_bits=64"]) == 2


def test_product_points_precedence_and_paths(tmp_path: Path) -> None:
    topo = ROOT / "scenarios" / "topologies" / "mesh6x6_express.graphml"
    (tmp_path / "topo").mkdir()
    shutil.copy(topo, tmp_path / "topo" / "x.graphml")
    sw = parse_sweep(
        {
            "version": 1,
            "set": ["run.seed=3", "noc.flit_bits=128"],
            "points": [
                {"noc.topology": "file:topo/x.graphml", "noc.routing": "shortest"},
                {"noc.topology": "mesh:6x6"},
            ],
            "axes": {"noc.flit_bits": [64, 96], "schedule.policy": ["spine", "tbt"]},
        },
        tmp_path,
        "t",
        cli_sets=["run.seed=4"],
    )
    pts = plan(sw)
    assert len(pts) == 8
    assert [p.config.noc.flit_bits for p in pts[:4]] == [64, 64, 96, 96]  # first axis slowest; axis beats set
    assert all(p.config.run.seed == 4 for p in pts)  # --set beats the file's set
    assert pts[0].config.noc.topology == "file:" + str((tmp_path / "topo" / "x.graphml").resolve())
    assert sw.label(pts[0].values["noc.topology"]) == "file:topo/x.graphml"
    assert len({p.hash for p in pts}) == 8
    assert pts[0].hash == config_hash(pts[0].config) and len(pts[0].hash) == 12
    assert sw.keys() == ["noc.topology", "noc.routing", "noc.flit_bits", "schedule.policy"]
    # --axis replaces an axis
    sw2 = parse_sweep(
        {"version": 1, "axes": {"noc.flit_bits": [64, 96]}}, tmp_path, cli_axes=["noc.flit_bits=[256]"]
    )
    assert [p.config.noc.flit_bits for p in plan(sw2)] == [256]


def test_two_points_on_processes_then_resume(two_points: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["sweep", str(two_points), "--out", str(out), "--workers", "2"]) == 0
    rows = _rows(out)
    assert [r["memory.technology"] for r in rows] == ["sram", "edram"]
    assert all(r["status"] == "ok" and r["error"] == "" for r in rows)
    assert float(rows[0]["area_mm2"]) > float(rows[1]["area_mm2"]) > 0
    pts = plan(load_sweep(two_points))
    for r, p in zip(rows, pts, strict=True):
        folder = out / "points" / r["point"]
        assert r["point"] == p.hash
        assert (folder / "config.resolved.toml").read_text() == to_toml(p.config)
        s = json.loads((folder / "summary.json").read_text())
        assert s["memory"] == r["memory.technology"] and s["latency_cycles"] == int(r["latency_cycles"])
    stamp = (out / "points" / rows[0]["point"] / "summary.json").stat().st_mtime_ns
    before = (out / "sweep.csv").read_text()
    assert main(["sweep", str(two_points), "--out", str(out), "--workers", "1"]) == 0
    assert (out / "points" / rows[0]["point"] / "summary.json").stat().st_mtime_ns == stamp
    assert (out / "sweep.csv").read_text() == before
    assert json.loads((out / "sweep.json").read_text())["reused"] == 2


def test_two_points_on_local_dask_cluster(two_points: Path, tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    ref = tmp_path / "ref"
    run_sweep(load_sweep(two_points), ref, workers=1)
    with distributed.Client(processes=False, dashboard_address=None) as client:
        ex = client.get_executor()
        rows = run_sweep(load_sweep(two_points), tmp_path / "dask", ex)
    assert [r["status"] for r in rows] == ["ok", "ok"]
    assert (tmp_path / "dask" / "sweep.csv").read_text() == (ref / "sweep.csv").read_text()


INFEASIBLE = (
    'version = 1\nset = ["run.time_steps=2", "output.plots=false"]\n'
    '[axes]\n"noc.topology" = ["mesh:2x2", "ring:36", "mesh:6x6"]\n'
)


def test_infeasible_points_are_refused_up_front(tmp_path: Path, capsys) -> None:
    path = _write(tmp_path / "f.toml", INFEASIBLE)
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--workers", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: sweep point = 0") and "needs 14 cores" in err[0]
    assert not out.exists()  # nothing ran, nothing written


def test_infeasible_points_can_be_recorded(tmp_path: Path, capsys) -> None:
    path = _write(tmp_path / "f.toml", INFEASIBLE)
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--workers", "1", "--infeasible", "record"]) == 0
    rows = _rows(out)
    assert [r["status"] for r in rows] == ["infeasible", "infeasible", "ok"]
    assert "core" in rows[0]["error"]  # the mapper says how many cores it needs
    assert "xy" in rows[1]["error"]  # XY routing needs a grid
    assert not (out / "points" / rows[0]["point"]).exists()
    assert "3 points, 1 ok, 0 failed, 2 infeasible" in capsys.readouterr().out


def _crash_on_edram(cfg, folder):  # module level: the forked workers find it by name
    if cfg.memory.technology == "edram":
        return {"status": "crash", "error": "RuntimeError: injected"}
    return _real_run_point(cfg, folder)


_real_run_point = sweeps.run_point


def test_a_failed_point_makes_the_sweep_exit_1(two_points: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(sweeps, "run_point", _crash_on_edram)
    out = tmp_path / "out"
    assert main(["sweep", str(two_points), "--out", str(out), "--workers", "1"]) == 1
    cap = capsys.readouterr()
    assert "1 failed" in cap.out and "1 of 2 sweep points failed" in cap.err and "injected" in cap.err
    assert [r["status"] for r in _rows(out)] == ["ok", "crash"]


def test_dry_run_lists_points(two_points: Path, tmp_path: Path, capsys) -> None:
    assert main(["sweep", str(two_points), "--dry-run", "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "memory.technology=sram" in out and "2 points" in out and not (tmp_path / "o").exists()


@pytest.mark.parametrize("command", ["sweep", "explore"])
def test_a_scheduler_without_dask_is_refused_before_any_work(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--scheduler names a Dask scheduler: without --executor dask the run would not use it, so both commands that
    take it refuse it (one line, exit 2), and nothing is written."""
    spec = "scenarios/studies/flits.toml" if command == "sweep" else "scenarios/explore/resnet50.toml"
    out = tmp_path / "out"
    code = main([command, spec, "--out", str(out), "--scheduler", "tcp://127.0.0.1:8786"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--scheduler" in err and "needs --executor dask" in err
    assert not out.exists()


def test_a_worker_leaves_no_chip_behind_after_a_simulated_point() -> None:
    """A worker runs point after point with the collector paused in each run: the finished chip (cyclic) is
    collected when its point returns, not left to pile up until a rare full pass. Counted against the cores
    alive before (another test's fixtures may hold live chips in this process)."""
    import gc

    from elsa_tlm.config import load_config
    from elsa_tlm.hw.core import NeuralCore

    def cores() -> int:  # by type: a dead weak proxy from an earlier test fails isinstance
        return sum(1 for o in gc.get_objects() if type(o) is NeuralCore)

    cfg = load_config(None, ['workload.model="vgg16_cifar10"', "run.time_steps=2", 'run.mode="lt"'])
    was = gc.isenabled()
    gc.disable()  # no pass of its own may hide a chip left behind
    try:
        before = cores()
        row = sweeps.run_point(cfg, None, ("latency_cycles",))
        assert row["status"] == "ok" and row["latency_cycles"] > 0
        assert cores() <= before  # the run's 17 cores are gone (and any garbage from before with them)
    finally:
        if was:
            gc.enable()
