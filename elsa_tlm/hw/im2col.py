"""The router's im2col unit: expands a core's input spikes into its PE input buffers.

ELSA_BRIEF §3: the router hosts one im2col unit, which broadcasts each input spike to every output position
its kernel window touches and writes the expanded spikes into the PEs' input buffers at up to
``WRITE_SPIKES_PER_CYCLE`` per cycle. A core's lane groups (co-mapped layers, :mod:`elsa_tlm.hw.core`) each
have their own input-buffer queues but share this one unit, so their writes take turns.

The unit serves the groups' transactions first come, first served and never waits for anything else, so it
is fully described by the cycle it becomes free (like :class:`~elsa_tlm.hw.residual.ResidualUnit`): a
transaction that needs w write cycles at ``now`` gets the unit from ``max(now, free_at)`` for w cycles. No
event of its own: the lane group folds the wait into its transaction's time.
"""

from __future__ import annotations

WRITE_SPIKES_PER_CYCLE = 32  # expanded spikes written into the PE input buffers per cycle (ELSA_BRIEF §3)


class Im2colUnit:
    """One per core; ``reserve`` is its port."""

    def __init__(self) -> None:
        self.free_at = 0.0  # cycle the unit finishes the writes it was given
        self.busy_cycles = 0.0  # write cycles over the run
        self.wait_cycles = 0.0  # cycles lane groups waited for it (another group was writing)

    def reserve(self, now: float, cycles: float) -> float:
        """A transaction at ``now`` needs ``cycles`` write cycles: the cycle the unit starts on them."""
        start = now if now >= self.free_at else self.free_at
        self.wait_cycles += start - now
        self.free_at = start + cycles
        self.busy_cycles += cycles
        return start
