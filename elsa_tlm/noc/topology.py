"""NoC topologies as networkx graphs: mesh, torus, ring, or a user file (edge list / GraphML).

Every node is a router with a local port to its core. Nodes are relabelled 0..N-1 deterministically:
grids use ``node = r * cols + c``; rings go round the circle; files are sorted by their labels (numerically if
all labels are integers, else as strings).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx
import numpy as np

from elsa_tlm.config import MAX_ROUTERS
from elsa_tlm.errors import ConfigError

KEY = "noc.topology"


def _hop_matrix(g: nx.Graph, n: int) -> np.ndarray:
    """All-pairs hop counts (n x n int64). Breadth-first searches in Python for chip-sized graphs (no
    scipy import on every run: ~0.3 s); scipy's C shortest paths for large ones."""
    if n > 256:
        from scipy.sparse.csgraph import shortest_path  # large graphs only: the import costs ~0.3 s

        adj = nx.to_scipy_sparse_array(g, nodelist=range(n), format="csr")
        return shortest_path(adj, unweighted=True, directed=False).astype(np.int64)
    nbrs = [list(g.neighbors(v)) for v in range(n)]
    hops = np.full((n, n), -1, dtype=np.int64)
    for src in range(n):
        row = [-1] * n
        row[src] = 0
        frontier = [src]
        d = 0
        while frontier:
            d += 1
            nxt = []
            for u in frontier:
                for w in nbrs[u]:
                    if row[w] < 0:
                        row[w] = d
                        nxt.append(w)
            frontier = nxt
        hops[src] = row
    return hops


