"""Write a run's files: summary.json, layers.csv, links.csv, cores.csv, mapping.json, config.resolved.toml,
trace.json.gz (``output.trace``) and whatever the result's extra writers add (figures, samples.csv).

Everything is written into a temporary sibling folder first and renamed into place at the end, so a run that
fails leaves the previous results untouched.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from elsa_tlm.config import to_toml
from elsa_tlm.fileio import (
    MARKER,
    FolderLock,
    check_output_folder,
    forget,
    make_temp_folder,
    marker,
    path_argument,
    read_marker,
    write_bytes_atomic,
    write_csv_atomic,
    write_json_atomic,
    write_text_atomic,
)

if TYPE_CHECKING:
    from elsa_tlm.results.result import Result


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
    "flushes",
    "mean_spikes_per_flush",
    "evictions",
    "fired_rows",
    "energy_j",
]
LINK_FIELDS = ["src", "dst", "packets", "flits", "bits", "busy_cycles"]
CORE_FIELDS = [
    "core",
    "layers",
    "busy_cycles",
    "stalled_on_output_cycles",
    "starved_on_input_cycles",
    "busy_after_answer_cycles",
    "transactions",
    "lane_groups",
    "group_busy_cycles",
    "im2col_wait_cycles",
    "peak_input_fifo_flits",
    "peak_output_buffer_flits",
    "fifo_capacity_flits",
    "flushes",
    "evictions",
    "mean_spikes_per_flush",
    "lane_passes",
    "pe_busy_cycles",
    "residual_busy_cycles",
]


def _round(obj: object) -> object:
    """Floats rounded to 12 significant digits so the bytes do not depend on summation noise."""
    if isinstance(obj, float):
        return float(f"{obj:.12g}")
    if isinstance(obj, dict):
        return {k: _round(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_round(v) for v in obj]
    return obj


def peak_rss_mb() -> float:
    """The process's peak resident memory so far (MB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _remove_stale_temps(out_dir: Path) -> None:
    """Remove the temporary result folders a killed run left beside ``out_dir`` (``.<name>.<pid>.<random>``
    and ``.<name>.old.<pid>.<random>`` whose writer process is gone); a live writer's are left alone."""
    pattern = re.compile(rf"\.{re.escape(out_dir.name)}\.(?:old\.)?(\d+)\.[A-Za-z0-9_]+")
    try:
        candidates = list(out_dir.parent.iterdir())
    except OSError:
        return
    for d in candidates:
        m = pattern.fullmatch(d.name)
        if m and d.is_dir() and not d.is_symlink() and not _alive(int(m.group(1))):
            shutil.rmtree(d, ignore_errors=True)


def write_result(
    result: Result,
    folder: str | os.PathLike,
    copy_plots_to: str | os.PathLike | None = None,
) -> Path:
    """Write every output of ``result`` into ``folder`` atomically (``result.save(folder)`` is this); with
    ``copy_plots_to``, copy the run's PNGs there too. Returns the folder.

    ``folder`` must be new, empty or a previous run result (see :func:`elsa_tlm.fileio.check_output_folder`);
    anything else raises ConfigError and nothing is touched. Files go to a temporary sibling folder, which
    replaces ``folder`` under a lock on the parent folder, so concurrent writers are serialised (the last
    one wins) and a failure leaves the previous result in place.
    """
    out_dir = path_argument("folder", folder)
    plots = path_argument("copy_plots_to", copy_plots_to, optional=True)
    assert out_dir is not None
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with FolderLock(out_dir.parent):  # refuse before writing anything (another writer may be swapping)
        out_dir = check_output_folder(out_dir, "run")
    _remove_stale_temps(out_dir)
    # the writer's process id is in the name: a later run can tell a killed writer's leftovers from a live one
    tmp = make_temp_folder(out_dir.parent, prefix=f".{out_dir.name}.{os.getpid()}.")
    try:
        write_files(result, tmp)
        for writer in result.extra_writers:
            writer(tmp)
        sim = result.summary.get("sim")
        if isinstance(sim, dict) and "peak_rss_mb" in sim:  # the process peak after everything was written
            sim["peak_rss_mb"] = max(float(sim["peak_rss_mb"]), peak_rss_mb())
            write_json_atomic(tmp / "summary.json", _round(result.summary))
        write_json_atomic(tmp / MARKER, marker("run", (e.name for e in tmp.iterdir())))
        with FolderLock(out_dir.parent):
            check_output_folder(out_dir, "run")  # again, under the lock: another writer may have been first
            if out_dir.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old.{os.getpid()}.", dir=out_dir.parent))
                os.replace(out_dir, old / "x")
                os.replace(tmp, out_dir)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        forget(tmp)  # renamed into place or removed: nothing more is written there
    if plots is not None and result.config.output.plots:
        copy_plots(out_dir, plots)
    return out_dir


def copy_plots(src: Path, dst: Path) -> None:
    """Copy a run's PNGs into ``dst`` (new, empty or a plots folder this tool wrote; checked again here)."""
    with FolderLock(dst.parent):
        check_output_folder(dst, "plots", key="plots folder")
        dst.mkdir(parents=True, exist_ok=True)
        old = read_marker(dst)
        if old is None or old.get("guard") is None:  # new, empty, or marked before markers listed entries
            held = [e.name for e in dst.iterdir() if e.name != MARKER]
            write_json_atomic(dst / MARKER, marker("plots", [*(old or {}).get("entries", []), *held]))
        for png in sorted(src.glob("*.png")):  # through the guard: never over a link or a user's file
            write_bytes_atomic(dst / png.name, png.read_bytes())


def write_files(result: Result, folder: Path) -> None:
    """The run's data files (summary, CSVs, mapping, resolved config, trace) into an existing folder."""
    write_json_atomic(folder / "summary.json", _round(result.summary))
    write_csv_atomic(folder / "layers.csv", [_round(r) for r in result.layer_rows], LAYER_FIELDS)
    write_csv_atomic(folder / "links.csv", result.link_rows, LINK_FIELDS)
    write_csv_atomic(folder / "cores.csv", [_round(r) for r in result.core_rows], CORE_FIELDS)
    write_json_atomic(folder / "mapping.json", _round(result.mapping.to_json()))
    write_text_atomic(folder / "config.resolved.toml", to_toml(result.config))
    if result.config.output.trace:
        from elsa_tlm.results.trace import write_trace

        write_trace(folder / "trace.json.gz", result)
