"""The compiled hot path (mypyc, built by the install) and the guard that keeps a stale build from running."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from elsa_tlm import compiled

PROBE = (
    "import json, elsa_tlm.compiled as c, elsa_tlm.hw.core as core, elsa_tlm.kernel as k; "
    "print(json.dumps({**c.status(), 'core': core.__file__, 'kernel': k.__file__}))"
)


def test_the_install_compiled_the_hot_path_when_mypyc_is_there() -> None:
    """With mypy installed (the dev extras), the suite runs on the compiled modules: a silent fallback to the
    sources would hide a build that no longer compiles."""
    if os.environ.get("ELSA_TLM_PURE") == "1":
        pytest.skip("ELSA_TLM_PURE=1: the sources run on purpose")
    if importlib.util.find_spec("mypyc") is None:
        pytest.skip("mypyc not installed: the hot path is Python")
    assert compiled.COMPILED, f"{compiled.WHY} (make setup, or pip install -e ., compiles it again)"


def _package_copy(tmp: Path) -> Path:
    """The installed package as built (sources, extensions, compiled.json), without its data."""
    src = Path(compiled.__file__).parent
    dst = tmp / "pkg" / "elsa_tlm"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "models", "scenarios"))
    return dst


def _probe(pkg: Path, **env: str) -> tuple[dict, str]:
    r = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**os.environ, "PYTHONPATH": str(pkg.parent), "ELSA_TLM_PURE": "0", **env},
        cwd=pkg.parent,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(r.stdout.strip().splitlines()[-1]), r.stderr


def test_a_changed_source_runs_from_source_and_says_why(tmp_path: Path) -> None:
    if not compiled.COMPILED:
        pytest.skip(f"not compiled here: {compiled.WHY}")
    pkg = _package_copy(tmp_path)
    st, err = _probe(pkg)
    assert st["compiled"] and st["core"].endswith((".so", ".pyd")) and str(pkg) in st["core"]
    assert not err

    # a source edited after the build (an editable install not redone): every compiled module loads from its
    # source, the group being one unit
    core = pkg / "hw" / "core.py"
    core.write_text(core.read_text() + "\n# edited\n")
    st, err = _probe(pkg)
    assert not st["compiled"] and st["core"].endswith("core.py") and st["kernel"].endswith("kernel.py")
    assert "hw/core.py changed since the install compiled them" in err

    # asked for: no warning
    st, err = _probe(pkg, ELSA_TLM_PURE="1")
    assert not st["compiled"] and st["core"].endswith("core.py") and not err


def test_extensions_without_a_manifest_do_not_run(tmp_path: Path) -> None:
    """A failed build leaves no compiled.json (setup.py's build_ext): old extensions left in place must not
    run against new sources."""
    if not compiled.COMPILED:
        pytest.skip(f"not compiled here: {compiled.WHY}")
    pkg = _package_copy(tmp_path)
    (pkg / "compiled.json").unlink()
    st, err = _probe(pkg)
    assert not st["compiled"] and st["core"].endswith("core.py")
    assert "no valid compiled.json" in err


def test_compiled_and_source_runs_agree(tmp_path: Path) -> None:
    """The same small run, compiled and from the sources: the same summary, byte for byte (the golden runs
    check the compiled build against files; this checks the two builds against each other)."""
    if not compiled.COMPILED:
        pytest.skip(f"not compiled here: {compiled.WHY}")
    run = (
        "import json, sys; from elsa_tlm import sim; from elsa_tlm.config import load_config; "
        "r = sim.run(load_config(None, ['workload.model=\"resnet18\"', 'run.time_steps=2', "
        "'run.mode=\"' + sys.argv[1] + '\"'])); s = r.summary; s['sim'] = {}; "
        "print(json.dumps(s, sort_keys=True))"
    )
    for mode in ("at", "lt"):
        out = [
            subprocess.run(
                [sys.executable, "-c", run, mode],
                env={**os.environ, "ELSA_TLM_PURE": pure},
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            for pure in ("0", "1")
        ]
        assert out[0] == out[1], mode


def test_the_makefile_rebuilds_when_a_compiled_module_changes() -> None:
    """make's install stamp depends on every compiled module, so `make test` and `make bench` never run a
    stale build."""
    text = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    block = text.split("HOT := $(addprefix elsa_tlm/,", 1)[1].split(")", 1)[0]
    listed = set(block.replace("\\", " ").split())
    assert listed == {*compiled.MODULES, "compiled.py"}


def test_no_compiled_class_extends_a_python_class() -> None:
    """A native class over a Python base (SimPy's BaseResource, Event...) crashed clean builds: every class of
    a compiled module extends only classes of the compiled modules (or nothing; a typing Protocol is an
    interface, not compiled as a class)."""
    import ast

    native: set[str] = set()
    bases: dict[str, list[str]] = {}
    for path in compiled.MODULES:
        tree = ast.parse((compiled.PACKAGE / path).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                native.add(node.name)
                bases[f"{path}:{node.name}"] = [ast.unparse(b) for b in node.bases]
    foreign = {
        k: [b for b in v if b not in native and b not in ("object", "Protocol")] for k, v in bases.items()
    }
    assert not {k: v for k, v in foreign.items() if v}
