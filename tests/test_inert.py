"""Settings that take no effect are said (summary.json ``warnings``, the CLI's stderr, sweep.json), not silent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from elsa_tlm.cli import main
from elsa_tlm.config import inert_settings, load_config, shipped_scenarios
from elsa_tlm.studies.sweep import load_sweep, plan, run_sweep

ROOT = Path(__file__).resolve().parents[1]


def _cfg(*overrides: str):
    return load_config(None, list(overrides))


def test_defaults_and_every_shipped_scenario_have_no_inert_setting() -> None:
    assert inert_settings(_cfg(), transformer=False) == []
    for name, path in shipped_scenarios().items():
        assert inert_settings(load_config(path)) == [], name


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["run.mode=lt", "noc.router=vc"], "noc.router"),
        (["run.mode=lt", "noc.virtual_channels=2"], "noc.virtual_channels"),
        (["run.mode=lt", "noc.deadlock_timeout_cycles=500"], "noc.deadlock_timeout_cycles"),
        (["run.mode=lt", "run.batch_items=4"], "run.batch_items"),
        (["run.lt_batch_items=8"], "run.lt_batch_items"),
        (["run.lt_backpressure=true"], "run.lt_backpressure"),
        (['run.mode="analytic"', "run.lt_backpressure=true"], "run.lt_backpressure"),
        (["noc.virtual_channels=2"], "noc.virtual_channels"),
        (["noc.vc_buffer_flits=4"], "noc.vc_buffer_flits"),
        (["memory.edram_retention_us=3"], "memory.edram_retention_us"),
        (["workload.samples=3"], "workload.samples"),
        (["workload.classifier_density=0.5"], "workload.classifier_density"),
    ],
)
def test_an_inert_key_is_named_with_its_value_and_why(overrides: list[str], key: str) -> None:
    lines = inert_settings(_cfg(*overrides))
    assert len(lines) == 1 and lines[0].startswith(f"{key} = ") and "has no effect: " in lines[0]


@pytest.mark.parametrize(
    "overrides",
    [
        ["noc.router=vc", "noc.virtual_channels=2", "noc.vc_buffer_flits=4"],  # the vc router reads them
        ["run.mode=lt", "run.lt_batch_items=8"],
        ["run.mode=lt", "run.lt_backpressure=true"],
        ["run.batch_items=4", "noc.deadlock_timeout_cycles=500"],
        ["memory.technology=edram", "memory.edram_retention_us=3"],
        ["workload.model=resnet18", "workload.classifier_density=0.5"],
        ["workload.model=digits", "workload.activity=functional", "workload.samples=3"],
    ],
)
def test_keys_that_take_effect_are_not_reported(overrides: list[str]) -> None:
    assert inert_settings(_cfg(*overrides), transformer=False) == []


def test_step_profile_needs_the_workload_to_judge() -> None:
    cfg = _cfg("workload.step_profile=uniform")
    assert inert_settings(cfg) == []  # unknown whether the model is a transformer: no claim
    assert inert_settings(cfg, transformer=True) == []
    assert inert_settings(cfg, transformer=False)[0].startswith('workload.step_profile = "uniform"')


def test_run_says_it_on_stderr_and_in_summary(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    args = ["run", str(ROOT / "scenarios" / "default.toml"), "--out", str(out)]
    sets = ["run.time_steps=2", "output.plots=false", "run.mode=lt", "noc.router=vc"]
    assert main(args + [x for s in sets for x in ("--set", s)]) == 0
    err = capsys.readouterr().err
    assert 'warning: noc.router = "vc" has no effect: run.mode = "lt"' in err
    s = json.loads((out / "summary.json").read_text())
    assert s["noc"]["router"] == "zero_load"
    assert s["warnings"] == [line.removeprefix("warning: ") for line in err.splitlines() if "warning" in line]


def test_summary_names_the_router_that_timed_the_run(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    args = ["run", str(ROOT / "scenarios" / "default.toml"), "--out", str(out)]
    sets = ["run.time_steps=2", "output.plots=false", "noc.router=vc"]
    assert main(args + [x for s in sets for x in ("--set", s)]) == 0
    assert "warning" not in capsys.readouterr().err
    s = json.loads((out / "summary.json").read_text())
    assert s["noc"]["router"] == "vc" and s["warnings"] == []


def test_sweep_says_each_inert_setting_once_with_its_points(tmp_path: Path) -> None:
    text = (
        f'version = 1\nbase = "{ROOT / "scenarios" / "default.toml"}"\n'
        'set = ["run.time_steps=2", "output.plots=false"]\n'
        '[axes]\n"run.mode" = ["at", "lt"]\n"noc.router" = ["fast", "vc"]\n'
    )
    (tmp_path / "sw.toml").write_text(text)
    sweep = load_sweep(tmp_path / "sw.toml")
    points = plan(sweep)
    logged: list[str] = []
    run_sweep(sweep, tmp_path / "out", workers=1, log=logged.append)
    meta = json.loads((tmp_path / "out" / "sweep.json").read_text())
    lt_vc = [p.hash for p in points if p.values == {"run.mode": "lt", "noc.router": "vc"}]
    assert [w["points"] for w in meta["warnings"]] == [lt_vc]
    assert [line for line in logged if line.startswith("warning:")] == [
        f"warning: 1 of 4 points: {meta['warnings'][0]['message']}"
    ]
    from elsa_tlm.figures.report import build_report

    assert "(1 of 4 points)" in build_report(tmp_path / "out")


def test_diff_says_which_run_had_settings_without_effect(tmp_path: Path, capsys) -> None:
    from elsa_tlm.results.diff import diff_runs, render

    base = ["run", str(ROOT / "scenarios" / "default.toml"), "--set", "run.time_steps=2"]
    base += ["--set", "output.plots=false", "--set", "run.mode=lt"]
    assert main([*base, "--out", str(tmp_path / "a")]) == 0
    assert main([*base, "--out", str(tmp_path / "b"), "--set", "noc.router=vc"]) == 0
    d = diff_runs(tmp_path / "a", tmp_path / "b")
    assert [side for side, _ in d.warnings] == ["B"] and d.warnings[0][1].startswith('noc.router = "vc"')
    changed = [m[0] for m in d.changed() if not m[0].startswith("sim.")]  # sim: wall time and memory
    assert changed == []  # the router key changed nothing in lt: the diff shows it, the warning says why
    for fmt in ("text", "md", "csv"):
        assert "has no effect" in render(d, fmt)
    from elsa_tlm.figures.report import build_report

    assert 'class="warned"' not in build_report(tmp_path / "a")
    page = build_report(tmp_path / "b")
    assert 'class="warned"' in page and "1 setting took no effect" in page and "zero_load" in page


def test_noc_subcommand_says_vc_keys_the_fast_router_ignores(tmp_path: Path, capsys) -> None:
    common = ["--rate", "0.05", "--cycles", "300", "--warmup", "50", "--set", "noc.virtual_channels=2"]
    assert main(["noc", "--router", "fast", *common, "--out", str(tmp_path / "f")]) == 0
    assert 'warning: noc.virtual_channels = 2 has no effect: noc.router = "fast"' in capsys.readouterr().err
    assert json.loads((tmp_path / "f" / "noc.json").read_text())["warnings"][0].startswith(
        "noc.virtual_channels"
    )
    assert main(["noc", "--router", "vc", *common, "--out", str(tmp_path / "v")]) == 0
    assert "warning" not in capsys.readouterr().err
    assert json.loads((tmp_path / "v" / "noc.json").read_text())["warnings"] == []


def test_api_check_knows_the_warnings_before_the_run() -> None:
    from elsa_tlm import api

    plan = api.check(
        _cfg("run.time_steps=2", "run.mode=lt", "noc.router=vc", "workload.step_profile=uniform")
    )
    assert [w.split(" = ")[0] for w in plan.warnings] == ["noc.router", "workload.step_profile"]
