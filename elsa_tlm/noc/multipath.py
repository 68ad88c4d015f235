"""ELSA-style multipath routing: per flow the primary route plus up to two alternatives, with split
probabilities chosen by differential evolution (fixed seed, deterministic) to minimise the peak link load of
a given traffic matrix.

Only the flows that cross the hottest links are optimised (at most ``max_flows``), which keeps the search
small; all others stay on their primary route. The result is never worse than the primary routes: if the
optimiser does not lower the peak, the primary routes are kept.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import networkx as nx
import numpy as np

from elsa_tlm.noc.routing import Path_, Routing, base_routing, link_index, link_loads
from elsa_tlm.noc.topology import Topology


class MultipathRouting(Routing):
    name = "multipath"

    def __init__(
        self,
        topo: Topology,
        seed: int = 0,
        max_flows: int = 10,
        hot_fraction: float = 0.8,
        n_alternatives: int = 2,
        maxiter: int = 60,
        popsize: int = 6,
    ) -> None:
        super().__init__(topo, seed)
        self._base = base_routing(topo, seed)
        self.max_flows, self.hot_fraction, self.n_alt = max_flows, hot_fraction, n_alternatives
        self.maxiter, self.popsize = maxiter, popsize
        self._split: dict[tuple[int, int], list[tuple[Path_, float]]] = {}
        self._cum: dict[tuple[int, int], tuple[list[Path_], np.ndarray]] = {}
        self.baseline_peak = self.optimised_peak = 0.0

    def route(self, src: int, dst: int) -> Path_:
        return self._base.route(src, dst)

    def alternatives(self, src: int, dst: int) -> list[Path_]:
        """Primary route followed by up to ``n_alt`` next-shortest simple paths (Yen's order)."""
        primary = self.route(src, dst)
        out = [primary]
        for p in itertools.islice(nx.shortest_simple_paths(self.topo.graph, src, dst), self.n_alt + 1):
            p = tuple(p)
            if p != primary and len(out) <= self.n_alt:
                out.append(p)
        return out

    def prepare(self, flows: Mapping[tuple[int, int], float]) -> None:
        """Optimise the split probabilities of the flows crossing the hottest links."""
        self._split.clear()
        self._cum.clear()
        flows = {k: float(v) for k, v in sorted(flows.items()) if k[0] != k[1] and v > 0}
        loads0 = link_loads(self.topo, self._base, flows)
        self.baseline_peak = self.optimised_peak = float(loads0.max()) if loads0.size else 0.0
        if not flows or self.baseline_peak == 0:
            return
        idx = link_index(self.topo)
        hot = {self.topo.links[i] for i in np.nonzero(loads0 >= self.hot_fraction * self.baseline_peak)[0]}
        cand = []
        for (s, d), f in flows.items():
            p = self.route(s, d)
            if any((a, b) in hot for a, b in zip(p[:-1], p[1:], strict=True)):
                cand.append((-f, s, d))
        cand.sort()
        chosen = [(s, d) for _, s, d in cand[: self.max_flows]]
        groups: list[tuple[tuple[int, int], list[Path_]]] = []
        for s, d in chosen:
            alts = self.alternatives(s, d)
            if len(alts) > 1:
                groups.append(((s, d), alts))
        if not groups:
            return
        # fixed part of the load: everything except the optimised flows
        fixed = loads0.copy()
        cols: list[np.ndarray] = []
        sizes = []
        for (s, d), alts in groups:
            f = flows[(s, d)]
            for a, b in zip(alts[0][:-1], alts[0][1:], strict=True):
                fixed[idx[(a, b)]] -= f
            for path in alts:
                col = np.zeros(len(self.topo.links))
                for a, b in zip(path[:-1], path[1:], strict=True):
                    col[idx[(a, b)]] += f
                cols.append(col)
            sizes.append(len(alts))
        m = np.stack(cols, axis=1)  # links x variables
        bounds = np.array(sizes)
        starts = np.concatenate([[0], np.cumsum(bounds)[:-1]])
        n_links = max(1, len(self.topo.links))

        def probs(z: np.ndarray) -> np.ndarray:
            # z: (n_vars, S) -> normalised per flow group; an all-zero group falls back to the primary route
            out = np.empty_like(z)
            for st, k in zip(starts, sizes, strict=True):
                g = z[st : st + k]
                tot = g.sum(axis=0)
                zero = tot <= 1e-12
                g = np.where(zero, 0.0, g)
                g[0] = np.where(zero, 1.0, g[0])
                out[st : st + k] = g / np.where(zero, 1.0, tot)
            return out

        def objective(z: np.ndarray) -> np.ndarray:
            z = z.reshape(len(cols), -1)
            loads = fixed[:, None] + np.einsum("lv,vs->ls", m, probs(z))  # no BLAS threads for tiny products
            return loads.max(axis=0) + 1e-3 * loads.sum(axis=0) / n_links

        x0 = np.zeros(len(cols))
        x0[starts] = 1.0
        from scipy.optimize import differential_evolution  # only when a split is optimised (import ~0.2 s)

        res = differential_evolution(
            objective,
            bounds=[(0.0, 1.0)] * len(cols),
            seed=self.seed,
            maxiter=self.maxiter,
            popsize=self.popsize,
            tol=1e-10,
            polish=False,
            vectorized=True,
            updating="deferred",
            x0=x0,
        )
        best = probs(res.x.reshape(-1, 1))[:, 0]
        peak = float((fixed + m @ best).max())
        if peak >= self.baseline_peak - 1e-12:
            return
        self.optimised_peak = peak
        for ((s, d), alts), st, k in zip(groups, starts, sizes, strict=True):
            pr = best[st : st + k]
            items = [(p, float(q)) for p, q in zip(alts, pr, strict=True) if q > 1e-9]
            tot = sum(q for _, q in items)
            self._split[(s, d)] = [(p, q / tot) for p, q in items]

    def paths(self, src: int, dst: int) -> list[tuple[Path_, float]]:
        return self._split.get((src, dst)) or [(self.route(src, dst), 1.0)]

    def choose(self, src: int, dst: int, rng: np.random.Generator) -> Path_:
        split = self._split.get((src, dst))
        if not split:
            return self.route(src, dst)
        key = (src, dst)
        if key not in self._cum:
            self._cum[key] = ([p for p, _ in split], np.cumsum([q for _, q in split]))
        paths, cum = self._cum[key]
        i = int(np.searchsorted(cum, rng.random() * cum[-1], side="right"))
        return paths[min(i, len(paths) - 1)]

    @property
    def deterministic(self) -> bool:
        return not self._split
