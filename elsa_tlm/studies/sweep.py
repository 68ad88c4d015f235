"""Parameter sweeps: a sweep file names a base scenario and axes; every point runs through an Executor.

A sweep file is TOML::

    version = 1
    name = "flits"                       # optional (default: the file's stem)
    description = "..."                  # optional
    base = "../default.toml"             # base scenario, relative to this file (optional: the defaults)
    set = ["run.time_steps=16"]          # fixed overrides for every point (TOML values)
    [axes]                               # cartesian product, in file order (first axis slowest)
    "noc.flit_bits" = [64, 128, 256]
    "noc.protocol" = ["baer", "aer_truenorth"]
    # or/and explicit points, each combined with every axis combination:
    points = [{ "noc.topology" = "ring:36", "noc.routing" = "shortest" }]

Precedence, lowest first: base scenario, ``set``, command-line ``--set``, the point's own values. Relative
paths (``file:`` topologies, ``workload.replay_path``) resolve against the folder of the file that names them.
Every point's configuration is validated before anything runs; the first bad one raises
:class:`ConfigError`. A point whose simulation fails (a mapping that does not fit, a routing the topology
refuses, a deadlock) is recorded with its error and the sweep goes on.

Output folder: ``sweep.csv`` (one row per point: axis values, key results, status, error), ``sweep.json``
(the resolved sweep and counts), and ``points/<hash>/`` per point with the usual run files, where ``hash``
is a short SHA-256 of :func:`elsa_tlm.config.to_toml` of the point's config. A point whose folder already
holds ``summary.json`` is not rerun (resume). Points run on local processes (``--workers N``) or on a Dask
cluster (``--executor dask --scheduler tcp://HOST:PORT``; point folders must be on a shared file system).

The sweep-based studies (``scenarios/studies/<name>.toml``, :data:`SWEEP_STUDIES`) are such sweeps; once one
has run, :func:`draw_study` (``elsa-tlm study <name> --sweep-dir DIR --out plots/<name>``) writes its table and
figure (:mod:`elsa_tlm.figures.studies`).
"""

from __future__ import annotations

import concurrent.futures as cf
import gc
import hashlib
import itertools
import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from elsa_tlm.config import (
    SECTIONS,
    Config,
    absolute_path_value,
    apply_overrides,
    check_name,
    from_dict,
    inert_settings,
    parse_override,
    parse_toml,
    read_scenario,
    read_toml,
    to_toml,
)
from elsa_tlm.errors import ConfigError, DeadlockError, ElsaError, StallError
from elsa_tlm.fileio import FolderLock, claim_output_folder, write_csv_atomic, write_json_atomic

TOP_KEYS = ("version", "name", "description", "base", "set", "axes", "points", "infeasible")
RESULT_FIELDS = [
    "latency_cycles",
    "latency_ms",
    "first_output_cycle",
    "energy_j",
    "tops_per_w",
    "pj_per_sop",
    "area_mm2",
    "cores_used",
    "noc_traffic_mb",
    "noc_flits",
    "noc_max_link_flits",
]
TAIL_FIELDS = ["status", "error", "point"]
HASH_CHARS = 12


@dataclass(frozen=True)
class Sweep:
    """A parsed sweep file: base scenario, fixed overrides and the point values (dotted key -> value)."""

    name: str
    description: str
    folder: Path
    base: Path | None
    fixed: tuple[str, ...]
    axes: dict[str, list[Any]]
    points: list[dict[str, Any]]
    source: Path | None = None
    labels: dict[str, str] = field(default_factory=dict)  # absolute path value -> value as written
    infeasible: str = "refuse"  # points that cannot be built: refuse the sweep, or record them as rows

    def label(self, value: Any) -> Any:
        """A point value as the user wrote it (relative paths stay relative in sweep.csv)."""
        return self.labels.get(value, value) if isinstance(value, str) else value

    def keys(self) -> list[str]:
        """Swept keys, in order of first appearance (explicit points first, then axes)."""
        out: list[str] = []
        for p in self.points:
            out += [k for k in p if k not in out]
        out += [k for k in self.axes if k not in out]
        return out

    def values(self) -> list[dict[str, Any]]:
        """Every point's values: explicit points × cartesian product of the axes."""
        grid = [dict(zip(self.axes, combo, strict=True)) for combo in itertools.product(*self.axes.values())]
        return [{**p, **g} for p in (self.points or [{}]) for g in grid]


