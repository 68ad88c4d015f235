"""Results as plain data: the :class:`Result` of a run, how it is collected from a finished chip, written
to a folder and traced. Nothing here imports a plotting library."""

from elsa_tlm.results.result import Result
from elsa_tlm.results.writers import write_result

__all__ = ["Result", "write_result"]
