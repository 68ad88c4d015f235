"""elsa-tlm explore: the spec's validation, the Pareto filter, exhaustive and sampled searches, constraints,
failed designs, determinism, resume, the recheck and the files written (tiny VGG16 designs in lt mode)."""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from elsa_tlm import fileio
from elsa_tlm.cli import main
from elsa_tlm.config import from_dict
from elsa_tlm.errors import ConfigError
from elsa_tlm.studies.explore import DEFAULT_MODE, load_explore, pareto_mask, with_mode

SET = '["workload.model=\\"vgg16_cifar10\\"", "run.time_steps=2", "output.plots=false"]'
AXES = '"noc.flit_bits" = [128, 256]\n"memory.technology" = ["sram", "edram"]\n"pe.neuron_circuits" = [64, 128]\n'
EXPLORE = (
    'objectives = ["latency_ms", "energy_j", "area_mm2"]\nconstraints = ["area_mm2 <= 60"]\n'
    'mode = "lt"\nseed = 7\nbatch = 2\n'
)


def _spec(tmp_path: Path, trials: int, extra: str = "", axes: str = AXES, explore: str = EXPLORE) -> Path:
    path = tmp_path / f"spec{trials}{abs(hash(extra + axes + explore))}.toml"
    path.write_text(f"version = 1\nset = {SET}\n[axes]\n{axes}[explore]\n{explore}trials = {trials}\n{extra}")
    return path


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def _explore(spec: Path, out: Path, *args: str) -> dict:
    assert main(["explore", str(spec), "--out", str(out), "--workers", "1", *args]) == 0
    return json.loads((out / "explore.json").read_text())


def _brute_front(points: list[list[float]], maximise: list[bool]) -> list[bool]:
    sign = np.where(maximise, -1.0, 1.0)
    p = [np.asarray(v, float) * sign for v in points]
    return [not any(np.all(q <= a) and np.any(q < a) for q in p) for a in p]


# ------------------------------------------------------------------------------------------ Pareto filter
def test_pareto_mask_matches_brute_force_with_ties_and_maxima() -> None:
    rng = np.random.default_rng(3)
    for trial in range(60):
        n, k = int(rng.integers(1, 40)), int(rng.integers(1, 4))
        values = rng.integers(0, 4, size=(n, k)).astype(float)  # few levels: many ties and duplicates
        maximise = list(rng.random(k) < 0.5)
        assert list(pareto_mask(values, maximise)) == _brute_front(values.tolist(), maximise), trial
    # equal rows do not dominate each other; a row equal in one objective and worse in another is dominated
    assert list(pareto_mask([[1, 2], [1, 2], [1, 3], [0, 5]])) == [True, True, False, True]
    assert list(pareto_mask([[1, 2], [1, 3]], [False, True])) == [False, True]
    assert pareto_mask(np.zeros((0, 2))).shape == (0,)


# -------------------------------------------------------------------------------------------- validation
def _bad(tmp_path: Path, **parts: str) -> Path:
    return _spec(tmp_path, int(parts.pop("trials", "4")), **parts)


