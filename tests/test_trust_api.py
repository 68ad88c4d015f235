"""Trust beyond the CLI (issue 18): the API validates whatever Config it is given, errors survive worker
processes, files from other tools (BOM, CRLF, symlink loops, devices) are read or refused with one line, and
the package carries its own data and licence."""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

import elsa_tlm
from elsa_tlm.cli import main
from elsa_tlm.config import ChipConfig, Config, NocConfig, load_config, shipped_scenarios
from elsa_tlm.errors import ConfigError, DeadlockError, MappingError, StallError

ROOT = Path(__file__).resolve().parents[1]


def _one_error(capsys, needle: str = "") -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert needle in err[0], err[0]
    return err[0]


# ------------------------------------------------------------------------------------- one validation path
@pytest.mark.parametrize(
    "cfg, key",
    [
        (Config(chip=ChipConfig(clock_mhz=-5.0)), "chip.clock_mhz"),
        (Config(noc=NocConfig(flit_bits=1)), "noc.flit_bits"),
        (dataclasses.replace(load_config(), chip=ChipConfig(pes_per_core=0)), "chip.pes_per_core"),
    ],
)
def test_the_api_validates_a_config_however_it_was_built(cfg: Config, key: str) -> None:
    for call in (elsa_tlm.run, elsa_tlm.check, elsa_tlm.configure):
        with pytest.raises(ConfigError) as ei:
            call(cfg)
        assert ei.value.key == key


def test_a_replaced_section_is_not_undone_by_the_files_raw_values() -> None:
    cfg = load_config(str(ROOT / "scenarios" / "default.toml"))
    changed = dataclasses.replace(cfg, noc=dataclasses.replace(cfg.noc, flit_bits=128))
    assert elsa_tlm.configure(changed, ["run.time_steps=2"]).noc.flit_bits == 128


@pytest.mark.parametrize(
    "call, arg",
    [
        (lambda: elsa_tlm.run(None, overrides="run.time_steps=2"), "overrides"),
        (lambda: elsa_tlm.run(None, overrides=[2]), "overrides"),
        (lambda: elsa_tlm.load_config(42), "scenario"),
        (lambda: elsa_tlm.configure("path.toml"), "cfg"),
        (lambda: elsa_tlm.check(3.5), "scenario"),
        (lambda: elsa_tlm.sweep(ROOT / "scenarios/studies/flits.toml", "x", workers=0), "workers"),
    ],
)
def test_api_arguments_of_the_wrong_type_name_the_argument(call, arg: str) -> None:
    with pytest.raises(ConfigError) as ei:
        call()
    assert ei.value.key == arg


def test_overrides_none_means_none() -> None:
    assert elsa_tlm.load_config(None, None).run.time_steps == load_config().run.time_steps


# ------------------------------------------------------------------------------------- errors across processes
@pytest.mark.parametrize(
    "err",
    [
        ConfigError("noc.flit_bits", 1, "must be between 48 and 256"),
        MappingError("layer conv1 fits no core"),
        DeadlockError("NoC deadlock", [(0, 1), (1, 0)]),
        StallError("pipeline stalled"),
    ],
)
def test_every_error_round_trips_through_pickle(err: Exception) -> None:
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is type(err) and str(back) == str(err) and vars(back) == vars(err)


def test_a_mapping_error_is_a_config_error() -> None:
    assert issubclass(MappingError, ConfigError)
    with pytest.raises(ConfigError):
        elsa_tlm.check(None, ['workload.model="resnet50"', 'noc.topology="mesh:2x2"'])


def test_bad_input_in_a_worker_reaches_the_parent_as_the_same_error() -> None:
    with cf.ProcessPoolExecutor(1) as ex:
        fut = ex.submit(elsa_tlm.run, None, ["noc.flit_bits=1"])
        with pytest.raises(ConfigError) as ei:
            fut.result()
    assert ei.value.key == "noc.flit_bits"


