"""The network of input-queued virtual-channel routers (``noc.router = "vc"``), built, bound and watched here.

Same interface as :class:`elsa_tlm.noc.network.Network` (``send``/``inject``/``transfer``/``attach_inbox``,
``counters``, ``link_rows``, ``in_flight``/``delivered``/``events_scheduled``, ``on_eject``/``on_deliver``,
``routers[n].inputs``, the deadlock watchdog raising DeadlockError), so the chip, the synthetic-traffic run and
the tools take either. The routers are :class:`~elsa_tlm.noc.vc_router.VcRouter`; :func:`make_network` picks
the network of ``params.router``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import networkx as nx
import numpy as np
import simpy
from simpy.events import Event

from elsa_tlm.errors import DeadlockError
from elsa_tlm.hw.channel import Channel
from elsa_tlm.kernel import Kernel, Tick
from elsa_tlm.noc.latency import PipelineTiming
from elsa_tlm.noc.link import EJECT, INJECT, LINK
from elsa_tlm.noc.network import COUNTERS, Network
from elsa_tlm.noc.router import NocActivity
from elsa_tlm.noc.routing import Routing
from elsa_tlm.noc.topology import Topology
from elsa_tlm.noc.vc_router import InputPort, OutputPort, VcRouter, VcTxn


class VcStages:
    """The router stages the vc router needs (cycles), from a ``[noc]`` section."""

    def __init__(self, p: Any) -> None:
        self.route_compute = p.route_compute_cycles
        self.switch_alloc = p.switch_alloc_cycles
        self.ST = p.switch_traversal_cycles
        self.L = p.link_latency_cycles
        self.P = p.local_port_cycles
        self.d_eject = p.switch_traversal_cycles + p.local_port_cycles


def credit_round_trip(p: Any, local: bool = False) -> int:
    """Cycles from a grant that takes a credit to the cycle that credit can be used again, for a packet that
    does not wait downstream (single-flit): RC + SA + ST + 2L + 2 on a link, 2P + RC + SA + 2 on the local
    (injection) port. One VC of ``B`` flits streams at most ``B / credit_round_trip`` flits per cycle."""
    rc, sa, st = p.route_compute_cycles, p.switch_alloc_cycles, p.switch_traversal_cycles
    if local:
        return 2 * p.local_port_cycles + rc + sa + 2
    return rc + sa + st + 2 * p.link_latency_cycles + 2


class VcNetwork:
    """Input-queued VC routers, links and local ports of one topology on a SimPy environment."""

    def __init__(
        self,
        env: simpy.Environment,
        topo: Topology,
        params: Any,
        routing: Routing,
        seed: int = 0,
        tech: dict | None = None,
    ) -> None:
        self.env, self.topo, self.params, self.routing, self.tech = env, topo, params, routing, tech
        self.rng = np.random.default_rng(seed)
        self.timing = PipelineTiming(params)
        self.stages = stages = VcStages(params)
        self.flit_bits, self.link_bits = params.flit_bits, params.link_bits
        self.n_vcs, self.depth = params.virtual_channels, params.vc_buffer_flits
        if self.n_vcs < 1 or self.depth < 1:
            raise ValueError("virtual_channels and vc_buffer_flits must be resolved (>= 1) by the config")
        self.cap = self.depth  # one VC's FIFO: a packet takes min(flits, cap) credits
        self.timeout = params.deadlock_timeout_cycles
        self.sched = Kernel(env)
        self.act = NocActivity()
        g = topo.graph
        n = topo.n_nodes
        V, B = self.n_vcs, self.depth
        # ---- instantiate: routers with their input ports (0 = local core, then neighbours ascending)
        self.routers: list[VcRouter] = []
        self.in_ports: dict[tuple[int, int], InputPort] = {}
        for v in range(n):
            r = VcRouter(env, v, V, stages, self.act, self._check)
            r.inputs.append(InputPort(r, 0, V, f"router{v}.local"))
            for u in sorted(g.neighbors(v)):
                ip = InputPort(r, len(r.inputs), V, f"router{v}.from{u}")
                self.in_ports[(u, v)] = ip
                r.inputs.append(ip)
            self.routers.append(r)
        self.link_ports: dict[tuple[int, int], OutputPort] = {
            (u, v): OutputPort(LINK, u, v, self.routers[u], V, B) for u, v in topo.links
        }
        self.inject_ports = [OutputPort(INJECT, v, v, self.routers[v], V, B) for v in range(n)]
        self.eject_ports = [OutputPort(EJECT, v, v, self.routers[v], 1, 0) for v in range(n)]
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
        for o in [*self.link_ports.values(), *self.inject_ports]:
            for ivc in o.down.vcs:
                ivc.up = o
        self._ports_cache: dict[tuple[int, ...], tuple[OutputPort, ...]] = {}
        self._sent = [0, 0, 0]
        self.on_eject: Any = None  # optional hook(txn_tag, t_created, t_done, hops, flits, packets)
        self.on_deliver: Callable[[int, int, int, int, int, int], None] | None = None

    # ---- public API (as Network) ----------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return self.act.in_flight

    @property
    def delivered(self) -> int:
        return self.act.delivered

    @property
    def events_scheduled(self) -> int:
        return self.act.events

    def zero_load_latency(self, src: int, dst: int, flits: int) -> int:
        """2P + (h+1)R + hL + ser, the closed form both routers share (:mod:`elsa_tlm.noc.latency`)."""
        paths = self.routing.paths(src, dst) if src != dst else [((src,), 1.0)]
        h = sum((len(p) - 1) * q for p, q in paths)
        return int(round(self.timing.zero_load(h, self.ser(flits))))

    def ser(self, flits: int) -> int:
        return self.timing.ser(flits)

    def send(
        self,
        src: int,
        dst: int,
        flits: int,
        packets: int = 1,
        bits: int | None = None,
        on_injected: Any = None,
    ) -> simpy.Event:
        """As :meth:`Network.send`: the delivery event's value is the cycle the tail reaches core ``dst``."""
        ev = Event(self.env)
        self._start(src, dst, flits, packets, bits, ev, None, on_injected, None)
        return ev

    def inject(self, src: int, dst: int, flits: int, packets: int = 1, tag: object = None) -> None:
        self._start(src, dst, flits, packets, None, None, tag, None, None)

    def transfer(
        self, payload: Any, src: int, dst: int, flits: int, packets: int, on_injected: Callable[[int], None]
    ) -> None:
        self._start(src, dst, flits, packets, None, None, None, on_injected, payload)

    def attach_inbox(self, node: int, inbox: Channel) -> None:
        """Core ``node``'s input FIFOs: the ejection port takes their credits for a train (up to their size)
        and puts the train into them; the core returns the credits as it drains them."""
        port = self.eject_ports[node]
        port.inbox = inbox
        inbox.up = port
        inbox.on_credit = self._inbox_credit

    def _inbox_credit(self, inbox: Channel) -> None:
        port = inbox.up
        if port.cwait and inbox.rel:
            port.cwait = False
            port.router.wake(min(at for at, _ in inbox.rel))

    @property
    def counters(self) -> dict[str, int]:
        """Same counters, counted the same way as :attr:`Network.counters`."""
        links, ej = self.link_ports.values(), self.eject_ports
        link_flits = sum(p.flits for p in links)
        eject_flits = sum(p.flits for p in ej)
        c = {
            "packets": self._sent[0],
            "flits": self._sent[1],
            "bits": self._sent[2],
            "flit_hops": link_flits,
            "local_flits": sum(p.flits for p in self.inject_ports) + eject_flits,
            "crossbar_flits": link_flits + eject_flits,
            "route_ops": sum(p.packets for p in links) + sum(p.packets for p in ej),
            "loopback_flits": sum(p.loopback_flits for p in ej),
        }
        assert tuple(c) == COUNTERS
        return c

    def link_rows(self) -> list[dict]:
        return [link.row() for _, link in sorted(self.link_ports.items())]

    # ---- taking packets in ----------------------------------------------------------------------------

    def _ports(self, path: tuple[int, ...]) -> tuple[OutputPort, ...]:
        ports = self._ports_cache.get(path)
        if ports is None:
            lp = self.link_ports
            ports = (
                (self.inject_ports[path[0]],)
                + tuple(lp[(a, b)] for a, b in zip(path[:-1], path[1:], strict=True))
                + (self.eject_ports[path[-1]],)
            )
            if len(self._ports_cache) < 200_000:
                self._ports_cache[path] = ports
        return ports

    def _start(
        self,
        src: int,
        dst: int,
        flits: int,
        packets: int,
        bits: int | None,
        ev: Event | None,
        tag: object,
        inj: Any,
        payload: Any,
    ) -> None:
        if flits < 1 or packets < 1:
            raise ValueError(f"a transaction needs flits >= 1 and packets >= 1 (got {flits}, {packets})")
        t = VcTxn()
        t.src, t.dst, t.flits, t.packets = src, dst, flits, packets
        t.bits = flits * self.flit_bits if bits is None else bits
        t.ser = max(1, -(-flits * self.flit_bits // self.link_bits))
        t.need = flits if flits < self.depth else self.depth
        path = (src,) if src == dst else self.routing.choose(src, dst, self.rng)
        t.ports = self._ports(path)
        t.idx, t.vc, t.t0, t.ev, t.tag, t.inj, t.payload = 0, -1, self.env.now, ev, tag, inj, payload
        t.rc_done = t.ready = 0
        sent = self._sent
        sent[0] += packets
        sent[1] += flits
        sent[2] += t.bits
        act = self.act
        if act.in_flight == 0:
            act.last_progress = self.env.now
        act.in_flight += 1
        self.routers[src].enqueue(t)
        self._check()

    def _ejected(self, t: VcTxn, done: int) -> None:
        """A router granted ``t`` its ejection port: the tail reaches the core at ``done``."""
        if self.on_eject is not None:
            self.on_eject(t.tag, t.t0, done, len(t.ports) - 2, t.flits, t.packets)
        if t.ev is not None:
            self.sched.succeed_at(t.ev, done, done)
        elif t.payload is not None:
            Tick(self.env, done - self.env.now, self._deliver, t)

    def _deliver(self, ev: Tick) -> None:
        t = ev.obj
        if self.on_deliver is not None:
            self.on_deliver(t.src, t.dst, int(t.t0), int(self.env.now), t.flits, t.packets)
        t.ports[-1].inbox.push(t.payload)

    # ---- watchdog -------------------------------------------------------------------------------------

    def _check(self) -> None:
        act = self.act
        if not act.in_flight:
            return
        if act.pending == 0:
            waits_on_cores = any(p.cwait for p in self.eject_ports)
            self._deadlock("no transaction can ever move again", certain=not waits_on_cores)
        elif self.env.now - act.last_progress > self.timeout:
            self._deadlock(
                f"no transaction moved for {self.env.now - act.last_progress} cycles", certain=False
            )

    def _deadlock(self, why: str, certain: bool) -> None:
        """Wait-for graph between links: link u->v waits for link v->w when a head in router v's FIFOs from u
        wants v->w. A cycle in it is a deadlock; without one, a timeout is congestion (a new window)."""
        wait = nx.DiGraph()
        blocked = set()
        for (u, v), ip in sorted(self.in_ports.items()):
            for ivc in ip.vcs:
                if ivc.q:
                    o = ivc.q[0].ports[ivc.q[0].idx]
                    if o.kind == LINK:
                        wait.add_edge((u, v), (o.src, o.dst))
                        blocked.add((u, v))
        try:
            links = sorted(e[0] for e in nx.find_cycle(wait))
            where = "links in the cycle: " + ", ".join(f"{a}->{b}" for a, b in links)
        except nx.NetworkXNoCycle:
            if not certain:
                self.act.last_progress = self.env.now
                return
            links = sorted(blocked)
            where = (
                "blocked links (no cyclic wait among links): " + ", ".join(f"{a}->{b}" for a, b in links)
                if links
                else "no link is blocked: the transactions wait outside the network"
            )
        raise DeadlockError(
            f"NoC deadlock at cycle {self.env.now}: {why}; {self.act.in_flight} transactions in flight; {where}",
            links,
        )


def make_network(
    env: simpy.Environment,
    topo: Topology,
    params: Any,
    routing: Routing,
    seed: int = 0,
    tech: dict | None = None,
) -> Network | VcNetwork:
    """The network of ``params.router``: ``fast`` (:class:`Network`) or ``vc`` (:class:`VcNetwork`)."""
    cls = VcNetwork if getattr(params, "router", "fast") == "vc" else Network
    return cls(env, topo, params, routing, seed=seed, tech=tech)


__all__ = ["VcNetwork", "VcStages", "credit_round_trip", "make_network"]
