"""Results as plain data: the :class:`Result` of a run, how it is collected from a finished chip, written
to a folder and traced. Nothing here imports a plotting library.

``Result`` (:mod:`.result`) is plain data and imports no writer; writing is :func:`write_result`
(:mod:`.writers`), also reachable as ``result.save(folder)``: the method is attached here, where both are
loaded (importing any module of this package runs this file first, so a ``Result`` always has it).
"""

from elsa_tlm.results.result import Result
from elsa_tlm.results.writers import write_result

Result.save = write_result

__all__ = ["Result", "write_result"]