def test_a_study_with_an_unknown_network_exits_2_with_one_line(tmp_path: Path) -> None:
    out = tmp_path / "p"
    r = subprocess.run(
        [sys.executable, "-m", "elsa_tlm.studies", "pipelines", "--out", str(out), "--models", "alexnet"],
        capture_output=True,
        text=True,
    )
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: workload.model"), r.stderr
    assert not out.exists()  # refused before anything was written


# ------------------------------------------------------------------------------------- files from other tools
def _ring(n: int) -> str:
    return "".join(f"{i} {(i + 1) % n}\r\n" for i in range(n))


def test_an_edge_list_with_a_bom_and_crlf_is_the_graph_it_describes(tmp_path: Path, capsys) -> None:
    f = tmp_path / "ring.txt"
    f.write_bytes("\ufeff".encode() + _ring(36).encode())
    plan = elsa_tlm.check(None, [f'noc.topology="file:{f}"', 'noc.routing="shortest"'])
    assert plan.topology.n_nodes == 36 and plan.topology.graph.number_of_edges() == 36
    assert (
        main(
            [
                "validate",
                str(ROOT / "scenarios" / "default.toml"),
                "--set",
                f'noc.topology="file:{f}"',
                "--set",
                'noc.routing="shortest"',
            ]
        )
        == 0
    )
    assert "of 36 cores" in capsys.readouterr().out


def test_a_scenario_with_a_bom_and_crlf_loads(tmp_path: Path) -> None:
    f = tmp_path / "s.toml"
    f.write_bytes(b"\xef\xbb\xbfversion = 1\r\n[run]\r\ntime_steps = 3\r\n")
    assert load_config(f).run.time_steps == 3


def test_symlink_loops_devices_and_folders_are_refused_with_one_line(tmp_path: Path, capsys) -> None:
    loop = tmp_path / "loop.txt"
    os.symlink(loop, loop)
    default = str(ROOT / "scenarios" / "default.toml")
    assert main(["validate", default, "--set", f'noc.topology="file:{loop}"']) == 2
    _one_error(capsys, "leads nowhere")
    assert main(["validate", str(loop)]) == 2
    _one_error(capsys, "leads nowhere")
    assert main(["validate", default, "--set", 'noc.topology="file:/dev/zero"']) == 2
    _one_error(capsys, "not a regular file")
    assert main(["validate", "/dev/zero"]) == 2
    _one_error(capsys, "not a regular file")


@pytest.mark.parametrize("address", ["not a url", "tcp://127.0.0.1:notaport", "http://x:1"])
def test_a_garbage_dask_scheduler_exits_2_with_one_line(address: str, tmp_path: Path, capsys) -> None:
    pytest.importorskip("distributed")
    sweep = str(ROOT / "scenarios" / "studies" / "flits.toml")
    args = ["sweep", sweep, "--out", str(tmp_path / "s"), "--executor", "dask", "--scheduler", address]
    assert main(args) == 2
    _one_error(capsys, "--scheduler")


# ------------------------------------------------------------------------------------- the package itself
def test_shipped_scenarios_run_by_name_from_anywhere(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert {"default", "vit", "digits", "digits_vit"} <= set(shipped_scenarios())
    assert main(["validate", "default", "--set", "run.time_steps=2"]) == 0
    capsys.readouterr()
    assert main(["validate", "nosuch"]) == 2
    _one_error(capsys, "shipped scenarios, by name: default")
    assert main(["scenarios"]) == 0
    assert "vit" in capsys.readouterr().out


def test_licence_typing_marker_and_an_untracked_bench() -> None:
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert (ROOT / "elsa_tlm" / "py.typed").exists()
    assert "--out results/bench/" in (ROOT / "Makefile").read_text()
    ignored = subprocess.run(["git", "check-ignore", "-q", "results/bench/results.json"], cwd=ROOT)
    assert ignored.returncode == 0  # make bench leaves git status clean