@dataclass
class Topology:
    """A built topology: graph, coordinates (if any), all-pairs hop distances and directed links."""

    spec: str
    kind: str  # "mesh" | "torus" | "ring" | "file"
    graph: nx.Graph
    coords: dict[int, tuple[float, float]] | None = None  # (x, y); grids: (col, row)
    rows: int | None = None
    cols: int | None = None
    links: list[tuple[int, int]] = field(init=False, repr=False)
    diameter: int = field(init=False)
    _hops: np.ndarray | None = field(init=False, default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        n = self.graph.number_of_nodes()
        self.links = sorted([(u, v) for u, v in self.graph.edges] + [(v, u) for u, v in self.graph.edges])
        if self.kind == "mesh" and self.rows and self.cols:
            self.diameter = self.rows - 1 + self.cols - 1
        elif self.kind == "torus" and self.rows and self.cols:
            self.diameter = self.rows // 2 + self.cols // 2
        elif self.kind == "ring":
            self.diameter = n // 2
        else:
            self.diameter = int(self.hops.max()) if n else 0

    @property
    def hops(self) -> np.ndarray:
        """All-pairs hop counts (n x n int64), computed at the first use: the one structure of a topology
        that grows with the square of its routers (134 MB at 4096), which XY routing never reads."""
        if self._hops is None:
            self._hops = _hop_matrix(self.graph, self.graph.number_of_nodes())
        return self._hops

    @property
    def n_nodes(self) -> int:
        return self.graph.number_of_nodes()

    @property
    def is_grid(self) -> bool:
        return self.kind in ("mesh", "torus")

    def rc(self, node: int) -> tuple[int, int]:
        """(row, col) of a grid node."""
        assert self.cols is not None
        return divmod(node, self.cols)

    def check_fits(self, n_needed: int) -> None:
        """Refuse a mapping that needs more cores than the topology has routers."""
        if n_needed > self.n_nodes:
            raise ConfigError(
                KEY, self.spec, f"has {self.n_nodes} nodes but the mapping needs {n_needed} cores"
            )


def _grid_dims(spec: str, body: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", body)
    if not m:
        raise ConfigError(KEY, spec, "grid spec must be mesh:RxC or torus:RxC with integer R, C")
    r, c = int(m.group(1)), int(m.group(2))
    if r < 1 or c < 1:
        raise ConfigError(KEY, spec, "grid dimensions must be >= 1")
    return r, c


def _grid(spec: str, kind: str, rows: int, cols: int) -> Topology:
    g = nx.Graph()
    g.add_nodes_from(range(rows * cols))
    for r in range(rows):
        for c in range(cols):
            n = r * cols + c
            if c + 1 < cols:
                g.add_edge(n, n + 1)
            if r + 1 < rows:
                g.add_edge(n, n + cols)
            if kind == "torus":
                g.add_edge(n, r * cols + (c + 1) % cols)
                g.add_edge(n, ((r + 1) % rows) * cols + c)
    coords = {r * cols + c: (float(c), float(r)) for r in range(rows) for c in range(cols)}
    return Topology(spec=spec, kind=kind, graph=g, coords=coords, rows=rows, cols=cols)


def _relabel(g: nx.Graph) -> nx.Graph:
    nodes = list(g.nodes)
    try:
        order = sorted(nodes, key=lambda x: int(x))
        if len({int(x) for x in nodes}) != len(nodes):
            raise ValueError
    except (TypeError, ValueError):
        order = sorted(nodes, key=str)
    mapping = {old: i for i, old in enumerate(order)}
    h = nx.Graph()
    h.add_nodes_from(range(len(order)))
    for old in order:
        h.nodes[mapping[old]].update(g.nodes[old])
    h.add_edges_from((mapping[u], mapping[v]) for u, v in g.edges())
    return h


def _read_file(spec: str, path: Path) -> nx.Graph:
    if path.is_symlink() and not path.exists():
        raise ConfigError(
            KEY, spec, f"{path} is a symbolic link that leads nowhere (a loop, or a missing target)"
        )
    if path.is_dir():
        raise ConfigError(KEY, spec, f"{path} is a folder, not a graph file")
    if not path.exists():
        raise ConfigError(KEY, spec, f"file {path} does not exist")
    if not path.is_file():
        raise ConfigError(KEY, spec, f"{path} is not a regular file (a device or FIFO), not a graph file")
    pairs: list[tuple[object, object]] = []
    directed = False
    if path.suffix.lower() in (".graphml", ".xml"):
        try:
            raw = nx.read_graphml(path)
        except Exception as exc:  # malformed XML and friends
            raise ConfigError(KEY, spec, f"cannot read GraphML: {exc}") from None
        directed = raw.is_directed()
        pairs = [(u, v) for u, v, *_ in raw.edges]
        g = nx.Graph()
        g.add_nodes_from(raw.nodes(data=True))
    else:
        try:  # an editor's byte-order mark is not part of the first node's name; CRLF line ends are fine
            text = path.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ConfigError(
                KEY, spec, f"{path} is not UTF-8 text (an edge list: one 'u v' pair per line)"
            ) from None
        g = nx.Graph()
        for lineno, line in enumerate(text.splitlines(), 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.replace(",", " ").split()
            if len(parts) < 2:
                raise ConfigError(KEY, spec, f"line {lineno}: an edge needs two node names")
            pairs.append((parts[0], parts[1]))
            g.add_nodes_from(parts[:2])
    seen: set[tuple[object, object]] = set()
    for u, v in pairs:
        if u == v:
            raise ConfigError(KEY, spec, f"self-loop at node {u!r} is not allowed")
        if (u, v) in seen or (not directed and (v, u) in seen):
            raise ConfigError(KEY, spec, f"duplicate link {u!r}-{v!r}")
        seen.add((u, v))
        g.add_edge(u, v)
    if directed:  # a directed graph must describe each (bidirectional) link in both directions
        one_way = sorted(((u, v) for u, v in seen if (v, u) not in seen), key=str)
        if one_way:
            u, v = one_way[0]
            raise ConfigError(
                KEY,
                spec,
                f"one-way link {u!r}->{v!r} ({len(one_way)} in all): ELSA's links carry both directions; "
                "give both directions in a directed graph, or use an undirected one",
            )
    return g


def _file_coords(spec: str, g: nx.Graph) -> dict[int, tuple[float, float]] | None:
    """Node coordinates from GraphML attributes x/y or pos ("x y" or "x,y"); None when nodes have none."""
    coords: dict[int, tuple[float, float]] = {}
    for n, data in g.nodes(data=True):
        try:
            if "x" in data and "y" in data:
                xy = (float(data["x"]), float(data["y"]))
            elif "pos" in data:
                pos = data["pos"]
                if isinstance(pos, str):
                    pos = pos.replace(",", " ").split()
                xy = (float(pos[0]), float(pos[1]))
            else:
                return None
        except (ValueError, TypeError, IndexError):
            raise ConfigError(
                KEY, spec, f"node {n}: position must be two numbers (x/y attributes or pos = 'x y')"
            ) from None
        if not all(math.isfinite(c) for c in xy):
            raise ConfigError(KEY, spec, f"node {n}: position {xy} is not finite")
        coords[n] = xy
    return coords


def build_topology(spec: str, base_dir: Path | None = None) -> Topology:
    """Build a topology from ``mesh:RxC``, ``torus:RxC``, ``ring:N`` or ``file:PATH`` (edge list / GraphML)."""
    if not isinstance(spec, str) or ":" not in spec:
        raise ConfigError(KEY, spec, "must be mesh:RxC, torus:RxC, ring:N or file:PATH")
    kind, body = spec.split(":", 1)
    kind = kind.strip().lower()
    if kind == "mesh":
        r, c = _grid_dims(spec, body)
        return _grid(spec, "mesh", r, c)
    if kind == "torus":
        r, c = _grid_dims(spec, body)
        if r < 3 or c < 3:
            raise ConfigError(KEY, spec, "torus dimensions must be >= 3 (smaller wraps duplicate links)")
        return _grid(spec, "torus", r, c)
    if kind == "ring":
        if not re.fullmatch(r"\s*\d+\s*", body):
            raise ConfigError(KEY, spec, "ring spec must be ring:N with an integer N")
        n = int(body)
        if n < 3:
            raise ConfigError(KEY, spec, "a ring needs N >= 3 nodes")
        g = nx.cycle_graph(n)
        coords = {
            i: (round(math.cos(2 * math.pi * i / n), 12), round(math.sin(2 * math.pi * i / n), 12))
            for i in range(n)
        }
        return Topology(spec=spec, kind="ring", graph=g, coords=coords)
    if kind == "file":
        path = Path(body.strip())
        if not body.strip():
            raise ConfigError(KEY, spec, "file: needs a path")
        if not path.is_absolute() and base_dir is not None:
            path = Path(base_dir) / path
        g = _relabel(_read_file(spec, path))
        if g.number_of_nodes() == 0:
            raise ConfigError(KEY, spec, "the graph has no nodes")
        if g.number_of_nodes() > MAX_ROUTERS:
            raise ConfigError(
                KEY, spec, f"the graph has {g.number_of_nodes()} routers; at most {MAX_ROUTERS} are supported"
            )
        if not nx.is_connected(g):
            raise ConfigError(
                KEY, spec, f"graph is disconnected ({nx.number_connected_components(g)} components)"
            )
        return Topology(spec=spec, kind="file", graph=g, coords=_file_coords(spec, g))
    raise ConfigError(KEY, spec, "unknown topology kind; must be mesh, torus, ring or file")
