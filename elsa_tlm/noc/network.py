"""Transaction-level SimPy model of the routers and links (approximately timed: contention, finite buffers).

Unit of transfer: a *transaction* (one packet, or several back-to-back packets of one spine sent together),
with its size in flits. Flow control is virtual cut-through (VCT) on packet-sized credits: a transaction is
granted an output only when the downstream input buffer has room for it (``min(flits, capacity)``), its head
then cuts through the next router while its tail follows ``ser`` cycles behind. Each hop costs one SimPy event
(the head becoming eligible for switch allocation at the next router); output-port and credit waits add one
wake-up event only when a transaction actually has to wait. There are no per-flit events.

Timing per transaction (cycles; R = route_compute + switch_alloc + switch_traversal, L = link latency,
P = local_port_cycles, ser = ceil(flits * flit_bits / link_bits)):
  injection granted at t_i  -> eligible at the source router at t_i + P + RC + SA
  link granted at t_g       -> output busy [t_g, t_g + ser); eligible at the next router at t_g + ST + L + RC + SA
  ejection granted at t_e   -> tail delivered to the core at t_e + ST + P + ser
Zero-load latency for h link hops: 2P + (h+1)R + hL + ser.
"""

from __future__ import annotations

import heapq
import math
import tomllib
from collections import deque
from heapq import heappush
from importlib import resources
from typing import Any

import networkx as nx
import numpy as np
import simpy
from simpy.core import NORMAL
from simpy.events import Event

from elsa_tlm.errors import DeadlockError
from elsa_tlm.noc.params import buffer_flits
from elsa_tlm.noc.routing import Routing
from elsa_tlm.noc.topology import Topology

INJECT, LINK, EJECT = 0, 1, 2


class _Tick(Event):
    """A bare scheduled event carrying one object to a callback (cheaper than Timeout + closure)."""

    def __init__(self, env: simpy.Environment, delay: int, callback: Any, obj: object) -> None:
        self.env = env
        self.callbacks = [callback]
        self._value = obj
        self._ok = True
        env.schedule(self, NORMAL, delay)


class InputBuffer:
    """One router input port (from a neighbour or from the local core): pooled FIFOs of ``cap`` flits.

    Space is reserved when the upstream output is granted and released when the tail leaves this router;
    releases are kept in a heap and applied lazily when someone asks for space (no event per release).
    """

    __slots__ = ("node", "idx", "cap", "used", "rel", "up", "peak")

    def __init__(self, node: int, idx: int, cap: int) -> None:
        self.node, self.idx, self.cap, self.used = node, idx, cap, 0
        self.peak = 0  # most flits ever reserved at once (never above cap: tested)
        self.rel: list[tuple[int, int]] = []
        self.up: OutputPort | None = None

    def occupancy(self, now: int) -> int:
        rel = self.rel
        while rel and rel[0][0] <= now:
            self.used -= heapq.heappop(rel)[1]
        return self.used


class OutputPort:
    """An output of a router (a link, or the ejection port) or a core's injection port.

    Waiting transactions are queued per input port; the next grant goes round-robin over the inputs.
    """

    __slots__ = (
        "kind",
        "src",
        "dst",
        "dest_buf",
        "queues",
        "nwait",
        "rr",
        "busy_until",
        "wake_at",
        "blocked",
        "need",
        "packets",
        "flits",
        "bits",
        "busy",
    )

    def __init__(self, kind: int, src: int, dst: int, n_inputs: int, dest_buf: InputBuffer | None) -> None:
        self.kind, self.src, self.dst, self.dest_buf = kind, src, dst, dest_buf
        self.queues: list[deque] = [deque() for _ in range(n_inputs)]
        self.nwait = self.rr = self.busy_until = 0
        self.wake_at: int | None = None
        self.blocked = False
        self.need = 0  # credits the blocked head transaction waits for
        self.packets = self.flits = self.bits = self.busy = 0


class _Txn(Event):
    """A transaction in flight. It is its own SimPy event: rescheduled once per hop (head reaches the next
    router's switch allocator), so a hop costs one heap entry and no allocation."""

    __slots__ = (
        "src",
        "dst",
        "flits",
        "packets",
        "bits",
        "ser",
        "need",
        "ports",
        "idx",
        "buf",
        "t0",
        "ev",
        "tag",
        "inj",
    )

    def __init__(self) -> None:  # no Event.__init__: the fields are set by Network._send
        self._ok = True


