"""The input-queued virtual-channel router (noc.router = "vc"): closed forms, queueing, HoL, credits, chip."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import simpy

from elsa_tlm.energy import price_noc
from elsa_tlm.errors import ConfigError
from elsa_tlm.hw.channel import Channel, FifoBank
from elsa_tlm.kernel import Kernel
from elsa_tlm.noc.params import noc_config
from elsa_tlm.noc.routes import make_routing
from elsa_tlm.noc.topology import build_topology
from elsa_tlm.noc.traffic import run_synthetic
from elsa_tlm.noc.vc_network import VcNetwork, credit_round_trip, make_network
from elsa_tlm.studies.noc import saturated as _saturated

# a standard input-queued VC router: 4-cycle router (RC 1, VA+SA 2, ST 1), 1-cycle links, flit-wide links
STANDARD = dict(
    router="vc",
    router_pipeline_cycles=4,
    route_compute_cycles=1,
    switch_alloc_cycles=2,
    switch_traversal_cycles=1,
    link_latency_cycles=1,
    link_bits=256,
)


def _net(**kw):
    p = noc_config(**kw)
    topo = build_topology(p.topology)
    env = simpy.Environment()
    return env, VcNetwork(Kernel(env), topo, p, make_routing(p.routing, topo, 0)), p, topo


def _closed_form(p, hops: int, flits: int) -> int:
    """2P + (h+1)R + hL + ser, written out from the stage keys (noc/latency.py's accounting)."""
    r = p.route_compute_cycles + p.switch_alloc_cycles + p.switch_traversal_cycles
    ser = max(1, -(-flits * p.flit_bits // p.link_bits))
    return 2 * p.local_port_cycles + (hops + 1) * r + hops * p.link_latency_cycles + ser


@pytest.mark.parametrize("stages", [{"router": "vc"}, STANDARD], ids=["elsa", "standard"])
@pytest.mark.parametrize(
    ("src", "dst", "flits"), [(0, 1, 1), (0, 35, 1), (0, 35, 3), (5, 30, 17), (14, 20, 40), (7, 7, 2)]
)
def test_zero_load_latency_is_the_closed_form(stages, src, dst, flits) -> None:
    env, net, p, topo = _net(**stages)
    ev = net.send(src, dst, flits)
    env.run()
    hops = int(topo.hops[src, dst])
    assert ev.value == _closed_form(p, hops, flits) == net.zero_load_latency(src, dst, flits)
    assert net.in_flight == 0 and net.delivered == 1


def _sweep(router: str, rates: list[float], **kw) -> list[dict]:
    p = noc_config(router=router, **kw)
    return [run_synthetic(p, "uniform", r, 1, cycles=1500, warmup=300, seed=3) for r in rates]


def test_uniform_6x6_latency_rises_and_vc_saturates_before_fast() -> None:
    rates = [0.1, 0.25, 0.4, 0.55]
    vc = _sweep("vc", rates)
    fast = _sweep("fast", rates)
    lat = [r["avg_latency"] for r in vc]
    assert lat == sorted(lat) and lat[-1] > 3 * lat[0]
    for r in vc + fast:  # never more than the channel-load bound (0.648 for 6x6 uniform XY, 1-flit)
        assert r["accepted_rate"] <= r["saturation_bound"] + 1e-9
    # a VC serves a packet every ser - 1 + RC + SA cycles at best (the next head is routed while the tail
    # crosses the switch): V of them carry V / (RC + SA) single-flit packets per cycle through the busiest
    # input port (ELSA's stages: 4 / 6 of the channel-load bound)
    p = noc_config(router="vc")
    turnaround = min(1.0, p.virtual_channels / (p.route_compute_cycles + p.switch_alloc_cycles))
    for r in vc:
        assert r["accepted_rate"] <= 1.03 * turnaround * r["saturation_bound"]
    first_vc = next(r["rate"] for r in vc if _saturated(r))
    first_fast = next((r["rate"] for r in fast if _saturated(r)), 1.0)
    assert first_vc < first_fast
    # below saturation the vc router queues more than the fast one (head-of-line, allocation, credits)
    assert (
        vc[1]["avg_latency"] - vc[1]["zero_load_latency"]
        > fast[1]["avg_latency"] - fast[1]["zero_load_latency"]
    )


def test_vc_counts_energy_actions_like_fast() -> None:
    keys = ("flit_hops", "local_flits", "crossbar_flits", "route_ops", "packets", "flits")
    a, b = (_sweep(r, [0.05])[0] for r in ("fast", "vc"))
    assert a["drained"] and b["drained"]
    assert {k: a[k] for k in keys} == {k: b[k] for k in keys}
    assert price_noc(a, noc_config(router="fast")) == price_noc(b, noc_config(router="vc"))


def test_head_of_line_blocking_delays_the_same_vc_only() -> None:
    """Line 0-1-2-3. Core 2's input FIFOs are full until cycle 400, so packet A (0->2) waits at router 2 on
    VC 0 of the link 1->2. B and C (1->3) also cross router 2, to the free link 2->3. With one VC, B queues
    behind A; with two, B takes the other VC and passes at zero-load latency, while C (VCs are handed out
    round-robin) gets VC 0 again and waits behind A."""
    done = {}
    for vcs in (1, 2):
        env, net, p, _ = _net(router="vc", topology="mesh:1x4", virtual_channels=vcs, vc_buffer_flits=4)
        bank = FifoBank(Kernel(env), 1, 1, [], "ni2.in")
        inbox = bank.queues[0]
        got: list[int] = []
        inbox.sink = lambda _train, got=got, env=env: got.append(env.now)
        net.attach_inbox(2, bank)
        inbox.reserve(1)
        inbox.release(1, at=400)
        net.transfer("A", 0, 2, 1, 1, Channel(Kernel(env), 1, "ni0.out"), 0)
        out: dict[str, int] = {}

        def later(env, net=net, out=out):
            yield env.timeout(50)
            b = net.send(1, 3, 1)
            yield env.timeout(10)
            c = net.send(1, 3, 1)
            out["B"] = (yield b) - 50
            out["C"] = (yield c) - 60

        env.process(later(env))
        env.run()
        assert got and got[0] > 400  # A left only once core 2 had room
        done[vcs] = out
        zl = net.zero_load_latency(1, 3, 1)
    assert done[1]["B"] > 300  # one VC: B behind the blocked A
    assert done[2]["B"] == zl  # another VC: B unaffected
    assert done[2]["C"] > 300  # the same VC as A: blocked behind it


@pytest.mark.parametrize(("rc", "sa"), [(1, 2), (0, 2), (3, 3)])
def test_back_to_back_packets_in_one_vc_are_rc_plus_sa_apart(rc: int, sa: int) -> None:
    """Single-flit packets queued in one VC leave RC + SA cycles apart: the next head is routed while the
    previous tail crosses the switch (BookSim 2's iq router: 3 cycles with RC, VA, SA of one cycle each)."""
    kw = dict(STANDARD, route_compute_cycles=rc, switch_alloc_cycles=sa, router_pipeline_cycles=rc + sa + 1)
    env, net, p, _ = _net(**kw, topology="mesh:1x2", virtual_channels=1, vc_buffer_flits=8)
    evs = [net.send(0, 1, 1) for _ in range(4)]
    env.run()
    done = [ev.value for ev in evs]
    assert done[0] == net.zero_load_latency(0, 1, 1)
    assert [b - a for a, b in zip(done, done[1:], strict=False)] == [max(1, rc + sa)] * 3


@pytest.mark.parametrize("depth", [1, 2, 4, 6, 8, 12])
def test_credit_round_trip_limits_one_stream(depth: int) -> None:
    """One VC of B flits and a credit loop of T cycles carry min(1, B/T) flits per cycle. Stages RC = SA = 0
    so a VC serves a packet per cycle; links of 2 cycles make the link loop (T = ST + 2L + 2 = 8) the longest
    (the injection loop is 2P + 2 = 4)."""
    env, net, p, _ = _net(
        router="vc",
        topology="mesh:1x3",
        router_pipeline_cycles=2,
        route_compute_cycles=0,
        switch_alloc_cycles=0,
        switch_traversal_cycles=2,
        link_latency_cycles=2,
        link_bits=256,
        virtual_channels=1,
        vc_buffer_flits=depth,
    )
    t_link, t_local = credit_round_trip(p), credit_round_trip(p, local=True)
    assert (t_link, t_local) == (8, 4)
    evs = [net.send(0, 2, 1) for _ in range(300)]
    env.run()
    done = [e.value for e in evs]
    measured = 120 / (done[220] - done[100])  # 120: whole credit loops for every depth here
    assert measured == pytest.approx(min(1.0, depth / t_link, depth / t_local), rel=1e-9)
    if depth < t_link:
        assert measured < 1.0


def _chip_files(tmp: Path, name: str) -> dict[str, bytes]:
    from elsa_tlm import api

    r = api.run("default", ['noc.router="vc"', "run.time_steps=1", "output.plots=false"])
    folder = r.save(tmp / name)
    s = json.loads((folder / "summary.json").read_text())
    s.pop("sim")
    return {"summary": json.dumps(s, sort_keys=True).encode(), "links": (folder / "links.csv").read_bytes()}


def test_chip_run_with_the_vc_router_is_deterministic_and_conserves_flits(tmp_path: Path) -> None:
    from elsa_tlm import sim
    from elsa_tlm.config import load_config
    from elsa_tlm.noc.vc_network import VcNetwork as Vc

    cfg = load_config("default", ['noc.router="vc"', "run.time_steps=1", "output.plots=false"])
    plan = sim.prepare(cfg)
    chip, _ = sim.simulate(plan)
    net = chip.transport.net
    assert isinstance(net, Vc)
    c = net.counters
    assert net.in_flight == 0 and net.delivered > 0
    nis = chip.nis.values()
    assert sum(ni.flits_out for ni in nis) == sum(ni.flits_in for ni in nis) == c["flits"]
    assert c["local_flits"] == 2 * c["flits"]
    for ni in nis:  # the ejection took the input FIFOs' credits, never more than they hold
        assert ni.inbox.peak <= ni.inbox.cap
    assert _chip_files(tmp_path, "a") == _chip_files(tmp_path, "b")


@pytest.mark.parametrize(
    ("key", "value", "rule"),
    [
        ("noc.router", '"wormhole"', "must be one of fast, vc"),
        ("noc.virtual_channels", "0", "must be -1 (derived) or between 1 and 64"),
        ("noc.virtual_channels", "65", "must be -1 (derived) or between 1 and 64"),
        ("noc.vc_buffer_flits", "0", "must be -1 (derived) or between 1 and 65536"),
        ("noc.vc_buffer_flits", "2.5", "must be of type int"),
    ],
)
def test_bad_keys_are_one_line_errors(key: str, value: str, rule: str) -> None:
    from elsa_tlm.config import load_config

    with pytest.raises(ConfigError) as exc:
        load_config(None, [f"{key}={value}"])
    assert exc.value.key == key and rule in str(exc.value) and "\n" not in str(exc.value)
    cli = subprocess.run(
        [sys.executable, "-m", "elsa_tlm.cli", "validate", "default", "--set", f"{key}={value}"],
        capture_output=True,
        text=True,
    )
    assert cli.returncode == 2 and cli.stderr.count("\n") == 1 and key in cli.stderr


def test_defaults_derive_the_vc_buffers_from_elsas_fifos() -> None:
    p = noc_config(router="vc")
    assert (p.router, p.virtual_channels, p.vc_buffer_flits) == ("vc", 4, 16)  # 4 x 512 B of 256-bit flits
    assert noc_config(router="vc", flit_bits=64).vc_buffer_flits == 64
    assert noc_config(router="vc", fifo_count=2).virtual_channels == 2
    # the fast router has no VCs: nothing resolved, so a diff of two fast runs lists only what was changed
    assert (noc_config().virtual_channels, noc_config(flit_bits=64).vc_buffer_flits) == (-1, -1)
    env = simpy.Environment()
    topo = build_topology("mesh:2x2")
    assert isinstance(
        make_network(Kernel(env), topo, noc_config(router="vc"), make_routing("xy", topo, 0)), VcNetwork
    )


def test_noc_cli_takes_the_router(tmp_path: Path) -> None:
    from elsa_tlm.cli import main as cli_main

    def main(argv: list[str]) -> int:
        return cli_main(["noc", *argv])

    assert (
        main(
            [
                "--router",
                "vc",
                "--rate",
                "0.2",
                "--cycles",
                "300",
                "--warmup",
                "50",
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 0
    )
    r = json.loads((tmp_path / "o" / "noc.json").read_text())
    assert r["router"] == "vc" and r["params"]["router"] == "vc" and r["params"]["virtual_channels"] == 4
    assert main(["--router", "vc", "--set", "noc.virtual_channels=0", "--out", str(tmp_path / "p")]) == 2


def test_the_watchdog_names_a_cyclic_wait_on_a_ring() -> None:
    from elsa_tlm.errors import DeadlockError

    p = noc_config(router="vc", topology="ring:8", routing="shortest", virtual_channels=1, vc_buffer_flits=1)
    with pytest.raises(DeadlockError) as exc:
        run_synthetic(p, "uniform", 0.6, 1, cycles=2000, warmup=0, seed=1)
    assert len(exc.value.links) == 8  # the whole ring waits on itself (one VC: no room for dateline classes)


@pytest.mark.parametrize(
    ("topology", "routing"), [("ring:8", "shortest"), ("torus:4x4", "xy")], ids=["ring", "torus"]
)
def test_dateline_classes_keep_rings_and_tori_free_of_deadlock(topology: str, routing: str) -> None:
    """With two VCs a packet keeps to the lower one until it crosses the wrap-around link of a dimension: far
    past saturation packets keep moving (no DeadlockError; with one VC the ring deadlocks, previous test)."""
    p = noc_config(router="vc", topology=topology, routing=routing, virtual_channels=2, vc_buffer_flits=1)
    r = run_synthetic(p, "uniform", 0.6, 1, cycles=1500, warmup=0, seed=1)
    assert r["ejected_packets"] > 500 and r["accepted_rate"] > 0.02


def test_dateline_class_of_each_hop() -> None:
    env = simpy.Environment()
    topo = build_topology("torus:5x5")
    p = noc_config(router="vc", topology="torus:5x5")
    net = VcNetwork(Kernel(env), topo, p, make_routing("xy", topo, 0))
    assert net.classes == [(0, 2), (2, 4)]
    # node 1 (row 0, column 1) to node 24 (row 4, column 4): x the short way 1 -> 0 -> 4 (0->4 wraps), then y
    # the short way 4 -> 24 (wraps): the new dimension starts again in class 0 and crosses at once
    ports = net._route(1, 24)
    hops = [(o.src, o.dst) for o in ports[1:-1]]
    assert hops == [(1, 0), (0, 4), (4, 24)]
    assert net._classes_of(ports) == (0, 0, 1, 1, 0)
    assert net._classes_of(net._route(5, 6)) == (0, 0, 0)  # no wrap: class 0
    mtopo = build_topology("mesh:4x4")
    mesh = VcNetwork(Kernel(env), mtopo, noc_config(router="vc"), make_routing("xy", mtopo, 0))
    assert mesh.classes is None


def test_the_watchdog_names_the_cycle_among_vcs_not_a_ring_the_classes_break() -> None:
    """`shortest` on a torus mixes turn orders, which dateline classes do not cover: it deadlocks, and the
    reported cycle is the one among VCs, across both dimensions (the x ring alone is broken by the classes)."""
    from elsa_tlm.errors import DeadlockError

    p = noc_config(
        router="vc", topology="torus:6x6", routing="shortest", virtual_channels=2, vc_buffer_flits=1
    )
    with pytest.raises(DeadlockError) as exc:
        run_synthetic(p, "uniform", 0.6, 1, cycles=1500, warmup=0, seed=1)
    rows = {u // 6 == v // 6 for u, v in exc.value.links}  # True: a link along x (same row)
    assert rows == {True, False}


def test_a_derived_vc_buffer_beyond_the_bound_names_the_key_it_came_from() -> None:
    from elsa_tlm.config import load_config

    with pytest.raises(ConfigError) as exc:
        load_config(None, ['noc.router="vc"', "noc.fifo_bytes=1048576", "noc.flit_bits=64"])
    assert exc.value.key == "noc.fifo_bytes" and "noc.vc_buffer_flits" in str(exc.value)
    # an explicit buffer depth is fine with the same FIFOs, and the fast router never derives one
    assert load_config(None, ['noc.router="vc"', "noc.fifo_bytes=1048576", "noc.vc_buffer_flits=64"])
    assert load_config(None, ["noc.fifo_bytes=1048576", "noc.flit_bits=64"]).noc.vc_buffer_flits == -1
