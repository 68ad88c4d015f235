"""Command line: ``elsa-tlm run | validate | scenarios | noc | noc-plot | sweep | explore | study | diff | plot |
compare | baselines | report | export | pipelines | elastic | bench``, one table of subcommands (:data:`SUBCOMMANDS`).

Every command's arguments are declared here and nowhere else; each command calls :mod:`elsa_tlm.api` or a
study (:mod:`elsa_tlm.studies`) and prints what it returned. Errors reach :func:`main`, the one place they
become exit statuses: bad input (a scenario that breaks a rule, a missing file, a network that does not fit)
prints one line ``error: ...`` on stderr and exits with status 2, writing nothing; a deadlocked or stalled
simulation exits with status 3 and says which links or slices were stuck; 130 when interrupted.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from elsa_tlm.config import load_config
from elsa_tlm.errors import ConfigError, DeadlockError, ElsaError, StallError
from elsa_tlm.fileio import output_argument


def _out_dir(cfg, explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    if cfg.output.dir:
        p = Path(cfg.output.dir)
        return p if p.is_absolute() else cfg.base_dir / p
    return Path("results") / cfg.name


def cmd_validate(args: argparse.Namespace) -> int:
    from elsa_tlm import api

    cfg = load_config(args.scenario, args.set or [])
    plan = api.check(cfg)
    m = plan.mapping
    print(
        f"ok: {args.scenario} ({cfg.workload.model}, T={plan.workload.time_steps}, {cfg.noc.topology}, "
        f"{cfg.noc.routing}, {cfg.schedule.policy}): {m.cores_used} of {plan.topology.n_nodes} cores, "
        f"{len(m.slices)} layer slices, {plan.work_items:,} work items"
    )
    _warn(plan.warnings)
    return 0


def _warn(lines: list[str]) -> None:
    """Settings that take no effect (config.inert_settings), on stderr: the run still goes ahead."""
    for line in lines:
        print(f"warning: {line}", file=sys.stderr)


class _Progress:
    """Progress of a run on stderr: a tqdm bar on a terminal; elsewhere (a log file, CI, make) one line per
    phase and one per tenth of the simulation, so a long run is never silent."""

    def __init__(self, total: int, tty: bool, t0: float | None = None) -> None:
        self.bar = None
        self.total, self.next_tenth = total, 1
        self.t0 = time.perf_counter() if t0 is None else t0
        if tty:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="item", unit_scale=True, file=sys.stderr, mininterval=2.0)

    def phase(self, text: str) -> None:
        """One line for a phase (only without a bar: a terminal shows the bar)."""
        if self.bar is None:
            print(f"[{time.perf_counter() - self.t0:7.1f} s] {text}", file=sys.stderr, flush=True)

    def __call__(self, done: int, total: int) -> None:
        if self.bar is not None:
            self.bar.update(done - self.bar.n)
            return
        while total and done * 10 >= self.next_tenth * total and self.next_tenth <= 10:
            self.phase(f"simulate: {10 * self.next_tenth} % of {total:,} work items")
            self.next_tenth += 1

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class _CycleProgress(_Progress):
    """``elsa-tlm run``'s progress, counted in simulated cycles instead of work items (``elsa-tlm noc``)."""

    def __init__(self, total: int, tty: bool, t0: float | None = None) -> None:
        super().__init__(total, tty, t0)
        if self.bar is not None:
            self.bar.unit = "cycle"

    def phase(self, text: str) -> None:
        super().phase(text.replace(" work items", " cycles"))

    def note(self, text: str) -> None:
        """A note before the run (a large or oversaturated one), said as ``elsa-tlm run`` says its own."""
        print(f"note: {text}", file=sys.stderr, flush=True)


def _say(line: str) -> None:
    """A line said on the way (a warning, a sweep point), on stderr."""
    print(line, file=sys.stderr)


def _names(text: str) -> list[str]:
    """A comma-separated list (--models a,b)."""
    return [m for m in text.split(",") if m]


