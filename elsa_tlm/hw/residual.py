"""Residual unit: the router's adder that adds a residual join's skip spikes into the join's membranes.

ELSA's router hosts the residual addition (ELSA_BRIEF §3) with a 16-lane accumulator (``[logic.accumulator]``,
``chip.accumulator_lanes``): skip spikes, decoded from the input FIFOs, are added 16 per cycle; the spikes of
one spine go into one membrane row, so a spine of s skip spikes takes ceil(s / 16) cycles. The unit serves the skip trains of its
core one at a time, in arrival order; a train keeps its FIFO credits until the unit has added it, so a busy
unit back-pressures the skip path like busy PEs back-pressure the main path. It never waits for anything
else, so it cannot deadlock. Its additions (``ops``) are what the energy ledger charges as ``residual``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import simpy


class ResidualUnit:
    """One per core that holds a residual join. ``done(item)`` is the port back to the core."""

    def __init__(
        self, env: simpy.Environment, node: int, capacity: float, done: Callable[[Any], None]
    ) -> None:
        self.env, self.node, self.done = env, node, done
        self.queue = simpy.Store(env, capacity=capacity)  # skip trains waiting (bounded by FIFO credits)
        self.ops = 0  # accumulator cycles (16-lane additions) over the run
        self.busy_cycles = 0
        self.peak = 0
        env.process(self.run())

    def put(self, item: Any, ops: int) -> None:
        """A skip train (with its ops: ceil(spikes/16) per spine) arrived from the flit decoder."""
        self.queue.put((item, ops))
        self.peak = max(self.peak, len(self.queue.items))

    def run(self):
        while True:
            item, ops = yield self.queue.get()
            if ops:
                yield self.env.timeout(ops)
            self.ops += ops
            self.busy_cycles += ops
            self.done(item)
