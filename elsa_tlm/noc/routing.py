"""Routing algorithms: dimension-order XY, deterministic shortest path, Valiant, and multipath (multipath.py).

A route is a tuple of node ids from source to destination router (src == dst gives ``(src,)``). Every routing
exposes the distribution of its routes per flow (``paths``) and draws one (``choose``), so the per-link
expected load of a traffic matrix can be computed exactly for any of them (``link_loads``, flow by flow).

Routes are computed when asked and cached up to :data:`ROUTE_CACHE_NODES` nodes in all, so that synthetic
all-pairs traffic on a large network keeps memory linear in the routers. For all-pairs traffic matrices the
single-path routings and Valiant also give their link loads without visiting every flow's route
(``aggregate_loads``: XY per source from suffix sums along rows and columns, shortest paths per destination
over its in-tree, Valiant as two legs of its base routing).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from elsa_tlm.errors import ConfigError
from elsa_tlm.noc.topology import Topology

Path_ = tuple[int, ...]
RowFn = Callable[[int], np.ndarray]

# nodes of the routes a routing keeps (about 40 bytes each): every route of a chip, or of a 16x16 network's
# all-pairs traffic; beyond it routes are computed per call (an XY route in a few microseconds)
ROUTE_CACHE_NODES = 2_000_000


class Routing:
    """Base class: deterministic single-path routing with a route cache."""

    name = "base"

    def __init__(self, topo: Topology, seed: int = 0) -> None:
        self.topo, self.seed = topo, seed
        self._cache: dict[tuple[int, int], Path_] = {}
        self._cached_nodes = 0

    def prepare(self, flows: Mapping[tuple[int, int], float]) -> None:
        """Give the routing the traffic matrix (flits per flow); only adaptive-split routings use it."""

    def route(self, src: int, dst: int) -> Path_:
        """The deterministic (primary) route."""
        key = (src, dst)
        p = self._cache.get(key)
        if p is None:
            p = self._compute(src, dst)
            if self._cached_nodes < ROUTE_CACHE_NODES:
                self._cache[key] = p
                self._cached_nodes += len(p)
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

    def aggregate_loads(
        self, row: RowFn, column: RowFn, row_sums: np.ndarray, col_sums: np.ndarray
    ) -> np.ndarray | None:
        """Expected flits per directed link (aligned with ``topo.links``) of a whole traffic matrix given by
        its rows (``row(s)``: flits from s to every node), columns and their sums, without visiting every
        flow's route; None when the routing has no such form (then ``link_loads`` goes flow by flow). The
        same loads as ``link_loads`` up to float rounding (the sums are taken in another order)."""
        return None


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
        assert cols is not None and rows is not None
        (sr, sc), (dr, dc) = divmod(src, cols), divmod(dst, cols)
        if self.topo.kind == "mesh":  # both legs are arithmetic progressions of node ids
            turn = sr * cols + dc
            sx = 1 if dc >= sc else -1
            sy = cols if dr >= sr else -cols
            return (*range(src, turn + sx, sx), *range(turn + sy, dst + sy, sy))
        path = [src]
        path += [sr * cols + c for c in self._steps(sc, dc, cols)]
        path += [r * cols + dc for r in self._steps(sr, dr, rows)]
        return tuple(path)

    def aggregate_loads(
        self, row: RowFn, column: RowFn, row_sums: np.ndarray, col_sums: np.ndarray
    ) -> np.ndarray | None:
        """Per source: its x leg carries the column totals of its row of the matrix along its own row, its y
        legs each column's weights along that column; a link's load is a suffix sum over the destinations
        beyond it (O(N) numpy per source, no route built)."""
        topo = self.topo
        rows, cols = topo.rows, topo.cols
        assert rows is not None and cols is not None
        east, west, south, north = _grid_link_ids(topo)
        loads = np.zeros(len(topo.links))
        torus = topo.kind == "torus"
        for s in range(topo.n_nodes):
            w = row(s).reshape(rows, cols)
            if not w.any():
                continue
            sr, sc = divmod(s, cols)
            plus, minus = _leg_loads(w.sum(axis=0)[:, None], sc, torus)  # x leg: along row sr
            at = (sc + np.arange(cols)) % cols
            _add(loads, east[sr, at], plus[:, 0])
            at = (sc - np.arange(cols)) % cols
            _add(loads, west[sr, at], minus[:, 0])
            plus, minus = _leg_loads(w, sr, torus)  # y legs: along every destination column
            at = (sr + np.arange(rows)) % rows
            _add(loads, south[at], plus)
            at = (sr - np.arange(rows)) % rows
            _add(loads, north[at], minus)
        return loads


def _add(loads: np.ndarray, ids: np.ndarray, values: np.ndarray) -> None:
    """loads[ids] += values where a link exists (ids >= 0; distinct ids in one call)."""
    ok = ids >= 0
    loads[ids[ok]] += values[ok]


def _grid_link_ids(topo: Topology) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Row index in ``topo.links`` of the link leaving each grid node east (+x), west, south (+y) and north,
    as (rows, cols) arrays; -1 where a mesh has no such link."""
    rows, cols = topo.rows, topo.cols
    assert rows is not None and cols is not None
    idx = link_index(topo)
    torus = topo.kind == "torus"
    out = [np.full((rows, cols), -1, dtype=np.int64) for _ in range(4)]
    for r in range(rows):
        for c in range(cols):
            u = r * cols + c
            for k, (dr, dc) in enumerate(((0, 1), (0, -1), (1, 0), (-1, 0))):
                rr, cc = r + dr, c + dc
                if not torus and not (0 <= rr < rows and 0 <= cc < cols):
                    continue
                out[k][r, c] = idx[(u, (rr % rows) * cols + cc % cols)]
    return out[0], out[1], out[2], out[3]


