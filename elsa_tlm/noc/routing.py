"""Routing algorithms: dimension-order XY, deterministic shortest path, Valiant, and multipath (multipath.py).

A route is a tuple of node ids from source to destination router (src == dst gives ``(src,)``). Every routing
exposes the distribution of its routes per flow (``paths``) and draws one (``choose``), so the per-link
expected load of a traffic matrix can be computed exactly for any of them (``link_loads``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from elsa_tlm.errors import ConfigError
from elsa_tlm.noc.topology import Topology

Path_ = tuple[int, ...]


class Routing:
    """Base class: deterministic single-path routing with a route cache."""

    name = "base"

    def __init__(self, topo: Topology, seed: int = 0) -> None:
        self.topo, self.seed = topo, seed
        self._cache: dict[tuple[int, int], Path_] = {}

    def prepare(self, flows: Mapping[tuple[int, int], float]) -> None:
        """Give the routing the traffic matrix (flits per flow); only adaptive-split routings use it."""

    def route(self, src: int, dst: int) -> Path_:
        """The deterministic (primary) route."""
        key = (src, dst)
        p = self._cache.get(key)
        if p is None:
            p = self._cache[key] = self._compute(src, dst)
        return p

    def _compute(self, src: int, dst: int) -> Path_:
        raise NotImplementedError

    def paths(self, src: int, dst: int) -> list[tuple[Path_, float]]:
        """Routes with their probabilities (summing to 1)."""
        return [(self.route(src, dst), 1.0)]

    def choose(self, src: int, dst: int, rng: np.random.Generator) -> Path_:
        """Draw the route of one packet/transaction."""
        return self.route(src, dst)

    @property
    def deterministic(self) -> bool:
        return True


class XYRouting(Routing):
    """Dimension order: first along x (columns), then y (rows). On a torus each dimension takes the shorter
    wrap direction, ties going to increasing indices. Deadlock-free on a mesh."""

    name = "xy"

    def __init__(self, topo: Topology, seed: int = 0) -> None:
        if not topo.is_grid:
            raise ConfigError(
                "noc.routing",
                "xy",
                f"needs a mesh or torus topology, not {topo.kind} ({topo.spec}); "
                f'set noc.routing = "shortest" (or valiant, multipath) for this topology',
            )
        super().__init__(topo, seed)

    def _steps(self, a: int, b: int, size: int) -> list[int]:
        if a == b:
            return []
        if self.topo.kind == "mesh":
            step = 1 if b > a else -1
            return [(a + step * i) for i in range(1, abs(b - a) + 1)]
        fwd = (b - a) % size
        step, n = (1, fwd) if fwd <= size - fwd else (-1, size - fwd)
        return [(a + step * i) % size for i in range(1, n + 1)]

    def _compute(self, src: int, dst: int) -> Path_:
        cols, rows = self.topo.cols, self.topo.rows
        (sr, sc), (dr, dc) = divmod(src, cols), divmod(dst, cols)
        path = [src]
        path += [sr * cols + c for c in self._steps(sc, dc, cols)]
        path += [r * cols + dc for r in self._steps(sr, dr, rows)]
        return tuple(path)


class ShortestRouting(Routing):
    """Minimal routes on any graph; ties broken towards the lowest-numbered next node (deterministic)."""

    name = "shortest"

    def __init__(self, topo: Topology, seed: int = 0) -> None:
        super().__init__(topo, seed)
        self._nbrs = {u: sorted(topo.graph.neighbors(u)) for u in topo.graph.nodes}

    def _compute(self, src: int, dst: int) -> Path_:
        hops = self.topo.hops
        path, u = [src], src
        while u != dst:
            d = hops[u, dst]
            u = next(v for v in self._nbrs[u] if hops[v, dst] == d - 1)
            path.append(u)
        return tuple(path)


def base_routing(topo: Topology, seed: int = 0) -> Routing:
    """XY on grids, shortest elsewhere: the primary routes of Valiant legs and of multipath."""
    return XYRouting(topo, seed) if topo.is_grid else ShortestRouting(topo, seed)


class ValiantRouting(Routing):
    """Valiant: a uniformly random intermediate router, then two minimal legs (XY on grids, else shortest)."""

    name = "valiant"

    def __init__(self, topo: Topology, seed: int = 0) -> None:
        super().__init__(topo, seed)
        self._base = base_routing(topo, seed)
        self._dist: dict[tuple[int, int], list[tuple[Path_, float]]] = {}

    def via(self, src: int, mid: int, dst: int) -> Path_:
        return self._base.route(src, mid) + self._base.route(mid, dst)[1:]

    def route(self, src: int, dst: int) -> Path_:
        return self._base.route(src, dst)

    def paths(self, src: int, dst: int) -> list[tuple[Path_, float]]:
        key = (src, dst)
        if key not in self._dist:
            n = self.topo.n_nodes
            acc: dict[Path_, float] = {}
            for m in range(n):
                p = self.via(src, m, dst)
                acc[p] = acc.get(p, 0.0) + 1.0 / n
            self._dist[key] = sorted(acc.items())
        return self._dist[key]

    def choose(self, src: int, dst: int, rng: np.random.Generator) -> Path_:
        return self.via(src, int(rng.integers(self.topo.n_nodes)), dst)

    @property
    def deterministic(self) -> bool:
        return False


def link_index(topo: Topology) -> dict[tuple[int, int], int]:
    """Directed link -> row in ``topo.links``."""
    return {lk: i for i, lk in enumerate(topo.links)}


def link_loads(topo: Topology, routing: Routing, flows: Mapping[tuple[int, int], float]) -> np.ndarray:
    """Expected flits carried by every directed link (aligned with ``topo.links``) for a traffic matrix."""
    idx = link_index(topo)
    loads = np.zeros(len(topo.links))
    for (s, d), f in sorted(flows.items()):
        if s == d or f == 0:
            continue
        for path, p in routing.paths(s, d):
            w = f * p
            for a, b in zip(path[:-1], path[1:], strict=True):
                loads[idx[(a, b)]] += w
    return loads


def peak_link_load(topo: Topology, routing: Routing, flows: Mapping[tuple[int, int], float]) -> float:
    """Largest expected per-link load (flits) of a traffic matrix under a routing."""
    loads = link_loads(topo, routing, flows)
    return float(loads.max()) if loads.size else 0.0
