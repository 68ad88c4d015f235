"""Command line: ``elsa-tlm run | validate | noc``.

Bad input (a scenario that breaks a rule, a missing file, a network that does not fit) prints one line
``error: ...`` on stderr and exits with status 2, writing nothing. A deadlocked or stalled simulation
exits with status 3 and says which links or slices were stuck.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from elsa_tlm.config import load_config
from elsa_tlm.errors import ConfigError, DeadlockError, ElsaError

REPO_ROOT = Path(__file__).resolve().parents[1]


def _out_dir(cfg, explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    if cfg.output.dir:
        p = Path(cfg.output.dir)
        return p if p.is_absolute() else cfg.base_dir / p
    return Path("results") / cfg.name


def cmd_validate(args: argparse.Namespace) -> int:
    cfg = load_config(args.scenario, args.set or [])
    print(f"ok: {args.scenario} ({cfg.workload.model}, {cfg.noc.topology}, {cfg.schedule.policy})")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from elsa_tlm import sim
    from elsa_tlm.results import write_result

    overrides = list(args.set or [])
    if args.trace:
        overrides.append("output.trace=true")
    cfg = load_config(args.scenario, overrides)
    out = _out_dir(cfg, args.out)
    if out.exists() and not out.is_dir():
        raise ConfigError("--out", str(out), "exists and is not a folder")
    extra = None
    if cfg.workload.activity == "functional":
        from elsa_tlm import elastic

        er = elastic.run(cfg)
        result = er.result

        def extra(folder: Path) -> None:
            elastic.write_extras(er, folder)
    else:
        result = sim.run(cfg)
    copy_to = None
    if cfg.output.copy_plots and not args.out and not cfg.output.dir:
        copy_to = Path("plots") / cfg.name
    write_result(result, out, copy_to, extra)
    if args.save_activity:
        from elsa_tlm.workload.activity import save_activity

        save_activity(args.save_activity, result.activity)
    s = result.summary
    print(
        f"{s['model']} T={s['time_steps']} {s['schedule']} on {s['topology']} ({s['cores_used']} cores): "
        f"latency {s['latency_cycles']} cycles ({s['latency_ms']:.4g} ms), first output {s['first_output_cycle']}, "
        f"energy {s['energy_j'] * 1e6:.4g} uJ, {s['tops_per_w']:.3g} TOPS/W"
    )
    print(f"results: {out}/summary.json, layers.csv, links.csv, mapping.json, config.resolved.toml")
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="elsa-tlm", description="Transaction-level model of the ELSA SNN accelerator"
    )
    sub = p.add_subparsers(dest="command", required=True)
    sp = sub.add_parser("run", help="run a scenario")
    sp.add_argument("scenario", help="scenario TOML file")
    sp.add_argument("--out", help="output folder (default results/<scenario-name>)")
    sp.add_argument(
        "--set", action="append", metavar="SECTION.KEY=VALUE", help="override a config key (TOML value)"
    )
    sp.add_argument("--trace", action="store_true", help="write trace.json (Perfetto/Chrome trace events)")
    sp.add_argument(
        "--save-activity", metavar="NPZ", help="save the spike activity for workload.activity=replay"
    )
    sp.set_defaults(func=cmd_run)
    sv = sub.add_parser("validate", help="check a scenario file")
    sv.add_argument("scenario")
    sv.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE")
    sv.set_defaults(func=cmd_validate)
    try:
        from elsa_tlm.noc import cli as noc_cli

        noc_cli.register(sub)
    except ImportError:  # pragma: no cover - the NoC CLI ships with the package
        pass
    from elsa_tlm import report, sweep

    sweep.register(sub)
    report.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except DeadlockError as exc:
        print(f"deadlock: {exc}", file=sys.stderr)
        return 3
    except ElsaError as exc:
        if type(exc).__name__ == "StallError":
            print(f"stall: {exc}", file=sys.stderr)
            return 3
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
