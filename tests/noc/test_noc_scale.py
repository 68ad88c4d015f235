"""The synthetic driver's cost: memory linear in routers x cycles on large meshes, the same results as before.

What used to be quadratic in the routers N (a 64x64 mesh ran out of memory): the N x N traffic matrix and, per
packet, a row of its cumulative sums (packets x N doubles), the all-pairs flow list of the channel-load bound,
and route caches holding every (source, destination) pair's route. These tests count entries (cheap proxies for
memory) and pin results to the values the matrix-based driver produced.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from elsa_tlm.cli import main
from elsa_tlm.kernel import Kernel
from elsa_tlm.noc import traffic
from elsa_tlm.noc.network import ROUTE_CACHE_PORTS, Network
from elsa_tlm.noc.params import noc_config
from elsa_tlm.noc.routes import make_routing
from elsa_tlm.noc.routing import ROUTE_CACHE_NODES, link_loads
from elsa_tlm.noc.topology import build_topology
from elsa_tlm.noc.traffic import PATTERNS, Pattern, run_synthetic, saturation_bound

EDGES = "0 1\n1 2\n2 3\n3 4\n4 0\n0 5\n1 6\n2 7\n3 8\n4 9\n5 7\n7 9\n9 6\n6 8\n8 5\n"  # Petersen graph


def _old_matrix(topo, name: str) -> np.ndarray:
    """The traffic matrix as the driver built it before (the reference for rows and draws)."""
    n = topo.n_nodes
    m = np.zeros((n, n))
    uni = (np.ones((n, n)) - np.eye(n)) / (n - 1)
    if name == "uniform":
        m = uni
    elif name == "transpose":
        for s in range(n):
            r, c = divmod(s, topo.cols)
            m[s, c * topo.cols + r] = 1.0
    elif name == "bitcomp":
        m[np.arange(n), n - 1 - np.arange(n)] = 1.0
    elif name == "hotspot":
        h = traffic.hotspot_node(topo)
        m = uni * (1 - traffic.HOTSPOT_FRACTION)
        m[:, h] += traffic.HOTSPOT_FRACTION
        m[h] = uni[h]
    else:
        for s in range(n):
            nb = sorted(topo.graph.neighbors(s))
            m[s, nb] = 1.0 / len(nb)
    m[np.arange(n), np.arange(n)] = 0.0
    return m


def _old_draw(m: np.ndarray, src: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The old destination draw: count the entries of the source's cumulative row (last one infinite) <= u."""
    cum = np.cumsum(m, axis=1)
    cum[:, -1] = np.where(cum[:, -1] > 0, np.inf, 0.0)
    return (u[:, None] >= cum[src]).sum(axis=1)


def _topologies(tmp_path: Path) -> list[str]:
    (tmp_path / "petersen.txt").write_text(EDGES)
    return [
        "mesh:2x1",
        "mesh:3x5",
        "mesh:6x6",
        "mesh:7x7",
        "torus:4x4",
        "torus:3x5",
        "ring:9",
        f"file:{tmp_path / 'petersen.txt'}",
        "mesh:17x17",
    ]


def test_pattern_rows_and_draws_are_the_matrix_ones(tmp_path: Path) -> None:
    """Rows, columns and destination draws of every pattern equal the N x N matrix's, bit for bit, also for
    uniforms exactly at (and next to) a cumulative sum, where a search over rows is most fragile."""
    rng = np.random.default_rng(5)
    for spec in _topologies(tmp_path):
        topo = build_topology(spec)
        for name in PATTERNS:
            if name == "transpose" and (not topo.is_grid or topo.rows != topo.cols):
                continue
            pat, m = Pattern(topo, name), _old_matrix(topo, name)
            assert np.array_equal(pat.matrix(), m), (spec, name)
            assert np.array_equal(np.stack([pat.column(d) for d in range(topo.n_nodes)], axis=1), m)
            assert np.array_equal(pat.active, m.sum(axis=1) > 0)
            src = np.flatnonzero(pat.active)
            cum = np.cumsum(m, axis=1)[src]
            edge = np.concatenate([cum, np.nextafter(cum, 0), np.nextafter(cum, 2)], axis=1)
            s = np.repeat(src, edge.shape[1])
            u = edge.ravel()
            keep = (u >= 0) & (u < 1)
            s, u = (
                np.concatenate([s[keep], np.repeat(src, 50)]),
                np.concatenate([u[keep], rng.random(50 * src.size)]),
            )
            assert np.array_equal(pat.draw(s, u), _old_draw(m, s, u)), (spec, name)


