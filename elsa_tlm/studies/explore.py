"""Multi-objective design-space exploration: ``elsa-tlm explore SPEC.toml --out DIR``.

SPEC is a sweep file (:mod:`elsa_tlm.studies.sweep`: ``base``, ``set``, ``[axes]``; no explicit ``points``)
plus an ``[explore]`` table::

    [explore]
    objectives = ["latency_ms", "energy_j", "area_mm2"]  # numeric summary.json fields, minimised;
                                                         # "max:tops_per_w" maximises; noc.traffic_mb nests
    constraints = ["area_mm2 <= 60"]     # optional: FIELD OP NUMBER, OP one of <= >= < >
    trials = 400                         # designs tried; >= the grid: every grid point once, in grid order
    mode = "analytic"                    # run.mode of the screening runs (default "analytic")
    refine = "lt_bp"                     # optional: re-run the screening's best ranks in "lt_bp" (lt with
    refine_ranks = 2                     # back-pressure), "lt" or "at" and take the front from them
    recheck = "at"                       # re-run the Pareto front in "at" or "lt" and write both, or "none"
                                         # (default: "at" after an analytic screening, else "none")
    seed = 1                             # the sampler's seed (--seed overrides); not run.seed
    sampler = "nsga2"                    # NSGA-II (default) or "tpe" (multivariate TPE, constant liar)
    population = 50                      # optional: NSGA-II's population
    batch = 8                            # optional: trials asked at once (run in parallel, told in order)

Every axis is a categorical parameter over its values. With fewer trials than grid points an Optuna sampler
proposes them; the sampler asks ``batch`` trials, they run on the workers, and their results are told in trial
order, so the trials are a function of the spec and seed alone: the same on 1 or 16 workers, on processes or
Dask (``trials.csv`` byte for byte). A design proposed twice is simulated once.

**Constraints** are told to the sampler (``Trial.set_constraint``: NSGA-II's constrained domination, TPE's
feasibility split) as the violation relative to the bound; a trial that violates one is recorded with status
``infeasible`` and is never on the front. A design the tool refuses (a network that does not fit, a deadlock)
is a trial with status ``failed`` and its reason, told to the sampler as failed.

**Refine.** The closed form leaves back-pressure out (docs/MODEL.md §6b), and its errors differ between designs
enough to reorder a front. With ``refine`` the feasible designs of the screening's first ``refine_ranks``
non-dominated ranks (the front, then the front of the rest...) run again in the finer mode into
``refine/<hash>/``, and the front is the non-dominated feasible designs among them by their refined values
(their constraints checked again); a design outside those ranks cannot reach the front.

**Resume.** ``DIR/explore.db`` (SQLite) holds the spec's identity and every finished trial (its parameters,
state, values and the sampler's attributes). Rerunning on the same DIR rebuilds the sampler's study from it and
runs only the missing trials: a batch cut short is asked again (the same trials: the sampler's seed is
derived from the seed and the batch's first trial number) and its finished trials are not run again. More
``trials`` extend the study, a different spec (designs, objectives, constraints, sampler, seed...) is
refused. The sampler runs on Optuna's in-memory storage and explore.db is written by this module: Optuna's own
RDB storage costs ~40 ms a trial here (16 s of overhead for 400 trials), this one well under 1 ms.

Outputs in DIR: ``trials.csv`` (trial, axis values, objective and constraint fields, status, reason, point),
``pareto.csv`` (the non-dominated feasible designs, with the recheck's values beside the front's and the
relative error; refined: the screening's values as ``<field>_screened``), ``pareto.png``
(:mod:`elsa_tlm.figures.explore`), ``explore.json`` (spec, seed, counts, front, refinement and recheck errors,
wall time), ``refine/<hash>/`` and ``recheck/<hash>/`` (each refined or front design's full run).
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import difflib
import hashlib
import json
import math
import re
import sqlite3
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from elsa_tlm.config import Config, apply_overrides, from_dict, parse_override, read_toml
from elsa_tlm.errors import ConfigError, ElsaError
from elsa_tlm.fileio import (
    FolderLock,
    check_output_folder,
    claim_output_folder,
    guard_write,
    write_bytes_atomic,
    write_csv_atomic,
    write_json_atomic,
)
from elsa_tlm.studies.sweep import (
    Point,
    Sweep,
    _csv_value,
    _describe,
    _finished_row,
    config_hash,
    local_executor,
    parse_sweep,
    plan,
    run_point,
    summary_field,
)

KEYS = (
    "objectives", "constraints", "trials", "mode", "refine", "refine_ranks", "recheck", "seed", "sampler",
    "population", "batch",
)  # fmt: skip
DEFAULT_MODE = "analytic"  # the screening runs' run.mode unless the spec says otherwise
RECHECKS = ("at", "lt", "none")
# refine: the screening's best designs (its first refine_ranks non-dominated ranks) run again in a finer mode, and
# the front is taken from those runs; lt_bp is lt with its buffers as timing constraints (the closed form's
# fallback for back-pressure, docs/MODEL.md §6)
REFINES = ("none", "lt_bp", "lt", "at")
MODE_SETS = {"lt_bp": ['run.mode="lt"', "run.lt_backpressure=true"]}
DEFAULT_REFINE_RANKS = 2
SAMPLERS = ("nsga2", "tpe")
DEFAULT_SEED = 1
DEFAULT_BATCH = 8
DEFAULT_POPULATION = 50
MAX_TRIALS = 1_000_000
DB = "explore.db"
STUDY = "explore"  # the one study an explore.db holds
FORMAT = 1  # explore.db's layout
# summary fields that are not outcomes of a design: the machine's cost of the run, the run's seed
NOT_OBJECTIVES = ("sim", "seed")
CONSTRAINT_RE = re.compile(
    r"^\s*([A-Za-z_][\w.]*)\s*(<=|>=|<|>)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)


@dataclass(frozen=True)
class Objective:
    """A summary field to minimise (or maximise)."""

    field: str
    maximise: bool = False

    @property
    def name(self) -> str:
        return f"max:{self.field}" if self.maximise else self.field


@dataclass(frozen=True)
class Constraint:
    """``field op bound``: a design is feasible when it holds."""

    field: str
    op: str
    bound: float

    @property
    def text(self) -> str:
        return f"{self.field} {self.op} {self.bound:g}"

    def holds(self, value: float) -> bool:
        return {"<=": value <= self.bound, "<": value < self.bound, ">=": value >= self.bound}.get(
            self.op, value > self.bound
        )

    def violation(self, value: float) -> float:
        """What the sampler is told: <= 0 when the constraint holds, else the excess relative to the bound."""
        excess = value - self.bound if self.op in ("<=", "<") else self.bound - value
        excess /= max(abs(self.bound), 1e-300)
        if self.holds(value):
            return min(excess, 0.0)
        return max(excess, math.ulp(0.0))  # a strict bound met exactly is violated, by a hair


@dataclass(frozen=True)
class ExploreSpec:
    """A validated explore spec: the sweep (its fixed overrides end with the mode), its grid, the search."""

    sweep: Sweep
    points: list[Point]
    objectives: tuple[Objective, ...]
    constraints: tuple[Constraint, ...]
    trials: int
    mode: str
    recheck: str
    seed: int
    sampler: str
    population: int
    batch: int
    refine: str = "none"
    refine_ranks: int = DEFAULT_REFINE_RANKS

    @property
    def exhaustive(self) -> bool:
        """Every grid point once, in grid order, no sampler."""
        return self.trials >= len(self.points)

    @property
    def n_trials(self) -> int:
        return min(self.trials, len(self.points))

    @property
    def fields(self) -> list[str]:
        """The summary fields a trial keeps: objectives, then constraint fields."""
        out = [o.field for o in self.objectives]
        return out + [c.field for c in self.constraints if c.field not in out]

    @property
    def method(self) -> str:
        return "exhaustive" if self.exhaustive else self.sampler

    def identity(self) -> dict[str, Any]:
        """What makes two runs the same exploration (``trials``, ``refine`` and ``recheck`` do not: more trials
        extend it, the refinement and the recheck only re-run some of its designs)."""
        designs = hashlib.sha256("\n".join(p.hash for p in self.points).encode()).hexdigest()
        sampled = not self.exhaustive
        return {
            "format": FORMAT,
            "designs": designs,
            "axes": {k: [_csv_value(self.sweep.label(v)) for v in vs] for k, vs in self.sweep.axes.items()},
            "objectives": [o.name for o in self.objectives],
            "constraints": [c.text for c in self.constraints],
            "method": self.method,
            "seed": self.seed if sampled else None,
            "population": self.population if sampled and self.sampler == "nsga2" else None,
            "batch": self.batch if sampled else None,
        }

    def describe(self) -> dict[str, Any]:
        """The spec as explore.json records it."""
        sw = self.sweep
        return {
            "name": sw.name,
            "description": sw.description,
            "source": str(sw.source) if sw.source else None,
            "base": str(sw.base) if sw.base else None,
            "set": list(sw.fixed),
            "axes": {k: [_csv_value(sw.label(v)) for v in vs] for k, vs in sw.axes.items()},
            "grid": len(self.points),
            "objectives": [o.name for o in self.objectives],
            "constraints": [c.text for c in self.constraints],
            "trials": self.trials,
            "mode": self.mode,
            "refine": self.refine,
            "refine_ranks": self.refine_ranks,
            "recheck": self.recheck,
            "seed": self.seed,
            "sampler": self.sampler,
            "population": self.population,
            "batch": self.batch,
            "method": self.method,
        }


# ------------------------------------------------------------------------------------------------- the spec
def _is_numeric(schema: dict[str, Any]) -> bool:
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    return bool({"integer", "number"} & set(kinds)) and set(kinds) <= {"integer", "number", "null"}


@cache
def numeric_fields() -> dict[str, str]:
    """Every numeric summary.json field (nested ones dotted: ``noc.traffic_mb``) -> its unit, from the
    packaged schema, less the run's cost and seed."""
    from elsa_tlm.results.schema import summary_schema

    out: dict[str, str] = {}
    for key, prop in summary_schema()["properties"].items():
        if key in NOT_OBJECTIVES:
            continue
        if _is_numeric(prop):
            out[key] = prop.get("x-unit", "")
        elif prop.get("type") == "object":
            for sub, p in prop.get("properties", {}).items():
                if _is_numeric(p):
                    out[f"{key}.{sub}"] = p.get("x-unit", "")
    return out


