"""The result of one run as plain data (:class:`Result`) and the columns of its CSV files.

summary.json is deterministic for a config and seed apart from its ``sim`` block (wall time, events, memory).
Writing is :mod:`elsa_tlm.results.writers`; figures are :mod:`elsa_tlm.figures` (attached as extra writers by
the API), so nothing here draws.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from elsa_tlm.config import Config
from elsa_tlm.fileio import path_argument
from elsa_tlm.results.writers import write_result

if TYPE_CHECKING:
    from elsa_tlm.mapping import Mapping
    from elsa_tlm.workload.activity import Activity
    from elsa_tlm.workload.graph import Workload


@dataclass
class Result:
    """Everything a run produced, as plain data."""

    config: Config
    workload: Workload
    mapping: Mapping
    activity: Activity
    summary: dict[str, Any]
    layer_rows: list[dict[str, Any]]
    link_rows: list[dict[str, Any]]
    timeline: list[tuple[str, int, int, int, int]] = field(default_factory=list)  # layer, start, end, t0, t1
    trace_events: list[dict[str, Any]] = field(default_factory=list)  # slice transactions (output.trace)
    noc_transfers: list[tuple[int, int, int, int, int, int]] = field(default_factory=list)  # at mode, traced
    fifo_samples: list[tuple[int, int, int, int]] = field(default_factory=list)
    core_rows: list[dict[str, Any]] = field(default_factory=list)  # per neural core (cores.csv)
    softmax_stalls: list[tuple[str, int, int, int]] = field(default_factory=list)  # layer, start, end, step
    # functions that add files of their own into the result folder (figures, the functional run's samples.csv)
    extra_writers: list[Callable[[Path], None]] = field(default_factory=list, repr=False)

    def save(self, folder: str | os.PathLike, copy_plots_to: str | os.PathLike | None = None) -> Path:
        """Write the run's files into ``folder`` (new, empty, or a previous run result; see write_result)."""
        out = path_argument("folder", folder)
        plots = path_argument("copy_plots_to", copy_plots_to, optional=True)
        return write_result(self, out, plots)  # type: ignore[arg-type]