def test_schedule_in_chunks_is_the_one_big_draw(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of cycles and a second generator advanced past the trials give the stream of one
    (cycles x N) draw followed by the destinations' uniforms."""
    topo = build_topology("mesh:5x5")
    pat = Pattern(topo, "hotspot")
    t_end, n, rate = 700, topo.n_nodes, 0.3
    rng = np.random.default_rng(11)
    t_new, src = np.nonzero(rng.random((t_end, n)) < rate)
    dst = _old_draw(_old_matrix(topo, "hotspot"), src, rng.random(src.size))
    monkeypatch.setattr(traffic, "CHUNK_DRAWS", 333)  # 13 cycles a chunk: 54 chunks
    chunks = list(traffic._schedule(pat, rate, 1, t_end, 11))
    assert len(chunks) == 54
    got = [np.concatenate([c[i] for c in chunks]) for i in range(3)]
    assert all(np.array_equal(a, b) for a, b in zip(got, (t_new, src, dst), strict=True))


@pytest.mark.parametrize("routing", ["xy", "shortest", "valiant"])
@pytest.mark.parametrize("spec", ["mesh:5x4", "mesh:6x6", "torus:4x4", "torus:5x3", "ring:9", "file"])
def test_aggregated_loads_are_the_flow_by_flow_ones(tmp_path: Path, spec: str, routing: str) -> None:
    """aggregate_loads (what large networks use) gives link_loads' loads, to rounding, for every pattern."""
    if spec == "file":
        (tmp_path / "petersen.txt").write_text(EDGES)
        spec = f"file:{tmp_path / 'petersen.txt'}"
    topo = build_topology(spec)
    if routing == "xy" and not topo.is_grid:
        return
    r = make_routing(routing, topo, 0)
    for name in PATTERNS:
        if name == "transpose" and (not topo.is_grid or topo.rows != topo.cols):
            continue
        pat = Pattern(topo, name)
        m = pat.matrix()
        flows = {(s, d): float(m[s, d]) for s, d in zip(*np.nonzero(m), strict=True)}
        agg = r.aggregate_loads(pat.row, pat.column, *pat.sums())
        assert agg is not None
        np.testing.assert_allclose(agg, link_loads(topo, r, flows), rtol=1e-12, atol=1e-12)


def test_large_network_bound_is_aggregated_and_agrees(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past EXACT_FLOW_ROUTES the bound never builds the matrix; forced either way it agrees to rounding, and
    a 32x32 mesh gets the bisection bound 4k(N-1)/N^2 in well under a second."""
    p = noc_config()
    topo = build_topology("mesh:8x8")
    exact = [
        saturation_bound(topo, make_routing(r, topo, 0), t, 1, p) for r in ("xy", "valiant") for t in PATTERNS
    ]
    monkeypatch.setattr(traffic, "EXACT_FLOW_ROUTES", 0)
    monkeypatch.setattr(Pattern, "matrix", lambda self: pytest.fail("the N x N matrix was built"))
    agg = [
        saturation_bound(topo, make_routing(r, topo, 0), t, 1, p) for r in ("xy", "valiant") for t in PATTERNS
    ]
    np.testing.assert_allclose(agg, exact, rtol=1e-12)
    big = build_topology("mesh:32x32")
    t0 = time.perf_counter()
    bound = saturation_bound(big, make_routing("xy", big, 0), "uniform", 1, p)
    assert time.perf_counter() - t0 < 10
    assert bound == pytest.approx(4 * 32 * 1023 / 1024**2, rel=1e-12)


def test_pattern_memory_is_linear_in_routers() -> None:
    """A pattern holds O(N) numbers (a few arrays of N), never N x N: at 4096 routers, < 16 N entries."""
    for spec in ("mesh:16x16", "mesh:64x64"):
        topo = build_topology(spec)
        n = topo.n_nodes
        for name in PATTERNS:
            pat = Pattern(topo, name)
            held = sum(v.size for v in vars(pat).values() if isinstance(v, np.ndarray))
            held += sum(a.size for a in getattr(pat, "_cum_deg", {}).values())
            held += sum(len(nb) for nb in getattr(pat, "_nbrs", []))
            assert held < 16 * n, (spec, name, held)


def test_route_caches_are_bounded_on_a_64x64_mesh() -> None:
    """Routes of all-pairs traffic are cached up to a fixed budget (every route of a 16x16 network), then
    built per transaction: far-apart pairs of a 64x64 mesh fill it and the caches stop growing."""
    p = noc_config(topology="mesh:64x64")
    topo = build_topology(p.topology)
    r = make_routing("xy", topo, 0)
    net = Network(Kernel.new(), topo, p, r)
    n = topo.n_nodes
    pairs = [(s, (s * 7 + k * 409) % n) for k in range(1, 13) for s in range(n)]  # 49,152 pairs, ~42 hops
    pairs += pairs[:5000]  # asked again
    for s, d in pairs:
        ports = net._route(s, d)
        assert len(ports) == topo.hops[s, d] + 2 and net._route(s, d) == ports
    longest = 2 * 63 + 3
    assert net._cached_ports <= ROUTE_CACHE_PORTS + longest
    assert r._cached_nodes <= ROUTE_CACHE_NODES + longest
    assert len(net._pair_ports) < len(set(pairs))  # some routes were built without being kept
    # the 16x16 network's every route fits the budget: small runs cache all of them, as before
    small = build_topology("mesh:16x16")
    assert int(small.hops.sum()) + 2 * 256 * 255 < ROUTE_CACHE_PORTS


def test_a_24x24_run_is_quick_and_right() -> None:
    """A moderately large mesh for a few hundred cycles: seconds, not minutes; conserved and drained."""
    t0 = time.perf_counter()
    r = run_synthetic(noc_config(topology="mesh:24x24"), "uniform", 0.1, 1, cycles=400, warmup=200, seed=1)
    assert time.perf_counter() - t0 < 60
    assert r["drained"] and r["injected_packets"] == r["ejected_packets"] == r["created_packets"] > 30_000
    assert r["saturation_bound"] == pytest.approx(4 * 24 * 575 / 576**2, abs=1e-6)
    assert abs(r["accepted_rate"] - 0.1) < 0.01 and r["avg_hops"] == pytest.approx(
        2 * (24**2 - 1) / 72, rel=0.05
    )


# results of the matrix-based driver (before the change), pinned: the new one must give the same numbers
PINNED = [
    (
        ("mesh:4x4", "xy", "fast", "uniform", 0.45, 1),
        dict(
            events=13888,
            avg_latency=33.3301,
            p99_latency=59.0,
            accepted_rate=0.451875,
            saturation_bound=0.9375,
            drained=True,
            created_packets=3629,
            flit_hops=9758,
            sim_cycles=553,
        ),
    ),
    (
        ("mesh:4x4", "valiant", "fast", "uniform", 0.45, 1),
        dict(
            events=22262,
            avg_latency=59.9935,
            p99_latency=111.0,
            accepted_rate=0.453906,
            saturation_bound=0.5,
            drained=True,
            created_packets=3629,
            flit_hops=18132,
            sim_cycles=594,
        ),
    ),
    (
        ("mesh:3x5", "multipath", "fast", "bitcomp", 0.9, 3),
        dict(
            events=13270,
            avg_latency=110.1606,
            p99_latency=231.0,
            accepted_rate=0.72,
            saturation_bound=0.7,
            drained=True,
            created_packets=2141,
            flit_hops=25800,
            sim_cycles=739,
        ),
    ),
    (
        ("mesh:8x8", "xy", "fast", "transpose", 0.45, 1),
        dict(
            events=70540,
            avg_latency=189.0003,
            p99_latency=628.0,
            accepted_rate=0.199453,
            saturation_bound=0.125,
            drained=False,
            created_packets=12554,
            flit_hops=44498,
            sim_cycles=800,
        ),
    ),
    (
        ("mesh:4x4", "xy", "vc", "hotspot", 0.4, 1),
        dict(
            events=8363,
            avg_latency=101.6612,
            p99_latency=481.0,
            accepted_rate=0.328125,
            saturation_bound=0.263158,
            drained=False,
            created_packets=3236,
            flit_hops=8247,
            sim_cycles=800,
        ),
    ),
    (
        ("ring:7", "shortest", "fast", "uniform", 1.0, 1),
        dict(
            events=10917,
            avg_latency=49.6129,
            p99_latency=97.0,
            accepted_rate=0.955,
            saturation_bound=1.0,
            drained=True,
            created_packets=3500,
            flit_hops=6916,
            sim_cycles=564,
        ),
    ),
    (
        ("torus:3x4", "xy", "fast", "neighbor", 0.05, 1),
        dict(
            events=810,
            avg_latency=19.0254,
            p99_latency=20.0,
            accepted_rate=0.048542,
            saturation_bound=1.0,
            drained=True,
            created_packets=295,
            flit_hops=295,
            sim_cycles=511,
        ),
    ),
]


@pytest.mark.parametrize(("point", "expected"), PINNED, ids=[" ".join(map(str, p[0][:4])) for p in PINNED])
def test_results_are_the_matrix_drivers(point: tuple, expected: dict) -> None:
    spec, routing, router, pattern, rate, flits = point
    p = noc_config(topology=spec, routing=routing, router=router)
    r = run_synthetic(p, pattern, rate, flits, cycles=400, warmup=100, seed=7, drain_cycles=300)
    assert {k: r[k] for k in expected} == expected
    seen: list[int] = []  # the progress wake-ups are not counted and change no result
    again = run_synthetic(
        p,
        pattern,
        rate,
        flits,
        cycles=400,
        warmup=100,
        seed=7,
        drain_cycles=300,
        progress=lambda d, t: seen.append(d),
    )
    assert again.pop("wall_s") >= 0 and r.pop("wall_s") >= 0 and again == r
    assert len(seen) == 100 and seen == sorted(seen) and seen[-1] == 500


def _main(argv: list[str]) -> int:
    return main(["noc", *argv])


def test_multipath_on_a_large_network_is_refused_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Multipath needs every flow of the matrix: above 1024 routers, exit 2, one line naming the limit,
    nothing written, before any simulation."""
    out = tmp_path / "o"
    t0 = time.perf_counter()
    assert _main(["--topology", "mesh:33x33", "--routing", "multipath", "--out", str(out)]) == 2
    assert time.perf_counter() - t0 < 20
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: noc.routing") and "at most 1024 routers" in err[0]
    assert not out.exists()


def test_progress_lines_like_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Off a terminal: a line per phase and per tenth of the cycles, as elsa-tlm run; a drain says so, and
    so does a rate above the channel-load bound (the sources' queues grow: memory and time with them)."""
    out = tmp_path / "o"
    argv = ["--topology", "mesh:4x4", "--rate", "0.9", "--cycles", "300", "--warmup", "50", "--out", str(out)]
    assert _main(argv) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0].endswith("simulate: 350 cycles (50 warm-up)") and not any("note:" in line for line in err)
    tenths = [line for line in err if "% of 350 cycles" in line]
    assert [line.split("simulate: ")[1] for line in tenths] == [
        f"{10 * k} % of 350 cycles" for k in range(1, 11)
    ]
    assert any("drain: " in line and "packets in flight" in line for line in err)
    assert err[-1].endswith(f"write: {out}")
    assert _main([*argv[:-1], str(tmp_path / "sat"), "--rate", "1.0"]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1 and "above this network's channel-load bound 0.9375" in notes[0]


def test_grid_diameters_need_no_hop_matrix(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hop matrix (N x N) is built at its first use: grids and rings know their diameter, and an XY run's
    pattern, routes and channel-load bound never read it."""
    for spec in ("mesh:1x5", "mesh:3x7", "mesh:8x5", "torus:3x3", "torus:4x7", "ring:9", "ring:10"):
        topo = build_topology(spec)
        assert topo._hops is None
        assert topo.diameter == int(topo.hops.max())
    topo = build_topology("mesh:40x40")
    monkeypatch.setattr(traffic, "EXACT_FLOW_ROUTES", 0)
    routing = make_routing("xy", topo, 0)
    assert saturation_bound(topo, routing, "hotspot", 1, noc_config()) > 0
    assert len(routing.route(0, 1599)) == 79 and topo._hops is None


def test_a_run_too_long_for_minutes_is_refused_at_once_naming_the_limit(tmp_path, capsys) -> None:
    """64x64 at the defaults (~290 M events, half an hour): exit 2 at once, one line with the estimate and the
    limit, nothing written; --long runs it anyway (not here), a shorter run of the same mesh goes ahead."""
    import time

    from elsa_tlm.cli import main

    t = time.perf_counter()
    assert main(["noc", "--topology", "mesh:64x64", "--out", str(tmp_path / "o")]) == 2
    assert time.perf_counter() - t < 10
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --cycles") and "40 M" in err[0] and "--long" in err[0]
    assert not (tmp_path / "o").exists()
    from elsa_tlm.noc.traffic import estimated_events

    assert estimated_events(4096, 126, 0.1, 1, 11_000) > 200_000_000
    assert estimated_events(36, 10, 1.0, 1, 11_000) < 40_000_000  # make noc-curve's densest point runs
