"""The dependency rules of ARCHITECTURE.md, checked on every module's imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

# package -> packages it must never import (a prefix matches the package and its modules)
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "core": ("api", "rag", "workspaces", "billing", "widget", "dashboard"),
    "workspaces": ("api", "rag", "billing", "widget", "fastapi", "starlette"),
    "rag": ("api", "billing", "widget", "fastapi", "starlette"),
    "rag.knowledge": ("rag.chat",),
    "billing": ("api", "rag", "widget", "fastapi", "starlette"),
    "widget": ("api", "rag", "billing", "fastapi", "starlette"),
    # The two HTTP layers never import each other's routes (the app factory mounts both).
    # (api.app, the composition root, mounts the dashboard: the one exception below.)
    "api": ("dashboard",),
    "dashboard": ("api.routers", "api.app"),
}


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


MODULES = sorted(
    path
    for package in ("core", "workspaces", "rag", "billing", "widget", "api", "dashboard")
    for path in (ROOT / package).rglob("*.py")
)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_down(path: Path) -> None:
    module = _module(path)
    rules = [bad for package, bad in FORBIDDEN.items() if _under(module, package)]
    wrong = sorted(
        name
        for name in _imports(path)
        for forbidden in rules
        for target in forbidden
        if _under(name, target)
    )
    if module == "api.app":  # the composition root: mounts the dashboard beside the API
        wrong = [name for name in wrong if not _under(name, "dashboard.app")]
    assert wrong == [], f"{module} imports {wrong}"
