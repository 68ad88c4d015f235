"""NoC parameters: a frozen dataclass with ELSA defaults, built from a mapping with strict validation.

The lead's config section ``[noc]`` uses exactly these key names. Every other NoC module reads these values
as attributes (duck typing), so any object with the same attributes works too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from elsa_tlm.errors import ConfigError

PROTOCOLS = ("baer", "aer_truenorth", "aer_morphic")
ROUTINGS = ("xy", "shortest", "valiant", "multipath")
FLIT_BITS_MIN, FLIT_BITS_MAX = 48, 256


@dataclass(frozen=True)
class NocParams:
    """Router/link parameters of the network-on-chip (units in the names; cycles are router clock cycles)."""

    topology: str = "mesh:6x6"
    routing: str = "xy"
    protocol: str = "baer"
    flit_bits: int = 256
    link_bits: int = 512  # bits a link (and a local port) moves per cycle
    fifo_bytes: int = 512  # one FIFO queue of an input port
    fifo_count: int = 4  # FIFO queues per input port (pooled: capacity = count * bytes)
    route_compute_cycles: int = 3
    switch_alloc_cycles: int = 3
    switch_traversal_cycles: int = 2
    link_latency_cycles: int = 0  # ELSA's 8 cycles per hop already include the wire
    deadlock_timeout_cycles: int = 20000
    local_port_cycles: int = 1  # core->router injection and router->core ejection latency, each

    @property
    def router_pipeline_cycles(self) -> int:
        """Per-router head latency: route compute + switch allocation + switch traversal."""
        return self.route_compute_cycles + self.switch_alloc_cycles + self.switch_traversal_cycles

    @classmethod
    def from_mapping(cls, d: Mapping[str, object] | None = None, base_dir: Path | None = None) -> NocParams:
        """Defaults + overrides from ``d`` (keys without the ``noc.`` prefix), validated.

        ``base_dir`` is accepted for symmetry with the topology builder (file paths are resolved there);
        unknown keys, wrong types and out-of-range values raise ConfigError naming ``noc.<key>``.
        """
        d = dict(d or {})
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for key in d:
            if key not in fields:
                raise ConfigError(
                    f"noc.{key}", d[key], f"unknown key; valid keys: {', '.join(sorted(fields))}"
                )
        values: dict[str, object] = {}
        for name, f in fields.items():
            if name not in d:
                continue
            v = d[name]
            if f.type in ("int", int):
                if isinstance(v, bool) or not isinstance(v, int):
                    if isinstance(v, str) and v.strip().lstrip("-").isdigit():
                        v = int(v)
                    else:
                        raise ConfigError(f"noc.{name}", v, "must be an integer")
            elif not isinstance(v, str):
                raise ConfigError(f"noc.{name}", v, "must be a string")
            values[name] = v
        p = cls(**values)  # type: ignore[arg-type]
        p.validate()
        return p

    def validate(self) -> None:
        """Range checks; raise ConfigError naming the key, the value and the rule."""
        validate_params(self)


def validate_params(p: object) -> None:
    """Range checks for any object with NocParams attributes."""
    if p.routing not in ROUTINGS:
        raise ConfigError("noc.routing", p.routing, f"must be one of {', '.join(ROUTINGS)}")
    if p.protocol not in PROTOCOLS:
        raise ConfigError("noc.protocol", p.protocol, f"must be one of {', '.join(PROTOCOLS)}")
    if not FLIT_BITS_MIN <= p.flit_bits <= FLIT_BITS_MAX:
        raise ConfigError("noc.flit_bits", p.flit_bits, f"must be in {FLIT_BITS_MIN}..{FLIT_BITS_MAX} bits")
    for key in ("link_bits", "fifo_bytes", "fifo_count", "deadlock_timeout_cycles"):
        if getattr(p, key) < 1:
            raise ConfigError(f"noc.{key}", getattr(p, key), "must be >= 1")
    for key in (
        "route_compute_cycles",
        "switch_alloc_cycles",
        "switch_traversal_cycles",
        "link_latency_cycles",
        "local_port_cycles",
    ):
        if getattr(p, key) < 0:
            raise ConfigError(f"noc.{key}", getattr(p, key), "must be >= 0 cycles")
    if p.fifo_bytes * 8 < p.flit_bits:
        raise ConfigError(
            "noc.fifo_bytes",
            p.fifo_bytes,
            f"a FIFO must hold at least one {p.flit_bits}-bit flit (8*bytes >= flit_bits)",
        )


def buffer_flits(p: object) -> int:
    """Capacity of one router input port in flits: fifo_count x floor(fifo_bytes*8 / flit_bits)."""
    return p.fifo_count * ((p.fifo_bytes * 8) // p.flit_bits)


def parse_overrides(items: list[str] | None) -> dict[str, object]:
    """Parse CLI ``--set noc.KEY=VALUE`` items into a dict keyed without the ``noc.`` prefix."""
    out: dict[str, object] = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError("--set", item, "must look like noc.KEY=VALUE")
        key, value = item.split("=", 1)
        key = key.strip()
        if not key.startswith("noc."):
            raise ConfigError(key, value, "only noc.* keys can be set by the noc subcommand")
        v: object = value.strip()
        if isinstance(v, str) and v.lstrip("-").isdigit():
            v = int(v)
        out[key[4:]] = v
    return out
