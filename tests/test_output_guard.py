"""The output guard: no command writes over, or through a link to, a file it did not make.

Three layers: (1) the writer itself refuses a path no guard call cleared, and no module writes around the writer
(a source check); (2) the guard's rules on symbolic links, FIFOs and files the tool did not write; (3) every
output option of every subcommand (the studies' included), walked from the parser, against a user's file, a
user's folder, a symbolic link and a FIFO: exit status 2, one ``error:`` line, nothing changed on disk, no hang.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from elsa_tlm import fileio  # noqa: E402
from elsa_tlm.cli import build_parser, main  # noqa: E402
from elsa_tlm.errors import ConfigError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = str(ROOT / "scenarios" / "default.toml")
T2 = ["--set", "run.time_steps=2", "--set", "output.plots=false"]
BASELINES = ["baselines", "--models", "resnet18", "--clocks", "200"]


# ----------------------------------------------------------------------------------- (1) by construction
WRITE_ATTRS = {"savefig", "write_text", "write_bytes", "symlink_to", "hardlink_to", "touch", "tofile"}
NUMPY_SAVES = {"save", "savez", "savez_compressed", "savetxt"}
SHUTIL_WRITES = {"copy", "copy2", "copyfile", "copytree", "move", "copyfileobj"}
# modules allowed to rename folders: the run writer swaps a finished temporary folder into place under a lock
RENAMERS = {"elsa_tlm/results/writers.py"}
# writes into a folder the module made itself with tempfile, never a user's path
OWN_TEMP = {"elsa_tlm/studies/bench.py:shutil.copytree"}


def _mode(call: ast.Call, pos: int) -> str:
    for kw in call.keywords:
        if kw.arg == "mode" and isinstance(kw.value, ast.Constant):
            return str(kw.value.value)
    if len(call.args) > pos and isinstance(call.args[pos], ast.Constant):
        return str(call.args[pos].value)
    return "r"


def _violations(path: Path, rel: str) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(), filename=rel)):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        where = f"{rel}:{node.lineno}"
        if isinstance(f, ast.Name) and f.id == "open" and set(_mode(node, 1)) & set("wax+"):
            out.append(f"{where}: open(..., {_mode(node, 1)!r})")
        if not isinstance(f, ast.Attribute):
            continue
        owner = f.value.id if isinstance(f.value, ast.Name) else ""
        if (
            f.attr == "savefig"
            and node.args
            and isinstance(node.args[0], ast.Name)
            and node.args[0].id == "buf"
        ):
            pass  # rendered into memory, then written by the writer
        elif f.attr in WRITE_ATTRS:
            out.append(f"{where}: .{f.attr}(...)")
        elif f.attr == "open" and owner not in ("gzip", "zipfile") and set(_mode(node, 0)) & set("wax+"):
            out.append(f"{where}: .open({_mode(node, 0)!r})")
        elif owner in ("gzip", "bz2", "lzma") and f.attr == "open" and set(_mode(node, 1)) & set("wax+"):
            out.append(f"{where}: {owner}.open(..., {_mode(node, 1)!r})")
        elif owner in ("np", "numpy") and f.attr in NUMPY_SAVES:
            first = node.args[0] if node.args else None
            if not (isinstance(first, ast.Name) and first.id == "buf"):  # into memory, then the writer
                out.append(f"{where}: {owner}.{f.attr} to a path")
        elif owner == "shutil" and f.attr in SHUTIL_WRITES and f"{rel}:shutil.{f.attr}" not in OWN_TEMP:
            out.append(f"{where}: shutil.{f.attr}")
        elif (
            owner == "os"
            and f.attr in ("replace", "rename", "symlink", "link", "mkfifo")
            and rel not in RENAMERS
        ):
            out.append(f"{where}: os.{f.attr}")
    return out


def test_no_module_writes_around_the_output_guard() -> None:
    """Every file the package writes goes through fileio's writers, which refuse an uncleared path: a new
    command cannot forget the guard."""
    files = sorted((ROOT / "elsa_tlm").rglob("*.py"))
    bad = []
    for p in files:
        rel = p.relative_to(ROOT).as_posix()
        if rel != "elsa_tlm/fileio.py":
            bad += _violations(p, rel)
    assert not bad, (
        "writes that bypass elsa_tlm.fileio (clear the path, then use its writers):\n" + "\n".join(bad)
    )


def test_the_source_check_sees_each_kind_of_bypass(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text(
        "import numpy as np, shutil, os, gzip\n"
        "fig.savefig('a.png')\nopen('x', 'w')\nPath('y').write_text('z')\nnp.savez(p, a=1)\n"
        "shutil.copy2(a, b)\nos.replace(a, b)\ngzip.open(p, 'wb')\nPath('q').open('a')\n"
        "np.savez(buf, a=1)\nopen('r')\n"
    )
    assert len(_violations(src, "m.py")) == 8


def test_the_writer_refuses_a_path_no_guard_cleared(tmp_path: Path) -> None:
    target = tmp_path / "fresh" / "x.json"
    with pytest.raises(ConfigError, match="no output guard cleared"):
        fileio.write_json_atomic(target, {"a": 1})
    assert not (tmp_path / "fresh").exists()


# ---------------------------------------------------------------------------------------- (2) the rules
def test_inside_a_claimed_folder_links_fifos_and_users_files_are_refused(tmp_path: Path) -> None:
    out = fileio.claim_output_folder(tmp_path / "o", "sweep")
    fileio.write_text_atomic(out / "sweep.csv", "a\n")  # new: written and listed
    fileio.write_text_atomic(out / "sweep.csv", "b\n")  # listed: replaced
    assert "sweep.csv" in fileio.read_marker(out)["entries"]
    secret = tmp_path / "secret.txt"
    secret.write_text("keep")
    (out / "link.csv").symlink_to(secret)
    os.mkfifo(out / "pipe.csv")
    (out / "notes.txt").write_text("mine")
    for name, needle in (
        ("link.csv", "symbolic link"),
        ("pipe.csv", "not a regular file"),
        ("notes.txt", "not written by elsa-tlm"),
    ):
        with pytest.raises(ConfigError, match=needle):
            fileio.write_text_atomic(out / name, "overwritten")
    assert secret.read_text() == "keep" and (out / "notes.txt").read_text() == "mine"
    assert (out / "link.csv").is_symlink() and (out / "pipe.csv").is_fifo()


def test_a_folder_marked_before_markers_listed_entries_is_trusted_then_listed(tmp_path: Path) -> None:
    old = tmp_path / "sw"
    old.mkdir()
    (old / ".elsa-tlm.json").write_text(
        '{"tool": "elsa-tlm", "kind": "sweep", "version": "0", "entries": []}'
    )
    (old / "sweep.csv").write_text("old\n")
    out = fileio.claim_output_folder(old, "sweep")
    m = fileio.read_marker(out)
    assert m["guard"] == fileio.GUARD_VERSION and "sweep.csv" in m["entries"]
    fileio.write_text_atomic(out / "sweep.csv", "new\n")
    assert (out / "sweep.csv").read_text() == "new\n"


@pytest.mark.parametrize("fmt", ["png", "pdf", "svg"])
def test_figures_carry_their_maker_and_are_byte_stable(fmt: str, tmp_path: Path) -> None:
    def draw(path: Path) -> bytes:
        fig, ax = plt.subplots()
        ax.plot([0, 1], [1, 0])
        fileio.check_figure_file(path, "--out")
        fileio.save_figure(fig, path)
        plt.close(fig)
        return path.read_bytes()

    a = draw(tmp_path / f"a.{fmt}")
    assert fileio.is_own_figure(tmp_path / f"a.{fmt}")
    assert draw(tmp_path / f"a.{fmt}") == a  # its own figure: replaced, with the same bytes
    foreign = tmp_path / f"b.{fmt}"
    foreign.write_bytes(a.replace(b"elsa-tlm", b"someone"))
    with pytest.raises(ConfigError, match="not written by elsa-tlm"):
        fileio.check_figure_file(foreign, "--out")


def test_a_figure_suffix_the_tool_does_not_write_is_refused(tmp_path: Path) -> None:
    for name in ("f.jpg", "f", "f.png.bak"):
        with pytest.raises(ConfigError, match=r"\.png, \.pdf, \.svg"):
            fileio.check_figure_file(tmp_path / name, "--out")


# ------------------------------------------------------------------------ (3) every output option, walked
@pytest.fixture(scope="module")
def ctx(tmp_path_factory) -> dict[str, Path]:
    """Inputs for every command (kept outside each test's folder): a run folder and a one-point sweep."""
    base = tmp_path_factory.mktemp("inputs")
    assert main(["run", DEFAULT, *T2, "--out", str(base / "run")]) == 0
    sweep = base / "s.toml"
    sweep.write_text(
        f'version = 1\nbase = "{DEFAULT}"\nset = ["run.time_steps=2", "output.plots=false"]\n'
        '[axes]\n"noc.flit_bits" = [128]\n'
    )
    assert main(["sweep", str(sweep), "--out", str(base / "sw"), "--workers", "1"]) == 0
    (base / "curves").mkdir()
    spec = base / "e.toml"
    spec.write_text(sweep.read_text() + '[explore]\nobjectives = ["latency_ms"]\ntrials = 1\nmode = "lt"\n')
    return {
        "run": base / "run",
        "sweep_file": sweep,
        "sweep": base / "sw",
        "curves": base / "curves",
        "explore_spec": spec,
    }


# (subcommand, option) -> (suffix of a file target, argv builder from the target and the inputs)
Recipe = tuple[str, Callable[[str, dict[str, Path], Path], list[str]]]
SUBCOMMAND_RECIPES: dict[tuple[str, str], Recipe] = {
    ("run", "--out"): ("", lambda t, c, w: ["run", DEFAULT, *T2, "--out", t]),
    ("run", "--save-activity"): (
        ".npz",
        lambda t, c, w: ["run", DEFAULT, *T2, "--out", str(w / "new"), "--save-activity", t],
    ),
    ("sweep", "--out"): ("", lambda t, c, w: ["sweep", str(c["sweep_file"]), "--out", t]),
    ("explore", "--out"): (
        "",
        lambda t, c, w: ["explore", str(c["explore_spec"]), "--out", t, "--workers", "1"],
    ),
    ("noc", "--out"): ("", lambda t, c, w: ["noc", "--topology", "mesh:2x2", "--cycles", "50", "--out", t]),
    ("plot", "--out"): (
        ".png",
        lambda t, c, w: [
            "plot",
            str(c["sweep"]),
            "--x",
            "noc.flit_bits",
            "--y",
            "latency_cycles",
            "--out",
            t,
        ],
    ),
    ("compare", "--out"): ("", lambda t, c, w: ["compare", str(c["run"]), "--out", t]),
    ("report", "--out"): (".html", lambda t, c, w: ["report", str(c["run"]), "--out", t]),
    ("export", "--nir"): (".nir", lambda t, c, w: ["export", "digits", "--nir", t]),
    ("noc-plot", "--out"): (".png", lambda t, c, w: ["noc-plot", str(c["curves"]), "--out", t]),
    ("study", "--out"): (
        "",
        lambda t, c, w: ["study", "flits", "--sweep-dir", str(c["sweep"]), "--out", t],
    ),
    ("pipelines", "--out"): (
        "",
        lambda t, c, w: ["pipelines", "--models", "vgg16_cifar10", "--set", "run.time_steps=2", "--out", t],
    ),
    ("analytic-check", "--out"): (
        "",
        lambda t, c, w: ["analytic-check", "--cases", "0", "--set", "run.time_steps=2", "--out", t],
    ),
    ("analytic-check", "--doc"): (
        ".md",
        lambda t, c, w: [
            "analytic-check",
            "--cases",
            "0",
            "--set",
            "run.time_steps=2",
            "--out",
            str(w / "ac"),
            "--doc",
            t,
        ],
    ),
    ("elastic", "--out"): (
        "",
        lambda t, c, w: ["elastic", "--scenario", str(ROOT / "scenarios" / "digits.toml"), "--out", t],
    ),
    ("baselines", "--out"): ("", lambda t, c, w: [*BASELINES, "--out", t, "--runs", str(w / "runs")]),
    ("baselines", "--runs"): ("", lambda t, c, w: [*BASELINES, "--out", str(w / "o"), "--runs", t]),
    ("bench", "--out"): (".json", lambda t, c, w: ["bench", "--repeat", "1", "--out", t]),
}


def _output_options(parser: argparse.ArgumentParser) -> dict[tuple[str, str], str]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    found = {}
    for name, sp in sub.choices.items():
        for action in sp._actions:
            kind = getattr(action, "output", None)
            flag = action.option_strings[-1] if action.option_strings else action.dest
            if kind:
                found[(name, flag)] = kind
            else:  # an option that looks like an output must be declared as one
                words = set(action.dest.split("_"))
                assert not words & {"out", "output", "save", "write"}, (name, flag)
    return found


def test_every_subcommand_output_option_has_a_recipe() -> None:
    assert set(_output_options(build_parser())) == set(SUBCOMMAND_RECIPES)


CASES = ("user_file", "user_folder", "symlink", "fifo")


def _snapshot(folder: Path) -> dict[str, object]:
    snap: dict[str, object] = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        if p.is_symlink():
            snap[rel] = ("link", os.readlink(p))
        elif p.is_fifo():
            snap[rel] = "fifo"
        elif p.is_dir():
            snap[rel] = "dir"
        else:
            snap[rel] = p.read_bytes()
    return snap


def _call(entry: Callable[[list[str]], int], argv: list[str], fifo: Path | None) -> int:
    """Run an entry point; a FIFO it blocks on is opened from here so that the test fails instead of hanging."""
    box: list[object] = []
    t = threading.Thread(target=lambda: box.append(entry(argv)), daemon=True)
    t.start()
    t.join(60)
    if t.is_alive() and fifo is not None:
        for flags in (os.O_WRONLY | os.O_NONBLOCK, os.O_RDONLY | os.O_NONBLOCK):
            with contextlib.suppress(OSError):
                os.close(os.open(fifo, flags))  # release whichever end it waits on
        t.join(10)
        pytest.fail(f"{argv} blocked on the FIFO {fifo}")
    assert not t.is_alive(), f"{argv} did not finish"
    return box[0]  # type: ignore[return-value]


def _target(case: str, suffix: str, work: Path) -> tuple[Path, Path]:
    """Make the case's pre-existing thing at the target path; returns (target, what must stay unchanged)."""
    if case == "user_file":
        t = work / f"mine{suffix}"
        t.write_bytes(b"\x89PNG user data" if suffix == ".png" else b"user data")
    elif case == "user_folder":
        t = work / "mine"
        t.mkdir()
        (t / "keep.txt").write_text("keep")
        if suffix:  # a file option: a folder where the file would go
            t = work / f"mine{suffix}"
            t.mkdir()
    elif case == "symlink":
        real = work / f"real{suffix}"
        if suffix:
            real.write_text("the file the link points to")
        else:
            real.mkdir()
            (real / "keep.txt").write_text("keep")
        t = work / f"link{suffix}"
        t.symlink_to(real)
    else:
        t = work / f"pipe{suffix}"
        os.mkfifo(t)
    return t, work


ALL = [(k, o, c) for (k, o) in SUBCOMMAND_RECIPES for c in CASES]


@pytest.mark.parametrize(("entry", "option", "case"), ALL, ids=[f"{e}:{o}:{c}" for e, o, c in ALL])
def test_an_output_option_never_touches_what_is_there(
    entry: str, option: str, case: str, ctx: dict[str, Path], tmp_path: Path, monkeypatch, capsys
) -> None:
    suffix, argv_of = SUBCOMMAND_RECIPES[(entry, option)]
    work = tmp_path / "w"
    work.mkdir()
    monkeypatch.chdir(work)  # a default output (results/, plots/) would show up in the snapshot
    target, _ = _target(case, suffix, work)
    before = _snapshot(work)
    code = _call(main, argv_of(str(target), ctx, work), target if case == "fifo" else None)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, (code, err)
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert option in err[0] or str(target) in err[0], err[0]
    assert _snapshot(work) == before  # nothing written, nothing replaced, no link followed


def test_default_names_are_never_written_into_a_users_folder(
    ctx: dict[str, Path], tmp_path: Path, capsys
) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "sweep.csv").write_bytes((ctx["sweep"] / "sweep.csv").read_bytes())
    (mine / "summary.json").write_bytes((ctx["run"] / "summary.json").read_bytes())
    (mine / "config.resolved.toml").write_bytes((ctx["run"] / "config.resolved.toml").read_bytes())
    before = _snapshot(mine)
    assert main(["plot", str(mine), "--x", "noc.flit_bits", "--y", "latency_cycles"]) == 2
    assert "give --out" in capsys.readouterr().err
    assert main(["report", str(mine)]) == 2
    assert "give --out" in capsys.readouterr().err
    assert _snapshot(mine) == before
    # the tool's own sweep folder takes the default figure, again and again
    assert main(["plot", str(ctx["sweep"]), "--x", "noc.flit_bits", "--y", "latency_cycles"]) == 0
    assert main(["plot", str(ctx["sweep"]), "--x", "noc.flit_bits", "--y", "latency_cycles"]) == 0
    assert "plot_latency_cycles_vs_noc.flit_bits.png" in fileio.read_marker(ctx["sweep"])["entries"]


def test_plot_writes_pdf_and_svg_and_replaces_only_its_own(
    ctx: dict[str, Path], tmp_path: Path, capsys
) -> None:
    for fmt in ("pdf", "svg"):
        out = tmp_path / f"f.{fmt}"
        args = ["plot", str(ctx["sweep"]), "--x", "noc.flit_bits", "--y", "energy_j", "--out", str(out)]
        assert main(args) == 0 and main(args) == 0
        assert fileio.is_own_figure(out)
    assert main(["plot", str(ctx["sweep"]), "--x", "noc.flit_bits", "--y", "energy_j", "--out", "f.jpg"]) == 2
    assert ".png, .pdf, .svg" in capsys.readouterr().err
