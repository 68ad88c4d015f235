"""Which modules run compiled, and the guard that keeps a stale build from running.

The simulation's hot path (the lane groups, network interfaces, routers, networks, transports and the
kernel: :data:`MODULES`) is plain, type-annotated Python that the install also compiles to C extensions
with mypyc (``setup.py``; optional: without mypy, or with ``ELSA_TLM_COMPILE=0`` at install, everything runs
as Python). Compiled, a run is two to three times as fast with the same results, byte for byte: mypyc keeps Python's
semantics (integers stay exact, floats are C doubles as in CPython) and the golden tests run on whatever the
install built.

Python imports an extension module in preference to its source, so a build must never outlive its sources:
the install records the SHA-256 of every compiled source in ``compiled.json``; on import this module checks
the extensions present against it and, if any source changed since (an editable install not redone), or an
extension is missing, or ``ELSA_TLM_PURE=1`` is set, makes *all* of them load from their sources (they call
each other natively, so they are compiled and loaded as one group) and says why once on stderr (not for
``ELSA_TLM_PURE``). :func:`status` tells which way the package runs (``make bench`` records it).
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.machinery
import importlib.util
import json
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

PACKAGE = Path(__file__).resolve().parent
MANIFEST = PACKAGE / "compiled.json"
GROUP = "elsa_tlm._native"  # mypyc's shared library of the group: elsa_tlm/_native__mypyc.<ext>
# the hot path, compiled together (setup.py reads this tuple); paths relative to the package. No class here
# may extend a Python class (SimPy's): a native class over a Python base crashed some clean builds (a
# SystemError in a dict look-up, segfaults in the collector), which is why the channel serves SimPy's
# put/get protocol itself instead of extending BaseResource
MODULES: tuple[str, ...] = (
    "kernel.py",
    "hw/channel.py",
    "hw/core.py",
    "hw/im2col.py",
    "hw/ni.py",
    "hw/residual.py",
    "noc/latency.py",
    "noc/link.py",
    "noc/network.py",
    "noc/router.py",
    "noc/transport.py",
    "noc/vc_network.py",
    "noc/vc_router.py",
    "schedule/policy.py",
    "schedule/readiness.py",
    "transfer.py",
)


# once compiled, no longer: an extension of theirs left by an older build in an editable tree never loads
RETIRED: tuple[str, ...] = ()


def module_name(path: str) -> str:
    return "elsa_tlm." + path[: -len(".py")].replace("/", ".")


def source_hashes(root: Path = PACKAGE) -> dict[str, str]:
    """SHA-256 of every compiled module's source (what the install records and the guard compares)."""
    return {p: hashlib.sha256((root / p).read_bytes()).hexdigest() for p in MODULES}


def _extension(path: Path) -> Path | None:
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        ext = path.with_name(path.name.split(".")[0] + suffix)
        if ext.exists():
            return ext
    return None


def _check() -> tuple[bool, str]:
    """(compiled, why): whether the extensions may be used."""
    present = [p for p in MODULES if _extension(PACKAGE / p) is not None]
    if not present:
        return False, "not compiled (installed without mypyc, or ELSA_TLM_COMPILE=0)"
    if os.environ.get("ELSA_TLM_PURE") == "1":
        return False, "ELSA_TLM_PURE=1: running the Python sources"
    missing = [p for p in MODULES if p not in present]
    shared = GROUP.split(".")[-1] + "__mypyc"  # the group's shared library, beside the modules
    if _extension(PACKAGE / (shared + ".py")) is None:
        missing.append(shared)
    if missing:
        return False, f"incomplete build (no extension for {', '.join(missing)}): running the Python sources"
    try:
        recorded = json.loads(MANIFEST.read_text())["sources"]
    except (OSError, ValueError, KeyError):
        return False, f"no valid {MANIFEST.name} beside the extensions: running the Python sources"
    if set(recorded) != set(MODULES):
        return False, "the build compiled another set of modules: running the Python sources (`make setup`)"
    changed = [p for p, h in source_hashes().items() if recorded.get(p) != h]
    if changed:
        return False, (
            f"{', '.join(changed)} changed since the install compiled them: running the Python sources "
            "(slower; `make setup` or `pip install -e .` compiles them again)"
        )
    return True, "compiled with mypyc"


class _SourceFinder:
    """A meta-path finder that loads the given modules from their ``.py`` files."""

    def __init__(self, modules: Sequence[str]) -> None:
        self.paths = {module_name(p): PACKAGE / p for p in modules}

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        src = self.paths.get(fullname)
        return None if src is None else importlib.util.spec_from_file_location(fullname, src)


COMPILED, WHY = _check()
_from_source = [p for p in RETIRED if _extension(PACKAGE / p) is not None]
if not COMPILED and not WHY.startswith("not compiled"):  # extensions present that must not load
    if not WHY.startswith("ELSA_TLM_PURE"):
        print(f"elsa-tlm: {WHY}", file=sys.stderr)
    _from_source += MODULES
if _from_source and not any(isinstance(f, _SourceFinder) for f in sys.meta_path):
    sys.meta_path.insert(0, _SourceFinder(_from_source))


def status() -> dict[str, object]:
    """How the hot path runs: ``{"compiled": bool, "why": str}``."""
    return {"compiled": COMPILED, "why": WHY}


__all__ = ["MODULES", "COMPILED", "status", "source_hashes", "module_name"]


def load_c_library(module: str, source: Path, sha_symbol: str, fallback: str) -> ctypes.CDLL | None:
    """A C extension the install built (``module``, from ``source``) opened for ctypes, or None: not built,
    not loadable, or built from another version of ``source`` (its ``sha_symbol`` function returns the SHA-256
    compiled in; a clone whose source changed since ``pip install -e .`` warns and runs ``fallback``)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin:
        return None
    try:
        lib = ctypes.CDLL(spec.origin)
        sha = getattr(lib, sha_symbol)
        sha.restype = ctypes.c_char_p
        built = sha().decode()
    except (OSError, AttributeError) as e:
        warnings.warn(f"{spec.origin} does not load ({e}); using {fallback}", stacklevel=3)
        return None
    if source.is_file() and hashlib.sha256(source.read_bytes()).hexdigest() != built:
        warnings.warn(
            f"{spec.origin} was built from another version of {source.name} (rebuild: pip install -e .); "
            f"using {fallback}",
            stacklevel=3,
        )
        return None
    return lib