def _field(name: Any, where: str) -> str:
    fields = numeric_fields()
    if not isinstance(name, str) or name not in fields:
        near = difflib.get_close_matches(str(name), list(fields), n=1)
        top = [f for f in fields if "." not in f]
        hint = f"did you mean {near[0]}? " if near else ""
        raise ConfigError(
            where,
            name,
            f"not a numeric summary.json field; {hint}numeric fields: {', '.join(top)} and nested ones "
            "such as noc.traffic_mb (docs/summary.schema.json)",
        )
    return name


def _objectives(raw: Any) -> tuple[Objective, ...]:
    where = "explore.objectives"
    if not isinstance(raw, list) or not raw:
        raise ConfigError(
            where, raw, 'must be a non-empty list of summary fields, e.g. ["latency_ms", "energy_j"]'
        )
    out: list[Objective] = []
    for item in raw:
        if not isinstance(item, str):
            raise ConfigError(where, item, 'each objective is a field name, "max:" before it to maximise')
        maximise = item.startswith("max:")
        name = item.split(":", 1)[1] if item.startswith(("max:", "min:")) else item
        obj = Objective(_field(name.strip(), where), maximise)
        if any(o.field == obj.field for o in out):
            raise ConfigError(where, item, "names the same field twice")
        out.append(obj)
    return tuple(out)


