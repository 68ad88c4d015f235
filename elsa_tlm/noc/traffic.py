"""Synthetic traffic for NoC-only studies and the standalone NoC run (warm-up, measurement, drain).

Patterns give every source a destination distribution (a row of the traffic matrix): ``uniform`` (any other
node), ``transpose`` ((r,c) -> (c,r), square grids), ``bitcomp`` (node i -> N-1-i, i.e. (r,c) ->
(R-1-r, C-1-c) on grids), ``hotspot`` (20 % of packets to the centre router, the rest uniform) and
``neighbor`` (a uniformly chosen graph neighbour). A source whose pattern destination is itself stays silent.
Injection is Bernoulli per node and cycle with probability rate/packet_flits; source queues are unbounded.

Cost: memory linear in routers x cycles and time in the packets' hops. No N x N matrix is built for a run:
a :class:`Pattern` draws destinations from each row's cumulative sums in closed form (the same draws, bit for
bit, as a search over the matrix's rows), the packet schedule is drawn in chunks of cycles, routes are
computed per packet (``noc.routing``), and the channel-load bound sums the routes of every flow only while
they are few (:data:`EXACT_FLOW_ROUTES`), else aggregates per source or destination (``aggregate_loads``).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import time
from array import array
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from elsa_tlm.errors import ConfigError
from elsa_tlm.gc_pause import collector_paused
from elsa_tlm.kernel import Kernel, Wake
from elsa_tlm.noc.multipath import MultipathRouting
from elsa_tlm.noc.routes import make_routing
from elsa_tlm.noc.routing import Routing, ValiantRouting, link_loads
from elsa_tlm.noc.topology import Topology, build_topology
from elsa_tlm.noc.vc_network import make_network

PATTERNS = ("uniform", "transpose", "bitcomp", "hotspot", "neighbor")
ALIASES = {
    "bit_complement": "bitcomp",
    "bit-complement": "bitcomp",
    "nearest_neighbor": "neighbor",
    "nearest_neighbour": "neighbor",
    "neighbour": "neighbor",
    "random": "uniform",
}
HOTSPOT_FRACTION = 0.2
# the channel-load bound visits every (flow, route) pair while there are at most this many (single-path
# routings up to a 26x26 mesh, Valiant's N routes per flow up to 80 routers); beyond, it aggregates
EXACT_FLOW_ROUTES = 1 << 19
# multipath optimises its splits over the whole traffic matrix, flow by flow: N^2 flows
MULTIPATH_MAX_ROUTERS = 1024
# random numbers drawn at a time for the packet schedule (8 MB of doubles)
CHUNK_DRAWS = 1 << 20
# packets above which a run says it will take a while (64x64 at 0.1 flits/node/cycle for 11,000 cycles: 4.5 M)
LARGE_RUN_PACKETS = 1_000_000


def hotspot_node(topo: Topology) -> int:
    """Centre router of a grid, else node N//2."""
    if topo.is_grid:
        assert topo.rows is not None and topo.cols is not None
        return (topo.rows // 2) * topo.cols + topo.cols // 2
    return topo.n_nodes // 2


class Pattern:
    """A synthetic traffic pattern on a topology, row by row: ``row(s)`` is source s's destination
    probabilities (row s of the N x N traffic matrix, summing to 1, or 0 for a silent source), ``column(d)``
    what every source sends to d, ``active`` the sources that send. ``draw(src, u)`` gives each packet's
    destination from a uniform number u in [0, 1): the first node whose cumulative row sum exceeds u, as a
    search over ``cumsum(row)`` (last entry infinite) finds it, computed without the row (closed forms of
    those cumulative sums), so a run never holds the matrix."""

    def __init__(self, topo: Topology, traffic: str) -> None:
        name = ALIASES.get(traffic, traffic)
        if name not in PATTERNS:
            raise ConfigError("traffic", traffic, f"must be one of {', '.join(PATTERNS)}")
        n = topo.n_nodes
        if n < 2:
            raise ConfigError("noc.topology", topo.spec, "synthetic traffic needs at least 2 nodes")
        if name == "transpose" and (not topo.is_grid or topo.rows != topo.cols):
            raise ConfigError("traffic", name, "transpose needs a square mesh or torus")
        self.topo, self.name, self.n = topo, name, n
        nodes = np.arange(n)
        self._v = 1.0 / (n - 1)  # a uniform row's weight
        self._perm: np.ndarray | None = None  # transpose, bitcomp: the one destination
        if name == "transpose":
            assert topo.cols is not None
            r, c = np.divmod(nodes, topo.cols)
            self._perm = c * topo.cols + r
        elif name == "bitcomp":
            self._perm = n - 1 - nodes
        self.active = np.ones(n, dtype=bool) if self._perm is None else self._perm != nodes
        # cumulative sums of a uniform row without its zero (the row's cumsum repeats one entry at s)
        self._cum_uniform = np.cumsum(np.full(n - 1, self._v))
        if name == "hotspot":
            self.hot = hotspot_node(topo)
            self._w = self._v * (1 - HOTSPOT_FRACTION)
            seq = np.full(n - 1, self._w)
            if self.hot < n - 1:  # sources after the hotspot: it keeps its index once their zero is removed
                seq[self.hot] = self._w + HOTSPOT_FRACTION
            self._cum_after = np.cumsum(seq)
            seq = np.full(n - 1, self._w)
            if self.hot > 0:  # sources before it: one index earlier
                seq[self.hot - 1] = self._w + HOTSPOT_FRACTION
            self._cum_before = np.cumsum(seq)
        if name == "neighbor":
            self._nbrs = [sorted(topo.graph.neighbors(s)) for s in range(n)]
            self._deg = np.array([len(nb) for nb in self._nbrs], dtype=np.int64)
            width = int(self._deg.max())
            self._nbr = np.full((n, width), n - 1, dtype=np.int64)
            for s, nb in enumerate(self._nbrs):
                self._nbr[s, : len(nb)] = nb
            self._cum_deg = {int(k): np.cumsum(np.full(k, 1.0 / k)) for k in np.unique(self._deg)}
            self.active = self._deg > 0

    # ---- the matrix, a row or a column at a time ------------------------------------------------------
    def row(self, s: int) -> np.ndarray:
        """Destination probabilities of source ``s`` (row s of the traffic matrix)."""
        n, name = self.n, self.name
        if self._perm is not None:
            out = np.zeros(n)
            if self._perm[s] != s:
                out[self._perm[s]] = 1.0
            return out
        if name == "neighbor":
            out = np.zeros(n)
            out[self._nbrs[s]] = 1.0 / len(self._nbrs[s])
            return out
        if name == "hotspot" and s != self.hot:
            out = np.full(n, self._w)
            out[self.hot] = self._w + HOTSPOT_FRACTION
        else:
            out = np.full(n, self._v)
        out[s] = 0.0
        return out

    def column(self, d: int) -> np.ndarray:
        """What every source sends to ``d`` (column d of the traffic matrix)."""
        n, name = self.n, self.name
        if self._perm is not None:  # transpose and bit complement are their own inverses
            out = np.zeros(n)
            if self._perm[d] != d:
                out[self._perm[d]] = 1.0
            return out
        if name == "neighbor":
            out = np.zeros(n)
            nb = self._nbrs[d]
            out[nb] = 1.0 / self._deg[nb]
            return out
        if name == "hotspot":
            out = np.full(n, self._w + HOTSPOT_FRACTION if d == self.hot else self._w)
            out[self.hot] = 0.0 if d == self.hot else self._v
        else:
            out = np.full(n, self._v)
        out[d] = 0.0
        return out

    def matrix(self) -> np.ndarray:
        """The whole N x N matrix (small topologies: tests, the exact channel-load bound)."""
        return np.stack([self.row(s) for s in range(self.n)]) if self.n else np.zeros((0, 0))

    def sums(self) -> tuple[np.ndarray, np.ndarray]:
        """Row sums (what each source sends) and column sums (what each node receives), row by row."""
        rows = np.zeros(self.n)
        cols = np.zeros(self.n)
        for s in range(self.n):
            r = self.row(s)
            rows[s] = r.sum()
            cols += r
        return rows, cols

    # ---- drawing destinations -------------------------------------------------------------------------
    def draw(self, src: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Destination of each packet from source ``src[i]`` with uniform number ``u[i]`` in [0, 1): the
        number of entries of ``cumsum(row(src[i]))`` (its last entry made infinite) that are <= u[i]."""
        src = np.asarray(src, dtype=np.int64)
        u = np.asarray(u, dtype=np.float64)
        if self._perm is not None:  # cumsum 0 ... 0 1 ... 1: the destination itself
            return self._perm[src]
        if self.name == "neighbor":
            dst = np.empty(src.size, dtype=np.int64)
            deg = self._deg[src]
            for k, cum in self._cum_deg.items():  # cumsum is 0 before the first neighbour, then steps
                sel = np.flatnonzero(deg == k)
                i = np.searchsorted(cum, u[sel], side="right")
                dst[sel] = np.where(i < k, self._nbr[src[sel], np.minimum(i, k - 1)], self.n - 1)
            return dst
        if self.name == "uniform":
            return self._draw_row(self._cum_uniform, src, u)
        dst = np.empty(src.size, dtype=np.int64)
        h = self.hot
        for sel, cum in (
            (src == h, self._cum_uniform),
            (src > h, self._cum_after),
            (src < h, self._cum_before),
        ):
            idx = np.flatnonzero(sel)
            dst[idx] = self._draw_row(cum, src[idx], u[idx])
        return dst

    def _draw_row(self, cum: np.ndarray, src: np.ndarray, u: np.ndarray) -> np.ndarray:
        """A row that is ``cum``'s steps with a zero inserted at ``s``: its cumulative sums are ``cum`` with
        the entry before ``s`` repeated (0.0 for s = 0), the last entry made infinite. Counting those <= u:
        a = how many of ``cum[:n-2]`` are, plus one if the repeated entry is (that is, a >= s), plus, for
        the last source, whether ``cum[n-2]`` is (its infinite entry is the repeated one)."""
        n = self.n
        a = np.searchsorted(cum[: n - 2], u, side="right")
        dst = a + (a >= src)
        last = src == n - 1
        if last.any():
            dst[last] += cum[n - 2] <= u[last]
        return dst


def pattern_matrix(topo: Topology, traffic: str) -> np.ndarray:
    """N x N destination probabilities per source (rows sum to 1, or 0 for a silent source)."""
    return Pattern(topo, traffic).matrix()


def _exact_bound(topo: Topology, routing: Routing) -> bool:
    """The channel-load bound goes flow by flow (as ``link_loads``) when that is cheap or the only way."""
    n = topo.n_nodes
    routes = n if isinstance(routing, ValiantRouting) else 1
    return n * n * routes <= EXACT_FLOW_ROUTES or isinstance(routing, MultipathRouting)


def saturation_bound(topo: Topology, routing: Routing, traffic: str, packet_flits: int, params: Any) -> float:
    """Channel-load bound (flits/node/cycle, averaged over all N nodes like ``offered_rate``): the offered
    load at which the most loaded link or port saturates, b / max port load per unit rate.

    b = F / ceil(F * flit_bits / link_bits) flits/cycle is what one link or local port carries for F-flit
    packets; the load per unit injection rate is computed exactly from the traffic matrix and the routing's
    path probabilities, over all links and the injection/ejection ports. For uniform traffic on a k x k mesh
    with XY routing this is the bisection bound 4 k (N-1) b / N^2 (k even). Small networks sum the routes
    flow by flow; large ones aggregate (:meth:`Routing.aggregate_loads`, the same loads up to rounding).
    """
    pattern = Pattern(topo, traffic)
    b = packet_flits / max(1, math.ceil(packet_flits * params.flit_bits / params.link_bits))
    loads = None
    if not _exact_bound(topo, routing):
        row_sums, col_sums = pattern.sums()
        loads = routing.aggregate_loads(pattern.row, pattern.column, row_sums, col_sums)
    if loads is None:
        m = pattern.matrix()
        src, dst = (a.tolist() for a in np.nonzero(m))  # Python ints: the routes are cached for the run
        flows = {(s, d): float(m[s, d]) for s, d in zip(src, dst, strict=True)}
        loads = link_loads(topo, routing, flows)
        row_sums, col_sums = m.sum(axis=1), m.sum(axis=0)
    peak = max(float(loads.max()) if loads.size else 0.0, float(col_sums.max()), float(row_sums.max()))
    active = float((row_sums > 0).mean())  # silent sources: express the bound per node, like offered_rate
    return b * active / peak if peak > 0 else float("inf")


def _check_args(rate: float, packet_flits: int, cycles: int, warmup: int, seed: int) -> None:
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not rate >= 0:
        raise ConfigError("rate", rate, "must be a number >= 0 flits/node/cycle")
    if isinstance(packet_flits, bool) or not isinstance(packet_flits, int) or packet_flits < 1:
        raise ConfigError("packet_flits", packet_flits, "must be an integer >= 1")
    if rate > packet_flits:
        raise ConfigError("rate", rate, f"Bernoulli injection needs rate <= packet_flits ({packet_flits})")
    if not 1 <= cycles <= 100_000_000:
        raise ConfigError("cycles", cycles, "must be between 1 and 100000000")
    if not 0 <= warmup <= 100_000_000:
        raise ConfigError("warmup", warmup, "must be between 0 and 100000000")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise ConfigError("seed", seed, "must be an integer >= 0")


def _setup(params: Any, traffic: str, seed: int, base_dir: Any) -> tuple[Topology, Routing, Pattern]:
    """Topology, routing and pattern of a synthetic run, refused (ConfigError) as the run would refuse them."""
    topo = build_topology(params.topology, base_dir)
    routing = make_routing(params.routing, topo, seed)
    pattern = Pattern(topo, traffic)
    if isinstance(routing, MultipathRouting) and topo.n_nodes > MULTIPATH_MAX_ROUTERS:
        raise ConfigError(
            "noc.routing",
            params.routing,
            f"on {topo.n_nodes} routers ({params.topology}): multipath optimises its split probabilities over "
            f"every flow of the traffic matrix ({topo.n_nodes**2:,} flows), so a synthetic run takes at most "
            f"{MULTIPATH_MAX_ROUTERS} routers (32x32); use xy, shortest or valiant on larger networks",
        )
    return topo, routing, pattern


# a synthetic run's cost: about one event per packet per hop plus injection and ejection; a 64x64 mesh costs
# ~9 us per event here (a deeper event heap), a 6x6 ~2 us. The default limit keeps a run within minutes.
MAX_SYNTHETIC_EVENTS = 40_000_000
EVENT_SECONDS = 5e-6


def check_synthetic(
    params: Any,
    traffic: str,
    rate: float,
    packet_flits: int,
    cycles: int,
    warmup: int,
    seed: int,
    base_dir: Any,
    max_events: int | None = MAX_SYNTHETIC_EVENTS,
) -> int:
    """Refuse (ConfigError) the arguments of a synthetic run, topology and routing included, and a run whose
    estimated cost exceeds ``max_events`` (None: no limit); returns the estimate (:func:`estimated_events`)."""
    _check_args(rate, packet_flits, cycles, warmup, seed)
    topo, _routing, pattern = _setup(params, traffic, seed, base_dir)
    est = estimated_events(int(pattern.active.sum()), topo.diameter, rate, packet_flits, cycles + warmup)
    if max_events is not None and est > max_events:
        raise ConfigError(
            "--cycles",
            cycles,
            f"a {topo.n_nodes}-router run of {cycles + warmup:,} cycles at rate {rate} is about {est / 1e6:,.0f} M "
            f"events (~{est * EVENT_SECONDS / 60:,.0f} min), more than the {max_events / 1e6:,.0f} M a synthetic "
            f"run takes by default; lower --cycles, --warmup or --rate, use a smaller network, or pass --long",
        )
    return est


def estimated_events(nodes: int, diameter: int, rate: float, packet_flits: int, t_end: int) -> int:
    """Events of a synthetic run, estimated before it starts: packets injected (nodes x cycles x rate /
    packet flits) x (mean hops ~ half the diameter, + injection and ejection)."""
    packets = nodes * t_end * rate / packet_flits
    return int(packets * (diameter / 2 + 2))


def _schedule(
    pattern: Pattern, rate: float, packet_flits: int, t_end: int, seed: int
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Packet creation schedule, in time order then node order, drawn a chunk of cycles at a time (cycle,
    source, destination). The random stream is the one of drawing every node's Bernoulli trial for every
    cycle (t_end x N uniforms, row by row), then one uniform per packet for its destination: the destinations
    come from a second generator advanced past the trials, so no t_end x N array (nor the whole schedule) is
    ever held."""
    n = pattern.n
    p_pkt = rate / packet_flits
    trials = np.random.default_rng(seed)
    dests = np.random.default_rng(seed)
    dests.bit_generator.advance(t_end * n)  # one 64-bit draw per uniform double
    active = pattern.active
    step = max(1, CHUNK_DRAWS // n)
    for t0 in range(0, t_end, step):
        t1 = min(t_end, t0 + step)
        draws = (trials.random((t1 - t0, n)) < p_pkt) & active[None, :]
        t_new, src = np.nonzero(draws)
        yield t_new + t0, src, pattern.draw(src, dests.random(src.size))


class _Stop(Exception):
    """Ends one phase of the event loop (raised between events)."""


def run_synthetic(
    params: Any,
    traffic: str,
    rate: float,
    packet_flits: int,
    cycles: int,
    warmup: int,
    seed: int,
    base_dir: Any = None,
    drain_cycles: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """One NoC-only run: warm-up, ``cycles`` measured cycles, then a bounded drain.

    Latency is from packet creation (enters the source queue) to tail delivery, over packets created in the
    measurement window. Accepted rate = flits delivered inside the window (the network's throughput), capped
    at the offered rate: in steady state a network cannot accept more than it is offered, and the raw count
    (``window_ejected_rate``, also reported) exceeds it only by warm-up backlog noise. The drain stops
    injection and runs until the network is empty or ``drain_cycles`` (default max(cycles, 2000)) have passed.
    ``progress(cycle, warmup + cycles)`` is called a hundred times over the warm-up and measurement; if it
    also has ``phase(text)`` and ``note(text)`` (the ``noc`` subcommand's progress), the drain is said through
    the first, a large or oversaturated run through the second before it starts.

    The report holds the network's action counters (``packets``, ``flits``, ``flit_hops``, ``route_ops``...),
    not their energy: the driver prices them (:func:`elsa_tlm.studies.noc.synthetic`, through the energy
    ledger).
    """
    _check_args(rate, packet_flits, cycles, warmup, seed)
    wall0 = time.perf_counter()
    topo, routing, pattern = _setup(params, traffic, seed, base_dir)
    n = topo.n_nodes
    if isinstance(routing, MultipathRouting):  # the only routing that reads the traffic matrix
        flows = {}
        for s in range(n):
            row = pattern.row(s)
            for d in np.flatnonzero(row).tolist():
                flows[(s, d)] = float(row[d]) * rate * cycles
        routing.prepare(flows)
    bound = saturation_bound(topo, routing, traffic, packet_flits, params)
    note = getattr(progress, "note", None)
    if note is not None:
        expected = n * (warmup + cycles) * rate / packet_flits * float(pattern.active.mean())
        if expected > LARGE_RUN_PACKETS:
            note(
                f"a large run: ~{expected:,.0f} packets on {n} routers (the default 6x6 mesh at the defaults: "
                f"~40,000); this will take a while"
            )
        if rate > bound:
            note(
                f"{rate} flits/node/cycle is above this network's channel-load bound {bound:.4g}: the sources' "
                f"queues grow by ~{(rate - bound) * n / packet_flits:,.0f} packets a cycle, and with them memory, "
                "time and the drain"
            )
    kernel = Kernel.new()  # the run's event kernel: the network's and the injector's
    net = make_network(kernel, topo, params, routing, seed=seed + 1)  # noc.router: fast or vc
    t_end = warmup + cycles
    # per measured packet delivered: latency (creation to tail delivery) and link hops, in delivery order
    lat, hops = array("q"), array("q")
    stats = {"acc_flits": 0, "created": 0, "measured": 0}

    def on_eject(tag: object, t0: int, done: int, h: int, flits: int, packets: int) -> None:
        if t0 >= warmup:  # created in the measurement window (every packet is created before t_end)
            lat.append(done - t0)
            hops.append(h)
        if warmup <= done < t_end:
            stats["acc_flits"] += flits

    net.on_eject = on_eject
    send = net.inject

    def injector() -> Iterator[Any]:  # a SimPy process: one event per cycle that creates packets
        for t_c, src_c, dst_c in _schedule(pattern, rate, packet_flits, t_end, seed):
            t_l, src_l, dst_l = t_c.tolist(), src_c.tolist(), dst_c.tolist()
            stats["created"] += len(t_l)
            stats["measured"] += int((t_c >= warmup).sum())
            a, size = 0, len(t_l)
            while a < size:
                t = t_l[a]
                now = kernel.now()
                if t > now:
                    yield kernel.timeout(t - now)
                b = a
                while b < size and t_l[b] == t:
                    send(src_l[b], dst_l[b], packet_flits, 1)
                    b += 1
                a = b

    kernel.process(injector())
    with collector_paused():  # no cyclic garbage to find, millions of live objects to walk (as sim.simulate)
        events = _simulate(
            kernel,
            net,
            t_end,
            t_end + (max(cycles, 2000) if drain_cycles is None else drain_cycles),
            progress,
        )
    sim_cycles = max(kernel.now(), t_end)

    # means of integers and a percentile: the same whatever the order the packets arrived in
    ml = np.frombuffer(lat, dtype=np.int64) if lat else np.zeros(0, np.int64)
    mh = np.frombuffer(hops, dtype=np.int64) if hops else np.zeros(0, np.int64)
    ser = net.ser(packet_flits)
    p = params
    zl = net.timing.zero_load(mh, ser)
    inj_p = sum(port.packets for port in net.inject_ports)
    ej_p = sum(port.packets for port in net.eject_ports)
    rows = net.link_rows()
    for r in rows:
        r["utilisation"] = round(r["busy_cycles"] / sim_cycles, 6)
    n_meas = stats["measured"]
    return {
        "topology": topo.spec,
        "routing": routing.name,
        "router": getattr(p, "router", "fast"),
        "traffic": ALIASES.get(traffic, traffic),
        "rate": rate,
        "packet_flits": packet_flits,
        "cycles": cycles,
        "warmup": warmup,
        "seed": seed,
        "offered_rate": round(n_meas * packet_flits / (n * cycles), 6),
        "accepted_rate": round(min(stats["acc_flits"], n_meas * packet_flits) / (n * cycles), 6),
        "window_ejected_rate": round(stats["acc_flits"] / (n * cycles), 6),
        "avg_latency": round(float(ml.mean()), 4) if ml.size else None,
        "p99_latency": float(np.percentile(ml, 99, method="higher")) if ml.size else None,
        "zero_load_latency": round(float(zl.mean()), 4) if ml.size else None,
        "avg_hops": round(float(mh.mean()), 4) if mh.size else None,
        "saturation_bound": round(bound, 6),
        "measured_packets": n_meas,
        "measured_delivered": int(ml.size),
        "drained": ml.size == n_meas,
        "created_packets": stats["created"],
        "injected_packets": inj_p,
        "ejected_packets": ej_p,
        "injected_flits": inj_p * packet_flits,
        "ejected_flits": ej_p * packet_flits,
        "packets": net.counters["packets"],
        "flits": net.counters["flits"],
        "bits": net.counters["bits"],
        "flit_hops": net.counters["flit_hops"],
        "local_flits": net.counters["local_flits"],
        "crossbar_flits": net.counters["crossbar_flits"],
        "route_ops": net.counters["route_ops"],
        "sim_cycles": sim_cycles,
        "events": events,
        "wall_s": round(time.perf_counter() - wall0, 3),
        "links": rows,
    }


def _simulate(
    kernel: Kernel, net: Any, t_end: int, limit: int, progress: Callable[[int, int], None] | None
) -> int:
    """Run the events of cycles before ``t_end`` (warm-up and measurement), then drain: on while packets are
    in flight and the next event is at most at ``limit``. Returns the events processed.

    The compiled event loop (:func:`elsa_tlm.kernel.run`) runs the warm-up and measurement, counting events
    at C speed; a wake-up at ``t_end - 1`` ends it (its eid, like the progress wake-ups', only shifts every
    later event's by the same amount, so the order of events is SimPy's), the few events left before
    ``t_end`` are stepped, and the drain runs in the same loop with a check after every event."""
    sched = kernel
    counted = itertools.count()
    ticks = [0]

    def tick(ev: Wake) -> None:
        ticks[0] += 1
        if progress is not None:
            progress(int(ev.obj), t_end)

    def stop(ev: Wake) -> None:
        raise _Stop

    if progress is not None:
        for at in sorted({k * t_end // 100 for k in range(1, 100)}):
            if 0 < at < t_end - 1:
                sched.call_at(at, tick, at)
    sched.call_at(t_end - 1, stop, None)
    with contextlib.suppress(_Stop):
        kernel.run(counted.__next__, 1)
    events = next(counted) - ticks[0]
    while kernel.peek() < t_end:
        kernel.step()
        events += 1
    if progress is not None:
        progress(t_end, t_end)
    if not (net.in_flight and kernel.peek() <= limit):
        return events
    say = getattr(progress, "phase", None)  # elsa-tlm's progress lines
    if say is not None:
        say(f"drain: {net.in_flight:,} packets in flight, at most {limit - t_end:,} more cycles")
    drained = [0]

    def check() -> None:  # after every drain event: go on while packets are in flight, up to the limit
        drained[0] += 1
        if not (net.in_flight and kernel.peek() <= limit):
            raise _Stop

    with contextlib.suppress(_Stop):
        kernel.run(check, 1)
    return events + drained[0]