def cmd_run(args: argparse.Namespace) -> int:
    from elsa_tlm import api
    from elsa_tlm.fileio import check_output_file, check_output_folder

    overrides = list(args.set or [])
    if args.trace:
        overrides.append("output.trace=true")
    cfg = load_config(args.scenario, overrides)
    if args.out is not None and not args.out.strip():
        raise ConfigError("--out", args.out, "is empty; give a folder")
    key = "--out" if args.out else ("output.dir" if cfg.output.dir else "--out (default results/<name>)")
    out = check_output_folder(
        _out_dir(cfg, args.out), "run", key=key
    )  # before hours of simulation, not after
    save_to = None
    if args.save_activity is not None:
        from elsa_tlm.workload.activity import is_activity_file

        save_to = check_output_file(args.save_activity, "--save-activity", is_activity_file)
    copy_to = None
    if cfg.output.copy_plots and cfg.output.plots and not args.out and not cfg.output.dir:
        try:
            copy_to = check_output_folder(Path("plots") / cfg.name, "plots", key="plots folder")
        except ConfigError as exc:
            raise ConfigError(
                exc.key, exc.value, f"{exc.rule} (or set output.copy_plots = false, or pass --out)"
            ) from None
    tty = sys.stderr.isatty()
    # progress lines start once the input is known to be good: bad input is one error line, nothing else
    if api.is_elastic(cfg):  # the elastic study: accuracy over the test set, a chip run per sample
        bar = _Progress(0, False)
        result = api.run(cfg)
        _warn(result.summary["warnings"])
    else:
        bar = _Progress(0, False)
        plan = api.check(cfg)
        _warn(plan.warnings)  # before the run: it may be a long one
        bar.phase(
            f"prepared: {cfg.workload.model}, T={plan.workload.time_steps}, {cfg.noc.topology}, "
            f"{cfg.schedule.policy} ({plan.mapping.cores_used} cores, {len(plan.mapping.slices)} layer slices)"
        )
        large = plan.work_items > api.LARGE_RUN_ITEMS
        if large:
            print(
                f"note: a large run: {plan.work_items:,} (step, spine) work items on {len(plan.mapping.slices)} "
                f"layer slices (ResNet-50 at T=16 has ~{8_000_000:,}); this will take a while",
                file=sys.stderr,
            )
        bar = _Progress(plan.work_items, tty, bar.t0)
        bar.phase(f"simulate: {plan.work_items:,} work items ({cfg.run.mode})")
        try:
            result = api.run(cfg, progress=bar, plan=plan)
        finally:
            bar.close()
    what = ", ".join(w for w, on in (("trace", cfg.output.trace), ("figures", cfg.output.plots)) if on)
    bar.phase(f"write: {out}" + (f" (with {what})" if what else ""))
    result.save(out, copy_to)
    if save_to is not None:
        from elsa_tlm.workload.activity import save_activity

        save_activity(str(save_to), result.activity, result.workload.model)
    s = result.summary
    print(
        f"{s['model']} T={s['time_steps']} {s['schedule']} on {s['topology']} ({s['cores_used']} cores): "
        f"latency {s['latency_cycles']} cycles ({s['latency_ms']:.4g} ms), first output {s['first_output_cycle']}, "
        f"energy {s['energy_j'] * 1e6:.4g} uJ, {s['tops_per_w']:.3g} TOPS/W"
    )
    print(f"results: {out}/summary.json, layers.csv, links.csv, mapping.json, config.resolved.toml")
    if s["sim"]["mode"] == "analytic":
        print(
            "note: analytic mode: the plan in closed form, without back-pressure; where co-mapped layers share a "
            "core's input FIFOs it runs early (each case against at: docs/MODEL.md §6b); confirm a design with "
            'run.mode="at", or run.mode="lt" with run.lt_backpressure=true (about half of at\'s time)',
            file=sys.stderr,
        )
    if s.get("elastic"):
        el = s["elastic"]
        print(
            f"accuracy: QANN {s['qann_accuracy']:.4f}, SNN at step T {s['snn_accuracy']:.4f}; early exit at "
            f"confidence {el['threshold']}: mean step {el['exit_step']:.2f}, cycle {el['exit_cycle']:.0f}, "
            f"accuracy {el['accuracy']:.4f} over {s['samples_simulated']} simulated images "
            f"(test set: {el['test_set_accuracy']:.4f} at mean step {el['test_set_exit_step']:.2f})"
        )
    if cfg.output.plots:
        print(
            f"plots:   {out}/timeline.png, energy.png, mapping.png"
            + (f" (copied to {copy_to}/)" if copy_to else "")
        )
    return 0


RUN_EPILOG = """files written into the output folder (default results/<scenario name>/):
  summary.json          latency, first output, per-step done cycles, energy and breakdown, SOPs, TOPS/W,
                        area, NoC totals, simulator cost
  layers.csv            per layer: cores, spikes in/out, packets, flits, busy cycles, first/last spine, energy
  links.csv             per directed NoC link: packets, flits, bits, busy cycles
  cores.csv             per neural core: busy (any lane group computing) / stalled / starved cycles within
                        the latency, busy cycles after the answer left, lane groups and each one's busy
                        cycles, im2col waits, buffer occupancy, flushes,
                        per-PE computing cycles, residual-unit busy cycles
  mapping.json          every layer slice's core, columns, macros; the placed flows
  config.resolved.toml  the complete configuration (rerun it to reproduce summary.json)
  timeline.png energy.png mapping.png   plots (output.plots); trace.json.gz with --trace
  samples.csv elastic.png               functional (digits) scenarios
  .elsa-tlm.json        marker: the folder is an elsa-tlm result (only such folders are ever replaced)
the output folder must be new, empty, or a previous elsa-tlm run result; anything else is refused.

exit status: 0 ok; 1 a sweep ran but some points failed; 2 bad input (one 'error:' line, nothing written);
3 the simulated chip deadlocked or stalled; 130 interrupted.
"""


