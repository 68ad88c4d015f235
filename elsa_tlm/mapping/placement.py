"""Placement: partitions along a Hilbert curve in execution order, refined by neighbour swaps.

The refinement repeatedly swaps the contents of two adjacent routers (a core and a core, or a core and an
empty router) while the swap lowers Σ traffic × hop distance; it stops at a local minimum or after a
bounded number of sweeps. On non-grid topologies the initial order is the Hilbert order of the nodes'
coordinates (when the graph gives them) or a breadth-first walk from node 0 (neighbours in ascending id);
distances are graph hop counts.
"""

from __future__ import annotations

import networkx as nx
import numpy as np


def hilbert_order(rows: int, cols: int) -> list[tuple[int, int]]:
    """Grid cells (r, c) in Hilbert-curve order; non-power-of-two grids keep the order of the cells inside."""
    n = 1
    while n < max(rows, cols):
        n *= 2
    out = []
    for d in range(n * n):
        x = y = 0
        t = d
        s = 1
        while s < n:
            rx = 1 & (t // 2)
            ry = 1 & (t ^ rx)
            if ry == 0:
                if rx == 1:
                    x, y = s - 1 - x, s - 1 - y
                x, y = y, x
            x += s * rx
            y += s * ry
            t //= 4
            s *= 2
        if y < rows and x < cols:
            out.append((y, x))
    return out


def hilbert_index(n: int, x: int, y: int) -> int:
    """Position of cell (x, y) along the Hilbert curve of an n×n grid (n a power of two)."""
    d = 0
    s = n // 2
    while s > 0:
        rx = 1 if x & s else 0
        ry = 1 if y & s else 0
        d += s * s * ((3 * rx) ^ ry)
        if ry == 0:
            if rx == 1:
                x, y = s - 1 - x, s - 1 - y
            x, y = y, x
        s //= 2
    return d


def initial_nodes(
    graph: nx.Graph,
    rows: int | None,
    cols: int | None,
    how: str,
    coords: dict[int, tuple[float, float]] | None = None,
) -> list[int]:
    """Node visiting order for the initial placement.

    Grids: Hilbert curve (or boustrophedon rows for "linear"). Other graphs with node coordinates: the
    Hilbert order of their coordinate ranks; without coordinates: breadth-first from node 0.
    """
    if rows and cols and how == "hilbert":
        return [r * cols + c for r, c in hilbert_order(rows, cols)]
    if rows and cols:  # "linear": boustrophedon rows
        return [r * cols + (c if r % 2 == 0 else cols - 1 - c) for r in range(rows) for c in range(cols)]
    if coords and how == "hilbert" and len(coords) == graph.number_of_nodes():
        xs = {v: i for i, v in enumerate(sorted({c[0] for c in coords.values()}))}
        ys = {v: i for i, v in enumerate(sorted({c[1] for c in coords.values()}))}
        n = 1
        while n < max(len(xs), len(ys)):
            n *= 2
        key = {v: (hilbert_index(n, xs[x], ys[y]), v) for v, (x, y) in coords.items()}
        return sorted(coords, key=key.__getitem__)
    return list(nx.bfs_tree(graph, 0, sort_neighbors=sorted).nodes())


def cost(traffic: np.ndarray, node_of: np.ndarray, hops: np.ndarray) -> float:
    return float((traffic * hops[np.ix_(node_of, node_of)]).sum())


def refine(
    traffic: np.ndarray, node_of: np.ndarray, hops: np.ndarray, graph: nx.Graph, max_sweeps: int = 50
) -> np.ndarray:
    """Greedy adjacent swaps lowering Σ traffic × hops (``traffic`` is partition × partition)."""
    n_nodes = hops.shape[0]
    part_at = np.full(n_nodes, -1)
    part_at[node_of] = np.arange(len(node_of))
    sym = traffic + traffic.T
    edges = sorted((min(u, v), max(u, v)) for u, v in graph.edges())
    node_of = node_of.copy()

    def part_cost(p: int, node: int, skip: int = -1) -> float:
        mask = np.ones(len(node_of), bool)
        mask[p] = False
        if skip >= 0:
            mask[skip] = False
        return float((sym[p, mask] * hops[node, node_of[mask]]).sum())

    for _ in range(max_sweeps):
        improved = False
        for a, b in edges:
            pa, pb = part_at[a], part_at[b]
            if pa < 0 and pb < 0:
                continue
            before = after = 0.0
            if pa >= 0:
                before += part_cost(pa, a, pb)
                after += part_cost(pa, b, pb)
            if pb >= 0:
                before += part_cost(pb, b, pa)
                after += part_cost(pb, a, pa)
            if after < before - 1e-9:
                part_at[a], part_at[b] = pb, pa
                if pa >= 0:
                    node_of[pa] = b
                if pb >= 0:
                    node_of[pb] = a
                improved = True
        if not improved:
            break
    return node_of
