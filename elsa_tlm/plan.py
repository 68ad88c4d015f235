"""Everything a run needs before time starts: ``prepare(config) -> Plan``.

:func:`prepare` builds (and so checks) the workload graph and its activity, the topology, the mapping
(partition → placement) and the routes, and loads the energy table the run will be priced with. The plan is
what the later stages read: :mod:`elsa_tlm.elaborate` and :mod:`elsa_tlm.chip` build the chip from it,
:mod:`elsa_tlm.sim` runs it and :mod:`elsa_tlm.results.collect` reads it back, so it sits below all of them
and imports none of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from elsa_tlm.config import Config, inert_settings
from elsa_tlm.energy.tables import load_tech
from elsa_tlm.mapping import Mapping, map_workload
from elsa_tlm.noc.routes import make_routing
from elsa_tlm.noc.routing import Routing
from elsa_tlm.noc.topology import Topology, build_topology
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
