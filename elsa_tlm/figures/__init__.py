"""Figures of runs (:mod:`.run`), of studies and sweeps (:mod:`.studies`) and the HTML report (:mod:`.report`).

Results are plain data (:mod:`elsa_tlm.results`); the API attaches a run's figures to its result as an extra
writer (:func:`attach`), so writing a result never imports matplotlib unless figures were asked for.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from elsa_tlm.results import Result


def _draw_run(result: Result, folder: Path) -> None:
    from elsa_tlm.figures.run import plot_run

    plot_run(result, folder)


class RunFigures:
    """Extra writer that draws a run's timeline, energy and mapping figures into its result folder."""

    def __init__(self, result: Result) -> None:
        self.result = result

    def __call__(self, folder: Path) -> None:
        _draw_run(self.result, folder)


def attach(result: Result) -> Result:
    """Add the run's figures to what ``result.save`` writes, when ``output.plots`` asks for them (once)."""
    if result.config.output.plots and not any(isinstance(w, RunFigures) for w in result.extra_writers):
        result.extra_writers.insert(0, RunFigures(result))
    return result
