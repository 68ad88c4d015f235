"""The golden runs that guard refactors: each case's summary.json (without its ``sim`` block, which holds wall
time and memory), layers.csv, links.csv and cores.csv, byte for byte (tests/test_golden.py).

Regenerate only for an intended change of behaviour, and say so in the commit:
``python scripts/update_golden.py``.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).resolve().parent / "golden"
FILES = ("summary.json", "layers.csv", "links.csv", "cores.csv")

# name -> (scenario file relative to the repo, overrides)
CASES: dict[str, tuple[str | None, list[str]]] = {
    "default": ("scenarios/default.toml", ["output.plots=false"]),
    "resnet18_t2": (None, ['workload.model="resnet18"', "run.time_steps=2", "output.plots=false"]),
    "vit_small_t2": ("scenarios/vit.toml", ["run.time_steps=2", "output.plots=false"]),
    "digits": ("scenarios/digits.toml", ["workload.samples=2", "output.plots=false"]),
    # the what-ifs that were the default before issue 31 (write-port-aware merge, lanes by need, one shared
    # local input FIFO): they must keep giving the results the default gave then (a CNN: no attention)
    "default_port_by_need": (
        "scenarios/default.toml",
        [
            "output.plots=false",
            'mapping.merge="port_aware"',
            'mapping.lanes="by_need"',
            'noc.local_queues="shared"',
        ],
    ),
}


def run_case(name: str) -> dict[str, bytes]:
    """Run one case through the public API and return its guarded files (summary without ``sim``)."""
    from elsa_tlm import api

    scenario, overrides = CASES[name]
    result = api.run(str(ROOT / scenario) if scenario else None, overrides)
    with tempfile.TemporaryDirectory() as tmp:
        folder = result.save(Path(tmp) / name)
        out = {f: (folder / f).read_bytes() for f in FILES}
    summary = json.loads(out["summary.json"])
    summary.pop("sim", None)
    out["summary.json"] = (json.dumps(summary, indent=1, sort_keys=True) + "\n").encode()
    return out
