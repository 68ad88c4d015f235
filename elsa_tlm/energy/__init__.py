"""Energy and area: one ledger of counted actions, one table of per-action energies, one list of block
classes for leakage and area.

:mod:`.ledger` (``add(component, action, n, owner)`` and its views), :mod:`.tables` (the 28 nm technology
tables and the :class:`~.tables.ActionTable`), :mod:`.estimators` (block classes: count, area, leakage),
:mod:`.area` (core and chip area, reconciled with the paper), :mod:`.model` (:class:`~.model.EnergyModel`: how
a run's components report into the ledger).
"""

from elsa_tlm.energy.ledger import Ledger
from elsa_tlm.energy.model import EnergyModel, sop_counts
from elsa_tlm.energy.tables import noc_energy_j, price_noc

__all__ = ["EnergyModel", "Ledger", "noc_energy_j", "price_noc", "sop_counts"]
