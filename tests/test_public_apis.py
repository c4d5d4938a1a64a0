"""The pipeline's own code uses its dependencies through their public APIs only.

No private module (``prefect.server`` internals, ``cbsodata.cbsodata3``'s helpers, ``a._b``), no
private attribute of a dependency's object reached by name, no attribute of a dependency's module
or class set (a monkeypatch). Our own names (``flows``, ``sources``, ...) may be private.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = ("flows", "sources", "transforms", "expectations", "warehouse")
STANDARD_PRIVATE_OK: set[str] = set()  # a private name a module truly needs, each with its reason


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _problems(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    theirs: set[str] = set()  # names bound to a dependency's module or object by an import
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] not in OURS:
                    theirs.add((alias.asname or alias.name).split(".")[0])
                    found += [f"imports private module {alias.name}" for part in alias.name.split(".") if _private(part)]
                    if alias.name.startswith("prefect.server"):
                        found.append(f"imports Prefect's server internals {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.split(".")[0] not in OURS:
            theirs.update(alias.asname or alias.name for alias in node.names)
            found += [f"imports private module {node.module}" for part in node.module.split(".") if _private(part)]
            found += [f"imports private name {alias.name} from {node.module}" for alias in node.names if _private(alias.name)]
            if node.module.startswith("prefect.server"):
                found.append(f"imports Prefect's server internals {node.module}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in theirs:
            if _private(node.attr) and f"{node.value.id}.{node.attr}" not in STANDARD_PRIVATE_OK:
                found.append(f"line {node.lineno}: {node.value.id}.{node.attr}")
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, (ast.Store, ast.Del)):
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in theirs:
                found.append(f"line {node.lineno}: sets {ast.unparse(node)} (a monkeypatch)")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "setattr", "hasattr"):
            if len(node.args) > 1 and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str) and _private(node.args[1].value):
                found.append(f"line {node.lineno}: {node.func.id}(..., {node.args[1].value!r})")
    return found


@pytest.mark.parametrize("path", sorted(p for package in OURS for p in (ROOT / package).rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_private_api_of_a_dependency_and_no_monkeypatch(path):
    assert _problems(path) == []