@dataclass(frozen=True)
class Point:
    """One validated point of a sweep."""

    index: int
    values: dict[str, Any]
    config: Config
    hash: str = field(default="")


def _dotted(key: Any, where: str) -> tuple[str, str]:
    if not isinstance(key, str) or key.count(".") != 1:
        raise ConfigError(where, key, "must be a dotted config key section.key (e.g. noc.flit_bits)")
    section, name = key.split(".")
    if section not in SECTIONS:
        raise ConfigError(where, key, f"unknown section; valid sections: {', '.join(SECTIONS)}")
    valid = list(SECTIONS[section].__dataclass_fields__)
    if name not in valid:
        raise ConfigError(where, key, f"unknown key; valid keys of [{section}]: {', '.join(valid)}")
    return section, name


def _absolute(key: str, value: Any, folder: Path, labels: dict[str, str] | None = None) -> Any:
    """Make a path value (file: topology, replay path) absolute against ``folder``; remember the label."""
    new = absolute_path_value(key, value, folder)
    if labels is not None and new != value:
        labels[new] = value
    return new


def _absolute_overrides(items: Iterable[str], folder: Path, where: str) -> list[str]:
    out = []
    for item in items:
        if not isinstance(item, str):
            raise ConfigError(where, item, "must be a list of 'section.key=value' strings")
        section, key, value = parse_override(item)
        _dotted(f"{section}.{key}", where)
        new = _absolute(f"{section}.{key}", value, folder)
        out.append(item if new is value else f"{section}.{key}={json.dumps(new)}")
    return out


def _axis_values(key: str, values: Any, folder: Path, where: str, labels: dict[str, str]) -> list[Any]:
    _dotted(key, where)
    if not isinstance(values, list) or not values:
        raise ConfigError(f"{where}.{key}", values, "must be a non-empty list of values")
    for v in values:
        if isinstance(v, dict | list):
            raise ConfigError(f"{where}.{key}", v, "axis values must be plain values (number, string, bool)")
    return [_absolute(key, v, folder, labels) for v in values]


def parse_sweep(
    data: dict[str, Any],
    folder: Path,
    name: str = "sweep",
    cli_sets: Sequence[str] = (),
    cli_axes: Sequence[str] = (),
    source: Path | None = None,
) -> Sweep:
    """Validate a parsed sweep dict. ``cli_sets`` are extra fixed overrides (relative paths against the
    working folder); ``cli_axes`` (``key=[v1, v2]``) replace or add axes."""
    if type(data.get("version")) is not int or data.get("version") != 1:
        raise ConfigError("version", data.get("version"), "a sweep file must say version = 1")
    for k in data:
        if k not in TOP_KEYS:
            raise ConfigError(k, data[k], f"unknown key; valid top-level keys: {', '.join(TOP_KEYS)}")
    name = check_name(data.get("name", name), "name")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise ConfigError("description", description, "must be a string")
    infeasible = data.get("infeasible", "refuse")
    if infeasible not in ("refuse", "record"):
        raise ConfigError("infeasible", infeasible, "must be 'refuse' or 'record'")
    base = data.get("base")
    base_path = None
    if base is not None:
        if not isinstance(base, str) or not base:
            raise ConfigError("base", base, "must be the path of a scenario file")
        base_path = Path(base) if Path(base).is_absolute() else (folder / base).resolve()
        if not base_path.is_file():
            raise ConfigError("base", base, f"scenario file {base_path} not found")
    fixed = data.get("set", [])
    if not isinstance(fixed, list):
        raise ConfigError("set", fixed, "must be a list of 'section.key=value' strings")
    fixed = _absolute_overrides(fixed, folder, "set") + _absolute_overrides(cli_sets, Path.cwd(), "--set")
    axes_raw = data.get("axes", {})
    if not isinstance(axes_raw, dict):
        raise ConfigError("axes", axes_raw, "must be a table of dotted keys to value lists")
    labels: dict[str, str] = {}
    axes = {k: _axis_values(k, v, folder, "axes", labels) for k, v in axes_raw.items()}
    for item in cli_axes:
        if "=" not in item:
            raise ConfigError("--axis", item, "must look like section.key=[v1, v2]")
        key, raw = item.split("=", 1)
        key = key.strip()
        try:
            values = parse_toml(f"v = {raw.strip()}", "--axis", item)["v"]
        except ConfigError as exc:
            if "not valid TOML" not in exc.rule:
                raise
            raise ConfigError(
                "--axis", item, 'value must be a TOML list, e.g. [1, 2] or ["a", "b"]'
            ) from None
        axes[key] = _axis_values(key, values, Path.cwd(), "--axis", labels)
    points_raw = data.get("points", [])
    if not isinstance(points_raw, list) or not all(isinstance(p, dict) and p for p in points_raw):
        raise ConfigError("points", points_raw, 'must be a list of non-empty tables {"section.key" = value}')
    points = []
    for i, p in enumerate(points_raw):
        vals = {}
        for k, v in p.items():
            _dotted(k, f"points[{i}]")
            if isinstance(v, dict | list):
                raise ConfigError(f"points[{i}].{k}", v, "must be a plain value (number, string, bool)")
            vals[k] = _absolute(k, v, folder, labels)
        points.append(vals)
    if not axes and not points:
        raise ConfigError("axes", axes_raw, "a sweep needs at least one axis or an explicit points list")
    return Sweep(name, description, folder, base_path, tuple(fixed), axes, points, source, labels, infeasible)


