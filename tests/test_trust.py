"""Trust: a user's files are never damaged, bad values are refused at the door, validate refuses what run
would, sweeps die with their parent, and the public API works as documented."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import elsa_tlm
from elsa_tlm.cli import main
from elsa_tlm.errors import ElsaError

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = str(ROOT / "scenarios" / "default.toml")
T2 = ["--set", "run.time_steps=2", "--set", "output.plots=false"]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _one_error(capsys, needle: str = "") -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert needle in err[0], err[0]
    return err[0]


# ------------------------------------------------------------------------------------------- output folders
def test_run_refuses_an_existing_folder_that_is_not_a_result(tmp_path: Path, capsys) -> None:
    mine = tmp_path / "scenarios"
    mine.mkdir()
    (mine / "keep.toml").write_text("precious = 1\n")
    (mine / "sub").mkdir()
    (mine / "sub" / "data.csv").write_text("a,b\n")
    before = _snapshot(mine)
    assert main(["run", DEFAULT, *T2, "--out", str(mine)]) == 2
    _one_error(capsys, "not an elsa-tlm result folder")
    assert _snapshot(mine) == before


def test_run_replaces_its_own_result_but_not_files_the_user_added(tmp_path: Path, capsys) -> None:
    out = tmp_path / "r"
    assert main(["run", DEFAULT, *T2, "--out", str(out)]) == 0
    assert json.loads((out / ".elsa-tlm.json").read_text())["kind"] == "run"
    assert main(["run", DEFAULT, *T2, "--set", "run.seed=2", "--out", str(out)]) == 0  # a result: replaced
    assert json.loads((out / "summary.json").read_text())["seed"] == 2
    (out / "notes.txt").write_text("mine")
    capsys.readouterr()
    assert main(["run", DEFAULT, *T2, "--out", str(out)]) == 2
    _one_error(capsys, "notes.txt")
    assert (out / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("where", [".", "/"])
def test_run_refuses_the_working_folder_and_the_root(where: str, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x").write_text("x")
    assert main(["run", DEFAULT, *T2, "--out", where]) == 2
    _one_error(capsys, "--out")
    assert (tmp_path / "x").read_text() == "x"


def test_read_only_output_is_refused_before_simulating(tmp_path: Path, capsys) -> None:
    if os.geteuid() == 0:
        pytest.skip("root ignores file permissions")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    t0 = time.perf_counter()
    assert main(["run", DEFAULT, *T2, "--out", str(ro / "r")]) == 2
    assert time.perf_counter() - t0 < 2
    _one_error(capsys, "not writable")


def test_concurrent_runs_into_one_folder_are_serialised(tmp_path: Path) -> None:
    out = tmp_path / "same"
    result = elsa_tlm.run(DEFAULT, ["run.time_steps=2", "output.plots=false"])
    errors: list[BaseException] = []

    def save() -> None:
        try:
            for _ in range(5):
                result.save(out)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=save) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert (
        json.loads((out / "summary.json").read_text())["latency_cycles"] == result.summary["latency_cycles"]
    )
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".same")]  # no temp folders left


@pytest.mark.parametrize("name", ["..", ".hidden", "../../x", "a/b"])
def test_names_that_are_not_one_safe_folder_name_are_refused(name: str, tmp_path: Path, capsys) -> None:
    scen = tmp_path / "s.toml"
    scen.write_text(f'version = 1\nname = "{name}"\n')
    assert main(["validate", str(scen)]) == 2
    _one_error(capsys, "name")
    sweep = tmp_path / "w.toml"
    sweep.write_text(f'version = 1\nname = "{name}"\n[axes]\n"run.seed" = [1]\n')
    assert main(["sweep", str(sweep), "--dry-run"]) == 2
    _one_error(capsys, "name")


# -------------------------------------------------------------------------------------------- bad values
@pytest.mark.parametrize(
    "override",
    [
        "chip.clock_mhz=inf",
        "chip.clock_mhz=1e-300",
        "chip.dram_pj_per_bit=inf",
        "pe.weight_sram_kib=inf",
        "pe.weight_sram_kib=nan",
        "workload.classifier_density=inf",
        "workload.classifier_density=nan",
        "workload.classifier_density=5",
        "run.time_steps=1000000",
        "run.exit_confidence=nan",
    ],
)
def test_non_finite_and_absurd_numbers_are_refused(override: str, tmp_path: Path, capsys) -> None:
    key = override.split("=")[0]
    assert main(["validate", DEFAULT, "--set", override]) == 2
    _one_error(capsys, key)
    assert main(["run", DEFAULT, "--set", override, "--out", str(tmp_path / "o")]) == 2
    _one_error(capsys, key)
    assert not (tmp_path / "o").exists()


def test_sweep_axes_with_non_finite_values_are_refused(tmp_path: Path, capsys) -> None:
    sweep = tmp_path / "w.toml"
    sweep.write_text('version = 1\n[axes]\n"chip.clock_mhz" = [200, inf]\n')
    assert main(["sweep", str(sweep), "--out", str(tmp_path / "o")]) == 2
    _one_error(capsys, "chip.clock_mhz")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ('noc.topology="torus:2x2"', "torus dimensions"),
        ('noc.topology="ring:36"', "noc.routing"),  # XY needs a grid
        ('noc.topology="mesh:2x2"', "needs 14 cores"),
        ('noc.topology="file:/nonexistent.graphml"', "does not exist"),
    ],
)
def test_validate_refuses_what_run_refuses(override: str, needle: str, capsys) -> None:
    assert main(["validate", DEFAULT, "--set", override]) == 2
    _one_error(capsys, needle)


def test_validate_reports_the_mapping(capsys) -> None:
    assert main(["validate", DEFAULT]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ok: ") and "cores" in out and "work items" in out


# -------------------------------------------------------------------------------- files the user gives us
def test_replay_files_are_checked(tmp_path: Path, capsys) -> None:
    good = tmp_path / "a.npz"
    assert main(["run", DEFAULT, *T2, "--out", str(tmp_path / "r"), "--save-activity", str(good)]) == 0
    replay = ["--set", 'workload.activity="replay"']
    # truncated archive
    trunc = tmp_path / "t.npz"
    trunc.write_bytes(good.read_bytes()[:200])
    # not a zip at all
    text = tmp_path / "x.npz"
    text.write_text("hello")
    # plausible shape, absurd counts
    with np.load(good) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["in:features.3"] = arrays["in:features.3"] * 1_000_000
    huge = tmp_path / "huge.npz"
    np.savez(huge, **arrays)
    capsys.readouterr()
    cases = [
        (trunc, "not a"),
        (text, "not an npz archive"),
        (huge, "more than its"),
        (tmp_path, "not a regular"),
    ]
    for path, needle in cases:
        args = [*replay, "--set", f'workload.replay_path="{path}"']
        assert main(["run", DEFAULT, *T2, *args, "--out", str(tmp_path / "o")]) == 2
        _one_error(capsys, needle)
    other = ["--set", 'workload.model="resnet18"', "--set", f'workload.replay_path="{good}"']
    assert main(["validate", DEFAULT, *T2[:2], *replay, *other]) == 2
    _one_error(capsys, "recorded on model 'vgg16_cifar10'")


def test_graph_files_are_checked(tmp_path: Path, capsys) -> None:
    def graphml(edges: str, directed: bool = False, pos: str | None = None) -> Path:
        p = tmp_path / f"g{len(list(tmp_path.iterdir()))}.graphml"
        nodes = "".join(
            f'<node id="n{i}">' + (f'<data key="pos">{pos}</data>' if pos is not None else "") + "</node>"
            for i in range(4)
        )
        p.write_text(
            '<?xml version="1.0"?><graphml xmlns="http://graphml.graphdrawing.org/xmlns">'
            '<key id="pos" for="node" attr.name="pos" attr.type="string"/>'
            f'<graph edgedefault="{"directed" if directed else "undirected"}">{nodes}{edges}</graph></graphml>'
        )
        return p

    ring = "".join(f'<edge source="n{i}" target="n{(i + 1) % 4}"/>' for i in range(4))
    back = "".join(f'<edge source="n{(i + 1) % 4}" target="n{i}"/>' for i in range(4))
    latin1 = tmp_path / "edges.txt"
    latin1.write_bytes("a b\nb c\nc \xe9\n".encode("latin-1"))
    cases = [
        (graphml(ring, directed=True), "one-way link"),
        (graphml(ring, pos="left top"), "position must be two numbers"),
        (graphml(ring, pos="1"), "position must be two numbers"),
        (latin1, "not UTF-8"),
        (tmp_path, "is a folder"),
    ]
    for path, needle in cases:
        assert main(["validate", DEFAULT, "--set", f'noc.topology="file:{path}"']) == 2
        _one_error(capsys, needle)
    # both directions of a directed graph are one bidirectional link each: accepted (the net is too small)
    ok = graphml(ring + back, directed=True)
    assert (
        main(["validate", DEFAULT, "--set", f'noc.topology="file:{ok}"', "--set", "noc.routing=shortest"])
        == 2
    )
    _one_error(capsys, "cores")


def test_cli_paths_resolve_against_the_working_folder(tmp_path: Path, monkeypatch, capsys) -> None:
    (tmp_path / "ring.txt").write_text("".join(f"{i} {(i + 1) % 40}\n" for i in range(40)))
    monkeypatch.chdir(tmp_path)
    args = ["--set", 'noc.topology="file:ring.txt"', "--set", "noc.routing=shortest"]
    assert main(["validate", DEFAULT, *args]) == 0  # the scenario lives elsewhere; the path is the user's
    assert (
        str(tmp_path / "ring.txt")
        in elsa_tlm.load_config(DEFAULT, [a for a in args if a != "--set"]).noc.topology
    )
    sweep = tmp_path / "w.toml"
    sweep.write_text(f'version = 1\nbase = "{DEFAULT}"\n[axes]\n"run.seed" = [1]\n')
    assert main(["sweep", str(sweep), *args, "--dry-run"]) == 0


# ---------------------------------------------------------------------------------------------- sweeps
def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(d.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
def test_killed_sweep_leaves_no_worker_and_its_folder_can_be_resumed(tmp_path: Path) -> None:
    sweep = tmp_path / "w.toml"
    sweep.write_text(
        textwrap.dedent(
            f"""\
            version = 1
            base = "{DEFAULT}"
            set = ["output.plots=false", 'workload.model="resnet18"', "run.time_steps=4"]
            [axes]
            "run.seed" = [1, 2, 3, 4]
            """
        )
    )
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "elsa_tlm.cli", "sweep", str(sweep), "--out", str(out), "--workers", "2"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    deadline = time.time() + 60
    while time.time() < deadline and len(workers) < 2:
        time.sleep(0.2)
        workers = _children(proc.pid)
    assert workers, "the sweep started no worker"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 10
    while time.time() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.2)
    assert not any(_alive(w) for w in workers)
    # the folder is free again and resumable
    lock = subprocess.run([*cmd, "--dry-run"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert lock.returncode == 0


def test_a_second_sweep_into_a_locked_folder_is_refused(tmp_path: Path, capsys) -> None:
    from elsa_tlm.fileio import FolderLock, claim_output_folder

    sweep = tmp_path / "w.toml"
    sweep.write_text(
        f'version = 1\nbase = "{DEFAULT}"\nset = ["run.time_steps=2"]\n[axes]\n"run.seed" = [1]\n'
    )
    out = claim_output_folder(tmp_path / "out", "sweep")
    with FolderLock(out, blocking=False):
        pid = os.fork()
        if pid == 0:  # another process tries the same folder while we hold it
            code = main(["sweep", str(sweep), "--out", str(out)])
            os._exit(code)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 2


# ----------------------------------------------------------------------------------------- API and CLI
def test_public_api_as_in_the_readme(tmp_path: Path) -> None:
    code = (
        "import elsa_tlm; r = elsa_tlm.run('scenarios/default.toml', overrides=['run.time_steps=2']); "
        "print(r.summary['latency_cycles'])"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    latency = int(proc.stdout.strip())
    r = elsa_tlm.run(elsa_tlm.load_config(DEFAULT), ["run.time_steps=2", "output.plots=false"])
    assert r.summary["latency_cycles"] == latency > 0
    assert r.layer_rows and r.link_rows
    r.save(tmp_path / "r")
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["latency_cycles"] == latency
    cfg = elsa_tlm.configure(elsa_tlm.load_config(DEFAULT), ["noc.router_pipeline_cycles=4"])
    assert cfg.noc.router_pipeline_cycles == 4  # derived stages derived again
    plan = elsa_tlm.check(cfg)
    assert plan.mapping.cores_used <= plan.topology.n_nodes
    with pytest.raises(ElsaError, match="needs 14 cores"):
        elsa_tlm.check(None, ['noc.topology="mesh:2x2"'])


def test_version_and_run_help(capsys) -> None:
    with pytest.raises(SystemExit) as ex:
        main(["--version"])
    assert ex.value.code == 0 and capsys.readouterr().out.strip() == f"elsa-tlm {elsa_tlm.__version__}"
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    help_text = capsys.readouterr().out
    for item in ("summary.json", "layers.csv", "links.csv", "cores.csv", "mapping.json", "exit status"):
        assert item in help_text


# ------------------------------------------------------------------------------- found by a hostile tester
def test_save_activity_never_replaces_a_file_it_did_not_write(tmp_path: Path, capsys) -> None:
    precious = tmp_path / "p.txt"
    precious.write_text("precious")
    out = tmp_path / "o"
    assert main(["run", DEFAULT, *T2, "--out", str(out), "--save-activity", str(precious)]) == 2
    _one_error(capsys, "was not written by elsa-tlm")
    assert precious.read_text() == "precious" and not out.exists()  # refused before the run
    for bad in ("", str(tmp_path)):
        assert main(["run", DEFAULT, *T2, "--out", str(out), "--save-activity", bad]) == 2
        _one_error(capsys, "--save-activity")
    trace = tmp_path / "a.npz"
    assert main(["run", DEFAULT, *T2, "--out", str(out), "--save-activity", str(trace)]) == 0
    assert main(["run", DEFAULT, *T2, "--out", str(out), "--save-activity", str(trace)]) == 0  # its own: ok


def test_huge_and_malformed_topologies_are_refused_at_the_door(capsys) -> None:
    for topo, needle in (
        ("mesh:300x300", "at most 4096"),
        ("ring:100000000", "at most 4096"),
        ("mesh:６x６", "ASCII"),
        ("mesh:6x6\\n", "must be mesh"),
    ):
        assert main(["validate", DEFAULT, "--set", f'noc.topology="{topo}"']) == 2, topo
        _one_error(capsys, needle)


def test_a_report_keeps_its_run_folder_replaceable(tmp_path: Path, capsys) -> None:
    out = tmp_path / "r"
    assert main(["run", DEFAULT, *T2, "--out", str(out)]) == 0
    assert main(["report", str(out)]) == 0
    assert main(["run", DEFAULT, *T2, "--out", str(out)]) == 0
    assert not (out / "report.html").exists()  # the stale report went with the old result


def test_out_symlinks_empty_names_and_dotdot(tmp_path: Path, capsys) -> None:
    real = tmp_path / "real"
    assert main(["run", DEFAULT, *T2, "--out", str(real)]) == 0
    capsys.readouterr()  # a run's progress lines
    link = tmp_path / "L"
    link.symlink_to(real)
    assert main(["run", DEFAULT, *T2, "--out", str(link)]) == 2
    _one_error(capsys, "symbolic link")
    assert link.is_symlink()
    assert main(["run", DEFAULT, *T2, "--out", ""]) == 2
    _one_error(capsys, "empty")
    assert main(["run", DEFAULT, *T2, "--out", str(tmp_path / "dd" / "new" / "..")]) == 0
    assert (tmp_path / "dd" / "summary.json").exists() and not (tmp_path / "dd" / "new").exists()


def test_copied_plots_never_overwrite_a_users_file(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    scen = tmp_path / "mine.toml"
    scen.write_text('version = 1\nname = "mine"\n[run]\ntime_steps = 2\n')
    (tmp_path / "plots" / "mine").mkdir(parents=True)
    (tmp_path / "plots" / "mine" / "timeline.png").write_bytes(b"my own picture")
    assert main(["run", str(scen)]) == 2
    _one_error(capsys, "plots folder")
    assert (tmp_path / "plots" / "mine" / "timeline.png").read_bytes() == b"my own picture"
    assert not (tmp_path / "results" / "mine").exists()  # refused before anything was written
    (tmp_path / "plots" / "mine" / "timeline.png").unlink()
    assert main(["run", str(scen)]) == 0 and main(["run", str(scen)]) == 0  # its own copy is replaced


def test_output_dir_from_the_command_line_is_relative_to_the_working_folder(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["run", DEFAULT, *T2, "--set", "output.dir=out1"]) == 0
    assert (tmp_path / "out1" / "summary.json").exists()


def test_the_resolved_config_reads_back_whatever_the_description(tmp_path: Path) -> None:
    scen = tmp_path / "s.toml"
    scen.write_text('version = 1\ndescription = "x\\u007fy \\u0001 é"\n[run]\ntime_steps = 2\n')
    out = tmp_path / "o"
    assert main(["run", str(scen), "--set", "output.plots=false", "--out", str(out)]) == 0
    assert main(["validate", str(out / "config.resolved.toml")]) == 0


def test_sweeps_check_every_override_and_bad_bases(tmp_path: Path, capsys) -> None:
    base = tmp_path / "b.toml"
    base.write_text("version = 1\nnoc = 5\n")
    sw = tmp_path / "sw.toml"
    sw.write_text(f'version = 1\nbase = "{base}"\n[axes]\n"noc.flit_bits" = [64]\n')
    assert main(["sweep", str(sw), "--dry-run"]) == 2
    _one_error(capsys, "must be a table")
    sw.write_text('version = 1\n[[points]]\n"noc.flit_bits" = 64\n')
    assert main(["sweep", str(sw), "--dry-run", "--set", "noc.flit_bits=nan"]) == 2
    _one_error(capsys, "noc.flit_bits")
    assert main(["sweep", str(sw), "--dry-run", "--workers", "100000"]) == 2
    _one_error(capsys, "--workers")
    sw.write_text('version = 1.0\n[[points]]\n"noc.flit_bits" = 64\n')
    assert main(["sweep", str(sw), "--dry-run"]) == 2
    _one_error(capsys, "version")


def test_version_must_be_the_integer_one(tmp_path: Path, capsys) -> None:
    for v in ("1.0", "true"):
        scen = tmp_path / "s.toml"
        scen.write_text(f"version = {v}\n")
        assert main(["validate", str(scen)]) == 2
        _one_error(capsys, "version")


def test_replay_counts_must_be_finite_whole_numbers(tmp_path: Path, capsys) -> None:
    trace = tmp_path / "a.npz"
    assert main(["run", DEFAULT, *T2, "--out", str(tmp_path / "o"), "--save-activity", str(trace)]) == 0
    capsys.readouterr()  # a run's progress lines
    z = dict(np.load(trace))
    layer = next(k for k in z if k.startswith("in:"))
    for bad, needle in ((np.nan, "finite"), (0.5, "whole numbers")):
        arr = z[layer].astype(float)
        arr.flat[0] = bad
        np.savez(tmp_path / "bad.npz", **{**z, layer: arr})
        keys = ['workload.activity="replay"', f'workload.replay_path="{tmp_path / "bad.npz"}"']
        assert main(["validate", DEFAULT, *T2, *sum((["--set", k] for k in keys), [])]) == 2
        _one_error(capsys, needle)


def test_a_noc_run_in_which_no_packet_is_injected_finishes(tmp_path: Path, capsys) -> None:
    out = tmp_path / "n"
    assert (
        main(["noc", "--out", str(out), "--packet-flits", "5000", "--cycles", "100", "--rate", "0.05"]) == 0
    )
    assert json.loads((out / "noc.json").read_text())["accepted_rate"] == 0.0


def test_python_dash_m_runs_the_cli() -> None:
    r = subprocess.run([sys.executable, "-m", "elsa_tlm", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and "elsa-tlm" in r.stdout


# ------------------------------------------------------------------------------- issue 30: the rest of the doors
@pytest.mark.parametrize(
    "text",
    [
        "version = 1\nx = " + "[" * 5000 + "]" * 5000 + "\n",  # brackets: refused before the parser recurses
        "version = 1\n" + "a." * 3000 + "b = 1\n",  # dotted keys nest without brackets
        "version = 1\n[" + ".".join(["t"] * 40) + "]\nk = 1\n",  # a table header 40 deep
    ],
    ids=["brackets", "dotted", "header"],
)
def test_deeply_nested_toml_is_one_line_not_a_recursion_error(text: str, tmp_path: Path, capsys) -> None:
    f = tmp_path / "deep.toml"
    f.write_text(text)
    assert main(["validate", str(f)]) == 2
    _one_error(capsys, "more than 16 deep")
    assert main(["validate", DEFAULT, "--set", "noc.flit_bits=" + "[" * 3000 + "]" * 3000]) == 2
    err = _one_error(capsys, "more than 16 deep")
    assert len(err) < 400  # a pasted value is shortened in the one line


def test_a_relative_file_topology_that_is_a_symlink_loop_is_named(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "l1").symlink_to("l2")
    (tmp_path / "l2").symlink_to("l1")
    for given in ("file:l1", f"file:{tmp_path / 'l1'}"):
        assert main(["validate", DEFAULT, "--set", f'noc.topology="{given}"']) == 2
        _one_error(capsys, "symbolic link that leads nowhere")


@pytest.mark.parametrize(
    "content",
    [b"\x89PNG\x00\x01garbage", b"a,b\n1,2\n", b"", b"noc.flit_bits,latency_cycles,status,point\n64,1,ok\n"],
    ids=["binary", "not-a-sweep", "empty", "ragged"],
)
def test_plot_refuses_a_malformed_sweep_csv_with_one_line(content: bytes, tmp_path: Path, capsys) -> None:
    sw = tmp_path / "sw"
    sw.mkdir()
    (sw / "sweep.csv").write_bytes(content)
    out = tmp_path / "f.png"
    assert main(["plot", str(sw), "--x", "noc.flit_bits", "--y", "latency_cycles", "--out", str(out)]) == 2
    _one_error(capsys, "sweep.csv")
    assert not out.exists()


def test_the_elastic_study_refuses_a_scenario_without_real_outputs(tmp_path: Path, capsys) -> None:
    out = tmp_path / "e"
    assert main(["elastic", "--scenario", DEFAULT, "--out", str(out)]) == 2
    _one_error(capsys, "functional")
    assert not out.exists()
