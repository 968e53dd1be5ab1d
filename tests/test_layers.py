"""The dependency rules of docs/architecture.md: imports point down, SQL only in repositories,
no router builds what the runtime holds."""

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
    "lifecycle": ("api", "widget", "fastapi", "starlette"),
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
    for package in (
        "core",
        "workspaces",
        "rag",
        "billing",
        "widget",
        "lifecycle",
        "api",
        "dashboard",
    )
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


# SQL outside the repositories: the tenant context (core/db.py, core/fused_begin.py), creating
# the embedded database (core/embedded.py), and the app role's creation and grants
# (core/migrate.py).
SQL_INFRASTRUCTURE = {
    "core/advisory.py",
    "core/db.py",
    "core/direct.py",
    "core/fused_begin.py",
    "core/embedded.py",
    "core/migrate.py",
}
SESSIONS = {"session", "conn", "connection"}
APP_MODULES = sorted(
    path
    for package in ("core", "workspaces", "rag", "billing", "widget", "api")
    for path in (ROOT / package).rglob("*.py")
)


def _is_repository(path: Path) -> bool:
    return "repository" in path.parts or path.stem.endswith("repository")


def _sql_calls(path: Path) -> list[str]:
    """Lines that build raw SQL (sqlalchemy's ``text``) or run a statement on a session."""
    tree = ast.parse(path.read_text(), str(path))
    text_names = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "sqlalchemy"
        for alias in node.names
        if alias.name == "text"
    }
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        raw = isinstance(func, ast.Name) and func.id in text_names
        run = (
            isinstance(func, ast.Attribute)
            and func.attr in {"execute", "scalar", "scalars", "stream"}
            and isinstance(func.value, ast.Name)
            and func.value.id in SESSIONS
        )
        if raw or run:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


@pytest.mark.parametrize("path", APP_MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_sql_only_in_repositories(path: Path) -> None:
    if _is_repository(path) or str(path.relative_to(ROOT)) in SQL_INFRASTRUCTURE:
        return
    assert _sql_calls(path) == []


# What the runtime builds once (api/runtime.py); a router takes it from RuntimeDep.
BUILDERS = {
    "api.runtime.build_runtime",
    "core.db.Database",
    "core.db.create_engine",
    "core.redis.create_redis",
    "core.jobs.ArqQueue",
    "core.jobs.InProcessQueue",
    "rag.knowledge.embeddings.build_embedder",
    "rag.chat.llm.make_generator",
    "rag.chat.cache.ResponseCache",
    "rag.chat.notify.Notifier",
    "rag.chat.pipeline.AnswerPipeline",
    "billing.provider.RazorpayProvider",
}


@pytest.mark.parametrize(
    "path",
    sorted((ROOT / "api" / "routers").glob("*.py")),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_no_router_builds_a_service(path: Path) -> None:
    assert sorted(_imports(path) & BUILDERS) == []