def _leg_loads(w: np.ndarray, a: int, torus: bool) -> tuple[np.ndarray, np.ndarray]:
    """One dimension of XY routing from coordinate ``a``: ``w[b, j]`` flits go from ``a`` to coordinate ``b``
    on line ``j`` (``w[a]`` is not moved). Returns the loads of the + links ``a+k -> a+k+1`` and the - links
    ``a-k -> a-k-1`` (index k, coordinates mod K), as XY's ``_steps`` goes: on a mesh towards ``b``, on a
    torus the shorter way round, ties to +."""
    size = w.shape[0]
    k = np.arange(size)
    b_plus = (a + k) % size  # destination k steps in + direction
    b_minus = (a - k) % size
    if torus:
        goes_plus = (k >= 1) & (2 * k <= size)
        goes_minus = (k >= 1) & (2 * (size - k) > size)
    else:
        goes_plus = (k >= 1) & (a + k < size)
        goes_minus = (k >= 1) & (a - k >= 0)
    plus_w = np.where(goes_plus[:, None], w[b_plus], 0.0)
    minus_w = np.where(goes_minus[:, None], w[b_minus], 0.0)
    # the link k steps out carries every destination more than k steps out
    plus = np.zeros_like(plus_w)
    minus = np.zeros_like(minus_w)
    plus[:-1] = np.cumsum(plus_w[::-1], axis=0)[::-1][1:]
    minus[:-1] = np.cumsum(minus_w[::-1], axis=0)[::-1][1:]
    return plus, minus


class ShortestRouting(Routing):
    """Minimal routes on any graph; ties broken towards the lowest-numbered next node (deterministic)."""

    name = "shortest"

    def __init__(self, topo: Topology, seed: int = 0) -> None:
        super().__init__(topo, seed)
        self._nbrs = {u: sorted(topo.graph.neighbors(u)) for u in topo.graph.nodes}

    def next_hops(self, dst: int) -> tuple[np.ndarray, np.ndarray]:
        """Every node's next node towards ``dst`` (-1 at ``dst``) and the row in ``topo.links`` of that link:
        the destination's in-tree, one BFS row of the hop matrix (what ``route`` follows hop by hop)."""
        topo = self.topo
        links = self._links()
        eu, ev = links[:, 0], links[:, 1]
        dist = topo.hops[dst]  # undirected graphs: the row is the column
        cand = np.flatnonzero(dist[ev] == dist[eu] - 1)  # links one hop closer, sorted by (u, v)
        cu = eu[cand]
        first = cand[np.r_[True, cu[1:] != cu[:-1]]] if cand.size else cand  # the lowest-numbered v per u
        nxt = np.full(topo.n_nodes, -1, dtype=np.int64)
        link = np.full(topo.n_nodes, -1, dtype=np.int64)
        nxt[eu[first]] = ev[first]
        link[eu[first]] = first
        return nxt, link

    def _links(self) -> np.ndarray:
        arr = getattr(self, "_links_arr", None)
        if arr is None:
            arr = self._links_arr = np.array(self.topo.links, dtype=np.int64).reshape(-1, 2)
        return arr

    def aggregate_loads(
        self, row: RowFn, column: RowFn, row_sums: np.ndarray, col_sums: np.ndarray
    ) -> np.ndarray | None:
        """Per destination: the flits of every source climb the destination's in-tree; a link carries what
        its subtree sends (O(N) per destination, no route built)."""
        topo = self.topo
        loads = np.zeros(len(topo.links))
        for d in range(topo.n_nodes):
            w = column(d)
            if not w.any():
                continue
            nxt, link = self.next_hops(d)
            acc = w.tolist()
            up = nxt.tolist()
            for u in np.argsort(-topo.hops[d], kind="stable").tolist():  # farthest first
                a = acc[u]
                if a and up[u] >= 0:
                    acc[up[u]] += a
            has = link >= 0
            loads[link[has]] += np.asarray(acc)[has]
        return loads

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

    def aggregate_loads(
        self, row: RowFn, column: RowFn, row_sums: np.ndarray, col_sums: np.ndarray
    ) -> np.ndarray | None:
        """The flow s -> d goes s -> m -> d for each of the N intermediates m with probability 1/N, so the
        loads are the base routing's for two matrices: s -> m carrying (flits from s)/N and m -> d carrying
        (flits to d)/N, for every m (m = s or m = d: an empty leg)."""
        n = self.topo.n_nodes
        first = row_sums / n
        second = col_sums / n
        base = self._base
        a = base.aggregate_loads(
            lambda s: np.full(n, first[s]), lambda m: first, first * n, np.full(n, first.sum())
        )
        b = base.aggregate_loads(
            lambda m: second, lambda d: np.full(n, second[d]), np.full(n, second.sum()), second * n
        )
        if a is None or b is None:
            return None
        return a + b


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
