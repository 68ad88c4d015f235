"""Residual unit: the router's adder that adds a residual join's skip spikes into the join's membranes.

ELSA's router hosts the residual addition (ELSA_BRIEF §3) with a 16-lane accumulator (``[logic.accumulator]``,
``chip.accumulator_lanes``): skip spikes, decoded from the input FIFOs, are added 16 per cycle; the spikes of
one spine go into one membrane row, so a spine of s skip spikes takes ceil(s / 16) cycles. The unit serves the
skip trains of its core one at a time, in arrival order; a train keeps its FIFO credits until the unit has
added it, so a busy unit back-pressures the skip path like busy PEs back-pressure the main path. It never
waits for anything else, so it cannot deadlock. It counts its additions (``ops``) as it makes them and reports
them into the energy ledger (:meth:`ResidualUnit.report`: ``residual``).

A first-come-first-served server that never waits is fully described by the cycle it becomes free: a train
that arrives at ``now`` is added by ``max(now, free_at) + ops``. So the unit schedules one timeout per train
(its completion) instead of running a process over a queue: the same times at a third of the events.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

import simpy

from elsa_tlm.hw.report import ActionSink
from elsa_tlm.kernel import Kernel


class ResidualUnit:
    """One per core that holds a residual join. ``done(item)`` is the port back to the core."""

    def __init__(self, kernel: Kernel, node: int, done: Callable[[Any], None]) -> None:
        self.kernel, self.node, self.done = kernel, node, done
        self.free_at = 0  # cycle the unit finishes the last train it was given
        self.pending: deque[Any] = (
            deque()
        )  # trains given and not yet added, in order (bounded by FIFO credits)
        self.ops = 0  # accumulator cycles (additions of up to 16 spikes) over the run
        self.peak = 0  # most trains waiting or in the adder at once

    @property
    def busy_cycles(self) -> int:
        return self.ops

    def put(self, item: Any, ops: int) -> None:
        """A skip train (with its ops: ceil(spikes / lanes) per spine) arrived from the flit decoder."""
        now = self.kernel.now()
        self.free_at = max(now, self.free_at) + ops
        self.ops += ops
        self.pending.append(item)
        self.peak = max(self.peak, len(self.pending))
        self.kernel.call_at(self.free_at, self._added, None)

    def _added(self, _ev: simpy.Event) -> None:
        self.done(self.pending.popleft())

    def report(self, ledger: ActionSink) -> None:
        """Its additions into the energy ledger (the chip's: a skip train serves every join slice on the core)."""
        ledger.add("accumulator", "residual_op", self.ops)
