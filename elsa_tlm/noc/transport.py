"""How the chip model moves packet trains: the NoC actors (``at``) or closed-form latency (``lt``).

``at`` (approximately timed) hands every train to :class:`elsa_tlm.noc.network.Network`: routers with
finite input buffers, round-robin switch allocation, link serialisation and back-pressure. ``lt`` (loosely
timed) delivers each train after the network's own zero-load closed form — no contention, no queueing —
while still counting the same link traffic along the same routes, so energy and link statistics agree.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import simpy

from elsa_tlm.noc.network import Network
from elsa_tlm.noc.routing import Routing


class LooselyTimedTransport:
    """Zero-load latency per train; link counters along the chosen route.

    The counters are kept per route (a few dozen distinct ones) and spread over the links when asked for:
    a train costs O(1) however long its route.
    """

    def __init__(self, env: simpy.Environment, net: Network) -> None:
        self.env, self.net = env, net
        self.rng = np.random.default_rng(net.routing.seed + 7)
        self.routes: dict[tuple[int, ...], list[int]] = {}  # route -> packets, flits, bits, busy cycles
        self.transfers: list[tuple[int, int, int, int, int, int]] = []
        self.fifo_samples: list[tuple[int, int, int, int]] = []  # no buffers in lt mode
        self.last: dict[tuple[int, int], int] = {}  # (src, dst) -> delivery cycle of the last train
        p = net.params
        self.fixed = 2 * net.P + net.R  # latency of a train that stays on its core, before serialisation
        self.per_hop = net.R + p.link_latency_cycles

    def send(self, src: int, dst: int, flits: int, packets: int = 1, on_injected=None) -> simpy.Event:
        if on_injected is not None:  # no contention: the injection port takes the train at once
            on_injected(self.env.now)
        path = self.net.routing.choose(src, dst, self.rng) if src != dst else (src,)
        ser = self.net.ser(flits)
        row = self.routes.get(path)
        if row is None:
            row = self.routes[path] = [0, 0, 0, 0]
        row[0] += packets
        row[1] += flits
        row[2] += flits * self.net.flit_bits
        row[3] += ser
        lat = self.fixed + (len(path) - 1) * self.per_hop + ser
        # trains between one pair of cores arrive in the order they were sent (one path, FIFO buffers): a
        # short train never overtakes a long one sent before it
        now = self.env.now
        at = max(now + lat, self.last.get((src, dst), 0))
        self.last[(src, dst)] = at
        return self.env.timeout(at - now)

    def counters(self) -> dict[str, int]:
        c = {k: 0 for k in self.net.counters}
        for path, (packets, flits, bits, _) in self.routes.items():
            hops = len(path) - 1
            c["packets"] += packets
            c["flits"] += flits
            c["bits"] += bits
            c["flit_hops"] += flits * hops
            c["local_flits"] += 2 * flits
            c["crossbar_flits"] += flits * (hops + 1)
            c["route_ops"] += packets * (hops + 1)
            if hops == 0:
                c["loopback_flits"] += flits
        return c

    def return_credits(self, node: int, flits: int, at: int) -> None:
        """No FIFO credits in the loosely-timed model (buffers are not a timing constraint)."""

    def link_rows(self) -> list[dict[str, Any]]:
        links = {lk: [0, 0, 0, 0] for lk in self.net.topo.links}
        for path, row in self.routes.items():
            for lk in zip(path, path[1:], strict=False):
                acc = links[lk]
                for i in range(4):
                    acc[i] += row[i]
        return [
            {"src": u, "dst": v, "packets": r[0], "flits": r[1], "bits": r[2], "busy_cycles": r[3]}
            for (u, v), r in sorted(links.items())
        ]


class TimedTransport:
    """The router/link actors with contention and back-pressure.

    With ``record`` set, every delivered train is logged as (src, dst, sent, delivered, flits, packets) and
    the occupancy (flits) of every input buffer of the destination router is sampled at delivery — the
    material of the Perfetto trace.
    """

    def __init__(self, net: Network, record: bool = False) -> None:
        self.net = net
        self.record = record
        self.transfers: list[tuple[int, int, int, int, int, int]] = []
        self.fifo_samples: list[tuple[int, int, int, int]] = []  # (cycle, node, input port, flits)
        self._bufs: dict[int, list] = {}
        if record:
            for (_u, v), b in sorted(net.in_bufs.items()):
                self._bufs.setdefault(v, []).append(b)
            for v, b in enumerate(net.local_bufs):
                self._bufs.setdefault(v, []).insert(0, b)

    def send(self, src: int, dst: int, flits: int, packets: int = 1, on_injected=None) -> simpy.Event:
        ev = self.net.send(src, dst, flits, packets, on_injected=on_injected)
        if self.record:
            t0 = int(self.net.env.now)

            def log(e: simpy.Event) -> None:
                done = int(e.value)
                self.transfers.append((src, dst, t0, done, flits, packets))
                for b in self._bufs[dst]:
                    self.fifo_samples.append((done, dst, b.idx, b.occupancy(done)))

            ev.callbacks.append(log)
        return ev

    def counters(self) -> dict[str, int]:
        return dict(self.net.counters)

    def return_credits(self, node: int, flits: int, at: int) -> None:
        self.net.return_credits(node, flits, at)

    def link_rows(self) -> list[dict[str, Any]]:
        return self.net.link_rows()


def make_transport(
    cfg: Any, env: simpy.Environment, topo: Any, routing: Routing
) -> LooselyTimedTransport | TimedTransport:
    """The transport of ``cfg.run.mode`` over ``topo`` with a prepared ``routing``."""
    net = Network(env, topo, cfg.noc, routing, seed=cfg.run.seed)
    if cfg.run.mode == "at":
        return TimedTransport(net, record=cfg.output.trace)
    return LooselyTimedTransport(env, net)
