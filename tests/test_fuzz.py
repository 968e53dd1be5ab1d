"""Fuzzing the API with schemathesis against its own OpenAPI schema, and a tenant-isolation sweep.

Runs in-process through the ASGI app, authenticated as a real owner, with a bounded number of
examples per operation. The app builds its own runtime in its lifespan, as a served process
does, on the event loop schemathesis drives every request from.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
import schemathesis.specs.openapi.schemas
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hsettings
from schemathesis.python import asgi
from schemathesis.python.asgi import get_client
from schemathesis.specs.openapi.checks import response_schema_conformance
from sqlalchemy import text

from api.app import create_app
from core.embedded import EmbeddedPostgres
from tests.conftest import APP_ROLE, make_settings
from tests.operator_scratch import _superuser
from tests.own_database import SERVED_APP, without_live_workspaces

# schemathesis.specs.openapi.schemas is what from_asgi imports on first use, imported above
# while only this thread runs: pytest rewrites schemathesis's modules (a plugin) with ast.parse,
# which CPython 3.11 cannot do while another thread converts an AST (a traceback's caret line
# printed from the app's thread): a CI run failed with "AST constructor recursion depth mismatch".
MAX_EXAMPLES = 15
# 503s that are the documented answer of a feature that is switched off in tests.
EXPECTED_503 = {"billing_disabled"}
# Public routes: no credentials, so "A's credentials with B's ids" does not apply.
PUBLIC_PREFIXES = ("/api/v1/auth/", "/api/v1/widget/", "/api/v1/billing/webhooks/", "/api/v1/chat")
ID_PARAM = re.compile(r"\{([a-z_]*id)\}")


@dataclass
class Tenant:
    token: str
    workspace_id: str
    email: str = ""
    password: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(scope="module")
async def fuzz_cluster(pg: EmbeddedPostgres) -> EmbeddedPostgres:
    """A database other than the suite's (tests/own_database.py, SERVED_APP): in the suite's,
    the fuzzed app's start and scheduler went through the thousands of workspaces the tests
    before it had left (beside 1,500 of them the file took 84 s, 56 s on a database of its
    own)."""
    return await without_live_workspaces(pg, SERVED_APP)


@pytest.fixture(scope="module")
def fuzz_database(fuzz_cluster: EmbeddedPostgres) -> str:
    """The app's URL of that database."""
    return fuzz_cluster.app_url(APP_ROLE)


@pytest.fixture(scope="module")
def fuzz_app(fuzz_database: str) -> Iterator[tuple[Any, Any]]:
    """The app as `trulybot serve` builds it: its lifespan builds the runtime (the product's
    pooled engine) on the event loop schemathesis drives every request from, and closes it when
    the lifespan ends. The test's own engine before was unpooled, because it was made on the
    test's loop: each request connected anew (about 1,500 connections), and those connections
    were a third of the fuzz's CPU time (PostgreSQL backends 10.5 s of about 32 s)."""
    app = create_app(settings=make_settings(redis_url=None, database_url=fuzz_database))
    try:
        with get_client(app) as client:
            yield app, client
    finally:
        asgi.shutdown_lifespans()


def _signup(client: Any, name: str) -> Tenant:
    """An owner (unverified: the fuzzer also meets the 403s of what they may not do)."""
    email = f"fuzz-{uuid.uuid4().hex[:10]}@example.com"
    password = "correct horse battery"
    response = client.post(
        "/api/v1/auth/signup",
        json={"email": email, "password": password, "workspace_name": name},
    )
    assert response.status_code == 202, response.text
    token = _login(client, email, password)
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()
    return Tenant(token, me["workspaces"][0]["id"], email, password)


def _login(client: Any, email: str, password: str) -> str:
    login = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert login.status_code == 200, login.text
    return str(login.json()["access_token"])


def _call_signed_in(case: Any, client: Any, owner: Tenant) -> Any:
    """The case's response with a live session: an operation before it (logout, ending a
    session) may have revoked the owner's; then the owner signs in again and the case runs
    again. Without it, from the logout operation on, 1,229 of 1,458 requests were 401
    ``session_revoked`` and never reached a handler: a GET .../leads made to answer 500
    passed the fuzz."""
    response = case.call(session=client, headers=owner.headers)
    if response.status_code == 401 and _error_code(response) == "session_revoked":
        owner.token = _login(client, owner.email, owner.password)
        response = case.call(session=client, headers=owner.headers)
        assert _error_code(response) != "session_revoked", "a new session was revoked at once"
    return response


def _no_server_error(response: Any) -> None:
    if response.status_code < 500:
        return
    assert response.status_code == 503, f"{response.status_code} {response.text[:500]}"
    assert _error_code(response) in EXPECTED_503, response.text[:500]


def _error_code(response: Any) -> str | None:
    with contextlib.suppress(ValueError, KeyError, TypeError):
        return str(response.json()["error"]["code"])
    return None


async def _verify(cluster: EmbeddedPostgres, email: str) -> None:
    """The account's address confirmed, as its verification link would (the fuzzed app sends
    no mail a test can read)."""
    async with _superuser(cluster) as conn:
        done = await conn.execute(
            text("UPDATE users SET email_verified_at = now() WHERE email = :e"), {"e": email}
        )
        assert done.rowcount == 1


ACCOUNT_PREFIXES = ("/api/v1/auth/", "/api/v1/me")
"""Operations whose answer reads the address's verification beyond the 403 (resending the link,
the account's own view): fuzzed as both owners whatever the first pass saw."""