BAD = [
    ({"explore": EXPLORE.replace("energy_j", "energy_joules")}, "explore.objectives", "energy_j"),
    ({"explore": EXPLORE.replace('"area_mm2 <= 60"', '"area_mm2 =< 60"')}, "explore.constraints", "FIELD OP"),
    ({"explore": EXPLORE.replace('"area_mm2 <= 60"', '"area <= 60"')}, "explore.constraints", "numeric"),
    ({"extra": 'recheck = "cycle"\n'}, "explore.recheck", "at, lt, none"),
    ({"extra": 'recheck = "lt"\n'}, "explore.recheck", "differ"),
    ({"trials": "0"}, "explore.trials", "integer"),
    ({"axes": AXES + '"noc.flits" = [64]\n'}, "axes", "valid keys of [noc]"),
    ({"axes": AXES + '"run.mode" = ["at"]\n'}, "axes.run.mode", "[explore] mode"),
    ({"axes": '"noc.flit_bits" = [128, 128]\n'}, "axes.noc.flit_bits", "distinct"),
    ({"axes": '"noc.flit_bits" = [7]\n'}, "noc.flit_bits", "sweep point 0"),
    ({"extra": "bogus = 1\n"}, "explore.bogus", "valid keys"),
    ({"extra": 'sampler = "cmaes"\n'}, "explore.sampler", "nsga2, tpe"),
    ({"extra": 'sampler = "tpe"\npopulation = 10\n'}, "explore.population", "NSGA-II"),
    ({"explore": EXPLORE.replace('"latency_ms"', '"max:sim.wall_s"')}, "explore.objectives", "numeric"),
    (
        {"explore": EXPLORE.replace('"area_mm2"]', '"area_mm2", "min:area_mm2"]')},
        "explore.objectives",
        "twice",
    ),
    ({"explore": EXPLORE.replace('mode = "lt"', 'mode = "rtl"')}, "explore.mode", "must be one of"),
    ({"extra": 'refine = "rtl"\n'}, "explore.refine", "none, lt_bp, lt, at"),
    ({"extra": 'refine = "lt"\n'}, "explore.refine", "differ"),
    ({"extra": "refine_ranks = 2\n"}, "explore.refine_ranks", "set refine too"),
    ({"extra": 'refine = "at"\nrefine_ranks = 0\n'}, "explore.refine_ranks", "integer from 1"),
]