def load_tech() -> dict:
    """The packaged 28 nm parameter tables (elsa_tlm/data/elsa_28nm.toml)."""
    with resources.files("elsa_tlm").joinpath("data/elsa_28nm.toml").open("rb") as fh:
        return tomllib.load(fh)


def noc_energy_j(
    counters: dict, flit_bits: int, tech: dict | None = None, route_lookups_per_router: int = 1
) -> dict[str, float]:
    """NoC dynamic energy (J) from action counters, as ELSA's DSENT figures characterise it.

    ``noc_hops``: flit_hops × the energy of one flit over one router + link hop (12.99 pJ, DSENT: buffer,
    crossbar, arbitration and wire together, so the crossbar is not charged again); ``noc_local_delivery``:
    flits whose source and destination are the same core × the local-delivery energy (5.03 pJ), the only
    flits that pay it; ``routing_engine``: route_ops (packets × routers visited) × route-table lookups per
    packet per router (a format that carries hop offsets needs none) × the routing engine's energy per
    decision. Per-flit energies are characterised for 256-bit flits and scaled by flit_bits / 256.
    """
    tech = tech or load_tech()
    s = flit_bits / 256.0
    noc, logic = tech["noc"], tech["logic"]
    hops = counters["flit_hops"] * noc["hop_energy_pj_per_flit"] * s
    local = counters.get("loopback_flits", 0) * noc["local_delivery_energy_pj_per_flit"] * s
    lookups = counters["route_ops"] * route_lookups_per_router * logic["routing_engine"]["energy_pj"]
    return {
        "noc_hops": hops * 1e-12,
        "noc_local_delivery": local * 1e-12,
        "routing_engine": lookups * 1e-12,
    }


