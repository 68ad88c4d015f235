"""NoC parameters: the ``[noc]`` section of the scenario schema is the only schema.

:class:`elsa_tlm.config.NocConfig` defines every NoC key, its default, unit and rule; the NoC subsystem reads
those values as attributes. :func:`noc_config` builds a validated section (derived router stages filled in)
for the standalone NoC tools and tests, through the same checks a scenario goes through.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from elsa_tlm.config import FLIT_BITS_MAX, FLIT_BITS_MIN, PROTOCOLS, ROUTINGS, NocConfig, from_dict
from elsa_tlm.hw.channel import queue_share

__all__ = [
    "FLIT_BITS_MAX",
    "FLIT_BITS_MIN",
    "PROTOCOLS",
    "ROUTINGS",
    "NocConfig",
    "buffer_flits",
    "noc_config",
]


def noc_config(base_dir: Path | None = None, **values: Any) -> NocConfig:
    """A validated ``[noc]`` section from ``key=value`` pairs (keys without the ``noc.`` prefix).

    Unknown keys, wrong types and out-of-range values raise ConfigError naming ``noc.<key>``; ``file:``
    topologies resolve against ``base_dir`` (default: the working folder).
    """
    return from_dict({"version": 1, "noc": values}, base_dir=base_dir or Path.cwd()).noc


def buffer_flits(p: Any) -> int:
    """Capacity of one router input port in flits: fifo_count x floor(fifo_bytes*8 / flit_bits)."""
    return p.fifo_count * ((p.fifo_bytes * 8) // p.flit_bits)


def train_flits(p: Any, train_bytes: int, streams: int = 1) -> int:
    """The most flits one train carries into a core with ``streams`` incoming streams: half the consumer's
    input FIFOs for its stream (one train is absorbed while the next arrives, and a train always fits them
    empty; with ``noc.input_queues = "per_stream"`` a stream has ``queue_share`` of them) and at most
    ``train_bytes`` (``run.train_bytes``). A train is the simulation's transaction on the NoC and leaves with
    its last spine, so its size is the timing's resolution: it must not grow with the FIFOs (16 KB FIFOs would
    otherwise hold a spine back until 8 KB of its successors were ready; ViT-Small took 8 % longer with 8 KB
    queues than with the brief's 512 B)."""
    fifos = buffer_flits(p)
    if p.input_queues == "per_stream":
        fifos = queue_share(fifos, p.fifo_count, streams)
    return max(1, min(fifos // 2, (train_bytes * 8) // p.flit_bits))
