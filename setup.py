"""The compiled parts of elsa-tlm, built by every install (``pip install .``, ``pip install -e .``, a wheel) so
that no run waits for a JIT compiler. The rest of the project's metadata is in pyproject.toml.

* the PE input-buffer kernel (elsa_tlm/hw/_ibuf_kernel.c), a C extension; optional: without a C compiler
  the install still succeeds and elsa_tlm.hw.input_buffer falls back to numba (or plain Python);
* the analytic mode's per-position loops (elsa_tlm/_recurrences.c), a C extension; optional too:
  elsa_tlm.recurrences falls back to its numpy reference;
* the simulation's hot path (the modules listed in elsa_tlm/compiled.py), compiled to C with mypyc (two to
  three times as fast, same results); optional too: without mypy, with ``ELSA_TLM_COMPILE=0`` or when a module
  fails to build, those modules run as Python. The SHA-256 of each compiled source goes into
  elsa_tlm/compiled.json, so a build never runs against sources changed since (elsa_tlm/compiled.py).
"""

import ast
import hashlib
import json
import os
import sys
import time
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).parent
SOURCE = "elsa_tlm/hw/_ibuf_kernel.c"
RECURRENCES = "elsa_tlm/_recurrences.c"


def _sha256(path: str) -> str:
    """Compiled in: the module refuses a build whose source has changed since (an editable install not redone)."""
    return hashlib.sha256((ROOT / path).read_bytes()).hexdigest()


# no fused multiply-adds (GCC contracts by default on targets with FMA, e.g. aarch64): the cycle sums must
# round exactly as the Python references'
NO_FMA = [] if sys.platform == "win32" else ["-ffp-contract=off"]

ext_modules = [
    Extension(
        "elsa_tlm.hw._ibuf_kernel",
        [SOURCE],
        define_macros=[("IBUF_SOURCE_SHA256", f'"{_sha256(SOURCE)}"')],
        extra_compile_args=NO_FMA,
        optional=True,
    ),
    Extension(
        "elsa_tlm._recurrences",
        [RECURRENCES],
        define_macros=[("REC_SOURCE_SHA256", f'"{_sha256(RECURRENCES)}"')],
        extra_compile_args=NO_FMA,
        optional=True,
    ),
]


class _Hot:
    """What _hot_path compiled: the group's extension names and the hashes of their sources."""

    names: list[str] = []
    hashes: dict[str, str] = {}


def _hot_path() -> list[Extension]:
    """The mypyc extensions of the modules elsa_tlm/compiled.py lists (none without mypyc, when disabled or
    when mypyc refuses them: the hot path then stays Python)."""
    if os.environ.get("ELSA_TLM_COMPILE", "1") == "0":
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        print("elsa-tlm: mypyc not found, the hot path stays Python", file=sys.stderr)
        return []
    spec = {}  # MODULES and GROUP, read from elsa_tlm/compiled.py without importing the package
    for node in ast.parse((ROOT / "elsa_tlm" / "compiled.py").read_text()).body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                if isinstance(target, ast.Name) and target.id in ("MODULES", "GROUP"):
                    spec[target.id] = ast.literal_eval(node.value)
    modules, group = spec["MODULES"], spec["GROUP"]
    hashes = {p: hashlib.sha256((ROOT / "elsa_tlm" / p).read_bytes()).hexdigest() for p in modules}
    # the modules type-check clean with these options (simpy, networkx ship no stubs)
    flags = ["--ignore-missing-imports", "--follow-imports=silent"]
    try:
        exts = mypycify([*flags, *(f"elsa_tlm/{p}" for p in modules)], group_name=group, opt_level="3")
    except SystemExit as e:  # mypyc prints the errors and exits
        print(f"elsa-tlm: mypyc refused the hot path ({e}), it stays Python", file=sys.stderr)
        return []
    for e in exts:
        e.optional = True  # a failed C build leaves the Python sources in charge (the guard sees it)
    _Hot.names, _Hot.hashes = [e.name for e in exts], hashes
    return exts


class BuildExt(build_ext):
    """build_ext, then the manifest of the compiled hot path: written beside the extensions only when every
    one of them was built by this run (a failed or skipped one leaves no manifest, so the guard in
    elsa_tlm/compiled.py runs the sources rather than an old extension left in place)."""

    def run(self) -> None:
        t0 = time.time()
        super().run()
        if not _Hot.names:
            return
        outputs = [Path(self.get_ext_fullpath(n)) for n in _Hot.names]
        group = next(n for n in _Hot.names if n.endswith("__mypyc"))  # the shared library, in the package
        manifest = Path(self.get_ext_fullpath(group)).parent / "compiled.json"
        if all(p.exists() and p.stat().st_mtime >= t0 - 1 for p in outputs):
            manifest.write_text(json.dumps({"sources": _Hot.hashes}, indent=1, sort_keys=True) + "\n")
        else:
            print("elsa-tlm: the hot path was not fully compiled, it stays Python", file=sys.stderr)
            manifest.unlink(missing_ok=True)


# build_ext on every core: the mypyc C files are large
setup(
    ext_modules=ext_modules + _hot_path(),
    cmdclass={"build_ext": BuildExt},
    options={"build_ext": {"parallel": os.cpu_count() or 1}},
)
