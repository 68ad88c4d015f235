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
        [sys.executable, "-m", "elsa_tlm", "pipelines", "--out", str(out), "--models", "alexnet"],
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


def test_bench_refuses_fewer_than_one_repeat_before_running_anything(tmp_path: Path, capsys) -> None:
    out = tmp_path / "results.json"
    assert main(["bench", "--repeat", "0", "--out", str(out)]) == 2
    assert "--repeat = 0" in capsys.readouterr().err and not out.exists()


def test_core_cycles_fit_in_the_latency_and_work_after_the_answer_is_apart(tmp_path: Path) -> None:
    """ViT-Small: the last block still computes the other tokens after the class token's answer has left."""
    r = elsa_tlm.run("vit", ["run.time_steps=2", "output.plots=false"])
    lat = r.summary["latency_cycles"]
    for row in r.core_rows:
        used = row["busy_cycles"] + row["stalled_on_output_cycles"] + row["starved_on_input_cycles"]
        assert used <= lat, row["core"]
    assert any(row["busy_after_answer_cycles"] > 0 for row in r.core_rows)
    folder = r.save(tmp_path / "vit")
    import json

    saved = json.loads((folder / "summary.json").read_text())["sim"]["peak_rss_mb"]
    assert saved >= r.summary["sim"]["peak_rss_mb"] > 0  # measured after the files were written


# ------------------------------------------------------------------------------------- files the tool writes
def test_a_killed_runs_temporary_result_is_removed_by_the_next_run(tmp_path: Path) -> None:
    out = tmp_path / "r"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    stale = tmp_path / f".r.{int(dead.stdout)}.abc123"  # what a run killed while writing leaves
    stale.mkdir()
    (stale / "summary.json").write_text("{}")
    live = tmp_path / f".r.{os.getpid()}.zzz999"  # a live writer's (this process): left alone
    live.mkdir()
    assert (
        main(
            ["run", "default", "--set", "run.time_steps=2", "--set", "output.plots=false", "--out", str(out)]
        )
        == 0
    )
    assert not stale.exists() and live.exists() and (out / "summary.json").exists()


def test_a_full_disk_names_the_file(tmp_path: Path, monkeypatch) -> None:
    import errno

    from elsa_tlm import fileio

    def full(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    fileio.check_output_folder(tmp_path, "run")  # the output guard clears the folder (it writes nothing)
    monkeypatch.setattr(fileio.os, "replace", full)
    target = tmp_path / "summary.json"
    with pytest.raises(OSError) as ei:
        fileio.write_text_atomic(target, "x")
    assert ei.value.filename == str(target) and "No space left" in str(ei.value)
    assert list(tmp_path.iterdir()) == []  # no temporary file left


def test_output_dir_mistakes_name_output_dir(tmp_path: Path, capsys) -> None:
    s = tmp_path / "s.toml"
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.txt").write_text("keep")
    s.write_text('version = 1\n[output]\ndir = "taken"\n')
    assert main(["run", str(s), "--set", "run.time_steps=2"]) == 2
    _one_error(capsys, "output.dir")
    assert (tmp_path / "taken" / "mine.txt").read_text() == "keep"


def test_an_npz_header_declaring_a_huge_array_is_refused_before_reading(tmp_path: Path) -> None:
    import zipfile

    import numpy as np
    from numpy.lib import format as npformat

    f = tmp_path / "huge.npz"
    with zipfile.ZipFile(f, "w") as z:
        b = np.lib.format
        head = __import__("io").BytesIO()
        npformat.write_array_header_1_0(head, {"descr": "<i8", "fortran_order": False, "shape": (16, 10**10)})
        z.writestr("in:features.0.npy", head.getvalue())
        t = __import__("io").BytesIO()
        b.write_array(t, np.array(16))
        z.writestr("time_steps.npy", t.getvalue())
    with pytest.raises(ConfigError, match="declares shape"):
        elsa_tlm.check(None, ['workload.activity="replay"', f'workload.replay_path="{f}"'])


def test_the_study_plotter_refuses_a_sweep_it_cannot_draw(tmp_path: Path) -> None:
    sw = tmp_path / "sw"
    sw.mkdir()
    (sw / "sweep.csv").write_text("a,b,status,point\n1,2,ok,abc\n")  # a sweep, but not of the flits axes
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "elsa_tlm",
            "study",
            "flits",
            "--sweep-dir",
            str(sw),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
    )
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and "cannot draw the flits study" in lines[0], r.stderr


