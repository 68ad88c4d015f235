"""The public Python API: what the CLI does, callable from a notebook or a script.

    import elsa_tlm
    r = elsa_tlm.run("scenarios/default.toml", overrides=["run.time_steps=2"])
    r.summary["latency_cycles"], r.layer_rows[0], r.link_rows[0], r.core_rows[0]
    r.save("results/mine")

    cfg = elsa_tlm.load_config("scenarios/default.toml", ["noc.flit_bits=128"])
    plan = elsa_tlm.check(cfg)               # builds topology, routing and mapping: refuses what run would
    rows = elsa_tlm.sweep("scenarios/studies/flits.toml", "results/flits", axes=["noc.flit_bits=[64,256]"])

Every function raises :class:`elsa_tlm.errors.ConfigError` (a subclass of ``ElsaError``) for bad input, with
the key, the value and the rule; :class:`elsa_tlm.errors.DeadlockError` when the NoC deadlocks.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from elsa_tlm import config as _config
from elsa_tlm.config import Config
from elsa_tlm.errors import ConfigError
from elsa_tlm.fileio import path_argument as _path
from elsa_tlm.results import Result

__all__ = [
    "run",
    "load_config",
    "configure",
    "check",
    "sweep",
    "diff",
    "plot",
    "compare",
    "save",
    "replace_section",
    "Result",
]

# above this many (step, output spine) work items a run takes minutes: the CLI says so and shows progress
LARGE_RUN_ITEMS = 20_000_000

ScenarioLike = str | os.PathLike | Config | None


# ------------------------------------------------------------------------------------- argument checks
# Every public function checks its arguments here first: a wrong type is a ConfigError naming the argument,
# never a TypeError or AttributeError from deep inside.
def _text(name: str, value: object, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if isinstance(value, str) and value.strip():
        return value
    kind = "a non-empty string" + (" or None" if optional else "")
    raise ConfigError(name, value, f"must be {kind}, not {type(value).__name__} {value!r}")


def _function(name: str, value: object) -> None:
    if value is not None and not callable(value):
        raise ConfigError(name, value, f"must be a function or None, not {type(value).__name__}")


def _overrides(overrides: object, name: str = "overrides") -> list[str]:
    """``section.key=value`` strings from any iterable of them (None: none); anything else is refused."""
    if overrides is None:
        return []
    if isinstance(overrides, str | bytes):
        raise ConfigError(name, overrides, "must be a list of 'section.key=value' strings, not one string")
    try:
        items = list(overrides)  # type: ignore[call-overload]
    except TypeError:
        raise ConfigError(name, overrides, "must be a list of 'section.key=value' strings") from None
    for item in items:
        if not isinstance(item, str):
            raise ConfigError(name, item, "every item must be a 'section.key=value' string")
    return items


def _scenario(scenario: object) -> str | os.PathLike | None:
    if scenario is None or isinstance(scenario, str | os.PathLike):
        return scenario
    raise ConfigError(
        "scenario", scenario, "must be a scenario file, the name of a shipped scenario, a Config or None"
    )


def load_config(scenario: str | os.PathLike | None = None, overrides: Iterable[str] = ()) -> Config:
    """A validated configuration from a scenario file or a shipped scenario's name (None: the built-in ELSA
    defaults) and overrides ``section.key=value`` (TOML values)."""
    return _config.load_config(_scenario(scenario), _overrides(overrides))


def configure(cfg: Config, overrides: Iterable[str] = ()) -> Config:
    """``cfg`` validated (however it was built) with ``section.key=value`` overrides applied."""
    if not isinstance(cfg, Config):
        raise ConfigError("cfg", cfg, "must be a Config (load a scenario file with load_config)")
    cfg = _config.validate(cfg, "cfg")
    overrides = _overrides(overrides)
    if not overrides:
        return cfg
    # overrides apply to the configuration as given (derived values, e.g. router stages, are derived again)
    data: dict[str, Any] = dict(cfg.raw) if cfg.raw else {"version": 1, **_config.as_dict(cfg)}
    data.setdefault("name", cfg.name)
    return _config.from_dict(_config.apply_overrides(data, overrides), base_dir=cfg.base_dir, name=cfg.name)


def _as_config(scenario: ScenarioLike, overrides: Iterable[str]) -> Config:
    if isinstance(scenario, Config):
        return configure(scenario, overrides)
    return load_config(scenario, overrides)


def check(scenario: ScenarioLike = None, overrides: Iterable[str] = ()) -> Any:
    """Build everything a run needs before time starts (workload, activity, topology, routing, mapping) and
    return it as a :class:`elsa_tlm.sim.Plan`; raises for anything ``run`` would refuse."""
    from elsa_tlm import sim

    return sim.prepare(_as_config(scenario, overrides))


def run(
    scenario: ScenarioLike = None,
    overrides: Iterable[str] = (),
    progress: Callable[[int, int], None] | None = None,
    plan: Any = None,
    extend: Callable[[Any], None] | None = None,
) -> Result:
    """Simulate a scenario (a file, a :class:`Config`, or None for the defaults) and return its Result.

    ``Result.summary`` (the summary.json dict), ``layer_rows``, ``link_rows``, ``core_rows`` (the CSV rows),
    ``Result.save(folder)`` writes the usual files. Functional (digits) scenarios also evaluate elastic
    inference over the test set; their summary carries the accuracies and ``save`` writes samples.csv.
    ``progress(done, total)`` is called now and then with finished and total work items; ``plan`` is a
    :func:`prepare` result of the same Config object when the caller already built one. With
    ``output.plots`` the run's figures are drawn when the result is saved. ``extend(chip)`` binds components of
    your own to the built chip before time starts (docs/EXTENDING.md, examples/custom_component.py).
    """
    from elsa_tlm import figures, sim

    _function("progress", progress)
    _function("extend", extend)
    if plan is not None and not isinstance(plan, sim.Plan):
        raise ConfigError("plan", plan, f"must be a Plan from check() or None, not {type(plan).__name__}")
    cfg = _as_config(scenario, overrides)
    if is_elastic(cfg):
        if extend is not None:
            raise ConfigError("extend", extend, "is for one chip run, not the elastic study over a test set")
        from elsa_tlm.studies import elastic

        return figures.attach(elastic.run(cfg).result)  # the accuracy study over the test set, and its runs
    if plan is None or plan.config is not cfg:
        plan = sim.prepare(cfg)
    return figures.attach(sim.run(cfg, progress=progress, plan=plan, extend=extend))


def is_elastic(cfg: Config) -> bool:
    """True when ``run`` is the elastic study (:func:`elsa_tlm.studies.elastic.run`) rather than one chip run:
    functional activity on a trained digits network (``config.FUNCTIONAL_MODELS``), whose accuracy needs the
    whole test set and whose timing one chip run per simulated sample."""
    return cfg.workload.activity == "functional" and cfg.workload.model in _config.FUNCTIONAL_MODELS


def sweep(
    sweep_file: str | os.PathLike,
    out: str | os.PathLike,
    overrides: Sequence[str] = (),
    axes: Sequence[str] = (),
    workers: int = 2,
    executor: Any = None,
    infeasible: str | None = None,
    log: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Run a sweep file into ``out`` (resuming finished points) and return its sweep.csv rows.

    ``overrides`` are fixed ``section.key=value`` for every point, ``axes`` replace or add axes
    (``section.key=[v1, v2]``); ``executor`` is any ``concurrent.futures.Executor`` (default: ``workers``
    local processes that end with this process); ``infeasible`` ("refuse" or "record") overrides the sweep
    file's choice for points whose topology, routing or mapping cannot be built; ``log`` gets progress lines.
    """
    from elsa_tlm.studies import sweep as _sweep

    sweep_file, out = _path("sweep_file", sweep_file), _path("out", out)
    _function("log", log)
    if executor is not None and not callable(getattr(executor, "submit", None)):
        raise ConfigError("executor", executor, "must be a concurrent.futures.Executor (with submit) or None")
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= _sweep.MAX_WORKERS:
        raise ConfigError("workers", workers, f"must be an integer between 1 and {_sweep.MAX_WORKERS}")
    if infeasible not in (None, "refuse", "record"):
        raise ConfigError("infeasible", infeasible, "must be 'refuse', 'record' or None")
    sw = _sweep.load_sweep(sweep_file, _overrides(overrides), _overrides(axes, "axes"))
    if infeasible is not None:
        sw = dataclasses.replace(sw, infeasible=infeasible)
    return _sweep.run_sweep(sw, Path(out), executor, workers, **({"log": log} if log else {}))


