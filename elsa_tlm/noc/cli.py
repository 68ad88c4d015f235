"""The ``elsa-tlm noc`` subcommand: one synthetic-traffic point or a rate sweep of a standalone NoC.

Writes ``noc.json`` + ``links.csv`` (one point) or ``noc.json`` + ``noc_sweep.csv`` +
``latency_throughput.png`` (sweep). Bad input prints one ``error: ...`` line and returns 2, writing nothing;
a deadlock prints ``deadlock: ...`` and returns 3. Progress goes to stderr as ``elsa-tlm run``'s does (a bar on
a terminal, else a line per phase and per tenth of the simulated cycles).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from pathlib import Path

from elsa_tlm.cli import _Progress
from elsa_tlm.config import NocConfig, from_dict, inert_settings, parse_override
from elsa_tlm.errors import ConfigError, DeadlockError, ElsaError
from elsa_tlm.fileio import (
    claim_output_folder,
    output_argument,
    save_figure,
    write_csv_atomic,
    write_json_atomic,
)
from elsa_tlm.noc.params import noc_config
from elsa_tlm.noc.traffic import MAX_SYNTHETIC_EVENTS, PATTERNS

LINK_FIELDS = ["src", "dst", "packets", "flits", "bits", "busy_cycles", "utilisation"]
SWEEP_FIELDS = [
    "rate",
    "offered_rate",
    "accepted_rate",
    "avg_latency",
    "p99_latency",
    "zero_load_latency",
    "avg_hops",
    "drained",
    "saturated",
    "events",
    "wall_s",
]


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``noc`` subcommand to the main parser."""
    p = subparsers.add_parser("noc", help="NoC-only synthetic traffic run or latency-throughput sweep")
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
    p.set_defaults(func=run)
    return p


def _params(args: argparse.Namespace) -> NocConfig:
    """The ``[noc]`` section from ``--set noc.KEY=VALUE`` (TOML values, the scenario schema) and the
    --topology/--routing shortcuts; ``file:`` paths resolve against the working folder."""
    d: dict[str, object] = {}
    for item in args.set or []:
        section, key, value = parse_override(item)
        if section != "noc":
            raise ConfigError(f"{section}.{key}", value, "the noc subcommand takes only noc.* keys")
        d[key] = value
    if args.topology is not None:
        d["topology"] = args.topology
    if args.routing is not None:
        d["routing"] = args.routing
    if getattr(args, "router", None) is not None:
        d["router"] = args.router
    return noc_config(Path.cwd(), **d)


class _CycleProgress(_Progress):
    """``elsa-tlm run``'s progress, counted in simulated cycles instead of work items."""

    def __init__(self, total: int, tty: bool, t0: float | None = None) -> None:
        super().__init__(total, tty, t0)
        if self.bar is not None:
            self.bar.unit = "cycle"

    def phase(self, text: str) -> None:
        super().phase(text.replace(" work items", " cycles"))

    def note(self, text: str) -> None:
        """A note before the run (a large or oversaturated one), said as ``elsa-tlm run`` says its own."""
        print(f"note: {text}", file=sys.stderr, flush=True)


def _progress(what: str, args: argparse.Namespace, t0: float) -> _CycleProgress:
    """The progress of one synthetic run, its first line said."""
    bar = _CycleProgress(args.warmup + args.cycles, sys.stderr.isatty(), t0)
    bar.phase(f"simulate: {what}{args.warmup + args.cycles:,} cycles ({args.warmup:,} warm-up)")
    return bar


def _sweep_rates(spec: str) -> list[float]:
    try:
        start, stop, step = (float(x) for x in spec.split(":"))
    except ValueError:
        raise ConfigError("--sweep", spec, "must be START:STOP:STEP (numbers)") from None
    if not all(math.isfinite(x) for x in (start, stop, step)) or step <= 0 or start < 0 or stop < start:
        raise ConfigError("--sweep", spec, "needs finite 0 <= START <= STOP and STEP > 0")
    if (stop - start) / step > 1000:
        raise ConfigError("--sweep", spec, "more than 1000 rate points; use a larger STEP")
    n = int((stop - start) / step + 1e-9) + 1
    return [round(start + i * step, 10) for i in range(n)]


def _saturated(r: dict) -> bool:
    if r["avg_latency"] is None:
        return r["offered_rate"] > 0
    return r["accepted_rate"] < 0.9 * r["offered_rate"] or r["avg_latency"] > 10 * r["zero_load_latency"]


