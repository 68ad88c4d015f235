"""Run one simulation: ``run(config) -> Result``.

:func:`run` prepares the run (:func:`elsa_tlm.plan.prepare`: workload, activity, topology, mapping, routes,
a :class:`~elsa_tlm.plan.Plan`), hands the plan to the chip builder (:mod:`elsa_tlm.chip`: neural cores,
network interfaces, routers and links, bound through their ports), runs the chip's event kernel to completion
(:func:`simulate`) and collects plain data for :mod:`elsa_tlm.results`. ``prepare``, ``Plan`` and
``build_activity`` are importable from here too; the collector pause is :mod:`elsa_tlm.gc_pause`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from elsa_tlm import analytic
from elsa_tlm.chip import Chip, build_chip
from elsa_tlm.config import Config
from elsa_tlm.errors import ConfigError, StallError
from elsa_tlm.gc_pause import collector_paused
from elsa_tlm.kernel import Kernel
from elsa_tlm.plan import Plan, build_activity, prepare
from elsa_tlm.results import Result
from elsa_tlm.results.collect import collect
from elsa_tlm.workload.activity import Activity
from elsa_tlm.workload.graph import Workload

# prepare, Plan and build_activity live in elsa_tlm.plan; the collector pause in elsa_tlm.gc_pause
__all__ = ["Plan", "Result", "build_activity", "collector_paused", "prepare", "run", "simulate"]


def run(
    cfg: Config,
    activity: Activity | None = None,
    workload: Workload | None = None,
    progress: Callable[[int, int], None] | None = None,
    plan: Plan | None = None,
    extend: Callable[[Chip], None] | None = None,
) -> Result:
    """Simulate one inference (or one functional sample) on the configured chip.

    ``progress(done, total)`` is called now and then with the fired and total (step, output spine) items;
    ``plan`` is a :func:`prepare` result for ``cfg`` when the caller already built one; ``extend(chip)`` binds
    components of the caller's to the built chip before time starts (docs/EXTENDING.md: a SimPy process on
    ``chip.kernel``, a port such as :func:`elsa_tlm.chip.input_port`).
    """
    wall0 = time.perf_counter()
    with collector_paused():
        if cfg.run.mode == "analytic":  # the same plan in closed form: no chip, no events
            if extend is not None:
                raise ConfigError(
                    "run.mode", "analytic", "has no chip to extend (components run in at or lt mode)"
                )
            if plan is None and activity is None and workload is None:
                return analytic.run_config(cfg, wall0)  # design points share plans (analytic.CACHE)
            return analytic.run(plan or prepare(cfg, activity, workload), wall0)
        plan = plan or prepare(cfg, activity, workload)
        chip, n_events = simulate(plan, progress, extend)
        return collect(plan, chip, n_events, time.perf_counter() - wall0)


def simulate(
    plan: Plan,
    progress: Callable[[int, int], None] | None = None,
    extend: Callable[[Chip], None] | None = None,
) -> tuple[Chip, int]:
    """Build the chip of ``plan``, run it to completion and return it with the number of SimPy events.

    Raises StallError when the pipeline stops with work left (a dependency that can never be met).
    """
    with collector_paused():  # see collector_paused: nothing for it to free, much for it to walk
        chip = build_chip(plan, record=True)
        if extend is not None:
            extend(chip)
        slices = list(chip.slices.values())
        total_items = plan.work_items
        n_events = _run_kernel(
            chip.kernel,
            None if progress is None else lambda: progress(sum(sum(s.fired) for s in slices), total_items),
        )
    stuck = [s for s in slices if not s.done]
    if stuck:
        what = ", ".join(
            f"{s.name} (core {s.node}, step {s.fire_step}"
            + (", blocked on output" if s.blocked else ", waiting for input")
            + ")"
            for s in stuck[:4]
        )
        raise StallError(
            f"pipeline stalled at cycle {chip.kernel.now()} with work left in {len(stuck)} slices: {what}"
        )
    return chip, n_events


def _run_kernel(k: Kernel, report: Callable[[], None] | None = None, every: int = 50_000) -> int:
    """Run the chip's kernel to completion, counting processed events; ``report()`` every ``every`` events and
    at the end (a seam the tests wrap: the kernel itself is compiled)."""
    return k.run(report, every)
