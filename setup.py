"""The compiled parts of elsa-tlm, built by every install (``pip install .``, ``pip install -e .``, a wheel) so
that no run waits for a JIT compiler. The rest of the project's metadata is in pyproject.toml.

* the PE input-buffer kernel (elsa_tlm/hw/_ibuf_kernel.c), a C extension; optional: without a C compiler
  the install still succeeds and elsa_tlm.hw.input_buffer falls back to numba (or plain Python);
* the simulation's hot path (the modules listed in elsa_tlm/compiled.py), compiled to C with mypyc (about
  twice as fast, same results); optional too: without mypy, with ``ELSA_TLM_COMPILE=0`` or when a module
  fails to build, those modules run as Python. The SHA-256 of each compiled source goes into
  elsa_tlm/compiled.json, so a build never runs against sources changed since (elsa_tlm/compiled.py).
"""

import ast
import hashlib
import json
import os
import sys
from pathlib import Path

from setuptools import Extension, setup

ROOT = Path(__file__).parent
SOURCE = "elsa_tlm/hw/_ibuf_kernel.c"
# compiled in: the module refuses a build whose source has changed since (an editable install not redone)
SHA256 = hashlib.sha256((ROOT / SOURCE).read_bytes()).hexdigest()

ext_modules = [
    Extension(
        "elsa_tlm.hw._ibuf_kernel",
        [SOURCE],
        define_macros=[("IBUF_SOURCE_SHA256", f'"{SHA256}"')],
        # no fused multiply-adds (GCC contracts by default on targets with FMA, e.g. aarch64): the cycle
        # sums must round exactly as the Python reference's
        extra_compile_args=[] if sys.platform == "win32" else ["-ffp-contract=off"],
        optional=True,
    )
]


def _hot_path() -> list[Extension]:
    """The mypyc extensions of the modules elsa_tlm/compiled.py lists (none without mypyc or when disabled)."""
    manifest = ROOT / "elsa_tlm" / "compiled.json"
    if os.environ.get("ELSA_TLM_COMPILE", "1") == "0":
        manifest.unlink(missing_ok=True)
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        print("elsa-tlm: mypyc not found, the hot path stays Python", file=sys.stderr)
        manifest.unlink(missing_ok=True)
        return []
    spec = {}  # MODULES and GROUP, read from elsa_tlm/compiled.py without importing the package
    for node in ast.parse((ROOT / "elsa_tlm" / "compiled.py").read_text()).body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                if isinstance(target, ast.Name) and target.id in ("MODULES", "GROUP"):
                    spec[target.id] = ast.literal_eval(node.value)
    modules, group = spec["MODULES"], spec["GROUP"]
    hashes = {p: hashlib.sha256((ROOT / "elsa_tlm" / p).read_bytes()).hexdigest() for p in modules}
    manifest.write_text(json.dumps({"sources": hashes}, indent=1, sort_keys=True) + "\n")
    # the modules type-check clean with these options (simpy, networkx ship no stubs)
    flags = ["--ignore-missing-imports", "--follow-imports=silent"]
    exts = mypycify([*flags, *(f"elsa_tlm/{p}" for p in modules)], group_name=group, opt_level="3")
    for e in exts:
        e.optional = True  # a failed C build leaves the Python sources in charge (the guard sees it)
    return exts


# build_ext on every core: the mypyc C files are large
setup(ext_modules=ext_modules + _hot_path(), options={"build_ext": {"parallel": os.cpu_count() or 1}})
