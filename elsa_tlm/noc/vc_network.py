"""The network of input-queued virtual-channel routers (``noc.router = "vc"``), built, bound and watched here.

Same interface as :class:`elsa_tlm.noc.network.Network` (``send``/``inject``/``transfer``/``attach_inbox``,
``counters``, ``link_rows``, ``in_flight``/``delivered``/``events_scheduled``, ``on_eject``/``on_deliver``,
``routers[n].inputs``, the deadlock watchdog raising DeadlockError), so the chip, the synthetic-traffic run and
the tools take either. The routers are :class:`~elsa_tlm.noc.vc_router.VcRouter`; :func:`make_network` picks
the network of ``params.router``.
"""

from __future__ import annotations

from typing import Any

import networkx as nx

from elsa_tlm.errors import ConfigError
from elsa_tlm.hw.channel import Channel, FifoBank
from elsa_tlm.kernel import Kernel
from elsa_tlm.noc.link import EJECT, INJECT, LINK
from elsa_tlm.noc.network import Network, NetworkBase
from elsa_tlm.noc.router import Txn
from elsa_tlm.noc.routing import Routing
from elsa_tlm.noc.topology import Topology
from elsa_tlm.noc.vc_router import InputPort, OutputPort, VcRouter


def credit_round_trip(p: Any, local: bool = False) -> int:
    """Cycles from a grant that takes a credit to the cycle that credit can be used again, for a packet that
    does not wait downstream (single-flit): RC + SA + ST + 2L + 2 on a link, 2P + RC + SA + 2 on the local
    (injection) port. One VC of ``B`` flits streams at most ``B / credit_round_trip`` flits per cycle."""
    rc, sa, st = p.route_compute_cycles, p.switch_alloc_cycles, p.switch_traversal_cycles
    if local:
        return 2 * p.local_port_cycles + rc + sa + 2
    return rc + sa + st + 2 * p.link_latency_cycles + 2