@pytest.mark.parametrize(("parts", "key", "needle"), BAD, ids=[b[1] + ":" + b[2] for b in BAD])
def test_a_bad_spec_is_one_line_exit_2_and_nothing_written(
    tmp_path: Path, capsys, parts: dict, key: str, needle: str
) -> None:
    spec = _bad(tmp_path, **parts)
    out = tmp_path / "out"
    assert main(["explore", str(spec), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {key}") and needle in err[0], err
    assert not out.exists()


def test_a_spec_without_explore_table_or_with_points_is_refused(tmp_path: Path, capsys) -> None:
    plain = tmp_path / "plain.toml"
    plain.write_text(f"version = 1\nset = {SET}\n[axes]\n{AXES}")
    assert main(["explore", str(plain), "--out", str(tmp_path / "o")]) == 2
    assert "[explore] table" in capsys.readouterr().err
    pts = _spec(tmp_path, 4, extra='[[points]]\n"noc.flit_bits" = 64\n')
    with pytest.raises(ConfigError, match="explore.objectives|points"):
        load_explore(pts)
    assert main(["explore", str(_spec(tmp_path, 4)), "--seed", "-1", "--out", str(tmp_path / "o")]) == 2
    assert "--seed" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_the_default_mode_is_analytic_and_the_config_decides_if_it_runs(tmp_path: Path) -> None:
    assert DEFAULT_MODE == "analytic"
    spec = _spec(tmp_path, 4, explore=EXPLORE.replace('mode = "lt"\n', ""))
    try:
        from_dict({"version": 1, "run": {"mode": "analytic"}})
    except ConfigError as exc:  # analytic mode not there yet: the config's own rule, under explore.mode
        with pytest.raises(ConfigError, match="explore.mode") as got:
            load_explore(spec)
        assert exc.rule in str(got.value)
    else:
        assert load_explore(spec).mode == "analytic"


def test_an_analytic_screening_is_rechecked_in_at_unless_the_spec_says_otherwise(tmp_path: Path) -> None:
    analytic = EXPLORE.replace('mode = "lt"\n', 'mode = "analytic"\n')
    assert load_explore(_spec(tmp_path, 4, explore=analytic)).recheck == "at"
    assert load_explore(_spec(tmp_path, 4, 'recheck = "none"\n', explore=analytic)).recheck == "none"
    assert load_explore(_spec(tmp_path, 4)).recheck == "none"  # an lt screening: its own mode's numbers


# ---------------------------------------------------------------------------------------------- searches
@pytest.fixture(scope="module")
def grid_run(tmp_path_factory) -> tuple[Path, dict]:
    """Every one of the 8 designs once (trials >= grid), rechecked in at."""
    tmp = tmp_path_factory.mktemp("grid")
    out = tmp / "out"
    return out, _explore(_spec(tmp, 20, 'recheck = "at"\n'), out)


def test_trials_at_least_the_grid_run_every_design_once_in_grid_order(grid_run) -> None:
    out, res = grid_run
    rows = _csv(out / "trials.csv")
    assert res["spec"]["method"] == "exhaustive" and res["counts"]["trials"] == 8 == len(rows)
    combos = list(itertools.product(["128", "256"], ["sram", "edram"], ["64", "128"]))
    assert [(r["noc.flit_bits"], r["memory.technology"], r["pe.neuron_circuits"]) for r in rows] == combos
    assert [r["trial"] for r in rows] == [str(i) for i in range(8)] and len({r["point"] for r in rows}) == 8
    assert res["counts"]["simulated"] == 8 and res["counts"]["ok"] + res["counts"]["infeasible"] == 8


def test_constraints_mark_infeasible_and_the_front_is_the_non_dominated_feasible_designs(grid_run) -> None:
    out, res = grid_run
    rows = _csv(out / "trials.csv")
    for r in rows:
        area = float(r["area_mm2"])
        assert (r["status"] == "infeasible") == (area > 60), r
        assert (r["reason"] != "") == (area > 60)
    assert {r["memory.technology"] for r in rows if r["status"] == "ok"} == {
        "edram"
    }  # SRAM chips are > 60 mm²
    objs = ["latency_ms", "energy_j", "area_mm2"]
    ok = [r for r in rows if r["status"] == "ok"]
    mask = _brute_front([[float(r[f]) for f in objs] for r in ok], [False] * 3)
    expected = {r["trial"] for r, m in zip(ok, mask, strict=True) if m}
    front = _csv(out / "pareto.csv")
    assert {r["trial"] for r in front} == expected and expected
    assert res["counts"]["front"] == len(front) == len(res["front"])


def test_the_recheck_writes_both_values_and_their_error(grid_run) -> None:
    out, res = grid_run
    for r in _csv(out / "pareto.csv"):
        assert r["recheck_status"] == "ok" and (out / r["recheck_dir"] / "summary.json").is_file()
        at = json.loads((out / r["recheck_dir"] / "summary.json").read_text())
        assert at["sim"]["mode"] == "at"
        for f in ("latency_ms", "energy_j", "area_mm2"):
            ref = float(r[f"{f}_at"])
            assert ref == pytest.approx(at[f], rel=1e-11)
            assert float(r[f"{f}_err"]) == pytest.approx((float(r[f]) - ref) / ref, rel=1e-9, abs=1e-15)
    errs = res["recheck"]["errors"]
    assert res["recheck"]["mode"] == "at" and errs["area_mm2"]["max_abs"] == 0
    assert 0 < errs["latency_ms"]["max_abs"] < 0.5  # lt against at: close, not equal
    assert fileio.is_own_figure(out / "pareto.png")
    marker = fileio.read_marker(out)
    assert marker["kind"] == "explore"
    assert {"trials.csv", "pareto.csv", "pareto.png", "explore.json", "explore.db"} <= set(marker["entries"])


def test_a_sampled_search_is_deterministic_resumable_and_extendable(tmp_path: Path) -> None:
    full = tmp_path / "full"
    res = _explore(_spec(tmp_path, 5), full)
    assert res["spec"]["method"] == "nsga2" and res["counts"]["trials"] == 5
    ref = (full / "trials.csv").read_bytes()
    # the same spec and seed: the same bytes, on one worker or two
    assert main(["explore", str(_spec(tmp_path, 5)), "--out", str(tmp_path / "two"), "--workers", "2"]) == 0
    assert (tmp_path / "two" / "trials.csv").read_bytes() == ref
    # three trials, then five on the same folder: only the missing trials run, the same trials.csv
    part = tmp_path / "part"
    _explore(_spec(tmp_path, 3), part)
    again = _explore(_spec(tmp_path, 5), part)
    assert again["counts"]["resumed"] == 3 and again["counts"]["simulated"] <= 2
    assert (part / "trials.csv").read_bytes() == ref
    # the same command again: nothing simulated, nothing changed
    assert _explore(_spec(tmp_path, 5), part)["counts"]["simulated"] == 0
    assert (part / "trials.csv").read_bytes() == ref
    # another seed gives other trials (and is refused on this folder)
    other = _explore(_spec(tmp_path, 5), tmp_path / "seed8", "--seed", "8")
    assert other["seed"] == 8 and (tmp_path / "seed8" / "trials.csv").read_bytes() != ref


def test_another_spec_on_the_folder_is_refused_and_nothing_changes(tmp_path: Path, capsys) -> None:
    out = tmp_path / "o"
    _explore(_spec(tmp_path, 3), out)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    capsys.readouterr()
    for args in (
        [str(_spec(tmp_path, 3, explore=EXPLORE.replace('"energy_j", ', "")))],
        [str(_spec(tmp_path, 3)), "--seed", "9"],
        [str(_spec(tmp_path, 3)), "--set", "run.time_steps=3"],
    ):
        assert main(["explore", *args, "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "another spec" in err[0], err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_failed_designs_are_trials_with_their_reason(tmp_path: Path) -> None:
    axes = '"noc.topology" = ["mesh:2x2", "mesh:6x6"]\n"noc.flit_bits" = [128, 256]\n'
    explore = 'objectives = ["latency_ms", "max:tops_per_w"]\nmode = "lt"\n'
    out = tmp_path / "o"
    res = _explore(_spec(tmp_path, 4, axes=axes, explore=explore), out)
    rows = _csv(out / "trials.csv")
    failed = [r for r in rows if r["status"] == "failed"]
    assert {r["noc.topology"] for r in failed} == {"mesh:2x2"} and len(failed) == 2
    assert all(r["reason"] and "\n" not in r["reason"] and r["latency_ms"] == "" for r in failed)
    assert res["counts"]["failed"] == 2 and res["counts"]["ok"] == 2
    ok = [r for r in rows if r["status"] == "ok"]
    mask = _brute_front([[float(r["latency_ms"]), float(r["tops_per_w"])] for r in ok], [False, True])
    front = _csv(out / "pareto.csv")
    assert {r["trial"] for r in front} == {r["trial"] for r, m in zip(ok, mask, strict=True) if m}


def test_recheck_on_a_finished_folder_runs_only_the_front(tmp_path: Path, capsys) -> None:
    out = tmp_path / "o"
    spec = _spec(tmp_path, 3)
    first = _explore(spec, out)
    assert first["recheck"] is None and "latency_ms_at" not in _csv(out / "pareto.csv")[0]
    trials = (out / "trials.csv").read_bytes()
    again = _explore(spec, out, "--recheck", "at")
    assert again["counts"]["simulated"] == 0 and again["counts"]["rechecked"] == first["counts"]["front"]
    assert (out / "trials.csv").read_bytes() == trials
    assert all(r["recheck_status"] == "ok" for r in _csv(out / "pareto.csv"))
    assert main(["explore", str(spec), "--out", str(out), "--recheck", "lt"]) == 2  # the screening mode
    assert "--recheck" in capsys.readouterr().err


def test_analytic_designs_sharing_a_plan_run_as_one_task_with_their_own_results(tmp_path: Path) -> None:
    from elsa_tlm import sim
    from elsa_tlm.studies import explore

    try:
        from_dict({"version": 1, "run": {"mode": "analytic"}})
    except ConfigError:
        pytest.skip("run.mode = analytic not there")
    axes = '"chip.clock_mhz" = [200, 400]\n"schedule.policy" = ["spine", "tbt"]\n'
    spec_path = _spec(tmp_path, 4, axes=axes, explore=EXPLORE.replace('mode = "lt"', 'mode = "analytic"'))
    spec = load_explore(spec_path)
    assert explore._groups(spec, [p.config for p in spec.points]) == [[0, 1, 2, 3]]  # timing and pricing only
    _explore(spec_path, tmp_path / "o")
    for row, p in zip(_csv(tmp_path / "o" / "trials.csv"), spec.points, strict=True):
        alone = sim.run(p.config).summary
        assert float(row["latency_ms"]) == pytest.approx(alone["latency_ms"], rel=1e-11)
        assert float(row["energy_j"]) == pytest.approx(alone["energy_j"], rel=1e-11)


def test_on_a_dask_cluster_the_same_trials(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    from elsa_tlm.studies.explore import run_explore

    spec = load_explore(_spec(tmp_path, 5))
    ref = run_explore(spec, tmp_path / "ref")
    with distributed.Client(processes=False, dashboard_address=None) as client:
        res = run_explore(spec, tmp_path / "dask", client.get_executor())
    assert res["counts"] == ref["counts"]
    assert (tmp_path / "dask" / "trials.csv").read_bytes() == (tmp_path / "ref" / "trials.csv").read_bytes()


# ------------------------------------------------------------------------------------------ shipped specs
SHIPPED = sorted((Path(__file__).resolve().parents[1] / "scenarios" / "explore").glob("*.toml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_specs_run_reduced(path: Path, tmp_path: Path) -> None:
    """Each shipped spec (a make target) loads, and a reduced search of it runs: three trials at T = 1."""
    text = path.read_text()
    text = text.replace(
        'base = "../default.toml"', f"base = {json.dumps(str(path.parent.parent / 'default.toml'))}"
    )
    small = tmp_path / path.name
    small.write_text("\n".join("trials = 3" if x.startswith("trials =") else x for x in text.splitlines()))
    got = _explore(small, tmp_path / "out", "--set", "run.time_steps=1")
    assert got["spec"]["grid"] == len(load_explore(path).points)
    assert len(_csv(tmp_path / "out" / "trials.csv")) == 3


def test_the_ten_thousand_design_spec_is_what_it_says() -> None:
    """scenarios/explore/resnet50_10k.toml: 9,720 designs, each once, a new plan every six designs (1,620 plans),
    the mix make bench's 10^4-design estimate assumes."""
    from elsa_tlm.analytic import plan_key

    spec = load_explore(Path(__file__).resolve().parents[1] / "scenarios" / "explore" / "resnet50_10k.toml")
    assert len(spec.points) == 9720 and spec.exhaustive and spec.mode == "analytic"
    assert len({plan_key(p.config) for p in spec.points}) == 1620


def test_an_unchecked_analytic_front_says_so(tmp_path: Path, capsys) -> None:
    """A front screened in the closed form and not re-run carries its caveat on stderr; a re-run one does not
    need it."""
    analytic = EXPLORE.replace('mode = "lt"\n', 'mode = "analytic"\n')
    _explore(_spec(tmp_path, 2, 'recheck = "none"\n', explore=analytic), tmp_path / "a")
    assert "note: the front is the closed form's" in capsys.readouterr().err
    _explore(_spec(tmp_path, 2, explore=EXPLORE), tmp_path / "b")  # lt screening: its own mode's numbers
    assert "note: the front is the closed form's" not in capsys.readouterr().err


# ------------------------------------------------------------------------------------------- refinement
@pytest.fixture(scope="module")
def refined_run(tmp_path_factory) -> tuple[Path, dict]:
    """The 8 designs screened in lt, the best rank refined in at and the front taken from those runs."""
    tmp = tmp_path_factory.mktemp("refine")
    out = tmp / "out"
    return out, _explore(_spec(tmp, 20, 'refine = "at"\nrefine_ranks = 1\n'), out)


def test_the_front_is_the_refined_runs_non_dominated_designs(refined_run) -> None:
    """refine re-runs the screening's best ranks in the finer mode; the front is the non-dominated feasible
    designs among them by their refined values, each refined value is its run's summary, the screened one is
    trials.csv's, and explore.json says how far the screening was."""
    out, res = refined_run
    trials = {r["point"]: r for r in _csv(out / "trials.csv")}
    ok = [r for r in trials.values() if r["status"] == "ok"]
    objs = ["latency_ms", "energy_j", "area_mm2"]
    mask = _brute_front([[float(r[f]) for f in objs] for r in ok], [False] * 3)
    best = {r["point"] for r, m in zip(ok, mask, strict=True) if m}  # rank 1 of the screening
    front = _csv(out / "pareto.csv")
    assert front and {r["point"] for r in front} <= best
    refined = {}
    for r in front:
        run = json.loads((out / r["refine_dir"] / "summary.json").read_text())
        assert run["sim"]["mode"] == "at"
        for f in objs:
            assert float(r[f]) == pytest.approx(run[f], rel=1e-11)
            assert float(r[f"{f}_screened"]) == float(trials[r["point"]][f])
        refined[r["point"]] = [float(r[f]) for f in objs]
    # no refined design of the best rank dominates a front design by its refined values
    runs = {}
    for d in (out / "refine").iterdir():
        s = json.loads((d / "summary.json").read_text())
        runs[d.name] = [s[f] for f in objs] if s["area_mm2"] <= 60 else None
    for v in refined.values():
        assert not any(
            w is not None and all(a <= b for a, b in zip(w, v, strict=True)) and w != v for w in runs.values()
        )
    assert len(runs) == len(best) == res["refine"]["designs"] == res["counts"]["refined"]
    assert res["refine"]["mode"] == "at" and res["refine"]["ranks"] == 1 and res["refine"]["failed"] == 0
    assert res["refine"]["screening_errors"]["area_mm2"]["max_abs"] == 0
    assert 0 < res["refine"]["screening_errors"]["latency_ms"]["max_abs"] < 0.5  # lt against at


def test_a_rerun_reuses_the_refined_runs(refined_run, capsys) -> None:
    out, res = refined_run
    spec = next(p for p in out.parent.iterdir() if p.suffix == ".toml")
    again = _explore(spec, out)
    assert again["counts"]["refined"] == 0 and again["counts"]["simulated"] == 0
    assert again["front"] == res["front"] and again["refine"] == res["refine"]


def test_refine_lt_bp_is_lt_with_back_pressure(tmp_path: Path) -> None:
    """lt_bp, the closed form's fallback (docs/MODEL.md §6), is lt with its buffers as timing constraints."""
    spec = load_explore(
        _spec(tmp_path, 4, 'refine = "lt_bp"\n', explore=EXPLORE.replace('"lt"', '"analytic"'))
    )
    assert spec.refine == "lt_bp" and spec.refine_ranks == 2
    cfg = with_mode(spec.points[0].config, "lt_bp")
    assert cfg.run.mode == "lt" and cfg.run.lt_backpressure is True
    assert with_mode(spec.points[0].config, "at").run.lt_backpressure is False


def test_a_recheck_in_the_refinements_mode_reuses_its_runs(refined_run) -> None:
    """Refined in at, the front's values are at's already: a recheck in at runs nothing and reads those runs."""
    out, res = refined_run
    spec = next(p for p in out.parent.iterdir() if p.suffix == ".toml")
    again = _explore(spec, out, "--recheck", "at")
    assert again["counts"]["rechecked"] == 0 and again["counts"]["refined"] == 0
    assert all(e["max_abs"] == 0 for e in again["recheck"]["errors"].values())
    assert all(r["recheck_dir"] == r["refine_dir"] for r in _csv(out / "pareto.csv"))


def test_plans_that_share_their_spikes_are_handed_out_together(monkeypatch) -> None:
    """An activity-seed axis that varies fastest would give each plan of a batch new spikes: within a window of
    plans the tasks come out by spikes (the workload, steps and seed), then by plan, each design in one task,
    six at most; a plan never moves past its window."""
    from types import SimpleNamespace

    from elsa_tlm.analytic import inputs_key, plan_key
    from elsa_tlm.config import load_config
    from elsa_tlm.studies import explore

    configs = [
        load_config(None, [f"noc.flit_bits={f}", f'schedule.policy="{p}"', f"run.seed={s}"])
        for f in (64, 128, 256)
        for p in ("spine", "tbt")
        for s in (1, 2)
    ]
    spec = SimpleNamespace(mode="analytic")
    tasks = explore._groups(spec, configs)
    order = [i for t in tasks for i in t]
    assert sorted(order) == list(range(len(configs))) and max(map(len, tasks)) <= explore.GROUP_MAX
    assert [configs[t[0]].run.seed for t in tasks] == [1, 1, 1, 2, 2, 2]  # every seed-1 plan first
    for t in tasks:  # a task is one plan's designs
        assert len({plan_key(configs[i]) for i in t}) == 1 and len({inputs_key(configs[i]) for i in t}) == 1
    monkeypatch.setattr(explore, "PLAN_WINDOW", 4)  # plans 0-3 (seeds 1 2 1 2), then 4-5 (1 2)
    tasks = explore._groups(spec, configs)
    assert [configs[t[0]].run.seed for t in tasks] == [1, 1, 2, 2, 1, 2]
