"""NoC parameters: the ``[noc]`` section of the scenario schema is the only schema.

:class:`elsa_tlm.config.NocConfig` defines every NoC key, its default, unit and rule; the NoC subsystem reads
those values as attributes. :func:`noc_config` builds a validated section (derived router stages filled in)
for the standalone NoC tools and tests, through the same checks a scenario goes through.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from elsa_tlm.config import FLIT_BITS_MAX, FLIT_BITS_MIN, PROTOCOLS, ROUTINGS, NocConfig, from_dict

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
