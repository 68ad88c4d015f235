"""Energy and area: one ledger of counted actions, one table of per-action energies, one list of block
classes for leakage and area.

:mod:`.ledger` (``add(component, action, n, owner)`` and its views), :mod:`.tables` (the 28 nm technology
tables and the :class:`~.tables.ActionTable`), :mod:`.estimators` (block classes: count, area, leakage),
:mod:`.area` (core and chip area, reconciled with the paper), :mod:`.model` (:class:`~.model.EnergyModel`:
prices, refresh and leakage, the ledger's views; :func:`~.model.price_noc`: a NoC-only run priced by the same
table). The components count and report their own actions (``report(ledger)``).
"""

from elsa_tlm.energy.ledger import Ledger
from elsa_tlm.energy.model import EnergyModel, price_noc, report_noc

__all__ = ["EnergyModel", "Ledger", "price_noc", "report_noc"]
