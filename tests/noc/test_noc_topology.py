"""Topology builders: numbering, distances, links, and refusal of bad specs and graphs."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from elsa_tlm.errors import ConfigError
from elsa_tlm.noc.routes import make_routing
from elsa_tlm.noc.topology import build_topology


def test_mesh_numbering_and_distances():
    t = build_topology("mesh:3x4")
    assert (t.kind, t.rows, t.cols, t.n_nodes) == ("mesh", 3, 4, 12)
    assert t.coords[6] == (2.0, 1.0)  # node = r*cols + c, coords = (col, row)
    assert t.hops[0, 11] == 2 + 3 and t.diameter == 5
    assert len(t.links) == 2 * (3 * 3 + 2 * 4) and t.links == sorted(t.links)
    assert np.array_equal(t.hops, t.hops.T)


def test_torus_and_ring():
    t = build_topology("torus:4x4")
    assert t.hops[0, 3] == 1 and t.diameter == 4 and len(t.links) == 2 * 32
    r = build_topology("ring:8")
    assert r.diameter == 4 and r.rows is None and len(r.coords) == 8 and len(r.links) == 16


@pytest.mark.parametrize(
    "spec", ["mesh:0x6", "ring:1", "ring:2", "mesh:abc", "torus:2x5", "cube:3", "mesh", "ring:x", "file:"]
)
def test_malformed_specs_refused(spec):
    with pytest.raises(ConfigError) as ei:
        build_topology(spec)
    assert ei.value.key == "noc.topology" and repr(spec) in str(ei.value)


def _write_graphml(path, edges, pos=True):
    g = nx.Graph()
    for n in {x for e in edges for x in e}:
        if pos:
            g.add_node(n, x=float(n.strip("n")), y=0.0)
        else:
            g.add_node(n)
    g.add_edges_from(edges)
    nx.write_graphml(g, path)


def test_graphml_topology_routes(tmp_path):
    edges = [("n0", "n1"), ("n1", "n2"), ("n2", "n3"), ("n3", "n0"), ("n1", "n3"), ("n3", "n4")]
    _write_graphml(tmp_path / "star.graphml", edges)
    t = build_topology("file:star.graphml", base_dir=tmp_path)
    assert t.kind == "file" and t.n_nodes == 5 and t.coords[4] == (4.0, 0.0)
    r = make_routing("shortest", t, 0)
    for s in range(5):
        for d in range(5):
            p = r.route(s, d)
            assert p[0] == s and p[-1] == d and len(p) - 1 == t.hops[s, d]
            assert all(t.graph.has_edge(a, b) for a, b in zip(p[:-1], p[1:], strict=True))
    with pytest.raises(ConfigError) as ei:
        make_routing("xy", t, 0)
    assert ei.value.key == "noc.routing"


def test_bad_files_refused(tmp_path):
    _write_graphml(tmp_path / "split.graphml", [("n0", "n1"), ("n2", "n3")])
    with pytest.raises(ConfigError, match="disconnected"):
        build_topology(f"file:{tmp_path / 'split.graphml'}")
    (tmp_path / "loop.txt").write_text("0 1\n1 1\n")
    with pytest.raises(ConfigError, match="self-loop"):
        build_topology("file:loop.txt", tmp_path)
    (tmp_path / "dup.txt").write_text("# a line\n0 1\n1 2\n2 0\n1 0\n")
    with pytest.raises(ConfigError, match="duplicate"):
        build_topology("file:dup.txt", tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        build_topology("file:nope.txt", tmp_path)


def test_edge_list_numeric_order_and_check_fits(tmp_path):
    (tmp_path / "e.txt").write_text("10 2\n2 3\n3 10\n")
    t = build_topology("file:e.txt", tmp_path)
    assert t.n_nodes == 3 and t.coords is None and sorted(t.graph.edges) == [(0, 1), (0, 2), (1, 2)]
    t.check_fits(3)
    with pytest.raises(ConfigError, match="3 nodes but the mapping needs 4"):
        t.check_fits(4)
