"""A normal install runs: the wheel built from the working tree, installed into a fresh virtualenv, runs a
shipped scenario by name from an empty folder outside the clone (models and scenarios are package data)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _source_copy(dst: Path) -> None:
    """The files a clean clone has (tracked and new, not ignored), with their symlinks."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for f in files:
        s, d = ROOT / f, dst / f
        d.parent.mkdir(parents=True, exist_ok=True)
        if s.is_symlink():
            d.symlink_to(s.readlink())
        elif s.is_file():
            shutil.copy2(s, d)


def test_wheel_installs_and_runs_a_shipped_scenario_from_anywhere(tmp_path: Path) -> None:
    src, dist, env, work = tmp_path / "src", tmp_path / "dist", tmp_path / "venv", tmp_path / "elsewhere"
    _source_copy(src)
    # the hot path is not compiled here (mypyc takes ~1.5 min): the suite itself runs on the compiled
    # editable install, and tests/test_compiled.py checks the guard; the compiled wheel was checked by hand
    # (docs/ARCHITECTURE.md)
    build_env = dict(os.environ, ELSA_TLM_COMPILE="0")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(dist),
            ".",
        ],
        cwd=src,
        check=True,
        capture_output=True,
        env=build_env,
    )
    (wheel,) = dist.glob("elsa_tlm-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for need in (
        "elsa_tlm/models/vgg16_cifar10.json",
        "elsa_tlm/models/digits_qcnn.npz",
        "elsa_tlm/scenarios/default.toml",
        "elsa_tlm/scenarios/studies/flits.toml",
        "elsa_tlm/py.typed",
        "elsa_tlm/data/elsa_28nm.toml",
    ):
        assert need in names, need
    assert any(n.endswith("LICENSE") for n in names)
    # the C input-buffer kernel is built into the wheel wherever it was built for this clone (a C compiler)
    has_c = importlib.util.find_spec("elsa_tlm.hw._ibuf_kernel") is not None
    if has_c:
        assert any(n.startswith("elsa_tlm/hw/_ibuf_kernel.") and n.endswith((".so", ".pyd")) for n in names)
    # a fresh virtualenv; its dependencies come from this interpreter's site-packages (a plain path entry:
    # no .pth of this environment runs there, so the editable install of the clone is not visible)
    venv.EnvBuilder(with_pip=True).create(env)
    py = env / "bin" / "python"
    site = Path(
        subprocess.run(
            [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True)
    work.mkdir()
    cli = env / "bin" / "elsa-tlm"
    r = subprocess.run(
        [cli, "run", "default", "--set", "run.time_steps=2", "--set", "output.plots=false"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    summary = json.loads((work / "results" / "default" / "summary.json").read_text())
    assert summary["model"] == "vgg16_cifar10" and summary["time_steps"] == 2
    where = subprocess.run(
        [py, "-c", "import elsa_tlm; print(elsa_tlm.__file__)"], cwd=work, capture_output=True, text=True
    ).stdout
    assert str(ROOT) not in where and str(env) in where  # the installed package ran, not the clone
    engine = subprocess.run(
        [py, "-c", "from elsa_tlm.hw import input_buffer as ib; print(ib.kernel()[0])"],
        cwd=work,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert engine == ("c" if has_c else "numba")
    listing = subprocess.run([cli, "scenarios"], cwd=work, capture_output=True, text=True, check=True).stdout
    assert "default" in listing and "vit" in listing
