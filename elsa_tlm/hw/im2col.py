"""The router's im2col unit: expands a core's input spikes into its PE input buffers.

ELSA_BRIEF §3: the router hosts one im2col unit, which broadcasts each input spike to every output position
its kernel window touches and writes the expanded spikes into the PEs' input buffers at up to
``WRITE_SPIKES_PER_CYCLE`` per cycle. A core's lane groups (co-mapped layers, :mod:`elsa_tlm.hw.core`) each
have their own input-buffer queues but share this one unit, so their writes take turns.

The unit serves the groups' writes round robin, spike group by spike group, as a hardware arbiter between
the input-buffer ports would; it never waits for anything else. A transaction that needs w write cycles when
the unit still has a backlog of b cycles of other groups' writes shares it with them: its writes interleave
with the backlog and finish after w + min(b, w) cycles (a wait of min(b, w)), while the total work is
conserved (the backlog grows by w). So it is fully described by the cycle its backlog ends (like
:class:`~elsa_tlm.hw.residual.ResidualUnit`), with no event of its own: the lane group folds the wait into
its transaction's timeline.
"""

from __future__ import annotations

from typing import Final

WRITE_SPIKES_PER_CYCLE: Final = (
    32  # expanded spikes written into the PE input buffers per cycle (ELSA_BRIEF §3)
)


class Im2colUnit:
    """One per core; ``reserve`` is its port."""

    def __init__(self) -> None:
        self.free_at = 0.0  # cycle the unit finishes the writes it was given
        self.busy_cycles = 0.0  # write cycles over the run
        self.wait_cycles = 0.0  # cycles lane groups waited for it (another group was writing)

    def reserve(self, now: float, cycles: float) -> float:
        """A transaction at ``now`` needs ``cycles`` write cycles: the cycles its writes wait for the other
        groups' (round robin with their backlog)."""
        backlog = self.free_at - now if self.free_at > now else 0.0
        wait = backlog if backlog < cycles else cycles
        self.wait_cycles += wait
        self.free_at = now + backlog + cycles
        self.busy_cycles += cycles
        return wait
