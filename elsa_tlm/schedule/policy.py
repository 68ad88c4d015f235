"""Emission policies: when a layer's fired output spines may leave its core (ELSA's pipelines and baselines).

A policy is asked once per fired stretch of a step: given the step, whether the step is now complete and
when each fired output is complete, it answers when each *emitted* spine (after the fused pool) leaves, or
that the spines are held (they go with a later answer). The three pipelines of ELSA_BRIEF §2:

* :class:`SpineWise` (``spine``; ``token`` for a transformer, whose spines are tokens): a spine leaves as soon
  as it is fired, so the next layer starts on it while this one works on the rest (ELSA);
* :class:`StepWise` (``tbt``): a layer's step leaves when the whole step is fired (layer-wise pipelining of
  time steps);
* :class:`LayerWise` (``lbl``): a layer's outputs leave only when all its steps are fired (layer by layer).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from typing import Final, Protocol

_bisect_right: Final = bisect_right  # hot-path rule 1

Ready = Callable[[int], int]  # emitted spine (emission position) -> the cycle it is complete


class EmissionPolicy(Protocol):
    name: str

    def leave(
        self,
        step: int,
        step_end: bool,
        last_step: int,
        at: Callable[[int], int],
        fired: int,
        emit_count: list[int],
    ) -> Ready | None:
        """When the pending emitted spines leave: ``at(f)`` is the cycle the f-th output of ``step`` (release
        order) is complete, ``fired`` the outputs fired so far, ``emit_count[f]`` the spines emitted once f
        outputs are fired. None: hold them."""


class SpineWise:
    """Each spine leaves when the outputs it pools are fired."""

    def __init__(self, name: str = "spine") -> None:
        self.name = name

    def leave(
        self,
        step: int,
        step_end: bool,
        last_step: int,
        at: Callable[[int], int],
        fired: int,
        emit_count: list[int],
    ) -> Ready | None:
        return lambda e: at(_bisect_right(emit_count, e))


class StepWise:
    """A step's spines leave together when the step is complete."""

    name = "tbt"

    def leave(
        self,
        step: int,
        step_end: bool,
        last_step: int,
        at: Callable[[int], int],
        fired: int,
        emit_count: list[int],
    ) -> Ready | None:
        if not step_end:
            return None
        done = at(fired)
        return lambda e: done


class LayerWise:
    """All spines leave together when the layer's last step is complete."""

    name = "lbl"

    def leave(
        self,
        step: int,
        step_end: bool,
        last_step: int,
        at: Callable[[int], int],
        fired: int,
        emit_count: list[int],
    ) -> Ready | None:
        if not (step_end and step == last_step):
            return None
        done = at(fired)
        return lambda e: done


def policy_for(name: str) -> EmissionPolicy:
    """The policy object of a ``schedule.policy`` value (the config has checked the name)."""
    if name in ("spine", "token"):
        return SpineWise(name)
    if name == "tbt":
        return StepWise()
    if name == "lbl":
        return LayerWise()
    raise ValueError(f"unknown schedule policy {name!r}; valid: spine, token, tbt, lbl")