class Network:
    """Routers, links and local ports of one topology on a SimPy environment.

    ``send`` is the only way in; it returns an event that succeeds (value = cycle) when the tail of the last
    packet reaches the destination core. A watchdog raises DeadlockError (out of ``env.run``/``env.step``)
    when transactions are in flight but none can ever move, or none has moved for deadlock_timeout_cycles.
    It schedules nothing of its own, so an idle network never keeps the simulation alive.
    """

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
        p = params
        self.flit_bits, self.link_bits = p.flit_bits, p.link_bits
        self.cap = buffer_flits(p)
        self.R = p.route_compute_cycles + p.switch_alloc_cycles + p.switch_traversal_cycles
        self.P = p.local_port_cycles
        self.d_inject = p.local_port_cycles + p.route_compute_cycles + p.switch_alloc_cycles
        self.d_hop = (
            p.switch_traversal_cycles + p.link_latency_cycles + p.route_compute_cycles + p.switch_alloc_cycles
        )
        self.d_eject = p.switch_traversal_cycles + p.local_port_cycles
        self.timeout = p.deadlock_timeout_cycles
        g = topo.graph
        n = topo.n_nodes
        # input buffers: index 0 = local core, then neighbours in ascending order
        self.in_bufs: dict[tuple[int, int], InputBuffer] = {}
        self.local_bufs: list[InputBuffer] = []
        for v in range(n):
            self.local_bufs.append(InputBuffer(v, 0, self.cap))
            for i, u in enumerate(sorted(g.neighbors(v)), start=1):
                self.in_bufs[(u, v)] = InputBuffer(v, i, self.cap)
        n_in = [1 + g.degree(v) for v in range(n)]
        self.link_ports: dict[tuple[int, int], OutputPort] = {}
        for u, v in topo.links:
            port = OutputPort(LINK, u, v, n_in[u], self.in_bufs[(u, v)])
            self.in_bufs[(u, v)].up = port
            self.link_ports[(u, v)] = port
        self.inject_ports = []
        for v in range(n):
            port = OutputPort(INJECT, v, v, 1, self.local_bufs[v])
            self.local_bufs[v].up = port
            self.inject_ports.append(port)
        self.eject_ports = [OutputPort(EJECT, v, v, n_in[v], None) for v in range(n)]
        self._ports_cache: dict[tuple[int, ...], tuple[OutputPort, ...]] = {}
        self._packets = self._flits = self._bits = 0
        self._flit_hops = self._local_flits = self._crossbar_flits = self._route_ops = 0
        self._loopback_flits = 0
        self.in_flight = 0
        self.delivered = 0
        self.events_scheduled = 0
        self._pending = 0
        self._last_progress = 0
        self._arrive_cbs = [self._on_arrive]  # shared, never mutated by SimPy (it only swaps it out)
        self._queue, self._eid = env._queue, env._eid  # direct scheduling of transaction hops
        self.core_fifos: list[InputBuffer] = []  # ejection credits (attach_core_fifos)
        self.on_eject: Any = None  # optional hook(txn_tag, t_created, t_done, hops, flits, packets)

    # ---- public API -----------------------------------------------------------------------------------

    def zero_load_latency(self, src: int, dst: int, flits: int) -> int:
        """Closed form: 2P + (h+1)R + hL + ser cycles, h = link hops of the route (expected, for random
        routings, rounded)."""
        paths = self.routing.paths(src, dst) if src != dst else [((src,), 1.0)]
        h = sum((len(p) - 1) * q for p, q in paths)
        ser = self.ser(flits)
        return int(round(2 * self.P + (h + 1) * self.R + h * self.params.link_latency_cycles + ser))

    def ser(self, flits: int) -> int:
        """Cycles a transaction of ``flits`` flits occupies a link or local port."""
        return max(1, math.ceil(flits * self.flit_bits / self.link_bits))

    def send(
        self,
        src: int,
        dst: int,
        flits: int,
        packets: int = 1,
        bits: int | None = None,
        on_injected: Any = None,
    ) -> simpy.Event:
        """Send ``packets`` back-to-back packets totalling ``flits`` flits from core ``src`` to core ``dst``.

        Returns the delivery event (value: the cycle the tail reaches the destination core).
        ``on_injected(tail_leaves)`` is called when the injection port takes the train.
        """
        ev = Event(self.env)
        self._send(src, dst, flits, packets, bits, ev, None, on_injected)
        return ev

    def attach_core_fifos(self, capacity_flits: int) -> None:
        """Give every ejection port credits: the destination core's input FIFOs of ``capacity_flits``.

        A train is ejected only when the FIFOs have room for it (up to their size); the core returns the
        credits with :meth:`return_credits` once it has absorbed the spikes.
        """
        self.core_fifos = []
        for port in self.eject_ports:
            buf = InputBuffer(port.src, -1, capacity_flits)
            buf.up = port
            port.dest_buf = buf
            self.core_fifos.append(buf)

    def return_credits(self, node: int, flits: int, at: int | None = None) -> None:
        """Core ``node`` frees ``flits`` of its input FIFOs at cycle ``at`` (default: now; never earlier):
        the ejection port may go on then."""
        buf = self.core_fifos[node]
        now = self.env._now
        heappush(buf.rel, (now if at is None or at < now else at, flits))
        if buf.up.blocked:
            self._wake_when_room(buf.up, buf)

    @property
    def counters(self) -> dict[str, int]:
        """Action counters: packets, flits, bits sent (injected); flit_hops (flits x links traversed);
        local_flits (flits through injection + ejection ports); crossbar_flits (flits x routers switched
        through, ejection included); route_ops (packets x routers visited); loopback_flits (flits of
        transactions whose source and destination are the same core)."""
        return {
            "packets": self._packets,
            "flits": self._flits,
            "bits": self._bits,
            "flit_hops": self._flit_hops,
            "local_flits": self._local_flits,
            "crossbar_flits": self._crossbar_flits,
            "route_ops": self._route_ops,
            "loopback_flits": self._loopback_flits,
        }

    def link_rows(self) -> list[dict]:
        """Per directed link: packets, flits, bits and busy cycles, sorted by (src, dst)."""
        return [
            {
                "src": u,
                "dst": v,
                "packets": p.packets,
                "flits": p.flits,
                "bits": p.bits,
                "busy_cycles": p.busy,
            }
            for (u, v), p in sorted(self.link_ports.items())
        ]

    def energy_j(self) -> dict[str, float]:
        return noc_energy_j(self.counters, self.flit_bits, self.tech)

    # ---- engine ---------------------------------------------------------------------------------------

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

    def _send(
        self,
        src: int,
        dst: int,
        flits: int,
        packets: int,
        bits: int | None,
        ev: Event | None,
        tag: object,
        inj: Any = None,
    ) -> None:
        if flits < 1 or packets < 1:  # several short AER packets may share one flit
            raise ValueError(f"a transaction needs flits >= 1 and packets >= 1 (got {flits}, {packets})")
        t = _Txn()
        t.env = self.env
        t._value = t
        t.src, t.dst, t.flits, t.packets = src, dst, flits, packets
        t.bits = flits * self.flit_bits if bits is None else bits
        t.ser = max(1, -(-flits * self.flit_bits // self.link_bits))
        t.need = flits if flits < self.cap else self.cap
        path = (src,) if src == dst else self.routing.choose(src, dst, self.rng)
        t.ports = self._ports(path)
        t.idx, t.buf, t.t0, t.ev, t.tag, t.inj = 0, None, self.env.now, ev, tag, inj
        self._packets += packets
        self._flits += flits
        self._bits += t.bits
        if self.in_flight == 0:
            self._last_progress = self.env.now
        self.in_flight += 1
        self._request(t.ports[0], t, 0)
        self._check()

    def _schedule(self, delay: int, cb: Any, obj: object) -> None:
        self._pending += 1
        self.events_scheduled += 1
        _Tick(self.env, delay, cb, obj)

    def _wake_when_room(self, port: OutputPort, buf: InputBuffer) -> None:
        """Wake a port blocked on ``buf``'s credits when the releases already known free enough room for
        its head transaction (no wake-up for a release that would not be enough)."""
        deficit = buf.used + port.need - buf.cap
        acc = 0
        for at, amount in sorted(buf.rel):
            acc += amount
            if acc >= deficit:
                self._wake(port, max(at, self.env._now))
                return

    def _wake(self, port: OutputPort, at: int) -> None:
        if port.wake_at is not None and port.wake_at <= at:
            return
        port.wake_at = at
        self._schedule(at - self.env._now, self._on_wake, port)

    def _on_wake(self, ev: Event) -> None:
        self._pending -= 1
        port = ev._value
        if port.wake_at == self.env._now:
            port.wake_at = None
        self._try(port)
        if self.in_flight:
            self._check()

    def _on_arrive(self, ev: Event) -> None:
        """Head of ``ev`` (a transaction) reaches a switch allocator: request its next output."""
        self._pending -= 1
        t = ev
        port = t.ports[t.idx]
        inp = t.buf.idx
        if not port.nwait:  # fast path (inlined _request): idle output with room downstream
            now = self.env._now
            if port.busy_until <= now:
                buf = port.dest_buf
                if buf is None:
                    self._grant(port, t, now, None)
                    if self.in_flight and (self._pending == 0 or now - self._last_progress > self.timeout):
                        self._check()
                    return
                used = buf.used
                if buf.rel and buf.rel[0][0] <= now:
                    used = buf.occupancy(now)
                if used + t.need <= buf.cap:
                    buf.used = used + t.need
                    if buf.used > buf.peak:
                        buf.peak = buf.used
                    port.rr = inp
                    self._grant(port, t, now, buf)
                    return  # a hop was scheduled: progress is possible, nothing to check
        port.queues[inp].append(t)
        port.nwait += 1
        self._try(port)
        if self.in_flight:
            self._check()

    def _request(self, port: OutputPort, t: _Txn, inp: int) -> None:
        """Queue ``t`` at ``port``; fast path: an idle port with room downstream grants at once."""
        if not port.nwait:
            now = self.env._now
            if port.busy_until <= now:
                buf = port.dest_buf
                if buf is None:
                    self._grant(port, t, now, None)
                    return
                used = buf.used
                if buf.rel and buf.rel[0][0] <= now:
                    used = buf.occupancy(now)
                if used + t.need <= buf.cap:
                    buf.used = used + t.need
                    if buf.used > buf.peak:
                        buf.peak = buf.used
                    port.rr = inp
                    self._grant(port, t, now, buf)
                    return
        port.queues[inp].append(t)
        port.nwait += 1
        self._try(port)

    def _try(self, port: OutputPort) -> None:
        """Grant the transactions waiting at ``port``, round-robin over its inputs, back to back.

        A busy port grants its next transaction for the cycle it frees (its credits are reserved now: only
        this port feeds the downstream buffer, so they cannot be taken in between), which needs no wake-up
        event; a port blocked on credits waits for the release that frees enough room.
        """
        if not port.nwait:
            return
        now = self.env._now
        queues = port.queues
        n = len(queues)
        buf = port.dest_buf
        while port.nwait:
            i = port.rr
            for _ in range(n):
                i = i + 1 if i + 1 < n else 0
                if queues[i]:
                    break
            t = queues[i][0]
            if buf is not None:
                if buf.occupancy(now) + t.need > buf.cap:
                    port.blocked = True
                    port.need = t.need
                    self._wake_when_room(port, buf)
                    return
                buf.used += t.need
                if buf.used > buf.peak:
                    buf.peak = buf.used
                port.blocked = False
            queues[i].popleft()
            port.nwait -= 1
            port.rr = i
            self._grant(port, t, port.busy_until if port.busy_until > now else now, buf)

    def _grant(self, port: OutputPort, t: _Txn, now: int, buf: InputBuffer | None) -> None:
        """``t`` wins ``port`` for cycle ``now`` (the current cycle or, back to back, the cycle the port
        frees; credits already reserved in ``buf``)."""
        ser = t.ser
        flits = t.flits
        end = now + ser
        port.busy_until = end
        port.packets += t.packets
        port.flits += flits
        port.bits += t.bits
        port.busy += ser
        if end > self._last_progress:  # a granted train streams until its tail leaves: that is progress
            self._last_progress = end
        old = t.buf
        if old is not None:  # the tail leaves the current input buffer ser cycles from now
            heappush(old.rel, (end, t.need))
            if old.up.blocked:
                self._wake_when_room(old.up, old)
        kind = port.kind
        if kind == LINK:
            self._flit_hops += flits
            self._crossbar_flits += flits
            self._route_ops += t.packets
            t.buf = buf
            t.idx += 1
            self._pending += 1
            self.events_scheduled += 1
            t.callbacks = self._arrive_cbs
            heappush(self._queue, (now + self.d_hop, NORMAL, next(self._eid), t))
        elif kind == INJECT:
            if t.inj is not None:
                t.inj(end)
            self._local_flits += flits
            t.buf = buf
            t.idx = 1
            self._pending += 1
            self.events_scheduled += 1
            t.callbacks = self._arrive_cbs
            heappush(self._queue, (now + self.d_inject, NORMAL, next(self._eid), t))
        else:
            self._local_flits += t.flits
            self._crossbar_flits += t.flits
            self._route_ops += t.packets
            if len(t.ports) == 2:  # injection then ejection: it never left its router
                self._loopback_flits += t.flits
            done = now + self.d_eject + ser
            t.buf = None
            self.in_flight -= 1
            self.delivered += 1
            if self.on_eject is not None:
                self.on_eject(t.tag, t.t0, done, len(t.ports) - 2, t.flits, t.packets)
            ev = t.ev
            if ev is not None:
                ev._ok = True
                ev._value = done
                self.env.schedule(ev, NORMAL, done - self.env._now)

    # ---- watchdog -------------------------------------------------------------------------------------

    def _check(self) -> None:
        if not self.in_flight:
            return
        if self._pending == 0:
            # an ejection port waiting for its core's credits waits on the core, not on the network
            waits_on_cores = self.core_fifos and any(p.blocked for p in self.eject_ports)
            self._deadlock("no transaction can ever move again", certain=not waits_on_cores)
        elif self.env.now - self._last_progress > self.timeout:
            self._deadlock(
                f"no transaction moved for {self.env.now - self._last_progress} cycles", certain=False
            )

    def _deadlock(self, why: str, certain: bool) -> None:
        """Build the wait-for graph between blocked links and raise DeadlockError naming a cycle in it.

        After a mere timeout (``certain`` False) a wait-for graph without a cycle is congestion, not a
        deadlock: the watchdog starts a new window instead of raising.
        """
        wait = nx.DiGraph()
        blocked = sorted(lk for lk, p in self.link_ports.items() if p.nwait and p.blocked)
        for u, v in blocked:
            buf = self.in_bufs[(u, v)]
            for w in sorted(self.topo.graph.neighbors(v)):
                if self.link_ports[(v, w)].queues[buf.idx]:
                    wait.add_edge((u, v), (v, w))
        try:
            links = sorted(e[0] for e in nx.find_cycle(wait))
            where = "links in the cycle: " + ", ".join(f"{a}->{b}" for a, b in links)
        except nx.NetworkXNoCycle:
            if not certain:
                self._last_progress = self.env.now
                return
            links = blocked
            where = (
                "blocked links (no cyclic wait among links): " + ", ".join(f"{a}->{b}" for a, b in links)
                if links
                else "no link is blocked: the transactions wait outside the network"
            )
        raise DeadlockError(
            f"NoC deadlock at cycle {self.env.now}: {why}; {self.in_flight} transactions in flight; {where}",
            links,
        )