def diff(run_a: str | os.PathLike, run_b: str | os.PathLike) -> Any:
    """Compare two run folders: ``.config`` lists (key, A, B) of the configuration keys that differ,
    ``.metrics`` (metric, A, B, B - A, relative change) of every numeric summary field
    (:class:`elsa_tlm.results.diff.RunDiff`; ``render(d, "md")`` formats it)."""
    from elsa_tlm.results.diff import diff_runs

    return diff_runs(_path("run_a", run_a), _path("run_b", run_b))


def plot(
    sweep_dir: str | os.PathLike,
    x: str,
    y: str,
    hue: str | None = None,
    out: str | os.PathLike | None = None,
) -> Path:
    """A figure of any finished sweep (``y`` against ``x``, one series per ``hue`` value); returns the PNG."""
    from elsa_tlm.figures.sweep_plot import plot_sweep

    return plot_sweep(
        _path("sweep_dir", sweep_dir),  # type: ignore[arg-type]
        _text("x", x),  # type: ignore[arg-type]
        _text("y", y),  # type: ignore[arg-type]
        _text("hue", hue, optional=True),
        _path("out", out, optional=True),
    )


def compare(runs: Sequence[str | os.PathLike], out: str | os.PathLike) -> dict[str, Any]:
    """Simulated runs beside the published chips (compare.csv, ratios.csv, compare.md, compare.png in ``out``);
    returns the rows, the ratios and the headline sentences (:mod:`elsa_tlm.studies.compare`)."""
    from elsa_tlm.studies.compare import compare as _compare

    if isinstance(runs, str | bytes | os.PathLike) or not isinstance(runs, Sequence | set | tuple):
        raise ConfigError("runs", runs, "must be a list of run folders")
    folders = [_path("runs", r) for r in runs]
    if not folders:
        raise ConfigError("runs", runs, "give at least one run folder")
    return _compare(folders, _path("out", out))  # type: ignore[arg-type]


def save(result: Result, folder: str | os.PathLike) -> Path:
    """Same as ``result.save(folder)``."""
    if not isinstance(result, Result):
        raise ConfigError("result", result, f"must be a Result from run(), not {type(result).__name__}")
    return result.save(folder)


def replace_section(cfg: Config, section: str, **values: Any) -> Config:
    """``cfg`` with keys of one section replaced (validated): ``replace_section(cfg, "noc", flit_bits=128)``."""
    if not isinstance(cfg, Config):
        raise ConfigError("cfg", cfg, "must be a Config (load a scenario file with load_config)")
    if not isinstance(section, str) or section not in _config.SECTIONS:
        raise ConfigError("section", section, f"unknown section; valid: {', '.join(_config.SECTIONS)}")
    current = dataclasses.asdict(getattr(cfg, section))
    unknown = set(values) - set(current)
    if unknown:
        raise ConfigError(f"{section}.{sorted(unknown)[0]}", values, "unknown key")
    return configure(cfg, [f"{section}.{k}={_config.toml_value(v)}" for k, v in values.items()])
