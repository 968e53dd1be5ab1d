"""Every error code the API can answer is in docs/errors.md, and every code there is answered.

35 codes (``email_taken``, ``invalid_refresh_token``, ``faq_duplicate``...) were named nowhere in
the README or docs: an integrator met them only in a response."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

from api.errors import _HTTP_CODES

ROOT = Path(__file__).resolve().parent.parent
# What serves the API (the dashboard's pages answer HTML, not these codes).
PACKAGES = ("api", "core", "workspaces", "rag", "billing", "lifecycle", "widget")
# Calls with a ``code=`` that is no error's (a plan's code).
NOT_ERRORS = frozenset({"Plan"})
_BYTES_CODE = re.compile(rb'"code":\s*"([a-z_]+)"')


def _name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else ""


def _text(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def codes_in(tree: ast.AST) -> set[str]:
    """The codes one module can answer: ``code=`` of a call (an error raised or built), the
    ``code`` of an error class (not the base's), an error body's code (``error_body``,
    ``send_error``, a ``{"code": ...}`` dict, raw bytes), the HTTP layer's fallback."""
    found: set[str | None] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _name(node)
            for keyword in node.keywords:
                if keyword.arg == "code" and name not in NOT_ERRORS:
                    found.add(_text(keyword.value))
            if name == "error_body" and node.args:
                found.add(_text(node.args[0]))
            if name == "send_error" and len(node.args) > 2:
                found.add(_text(node.args[2]))
            if name == "get" and ast.unparse(node.func) == "_HTTP_CODES.get":
                found.add(_text(node.args[1]) if len(node.args) > 1 else None)
        elif isinstance(node, ast.ClassDef) and node.name != "AppError":
            for statement in node.body:
                target = (
                    statement.targets[0]
                    if isinstance(statement, ast.Assign)
                    else statement.target
                    if isinstance(statement, ast.AnnAssign)
                    else None
                )
                if isinstance(target, ast.Name) and target.id == "code":
                    found.add(_text(statement.value))  # type: ignore[union-attr]
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if _text(key) == "code":
                    found.add(_text(value))
        elif isinstance(node, ast.Constant) and isinstance(node.value, bytes):
            found.update(m.decode() for m in _BYTES_CODE.findall(node.value))
    return {code for code in found if code}


def answered_codes() -> set[str]:
    codes = set(_HTTP_CODES.values())
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            codes |= codes_in(ast.parse(path.read_text(), filename=str(path)))
    return codes


def documented_codes() -> set[str]:
    text = (ROOT / "docs" / "errors.md").read_text()
    return set(re.findall(r"^\| `([a-z_]+)` \|", text, flags=re.MULTILINE))


def test_every_answered_error_code_is_documented() -> None:
    answered = answered_codes()
    assert len(answered) > 100
    assert sorted(answered - documented_codes()) == []


def test_every_documented_error_code_is_answered() -> None:
    assert sorted(documented_codes() - answered_codes()) == []


def test_the_collector_finds_each_way_a_code_is_written() -> None:
    """The collector itself: each form a code takes in the code, and what is no error's."""
    source = """
class Gone(AppError):
    code = "from_a_class"
raise ValidationFailed("x", code="from_a_keyword")
error_body("from_error_body", "m")
send_error(send, 504, "from_send_error", "m")
body = {"error": {"code": "from_a_dict"}}
raw = b'{"error":{"code":"from_bytes"}}'
code = _HTTP_CODES.get(status, "from_the_fallback")
Plan(code="free")
"""
    assert codes_in(ast.parse(source)) == {
        "from_a_class",
        "from_a_keyword",
        "from_error_body",
        "from_send_error",
        "from_a_dict",
        "from_bytes",
        "from_the_fallback",
    }


RECORDED_ONLY = {("internal_error", 400), ("nothing_extractable", 400), ("no_content", 400)}
"""Raised by a job and recorded on the document or the sync (``error_code``), never answered:
their status is no response's."""


def _error_classes(trees: list[ast.Module]) -> dict[str, tuple[str, int]]:
    """Each ``AppError`` subclass of the code: its (code, status), inherited where not its own."""
    own: dict[str, tuple[str | None, int | None, list[str]]] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                values: dict[str, object] = {}
                for statement in node.body:
                    if isinstance(statement, ast.Assign | ast.AnnAssign):
                        target = (
                            statement.targets[0]
                            if isinstance(statement, ast.Assign)
                            else statement.target
                        )
                        if isinstance(target, ast.Name) and isinstance(
                            statement.value, ast.Constant
                        ):
                            values[target.id] = statement.value.value
                bases = [ast.unparse(base).split(".")[-1] for base in node.bases]
                own.setdefault(
                    node.name,
                    (values.get("code"), values.get("status_code"), bases),  # type: ignore[arg-type]
                )

    def resolve(name: str) -> tuple[str, int] | None:
        if name == "AppError":
            return ("error", 400)
        if name not in own:
            return None
        code, status, bases = own[name]
        for base in bases:
            if (inherited := resolve(base)) is not None:
                return (code or inherited[0], status or inherited[1])
        return None

    return {name: found for name in own if (found := resolve(name)) is not None}


def answered_statuses() -> dict[str, set[tuple[int, str]]]:
    """code -> (status, where) of each domain error the code raises or defines."""
    paths = [p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))]
    trees = [ast.parse(p.read_text(), filename=str(p)) for p in paths]
    classes = _error_classes(trees)
    found: dict[str, set[tuple[int, str]]] = {}
    for name, (code, status) in classes.items():
        found.setdefault(code, set()).add((status, f"class {name}"))
    for path, tree in zip(paths, trees, strict=True):
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _name(node) in classes:
                keywords = {k.arg: k.value for k in node.keywords}
                code, status = classes[_name(node)]
                code = _text(keywords.get("code")) or code
                given = keywords.get("status_code")
                if given is not None:
                    if not isinstance(given, ast.Constant):
                        continue
                    status = given.value
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                found.setdefault(code, set()).add((status, where))
    return found


