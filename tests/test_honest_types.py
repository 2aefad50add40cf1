"""The CLI layer, the lean entry and the conflict scans type their parameters and
results honestly: no ``Any`` in a signature (mypy strict then checks every call)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parent.parent / "core"
MODULES = sorted(
    [*(CORE / "cli").glob("*.py")]
    + [CORE / name for name in ("lean.py", "boundary.py", "hookspecs.py", "testrun.py")]
    + [*CORE.glob("conflict_*.py")]
)


def _signature_annotations(tree: ast.Module) -> list[tuple[str, ast.expr]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            arguments = node.args
            every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs,
                     *filter(None, (arguments.vararg, arguments.kwarg))]  # fmt: skip
            found += [(f"{node.name}({a.arg})", a.annotation) for a in every if a.annotation]
            if node.returns is not None:
                found.append((f"{node.name} -> ", node.returns))
    return found


def _mentions_any(annotation: ast.expr) -> bool:
    text = ast.unparse(annotation)
    names = {n.id for n in ast.walk(ast.parse(text.strip("'\""), mode="eval"))
             if isinstance(n, ast.Name)}  # fmt: skip
    return "Any" in names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(CORE)))
def test_no_any_in_a_signature(path: Path) -> None:
    tree = ast.parse(path.read_text())
    untyped = [where for where, annotation in _signature_annotations(tree)
               if _mentions_any(annotation)]  # fmt: skip
    assert untyped == []


def test_the_check_sees_any_where_it_is() -> None:
    tree = ast.parse("def f(orch: Any, v: 'Mapping[str, Any]') -> dict[str, int]: ...")
    assert [w for w, a in _signature_annotations(tree) if _mentions_any(a)] == ["f(orch)", "f(v)"]
