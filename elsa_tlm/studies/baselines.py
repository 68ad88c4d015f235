"""Published figures of the chips ELSA is judged against (the paper's Tables IV, V and VI), as data.

``elsa_tlm/data/baselines.toml`` is a copy of the project's reference file (its header names the sources).
Every figure here is a *published* number at the chip's own technology, voltage and clock; the simulated chip's
figures are always computed from a run (:mod:`elsa_tlm.studies.compare`), never taken from here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from elsa_tlm.datafiles import DataFile, read_toml
from elsa_tlm.errors import ConfigError

KINDS = ("snn_elastic", "snn_non_elastic", "qann", "qann_cim", "large_chip")
NUMERIC = ("technology_nm", "gops", "tops_per_w")  # every chip has these
TEXT = ("table", "network", "note", "accuracy")  # optional strings
OPTIONAL_NUMERIC = ("clock_mhz", "area_mm2", "gops_per_mm2", "pj_per_sop", "voltage_v", "cores", "memory_kb")


@dataclass(frozen=True)
class Baseline:
    chip: str
    kind: str
    table: str
    network: str | None
    technology_nm: float
    clock_mhz: float | None
    gops: float
    tops_per_w: float
    area_mm2: float | None
    gops_per_mm2: float | None
    pj_per_sop: float | None
    note: str
    accuracy: str


def load_baselines(path: str | Path | None = None) -> dict[str, Baseline]:
    """The baselines file (the packaged one by default), checked: a missing or non-numeric figure is refused
    naming the chip and the field."""
    where = str(path) if path else "elsa_tlm/data/baselines.toml"
    try:
        text = (
            Path(path).read_bytes().decode("utf-8-sig")
            if path
            else resources.files("elsa_tlm").joinpath("data/baselines.toml").read_text(encoding="utf-8")
        )
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("baselines", where, f"cannot be read ({exc})") from None
    try:
        raw = read_toml(DataFile("baselines", where), text)  # nesting limited, syntax errors located
    except ConfigError as exc:
        raise ConfigError("baselines", where, f"cannot be read ({exc.rule})") from None
    chips = raw.get("chips")
    if not isinstance(chips, dict) or not chips:
        raise ConfigError("baselines", where, "needs a [chips.<name>] table per chip")
    out: dict[str, Baseline] = {}
    for name, c in chips.items():
        if not isinstance(c, dict):
            raise ConfigError(f"chips.{name}", c, f"must be a table (in {where})")

        def num(key: str, required: bool, c: dict = c, name: str = name) -> float | None:
            v = c.get(key)
            if v is None:
                if required:
                    raise ConfigError(f"chips.{name}.{key}", None, f"missing in {where}")
                return None
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v <= 0:
                # positive: ratios divide by these figures
                raise ConfigError(f"chips.{name}.{key}", v, f"must be a finite positive number (in {where})")
            return float(v)

        kind = c.get("kind")
        if kind not in KINDS:
            raise ConfigError(f"chips.{name}.kind", kind, f"must be one of {', '.join(KINDS)} (in {where})")
        for key in TEXT:
            if key in c and not isinstance(c[key], str):
                raise ConfigError(f"chips.{name}.{key}", c[key], f"must be a string (in {where})")
        vals = {k: num(k, True) for k in NUMERIC} | {k: num(k, False) for k in OPTIONAL_NUMERIC}
        out[name] = Baseline(
            chip=name,
            kind=kind,
            table=str(c.get("table", "")),
            network=c.get("network"),
            technology_nm=vals["technology_nm"],
            clock_mhz=vals["clock_mhz"],
            gops=vals["gops"],
            tops_per_w=vals["tops_per_w"],
            area_mm2=vals["area_mm2"],
            gops_per_mm2=vals["gops_per_mm2"],
            pj_per_sop=vals["pj_per_sop"],
            note=str(c.get("note", "")),
            accuracy=str(c.get("accuracy", "")),
        )
    return out
