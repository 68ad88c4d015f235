"""Synthetic runs: zero-load agreement, monotone latency, saturation, conservation, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from elsa_tlm.energy import price_noc
from elsa_tlm.errors import ConfigError, DeadlockError
from elsa_tlm.noc.params import noc_config
from elsa_tlm.noc.routes import make_routing
from elsa_tlm.noc.topology import build_topology
from elsa_tlm.noc.traffic import pattern_matrix, run_synthetic, saturation_bound
from elsa_tlm.studies.noc import priced


def _run(params, traffic="uniform", rate=0.1, flits=1, cycles=2000, warmup=300, seed=1):
    return run_synthetic(params, traffic, rate, flits, cycles, warmup, seed)


@pytest.mark.parametrize(
    "spec,routing", [("mesh:4x4", "xy"), ("torus:4x4", "xy"), ("ring:8", "shortest"), ("mesh:4x4", "valiant")]
)
def test_low_load_latency_equals_zero_load_formula(spec, routing):
    r = _run(noc_config(topology=spec, routing=routing), rate=0.005, flits=3, cycles=4000)
    assert r["measured_packets"] > 50 and r["drained"]
    assert abs(r["avg_latency"] - r["zero_load_latency"]) <= 1.0


def test_latency_monotone_and_saturation():
    # 128-bit links: a 256-bit flit takes 2 cycles per link, so the bound is half of 4k(N-1)/N^2 = 0.469
    p = noc_config(topology="mesh:4x4", link_bits=128)
    t = build_topology("mesh:4x4")
    bound = saturation_bound(t, make_routing("xy", t, 0), "uniform", 1, p)
    assert bound == pytest.approx(0.5 * 16 * 15 / 256)
    rows = [_run(p, rate=x, cycles=1500) for x in (0.05, 0.2, 0.35, 0.45, 0.7)]
    lat = [r["avg_latency"] for r in rows]
    assert all(a <= b for a, b in zip(lat[:-1], lat[1:], strict=True))
    for r in rows:
        assert r["accepted_rate"] <= r["offered_rate"]
    assert rows[-1]["accepted_rate"] < 0.9 * rows[-1]["offered_rate"]  # saturated
    assert rows[-1]["accepted_rate"] <= bound * 1.02
    assert lat[-1] > 3 * lat[0]


def test_drained_run_conserves_packets_and_flits():
    r = _run(noc_config(topology="mesh:4x4"), traffic="hotspot", rate=0.2, flits=4)
    assert r["drained"]
    assert r["injected_packets"] == r["ejected_packets"] == r["created_packets"] == r["packets"]
    assert r["injected_flits"] == r["ejected_flits"] == r["flits"]
    assert sum(x["flits"] for x in r["links"]) == r["flit_hops"]
    assert "energy_j" not in r  # the run counts; its driver prices (studies/noc.py)
    e = priced(r, noc_config(topology="mesh:4x4"))["energy_j"]
    assert e["total"] > 0 and e["noc_hops"] == price_noc(r, noc_config())["noc_hops"]


def test_saturated_drain_is_bounded():
    r = run_synthetic(noc_config(topology="mesh:4x4"), "hotspot", 1.0, 1, 1000, 100, 1, drain_cycles=200)
    assert not r["drained"] and r["sim_cycles"] <= 1100 + 200 + 50


def test_same_seed_same_result():
    p = noc_config(topology="mesh:3x3", routing="multipath")
    a, b = _run(p, traffic="transpose"), _run(p, traffic="transpose")
    a.pop("wall_s"), b.pop("wall_s")
    assert a == b
    c = _run(p, traffic="transpose", seed=2)
    assert c["avg_latency"] != a["avg_latency"] or c["created_packets"] != a["created_packets"]


def test_patterns():
    t = build_topology("mesh:4x4")
    for name in ("uniform", "transpose", "bitcomp", "hotspot", "neighbor"):
        m = pattern_matrix(t, name)
        assert np.all(np.diag(m) == 0)
        assert np.allclose(m.sum(axis=1)[m.sum(axis=1) > 0], 1.0)
    assert pattern_matrix(t, "transpose")[1, 4] == 1.0 and pattern_matrix(t, "bitcomp")[0, 15] == 1.0
    assert pattern_matrix(t, "neighbor")[5, 6] == 0.25
    with pytest.raises(ConfigError):
        pattern_matrix(build_topology("mesh:2x3"), "transpose")
    with pytest.raises(ConfigError):
        pattern_matrix(t, "tornado")


def test_uniform_mesh_bound_is_bisection_formula():
    for k in (4, 6):
        t = build_topology(f"mesh:{k}x{k}")
        n = k * k
        for flits, b in ((1, 1.0), (2, 2.0), (3, 1.5)):
            got = saturation_bound(t, make_routing("xy", t, 0), "uniform", flits, noc_config())
            assert got == pytest.approx(b * 4 * k * (n - 1) / n**2)


def test_bad_run_inputs():
    with pytest.raises(ConfigError, match="rate"):
        _run(noc_config(topology="mesh:3x3"), rate=1.5)
    with pytest.raises(ConfigError, match="traffic"):
        _run(noc_config(topology="mesh:3x3"), traffic="zigzag")


def test_heavy_ring_load_deadlocks_quickly():
    p = noc_config(topology="ring:8", routing="shortest", fifo_bytes=32, fifo_count=1)
    with pytest.raises(DeadlockError) as ei:
        _run(p, rate=0.9, cycles=3000)
    assert ei.value.links