def load_sweep(path: str | Path, cli_sets: Sequence[str] = (), cli_axes: Sequence[str] = ()) -> Sweep:
    """Read and validate a sweep file."""
    p = Path(path)
    data = read_toml(p, "sweep")
    return parse_sweep(data, p.resolve().parent, p.stem, cli_sets, cli_axes, p.resolve())


def config_hash(cfg: Config) -> str:
    """Short SHA-256 of the canonical resolved TOML of ``cfg``: the point's folder name."""
    return hashlib.sha256(to_toml(cfg).encode("utf-8")).hexdigest()[:HASH_CHARS]


def plan(sweep: Sweep) -> list[Point]:
    """Every point as a validated :class:`Config` (raises ConfigError naming the first bad point)."""
    if sweep.base is not None:
        data, base_dir, name = read_scenario(sweep.base)
    else:
        data, base_dir, name = {"version": 1}, Path.cwd(), "default"
    data = apply_overrides(data, sweep.fixed)
    name = data.get("name", name) if isinstance(data.get("name", name), str) else name
    out = []
    for i, values in enumerate(sweep.values()):
        d = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
        for key, v in values.items():
            section, k = key.split(".")
            d.setdefault(section, {})
            if not isinstance(d[section], dict):
                raise ConfigError(section, d[section], "must be a table")
            d[section][k] = v
        try:
            cfg = from_dict(d, base_dir=base_dir, name=name)
        except ConfigError as exc:
            desc = ", ".join(f"{k}={v!r}" for k, v in values.items())
            raise ConfigError(exc.key, exc.value, f"{exc.rule} (sweep point {i}: {desc})") from None
        out.append(Point(i, values, cfg, config_hash(cfg)))
    return out


def _row_from_summary(s: dict[str, Any]) -> dict[str, Any]:
    noc = s.get("noc") or {}
    return {
        "latency_cycles": s.get("latency_cycles"),
        "latency_ms": s.get("latency_ms"),
        "first_output_cycle": s.get("first_output_cycle"),
        "energy_j": s.get("energy_j"),
        "tops_per_w": s.get("tops_per_w"),
        "pj_per_sop": s.get("pj_per_sop"),
        "area_mm2": s.get("area_mm2"),
        "cores_used": s.get("cores_used"),
        "noc_traffic_mb": noc.get("traffic_mb"),
        "noc_flits": noc.get("flits"),
        "noc_max_link_flits": noc.get("max_link_flits"),
    }