def _plot(rows: list[dict], bound: float, title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    xs = [r["offered_rate"] for r in rows if r["avg_latency"] is not None]
    ax1.plot(xs, [r["avg_latency"] for r in rows if r["avg_latency"] is not None], "o-", label="avg latency")
    ax1.plot(
        xs, [r["p99_latency"] for r in rows if r["avg_latency"] is not None], "s--", alpha=0.6, label="p99"
    )
    ax1.axvline(bound, color="r", ls=":", label=f"channel-load bound {bound:.3f}")
    ax1.set_xlabel("offered load (flits/node/cycle)")
    ax1.set_ylabel("packet latency (cycles)")
    ax1.set_yscale("log")
    ax1.legend()
    offered = [r["offered_rate"] for r in rows]
    ax2.plot(offered, [r["accepted_rate"] for r in rows], "o-", label="accepted")
    ax2.plot(offered, offered, "k--", lw=0.8, label="accepted = offered")
    ax2.axhline(bound, color="r", ls=":", label="bound")
    ax2.set_xlabel("offered load (flits/node/cycle)")
    ax2.set_ylabel("accepted throughput (flits/node/cycle)")
    ax2.legend()
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)  # through the output guard, elsa-tlm named as its maker
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    """Run the subcommand; returns the exit status (0 ok, 2 bad input, 3 deadlock)."""
    from elsa_tlm.noc.traffic import check_synthetic, run_synthetic

    t0 = time.perf_counter()
    try:
        params = _params(args)
        base = dict(
            traffic=args.traffic, packet_flits=args.packet_flits, cycles=args.cycles, warmup=args.warmup
        )
        # every argument is checked before the output folder is touched
        rates = _sweep_rates(args.sweep) if args.sweep is not None else [args.rate]
        if not all(math.isfinite(r) for r in rates):
            raise ConfigError("--rate", args.rate, "must be a finite number >= 0")
        # the rates' lower bound (>= 0) is --sweep's own rule; the upper one is checked with the network
        check_synthetic(
            params,
            seed=args.seed,
            rate=max(rates),
            base_dir=Path.cwd(),
            max_events=None if args.long else MAX_SYNTHETIC_EVENTS,
            **base,
        )
        out = claim_output_folder(args.out, "noc")
        # keys this run never reads (the vc router's with --router fast), said as a scenario run says them
        warnings = [
            w for w in inert_settings(from_dict({"version": 1}).replace(noc=params)) if w.startswith("noc.")
        ]
        for line in warnings:
            print(f"warning: {line}", file=sys.stderr)
        meta = {"params": dataclasses.asdict(params), "warnings": warnings}
        if args.sweep is None:
            bar = _progress("", args, t0)
            try:
                r = run_synthetic(
                    params, rate=args.rate, seed=args.seed, base_dir=Path.cwd(), progress=bar, **base
                )
            finally:
                bar.close()
            bar.phase(f"write: {out}")
            write_json_atomic(out / "noc.json", meta | r)
            write_csv_atomic(out / "links.csv", r["links"], LINK_FIELDS)
            print(
                f"{r['topology']} {r['routing']} {r['router']} router {r['traffic']} rate {r['rate']}: "
                f"accepted {r['accepted_rate']}, "
                f"avg latency {r['avg_latency']} cycles (zero-load {r['zero_load_latency']}), "
                f"{r['events']} events, {r['wall_s']} s -> {out}/noc.json, links.csv"
            )
            return 0
        rows: list[dict] = []
        bound = 0.0
        saturated_seen = False
        last: dict = {}
        for rate in _sweep_rates(args.sweep):
            bar = _progress(f"rate {rate}, ", args, t0)
            try:
                r = run_synthetic(
                    params, rate=rate, seed=args.seed, base_dir=Path.cwd(), progress=bar, **base
                )
            finally:
                bar.close()
            bound = r["saturation_bound"]
            row = {k: r[k] for k in SWEEP_FIELDS if k in r} | {"saturated": _saturated(r)}
            rows.append(row)
            last = r
            print(
                f"rate {rate}: accepted {r['accepted_rate']}, avg latency {r['avg_latency']}", file=sys.stderr
            )
            if saturated_seen:
                break
            saturated_seen = row["saturated"]
        title = (
            f"{last['topology']} {last['routing']} {last['traffic']}, {args.packet_flits}-flit packets, "
            f"{last['router']} router"
        )
        summary = meta | {
            k: last[k]
            for k in ("topology", "routing", "router", "traffic", "packet_flits", "cycles", "warmup", "seed")
        }
        summary |= {"saturation_bound": bound, "sweep": rows}
        sat = [r["offered_rate"] for r in rows if not r["saturated"]]
        summary["max_unsaturated_offered"] = max(sat) if sat else None
        summary["max_accepted_rate"] = max(r["accepted_rate"] for r in rows)
        write_csv_atomic(out / "noc_sweep.csv", rows, SWEEP_FIELDS)
        _plot(rows, bound, title, out / "latency_throughput.png")
        write_json_atomic(out / "noc.json", summary)
        print(f"sweep: {len(rows)} points, bound {bound:.4f} -> {out}/noc_sweep.csv, latency_throughput.png")
        return 0
    except DeadlockError as exc:
        print(f"deadlock: {exc}", file=sys.stderr)
        return 3
    except ElsaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point (``python -m elsa_tlm.noc.cli``)."""
    parser = argparse.ArgumentParser(prog="elsa-tlm")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["noc", *(argv if argv is not None else sys.argv[1:])])
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