@pytest.mark.parametrize("kind", ["weight", "membrane", "tracer"])
def test_a_buffer_smaller_than_one_macro_names_its_key(kind: str) -> None:
    with pytest.raises(ConfigError) as ei:
        load_config(None, [f"pe.{kind}_sram_kib=0.001"])
    assert ei.value.key == f"pe.{kind}_sram_kib" and "at least one" in ei.value.rule


def test_a_long_run_reports_progress_to_a_redirected_stderr(tmp_path: Path) -> None:
    log = tmp_path / "err.log"
    with log.open("w") as err:
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "elsa_tlm",
                "run",
                "default",
                "--set",
                'workload.model="resnet18"',
                "--set",
                "run.time_steps=4",
                "--set",
                "output.plots=false",
                "--out",
                str(tmp_path / "r"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    lines = log.read_text().splitlines()
    assert r.returncode == 0
    assert any("prepared:" in x for x in lines) and any("simulate: 100 %" in x for x in lines)
    assert any("write:" in x for x in lines)


def test_diff_of_two_runs_lists_the_changed_key_and_metrics(tmp_path: Path, capsys) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    base = ["run", "default", "--set", "run.time_steps=2", "--set", "output.plots=false"]
    assert main([*base, "--out", str(a)]) == 0
    assert main([*base, "--set", "noc.flit_bits=128", "--out", str(b)]) == 0
    capsys.readouterr()
    assert main(["diff", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "noc.flit_bits  256  ->  128" in out and "noc.flits" in out
    d = elsa_tlm.api.diff(a, b)
    assert d.config == [("noc.flit_bits", 256, 128)]
    flits = next(m for m in d.metrics if m[0] == "noc.flits")
    assert flits[2] > flits[1] and flits[3] == flits[2] - flits[1]
    assert main(["diff", str(a), str(b), "--format", "csv", "--changed"]) == 0
    assert capsys.readouterr().out.startswith(
        "kind,key,a,b,change,relative_change\nconfig,noc.flit_bits,256,128"
    )
    assert main(["diff", str(a), str(tmp_path)]) == 2
    _one_error(capsys, "config.resolved.toml")


def test_plot_draws_any_sweep_and_refuses_what_it_cannot(tmp_path: Path, capsys) -> None:
    sw = tmp_path / "two.toml"
    sw.write_text('version = 1\nname = "two"\nset = ["run.time_steps=2", "output.plots=false"]\n'
                  '[axes]\n"noc.flit_bits" = [128, 256]\n')  # fmt: skip
    out = tmp_path / "sw"
    assert main(["sweep", str(sw), "--out", str(out), "--workers", "1"]) == 0
    capsys.readouterr()
    assert main(["plot", str(out), "--x", "noc.flit_bits", "--y", "latency_cycles"]) == 0
    png = out / "plot_latency_cycles_vs_noc.flit_bits.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["plot", str(out), "--x", "noc.nope", "--y", "latency_cycles"]) == 2
    _one_error(capsys, "not a column")
    assert main(["plot", str(out), "--x", "noc.flit_bits", "--y", "status"]) == 2
    _one_error(capsys, "numeric")


def test_the_readme_ring_example_runs_as_written(capsys) -> None:
    assert (
        main(["validate", "default", "--set", 'noc.topology="ring:36"', "--set", "noc.routing=shortest"]) == 0
    )
    capsys.readouterr()
    assert main(["validate", "default", "--set", 'noc.topology="ring:36"']) == 2
    _one_error(capsys, 'noc.routing = "shortest"')


# ------------------------------------------------------------------------ every public function's arguments
NAN = float("nan")
# per public function: a type-valid value for each argument (the bad one is swapped in) and each argument's
# kind, which decides the bad values tried
_CFG = load_config()
PUBLIC_ARGS: dict[str, dict[str, tuple[str, object]]] = {
    "run": {"scenario": ("scenario", None), "overrides": ("strs", ()), "progress": ("func", None),
            "plan": ("plan", None), "extend": ("func", None)},
    "load_config": {"scenario": ("scenario", None), "overrides": ("strs", ())},
    "configure": {"cfg": ("config", _CFG), "overrides": ("strs", ())},
    "check": {"scenario": ("scenario", None), "overrides": ("strs", ())},
    "sweep": {"sweep_file": ("path", "s.toml"), "out": ("path", "o"), "overrides": ("strs", ()),
              "axes": ("strs", ()), "workers": ("workers", 2), "executor": ("executor", None),
              "infeasible": ("infeasible", None), "log": ("func", None)},
    "diff": {"run_a": ("path", "a"), "run_b": ("path", "b")},
    "plot": {"sweep_dir": ("path", "d"), "x": ("text", "x"), "y": ("text", "y"), "hue": ("opt_text", None),
             "out": ("opt_path", None)},
    "compare": {"runs": ("paths", ["r"]), "out": ("path", "o")},
    "save": {"result": ("result", None), "folder": ("path", "f")},
    "replace_section": {"cfg": ("config", _CFG), "section": ("section", "noc")},
}  # fmt: skip
BAD = {
    "path": [None, 42, NAN, -1, b"bytes", ["a"], ""],
    "opt_path": [42, NAN, -1, ["a"], ""],
    "paths": [None, 42, "one/folder", [], [42], [None]],
    "text": [None, 42, NAN, -1, ["x"], ""],
    "opt_text": [42, NAN, -1, ["x"]],
    "strs": [42, NAN, -1, "run.time_steps=2", [2], [None]],
    "scenario": [42, NAN, -1, ["a.toml"]],
    "config": [None, 42, NAN, "path.toml"],
    "func": [42, NAN, "print"],
    "plan": [42, NAN, "plan"],
    "workers": [None, NAN, -1, 0, 10**6, "2", True, 2.5],
    "executor": [42, NAN, "dask"],
    "infeasible": [42, NAN, "maybe"],
    "result": [None, 42, NAN, "result"],
    "section": [None, 42, NAN, "nonsense"],
}


def _public_cases() -> list[tuple[str, str, object]]:
    return [
        (f, a, bad) for f, args in PUBLIC_ARGS.items() for a, (kind, _) in args.items() for bad in BAD[kind]
    ]


def test_every_public_function_is_covered() -> None:
    import inspect

    from elsa_tlm import api

    funcs = {n for n in api.__all__ if inspect.isfunction(getattr(api, n))}
    assert funcs == set(PUBLIC_ARGS)
    for name in funcs:  # every argument (not **values) has a kind
        params = inspect.signature(getattr(api, name)).parameters
        assert {p for p, v in params.items() if v.kind is not v.VAR_KEYWORD} == set(PUBLIC_ARGS[name]), name


@pytest.fixture(scope="module")
def a_result():
    return elsa_tlm.run(None, ["run.time_steps=1", "output.plots=false", "run.mode=lt"])


@pytest.mark.parametrize(("func", "arg", "bad"), _public_cases(), ids=repr)
def test_a_wrong_argument_is_a_config_error_naming_it(
    func: str, arg: str, bad: object, a_result, tmp_path
) -> None:
    from elsa_tlm import api

    kwargs = {a: v for a, (_k, v) in PUBLIC_ARGS[func].items()}
    if func == "save":
        kwargs["result"] = a_result
    kwargs = {a: (tmp_path / v if isinstance(v, str) and PUBLIC_ARGS[func][a][0] == "path" else v)
              for a, v in kwargs.items()}  # fmt: skip
    kwargs[arg] = bad
    with pytest.raises(ConfigError) as ei:
        getattr(api, func)(**kwargs)
    assert ei.value.key == arg, str(ei.value)
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.parametrize("bad", [None, 42, NAN, "", ["x"]])
def test_result_save_checks_its_arguments(bad: object, a_result, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as ei:
        a_result.save(bad)
    assert ei.value.key == "folder"
    with pytest.raises(ConfigError) as ei:
        a_result.save(tmp_path / "r", copy_plots_to=42 if bad is None else bad)
    assert ei.value.key == "copy_plots_to"
    assert list(tmp_path.iterdir()) == []