def summary_field(summary: dict[str, Any], name: str) -> Any:
    """A summary.json field by name, a nested one by a dotted name (``noc.traffic_mb``); None if absent."""
    value: Any = summary
    for part in name.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def run_point(cfg: Config, folder: str | None, fields: Sequence[str] = ()) -> dict[str, Any]:
    """Run one point and write its folder (in a worker); ``folder`` None writes nothing (an explore trial).
    ``fields``: summary.json fields (:func:`summary_field` names) added to the row. Never raises: errors come
    back in the row."""
    from elsa_tlm import figures, sim
    from elsa_tlm.results import write_result

    t0 = time.perf_counter()
    status, error, row = "ok", "", {}
    try:
        if folder is None:
            summary = sim.run(cfg).summary
            row = _row_from_summary(summary)
        else:
            write_result(figures.attach(sim.run(cfg)), Path(folder))
            # as written (rounded), as a resume reads it
            summary = json.loads((Path(folder) / "summary.json").read_text(encoding="utf-8"))
            row = _finished_row(Path(folder) / "summary.json") or {}
        row |= {f: summary_field(summary, f) for f in fields}
    except DeadlockError as exc:
        status, error = "deadlock", str(exc)
    except StallError as exc:
        status, error = "stall", str(exc)
    except ElsaError as exc:
        status, error = "error", str(exc)
    except Exception as exc:  # a simulator bug must not end the sweep; keep the last frame for the report
        tb = traceback.extract_tb(exc.__traceback__)[-1]
        status, error = "crash", f"{type(exc).__name__}: {exc} ({Path(tb.filename).name}:{tb.lineno})"
    if cfg.run.mode != "analytic":
        # a simulated chip is cyclic garbage once its result is dropped, and a worker runs point after point:
        # with the collector paused in every run, its full passes are rare and the chips pile up (an explore
        # worker's ResNet-50 lt runs: ~150 MB more after each, 3 GB after a refine). Collected here: ~0.08 s
        # against a run's seconds; the analytic mode makes no such garbage
        gc.collect()
    return row | {"status": status, "error": " ".join(error.split()), "wall_s": time.perf_counter() - t0}


def _csv_value(v: Any) -> Any:
    if isinstance(v, bool):
        return "true" if v else "false"
    return v


def _progress(total: int, desc: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="pt", disable=not sys.stderr.isatty(), file=sys.stderr)


def _worker_init() -> None:
    """In each local worker: end when the sweep process dies, even by kill -9.

    Linux delivers SIGKILL to the worker when its parent dies (prctl PR_SET_PDEATHSIG); elsewhere, and as a
    second line, a daemon thread polls the parent pid and exits when it changes (re-parented to init).
    """
    import ctypes
    import signal
    import threading

    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


MAX_WORKERS = 256  # local processes; each holds a simulation (hundreds of MB for big networks)


def local_executor(workers: int) -> cf.ProcessPoolExecutor:
    """A process pool whose workers die with this process."""
    return cf.ProcessPoolExecutor(max_workers=max(1, workers), initializer=_worker_init)


def check_points(points: list[Point], mode: str = "refuse") -> dict[str, str]:
    """Build every distinct point's topology, routing and mapping (what ``run`` would refuse, refused here).

    Returns {hash: error} of the points that cannot run. ``mode = "refuse"`` raises ConfigError on the
    first (naming the point and how many are infeasible); ``"record"`` returns them to be recorded as rows.
    """
    from elsa_tlm import sim

    bad: dict[str, str] = {}
    seen: set[str] = set()
    for p in points:
        if p.hash in seen:
            continue
        seen.add(p.hash)
        try:
            sim.prepare(p.config)
        except ElsaError as exc:
            bad[p.hash] = str(exc)
            if mode == "refuse":
                raise ConfigError(
                    "sweep point",
                    p.index,
                    f"{_describe(p.values)}: {exc} (add infeasible = 'record' to the "
                    "sweep file, or --infeasible record, to record such points instead)",
                ) from None
    return bad


