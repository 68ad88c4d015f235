"""The code's shape: the import graph has no circle, and packages import only downward.

Every import counts, in any form: ``import a.b``, ``from a import b``, ``from a.b import c``, relative, at module
level, inside a function, and under ``if TYPE_CHECKING`` (a type-only import is still an arrow: the module
names the other one's types, so the two cannot be read, or moved, apart). A package of ``elsa_tlm`` and a
top-level module are each one unit of the layering below; inside a unit its modules import each other freely
(without a circle).
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "elsa_tlm"

# The layers, bottom to top (docs/ARCHITECTURE.md, "Layers"): a unit imports only units of lower layers (units
# of one layer import none of each other). Every package and top-level module of elsa_tlm is placed here (a new
# one fails ``test_every_unit_has_a_layer`` until it is); a name placed here but absent from the code is fine.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "version", "compiled", "gc_pause"),  # nothing of the package
    ("datafiles", "fileio"),  # checked data files; the output guard
    ("config",),
    ("kernel", "transfer", "snn", "recurrences"),  # the event kernel; what crosses between components; SNN
    # kernels; the analytic mode's loops
    ("workload",),
    ("schedule",),
    ("hw",),
    ("noc", "mapping"),
    ("energy",),  # prices what hw/ and noc/ count
    ("plan",),  # prepare -> Plan: workload, activity, topology, mapping, routes
    ("elaborate",),
    ("chip",),
    ("results",),  # collect (plain data), write, trace
    ("analytic",),  # the plan in closed form (run.mode = "analytic"): a Result without events
    ("sim", "figures"),  # run = prepare + simulate + collect; figures draw results
    ("studies",),  # many runs: sweeps, pipelines, elastic, compare, bench, the noc driver
    ("api",),
    ("cli", "elsa_tlm"),  # the commands; the package's own __init__ (the public names)
    ("__main__",),
)

# Arrows that still go up, as (importing module, imported unit) -> why and what removes it (none left). An entry
# no longer in the code fails ``test_no_stale_exceptions``: remove it then.
EXCEPTIONS: dict[tuple[str, str], str] = {}


def module_name(f: Path) -> str:
    return ".".join(("elsa_tlm", *f.relative_to(PKG).with_suffix("").parts)).removesuffix(".__init__")


def unit(module: str) -> str:
    """The layering unit of a module: its package under elsa_tlm, or itself at the top (``elsa_tlm`` for the
    package's own __init__)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


@cache
def modules() -> dict[str, Path]:
    return {module_name(f): f for f in sorted(PKG.rglob("*.py"))}


def imports(f: Path) -> set[str]:
    """Every elsa_tlm module ``f`` imports, in any form (see the module docstring)."""
    mod = module_name(f)
    is_pkg = f.name == "__init__.py"
    known = modules()
    out: set[str] = set()
    for node in ast.walk(ast.parse(f.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "elsa_tlm"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = mod.split(".") if is_pkg else mod.split(".")[:-1]
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, *([base] if base else [])])
            if base.split(".")[0] != "elsa_tlm":
                continue
            for a in node.names:  # ``from pkg import module`` imports the module; a name imports its module
                out.add(f"{base}.{a.name}" if f"{base}.{a.name}" in known else base)
    return out - {mod}


@cache
def graph() -> nx.DiGraph:
    """Module -> module it imports; importing a.b.c also runs a/__init__ and a/b/__init__ first (the parents
    of the importing module itself are already running)."""
    g = nx.DiGraph()
    for mod, f in modules().items():
        g.add_node(mod)
        for dep in imports(f):
            g.add_edge(mod, dep)
            parts = dep.split(".")
            for i in range(1, len(parts)):
                parent = ".".join(parts[:i])
                if parent != mod and not mod.startswith(parent + "."):
                    g.add_edge(mod, parent)
    return g


def layer_of() -> dict[str, int]:
    return {u: i for i, layer in enumerate(LAYERS) for u in layer}


def upward_arrows() -> dict[tuple[str, str], str]:
    """Every import from a unit to one of the same or a higher layer, as (importing module, imported unit) ->
    what is wrong."""
    rank = layer_of()
    out = {}
    for a, b in graph().edges:
        ua, ub = unit(a), unit(b)
        if ua != ub and ua in rank and ub in rank and rank[ub] >= rank[ua]:
            out[(a, ub)] = f"{ua} (layer {rank[ua]}) imports {b} ({ub}: layer {rank[ub]})"
    return out


def test_no_import_cycles() -> None:
    """Modules import each other without a circle, in any import form, type-checking-only ones included."""
    cycles = list(nx.simple_cycles(graph()))
    assert not cycles, cycles[:5]


def test_every_unit_has_a_layer() -> None:
    units = {unit(m) for m in modules()}
    placed = layer_of()
    assert len(placed) == sum(len(layer) for layer in LAYERS), "a unit is placed twice"
    assert units <= set(placed), (
        f"place these in LAYERS (and docs/ARCHITECTURE.md): {sorted(units - set(placed))}"
    )


def test_packages_import_only_downward() -> None:
    """Every arrow between units goes to a lower layer; the listed exceptions are the only ones that do not."""
    bad = {k: v for k, v in upward_arrows().items() if k not in EXCEPTIONS}
    assert not bad, "\n".join(f"{a} -> {b}: {why}" for (a, b), why in sorted(bad.items()))


def test_no_stale_exceptions() -> None:
    """An exception whose arrow is gone is removed from the list (so the list says what is left to do)."""
    stale = set(EXCEPTIONS) - set(upward_arrows())
    assert not stale, f"no longer in the code, remove from EXCEPTIONS: {sorted(stale)}"


def test_the_layers_are_written_down() -> None:
    """docs/ARCHITECTURE.md lists the same layers, bottom to top."""
    doc = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    line = next((x for x in doc.splitlines() if x.startswith("Layers, bottom to top:")), None)
    assert line is not None, "docs/ARCHITECTURE.md: the 'Layers, bottom to top:' line is missing"
    written = [
        tuple(u.strip(" `.") for u in rung.split(",")) for rung in line.split(":", 1)[1].strip().split(" < ")
    ]
    assert written == [tuple(layer) for layer in LAYERS]
