"""Router/link model: closed-form zero-load latency, serialisation, back-pressure, counters, deadlock."""

from __future__ import annotations

import pytest
import simpy

from elsa_tlm.config import from_dict
from elsa_tlm.energy import EnergyModel, Ledger, price_noc, report_noc
from elsa_tlm.energy.tables import NOC_CATEGORIES
from elsa_tlm.errors import DeadlockError
from elsa_tlm.kernel import Kernel
from elsa_tlm.noc.network import Network
from elsa_tlm.noc.params import noc_config
from elsa_tlm.noc.routes import make_routing
from elsa_tlm.noc.topology import build_topology


def _net(spec="mesh:6x6", routing="xy", **kw):
    t = build_topology(spec)
    p = noc_config(topology=spec, routing=routing, **kw)
    env = simpy.Environment()
    return env, Network(Kernel(env), t, p, make_routing(routing, t, 0), seed=0)


@pytest.mark.parametrize("spec,routing", [("mesh:6x6", "xy"), ("torus:5x5", "xy"), ("ring:7", "shortest")])
@pytest.mark.parametrize("flits", [1, 2, 7, 40])
def test_zero_load_matches_closed_form(spec, routing, flits):
    env, net = _net(spec, routing)
    n = net.topo.n_nodes
    for s, d in [(0, n - 1), (1, 1), (2, n // 2), (n - 1, 0)]:
        t0 = env.now
        ev = net.send(s, d, flits)
        env.run()
        h = net.topo.hops[s, d]
        formula = 2 * 1 + (h + 1) * 8 + 0 * h + -(-flits * 256 // 512)
        assert ev.value - t0 == net.zero_load_latency(s, d, flits) == formula


def test_stage_parameters_enter_the_formula():
    env, net = _net(
        router_pipeline_cycles=4,
        route_compute_cycles=1,
        switch_alloc_cycles=2,
        switch_traversal_cycles=1,
        link_latency_cycles=3,
        local_port_cycles=2,
        link_bits=128,
    )
    ev = net.send(0, 8, 3)  # 3 hops (0 -> 2 along x, -> 8 along y)
    env.run()
    assert ev.value == 2 * 2 + 4 * 4 + 3 * 3 + 6 == net.zero_load_latency(0, 8, 3)


def test_link_serialisation_and_counters():
    env, net = _net(link_bits=256)
    a = net.send(0, 1, 4)
    b = net.send(0, 1, 4)  # same injection port and link: waits 4 cycles behind a
    env.run()
    assert b.value - a.value == 4
    c = net.counters
    assert (
        c["packets"],
        c["flits"],
        c["flit_hops"],
        c["local_flits"],
        c["crossbar_flits"],
        c["route_ops"],
    ) == (2, 8, 8, 16, 16, 4)
    rows = net.link_rows()
    assert rows == sorted(rows, key=lambda r: (r["src"], r["dst"]))
    r01 = next(r for r in rows if (r["src"], r["dst"]) == (0, 1))
    assert (r01["packets"], r01["flits"], r01["busy_cycles"], r01["bits"]) == (2, 8, 8, 2048)
    assert net.in_flight == 0


def test_round_robin_and_backpressure():
    # two inputs compete for link 1->2 with one-packet buffers: service alternates, nothing is lost
    env, net = _net("mesh:1x4", fifo_bytes=32, fifo_count=1)
    evs = [net.send(0, 2, 1) for _ in range(4)] + [net.send(1, 2, 1) for _ in range(4)]
    env.run()
    assert net.in_flight == 0 and net.counters["packets"] == 8
    order = [src for _, src in sorted([(e.value, 0) for e in evs[:4]] + [(e.value, 1) for e in evs[4:]])]
    assert order == [1, 0, 1, 0, 1, 0, 1, 0]  # round-robin: the two inputs alternate
    gaps = {b.value - a.value for a, b in zip(evs[4:-1], evs[5:], strict=True)}
    assert gaps == {18}  # one-flit buffers: back-pressure throttles each source to one packet per round
    assert net.link_ports[(1, 2)].packets == 8


def test_multi_packet_transaction_and_loopback():
    env, net = _net()
    ev = net.send(3, 3, 5, packets=2, bits=900)
    env.run()
    assert ev.value == 2 + 8 + 3 and net.counters["bits"] == 900 and net.counters["route_ops"] == 2
    net.send(0, 1, 1, packets=2)  # two short AER packets may share one flit
    with pytest.raises(ValueError):
        net.send(0, 1, 0, packets=1)


def test_env_run_terminates_with_concurrent_traffic():
    env, net = _net("mesh:4x4")

    def core(env, i):
        for k in range(5):
            yield net.send(i, (i * 5 + k) % 16, 1 + k)

    for i in range(16):
        env.process(core(env, i))
    env.run()
    assert net.in_flight == 0 and net.delivered == 80
    assert env.now < 1000


def test_ring_deadlock_is_detected():
    env, net = _net("ring:6", "shortest", fifo_bytes=32, fifo_count=1)
    for _ in range(3):
        for i in range(6):
            net.send(i, (i + 2) % 6, 1)
    with pytest.raises(DeadlockError) as ei:
        env.run()
    assert set(ei.value.links) == {(i, (i + 1) % 6) for i in range(6)}
    assert "0->1" in str(ei.value)


def test_energy_scaling():
    """A NoC-only run's counters priced through the ledger and the table's NoC rows (one pricing path)."""
    c = {"flit_hops": 10, "local_flits": 4, "crossbar_flits": 6, "route_ops": 3, "loopback_flits": 2}
    e = price_noc(c, noc_config(flit_bits=256))
    assert e["noc_hops"] == pytest.approx(10 * 12.99e-12)  # router + link per flit-hop; no crossbar on top
    assert e["noc_local_delivery"] == pytest.approx(2 * 5.03e-12)  # only flits that stay on their core
    assert e["routing_engine"] == pytest.approx(3 * 0.0077785e-12)
    assert e["total"] == sum(e[k] for k in ("noc_hops", "noc_local_delivery", "routing_engine"))
    assert price_noc(c, noc_config(), route_lookups_per_router=0)["routing_engine"] == 0.0
    e128 = price_noc(c, noc_config(flit_bits=128))
    assert e128["noc_hops"] == pytest.approx(e["noc_hops"] / 2)
    # the same entries a chip run reports, priced by the same table
    cfg = from_dict({"version": 1})
    chip = Ledger()
    report_noc(chip, c)
    assert chip.by_category(EnergyModel(cfg).table, NOC_CATEGORIES) == {k: e[k] for k in NOC_CATEGORIES}
