"""The routing factory: every routing algorithm by name (xy, shortest, valiant, multipath).

Kept apart from :mod:`elsa_tlm.noc.routing` (the base class and the single-path routings) and
:mod:`elsa_tlm.noc.multipath` (which builds on them), so neither imports the other's importer.
"""

from __future__ import annotations

from elsa_tlm.errors import ConfigError
from elsa_tlm.noc.multipath import MultipathRouting
from elsa_tlm.noc.routing import Routing, ShortestRouting, ValiantRouting, XYRouting
from elsa_tlm.noc.topology import Topology


def make_routing(name: str, topo: Topology, seed: int = 0) -> Routing:
    """Build the routing called ``name`` (xy, shortest, valiant, multipath) for ``topo``."""
    if name == "xy":
        return XYRouting(topo, seed)
    if name == "shortest":
        return ShortestRouting(topo, seed)
    if name == "valiant":
        return ValiantRouting(topo, seed)
    if name == "multipath":
        return MultipathRouting(topo, seed)
    raise ConfigError("noc.routing", name, "must be one of xy, shortest, valiant, multipath")
