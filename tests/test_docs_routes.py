"""Every route the README and docs name (``POST .../documents``, ``GET /api/v1/me``, a curl
line's ``-X PATCH $B/workspaces/$WS/widget``) is served, with that method.

deploy.md sent integrators to ``PUT .../widget``, which the API answers 405: the widget's
settings change with ``PATCH``."""

from __future__ import annotations

import re
import uuid
from functools import cache

from api.app import create_app
from tests.conftest import ROOT, RuntimeFactory, client_for, make_settings

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SKIPPED_DOCS = {"benchmarks.md"}
"""Its tables name what a benchmark measured (``GET /analytics``), not the route to call."""
API_PATH = re.compile(r"^/(workspaces|auth|me|widget|billing|chat|invitations|notifications)\b")
"""A path the docs write without /api/v1 (``POST /workspaces/{id}/leave``)."""
NOT_OURS = ("/v1/payments", "/v1/subscriptions", "/v1/invoices")
"""Razorpay's API, named where billing.md says what the app asks it."""
UNLISTED = {("GET", "/api/v1/auth/verify-email"), ("GET", "/metrics")}
"""Routes served outside the OpenAPI schema (the mailed link's page, the Prometheus scrape)."""

_METHODS = "GET|POST|PUT|PATCH|DELETE|HEAD"
_MENTION = re.compile(
    rf"\b((?:{_METHODS})(?:/(?:{_METHODS}))*)\s+`?((?:\$B|\.\.\.|/)(?:\{{[^}}]*\}}|[^\s`,;)\]])*)"
)


def _full_path(path: str) -> str | None:
    """The path a mention names, from the server's root; None when it is no route of ours."""
    path = path.split("?")[0].rstrip(".:")
    if path.startswith("$B"):
        path = "/api/v1" + path[2:]
    elif path.startswith("..."):
        path = "/api/v1/workspaces/{id}" + path[3:]
    elif API_PATH.match(path):
        path = "/api/v1" + path
    if path.startswith(NOT_OURS) or not path.startswith("/"):
        return None
    return path


def documented_routes() -> set[tuple[str, str, str]]:
    """(method, path, where) of every route the docs name in prose or in a curl line."""
    found: set[tuple[str, str, str]] = set()
    for doc in DOCS:
        if doc.name in SKIPPED_DOCS:
            continue
        text = doc.read_text()
        for match in _MENTION.finditer(text):
            where = f"{doc.name}:{text.count(chr(10), 0, match.start()) + 1}"
            path = _full_path(match.group(2))
            if path is not None:
                found |= {(method, path, where) for method in match.group(1).split("/")}
        for line, method, path in _curl_lines(text):
            found.add((method, path, f"{doc.name}:{line}"))
    return found


def _curl_lines(text: str) -> list[tuple[int, str, str]]:
    """(line, method, path) of each curl command of the doc's ``sh`` blocks."""
    commands = []
    for block in re.finditer(r"^```sh\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL):
        first = text.count("\n", 0, block.start(1)) + 1
        joined = block.group(1).replace("\\\n", "  ")
        for offset, line in enumerate(joined.split("\n")):
            for command in re.findall(r"\bcurl .*?(?=\||$)", line):
                url = re.search(r"""(?:^|\s)["']?(\$B[^\s"']*|https?://[^\s"']*)""", command)
                assert url, command
                method = re.search(r"\s-X\s+([A-Z]+)", command)
                sends = re.search(r"\s-[dF]\s", command)
                verb = method.group(1) if method else "POST" if sends else "GET"
                path = _full_path(re.sub(r"^https?://[^/]+", "", url.group(1)))
                if path is not None:
                    commands.append((first + offset, verb, path))
    return commands


@cache
def _schema_routes() -> list[tuple[re.Pattern[str], frozenset[str]]]:
    spec = create_app(make_settings()).openapi()
    routes = []
    for template, operations in spec["paths"].items():
        pattern = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$")
        methods = {m.upper() for m in operations}
        routes.append((pattern, frozenset(methods | ({"HEAD"} if "GET" in methods else set()))))
    return routes


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]*\}|\$[A-Z]+", "x", path)


def is_served(method: str, path: str) -> bool:
    if (method, path) in UNLISTED:
        return True
    concrete = _concrete(path)
    return any(p.match(concrete) and method in ms for p, ms in _schema_routes())


def test_the_collector_reads_prose_and_curl() -> None:
    text = (
        "Change it with `PATCH .../widget`, roles with `PATCH .../members/{user_id}`,"
        " leave: `DELETE .../members/{their own user_id}` or `POST /workspaces/{id}/leave`.\n"
        "```sh\ncurl -s -X PUT $B/workspaces/$WS/documents/$DOC -H 'X: y' \\\n  -d '{}'\n"
        'TOKEN=$(curl -s -X POST $B/auth/login -d "{}" | python3 -c "x")\n'
        "curl -s $B/workspaces/$WS/leads -o leads.csv\n```\n"
    )
    prose = {(m.group(1), _full_path(m.group(2))) for m in _MENTION.finditer(text)}
    assert prose == {
        ("PATCH", "/api/v1/workspaces/{id}/widget"),
        ("PATCH", "/api/v1/workspaces/{id}/members/{user_id}"),
        ("DELETE", "/api/v1/workspaces/{id}/members/{their own user_id}"),
        ("POST", "/api/v1/workspaces/{id}/leave"),
        ("PUT", "/api/v1/workspaces/$WS/documents/$DOC"),  # a curl's -X reads as prose too
        ("POST", "/api/v1/auth/login"),
    }
    assert [c[1:] for c in _curl_lines(text)] == [
        ("PUT", "/api/v1/workspaces/$WS/documents/$DOC"),
        ("POST", "/api/v1/auth/login"),
        ("GET", "/api/v1/workspaces/$WS/leads"),
    ]
    assert not is_served("PUT", "/api/v1/workspaces/{id}/widget")
    assert is_served("PATCH", "/api/v1/workspaces/{id}/widget")
    assert is_served("HEAD", "/api/v1/workspaces/$WS/leads/export")


def test_every_route_the_docs_name_is_served_with_that_method() -> None:
    routes = documented_routes()
    assert len(routes) > 100
    assert sorted(f"{where}: {m} {p}" for m, p, where in routes if not is_served(m, p)) == []


async def test_the_routes_served_outside_the_schema_are_served(
    runtime_factory: RuntimeFactory,
) -> None:
    """UNLISTED names routes the schema leaves out: each answers its method (not 404/405)."""
    token = uuid.uuid4().hex
    async with runtime_factory(metrics_token=token) as runtime, client_for(runtime) as client:
        spec_paths = (await client.get("/openapi.json")).json()["paths"]
        for method, path in UNLISTED:
            assert method.lower() not in spec_paths.get(path, {})
            response = await client.request(
                method, path, params={"token": token}, headers={"Authorization": f"Bearer {token}"}
            )
            assert response.status_code not in (404, 405), (method, path, response.status_code)
