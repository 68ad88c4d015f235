"""The result of one run as plain data (:class:`Result`) and the columns of its CSV files.

summary.json is deterministic for a config and seed apart from its ``sim`` block (wall time, events, memory).
Writing is :func:`elsa_tlm.results.write_result` (:mod:`elsa_tlm.results.writers`, which imports this module,
never the other way round); figures are :mod:`elsa_tlm.figures` (attached as extra writers by the API), so
nothing here draws or writes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from elsa_tlm.config import Config

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

    # ``result.save(folder, copy_plots_to=None) -> Path`` is ``write_result(result, folder, copy_plots_to)``:
    # elsa_tlm.results (the package) attaches it once both modules are loaded, so this module stays plain data
    # and imports no writer
    save: ClassVar[Callable[..., Path]]