def _constraints(raw: Any) -> tuple[Constraint, ...]:
    where = "explore.constraints"
    if not isinstance(raw, list):
        raise ConfigError(where, raw, 'must be a list of "FIELD OP NUMBER" strings, e.g. ["area_mm2 <= 60"]')
    out = []
    for item in raw:
        m = CONSTRAINT_RE.match(item) if isinstance(item, str) else None
        if m is None:
            raise ConfigError(where, item, 'must look like "FIELD OP NUMBER" with OP one of <=, >=, <, >')
        bound = float(m.group(3))
        if not math.isfinite(bound):
            raise ConfigError(where, item, "the bound must be a finite number")
        out.append(Constraint(_field(m.group(1), where), m.group(2), bound))
    return tuple(out)


def _int(table: dict[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    v = table.get(key, default)
    if type(v) is not int or not lo <= v <= hi:
        raise ConfigError(f"explore.{key}", v, f"must be an integer from {lo:,} to {hi:,}")
    return v


def _choice(table: dict[str, Any], key: str, default: str, choices: Sequence[str]) -> str:
    v = table.get(key, default)
    if v not in choices:
        raise ConfigError(f"explore.{key}", v, f"must be one of {', '.join(choices)}")
    return v


def with_mode(cfg: Config, mode: str) -> Config:
    """``cfg`` with ``run.mode`` replaced (validated like a ``--set``); ``lt_bp``: lt with back-pressure."""
    data = dict(cfg.raw) if cfg.raw else {"version": 1}
    data.setdefault("name", cfg.name)
    sets = MODE_SETS.get(mode, [f"run.mode={json.dumps(mode)}"])
    return from_dict(apply_overrides(data, sets), base_dir=cfg.base_dir, name=cfg.name)


def parse_explore(
    data: dict[str, Any],
    folder: Path,
    name: str = "explore",
    cli_sets: Sequence[str] = (),
    seed: int | None = None,
    source: Path | None = None,
    recheck: str | None = None,
    refine: str | None = None,
) -> ExploreSpec:
    """Validate a parsed spec (the sweep part, then ``[explore]``, then every grid point's configuration);
    the first bad field raises :class:`ConfigError` naming it, its value and the rule."""
    if not isinstance(data, dict):
        raise ConfigError("explore spec", data, "must be a TOML table")
    data = dict(data)
    table = data.pop("explore", None)
    if not isinstance(table, dict):
        raise ConfigError("explore", table, "an explore spec is a sweep file with an [explore] table")
    for k in table:
        if k not in KEYS:
            raise ConfigError(
                f"explore.{k}", table[k], f"unknown key; valid keys of [explore]: {', '.join(KEYS)}"
            )
    if "points" in data:
        raise ConfigError("points", data["points"], "explore searches the [axes]; give the designs as axes")
    sweep = parse_sweep(data, folder, name, cli_sets, (), source)
    if not sweep.axes:
        raise ConfigError("axes", {}, "explore needs at least one axis")
    for key, values in sweep.axes.items():
        if key == "run.mode":
            raise ConfigError(
                f"axes.{key}", values, "[explore] mode sets run.mode (and recheck re-runs the front)"
            )
        if len({json.dumps(v) for v in values}) != len(values):
            raise ConfigError(f"axes.{key}", values, "an axis's values must be distinct")
    for item in sweep.fixed:
        if "{}.{}".format(*parse_override(item)[:2]) == "run.mode":
            raise ConfigError("set", item, "[explore] mode sets run.mode; remove it from set / --set")
    objectives = _objectives(table.get("objectives"))
    constraints = _constraints(table.get("constraints", []))
    trials = _int(table, "trials", 0, 1, MAX_TRIALS) if "trials" in table else None
    if trials is None:
        raise ConfigError("explore.trials", None, "missing: how many designs to try (an integer >= 1)")
    mode = table.get("mode", DEFAULT_MODE)
    if not isinstance(mode, str):
        raise ConfigError("explore.mode", mode, "must be a run.mode (a string)")
    try:  # the configuration's own rule for run.mode
        from_dict({"version": 1, "run": {"mode": mode}})
    except ConfigError as exc:
        raise ConfigError("explore.mode", mode, exc.rule) from None
    where = "explore.recheck" if recheck is None else "--recheck"
    # an analytic screening's front is re-run in at unless the spec says otherwise: the closed form leaves
    # back-pressure out (docs/MODEL.md §6b), and the front is a handful of designs
    default_recheck = "at" if mode == "analytic" else "none"
    recheck = _choice(
        table if recheck is None else {"recheck": recheck}, "recheck", default_recheck, RECHECKS
    )
    if recheck == mode:
        raise ConfigError(where, recheck, f"must differ from mode ({mode}), or be none")
    where_refine = "explore.refine" if refine is None else "--refine"
    refine = _choice(table if refine is None else {"refine": refine}, "refine", "none", REFINES)
    if refine == mode:
        raise ConfigError(where_refine, refine, f"must differ from mode ({mode}), or be none")
    if "refine_ranks" in table and refine == "none":
        raise ConfigError("explore.refine_ranks", table["refine_ranks"], "is refine's: set refine too")
    refine_ranks = _int(table, "refine_ranks", DEFAULT_REFINE_RANKS, 1, 100)
    if seed is None:
        seed = _int(table, "seed", DEFAULT_SEED, 0, 2**32 - 1)
    elif type(seed) is not int or not 0 <= seed < 2**32:
        raise ConfigError("--seed", seed, f"must be an integer from 0 to {2**32 - 1:,}")
    sampler = _choice(table, "sampler", "nsga2", SAMPLERS)
    if "population" in table and sampler != "nsga2":
        raise ConfigError("explore.population", table["population"], "is NSGA-II's (sampler = nsga2) only")
    population = _int(table, "population", DEFAULT_POPULATION, 2, 100_000)
    batch = _int(table, "batch", DEFAULT_BATCH, 1, 4096)
    sweep = dataclasses.replace(sweep, fixed=(*sweep.fixed, f"run.mode={json.dumps(mode)}"))
    points = plan(sweep)  # every design's configuration, validated
    for key, value, rerun in ((where, recheck, recheck), (where_refine, refine, refine)):
        if rerun != "none":
            try:
                with_mode(points[0].config, rerun)
            except ConfigError as exc:
                raise ConfigError(key, value, exc.rule) from None
    return ExploreSpec(
        sweep,
        points,
        objectives,
        constraints,
        trials,
        mode,
        recheck,
        seed,
        sampler,
        population,
        batch,
        refine,
        refine_ranks,
    )


def load_explore(
    path: str | Path,
    cli_sets: Sequence[str] = (),
    seed: int | None = None,
    recheck: str | None = None,
    refine: str | None = None,
) -> ExploreSpec:
    """Read and validate an explore spec file (``cli_sets``: extra fixed overrides; ``seed``, ``recheck``,
    ``refine``: --seed, --recheck and --refine over the spec's)."""
    p = Path(path)
    data = read_toml(p, "explore spec")
    return parse_explore(data, p.resolve().parent, p.stem, cli_sets, seed, p.resolve(), recheck, refine)


# ------------------------------------------------------------------------------------------- Pareto front
def pareto_mask(values: Any, maximise: Sequence[bool] | None = None) -> np.ndarray:
    """Which rows of ``values`` (n designs x k objectives) no other row dominates: no worse in every objective
    and better in one. Minimised unless ``maximise[j]``; equal rows do not dominate each other."""
    f = np.array(values, dtype=float, ndmin=2)
    if f.size == 0:
        return np.zeros(len(f), dtype=bool)
    if maximise is not None:
        f[:, np.asarray(maximise, dtype=bool)] *= -1.0
    n, k = f.shape
    keep = np.empty(n, dtype=bool)
    step = max(1, 4_000_000 // (n * k))  # rows compared at once against all: bounded memory
    for s in range(0, n, step):
        block = f[s : s + step, None, :]  # (b, 1, k) against (1, n, k)
        no_worse = (f[None, :, :] <= block).all(axis=2)
        better = (f[None, :, :] < block).any(axis=2)
        keep[s : s + step] = ~(no_worse & better).any(axis=1)
    return keep


# ------------------------------------------------------------------------------------------------- storage
class _Store:
    """explore.db: the spec's identity and every finished trial, one JSON record per trial number."""

    def __init__(self, path: Path, readonly: bool = False) -> None:
        self.path, self.committed = path, time.monotonic()
        uri = f"file:{path}?mode=ro" if readonly else f"file:{path}"
        try:
            self.db = sqlite3.connect(uri, uri=True)
            if not readonly:
                self.db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
                self.db.execute(
                    "CREATE TABLE IF NOT EXISTS trials (number INTEGER PRIMARY KEY, record TEXT NOT NULL)"
                )
                self.db.commit()
        except sqlite3.Error as exc:
            raise ConfigError("--out", str(path.parent), f"{DB} is not an explore database ({exc})") from None

    def meta(self) -> dict[str, Any]:
        try:
            rows = self.db.execute("SELECT key, value FROM meta").fetchall()
        except sqlite3.Error:
            return {}
        return {k: json.loads(v) for k, v in rows}

    def set_meta(self, values: dict[str, Any]) -> None:
        self.db.executemany(
            "INSERT OR REPLACE INTO meta VALUES (?, ?)",
            [(k, json.dumps(v, sort_keys=True)) for k, v in values.items()],
        )
        self.db.commit()

    def records(self) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT number, record FROM trials ORDER BY number").fetchall()
        if [n for n, _ in rows] != list(range(len(rows))):
            raise ElsaError(f"{self.path}: the trials are not numbered 0..{len(rows) - 1}; give a new --out")
        return [json.loads(r) for _, r in rows]

    def add(self, number: int, record: dict[str, Any]) -> None:
        self.db.execute("INSERT INTO trials VALUES (?, ?)", (number, json.dumps(record, sort_keys=True)))

    def commit(self, every_s: float = 0.0) -> None:
        """Commit, at most once per ``every_s`` seconds (a commit syncs the disk: ~20 ms here)."""
        now = time.monotonic()
        if now - self.committed >= every_s:
            self.db.commit()
            self.committed = now

    def close(self) -> None:
        self.db.close()


def _spec_hash(identity: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def _check_same_spec(stored: dict[str, Any], spec: ExploreSpec, out: Path) -> None:
    identity = spec.identity()
    if stored.get("spec_hash") == _spec_hash(identity):
        return
    old = stored.get("identity") or {}
    what = next((k for k in identity if old.get(k) != identity[k]), "format")
    said = {
        "designs": "its designs differ (base scenario, set, --set, axis values or mode)",
        "method": f"it was explored by {old.get('method')}, this spec by {identity['method']} (trials against "
        "the grid's size decide: exhaustive when trials >= the grid)",
    }.get(what, f"{what}: {old.get(what)!r} there, {identity[what]!r} here")
    raise ConfigError(
        "--out",
        str(out),
        f"holds an exploration of another spec ({said}); give a new folder, or the same spec to resume",
    )


# ---------------------------------------------------------------------------------------------- the search
def _sampler_seed(seed: int, first_trial: int) -> int:
    """The seed of the sampler asking the batch that starts at ``first_trial``."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{first_trial}".encode()).digest()[:4], "little")


@cache
def _samplers() -> dict[str, type]:
    """Optuna's NSGA-II and TPE samplers told the search space: every trial of an exploration has every axis,
    so the space Optuna would infer (the intersection of the finished trials' spaces, which each new sampler
    recomputes over all trials: quadratic in the trials, ~3 s a batch at 3,000) is the axes, from the start."""
    import optuna

    def told(base: type) -> type:
        class Told(base):  # type: ignore[misc, valid-type]
            space: dict[str, Any] = {}

            def infer_relative_search_space(self, study: Any, trial: Any) -> dict[str, Any]:
                return {k: d for k, d in self.space.items() if not d.single()}

        Told.__name__ = Told.__qualname__ = f"Explore{base.__name__}"
        return Told

    return {"nsga2": told(optuna.samplers.NSGAIISampler), "tpe": told(optuna.samplers.TPESampler)}


def _make_sampler(spec: ExploreSpec, seed: int, space: dict[str, Any]) -> Any:
    """The sampler that asks one batch (a new one per batch, seeded from its first trial number)."""
    import optuna

    if spec.exhaustive:
        return optuna.samplers.RandomSampler(seed=seed)  # never consulted: every trial is enqueued
    cls = _samplers()[spec.sampler]
    if spec.sampler == "tpe":
        sampler = cls(seed=seed, multivariate=True, constant_liar=True)
    else:
        sampler = cls(seed=seed, population_size=spec.population)
    sampler.space = space
    return sampler


GROUP_MAX = 6  # designs run as one task at most (a worker's share of a batch stays balanced)


PLAN_WINDOW = 96  # plans reordered together at most (~25 s of a ResNet-50 explore on 2 workers)


def _groups(spec: ExploreSpec, configs: list[Config]) -> list[list[int]]:
    """The designs to run (their indices), cut into tasks: in the analytic mode, designs that share a plan
    (:func:`elsa_tlm.analytic.plan_key`: they differ only in timing or pricing settings) run one after the
    other in one worker, which builds the plan once (its cache); otherwise one design a task. Within each
    :data:`PLAN_WINDOW` plans, those that share their spikes (:func:`elsa_tlm.analytic.inputs_key`: the
    workload, time steps and seed) are handed out one after the other, so a worker's next plan reuses the last
    one's activity and what it derived from it (an activity-seed axis varying fastest would otherwise change
    them at every plan). Only the order the tasks run in changes (by a window at most: the trials, told in
    trial order, wait no longer than that)."""
    if spec.mode != "analytic":
        return [[i] for i in range(len(configs))]
    from elsa_tlm.analytic import inputs_key, plan_key

    by_plan: dict[str, list[int]] = {}
    for i, cfg in enumerate(configs):
        by_plan.setdefault(plan_key(cfg), []).append(i)
    plans = list(by_plan.values())
    out: list[list[int]] = []
    for w in range(0, len(plans), PLAN_WINDOW):
        by_inputs: dict[str | None, list[list[int]]] = {}
        for g in plans[w : w + PLAN_WINDOW]:
            by_inputs.setdefault(inputs_key(configs[g[0]]), []).append(g)
        out += [
            g[s : s + GROUP_MAX]
            for same in by_inputs.values()
            for g in same
            for s in range(0, len(g), GROUP_MAX)
        ]
    return out


def run_points(configs: list[Config], fields: Sequence[str]) -> list[dict[str, Any]]:
    """:func:`~elsa_tlm.studies.sweep.run_point` of each design, nothing written, one after the other (in a
    worker)."""
    return [run_point(cfg, None, fields) for cfg in configs]


def _key(spec: ExploreSpec, params: dict[str, Any]) -> tuple[str, ...]:
    return tuple(json.dumps(params[k]) for k in spec.sweep.axes)


def _round(v: Any) -> Any:
    """A float at 12 significant digits, as summary.json writes it."""
    return float(f"{v:.12g}") if isinstance(v, float) else v


def _outcome(spec: ExploreSpec, row: dict[str, Any]) -> dict[str, Any]:
    """A finished run's row as a trial's outcome: ok with its fields, or failed with one line of reason."""
    if row.get("status") != "ok":
        status = row.get("status", "crash")
        error = row.get("error", "")
        return {
            "status": "failed",
            "reason": error if status == "error" else f"{status}: {error}",
            "fields": {},
        }
    fields = {f: _round(row.get(f)) for f in spec.fields}
    missing = [f for f, v in fields.items() if not isinstance(v, int | float) or isinstance(v, bool)]
    if missing:
        return {
            "status": "failed",
            "reason": f"the run gives no value for {', '.join(missing)}",
            "fields": fields,
        }
    return {"status": "ok", "reason": "", "fields": fields}


class _Inline:
    """A future that runs its call in this process when its result is asked for (one worker)."""

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        self.fn, self.args, self.value, self.done = fn, args, None, False

    def result(self) -> Any:
        if not self.done:
            self.value, self.done = self.fn(*self.args), True
        return self.value

    def cancel(self) -> bool:
        return True


def _record(trial: Any) -> dict[str, Any]:
    """A finished trial (a FrozenTrial) as explore.db keeps it."""
    return {
        "params": trial.params,
        "state": trial.state.name,
        "values": trial.values,
        "user_attrs": trial.user_attrs,
        "system_attrs": trial.system_attrs,
    }


def _frozen(spec: ExploreSpec, record: dict[str, Any], dists: dict[str, Any]) -> Any:
    import optuna

    return optuna.trial.create_trial(
        params=record["params"],
        distributions=dists,
        values=record["values"],
        state=optuna.trial.TrialState[record["state"]],
        user_attrs=record["user_attrs"],
        system_attrs=record["system_attrs"],
    )


@dataclass
class _Search:
    """The running search: the in-memory study, the store, what has been simulated."""

    spec: ExploreSpec
    store: _Store
    records: list[dict[str, Any]]
    submit: Callable[..., Any]
    log: Callable[[str], None]
    progress: Callable[[int, int], None]
    simulated: int = 0
    resumed: int = 0
    trials: list[Any] = dataclasses.field(default_factory=list)

    def run(self) -> None:
        import optuna

        spec = self.spec
        dists = {k: optuna.distributions.CategoricalDistribution(vs) for k, vs in spec.sweep.axes.items()}
        directions = ["maximize" if o.maximise else "minimize" for o in spec.objectives]
        target = spec.n_trials
        n_rec = min(len(self.records), target)
        if spec.exhaustive:
            start, batch = n_rec, max(1, target - n_rec)  # nothing to ask: everything at once
        else:  # a batch cut short is asked again, from its first trial
            start, batch = n_rec // spec.batch * spec.batch, spec.batch
        study = optuna.create_study(directions=directions, sampler=_make_sampler(spec, spec.seed, dists))
        study.add_trials([_frozen(spec, r, dists) for r in self.records[:start]])
        cache = {
            _key(spec, r["params"]): r["user_attrs"]["outcome"]
            for r in self.records
            if "outcome" in r.get("user_attrs", {})
        }
        by_key = {_key(spec, p.values): p for p in spec.points}
        grid = [p.values for p in spec.points]
        done, total = 0, target - start
        self.resumed = n_rec
        n = start
        while n < target:
            size = min(batch, target - n)
            study.sampler = _make_sampler(spec, _sampler_seed(spec.seed, n), dists)
            asked = []
            for i in range(n, n + size):
                if spec.exhaustive:
                    study.enqueue_trial(grid[i])
                asked.append(study.ask(dists))
            for t in asked:
                if t.number < len(self.records) and t.params != self.records[t.number]["params"]:
                    raise ElsaError(
                        f"{self.store.path}: trial {t.number} does not replay (recorded "
                        f"{self.records[t.number]['params']}, asked {t.params}: another Optuna version?); "
                        "give a new --out"
                    )
            pending: dict[tuple[str, ...], tuple[Any, int]] = {}  # design -> (its task, its place in it)
            unsaved: list[int] = []
            new = list(dict.fromkeys(k for t in asked if (k := _key(spec, t.params)) not in cache))
            for group in _groups(spec, [by_key[k].config for k in new]):
                fut = self.submit(run_points, [by_key[new[i]].config for i in group], spec.fields)
                pending |= {new[i]: (fut, j) for j, i in enumerate(group)}
            try:
                for t in asked:
                    key = _key(spec, t.params)
                    if key not in cache:
                        try:
                            fut, j = pending[key]
                            row = fut.result()[j]
                        except (
                            Exception
                        ) as exc:  # the executor itself failed (a killed worker, a lost cluster)
                            row = {"status": "crash", "error": f"{type(exc).__name__}: {exc}"}
                        cache[key] = _outcome(spec, row)
                        self.simulated += 1
                        if cache[key]["status"] != "ok":
                            desc = _describe({k: spec.sweep.label(v) for k, v in t.params.items()})
                            self.log(f"trial {t.number} ({desc}): failed: {cache[key]['reason']}")
                    self._tell(study, t, cache[key])
                    if t.number >= len(self.records):
                        unsaved.append(t.number)
                    if len(unsaved) >= spec.batch:
                        self._save(study, unsaved, every_s=1.0)
                    done += 1
                    self.progress(done, total)
            except BaseException:
                self._save(study, unsaved)  # what was told, also when interrupted
                for fut, _ in pending.values():
                    fut.cancel()
                raise
            self._save(study, unsaved, every_s=1.0)
            n += size
        self._save(study, [])
        self.trials = study.get_trials(deepcopy=False)[:target]

    def _save(self, study: Any, numbers: list[int], every_s: float = 0.0) -> None:
        """Write the told trials ``numbers`` into explore.db (and empty the list); commit at most once per
        ``every_s`` seconds."""
        if numbers:
            trials = study.get_trials(deepcopy=False)
            for n in numbers:
                self.store.add(n, _record(trials[n]))
            numbers.clear()
        self.store.commit(every_s)

    def _tell(self, study: Any, trial: Any, outcome: dict[str, Any]) -> list[float] | None:
        """Tell the study a trial's outcome; returns the values told (None: failed)."""
        from optuna.trial import TrialState

        trial.set_user_attr("outcome", outcome)
        if outcome["status"] != "ok":
            study.tell(trial, state=TrialState.FAIL)
            return None
        fields = outcome["fields"]
        for i, c in enumerate(self.spec.constraints):
            trial.set_constraint(f"c{i}", c.violation(fields[c.field]))
        values = [fields[o.field] for o in self.spec.objectives]
        study.tell(trial, values)
        return values


# --------------------------------------------------------------------------------------------- the command
def _rows(spec: ExploreSpec, trials: list[Any]) -> list[dict[str, Any]]:
    by_key = {_key(spec, p.values): p for p in spec.points}
    rows = []
    for t in trials:
        o = t.user_attrs["outcome"]
        status, reason = o["status"], o["reason"]
        if status == "ok" and (broken := _broken(spec, o["fields"])):
            status, reason = "infeasible", broken
        row: dict[str, Any] = {"trial": t.number}
        row |= {k: _csv_value(spec.sweep.label(t.params[k])) for k in spec.sweep.axes}
        row |= {f: o["fields"].get(f) for f in spec.fields}
        row |= {
            "status": status,
            "reason": " ".join(reason.split()),
            "point": by_key[_key(spec, t.params)].hash,
        }
        rows.append(row)
    return rows


def _broken(spec: ExploreSpec, fields: dict[str, Any]) -> str:
    """The constraints ``fields`` break, as a trial's reason ("" when every one holds)."""
    return "; ".join(
        f"{c.field} = {fields[c.field]:.6g}, not {c.op} {c.bound:g}"
        for c in spec.constraints
        if not c.holds(fields[c.field])
    )


def best_ranks(spec: ExploreSpec, rows: list[dict[str, Any]], ranks: int) -> list[dict[str, Any]]:
    """The feasible designs of the first ``ranks`` non-dominated ranks among ``rows`` (the front, then the front
    of the rest...; each design once, at its first trial), in trial order."""
    seen: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["status"] == "ok":
            seen.setdefault(r["point"], r)
    left, out = list(seen.values()), []
    for _ in range(ranks):
        if not left:
            break
        mask = pareto_mask(
            [[r[o.field] for o in spec.objectives] for r in left], [o.maximise for o in spec.objectives]
        )
        out += [r for r, m in zip(left, mask, strict=True) if m]
        left = [r for r, m in zip(left, mask, strict=True) if not m]
    return sorted(out, key=lambda r: r["trial"])


def refined_rows(
    spec: ExploreSpec, designs: list[dict[str, Any]], refined: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """``designs`` with their refined values in place of the screened ones (the screened ones kept as
    ``<field>_screened``), the constraints checked on the refined values; a design whose refinement failed or
    that the refined values make infeasible is marked so (never on the front)."""
    out = []
    for r in designs:
        rf = refined.get(r["point"], {"status": "failed", "reason": "not re-run", "fields": {}})
        row = dict(r) | {f"{f}_screened": r[f] for f in spec.fields}
        row |= {f: rf["fields"].get(f) for f in spec.fields}
        row["refine_status"], row["refine_reason"] = rf["status"], rf["reason"]
        row["refine_dir"] = rf.get("folder", "")
        if rf["status"] != "ok":
            row["status"], row["reason"] = "failed", f"refine: {rf['reason']}"
        elif broken := _broken(spec, row):
            row["status"], row["reason"] = "infeasible", broken
        out.append(row)
    return out


def front_rows(spec: ExploreSpec, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The non-dominated feasible designs among ``rows`` (each design once, at its first trial: the first of
    :func:`best_ranks`), ordered by the first objective."""
    front = best_ranks(spec, rows, 1)
    first = spec.objectives[0]
    return sorted(front, key=lambda r: ((-1 if first.maximise else 1) * r[first.field], r["trial"]))


def _rerun(
    spec: ExploreSpec,
    designs: list[dict[str, Any]],
    out: Path,
    submit: Callable[..., Any],
    phase: Callable[[str], None],
    stage: str = "recheck",
) -> tuple[dict[str, dict[str, Any]], int]:
    """Re-run each design in the stage's mode (``recheck``: the front, in ``spec.recheck``; ``refine``: the
    screening's best, in ``spec.refine``) into <stage>/<hash>/ (kept: a rerun reuses them, and a recheck the
    refinement's run of the same configuration); returns {point: {status, reason, fields, folder (relative to
    ``out``)}} and how many ran."""
    mode = spec.recheck if stage == "recheck" else spec.refine
    by_hash = {p.hash: p for p in spec.points}
    (out / stage).mkdir(exist_ok=True)
    jobs: dict[str, tuple[Path, Any]] = {}
    results: dict[str, dict[str, Any]] = {}
    for r in designs:
        cfg = with_mode(by_hash[r["point"]].config, mode)
        folder = out / stage / config_hash(cfg)
        done = [
            f for f in (folder, out / "refine" / folder.name) if _finished_row(f / "summary.json") is not None
        ]
        if done:
            data = json.loads((done[0] / "summary.json").read_text(encoding="utf-8"))
            row = {"status": "ok"} | {f: summary_field(data, f) for f in spec.fields}
            results[r["point"]] = _outcome(spec, row) | {"folder": f"{done[0].parent.name}/{done[0].name}"}
        else:
            jobs[r["point"]] = (folder, submit(run_point, cfg, str(folder), spec.fields))
    what = "front designs" if stage == "recheck" else "designs of the screening's best ranks"
    if jobs:
        phase(f"{stage}: {len(jobs)} {what} in {mode} ({len(results)} already re-run)")
    try:
        for i, (h, (folder, fut)) in enumerate(jobs.items(), 1):
            try:
                row = fut.result()
            except Exception as exc:  # the executor itself failed
                row = {"status": "crash", "error": f"{type(exc).__name__}: {exc}"}
            results[h] = _outcome(spec, row) | {"folder": f"{stage}/{folder.name}"}
            phase(f"{stage}: {i} of {len(jobs)} done")
    finally:
        for _, fut in jobs.values():
            fut.cancel()
    return results, len(jobs)


def _rel(screened: float, ref: float) -> float | None:
    return None if ref == 0 else _round((screened - ref) / abs(ref))


def run_explore(
    spec: ExploreSpec,
    out_dir: str | Path,
    executor: cf.Executor | None = None,
    workers: int = 1,
    log: Callable[[str], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
    phase: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Explore ``spec`` into ``out_dir`` (new, empty, or this spec's earlier exploration: resumed) and write
    trials.csv, pareto.csv, pareto.png and explore.json; returns explore.json's content.

    ``executor``: any :class:`concurrent.futures.Executor` (not shut down here); default ``workers`` local
    processes (one: this process). ``log`` gets failed trials, ``progress(done, total)`` the trials told,
    ``phase`` the stages.
    """
    t0 = time.perf_counter()
    say = log or (lambda m: None)
    said = phase or (lambda m: None)
    out = check_output_folder(out_dir, "explore")
    db = out / DB
    if db.exists() or db.is_symlink():
        guard_write(db)  # a regular file the tool wrote there, not a link or a user's file
        old = _Store(db, readonly=True)
        try:
            stored = old.meta()
        finally:
            old.close()
        if stored.get("spec_hash"):
            _check_same_spec(stored, spec, out)
    out = claim_output_folder(out, "explore")
    with FolderLock(out, blocking=False):
        if not db.exists():
            write_bytes_atomic(
                db, b""
            )  # an empty file is an empty SQLite database; created through the guard
        store = _Store(db)
        own = executor is None and workers > 1
        ex = local_executor(workers if spec.exhaustive else min(workers, spec.batch)) if own else executor
        submit: Callable[..., Any] = ex.submit if ex is not None else _Inline
        try:
            import optuna

            if not store.meta().get("spec_hash"):
                identity = spec.identity()
                store.set_meta(
                    {
                        "study": STUDY,
                        "spec_hash": _spec_hash(identity),
                        "identity": identity,
                        "optuna": optuna.__version__,
                    }
                )
            search = _Search(spec, store, store.records(), submit, say, progress or (lambda d, t: None))
            how = "every design once" if spec.exhaustive else f"{spec.sampler}, seed {spec.seed}"
            where = (
                "this process" if submit is _Inline else ("the executor" if not own else f"{workers} workers")
            )
            said(
                f"explore {spec.sweep.name}: {spec.n_trials} trials ({how}) over {len(spec.points)} designs of "
                f"{len(spec.sweep.axes)} axes, mode {spec.mode}, on {where}; "
                f"{min(len(search.records), spec.n_trials)} trials in explore.db"
            )
            with warnings.catch_warnings(), _quiet_optuna():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                search.run()
            rows = _rows(spec, search.trials)
            refined: list[dict[str, Any]] | None = None
            refined_now = 0
            if spec.refine != "none":  # the screening's best ranks again in the finer mode: its front
                best = best_ranks(spec, rows, spec.refine_ranks)
                done, refined_now = _rerun(spec, best, out, submit, said, "refine")
                refined = refined_rows(spec, best, done)
            front = front_rows(spec, rows if refined is None else refined)
            rechecked, rerun = {}, 0
            if spec.recheck != "none" and front:
                rechecked, rerun = _rerun(spec, front, out, submit, said)
        except KeyboardInterrupt:
            print(
                "interrupted: finished trials are kept in explore.db (rerun the same command to resume)",
                file=sys.stderr,
            )
            raise
        finally:
            store.close()
            if own and ex is not None:
                ex.shutdown(wait=True, cancel_futures=True)
        said(f"write: {out}/trials.csv, pareto.csv, pareto.png, explore.json")
        return _write_outputs(
            spec, out, rows, front, rechecked, search, rerun, time.perf_counter() - t0, refined, refined_now
        )


class _quiet_optuna:
    """Optuna's INFO lines (a trial finished...) off for the search, restored after."""

    def __enter__(self) -> None:
        import optuna

        self.level = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)

    def __exit__(self, *exc: object) -> None:
        import optuna

        optuna.logging.set_verbosity(self.level)


def _write_outputs(
    spec: ExploreSpec,
    out: Path,
    rows: list[dict[str, Any]],
    front: list[dict[str, Any]],
    rechecked: dict[str, dict[str, Any]],
    search: _Search,
    rerun: int,
    wall_s: float,
    refined: list[dict[str, Any]] | None = None,
    refined_now: int = 0,
) -> dict[str, Any]:
    from elsa_tlm.figures.explore import plot_pareto

    axes = list(spec.sweep.axes)
    fields = spec.fields
    write_csv_atomic(out / "trials.csv", rows, ["trial", *axes, *fields, "status", "reason", "point"])
    objs = [o.field for o in spec.objectives]
    pareto, errors = [], {f: [] for f in objs}
    extra: list[str] = []
    if refined is not None:  # the front's values are the refinement's; the screening's beside them
        extra = [f"{f}_screened" for f in fields] + ["refine_dir"]
    if spec.recheck != "none":
        extra += [c for f in objs for c in (f"{f}_{spec.recheck}", f"{f}_err")]
        extra += ["recheck_status", "recheck_reason", "recheck_dir"]
    for r in front:
        row = {k: r[k] for k in ("trial", *axes, *fields)}
        if refined is not None:
            row |= {f"{f}_screened": r[f"{f}_screened"] for f in fields} | {"refine_dir": r["refine_dir"]}
        if spec.recheck != "none":
            rc = rechecked.get(r["point"], {"status": "failed", "reason": "not re-run", "fields": {}})
            for f in objs:
                ref = rc["fields"].get(f) if rc["status"] == "ok" else None
                row[f"{f}_{spec.recheck}"] = ref
                row[f"{f}_err"] = None if ref is None else _rel(r[f], ref)
                if row[f"{f}_err"] is not None:
                    errors[f].append(row[f"{f}_err"])
            row |= {
                "recheck_status": rc["status"],
                "recheck_reason": rc["reason"],
                "recheck_dir": rc.get("folder", ""),
            }
        pareto.append(row | {"point": r["point"]})
    write_csv_atomic(out / "pareto.csv", pareto, ["trial", *axes, *fields, *extra, "point"])
    units = numeric_fields()
    plot_pareto(
        out / "pareto.png",
        [(o.field, units.get(o.field, ""), o.maximise) for o in spec.objectives],
        rows,
        [r["trial"] for r in front],
        {
            r["trial"]: rechecked[r["point"]]["fields"]
            for r in front
            if rechecked.get(r["point"], {}).get("status") == "ok"
        },
        spec.recheck,
        f"{spec.sweep.name}: {len(rows)} trials ({spec.method}, mode {spec.mode}), "
        f"{len(front)} design{'s' if len(front) != 1 else ''} on the front"
        + ("" if refined is None else f" (refined in {spec.refine})"),
        None if refined is None else {r["trial"]: {f: r[f] for f in objs} for r in front},
        spec.refine,
    )
    counts = {s: sum(r["status"] == s for r in rows) for s in ("ok", "infeasible", "failed")}
    summary = {
        "spec": spec.describe(),
        "seed": spec.seed,
        "optuna": _optuna_version(),
        "counts": {
            "trials": len(rows),
            **counts,
            "designs": len({r["point"] for r in rows}),
            "grid": len(spec.points),
            "simulated": search.simulated,
            "resumed": search.resumed,
            "front": len(front),
            "refined": refined_now,
            "rechecked": rerun,
        },
        "front": [
            {
                "trial": r["trial"],
                "point": r["point"],
                "design": {k: r[k] for k in axes},
                "values": {f: r[f] for f in objs},
                **(
                    {"recheck": {f: p[f"{f}_{spec.recheck}"] for f in objs}} if spec.recheck != "none" else {}
                ),
            }
            for r, p in zip(front, pareto, strict=True)
        ],
        "refine": None if refined is None else _refine_summary(spec, refined),
        "recheck": None
        if spec.recheck == "none"
        else {
            "mode": spec.recheck,
            "errors": {
                f: {
                    "max_abs": max((abs(e) for e in es), default=None),
                    "mean_abs": _round(sum(abs(e) for e in es) / len(es)) if es else None,
                }
                for f, es in errors.items()
            },
        },
        "wall_s": round(wall_s, 3),
    }
    write_json_atomic(out / "explore.json", summary)
    return summary


def _refine_summary(spec: ExploreSpec, refined: list[dict[str, Any]]) -> dict[str, Any]:
    """explore.json's refinement: its mode and ranks, how many designs, and how far the screening was from it."""
    ok = [r for r in refined if r["refine_status"] == "ok"]
    errors: dict[str, Any] = {}
    for o in spec.objectives:
        es = [_rel(r[f"{o.field}_screened"], r[o.field]) for r in ok]
        es = [e for e in es if e is not None]
        errors[o.field] = {
            "max_abs": max((abs(e) for e in es), default=None),
            "mean_abs": _round(sum(abs(e) for e in es) / len(es)) if es else None,
        }
    return {
        "mode": spec.refine,
        "ranks": spec.refine_ranks,
        "designs": len(refined),
        "failed": sum(r["refine_status"] != "ok" for r in refined),
        "screening_errors": errors,
    }


def _optuna_version() -> str:
    import optuna

    return optuna.__version__
