"""Network-on-chip: topologies, routing, packet formats, SimPy router/link model, synthetic traffic, CLI."""

from elsa_tlm.noc.network import Network
from elsa_tlm.noc.packet import PacketFormat, dest_bits_for
from elsa_tlm.noc.params import noc_config
from elsa_tlm.noc.routes import make_routing
from elsa_tlm.noc.routing import Routing, link_loads, peak_link_load
from elsa_tlm.noc.topology import Topology, build_topology

__all__ = [
    "Network",
    "noc_config",
    "PacketFormat",
    "Routing",
    "Topology",
    "build_topology",
    "dest_bits_for",
    "link_loads",
    "make_routing",
    "peak_link_load",
]
