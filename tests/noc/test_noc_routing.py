"""Routing algorithms: route shapes, probabilities, link loads, and the multipath optimiser."""

from __future__ import annotations

import numpy as np
import pytest

from elsa_tlm.errors import ConfigError
from elsa_tlm.kernel import Kernel
from elsa_tlm.noc.routes import make_routing
from elsa_tlm.noc.routing import link_loads, peak_link_load
from elsa_tlm.noc.topology import build_topology


def _valid(t, p, s, d):
    return (
        p[0] == s and p[-1] == d and all(t.graph.has_edge(a, b) for a, b in zip(p[:-1], p[1:], strict=True))
    )


def test_xy_mesh_goes_x_first():
    t = build_topology("mesh:4x4")
    r = make_routing("xy", t, 0)
    assert r.route(0, 15) == (0, 1, 2, 3, 7, 11, 15)
    assert r.route(15, 0) == (15, 14, 13, 12, 8, 4, 0)
    assert r.route(5, 5) == (5,)


def test_xy_torus_takes_short_wrap():
    t = build_topology("torus:5x5")
    r = make_routing("xy", t, 0)
    assert r.route(0, 4) == (0, 4) and r.route(0, 20) == (0, 20)
    for s in range(25):
        for d in range(25):
            p = r.route(s, d)
            assert _valid(t, p, s, d) and len(p) - 1 == t.hops[s, d]


def test_xy_refused_off_grid():
    with pytest.raises(ConfigError) as ei:
        make_routing("xy", build_topology("ring:6"), 0)
    assert ei.value.key == "noc.routing" and "ring" in str(ei.value)
    with pytest.raises(ConfigError):
        make_routing("adaptive", build_topology("ring:6"), 0)


def test_shortest_and_valiant():
    t = build_topology("ring:9")
    r = make_routing("shortest", t, 0)
    assert all(len(r.route(s, d)) - 1 == t.hops[s, d] for s in range(9) for d in range(9))
    v = make_routing("valiant", build_topology("mesh:3x3"), 7)
    paths = v.paths(0, 8)
    assert abs(sum(q for _, q in paths) - 1) < 1e-12 and all(_valid(v.topo, p, 0, 8) for p, _ in paths)
    rng = np.random.default_rng(0)
    assert all(_valid(v.topo, v.choose(0, 8, rng), 0, 8) for _ in range(20))


def test_link_loads_conserve_flit_hops():
    t = build_topology("mesh:4x4")
    r = make_routing("xy", t, 0)
    flows = {(s, d): float(s + d) for s in range(16) for d in range(16) if s != d}
    loads = link_loads(t, r, flows)
    assert loads.sum() == pytest.approx(sum(f * t.hops[s, d] for (s, d), f in flows.items()))


def _hotspot_flows(n=36, hot=14):
    flows = {(s, hot): 10.0 for s in range(n) if s != hot}
    flows.update({(s, (s * 7 + 3) % n): 2.0 for s in range(n) if (s * 7 + 3) % n != s})
    return flows


def test_multipath_lowers_peak_and_is_deterministic():
    t = build_topology("mesh:6x6")
    flows = _hotspot_flows()
    xy = peak_link_load(t, make_routing("xy", t, 0), flows)
    a, b = make_routing("multipath", t, 3), make_routing("multipath", t, 3)
    a.prepare(flows)
    b.prepare(flows)
    pa = peak_link_load(t, a, flows)
    assert pa <= xy and pa < xy  # the hot spot has spare capacity around it
    assert pa == peak_link_load(t, b, flows)
    assert [a.paths(s, d) for s, d in sorted(flows)] == [b.paths(s, d) for s, d in sorted(flows)]
    for s, d in flows:
        ps = a.paths(s, d)
        assert abs(sum(q for _, q in ps) - 1) < 1e-9 and all(_valid(t, p, s, d) for p, _ in ps)
    rng = np.random.default_rng(1)
    assert _valid(t, a.choose(0, 14, rng), 0, 14)


def test_multipath_never_raises_peak_on_balanced_traffic():
    t = build_topology("mesh:3x3")
    flows = {(0, 1): 1.0}
    m = make_routing("multipath", t, 0)
    m.prepare(flows)
    assert peak_link_load(t, m, flows) <= peak_link_load(t, make_routing("xy", t, 0), flows)


def _timed_hotspot(routing_name: str) -> tuple[int, int]:
    """Every flow of the hot-spot pattern sends its traffic as 64-flit trains on narrow links, contending
    for the links into the hot node: (cycle the last train arrives, flits on the busiest link)."""
    import simpy

    from elsa_tlm.noc.network import Network
    from elsa_tlm.noc.params import noc_config

    t = build_topology("mesh:6x6")
    flows = _hotspot_flows()
    routing = make_routing(routing_name, t, 3)
    routing.prepare(flows)
    env = simpy.Environment()
    net = Network(Kernel(env), t, noc_config(routing=routing_name, link_bits=64), routing, seed=3)
    done: list[int] = []

    def source(s: int, d: int, trains: int):
        for _ in range(trains):
            ev = net.send(s, d, 64)
            yield ev
            done.append(int(ev.value))

    for (s, d), w in sorted(flows.items()):
        env.process(source(s, d, int(w)))
    env.run()
    return max(done), max(r["flits"] for r in net.link_rows())


def test_multipath_relieves_contended_links_in_the_timed_network():
    xy_end, xy_peak = _timed_hotspot("xy")
    mp_end, mp_peak = _timed_hotspot("multipath")
    # the optimiser moves traffic off the hottest link, and the contended trains finish sooner for it
    assert mp_peak < 0.9 * xy_peak
    assert mp_end < xy_end
