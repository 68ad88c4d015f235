"""The network of routers and links of one topology: built here, watched here, run by its components.

:class:`Network` builds a :class:`~elsa_tlm.noc.router.Router` per node with its input channels
(:class:`~elsa_tlm.hw.channel.Channel`), a :class:`~elsa_tlm.noc.link.Link` per directed edge, and each core's
injection and ejection ports, and binds them (a link's downstream channel, the router a head reaches next, the
output each channel returns its credits to). Then it only takes transactions in (:meth:`Network.send` for
SimPy processes, :meth:`Network.transfer` for the chip's trains, whose payload is put into the destination's
input channel) and watches them: a watchdog raises DeadlockError when transactions are in flight but none can
ever move, or none has moved for ``deadlock_timeout_cycles``. Timing: :mod:`elsa_tlm.noc.latency`; the
engine: :mod:`elsa_tlm.noc.router`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Final

import networkx as nx
import numpy as np
from simpy.events import Event

from elsa_tlm.errors import DeadlockError
from elsa_tlm.hw.channel import Channel, FifoBank
from elsa_tlm.kernel import Kernel, Wake
from elsa_tlm.noc.latency import PipelineTiming
from elsa_tlm.noc.link import EJECT, INJECT, Link, Port
from elsa_tlm.noc.params import buffer_flits
from elsa_tlm.noc.router import NocActivity, Router, Txn
from elsa_tlm.noc.routing import Routing
from elsa_tlm.noc.topology import Topology

# output ports the route caches may hold, in all (8 bytes each, plus the keys): every route of a chip and of a
# 16x16 network's all-pairs traffic. Past it routes are built per transaction, so synthetic all-pairs traffic
# on a large network keeps memory linear in the routers (a route is a few microseconds to build)
ROUTE_CACHE_PORTS: Final = 2_000_000

COUNTERS = (
    "packets",
    "flits",
    "bits",
    "flit_hops",
    "local_flits",
    "crossbar_flits",
    "route_ops",
    "loopback_flits",
)


def route_counters(routes: Iterable[tuple[tuple[int, ...], list[int]]]) -> dict[str, int]:
    """The transport's :data:`COUNTERS` from per-route totals ``(path, [packets, flits, bits, busy cycles])``:
    a train counts once on its injection and ejection ports and on every router and link of its path (the
    loosely-timed transport and the analytic mode keep their traffic per route)."""
    pk = fl = bits = flit_hops = crossbar = route_ops = loopback = 0
    for path, (packets, flits, b, _) in routes:
        hops = len(path) - 1
        pk += packets
        fl += flits
        bits += b
        flit_hops += flits * hops
        crossbar += flits * (hops + 1)
        route_ops += packets * (hops + 1)
        if hops == 0:
            loopback += flits
    values = (pk, fl, bits, flit_hops, 2 * fl, crossbar, route_ops, loopback)
    return dict(zip(COUNTERS, values, strict=True))


def route_link_rows(
    routes: Iterable[tuple[tuple[int, ...], list[int]]], links: Iterable[tuple[int, int]]
) -> list[dict[str, Any]]:
    """Per link, the packets, flits, bits and busy cycles of the routes that cross it (``links.csv``), in
    link order."""
    acc: dict[tuple[int, int], list[int]] = {lk: [0, 0, 0, 0] for lk in links}
    for path, row in routes:
        for lk in zip(path, path[1:], strict=False):
            a = acc[lk]
            for i in range(4):
                a[i] = a[i] + row[i]  # hot-path rule 2 (docs/ARCHITECTURE.md): no += on an item
    return [
        {"src": u, "dst": v, "packets": r[0], "flits": r[1], "bits": r[2], "busy_cycles": r[3]}
        for (u, v), r in sorted(acc.items())
    ]


class NetworkBase:
    """What a network of routers is, whatever the router model (``fast``: :class:`Network`, ``vc``:
    :class:`~elsa_tlm.noc.vc_network.VcNetwork`): taking transactions in (:meth:`send`, :meth:`inject`,
    :meth:`transfer`), routes as tuples of output ports, delivery into the cores' input channels, the counters
    summed over the ports and the deadlock watchdog. A subclass instantiates and binds its routers and ports
    (``link_ports``, ``inject_ports``, ``eject_ports``: objects counting ``packets``, ``flits``,
    ``loopback_flits``, links with ``row()``) and implements :meth:`_start`, :meth:`_waits_on_cores` and
    :meth:`_wait_for`."""

    link_ports: dict[tuple[int, int], Any]
    routers: list[Any]
    inject_ports: list[Any]
    eject_ports: list[Any]
    # the second local path (``noc.local_paths = 2``, both router models): a core's loopback trains take these
    # ports, not ``inject_ports``; empty with one local path
    loop_ports: list[Any] = []

    def __init__(
        self,
        kernel: Kernel,
        topo: Topology,
        params: Any,
        routing: Routing,
        seed: int = 0,
    ) -> None:
        self.topo, self.params, self.routing = topo, params, routing
        self.rng = np.random.default_rng(seed)
        self.timing = PipelineTiming(params)
        self.flit_bits, self.link_bits = params.flit_bits, params.link_bits
        self.timeout = params.deadlock_timeout_cycles
        self.sched = kernel  # the run's event kernel: every router of this network schedules on it
        self.act = NocActivity()
        self.cap = 1  # credits a transaction takes at most in one buffer (set by the router model)
        self._ports_cache: dict[tuple[int, ...], tuple[Any, ...]] = {}
        self._cached_ports = 0  # output ports held by both route caches
        self._fixed: bool | None = (
            None  # deterministic routing (asked at the first transaction: after prepare)
        )
        self._pair_ports: dict[tuple[int, int], tuple[Any, ...]] = {}
        self._sent = [0, 0, 0]  # packets, flits, bits taken in
        self.on_eject: Any = None  # optional hook(txn_tag, t_created, t_done, hops, flits, packets)
        self.on_deliver: Callable[[int, int, int, int, int, int], None] | None = None  # (src, dst, t0, ...)

    # ---- public API -----------------------------------------------------------------------------------

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
        """The closed form of :mod:`elsa_tlm.noc.latency` for the route's link hops (expected, for random
        routings, rounded); both router models share it."""
        paths = self.routing.paths(src, dst) if src != dst else [((src,), 1.0)]
        h = sum((len(p) - 1) * q for p, q in paths)
        return int(round(self.timing.zero_load(h, self.ser(flits))))

    def ser(self, flits: int) -> int:
        """Cycles a transaction of ``flits`` flits occupies a link or local port."""
        return self.timing.ser(flits)

    def send(
        self,
        src: int,
        dst: int,
        flits: int,
        packets: int = 1,
        bits: int | None = None,
        out: Channel | None = None,
        held: int = 0,
    ) -> Any:
        """Send ``packets`` back-to-back packets totalling ``flits`` flits from core ``src`` to core ``dst``.

        Returns the delivery event (value: the cycle the tail reaches the destination core), for SimPy
        processes. ``out``: the sender's output queue, whose ``held`` credits go back when the injection port
        has taken the tail."""
        ev = self.sched.event()
        self._start(self._make(src, dst, flits, packets, bits, ev, None, None, out, held))
        return ev

    def inject(self, src: int, dst: int, flits: int, packets: int = 1, tag: object = None) -> None:
        """Take a transaction in without a delivery event (synthetic traffic: ``on_eject`` sees ``tag``)."""
        self._start(self._make(src, dst, flits, packets, None, None, tag, None, None, 0))

    def transfer(
        self, payload: Any, src: int, dst: int, flits: int, packets: int, out: Channel, held: int
    ) -> None:
        """Carry ``payload`` (a train) to core ``dst``: when its tail arrives it is put into the channel bound
        with :meth:`attach_inbox` (whose credits the ejection port took); ``out`` (the sender's output queue)
        gets its ``held`` credits back when the injection port has taken the tail."""
        self._start(self._make(src, dst, flits, packets, None, None, None, payload, out, held))

    def attach_inbox(self, node: int, inbox: FifoBank) -> None:
        """Core ``node``'s input FIFOs: the ejection port takes credits for a train (up to its queue's size) in
        its stream's queue and puts the train into it; the core's network interface returns the credits as it
        drains them. Each router model binds it to its ejection port (one queue: as a plain buffer)."""
        raise NotImplementedError

    def sampled_inputs(self, node: int) -> list[Any]:
        """Router ``node``'s input buffers whose occupancy the trace samples (each with ``idx`` and
        ``occupancy(cycle)``): all of them, unless a router model leaves one unused."""
        return self.routers[node].inputs  # type: ignore[no-any-return]

    @property
    def counters(self) -> dict[str, int]:
        """Action counters: packets, flits, bits sent (injected); flit_hops (flits x links traversed);
        local_flits (flits through injection + ejection ports); crossbar_flits (flits x routers switched
        through, ejection included); route_ops (packets x routers visited); loopback_flits (flits of
        transactions whose source and destination are the same core). Sums over the ports."""
        links, ej = self.link_ports.values(), self.eject_ports
        link_flits = sum(p.flits for p in links)
        eject_flits = sum(p.flits for p in ej)
        return {
            "packets": self._sent[0],
            "flits": self._sent[1],
            "bits": self._sent[2],
            "flit_hops": link_flits,
            "local_flits": sum(p.flits for p in self.inject_ports)
            + sum(p.flits for p in self.loop_ports)
            + eject_flits,
            "crossbar_flits": link_flits + eject_flits,
            "route_ops": sum(p.packets for p in links) + sum(p.packets for p in ej),
            "loopback_flits": sum(p.loopback_flits for p in ej),
        }

    def link_rows(self) -> list[dict]:
        """Per directed link: packets, flits, bits and busy cycles, sorted by (src, dst)."""
        return [link.row() for _, link in sorted(self.link_ports.items())]

    # ---- taking transactions in -----------------------------------------------------------------------

    def _start(self, t: Txn) -> None:
        """Hand a new transaction to its source router (the router model's own)."""
        raise NotImplementedError

    def _route(self, src: int, dst: int) -> tuple[Any, ...]:
        """The output ports of one transaction's route: injection, links, ejection (deterministic routings:
        one route per (src, dst), cached; random ones draw a route per transaction)."""
        if self._fixed is None:
            self._fixed = self.routing.deterministic
        if self._fixed:
            ports = self._pair_ports.get((src, dst))
            if ports is None:
                ports = self._build_ports((src,) if src == dst else self.routing.route(src, dst))
                if self._cached_ports < ROUTE_CACHE_PORTS:
                    self._pair_ports[(src, dst)] = ports
                    self._cached_ports += len(ports)
            return ports
        return self._ports((src,) if src == dst else self.routing.choose(src, dst, self.rng))

    def _ports(self, path: tuple[int, ...]) -> tuple[Any, ...]:
        """The ports of a drawn route, cached by route (random routings draw the same ones again)."""
        ports = self._ports_cache.get(path)
        if ports is None:
            ports = self._build_ports(path)
            if self._cached_ports < ROUTE_CACHE_PORTS:
                self._ports_cache[path] = ports
                self._cached_ports += len(ports)
        return ports

    def _build_ports(self, path: tuple[int, ...]) -> tuple[Any, ...]:
        lp = self.link_ports
        if len(path) == 1 and self.loop_ports:  # a loopback train takes the second local path
            return (self.loop_ports[path[0]], self.eject_ports[path[0]])
        return (
            (self.inject_ports[path[0]],)
            + tuple(lp[(a, b)] for a, b in zip(path[:-1], path[1:], strict=True))
            + (self.eject_ports[path[-1]],)
        )

    def _make(
        self,
        src: int,
        dst: int,
        flits: int,
        packets: int,
        bits: int | None,
        ev: Event | None,
        tag: object,
        payload: Any,
        out: Channel | None,
        held: int,
    ) -> Txn:
        """A new transaction (size, serialisation, the credits it takes per buffer — at most ``self.cap``, one
        buffer's worth: virtual cut-through —, its route), counted as taken in; the watchdog's progress
        window starts with the first in flight."""
        if flits < 1 or packets < 1:  # several short AER packets may share one flit
            raise ValueError(f"a transaction needs flits >= 1 and packets >= 1 (got {flits}, {packets})")
        now = self.sched.now()
        b = flits * self.flit_bits if bits is None else bits
        need = flits if flits < self.cap else self.cap
        t = Txn(
            src, dst, flits, packets, b, self.timing.ser(flits), need, self._route(src, dst), now, ev, tag,
            payload, out, held,
        )  # fmt: skip
        sent = self._sent
        sent[0] = sent[0] + packets  # hot-path rule 2
        sent[1] = sent[1] + flits
        sent[2] = sent[2] + b
        act = self.act
        if act.in_flight == 0:
            act.last_progress = now
        act.in_flight += 1
        return t

    def _ejected(self, t: Any, done: int) -> None:
        """A router granted ``t`` its ejection port: the tail reaches the core at ``done``."""
        if self.on_eject is not None:
            self.on_eject(t.tag, t.t0, done, len(t.ports) - 2, t.flits, t.packets)
        if t.ev is not None:
            self.sched.succeed_at(t.ev, done, done)
        elif t.payload is not None:
            self._deliver_at(t, done)

    def _deliver_at(self, t: Any, done: int) -> None:
        """Schedule the delivery of ``t``'s payload for cycle ``done``."""
        self.sched.call_at(done, self._on_delivery_tick, t)

    def _on_delivery_tick(self, ev: Wake) -> None:
        self._deliver(ev.obj)

    def _deliver(self, t: Any) -> None:
        """The tail of a chip transfer arrived: its payload goes into the destination's input channel."""
        if self.on_deliver is not None:
            self.on_deliver(t.src, t.dst, int(t.t0), self.sched.now(), t.flits, t.packets)
        t.ports[-1].deliver(t.payload)  # the ejection port, into its own buffer

    # ---- watchdog -------------------------------------------------------------------------------------

    def _check(self) -> None:
        act = self.act
        if not act.in_flight:
            return
        if act.pending == 0:
            # an ejection port waiting for its core's credits waits on the core, not on the network
            self._deadlock("no transaction can ever move again", certain=not self._waits_on_cores())
        elif self.sched.now() - act.last_progress > self.timeout:
            self._deadlock(
                f"no transaction moved for {self.sched.now() - act.last_progress} cycles", certain=False
            )

    def _waits_on_cores(self) -> bool:
        """Some ejection port waits for its core's input FIFOs to free credits."""
        raise NotImplementedError

    def _wait_for(self) -> tuple[nx.DiGraph, list[tuple[int, int]]]:
        """The wait-for graph between links (u->v waits for v->w when a head that came over u->v wants v->w
        and cannot have it) and the blocked links, sorted."""
        raise NotImplementedError

    def _deadlock(self, why: str, certain: bool) -> None:
        """Raise DeadlockError naming a cycle in the wait-for graph between blocked links.

        After a mere timeout (``certain`` False) a wait-for graph without a cycle is congestion, not a
        deadlock: the watchdog starts a new window instead of raising.
        """
        wait, blocked = self._wait_for()
        try:
            links = sorted(e[0] for e in nx.find_cycle(wait))
            where = "links in the cycle: " + ", ".join(f"{a}->{b}" for a, b in links)
        except nx.NetworkXNoCycle:
            if not certain:
                self.act.last_progress = self.sched.now()
                return
            links = blocked
            where = (
                "blocked links (no cyclic wait among links): " + ", ".join(f"{a}->{b}" for a, b in links)
                if links
                else "no link is blocked: the transactions wait outside the network"
            )
        raise DeadlockError(
            f"NoC deadlock at cycle {self.sched.now()}: {why}; {self.act.in_flight} transactions in flight; {where}",
            links,
        )


class Network(NetworkBase):
    """Routers, links and local ports of one topology on a SimPy environment (see the module docstring)."""

    def __init__(
        self,
        kernel: Kernel,
        topo: Topology,
        params: Any,
        routing: Routing,
        seed: int = 0,
    ) -> None:
        super().__init__(kernel, topo, params, routing, seed)
        timing = self.timing
        self.cap = buffer_flits(params)
        self.R, self.P = timing.R, timing.P
        g = topo.graph
        n = topo.n_nodes
        # ---- instantiate: routers with their input channels (0 = local core, then neighbours ascending)
        self.routers: list[Router] = []
        self.in_bufs: dict[tuple[int, int], Channel] = {}
        for v in range(n):
            inputs = [Channel(kernel, self.cap, f"router{v}.local")]
            for u in sorted(g.neighbors(v)):
                ch = Channel(kernel, self.cap, f"router{v}.from{u}")
                self.in_bufs[(u, v)] = ch
                inputs.append(ch)
            for i, ch in enumerate(inputs):
                ch.node, ch.idx = v, i
            self.routers.append(Router(v, inputs, timing, self.sched, self.act, self._check, self.timeout))
        self.local_bufs = [r.inputs[0] for r in self.routers]
        self._sampled: dict[int, list[Channel]] = {}  # sampled_inputs, per node
        n_in = [len(r.inputs) for r in self.routers]
        self.link_ports: dict[tuple[int, int], Link] = {
            (u, v): Link(u, v, n_in[u], self.in_bufs[(u, v)], self.routers[u], timing.d_stages, timing.L)
            for u, v in topo.links
        }
        self.inject_ports: list[Port] = [
            Port(INJECT, v, v, 1, self.local_bufs[v], self.routers[v], timing.d_inject) for v in range(n)
        ]
        # the second local path (ELSA_BRIEF §3: "two local paths for spikes from the core's own PEs ... so they
        # do not contend"): the trains a core sends to itself go from its output queues straight to its ejection
        # port (the local input reducer writes into the core's own FIFO queues), serialised apart from the
        # injection port's. With one path they take the injection port with the network-bound trains.
        self.loop_ports: list[Port] = (
            [Port(INJECT, v, v, 1, None, self.routers[v], timing.d_inject) for v in range(n)]
            if params.local_paths == 2
            else []
        )
        self.eject_ports: list[Port] = [
            Port(EJECT, v, v, n_in[v], None, self.routers[v], timing.d_eject) for v in range(n)
        ]
        # ---- bind: where a granted head goes next, whom a channel returns its credits to, ejection
        for (_u, v), link in self.link_ports.items():
            link.next_hop = self.routers[v].arrive_cbs
        for port in [*self.inject_ports, *self.loop_ports]:
            port.next_hop = self.routers[port.src].arrive_cbs
        for port in [*self.link_ports.values(), *self.inject_ports]:
            port.dest_buf.up = port
            port.dest_buf.on_credit = port.router.on_credit
        for r in self.routers:
            r.on_eject = self._ejected
        self._deliver_cbs: list[Callable[[Any], None]] = [self._deliver]

    def attach_inbox(self, node: int, inbox: FifoBank) -> None:
        port = self.eject_ports[node]
        queues = inbox.queues
        if len(queues) == 1:
            port.dest_buf = queues[0]
        else:
            port.fifos = inbox
        for q in queues:
            q.up = port
            q.on_credit = port.router.on_credit
        # a core's injection port feeds the switch straight from its output queues (the NI's: they are the
        # router's local input FIFO queues, ELSA_BRIEF §3's 4 x 512 B of the local port, divided among the core's
        # lane groups), not through a second, pooled buffer: a train keeps its output-queue credits until a link
        # or the ejection port takes it, so one group's trains waiting for a full path hold no other group's.
        # (Synthetic traffic, with no cores, keeps the router's local input buffer.)
        self.inject_ports[node].dest_buf = None

    def sampled_inputs(self, node: int) -> list[Any]:
        """The router's input buffers, without the local one when a core is attached (its trains go from the
        output queues straight to the switch, so that buffer stays empty: a counter of it would read 0)."""
        got = self._sampled.get(node)  # once per node: the trace samples them at every delivery
        if got is None:
            r = self.routers[node]
            local = self.local_bufs[node] if self.inject_ports[node].dest_buf is None else None
            got = self._sampled[node] = [b for b in r.inputs if b is not local]
        return got

    # ---- taking transactions in -----------------------------------------------------------------------

    def _start(self, t: Txn) -> None:
        now = t.t0
        self.routers[t.src].request(t.ports[0], t, 0)
        act = self.act
        if act.in_flight and (not act.pending or now - act.last_progress > self.timeout):
            self._check()

    def _deliver_at(self, t: Txn, done: int) -> None:
        """The transaction itself is the delivery event (no allocation)."""
        t.callbacks = self._deliver_cbs
        self.sched.at(done, t)

    # ---- watchdog -------------------------------------------------------------------------------------

    def _waits_on_cores(self) -> bool:
        return any(p.blocked for p in self.eject_ports)

    def _wait_for(self) -> tuple[nx.DiGraph, list[tuple[int, int]]]:
        wait = nx.DiGraph()
        blocked = sorted(lk for lk, p in self.link_ports.items() if p.nwait and p.blocked)
        for u, v in blocked:
            buf = self.in_bufs[(u, v)]
            for w in sorted(self.topo.graph.neighbors(v)):
                if self.link_ports[(v, w)].queues[buf.idx]:
                    wait.add_edge((u, v), (v, w))
        return wait, blocked
