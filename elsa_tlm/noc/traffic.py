"""Synthetic traffic for NoC-only studies and the standalone NoC run (warm-up, measurement, drain).

Patterns give every source a destination distribution (a row of the traffic matrix): ``uniform`` (any other
node), ``transpose`` ((r,c) -> (c,r), square grids), ``bitcomp`` (node i -> N-1-i, i.e. (r,c) ->
(R-1-r, C-1-c) on grids), ``hotspot`` (20 % of packets to the centre router, the rest uniform) and
``neighbor`` (a uniformly chosen graph neighbour). A source whose pattern destination is itself stays silent.
Injection is Bernoulli per node and cycle with probability rate/packet_flits; source queues are unbounded.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import simpy

from elsa_tlm.energy.tables import noc_energy_j
from elsa_tlm.errors import ConfigError
from elsa_tlm.noc.routes import make_routing
from elsa_tlm.noc.routing import Routing, link_loads
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


def hotspot_node(topo: Topology) -> int:
    """Centre router of a grid, else node N//2."""
    if topo.is_grid:
        return (topo.rows // 2) * topo.cols + topo.cols // 2
    return topo.n_nodes // 2


def pattern_matrix(topo: Topology, traffic: str) -> np.ndarray:
    """N x N destination probabilities per source (rows sum to 1, or 0 for a silent source)."""
    traffic = ALIASES.get(traffic, traffic)
    n = topo.n_nodes
    m = np.zeros((n, n))
    if traffic not in PATTERNS:
        raise ConfigError("traffic", traffic, f"must be one of {', '.join(PATTERNS)}")
    if n < 2:
        raise ConfigError("noc.topology", topo.spec, "synthetic traffic needs at least 2 nodes")
    uni = (np.ones((n, n)) - np.eye(n)) / (n - 1)
    if traffic == "uniform":
        m = uni
    elif traffic == "transpose":
        if not topo.is_grid or topo.rows != topo.cols:
            raise ConfigError("traffic", traffic, "transpose needs a square mesh or torus")
        for s in range(n):
            r, c = divmod(s, topo.cols)
            m[s, c * topo.cols + r] = 1.0
    elif traffic == "bitcomp":
        m[np.arange(n), n - 1 - np.arange(n)] = 1.0
    elif traffic == "hotspot":
        h = hotspot_node(topo)
        m = uni * (1 - HOTSPOT_FRACTION)
        m[:, h] += HOTSPOT_FRACTION
        m[h] = uni[h]
    else:
        for s in range(n):
            nb = sorted(topo.graph.neighbors(s))
            m[s, nb] = 1.0 / len(nb)
    m[np.arange(n), np.arange(n)] = 0.0  # self-destined sources are silent
    return m


def saturation_bound(topo: Topology, routing: Routing, traffic: str, packet_flits: int, params: Any) -> float:
    """Channel-load bound (flits/node/cycle, averaged over all N nodes like ``offered_rate``): the offered
    load at which the most loaded link or port saturates, b / max port load per unit rate.

    b = F / ceil(F * flit_bits / link_bits) flits/cycle is what one link or local port carries for F-flit
    packets; the load per unit injection rate is computed exactly from the traffic matrix and the routing's
    path probabilities, over all links and the injection/ejection ports. For uniform traffic on a k x k mesh
    with XY routing this is the bisection bound 4 k (N-1) b / N^2 (k even).
    """
    m = pattern_matrix(topo, traffic)
    flows = {(s, d): float(m[s, d]) for s, d in zip(*np.nonzero(m), strict=True)}
    loads = link_loads(topo, routing, flows)
    peak = max(
        float(loads.max()) if loads.size else 0.0, float(m.sum(axis=0).max()), float(m.sum(axis=1).max())
    )
    b = packet_flits / max(1, math.ceil(packet_flits * params.flit_bits / params.link_bits))
    active = float(
        (m.sum(axis=1) > 0).mean()
    )  # silent sources: express the bound per node, like offered_rate
    return b * active / peak if peak > 0 else float("inf")


def _draw_destinations(rng: np.random.Generator, m: np.ndarray, src: np.ndarray) -> np.ndarray:
    cum = np.cumsum(m, axis=1)
    cum[:, -1] = np.where(cum[:, -1] > 0, np.inf, 0.0)
    u = rng.random(src.size) * np.where(m.sum(axis=1)[src] > 0, 1.0, 0.0)
    return (u[:, None] >= cum[src]).sum(axis=1)


def check_synthetic(
    params: Any,
    traffic: str,
    rate: float,
    packet_flits: int,
    cycles: int,
    warmup: int,
    seed: int,
    base_dir: Any,
) -> None:
    """Refuse (ConfigError) the arguments of a synthetic run, topology and routing included."""
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
    topo = build_topology(params.topology, base_dir)
    make_routing(params.routing, topo, seed)
    pattern_matrix(topo, traffic)


def run_synthetic(
    params: Any,
    traffic: str,
    rate: float,
    packet_flits: int,
    cycles: int,
    warmup: int,
    seed: int,
    base_dir: Any = None,
    tech: dict | None = None,
    drain_cycles: int | None = None,
) -> dict:
    """One NoC-only run: warm-up, ``cycles`` measured cycles, then a bounded drain.

        Latency is from packet creation (enters the source queue) to tail delivery, over packets created in the
        measurement window. Accepted rate = flits delivered inside the window (the network's throughput), capped
    at the offered rate: in steady state a network cannot accept more than it is offered, and the raw count
    (``window_ejected_rate``, also reported) exceeds it only by warm-up backlog noise. The drain stops injection and
        runs until the network is empty or ``drain_cycles`` (default max(cycles, 2000)) have passed.
    """
    check_synthetic(params, traffic, rate, packet_flits, cycles, warmup, seed, base_dir)
    wall0 = time.perf_counter()
    topo = build_topology(params.topology, base_dir)
    routing = make_routing(params.routing, topo, seed)
    m = pattern_matrix(topo, traffic)
    n = topo.n_nodes
    routing.prepare(
        {(int(s), int(d)): float(m[s, d]) * rate * cycles for s, d in zip(*np.nonzero(m), strict=True)}
    )
    env = simpy.Environment()
    net = make_network(env, topo, params, routing, seed=seed + 1, tech=tech)  # noc.router: fast or vc
    rng = np.random.default_rng(seed)
    t_end = warmup + cycles
    p_pkt = rate / packet_flits
    active = m.sum(axis=1) > 0
    # packet creation schedule, in time order then node order
    draws = (rng.random((t_end, n)) < p_pkt) & active[None, :]
    t_new, src = np.nonzero(draws)
    dst = _draw_destinations(rng, m, src)
    measured = (t_new >= warmup) & (t_new < t_end)
    lat = np.full(t_new.size, -1, dtype=np.int64)
    hops = np.zeros(t_new.size, dtype=np.int64)
    stats = {"acc_flits": 0}

    def on_eject(tag: int, t0: int, done: int, h: int, flits: int, packets: int) -> None:
        lat[tag] = done - t0
        hops[tag] = h
        if warmup <= done < t_end:
            stats["acc_flits"] += flits

    net.on_eject = on_eject
    bounds = np.flatnonzero(np.diff(t_new)) + 1
    starts = np.concatenate([[0], bounds]).astype(np.int64) if t_new.size else np.zeros(0, np.int64)
    stops = np.concatenate([bounds, [t_new.size]]).astype(np.int64) if t_new.size else np.zeros(0, np.int64)
    send = net.inject
    src_l, dst_l, t_l = src.tolist(), dst.tolist(), t_new.tolist()

    def injector(env: simpy.Environment):  # one event per cycle that creates packets
        for a, b in zip(starts.tolist(), stops.tolist(), strict=True):
            t = t_l[a]
            if t > env.now:
                yield env.timeout(t - env.now)
            for k in range(a, b):
                send(src_l[k], dst_l[k], packet_flits, 1, k)

    env.process(injector(env))
    events = 0
    step, peek = env.step, env.peek
    while peek() < t_end:
        step()
        events += 1
    drain = max(cycles, 2000) if drain_cycles is None else drain_cycles
    limit = t_end + drain
    while net.in_flight and peek() <= limit:
        step()
        events += 1
    sim_cycles = max(int(env.now), t_end)

    mlat = lat[measured]
    done_mask = mlat >= 0
    ml = mlat[done_mask]
    mh = hops[measured][done_mask]
    ser = net.ser(packet_flits)
    p = params
    zl = net.timing.zero_load(mh, ser)
    inj_p = sum(port.packets for port in net.inject_ports)
    ej_p = sum(port.packets for port in net.eject_ports)
    energy = noc_energy_j(net.counters, p.flit_bits, tech)
    rows = net.link_rows()
    for r in rows:
        r["utilisation"] = round(r["busy_cycles"] / sim_cycles, 6)
    n_meas = int(measured.sum())
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
        "saturation_bound": round(saturation_bound(topo, routing, traffic, packet_flits, p), 6),
        "measured_packets": n_meas,
        "measured_delivered": int(done_mask.sum()),
        "drained": bool(done_mask.all()),
        "created_packets": int(t_new.size),
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
        "energy_j": {k: v for k, v in energy.items()} | {"total": sum(energy.values())},
        "sim_cycles": sim_cycles,
        "events": events,
        "wall_s": round(time.perf_counter() - wall0, 3),
        "links": rows,
    }
