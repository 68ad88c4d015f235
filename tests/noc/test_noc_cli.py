"""The noc subcommand: outputs, determinism, refusals, and the parameter dataclass."""

from __future__ import annotations

import csv
import json

import pytest

from elsa_tlm.cli import main
from elsa_tlm.config import load_config
from elsa_tlm.errors import ConfigError
from elsa_tlm.noc.params import noc_config


def _main(argv):
    return main(["noc", *argv])


def test_single_point_outputs_are_deterministic(tmp_path):
    argv = [
        "--topology",
        "mesh:3x3",
        "--rate",
        "0.2",
        "--cycles",
        "500",
        "--warmup",
        "50",
        "--set",
        "noc.flit_bits=128",
    ]
    assert _main([*argv, "--out", str(tmp_path / "a")]) == 0
    assert _main([*argv, "--out", str(tmp_path / "b")]) == 0
    ja, jb = (json.loads((tmp_path / x / "noc.json").read_text()) for x in "ab")
    assert ja.pop("wall_s") >= 0 and jb.pop("wall_s") >= 0 and ja == jb
    assert ja["params"]["flit_bits"] == 128 and ja["offered_rate"] > 0
    assert (tmp_path / "a" / "links.csv").read_bytes() == (tmp_path / "b" / "links.csv").read_bytes()
    rows = list(csv.DictReader((tmp_path / "a" / "links.csv").open()))
    assert len(rows) == 24 and {"utilisation", "busy_cycles"} <= set(rows[0])


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["--topology", "mesh:0x6"], "noc.topology"),
        (["--set", "noc.flit_bits=16"], "noc.flit_bits"),
        (["--set", "noc.fifo_depth=3"], "unknown key"),
        (["--topology", "ring:6", "--routing", "xy"], "noc.routing"),
        (["--rate", "-1"], "rate"),
        (["--sweep", "0.5:0.1:0.1"], "--sweep"),
        (["--topology", "file:missing.graphml"], "does not exist"),
    ],
)
def test_bad_input_one_line_exit_2_nothing_written(tmp_path, capsys, argv, needle):
    out = tmp_path / "out"
    assert _main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and needle in err[0]
    assert not out.exists()


def test_sweep_stops_after_saturation(tmp_path):
    out = tmp_path / "s"
    argv = [
        "--topology",
        "mesh:3x3",
        "--cycles",
        "400",
        "--warmup",
        "50",
        "--sweep",
        "0.3:1.0:0.35",
        "--out",
        str(out),
    ]
    assert _main(argv) == 0
    rows = list(csv.DictReader((out / "noc_sweep.csv").open()))
    assert [float(r["rate"]) for r in rows] == [0.3, 0.65, 1.0][: len(rows)]
    assert (out / "latency_throughput.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((out / "noc.json").read_text())["saturation_bound"] > 0


def test_noc_config_is_the_scenario_schema():
    p = noc_config(flit_bits=128, routing="shortest")
    assert p.flit_bits == 128 and p.router_pipeline_cycles == 8
    assert p == load_config(None, ["noc.flit_bits=128", 'noc.routing="shortest"']).noc
    with pytest.raises(ConfigError) as ei:
        noc_config(link_bits="wide")
    assert ei.value.key == "noc.link_bits"
    with pytest.raises(ConfigError, match="noc.fifo_bytes"):
        noc_config(fifo_bytes=16)
    with pytest.raises(ConfigError, match="noc.switch_alloc_cycles"):
        noc_config(switch_alloc_cycles=-2)


def test_noc_cli_takes_every_scenario_noc_key(tmp_path):
    out = tmp_path / "o"
    argv = [
        "--topology",
        "mesh:3x3",
        "--rate",
        "0.05",
        "--cycles",
        "500",
        "--warmup",
        "50",
        "--out",
        str(out),
    ]
    assert _main([*argv, "--set", "noc.router_pipeline_cycles=4"]) == 0
    params = json.loads((out / "noc.json").read_text())["params"]
    assert (
        params["router_pipeline_cycles"] == 4
        and sum(params[k] for k in ("route_compute_cycles", "switch_alloc_cycles", "switch_traversal_cycles"))
        == 4
    )


@pytest.mark.parametrize(
    ("args", "key"),
    [
        (["--seed", "-1"], "seed"),
        (["--rate", "nan"], "--rate"),
        (["--rate", "inf"], "--rate"),
        (["--sweep", "0:inf:0.1"], "--sweep"),
        (["--set", "noc.flit_bits=inf"], "noc.flit_bits"),
        (["--set", "chip.clock_mhz=100"], "chip.clock_mhz"),
    ],
)
def test_noc_cli_bad_values_are_one_line(tmp_path, capsys, args, key):
    assert _main(["--topology", "mesh:3x3", "--cycles", "100", "--out", str(tmp_path / "o"), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {key}")
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())