def register_run(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    sp = sub.add_parser(
        "run",
        help="run a scenario",
        description="Simulate a scenario on the configured chip and write its result folder.",
        epilog=RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sp.add_argument("scenario", help="scenario TOML file, or the name of a shipped one (elsa-tlm scenarios)")
    output_argument(sp, "--out", "folder", help="output folder (default results/<scenario-name>)")
    sp.add_argument(
        "--set", action="append", metavar="SECTION.KEY=VALUE", help="override a config key (TOML value)"
    )
    sp.add_argument(
        "--trace", action="store_true", help="write trace.json.gz (Perfetto/Chrome trace events, gzip)"
    )
    output_argument(
        sp,
        "--save-activity",
        "file",
        metavar="NPZ",
        help="save the spike activity for workload.activity=replay",
    )
    sp.set_defaults(func=cmd_run)
    return sp


def register_validate(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    sv = sub.add_parser(
        "validate",
        help="check a scenario: config, topology, routing and mapping (refuses what run would)",
    )
    sv.add_argument("scenario")
    sv.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE")
    sv.set_defaults(func=cmd_validate)
    return sv


def workers_arguments(p: argparse.ArgumentParser, dask: bool = False) -> None:
    """``--workers`` of a command that runs many points (with ``dask``: ``--executor`` and ``--scheduler``)."""
    p.add_argument("--workers", type=int, default=2, help="local worker processes (default 2)")
    if dask:
        p.add_argument("--executor", choices=["process", "dask"], default="process")
        p.add_argument(
            "--scheduler", metavar="tcp://HOST:PORT", help="Dask scheduler (default: a local cluster)"
        )


def check_workers(n: int) -> None:
    """``--workers`` refused outside 1 … the sweep's MAX_WORKERS (before any work)."""
    from elsa_tlm.studies.sweep import MAX_WORKERS

    if not 1 <= n <= MAX_WORKERS:
        raise ConfigError("--workers", n, f"must be between 1 and {MAX_WORKERS}")


def register_sweep(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``sweep`` subcommand to the main parser."""
    p = subparsers.add_parser(
        "sweep",
        help="run a parameter sweep (a sweep TOML file) on processes or Dask",
        epilog="exit status: 0 every point ran; 1 some points failed (listed, and in sweep.csv); 2 bad input "
        "or an infeasible point (nothing run); 130 interrupted.",
    )
    p.add_argument("sweep", help="sweep TOML file (version = 1, base, set, [axes], points)")
    output_argument(p, "--out", "folder", help="output folder (default results/sweeps/<sweep-name>)")
    workers_arguments(p, dask=True)
    p.add_argument(
        "--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override for every point"
    )
    p.add_argument(
        "--axis", action="append", default=[], metavar="SECTION.KEY=[V1,V2]", help="replace or add an axis"
    )
    p.add_argument(
        "--infeasible",
        choices=["refuse", "record"],
        help="points whose topology/routing/mapping cannot be built: refuse the sweep (default) or record them",
    )
    p.add_argument("--dry-run", action="store_true", help="validate and list the points, run nothing")
    p.set_defaults(func=cmd_sweep)
    return p


def cmd_sweep(args: argparse.Namespace) -> int:
    """The ``elsa-tlm sweep`` command (exit status: see the subcommand's help)."""
    from elsa_tlm import api
    from elsa_tlm.studies.sweep import _describe, check_points, load_sweep, make_executor, plan

    check_workers(args.workers)
    if args.scheduler and args.executor != "dask":  # as explore: a scheduler the run would not use is refused
        raise ConfigError("--scheduler", args.scheduler, "needs --executor dask")
    sweep = load_sweep(args.sweep, args.set, args.axis)
    if args.infeasible:
        sweep = dataclasses.replace(sweep, infeasible=args.infeasible)
    points = plan(sweep)
    out = Path(args.out) if args.out else Path("results") / "sweeps" / sweep.name
    if args.dry_run:
        bad = check_points(points, "record")
        for p in points:
            flag = f"  [infeasible: {bad[p.hash]}]" if p.hash in bad else ""
            print(f"{p.hash}  {_describe({k: sweep.label(v) for k, v in p.values.items()})}{flag}")
        print(
            f"{len(points)} points ({len({p.hash for p in points})} distinct, {len(bad)} infeasible) -> {out}"
        )
        return 0
    ex, close = (
        (None, None) if args.executor == "process" else make_executor("dask", args.workers, args.scheduler)
    )
    t0 = time.perf_counter()

    try:
        rows = api.sweep(
            args.sweep,
            out,
            args.set,
            args.axis,
            args.workers,
            ex,
            infeasible=args.infeasible,
            log=lambda m: print(m, file=sys.stderr),
        )
    finally:
        if close:
            close()
    failed = [r for r in rows if r["status"] not in ("ok", "infeasible")]
    infeasible = sum(r["status"] == "infeasible" for r in rows)
    print(
        f"sweep {sweep.name}: {len(rows)} points, {len(rows) - len(failed) - infeasible} ok, "
        f"{len(failed)} failed, {infeasible} infeasible (recorded), {time.perf_counter() - t0:.1f} s "
        f"-> {out}/sweep.csv, points/<hash>/"
    )
    if failed:
        print(
            f"error: {len(failed)} of {len(rows)} sweep points failed (status and error in sweep.csv)",
            file=sys.stderr,
        )
        return 1
    return 0


class _TrialProgress(_Progress):
    """``elsa-tlm explore``'s progress: ``run``'s, counted in trials (the total is known once explore.db is
    read); its stage lines are always said."""

    def __init__(self, tty: bool) -> None:
        super().__init__(0, tty)
        if self.bar is not None:
            self.bar.unit = "trial"

    def phase(self, text: str) -> None:
        line = f"[{time.perf_counter() - self.t0:7.1f} s] {text.replace(' work items', ' trials')}"
        if self.bar is None:
            print(line, file=sys.stderr, flush=True)
        else:
            self.bar.write(line, file=sys.stderr)

    def __call__(self, done: int, total: int) -> None:
        if self.bar is not None and self.bar.total != total:
            self.bar.total = total
        super().__call__(done, total)


def register_explore(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "explore",
        help="multi-objective design-space exploration: a Pareto front of a sweep's designs (Optuna)",
        description="Search the designs of a sweep file's [axes] for the Pareto front of its [explore] "
        "objectives (NSGA-II or TPE; every design once when trials >= the grid), under its constraints; re-run "
        "the front in another mode. Writes trials.csv, pareto.csv, pareto.png, explore.json and explore.db "
        "(rerun the same command on the same folder to resume or extend it).",
        epilog="exit status: 0 explored (failed designs are trials too, in trials.csv); 1 no trial ran "
        "successfully; 2 bad input (one 'error:' line, nothing written); 130 interrupted (rerun to resume).",
    )
    p.add_argument("spec", help="explore spec: a sweep TOML file with an [explore] table")
    output_argument(p, "--out", "folder", help="output folder (default results/explore/<spec-name>)")
    workers_arguments(p, dask=True)
    p.add_argument("--seed", type=int, help="the sampler's seed (default: the spec's seed, else 1)")
    p.add_argument(
        "--recheck",
        metavar="MODE",
        help="re-run the front in at or lt, or none (default: the spec's); on a finished folder only the "
        "front runs",
    )
    p.add_argument(
        "--refine",
        metavar="MODE",
        help="re-run the screening's best ranks (refine_ranks, default 2) in lt_bp (lt with back-pressure), lt "
        "or at, and take the front from them; none: the screening's front (default: the spec's, else none)",
    )
    p.add_argument(
        "--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override for every design"
    )
    p.set_defaults(func=cmd_explore)
    return p


def cmd_explore(args: argparse.Namespace) -> int:
    """The ``elsa-tlm explore`` command (exit status: see the subcommand's help)."""
    from elsa_tlm.studies.explore import load_explore, run_explore
    from elsa_tlm.studies.sweep import make_executor

    check_workers(args.workers)
    if args.scheduler and args.executor != "dask":
        raise ConfigError("--scheduler", args.scheduler, "needs --executor dask")
    spec = load_explore(args.spec, args.set, args.seed, args.recheck, args.refine)
    out = Path(args.out) if args.out is not None else Path("results") / "explore" / spec.sweep.name
    ex, close = (
        (None, None) if args.executor == "process" else make_executor("dask", args.workers, args.scheduler)
    )
    bar = _TrialProgress(sys.stderr.isatty())
    try:
        res = run_explore(spec, out, ex, args.workers, log=_say, progress=bar, phase=bar.phase)
    finally:
        bar.close()
        if close:
            close()
    c = res["counts"]
    print(
        f"explore {spec.sweep.name}: {c['trials']} trials ({c['simulated']} designs simulated now, "
        f"{c['resumed']} trials resumed), {c['ok']} ok, {c['infeasible']} infeasible, {c['failed']} failed; "
        f"{c['front']} design{'s' if c['front'] != 1 else ''} on the front; {res['wall_s']:.1f} s"
    )
    if res.get("refine"):
        rf = res["refine"]
        errs = ", ".join(
            f"{f} {e['max_abs'] * 100:.2f} %"
            for f, e in rf["screening_errors"].items()
            if e["max_abs"] is not None
        )
        print(
            f"refine in {rf['mode']}: the screening's best {rf['ranks']} rank{'s' if rf['ranks'] != 1 else ''}, "
            f"{rf['designs']} designs ({rf['failed']} failed); the front is theirs; largest |screening error| "
            f"{errs or '(none)'}"
        )
    if res["recheck"]:
        errs = ", ".join(
            f"{f} {e['max_abs'] * 100:.2f} %"
            for f, e in res["recheck"]["errors"].items()
            if e["max_abs"] is not None
        )
        print(f"recheck in {res['recheck']['mode']}: largest |error| of the front {errs or '(none re-ran)'}")
    elif spec.mode == "analytic" and spec.refine == "none":
        print(
            'note: the front is the closed form\'s, not re-run (recheck = "none"): it leaves back-pressure '
            "out (docs/MODEL.md §6b); --recheck at re-runs only the front",
            file=sys.stderr,
        )
    print(f"results: {out}/trials.csv, pareto.csv, pareto.png, explore.json (resume: explore.db)")
    if c["ok"] + c["infeasible"] == 0:
        print(f"error: none of the {c['trials']} trials ran (reasons in trials.csv)", file=sys.stderr)
        return 1
    return 0


def register_scenarios(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    sc = sub.add_parser(
        "scenarios",
        help="list the scenarios shipped with the package (run them by name: elsa-tlm run default)",
    )
    sc.set_defaults(func=cmd_scenarios)
    return sc


def cmd_scenarios(args: argparse.Namespace) -> int:
    from elsa_tlm.config import read_toml, shipped_scenarios

    for name, path in shipped_scenarios().items():
        desc = read_toml(path).get("description", "")
        print(f"{name:12s} {desc}")
    print(f"({len(shipped_scenarios())} scenarios in {next(iter(shipped_scenarios().values())).parent})")
    return 0


def register_diff(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    d = sub.add_parser(
        "diff",
        help="compare two run folders: config keys that differ, every summary metric with both values",
    )
    d.add_argument("run_a")
    d.add_argument("run_b")
    d.add_argument("--format", choices=["text", "csv", "md"], default="text")
    d.add_argument("--changed", action="store_true", help="only the metrics whose value changed")
    d.set_defaults(func=cmd_diff)
    return d


def cmd_diff(args: argparse.Namespace) -> int:
    from elsa_tlm import api
    from elsa_tlm.results.diff import render

    sys.stdout.write(render(api.diff(args.run_a, args.run_b), args.format, args.changed))
    return 0


def register_plot(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("plot", help="a figure of any finished sweep: --y against --x, one series per --hue")
    p.add_argument("sweep_dir", help="folder elsa-tlm sweep wrote (with sweep.csv)")
    p.add_argument("--x", required=True, help="axis column (e.g. noc.flit_bits)")
    p.add_argument("--y", required=True, help="metric column (e.g. latency_cycles, energy_j)")
    p.add_argument("--hue", help="a column whose values become separate series")
    output_argument(
        p,
        "--out",
        "file",
        help="figure file, .png, .pdf or .svg (default SWEEP_DIR/plot_<y>_vs_<x>.png, only in a sweep folder "
        "elsa-tlm wrote); an existing file is replaced only if elsa-tlm drew it",
    )
    p.set_defaults(func=cmd_plot)
    return p


def cmd_plot(args: argparse.Namespace) -> int:
    from elsa_tlm import api

    print(f"wrote {api.plot(args.sweep_dir, args.x, args.y, args.hue, args.out)}")
    return 0


def register_compare(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    c = sub.add_parser(
        "compare",
        help="runs beside the published chips (ANT, PAICORE, SpinalFlow...): table, ratios, figure",
    )
    c.add_argument("runs", nargs="+", help="run folders (elsa-tlm run wrote them)")
    output_argument(
        c,
        "--out",
        "folder",
        required=True,
        help="folder for compare.csv, ratios.csv, compare.md, compare.png",
    )
    c.set_defaults(func=cmd_compare)
    return c


def cmd_compare(args: argparse.Namespace) -> int:
    from elsa_tlm import api

    res = api.compare(args.runs, args.out)
    for line in res["headlines"]:
        print(line)
    print("baseline figures are published numbers at their own technology, voltage and clock, not simulated")
    print(f"wrote {res['out']}/compare.csv, ratios.csv, compare.md, compare.png")
    return 0


def register_export(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    e = sub.add_parser(
        "export",
        help="write a shipped network as a NIR graph (run it back with workload.model = nir:PATH)",
        description="Write a shipped network's layer graph as a NIR graph (HDF5): the recorded CNNs with "
        "placeholder weights (replay their saved activity, or give a rate), digits with its trained weights.",
    )
    e.add_argument("model", help="a shipped network (vgg16_cifar10, resnet18, ..., digits)")
    output_argument(e, "--nir", "file", required=True, help="the NIR file to write (.nir)")
    e.set_defaults(func=cmd_export)
    return e


def cmd_export(args: argparse.Namespace) -> int:
    from elsa_tlm.config import MODELS
    from elsa_tlm.workload.nir_export import export

    if args.model not in MODELS:
        raise ConfigError("MODEL", args.model, f"must be one of {', '.join(MODELS)}")
    print(f"wrote {export(args.model, args.nir)}")
    return 0


# --------------------------------------------------------------------------------------------------- noc
def register_noc(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from elsa_tlm.noc.traffic import MAX_SYNTHETIC_EVENTS, PATTERNS

    p = sub.add_parser(
        "noc",
        help="NoC-only synthetic traffic run or latency-throughput sweep",
        description="One synthetic-traffic point (noc.json, links.csv) or a rate sweep (noc.json, "
        "noc_sweep.csv, latency_throughput.png) of a standalone NoC. Progress goes to stderr as elsa-tlm "
        "run's does (a bar on a terminal, else a line per phase and per tenth of the simulated cycles).",
        epilog="exit status: 0 ok; 2 bad input (one 'error:' line, nothing written); 3 the network deadlocked.",
    )
    p.add_argument("--topology", help="mesh:RxC | torus:RxC | ring:N | file:PATH (default mesh:6x6)")
    p.add_argument(
        "--routing", help="xy | shortest | valiant | multipath (default xy; multipath: at most 1024 routers)"
    )
    p.add_argument(
        "--router",
        help="fast (transaction router, default) | vc (input-queued virtual-channel router; "
        "noc.virtual_channels, noc.vc_buffer_flits via --set)",
    )
    p.add_argument("--traffic", default="uniform", help=f"{' | '.join(PATTERNS)} (default uniform)")
    p.add_argument("--rate", type=float, default=0.1, help="offered load, flits/node/cycle (default 0.1)")
    p.add_argument("--packet-flits", type=int, default=1, help="flits per packet (default 1)")
    p.add_argument("--cycles", type=int, default=10000, help="measured cycles (default 10000)")
    p.add_argument("--warmup", type=int, default=1000, help="warm-up cycles (default 1000)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--set", action="append", metavar="noc.KEY=VALUE", help="override a NoC parameter")
    p.add_argument(
        "--sweep", metavar="START:STOP:STEP", help="sweep the rate; stops one point after saturation"
    )
    output_argument(p, "--out", "folder", required=True, help="output folder")
    p.add_argument(
        "--long",
        action="store_true",
        help=f"run even when the estimated cost exceeds {MAX_SYNTHETIC_EVENTS // 1_000_000} M events (minutes)",
    )
    p.set_defaults(func=cmd_noc)
    return p


def cmd_noc(args: argparse.Namespace) -> int:
    from elsa_tlm.studies.noc import noc_params, synthetic

    t0 = time.perf_counter()
    total = args.warmup + args.cycles

    def progress(what: str) -> _CycleProgress:  # one run's progress, its first line said
        bar = _CycleProgress(total, sys.stderr.isatty(), t0)
        bar.phase(f"simulate: {what}{total:,} cycles ({args.warmup:,} warm-up)")
        return bar

    res = synthetic(
        noc_params(args.set or [], args.topology, args.routing, args.router),
        args.out,
        traffic=args.traffic,
        rate=args.rate,
        packet_flits=args.packet_flits,
        cycles=args.cycles,
        warmup=args.warmup,
        seed=args.seed,
        sweep=args.sweep,
        long=args.long,
        progress=progress,
        log=_say,
    )
    out = res["out"]
    if "point" in res:
        r = res["point"]
        print(
            f"{r['topology']} {r['routing']} {r['router']} router {r['traffic']} rate {r['rate']}: "
            f"accepted {r['accepted_rate']}, "
            f"avg latency {r['avg_latency']} cycles (zero-load {r['zero_load_latency']}), "
            f"{r['events']} events, {r['wall_s']} s -> {out}/noc.json, links.csv"
        )
    else:
        print(
            f"sweep: {len(res['sweep'])} points, bound {res['saturation_bound']:.4f} -> {out}/noc_sweep.csv, "
            "latency_throughput.png"
        )
    return 0


def register_noc_plot(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from elsa_tlm.studies.noc import ROUTERS_TITLE

    p = sub.add_parser(
        "noc-plot",
        help="overlay the routers' latency-throughput curves (elsa-tlm noc --sweep folders; make noc-curve)",
        description="Read ROOT/<router>/<traffic>/noc_sweep.csv and noc.json (written by elsa-tlm noc --sweep) "
        "for the routers (fast, vc) and traffic patterns found there and draw one panel per pattern: average "
        "latency against offered load for each router, with the channel-load bound.",
    )
    p.add_argument("root", help="folder holding <router>/<traffic>/noc_sweep.csv")
    output_argument(
        p,
        "--out",
        "file",
        required=True,
        help="figure to write (.png, .pdf, .svg; replaced only if elsa-tlm drew it)",
    )
    p.add_argument("--title", default=ROUTERS_TITLE)
    p.add_argument(
        "--ref",
        metavar="CSV",
        help="published points (columns label, traffic, offered, latency), one black marker per label",
    )
    p.set_defaults(func=cmd_noc_plot)
    return p


def cmd_noc_plot(args: argparse.Namespace) -> int:
    from elsa_tlm.studies.noc import routers_plot

    curves = routers_plot(args.root, args.out, args.title, args.ref)
    for pat, by in sorted(curves.items()):
        for router, (rows, meta) in sorted(by.items()):
            sat = [r["offered_rate"] for r in rows if r["saturated"] == "False"]
            print(
                f"{pat} {router}: max unsaturated offered {max(sat) if sat else None}, "
                f"max accepted {max(r['accepted_rate'] for r in rows):.3f}, bound {meta['saturation_bound']:.3f}"
            )
    print(f"-> {args.out}")
    return 0


# ---------------------------------------------------------------------------------------------- studies
def register_study(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from elsa_tlm.studies.sweep import SWEEP_STUDIES

    p = sub.add_parser(
        "study",
        help="the table and figure of a sweep-based study from its finished sweep (make products, flits...)",
        description="Write <name>.csv and <name>.png from the finished sweep of scenarios/studies/<name>.toml "
        "(elsa-tlm sweep ran it into --sweep-dir).",
    )
    p.add_argument("name", choices=SWEEP_STUDIES, help="the study")
    p.add_argument("--sweep-dir", help="the finished sweep folder (required)")
    output_argument(p, "--out", "folder", required=True, help="folder for <name>.csv and <name>.png")
    p.set_defaults(func=cmd_study)
    return p


def cmd_study(args: argparse.Namespace) -> int:
    from elsa_tlm.studies.sweep import draw_study

    rows = draw_study(args.name, args.sweep_dir, args.out)
    failed = sum(r.get("status") != "ok" for r in rows)
    print(f"{args.name}: {len(rows)} rows ({failed} not ok) -> {args.out}/{args.name}.csv, {args.name}.png")
    return 0


def register_pipelines(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from elsa_tlm.studies.pipelines import NETWORKS

    p = sub.add_parser(
        "pipelines",
        help="the measured networks under the spine/tbt/lbl schedules: pipelines.csv, pipelines.png",
    )
    output_argument(p, "--out", "folder", required=True, help="folder for pipelines.csv and pipelines.png")
    p.add_argument("--models", default=",".join(NETWORKS), help="networks, comma-separated (default: all)")
    p.add_argument(
        "--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override for every run"
    )
    workers_arguments(p)
    p.set_defaults(func=cmd_pipelines)
    return p


def cmd_pipelines(args: argparse.Namespace) -> int:
    from elsa_tlm.studies.pipelines import pipelines

    check_workers(args.workers)
    rows = pipelines(args.out, _names(args.models), args.set, args.workers)
    for r in rows:
        print(
            f"{r['model']:17s} {r['policy']:5s} first {r['first_output_cycle']:>9} latency {r['latency_cycles']:>9} "
            f"({r['first_output_vs_spine']:.2f}x / {r['latency_vs_spine']:.2f}x spine)  {r['energy_j'] * 1e6:.1f} uJ"
        )
    print(f"wrote {args.out}/pipelines.csv and pipelines.png")
    return 0


def register_analytic_check(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from elsa_tlm.studies.analytic_check import CASES

    p = sub.add_parser(
        "analytic-check",
        help="the analytic mode against at on every case: analytic_check.csv, .md (and docs/MODEL.md's table)",
    )
    output_argument(p, "--out", "folder", required=True, help="folder for analytic_check.csv and .md")
    p.add_argument(
        "--cases",
        default="",
        help=f"cases by number, comma-separated (default: all {len(CASES)}; `elsa-tlm analytic-check --list`)",
    )
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    p.add_argument(
        "--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override for every case"
    )
    workers_arguments(p)
    output_argument(p, "--doc", "file", help="a MODEL.md whose analytic-check markers get the table")
    p.set_defaults(func=cmd_analytic_check)
    return p


def cmd_analytic_check(args: argparse.Namespace) -> int:
    from elsa_tlm.studies.analytic_check import CASES, check

    if args.list:
        for i, (name, sets) in enumerate(CASES):
            print(f"{i:2d} {name:26s} {' '.join(sets)}")
        return 0
    check_workers(args.workers)
    cases = CASES
    if args.cases:
        try:
            cases = [CASES[int(x)] for x in args.cases.split(",")]
        except (ValueError, IndexError):
            raise ConfigError(
                "--cases", args.cases, f"must be case numbers 0-{len(CASES) - 1}, comma-separated"
            ) from None
    rows = check(args.out, cases, args.set, args.workers, args.doc)
    for r in rows:
        print(
            f"{r['case']:26s} latency {r['latency_err_pct']:+6.1f} %  first {r['first_output_err_pct']:+6.1f} %  "
            f"energy {r['energy_err_pct']:+6.1f} %  {r['speedup']}x faster  {'ok' if r['within_bar'] else 'MISS'}"
            f"  | lt back-pressure: latency {r['lt_bp_latency_err_pct']:+6.1f} %  first "
            f"{r['lt_bp_first_output_err_pct']:+6.1f} %  {'ok' if r['lt_bp_within_bar'] else 'MISS'}"
        )
    print(
        f"wrote {args.out}/analytic_check.csv and analytic_check.md" + (f", {args.doc}" if args.doc else "")
    )
    return 0


def register_elastic(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "elastic",
        help="accuracy against latency per schedule on a functional (digits) scenario: elastic.csv, .png",
        description="Accuracy against latency (cycles) for each schedule policy: elastic.csv, "
        "elastic_exits.json and elastic_policies.png.",
    )
    p.add_argument("--scenario", default="digits", help="a functional scenario file or shipped name")
    output_argument(
        p, "--out", "folder", required=True, help="folder for elastic.csv, elastic_exits.json, .png"
    )
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a key")
    p.set_defaults(func=cmd_elastic)
    return p


def cmd_elastic(args: argparse.Namespace) -> int:
    from elsa_tlm.studies.elastic import compare_policies

    rows = compare_policies(args.scenario, args.out, args.set)
    last = {r["policy"]: r for r in rows}  # each policy's last step
    for pol, r in last.items():
        print(f"{pol}: accuracy {r['accuracy']:.4f} at step {r['step']}, cycle {r['mean_cycle']:.0f}")
    print(f"wrote {args.out}/elastic.csv, elastic_exits.json, elastic_policies.png")
    return 0


def register_baselines(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from elsa_tlm.studies.compare import CLOCKS, NETWORKS

    p = sub.add_parser(
        "baselines",
        help="the default chip on the networks the published chips report, at each clock, then compare",
        description="Run the default chip on the networks the baselines measured, at each clock (runs in "
        "--runs/<model>_<clock>MHz), then compare them with the published chips (as elsa-tlm compare).",
    )
    output_argument(
        p, "--out", "folder", default="plots/baselines", help="compare folder (default %(default)s)"
    )
    output_argument(
        p,
        "--runs",
        "folder",
        default="results/baselines",
        help="parent of the run folders (default %(default)s)",
    )
    p.add_argument("--models", default=",".join(NETWORKS), help="networks, comma-separated")
    p.add_argument(
        "--clocks", default=",".join(str(c) for c in CLOCKS), help="clocks in MHz, comma-separated"
    )
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a key")
    p.set_defaults(func=cmd_baselines)
    return p


def cmd_baselines(args: argparse.Namespace) -> int:
    from elsa_tlm.studies.compare import baselines_study

    try:
        clocks = [float(c) for c in _names(args.clocks)]
    except ValueError:
        raise ConfigError("--clocks", args.clocks, "must be numbers separated by commas") from None
    res = baselines_study(args.out, args.runs, _names(args.models), clocks, args.set)
    for line in res["headlines"]:
        print(line)
    print(f"wrote {res['out']}/compare.csv, ratios.csv, compare.md, compare.png")
    return 0


def register_bench(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "bench",
        help="the reference benchmark (make bench): wall time, events and memory of ResNet-18/50 and ViT-Small",
        description="Run the references (ResNet-18/50 at and lt, ViT-Small at), each in its own process, "
        "repeated and interleaved, and check the speed targets on the medians.",
        epilog="exit status: 0 every speed target met; 1 a target missed; 2 bad input.",
    )
    output_argument(p, "--out", "file", default="results/bench/results.json", help="results file (JSON)")
    p.add_argument("--set", action="append", default=[], help="extra config overrides for every run")
    p.add_argument("--repeat", type=int, default=3, help="runs of each reference (targets check the median)")
    p.set_defaults(func=cmd_bench)
    return p


def cmd_bench(args: argparse.Namespace) -> int:
    from elsa_tlm.studies.bench import bench

    ok = bench(args.out, args.set, args.repeat)
    print(f"wrote {args.out}" + ("" if ok else "  (a speed target was missed)"))
    return 0 if ok else 1


def register_report(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("report", help="one self-contained HTML page for a run or sweep folder")
    p.add_argument("dir", help="a run folder (summary.json) or a sweep folder (sweep.csv)")
    output_argument(
        p,
        "--out",
        "file",
        help="HTML file (default DIR/report.html, only in a folder elsa-tlm wrote); an existing file is "
        "replaced only if elsa-tlm wrote it",
    )
    p.add_argument("--images", action="append", default=[], metavar="DIR", help="also embed the PNGs of DIR")
    p.set_defaults(func=cmd_report)
    return p


def cmd_report(args: argparse.Namespace) -> int:
    from elsa_tlm.figures.report import write_report

    print(f"report: {write_report(args.dir, args.out, args.images)}")
    return 0


# The subcommands, in help order: name -> the function that adds it to the parser (every command's arguments
# are declared in this module; each command calls elsa_tlm.api or a study of elsa_tlm.studies).
SUBCOMMANDS: tuple[tuple[str, Callable[[argparse._SubParsersAction], argparse.ArgumentParser]], ...] = (
    ("run", register_run),
    ("validate", register_validate),
    ("scenarios", register_scenarios),
    ("noc", register_noc),
    ("noc-plot", register_noc_plot),
    ("sweep", register_sweep),
    ("explore", register_explore),
    ("study", register_study),
    ("diff", register_diff),
    ("plot", register_plot),
    ("compare", register_compare),
    ("baselines", register_baselines),
    ("report", register_report),
    ("export", register_export),
    ("pipelines", register_pipelines),
    ("analytic-check", register_analytic_check),
    ("elastic", register_elastic),
    ("bench", register_bench),
)


def build_parser() -> argparse.ArgumentParser:
    from elsa_tlm.version import __version__

    p = argparse.ArgumentParser(
        prog="elsa-tlm", description="Transaction-level model of the ELSA SNN accelerator"
    )
    p.add_argument("--version", action="version", version=f"elsa-tlm {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for name, register in SUBCOMMANDS:
        register(sub)
        assert name in sub.choices, name  # the table's name is the command's
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except DeadlockError as exc:
        print(f"deadlock: {exc}", file=sys.stderr)
        return 3
    except StallError as exc:
        print(f"stall: {exc}", file=sys.stderr)
        return 3
    except ElsaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as exc:  # a file or folder the user named cannot be read or written
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
