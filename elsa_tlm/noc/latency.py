"""The router pipeline's timing in one place: stage delays and the zero-load latency of a transaction.

Cycles, with R = route_compute + switch_alloc + switch_traversal, L = link latency, P = local_port_cycles and
ser = ceil(flits * flit_bits / link_bits) (the cycles a transaction occupies a link or a local port):

* injection granted at t_i  -> eligible at the source router's switch allocator at t_i + P + RC + SA
* link granted at t_g       -> output busy [t_g, t_g + ser); eligible at the next router at t_g + ST + L + RC + SA
* ejection granted at t_e   -> tail delivered to the core at t_e + ST + P + ser

so a transaction that crosses h links without waiting takes **2P + (h + 1)R + hL + ser** cycles. The routers
(``at``), the loosely-timed transport (``lt``) and the synthetic-traffic report all use this class.
"""

from __future__ import annotations

from typing import Any


class PipelineTiming:
    """Stage delays of one NoC configuration (``noc`` section values) and its zero-load latency."""

    def __init__(self, p: Any) -> None:
        self.flit_bits: int = p.flit_bits
        self.link_bits: int = p.link_bits
        self.P: int = p.local_port_cycles
        self.L: int = p.link_latency_cycles
        self.RC: int = p.route_compute_cycles
        self.SA: int = p.switch_alloc_cycles
        self.ST: int = p.switch_traversal_cycles
        self.R: int = self.RC + self.SA + self.ST
        self.d_inject: int = self.P + self.RC + self.SA  # the injection port's step
        self.d_stages: int = self.ST + self.RC + self.SA  # a link's router stages (its wire apart: L)
        self.d_hop: int = self.d_stages + self.L
        self.d_eject: int = self.ST + self.P  # the ejection port's step (then the tail's serialisation)

    def ser(self, flits: int) -> int:
        """Cycles a transaction of ``flits`` flits occupies a link or local port (integer ceiling)."""
        return max(1, -(-flits * self.flit_bits // self.link_bits))

    def zero_load(self, hops: Any, ser: Any) -> Any:
        """2P + (h + 1)R + hL + ser for ``hops`` link hops (ints, floats or numpy arrays)."""
        return 2 * self.P + (hops + 1) * self.R + hops * self.L + ser
