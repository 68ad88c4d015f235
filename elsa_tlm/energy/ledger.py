"""The energy ledger: what the chip did, as counts of actions, priced once.

Components report ``add(component, action, n, owner)`` — a PE's macros their row reads and writes per layer,
the adder trees and fire units their activations, the router's units their operations, the network
interfaces their packets and flits, the NoC its flit hops, a powered core its seconds — and the ledger prices
every count with one :class:`~elsa_tlm.energy.tables.ActionTable`. The energy breakdown of ``summary.json``
(per category) and the energy of each layer in ``layers.csv`` (per owner) are two views of the same entries.
"""

from __future__ import annotations

from collections.abc import Iterable

from elsa_tlm.energy.tables import ActionTable


class Ledger:
    """Counts per (component, action, owner), in the order they were first reported."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, str], float] = {}

    def add(self, component: str, action: str, n: float, owner: str = "") -> None:
        """``n`` more ``action`` s of ``component`` on behalf of ``owner`` (a layer, or "" for the chip)."""
        if n:
            key = (component, action, owner)
            self.counts[key] = self.counts.get(key, 0) + n

    def count(self, component: str, action: str, owner: str | None = None) -> float:
        """Total count of one action (over all owners, or one)."""
        return sum(
            n for (c, a, o), n in self.counts.items() if c == component and a == action and owner in (None, o)
        )

    def joules(self, table: ActionTable) -> dict[tuple[str, str, str], float]:
        """Every entry priced: count × the table's joules per count."""
        return {k: table.joules((k[0], k[1]), n) for k, n in self.counts.items()}

    def by_category(self, table: ActionTable, categories: Iterable[str]) -> dict[str, float]:
        """The breakdown: joules per category, every listed category present (0.0 when nothing was done);
        an entry whose category is not listed is an error (energy would go missing)."""
        out = dict.fromkeys(categories, 0.0)
        for (component, action, _), j in self.joules(table).items():
            cat = table[(component, action)][1]
            if cat not in out:
                raise KeyError(
                    f"{component}.{action} is charged to {cat!r}, not in the breakdown {list(out)}"
                )
            out[cat] += j
        return out

    def by_owner(self, table: ActionTable, categories: Iterable[str]) -> dict[str, float]:
        """Joules per owner over the given categories (a layer's own energy)."""
        cats = set(categories)
        out: dict[str, float] = {}
        for (component, action, owner), j in self.joules(table).items():
            if table[(component, action)][1] in cats:
                out[owner] = out.get(owner, 0.0) + j
        return out
