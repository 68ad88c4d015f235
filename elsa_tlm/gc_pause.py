"""Python's cyclic garbage collector paused while a simulation runs (:func:`collector_paused`).

Shared by the chip run (:mod:`elsa_tlm.sim`) and the NoC-only synthetic run (:mod:`elsa_tlm.noc.traffic`),
so that concurrent runs of either kind count as one pause; it imports nothing of the package, so any layer
may use it.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused for a run (its previous state restored after).

    A run allocates a few long-lived structures (plan, chip) and then streams short-lived transactions that
    reference counting frees; the collector finds almost nothing to free (ResNet-50 ``lt``: none in the run
    loop; a few thousand objects while the chip is elaborated; ``tests/test_kernel.py`` checks the loop makes
    no cyclic garbage) but its full passes walk every long-lived object again and again: ~0.2 s of a 2 s
    ResNet-50 ``lt`` run (prepare, build, loop, collect). Cyclic garbage a run does make is collected at
    the collector's next pass after it. Nested pauses (``run`` around ``simulate``) are one pause; concurrent
    runs (threads of a sweep) share one: the first thread in records the collector's state, the last out
    restores it, and a thread that finishes while others go on collects then (a chip is cyclic: with runs
    always overlapping, the collector would otherwise never see the finished ones)."""
    global _threads, _was_enabled
    depth = getattr(_local, "depth", 0)
    _local.depth = depth + 1
    if depth == 0:
        with _pause_lock:
            if _threads == 0:
                _was_enabled = gc.isenabled()
                gc.disable()
            _threads += 1
    try:
        yield
    finally:
        _local.depth = depth
        if depth == 0:
            with _pause_lock:
                _threads -= 1
                others = _threads > 0
                if not others and _was_enabled:
                    gc.enable()
            if others:
                gc.collect()


_pause_lock = threading.Lock()
_local = threading.local()  # this thread's nesting depth of collector_paused
_threads = 0  # threads inside collector_paused now
_was_enabled = True  # the collector's state when the first of them began