class VcNetwork(NetworkBase):
    """Input-queued VC routers, links and local ports of one topology on a SimPy environment."""

    def __init__(
        self,
        kernel: Kernel,
        topo: Topology,
        params: Any,
        routing: Routing,
        seed: int = 0,
    ) -> None:
        super().__init__(kernel, topo, params, routing, seed)
        stages = self.timing  # the router stages (noc.latency.PipelineTiming)
        self.n_vcs, self.depth = params.virtual_channels, params.vc_buffer_flits
        if self.n_vcs < 1 or self.depth < 1:
            key, value = (
                ("noc.virtual_channels", self.n_vcs)
                if self.n_vcs < 1
                else ("noc.vc_buffer_flits", self.depth)
            )
            raise ConfigError(
                key, value, "the vc router needs >= 1 (validate the [noc] section: -1 is resolved there)"
            )
        self.cap = self.depth  # a packet takes min(flits, one VC's FIFO) credits
        g = topo.graph
        n = topo.n_nodes
        V, B = self.n_vcs, self.depth
        # dateline VC classes on tori and rings (the standard deadlock avoidance of a VC torus): a packet takes
        # the lower half of a link's VCs until it has crossed a wrap-around link in the current dimension, then
        # the upper half; a new dimension starts again in the lower half. Meshes and file topologies: none.
        self.classes = [(0, V // 2), (V // 2, V)] if topo.kind in ("torus", "ring") and V >= 2 else None
        self._route_classes: dict[tuple[Any, ...], tuple[int, ...]] = {}
        # ---- instantiate: routers with their input ports (0 = local core, then neighbours ascending)
        self.routers: list[VcRouter] = []
        self.in_ports: dict[tuple[int, int], InputPort] = {}
        for v in range(n):
            r = VcRouter(kernel, v, V, stages, self.act, self._check, self.classes)
            r.inputs.append(InputPort(r, 0, V, f"router{v}.local"))
            for u in sorted(g.neighbors(v)):
                ip = InputPort(r, len(r.inputs), V, f"router{v}.from{u}")
                self.in_ports[(u, v)] = ip
                r.inputs.append(ip)
            self.routers.append(r)
        # the second local path (noc.local_paths = 2, ELSA_BRIEF §3): an input port of its own, last of the
        # router's, for the trains a core sends to itself; it takes no credits (a train keeps its output queue's
        # until the ejection port takes it, as the fast router's bufferless path)
        two = params.local_paths == 2
        if two:
            for v, r in enumerate(self.routers):
                r.inputs.append(InputPort(r, len(r.inputs), V, f"router{v}.loopback"))
        self.link_ports: dict[tuple[int, int], OutputPort] = {
            (u, v): OutputPort(LINK, u, v, self.routers[u], V, B) for u, v in topo.links
        }
        self.inject_ports: list[OutputPort] = [
            OutputPort(INJECT, v, v, self.routers[v], V, B) for v in range(n)
        ]
        self.loop_ports: list[OutputPort] = (
            [OutputPort(INJECT, v, v, self.routers[v], V, B) for v in range(n)] if two else []
        )
        self.eject_ports: list[OutputPort] = [
            OutputPort(EJECT, v, v, self.routers[v], 1, 0) for v in range(n)
        ]
        # ---- bind: what each output feeds, whom each input VC returns credits to
        for (u, v), o in self.link_ports.items():
            o.down = self.in_ports[(u, v)]
            o.credit_delay = stages.L + 1
        for v, r in enumerate(self.routers):
            o = self.inject_ports[v]
            o.down = r.inputs[0]
            o.credit_delay = stages.P + 1
            r.inject_port, r.eject_port = o, self.eject_ports[v]
            r.on_eject = self._ejected
            if two:
                lo = self.loop_ports[v]
                lo.down = r.inputs[-1]
                lo.credit_delay = stages.P + 1
                r.loop_port = lo
        for o in [*self.link_ports.values(), *self.inject_ports, *self.loop_ports]:
            for ivc in o.down.vcs:
                ivc.up = o

    def attach_inbox(self, node: int, inbox: FifoBank) -> None:
        port = self.eject_ports[node]
        queues = inbox.queues
        if len(queues) == 1:
            port.inbox = queues[0]
        else:
            port.fifos = inbox
        # as the fast router's: the core's output queues are the local port's FIFO queues, so a train keeps their
        # credits until the switch takes it out of the local input VC (which then takes no credits of its own)
        self.routers[node].hold_out = True
        for q in queues:
            q.up = port
            q.on_credit = self._inbox_credit

    def _inbox_credit(self, inbox: Channel) -> None:
        port = inbox.up
        if port.cwait and inbox.rel:
            port.cwait = False
            port.router.wake(min(at for at, _ in inbox.rel))

    # ---- taking packets in ----------------------------------------------------------------------------

    def _start(self, t: Txn) -> None:
        t.cls = None if self.classes is None else self._classes_of(t.ports)
        self.routers[t.src].enqueue(t)
        self._check()

    def _classes_of(self, ports: tuple[OutputPort, ...]) -> tuple[int, ...]:
        """The dateline class of the VC a packet takes at each output of its route (index as ``ports``):
        1 from the wrap-around link of a dimension on (that link included) until the route turns into the next
        dimension, 0 otherwise (injection and ejection: 0)."""
        cls = self._route_classes.get(ports)
        if cls is None:
            out = [0]
            dim, crossed = -1, False
            for o in ports[1:-1]:
                d, wrap = self._link_kind(o.src, o.dst)
                if d != dim:
                    dim, crossed = d, False
                crossed = crossed or wrap
                out.append(1 if crossed else 0)
            out.append(0)
            cls = tuple(out)
            if len(self._route_classes) < 200_000:  # random routings draw many routes: keep the cache bounded
                self._route_classes[ports] = cls
        return cls

    def _link_kind(self, u: int, v: int) -> tuple[int, bool]:
        """(dimension, wrap-around) of link u->v: a ring has one dimension; a torus x (0) then y (1)."""
        topo = self.topo
        if topo.kind == "ring":
            return 0, abs(u - v) > 1
        cols = topo.cols or 1
        ru, cu = divmod(u, cols)
        rv, cv = divmod(v, cols)
        if ru == rv:
            return 0, abs(cu - cv) > 1
        return 1, abs(ru - rv) > 1

    # ---- watchdog -------------------------------------------------------------------------------------

    def _waits_on_cores(self) -> bool:
        return any(p.cwait for p in self.eject_ports)

    def _wait_for(self) -> tuple[nx.DiGraph, list[tuple[int, int]]]:
        """The wait-for graph between the VCs of links, mapped back to links: the head in VC w of link u->v
        waits for the VC of link v->x it holds, or, without one yet, for every VC of v->x its class may take.
        A cycle among VCs is a deadlock; one among links alone is not (dateline classes break those)."""
        vcs = nx.DiGraph()
        blocked = set()
        n_vcs = self.n_vcs
        for (u, v), ip in sorted(self.in_ports.items()):
            for ivc in ip.vcs:
                if not ivc.q:
                    continue
                h = ivc.q[0]
                o = h.ports[h.idx]
                if o.kind != LINK:
                    continue
                if h.vc >= 0:
                    wanted = [h.vc]
                elif self.classes is not None and h.cls is not None:
                    wanted = list(range(*self.classes[h.cls[h.idx]]))
                else:
                    wanted = list(range(n_vcs))
                for w in wanted:
                    vcs.add_edge((u, v, ivc.v), (o.src, o.dst, w))
                blocked.add((u, v))
        wait = nx.DiGraph()  # links, with an edge only where a cycle among VCs passes
        try:
            for a, b in nx.find_cycle(vcs):
                wait.add_edge(a[:2], b[:2])
        except nx.NetworkXNoCycle:
            pass
        return wait, sorted(blocked)


def make_network(
    kernel: Kernel,
    topo: Topology,
    params: Any,
    routing: Routing,
    seed: int = 0,
) -> NetworkBase:
    """The network of ``params.router``: ``fast`` (:class:`Network`) or ``vc`` (:class:`VcNetwork`)."""
    cls = VcNetwork if getattr(params, "router", "fast") == "vc" else Network
    return cls(kernel, topo, params, routing, seed=seed)


__all__ = ["VcNetwork", "credit_round_trip", "make_network"]