def documented_statuses() -> dict[str, set[int]]:
    text = (ROOT / "docs" / "errors.md").read_text()
    rows = re.findall(r"^\| `([a-z_]+)` \| ([^|]*) \|", text, flags=re.MULTILINE)
    return {code: {int(s) for s in re.findall(r"\b\d{3}\b", status)} for code, status in rows}


def test_every_error_is_answered_with_a_status_docs_errors_md_gives_its_code() -> None:
    """``user_token_required`` was documented 401 and answered 403 on the notification
    preferences; ``embedding_failed`` documented 502 and answered 503 once its retries ran out."""
    documented = documented_statuses()
    wrong = sorted(
        f"{where}: {code} {status}, documented {sorted(documented[code])}"
        for code, answers in answered_statuses().items()
        for status, where in answers
        if code in documented
        and documented[code]
        and status not in documented[code]
        and (code, status) not in RECORDED_ONLY
    )
    assert wrong == []


def test_every_status_written_with_a_code_is_the_codes_status() -> None:
    """Where the README, the docs, .env.example or the OpenAPI descriptions write a status with
    a code ("409 `title_taken`", "403 ``wrong_password``"), it is a status docs/errors.md gives
    that code."""
    from api.app import create_app
    from tests.conftest import make_settings

    documented = documented_statuses()
    texts = {p.name: p.read_text() for p in [ROOT / "README.md", ROOT / ".env.example"]}
    texts |= {p.name: p.read_text() for p in sorted((ROOT / "docs").glob("*.md"))}
    texts["/openapi.json"] = json.dumps(create_app(make_settings()).openapi())
    wrong = [
        f"{name}: {match.group(0)}, documented {sorted(documented[match.group(2)])}"
        for name, text in texts.items()
        for match in re.finditer(r"\b([1-5]\d\d) `{0,2}([a-z][a-z_]+)\b", text)
        if documented.get(match.group(2)) and int(match.group(1)) not in documented[match.group(2)]
    ]
    assert wrong == []
