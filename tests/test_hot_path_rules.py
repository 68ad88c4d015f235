"""The hot-path coding rules a test can check (docs/ARCHITECTURE.md, "Hot-path coding rules").

Each rule names what mypyc does with the form it forbids; the test reads the source of every compiled module
(``elsa_tlm.compiled.MODULES``), so a rule broken in a new line fails here rather than in a benchmark."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from elsa_tlm.compiled import MODULES

PKG = Path(__file__).resolve().parents[1] / "elsa_tlm"
# once-per-run reporters and elaboration functions: rule 2 does not apply to them
PER_RUN = {"counters", "link_rows", "producer_links"}
# dataclasses in hot modules: all built before time starts (rule 3); a new one is added here knowingly
BUILT_BEFORE_TIME = {"SliceStats", "SliceSpec", "ProducerLink", "Orders"}


def tree(module: str) -> ast.Module:
    return ast.parse((PKG / module).read_text(), module)


@pytest.mark.parametrize("module", MODULES)
def test_module_constants_are_final(module: str) -> None:
    """Rule 1: a module-level constant or alias is ``Final`` (a C static, not a dict look-up per read)."""
    bad = [
        f"{module}:{n.lineno}: {ast.unparse(n)}"
        for n in tree(module).body
        if isinstance(n, ast.Assign)
        and not any(isinstance(t, ast.Name) and t.id == "__all__" for t in n.targets)
        and isinstance(n.value, ast.Constant | ast.Name | ast.BinOp | ast.Attribute)
    ]
    assert not bad, "not Final:\n" + "\n".join(bad)


def _functions(t: ast.Module) -> list[ast.FunctionDef]:
    out: list[ast.FunctionDef] = []
    for n in t.body:
        if isinstance(n, ast.FunctionDef):
            out.append(n)
        elif isinstance(n, ast.ClassDef):
            out += [f for f in n.body if isinstance(f, ast.FunctionDef)]
    return out


@pytest.mark.parametrize("module", MODULES)
def test_no_augmented_item_assignment(module: str) -> None:
    """Rule 2: ``x[i] = x[i] + n``, never ``x[i] += n`` (compiled, a generic boxed call), outside the
    once-per-run reporters."""
    bad = [
        f"{module}:{n.lineno} in {f.name}: {ast.unparse(n)}"
        for f in _functions(tree(module))
        if f.name not in PER_RUN
        for n in ast.walk(f)
        if isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Subscript)
    ]
    assert not bad, "augmented item assignment on the hot path:\n" + "\n".join(bad)


def test_dataclasses_only_for_what_is_built_before_time() -> None:
    """Rule 3: what is built per event is a plain class (a dataclass's generated constructor is not native)."""
    found = {
        n.name
        for m in MODULES
        for n in ast.walk(tree(m))
        if isinstance(n, ast.ClassDef) and any("dataclass" in ast.unparse(d) for d in n.decorator_list)
    }
    assert found <= BUILT_BEFORE_TIME, f"new dataclasses on the hot path: {sorted(found - BUILT_BEFORE_TIME)}"
    assert found, "the list of dataclasses built before time starts is stale"


def test_the_rules_test_catches_each_form() -> None:
    """The checks above fail on the forms they forbid (so they cannot pass vacuously)."""
    src = "X = 3\nclass A:\n    def f(self, r):\n        r[0] += 1\n"
    t = ast.parse(src)
    assert any(isinstance(n, ast.Assign) for n in t.body)
    assert any(
        isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Subscript)
        for f in _functions(t)
        for n in ast.walk(f)
    )
