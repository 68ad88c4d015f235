"""The port a component reports its counted actions through: the energy ledger's ``add``.

The hardware counts what it does while the chip runs (native integer attributes); once the run is over each
component reports its counts as ``add(component, action, n, owner)``. The ledger that takes them
(:class:`elsa_tlm.energy.ledger.Ledger`) lives above the hardware and prices them; the hardware only sees
this port.
"""

from __future__ import annotations

from typing import Protocol


class ActionSink(Protocol):
    """Takes ``n`` more ``action`` s of ``component`` on behalf of ``owner`` (a layer, or "" for the chip)."""

    def add(self, component: str, action: str, n: float, owner: str = "") -> None: ...
