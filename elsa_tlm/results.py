"""Result files of one run: summary.json, layers.csv, links.csv, mapping.json, config.resolved.toml, plots.

Everything is written into a temporary sibling folder first and renamed into place at the end, so a run that
fails leaves the previous results untouched. summary.json is deterministic for a config and seed apart from
its ``sim`` block (wall time, events, memory).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from elsa_tlm.config import to_toml
from elsa_tlm.fileio import DIR_MODE, write_csv_atomic, write_json_atomic, write_text_atomic
from elsa_tlm.sim import Result

LAYER_FIELDS = [
    "layer",
    "kind",
    "cores",
    "input_spikes",
    "output_spikes",
    "expanded_events",
    "packets_in",
    "flits_in",
    "packets_out",
    "busy_cycles",
    "first_spine_cycle",
    "last_spine_cycle",
    "transactions",
    "energy_j",
]
LINK_FIELDS = ["src", "dst", "packets", "flits", "bits", "busy_cycles"]


def _round(obj: object) -> object:
    """Floats rounded to 12 significant digits so the bytes do not depend on summation noise."""
    if isinstance(obj, float):
        return float(f"{obj:.12g}")
    if isinstance(obj, dict):
        return {k: _round(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_round(v) for v in obj]
    return obj


def write_result(
    result: Result,
    out_dir: Path,
    copy_plots_to: Path | None = None,
    extra: Callable[[Path], None] | None = None,
) -> Path:
    """Write every output of ``result`` into ``out_dir`` atomically (replacing a previous run there)."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    os.chmod(tmp, DIR_MODE)  # mkdtemp gives 0700; results are meant to be shared
    try:
        write_json_atomic(tmp / "summary.json", _round(result.summary))
        write_csv_atomic(tmp / "layers.csv", [_round(r) for r in result.layer_rows], LAYER_FIELDS)
        write_csv_atomic(tmp / "links.csv", result.link_rows, LINK_FIELDS)
        write_json_atomic(tmp / "mapping.json", _round(result.mapping.to_json()))
        write_text_atomic(tmp / "config.resolved.toml", to_toml(result.config))
        if result.config.output.trace:
            from elsa_tlm.trace import write_trace

            write_trace(tmp / "trace.json", result)
        if result.config.output.plots:
            from elsa_tlm import plots

            plots.plot_run(result, tmp)
        if extra is not None:
            extra(tmp)
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}.old")
            if old.exists():
                shutil.rmtree(old)
            os.replace(out_dir, old)
            os.replace(tmp, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if copy_plots_to is not None and result.config.output.plots:
        copy_plots_to.mkdir(parents=True, exist_ok=True)
        for png in sorted(out_dir.glob("*.png")):
            shutil.copy2(png, copy_plots_to / png.name)
    return out_dir
