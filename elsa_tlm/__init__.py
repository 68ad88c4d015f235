"""elsa-tlm: a transaction-level SimPy model of the ELSA spiking-neural-network accelerator.

The public API (see :mod:`elsa_tlm.api`): ``run``, ``load_config``, ``configure``, ``check``, ``sweep``,
``Result``. Importing the package is cheap; the simulator itself loads on first use.
"""

from __future__ import annotations

# first: decides whether the compiled hot path may load (a stale build falls back to the sources)
from elsa_tlm import compiled  # noqa: F401
from elsa_tlm.api import check, configure, load_config, run, sweep
from elsa_tlm.results import Result
from elsa_tlm.version import __version__

__all__ = ["run", "load_config", "configure", "check", "sweep", "Result", "__version__"]
