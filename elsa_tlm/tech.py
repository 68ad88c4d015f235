"""Technology tables: per-action energy, leakage and area of ELSA's blocks (28 nm, 0.9 V).

Source: ``elsa_tlm/data/elsa_28nm.toml``, a verbatim copy of the project's reference parameters
(ELSA, ISCA 2026, arXiv 2605.20802: synthesized RTL, SRAM compiler macros, DSENT for the NoC).
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from importlib import resources
from typing import Any


@lru_cache(maxsize=1)
def load_tech() -> dict[str, Any]:
    """The parsed 28 nm table (cached; treat as read-only)."""
    text = resources.files("elsa_tlm").joinpath("data/elsa_28nm.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def memory_table(technology: str) -> dict[str, dict[str, float]]:
    """Per-macro read/write energy (pJ per 16-word row), leakage (nW) and area (um2) for a technology.

    eDRAM has no separate tracer table: the tracer buffer uses the weight-buffer macro in both technologies.
    """
    tech = load_tech()
    if technology == "sram":
        src = tech["sram"]
        return {k: dict(src[k]) for k in ("weight", "membrane", "tracer", "input_queue")}
    src = tech["edram"]
    return {
        "weight": dict(src["weight"]),
        "membrane": dict(src["membrane"]),
        "tracer": dict(src["weight"]),
        "input_queue": dict(src["input_queue"]),
    }
