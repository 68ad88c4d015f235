import json
import subprocess
import sys
from pathlib import Path

import pytest

from elsa_tlm.cli import main

SMALL_SCENARIO = """version = 1
name = "tiny"
[workload]
model = "vgg16_cifar10"
[run]
time_steps = 2
[output]
plots = {plots}
"""


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "elsa_tlm.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("version = 1\n[noc]\ntopolgy = 'mesh:6x6'\n", "noc.topolgy"),
        ("version = 1\n[noc]\ntopology = 'mesh:0x6'\n", "noc.topology"),
        ("version = 1\n[chip]\nclock_mhz = 0\n", "chip.clock_mhz"),
    ],
)
def test_validate_bad_scenarios_exit_2_without_traceback(tmp_path, body, needle):
    f = tmp_path / "s.toml"
    f.write_text(body)
    p = run_cli("validate", str(f))
    assert p.returncode == 2
    assert needle in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_validate_missing_file(tmp_path):
    p = run_cli("validate", str(tmp_path / "missing.toml"))
    assert p.returncode == 2 and "file not found" in p.stderr and "Traceback" not in p.stderr


def test_validate_ok():
    root = Path(__file__).resolve().parents[1]
    p = run_cli("validate", str(root / "scenarios" / "default.toml"))
    assert p.returncode == 0, p.stderr


def test_run_writes_contract_and_rerun_is_byte_identical(tmp_path, capsys):
    scen = tmp_path / "tiny.toml"
    scen.write_text(SMALL_SCENARIO.format(plots="true"))
    out = tmp_path / "out"
    assert main(["run", str(scen), "--out", str(out)]) == 0
    for name in [
        "summary.json",
        "layers.csv",
        "links.csv",
        "mapping.json",
        "config.resolved.toml",
        "timeline.png",
        "energy.png",
        "mapping.png",
    ]:
        assert (out / name).exists(), name
    header = (out / "layers.csv").read_text().splitlines()[0].split(",")
    for col in [
        "layer",
        "cores",
        "input_spikes",
        "output_spikes",
        "packets_in",
        "flits_in",
        "busy_cycles",
        "first_spine_cycle",
        "last_spine_cycle",
        "energy_j",
    ]:
        assert col in header
    assert (out / "links.csv").read_text().splitlines()[0] == "src,dst,packets,flits,bits,busy_cycles"
    out2 = tmp_path / "out2"
    assert main(["run", str(out / "config.resolved.toml"), "--out", str(out2)]) == 0
    a = json.loads((out / "summary.json").read_text())
    b = json.loads((out2 / "summary.json").read_text())
    a.pop("sim"), b.pop("sim")
    assert a == b
    assert (out / "layers.csv").read_bytes() == (out2 / "layers.csv").read_bytes()


def test_bad_override_leaves_previous_results_untouched(tmp_path):
    scen = tmp_path / "tiny.toml"
    scen.write_text(SMALL_SCENARIO.format(plots="false"))
    out = tmp_path / "out"
    assert main(["run", str(scen), "--out", str(out)]) == 0
    before = (out / "summary.json").read_bytes()
    assert main(["run", str(scen), "--out", str(out), "--set", "noc.flit_bits=7"]) == 2
    assert main(["run", str(scen), "--out", str(out), "--set", "noc.topology=mesh:2x2"]) == 2
    assert (out / "summary.json").read_bytes() == before


def test_save_activity_then_replay_gives_same_result(tmp_path):
    scen = tmp_path / "tiny.toml"
    scen.write_text(SMALL_SCENARIO.format(plots="false"))
    npz = tmp_path / "act.npz"
    assert main(["run", str(scen), "--out", str(tmp_path / "a"), "--save-activity", str(npz)]) == 0
    assert (
        main(
            [
                "run",
                str(scen),
                "--out",
                str(tmp_path / "b"),
                "--set",
                'workload.activity="replay"',
                "--set",
                f'workload.replay_path="{npz}"',
            ]
        )
        == 0
    )
    a = json.loads((tmp_path / "a" / "summary.json").read_text())
    b = json.loads((tmp_path / "b" / "summary.json").read_text())
    for k in ("sim", "activity"):
        a.pop(k), b.pop(k)
    assert a == b


def test_replay_of_wrong_file_is_refused(tmp_path):
    scen = tmp_path / "tiny.toml"
    scen.write_text(SMALL_SCENARIO.format(plots="false"))
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not an npz")
    rc = main(
        [
            "run",
            str(scen),
            "--out",
            str(tmp_path / "c"),
            "--set",
            'workload.activity="replay"',
            "--set",
            f'workload.replay_path="{bad}"',
        ]
    )
    assert rc == 2 and not (tmp_path / "c").exists()


def test_an_analytic_run_says_what_it_leaves_out(tmp_path, capsys):
    """The closed form's numbers come with its caveat (no back-pressure) and where it is measured; a simulated
    run's do not."""
    scen = tmp_path / "tiny.toml"
    scen.write_text(SMALL_SCENARIO.format(plots="false"))
    assert main(["run", str(scen), "--out", str(tmp_path / "an"), "--set", 'run.mode="analytic"']) == 0
    err = capsys.readouterr().err
    assert "note: analytic mode" in err and "back-pressure" in err and "MODEL.md §6b" in err
    assert main(["run", str(scen), "--out", str(tmp_path / "at")]) == 0
    assert "note: analytic mode" not in capsys.readouterr().err
