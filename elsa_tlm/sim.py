"""Run one simulation: ``prepare(config) -> Plan``, ``run(config) -> Result``.

:func:`prepare` builds (and so checks) the workload graph and its activity, the topology, the mapping
(partition → placement) and the routes. :func:`run` hands the plan to the chip builder
(:mod:`elsa_tlm.chip`: neural cores, network interfaces, routers and links, bound through their ports), runs
the SimPy environment to completion and collects plain data for :mod:`elsa_tlm.results`.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import simpy

from elsa_tlm import kernel
from elsa_tlm.chip import Chip, build_chip
from elsa_tlm.config import Config, inert_settings
from elsa_tlm.errors import StallError
from elsa_tlm.mapping import Mapping, map_workload
from elsa_tlm.noc.routes import make_routing
from elsa_tlm.noc.routing import Routing
from elsa_tlm.noc.topology import Topology, build_topology
from elsa_tlm.results import Result
from elsa_tlm.results.collect import collect
from elsa_tlm.workload.activity import Activity, load_activity, statistical_activity
from elsa_tlm.workload.graph import Workload, load_workload


def build_activity(cfg: Config, wl: Workload, nir: Any = None) -> Activity:
    """The run's spikes: the statistical model, a replayed trace, or a functional run (the digits networks;
    a NIR graph's reference run on ``workload.inputs``, ``nir`` = its analysis and graph)."""
    src = cfg.workload.activity
    if src == "statistical":
        return statistical_activity(wl, cfg.run.seed)
    if src == "replay":
        return load_activity(cfg.workload.replay_path, wl)
    if nir is not None:
        from elsa_tlm.workload.nir_graph import functional_activity as nir_activity

        return nir_activity(cfg, wl, *nir)
    from elsa_tlm.workload.functional import functional_activity

    return functional_activity(cfg, wl)


@dataclass
class Plan:
    """Everything a run needs before time starts: workload, activity, topology, mapping, routing.

    Building it refuses every configuration that cannot run (a topology that does not exist, a routing the
    topology does not support, a network that does not fit), so ``elsa-tlm validate`` and a sweep's
    up-front check refuse exactly what ``run`` would.
    """

    config: Config
    workload: Workload
    activity: Activity
    topology: Topology
    mapping: Mapping
    routing: Routing

    @property
    def work_items(self) -> int:
        """(step, output spine) items over all layer slices: the size of the simulation."""
        T = self.workload.time_steps
        return sum(T * self.workload.by_name[s.layer].n_out for s in self.mapping.slices)

    @property
    def warnings(self) -> list[str]:
        """Keys set away from their default that this run will never read (:func:`config.inert_settings`):
        what summary.json's ``warnings`` will hold, known before the run."""
        return inert_settings(self.config, self.workload.is_transformer)


def prepare(cfg: Config, activity: Activity | None = None, workload: Workload | None = None) -> Plan:
    """Build (and so check) the workload, activity, topology, mapping and routes of ``cfg``, and the energy
    table the run will be priced with (a bad table is refused here, before time starts)."""
    from elsa_tlm.energy.tables import load_tech

    load_tech()  # checked and cached: every figure finite and non-negative, in its unit
    nir = None
    if workload is None and cfg.workload.model.startswith("nir:"):
        from elsa_tlm.workload import nir_graph

        workload, *nir = nir_graph.load(cfg)
    wl = workload or load_workload(
        cfg.workload.model, cfg.run.time_steps, cfg.workload.classifier_density, cfg.workload.step_profile
    )
    act = activity or build_activity(cfg, wl, nir)
    topo = build_topology(cfg.noc.topology, cfg.base_dir)
    mapping = map_workload(wl, act, cfg, topo)
    routing = make_routing(cfg.noc.routing, topo, cfg.run.seed)
    flits_per_spike = 13 / cfg.noc.flit_bits  # BAER: 13 payload bits per spike; splits only need proportions
    routing.prepare({k: v * flits_per_spike for k, v in mapping.flows.items()})
    return Plan(cfg, wl, act, topo, mapping, routing)


def run(
    cfg: Config,
    activity: Activity | None = None,
    workload: Workload | None = None,
    progress: Callable[[int, int], None] | None = None,
    plan: Plan | None = None,
) -> Result:
    """Simulate one inference (or one functional sample) on the configured chip.

    ``progress(done, total)`` is called now and then with the fired and total (step, output spine) items;
    ``plan`` is a :func:`prepare` result for ``cfg`` when the caller already built one.
    """
    wall0 = time.perf_counter()
    with collector_paused():
        plan = plan or prepare(cfg, activity, workload)
        chip, n_events = simulate(plan, progress)
        return collect(plan, chip, n_events, time.perf_counter() - wall0)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused for a run (its previous state restored after).

    A run allocates a few long-lived structures (plan, chip) and then streams short-lived transactions that
    reference counting frees; the collector finds almost nothing to free (ResNet-50 ``lt``: none in the run
    loop; a few thousand objects while the chip is elaborated; ``tests/test_kernel.py`` checks the loop makes
    no cyclic garbage) but its full passes walk every long-lived object again and again: ~0.2 s of a 2 s
    ResNet-50 ``lt`` run (prepare, build, loop, collect). Cyclic garbage a run does make is collected at
    the collector's next pass after it. Nested pauses (``run`` around ``simulate``) are one pause; concurrent
    runs (threads of a sweep) share one: the first thread in records the collector's state, the last out
    restores it, and a thread that finishes while others go on collects then (a chip is cyclic: with runs
    always overlapping, the collector would otherwise never see the finished ones)."""
    global _threads, _was_enabled
    depth = getattr(_local, "depth", 0)
    _local.depth = depth + 1
    if depth == 0:
        with _pause_lock:
            if _threads == 0:
                _was_enabled = gc.isenabled()
                gc.disable()
            _threads += 1
    try:
        yield
    finally:
        _local.depth = depth
        if depth == 0:
            with _pause_lock:
                _threads -= 1
                others = _threads > 0
                if not others and _was_enabled:
                    gc.enable()
            if others:
                gc.collect()


_pause_lock = threading.Lock()
_local = threading.local()  # this thread's nesting depth of collector_paused
_threads = 0  # threads inside collector_paused now
_was_enabled = True  # the collector's state when the first of them began


def simulate(plan: Plan, progress: Callable[[int, int], None] | None = None) -> tuple[Chip, int]:
    """Build the chip of ``plan``, run it to completion and return it with the number of SimPy events.

    Raises StallError when the pipeline stops with work left (a dependency that can never be met).
    """
    with collector_paused():  # see collector_paused: nothing for it to free, much for it to walk
        chip = build_chip(plan, record=True)
        env = chip.env
        slices = list(chip.slices.values())
        total_items = plan.work_items
        n_events = _run_env(
            env,
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
            f"pipeline stalled at cycle {int(env.now)} with work left in {len(stuck)} slices: {what}"
        )
    return chip, n_events


def _run_env(env: simpy.Environment, report: Callable[[], None] | None = None, every: int = 50_000) -> int:
    """Run to completion, counting processed events; ``report()`` every ``every`` events and at the end."""
    return kernel.run(env, report, every)
