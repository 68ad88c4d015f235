"""Refactors keep behaviour: four runs (the default scenario, ResNet-18 T=2, ViT-Small T=2 token-wise, the
digits SNN with real spikes) give the same summary.json (minus ``sim``), layers.csv, links.csv and cores.csv
byte for byte as tests/golden/ (see tests/golden_cases.py)."""

from __future__ import annotations

import difflib

import pytest
from golden_cases import CASES, FILES, GOLDEN, run_case


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name: str) -> None:
    got = run_case(name)
    for f in FILES:
        want = (GOLDEN / name / f).read_bytes()
        if got[f] != want:
            diff = difflib.unified_diff(
                want.decode().splitlines(), got[f].decode().splitlines(), f"golden/{name}/{f}", "now", n=1
            )
            pytest.fail(f"{name}/{f} differs from the golden file:\n" + "\n".join(list(diff)[:40]))
