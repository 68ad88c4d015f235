"""Components an architect adds as plain SimPy processes (docs/EXTENDING.md, examples/custom_component.py)."""

from __future__ import annotations

import runpy
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import SMALL

from elsa_tlm import api
from elsa_tlm.chip import Chip, input_port
from elsa_tlm.errors import ConfigError, StallError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "custom_component.py"


def test_a_host_link_delays_the_first_layer_by_what_it_streams() -> None:
    """A process that admits the whole input only at cycle D: the first layer's first transaction cannot
    start before D, so the first output moves by about D (and never earlier); all input at cycle 0 through the
    port is the brief's chip exactly."""
    cfg = api.load_config(None, SMALL)
    base = api.run(cfg).summary

    def at_cycle(d: int) -> Any:
        def extend(chip: Chip) -> None:
            first = next(s for s in chip.slices.values() if s.first)
            port = input_port(chip, 1)

            def link() -> Iterator[Any]:
                if d:
                    yield chip.kernel.timeout(d)
                yield port.put(first.T * first.n_in, 1)

            chip.kernel.process(link())

        return api.run(cfg, extend=extend).summary

    same = at_cycle(0)
    assert (same["latency_cycles"], same["first_output_cycle"]) == (
        base["latency_cycles"],
        base["first_output_cycle"],
    )
    late = at_cycle(5000)
    assert late["first_output_cycle"] >= base["first_output_cycle"] + 5000 - 50
    assert late["latency_cycles"] > base["latency_cycles"]


def test_a_link_that_never_delivers_is_a_stall_not_a_hang() -> None:
    cfg = api.load_config(None, SMALL)

    def extend(chip: Chip) -> None:
        input_port(chip, 1)  # bound, and nothing ever put into it

    with pytest.raises(StallError, match="stalled"):
        api.run(cfg, extend=extend)


def test_extend_is_refused_where_there_is_no_chip() -> None:
    with pytest.raises(ConfigError, match="no chip to extend"):
        api.run(api.load_config(None, [*SMALL, 'run.mode="analytic"']), extend=lambda chip: None)
    with pytest.raises(ConfigError, match="extend"):
        api.run(api.load_config(None, SMALL), extend=3)  # type: ignore[arg-type]


def test_the_example_runs_and_shows_its_effect(monkeypatch: pytest.MonkeyPatch) -> None:
    """examples/custom_component.py, at T = 2: the slower the link, the later the first output."""
    run = runpy.run_path(str(EXAMPLE))["run_with_link"]
    monkeypatch.setitem(run.__globals__, "SCENARIO", ["run.time_steps=2", "output.plots=false"])
    base, fast, slow = run(None), run(64.0), run(1.0)
    assert slow["image_in"] == 3072  # 32 x 32 pixels x 3 channels x 8 bits at 1 B/cycle
    assert base["first"] <= fast["first"] <= slow["first"]
    assert slow["first"] > base["first"]


@pytest.mark.skipif(sys.platform == "win32", reason="posix shell")
def test_the_example_is_a_script() -> None:
    p = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "B/cycle" in p.stdout and "first output" in p.stdout
