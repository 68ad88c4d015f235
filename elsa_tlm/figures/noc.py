"""Figures of the standalone NoC (:mod:`elsa_tlm.studies.noc`): a rate sweep's latency and accepted throughput
against offered load (``elsa-tlm noc --sweep``), and the routers' curves overlaid (``elsa-tlm noc-plot``,
``make noc-curve``). Matplotlib, Agg backend, written through the output guard.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from elsa_tlm.fileio import save_figure  # noqa: E402

ROUTER_STYLE = {"fast": ("tab:blue", "o"), "vc": ("tab:red", "s")}
REF_MARKERS = ("^", "v", "D", "*")


def plot_latency_throughput(rows: list[dict], bound: float, title: str, path: Path) -> None:
    """``latency_throughput.png``: average and p99 packet latency, and accepted throughput, against offered
    load, with the channel-load bound."""
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


def plot_routers(
    curves: dict[str, dict[str, tuple[list[dict], dict]]],
    path: Path,
    title: str,
    ref: list[dict[str, Any]] | None = None,
    routers: tuple[str, ...] = ("fast", "vc"),
) -> None:
    """One panel per traffic pattern of ``curves`` ({traffic: {router: (sweep rows, noc.json)}}): average
    latency against offered load for each router, the channel-load bound and the zero-load latency; ``ref``
    rows (label, traffic, offered, latency) add published points, one black marker per label."""
    pats = sorted(curves, key=lambda t: (t != "uniform", t))
    fig, axes = plt.subplots(1, len(pats), figsize=(5.2 * len(pats), 4.0), squeeze=False)
    for ax, pat in zip(axes[0], pats, strict=True):
        bound = None
        zl = None
        for router in routers:
            if router not in curves[pat]:
                continue
            rows, meta = curves[pat][router]
            bound = meta.get("saturation_bound", bound)
            pts = [r for r in rows if isinstance(r["avg_latency"], float)]
            zl = zl or (pts[0]["zero_load_latency"] if pts else None)
            color, marker = ROUTER_STYLE[router]
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
    save_figure(fig, path, dpi=100)  # cleared by the caller: new, or a figure elsa-tlm wrote
    plt.close(fig)
