"""summary.json has a documented schema (docs/summary.schema.json) and real summaries validate against it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jsonschema
import pytest

from elsa_tlm import api

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import summary_schema  # noqa: E402

SCHEMA = json.loads((ROOT / "docs" / "summary.schema.json").read_text())


def test_the_schema_file_is_current_and_valid() -> None:
    assert (ROOT / "docs" / "summary.schema.json").read_text() == summary_schema.text()
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("name", ["default", "resnet18_t2", "vit_small_t2", "digits"])
def test_golden_summaries_validate(name: str) -> None:
    s = json.loads((ROOT / "tests" / "golden" / name / "summary.json").read_text())
    s["sim"] = {"wall_s": 1.0, "events": 1, "peak_rss_mb": 1.0, "mode": "at"}  # the golden files leave it out
    jsonschema.validate(s, SCHEMA)


def test_a_fresh_run_as_written_validates(tmp_path: Path) -> None:
    r = api.run(
        "default", ["run.time_steps=2", "output.plots=false", "run.mode=lt", "memory.technology=edram"]
    )
    folder = r.save(tmp_path / "r")
    jsonschema.validate(json.loads((folder / "summary.json").read_text()), SCHEMA)


def test_an_analytic_run_validates_and_names_what_it_leaves_out(tmp_path: Path) -> None:
    """The analytic mode's summary says which terms the closed form leaves out and which simulation has them."""
    r = api.run("default", ["run.time_steps=2", "output.plots=false", 'run.mode="analytic"'])
    s = json.loads((r.save(tmp_path / "r") / "summary.json").read_text())
    jsonschema.validate(s, SCHEMA)
    assert s["sim"]["mode"] == "analytic"
    assert any(t.startswith("back-pressure") for t in s["sim"]["not_modelled"])
    assert "run.lt_backpressure = true" in s["sim"]["fallback"]


def test_an_unknown_field_fails_validation() -> None:
    s = json.loads((ROOT / "tests" / "golden" / "default" / "summary.json").read_text())
    s["sim"] = {"wall_s": 1.0, "events": 1, "peak_rss_mb": 1.0, "mode": "at"}
    s["latency_cycels"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(s, SCHEMA)
