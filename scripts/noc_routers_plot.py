"""Overlay the latency-throughput curves of the two routers (``make noc-curve``).

Reads ``ROOT/<router>/<traffic>/noc_sweep.csv`` and ``noc.json`` (written by ``elsa-tlm noc --sweep``) for the
routers and traffic patterns found there and draws one panel per pattern: average latency against offered
load for each router, with the channel-load bound. Optional ``--ref CSV`` adds published points
(columns: label, traffic, offered, latency; further columns are ignored) to the panels of their pattern, one
black marker and legend entry per label.

    python scripts/noc_routers_plot.py results/noc-curve --out plots/noc-curve/routers.png
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from elsa_tlm.errors import ElsaError
from elsa_tlm.fileio import check_figure_file, output_argument, save_figure

ROUTERS = ("fast", "vc")
STYLE = {"fast": ("tab:blue", "o"), "vc": ("tab:red", "s")}
REF_MARKERS = ("^", "v", "D", "*")


def _rows(path: Path) -> list[dict]:
    with path.open() as f:
        return [
            {k: (float(v) if v not in ("", "True", "False") else v) for k, v in r.items()}
            for r in csv.DictReader(f)
        ]


def load(root: Path) -> dict[str, dict[str, tuple[list[dict], dict]]]:
    """{traffic: {router: (sweep rows, noc.json)}} for every sweep under ``root``."""
    out: dict[str, dict[str, tuple[list[dict], dict]]] = {}
    for router in ROUTERS:
        for d in sorted((root / router).glob("*")) if (root / router).is_dir() else []:
            if (d / "noc_sweep.csv").is_file():
                meta = json.loads((d / "noc.json").read_text())
                out.setdefault(d.name, {})[router] = (_rows(d / "noc_sweep.csv"), meta)
    return out


def plot(curves: dict, out: Path, title: str, ref: list[dict] | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pats = sorted(curves, key=lambda t: (t != "uniform", t))
    fig, axes = plt.subplots(1, len(pats), figsize=(5.2 * len(pats), 4.0), squeeze=False)
    for ax, pat in zip(axes[0], pats, strict=True):
        bound = None
        zl = None
        for router in ROUTERS:
            if router not in curves[pat]:
                continue
            rows, meta = curves[pat][router]
            bound = meta.get("saturation_bound", bound)
            pts = [r for r in rows if isinstance(r["avg_latency"], float)]
            zl = zl or (pts[0]["zero_load_latency"] if pts else None)
            color, marker = STYLE[router]
            ax.plot(
                [r["offered_rate"] for r in pts],
                [r["avg_latency"] for r in pts],
                marker=marker,
                color=color,
                label=f"{router} router",
            )
        pref = [r for r in ref or [] if r["traffic"] == pat]
        for i, lab in enumerate(dict.fromkeys(r["label"] for r in pref)):  # one marker per source
            pts = [r for r in pref if r["label"] == lab]
            ax.plot(
                [float(r["offered"]) for r in pts],
                [float(r["latency"]) for r in pts],
                REF_MARKERS[i % len(REF_MARKERS)],
                color="k",
                ls="none",
                ms=7,
                label=lab,
            )
        if bound:
            ax.axvline(bound, color="0.4", ls=":", label=f"channel-load bound {bound:.3f}")
        if zl:
            ax.axhline(zl, color="0.7", ls="--", lw=0.8, label=f"zero-load {zl:.1f}")
        ax.set_yscale("log")
        ax.set_ylim(bottom=max(1.0, (zl or 10) * 0.8))
        ax.set_xlim(left=0)
        ax.set_xlabel("offered load (flits/node/cycle)")
        ax.set_ylabel("average packet latency (cycles)")
        ax.set_title(pat)
        ax.legend(fontsize=8, loc="best")  # out of the way of the points
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, out, dpi=100)  # cleared in main(): new, or a figure elsa-tlm wrote
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path, help="folder holding <router>/<traffic>/noc_sweep.csv")
    output_argument(ap, "--out", "file", type=Path, required=True, help="figure to write (.png, .pdf, .svg)")
    ap.add_argument("--title", default="6x6 mesh, XY, single-flit packets: fast vs vc router")
    ap.add_argument("--ref", type=Path, help="CSV of published points: label, traffic, offered, latency")
    args = ap.parse_args(argv)
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        check_figure_file(args.out, "--out")
    except (ElsaError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    curves = load(args.root)
    if not curves:
        print(f"error: no <router>/<traffic>/noc_sweep.csv under {args.root}")
        return 2
    ref = None
    if args.ref:
        with args.ref.open() as f:
            ref = list(csv.DictReader(f))
    plot(curves, args.out, args.title, ref)
    for pat, by in sorted(curves.items()):
        for router, (rows, meta) in sorted(by.items()):
            sat = [r["offered_rate"] for r in rows if r["saturated"] == "False"]
            print(
                f"{pat} {router}: max unsaturated offered {max(sat) if sat else None}, "
                f"max accepted {max(r['accepted_rate'] for r in rows):.3f}, bound {meta['saturation_bound']:.3f}"
            )
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