def _finished_row(summary_path: Path) -> dict[str, Any] | None:
    """The result row of a finished point folder, or None if it is not a readable run result."""
    try:
        data = json.loads(summary_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or "latency_cycles" not in data:
        return None
    return _row_from_summary(data) | {"status": "ok", "error": ""}


def run_sweep(
    sweep: Sweep,
    out_dir: str | Path,
    executor: cf.Executor | None = None,
    workers: int = 1,
    log: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every point not already finished in ``out_dir``; write sweep.csv and sweep.json; return the rows.

    ``out_dir`` must be new, empty or a previous sweep folder; it is locked for the sweep's duration (a
    second sweep into it is refused). Points that cannot be built are refused up front (or recorded with
    status ``infeasible`` when the sweep says ``infeasible = "record"``). ``executor``: any
    :class:`concurrent.futures.Executor` (not shut down here); default a process pool of ``workers``
    processes that end with this process.
    """
    points = plan(sweep)
    infeasible = check_points(points, sweep.infeasible)
    out = claim_output_folder(out_dir, "sweep")
    with FolderLock(out, blocking=False):
        return _run_locked(sweep, points, infeasible, out, executor, workers, log)


def _run_locked(
    sweep: Sweep,
    points: list[Point],
    infeasible: dict[str, str],
    out: Path,
    executor: cf.Executor | None,
    workers: int,
    log: Callable[[str], None] | None,
) -> list[dict[str, Any]]:
    (out / "points").mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, Any]] = {
        h: {"status": "infeasible", "error": " ".join(e.split())} for h, e in infeasible.items()
    }
    todo: dict[str, Point] = {}
    for p in points:
        if p.hash in results:
            continue
        row = _finished_row(out / "points" / p.hash / "summary.json")
        if row is not None:
            results[p.hash] = row
        else:
            todo.setdefault(p.hash, p)
    n_unique = len({p.hash for p in points})
    reused = n_unique - len(todo) - len(infeasible)
    warnings = inert_points(points)
    if log:
        for w in warnings:
            log(f"warning: {len(w['points'])} of {n_unique} points: {w['message']}")
    own = executor is None and bool(todo)
    ex = local_executor(min(workers, len(todo))) if own else executor  # no idle workers to start
    bar = _progress(len(todo), sweep.name)
    futures: dict[cf.Future, str] = {}
    try:
        futures = (
            {ex.submit(run_point, p.config, str(out / "points" / h)): h for h, p in todo.items()}
            if todo
            else {}
        )
        for fut in cf.as_completed(futures):
            h = futures[fut]
            try:
                row = fut.result()
            except Exception as exc:  # the executor itself failed (a killed worker, a lost cluster)
                row = {"status": "crash", "error": f"{type(exc).__name__}: {exc}"}
            results[h] = row
            if row["status"] != "ok" and log:
                log(f"point {h} ({_describe(todo[h].values)}): {row['status']}: {row['error']}")
            bar.update(1)
    except KeyboardInterrupt:
        running = sum(1 for f in futures if f.running())
        print(
            f"interrupted: cancelling {sum(1 for f in futures if not f.done()) - running} queued points and "
            f"waiting for {running} running ones to stop (finished points are kept: rerun to resume)",
            file=sys.stderr,
        )
        raise
    finally:
        bar.close()
        if own:
            ex.shutdown(wait=True, cancel_futures=True)
    keys = sweep.keys()
    rows = []
    for p in points:
        r = results[p.hash]
        row = {k: _csv_value(sweep.label(p.values.get(k, ""))) for k in keys}
        row |= {f: r.get(f) for f in RESULT_FIELDS}
        row |= {"status": r["status"], "error": r.get("error", ""), "point": p.hash}
        rows.append(row)
    write_csv_atomic(out / "sweep.csv", rows, [*keys, *RESULT_FIELDS, *TAIL_FIELDS])
    failed = sum(r["status"] not in ("ok", "infeasible") for r in rows)
    write_json_atomic(
        out / "sweep.json",
        {
            "name": sweep.name,
            "description": sweep.description,
            "source": str(sweep.source) if sweep.source else None,
            "base": str(sweep.base) if sweep.base else None,
            "set": list(sweep.fixed),
            "axes": sweep.axes,
            "points": sweep.points,
            "infeasible_policy": sweep.infeasible,
            "n_points": len(rows),
            "n_unique": n_unique,
            "reused": reused,
            "infeasible": sum(r["status"] == "infeasible" for r in rows),
            "failed": failed,
            "warnings": warnings,
        },
    )
    return rows


def inert_points(points: list[Point]) -> list[dict[str, Any]]:
    """Settings that take no effect (config.inert_settings), each with the points it concerns, in first-seen
    order: a sweep axis that changes nothing at some points (``noc.router`` × ``run.mode``) is said once."""
    by: dict[str, list[str]] = {}
    for p in points:
        for line in inert_settings(p.config):
            hashes = by.setdefault(line, [])
            if p.hash not in hashes:
                hashes.append(p.hash)
    return [{"message": m, "points": h} for m, h in by.items()]


def _describe(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())


def _check_scheduler(address: str) -> None:
    """A Dask scheduler address is ``protocol://host:port`` (tcp, tls, ws, wss, inproc, ucx) with a port number."""
    from urllib.parse import urlsplit

    rule = "must be a Dask scheduler address such as tcp://HOST:PORT"
    try:
        u = urlsplit(address)
        port = u.port
    except ValueError:
        raise ConfigError("--scheduler", address, f"{rule} (the port is not a number)") from None
    if u.scheme not in ("tcp", "tls", "ws", "wss", "ucx", "inproc") or not u.hostname:
        raise ConfigError("--scheduler", address, rule)
    if port is None and u.scheme != "inproc":
        raise ConfigError("--scheduler", address, f"{rule} (no port)")


def make_executor(kind: str, workers: int, scheduler: str | None) -> tuple[cf.Executor, Callable[[], None]]:
    """An executor and its cleanup: ``process`` (local pool) or ``dask`` (a cluster, or a local one)."""
    if kind == "process":
        ex = local_executor(workers)
        return ex, lambda: ex.shutdown(wait=True, cancel_futures=True)
    if kind != "dask":
        raise ConfigError("--executor", kind, "must be process or dask")
    try:
        from distributed import Client
    except ImportError:
        raise ConfigError("--executor", kind, "needs dask[distributed] (pip install -e '.[dask]')") from None
    if scheduler is not None:
        _check_scheduler(scheduler)
    try:
        if scheduler:
            client = Client(scheduler, timeout="10s")
        else:
            client = Client(n_workers=max(1, workers), threads_per_worker=1, dashboard_address=None)
    except Exception as exc:  # noqa: BLE001 - distributed raises many kinds for an unreachable or odd address
        raise ConfigError("--scheduler", scheduler, f"cannot connect to the Dask scheduler: {exc}") from None
    ex = client.get_executor()

    def close() -> None:
        ex.shutdown(wait=True)
        client.close()

    return ex, close


# the sweep-based studies, each with its sweep file scenarios/studies/<name>.toml and its tables and figure in
# elsa_tlm.figures.studies.STUDIES (named here too, so the command line lists them without loading matplotlib)
SWEEP_STUDIES = ("products", "flits", "routing", "topologies", "scaling", "memory", "congestion", "split")


def draw_study(name: str, sweep_dir: str | Path | None, out: str | Path) -> list[dict[str, Any]]:
    """The tables and figure of a sweep-based study from its finished sweep: ``<name>.csv`` and ``<name>.png``
    in ``out`` (new, empty, or a study folder of the tool's); returns the rows. A sweep of other axes, or a
    sweep.csv from elsewhere, is one :class:`ElsaError` naming the study's sweep file; nothing is written."""
    from elsa_tlm.figures.studies import STUDIES

    if name not in STUDIES:
        raise ConfigError("study", name, f"must be one of {', '.join(STUDIES)}")
    if not sweep_dir:
        raise ElsaError(f"{name} needs --sweep-dir (the folder elsa-tlm sweep wrote)")
    try:
        return STUDIES[name](Path(sweep_dir), Path(out))
    except KeyError as exc:  # a sweep of other axes, or a sweep.csv from elsewhere
        raise ElsaError(
            f"--sweep-dir {sweep_dir}: cannot draw the {name} study: no {exc} column or axis in its "
            f"sweep.csv (it needs the sweep of scenarios/studies/{name}.toml)"
        ) from None
    except (TypeError, ValueError, IndexError, ZeroDivisionError, OSError) as exc:
        raise ElsaError(
            f"--sweep-dir {sweep_dir}: cannot draw the {name} study from this sweep "
            f"({type(exc).__name__}: {exc}); it needs the sweep of scenarios/studies/{name}.toml"
        ) from None