def _fuzz(operation: Any, client: Any, owner: Tenant) -> tuple[str | None, int]:
    """``MAX_EXAMPLES`` of ``operation`` as ``owner``: the failure (None without one) and how many
    examples were refused 403 ``email_unverified``. Derandomized: every owner is sent the same
    examples of an operation."""
    refused = 0

    @given(case=operation.as_strategy())
    @hsettings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],  # report, don't shrink: bounded time
    )
    def run(case: Any) -> None:
        nonlocal refused
        if "workspace_id" in (case.path_parameters or {}):
            case.path_parameters["workspace_id"] = owner.workspace_id
        response = _call_signed_in(case, client, owner)
        if response.status_code == 403 and _error_code(response) == "email_unverified":
            refused += 1
        _no_server_error(response)
        case.validate_response(response, checks=[response_schema_conformance])

    try:
        run()
    except Exception as exc:  # collect every operation's failure, then report them all
        return f"{operation.method.upper()} {operation.path}: {exc}"[:1500], refused
    return None, refused


def test_fuzz_every_operation_no_5xx_and_responses_match_the_schema(
    fuzz_app: tuple[Any, Any], fuzz_cluster: EmbeddedPostgres
) -> None:
    """Every operation as an unverified owner, then as a verified one the operations where that
    can differ: those that refused an example 403 ``email_unverified`` (workspaces, members, API
    keys, exports, webhooks: their handlers only a verified owner reaches), the account's own
    (``ACCOUNT_PREFIXES``) and every read (a list of what only a verified owner could create).
    The other operations' examples are the same for both owners (derandomized) and met no check
    of the address: run again as the verified owner (41 of 100 operations, Dec 2026), they took
    the unverified owner's paths a second time."""
    app, client = fuzz_app
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 10
    failures: list[str] = []
    unverified = _signup(client, "Fuzz")
    refusing, again = [], []
    for operation in operations:
        failure, refused = _fuzz(operation, client, unverified)
        failures += [f"unverified {failure}"] if failure else []
        refusing += [operation] if refused else []
        if (
            refused
            or operation.method.lower() == "get"
            or operation.path.startswith(ACCOUNT_PREFIXES)
        ):
            again.append(operation)
    assert len(refusing) >= 10, [f"{o.method} {o.path}" for o in refusing]
    verified = _signup(client, "Fuzz verified")
    asyncio.run(_verify(fuzz_cluster, verified.email))
    for operation in again:
        failure, refused = _fuzz(operation, client, verified)
        failures += [f"verified {failure}"] if failure else []
        if refused:
            failures.append(f"verified {operation.method} {operation.path}: email_unverified")
    print(f"{len(operations)} operations, {len(again)} again verified, {len(refusing)} refusing")
    assert failures == [], "\n\n".join(failures)


def test_sweep_a_credentials_with_b_ids_answer_404(fuzz_app: tuple[Any, Any]) -> None:
    """Every path with a workspace or object id: A's token with B's ids is a 404, never 2xx/403."""
    _, client = fuzz_app
    a, b = _signup(client, "Sweep A"), _signup(client, "Sweep B")
    b_ids = _objects_of(client, b)
    spec = client.get("/openapi.json").json()
    checked, leaks = 0, []
    for path, methods in spec["paths"].items():
        params = ID_PARAM.findall(path)
        if not params or path.startswith(PUBLIC_PREFIXES):
            continue
        for method in methods:
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            url = path
            for name in params:
                value = (
                    b.workspace_id if name == "workspace_id" else b_ids.get(name, str(uuid.uuid4()))
                )
                url = url.replace("{" + name + "}", value)
            response = client.request(method.upper(), url, headers=a.headers, json={})
            checked += 1
            if response.status_code == 503 and _error_code(response) in EXPECTED_503:
                continue  # the feature is off for everyone: nothing about B is revealed
            if response.status_code != 404 or _error_code(response) != "not_found":
                leaks.append(
                    f"{method.upper()} {path}: {response.status_code} {response.text[:200]}"
                )
    assert leaks == []
    assert checked >= 10


def _objects_of(client: Any, tenant: Tenant) -> dict[str, str]:
    """Real ids of B's objects, so the sweep asks for things that exist (in B's workspace)."""
    ws = f"/api/v1/workspaces/{tenant.workspace_id}"
    ids: dict[str, str] = {}
    lead = client.post(f"{ws}/leads", json={"email": "b-lead@example.com"}, headers=tenant.headers)
    if lead.status_code in (200, 201):
        ids["lead_id"] = lead.json()["id"]
    key = client.post(f"{ws}/api-keys", json={"name": "b"}, headers=tenant.headers)
    if key.status_code == 201:
        ids["key_id"] = key.json()["id"]
    return ids


def test_the_fuzzed_app_answers_a_question_that_reaches_a_vector_statement(
    fuzz_app: tuple[Any, Any],
) -> None:
    """The fuzzer's app binds vectors as the product's engine does (``core.vector_codec`` on
    each new connection): without it, any generated message that reached the FAQ or passage
    search was a 503 ``database_unavailable`` ("expected str, got bytes") made by the test's
    own engine, and the fuzz failed on whichever examples the schema's next change generated."""
    _, client = fuzz_app
    owner = _signup(client, "Vectors")
    response = client.post(
        f"/api/v1/workspaces/{owner.workspace_id}/chat",
        json={"message": "How long does delivery to Berlin take?"},
        headers=owner.headers,
    )
    assert response.status_code == 200, response.text
