"""A path with a trailing slash behind a TLS proxy: never a redirect to http:// (which re-sent
a body in cleartext, or lost the token), and a write is not redirected at all."""

from __future__ import annotations

import uuid

from api.slashes import _location
from tests.conftest import RuntimeFactory, client_for, signup

PROXIED = {"X-Forwarded-Proto": "https", "Host": "api.example.com"}


async def test_a_trailing_slash_keeps_the_scheme_and_a_write_is_refused(
    runtime_factory: RuntimeFactory,
) -> None:
    async with runtime_factory(trusted_proxies="127.0.0.1/32") as rt, client_for(rt) as client:
        owner = await signup(client)
        headers = owner.headers | PROXIED
        email = f"slash-{uuid.uuid4().hex[:8]}@example.com"

        read = await client.get(owner.url("/leads/?limit=1"), headers=headers)
        assert read.status_code == 307, read.text
        assert read.headers["location"] == owner.url("/leads?limit=1")
        assert "strict-transport-security" in read.headers
        followed = await client.get(read.headers["location"], headers=headers)
        assert followed.status_code == 200, followed.text

        write = await client.post(owner.url("/leads/"), json={"email": email}, headers=headers)
        assert write.status_code == 404, write.text
        error = write.json()["error"]
        assert error["code"] == "not_found"
        assert error["details"] == [{"path": owner.url("/leads")}]
        assert "location" not in write.headers
        listing = await client.get(owner.url("/leads"), params={"q": email}, headers=headers)
        assert listing.json()["items"] == []

        # A path served by nothing either way is a plain 404, not a redirect.
        unknown = await client.get(owner.url("/nothing-here/"), headers=headers)
        assert unknown.status_code == 404
        assert "location" not in unknown.headers


def test_a_redirect_never_names_another_host() -> None:
    """A path that would read as //host (or /\\host) once its slash is dropped is not
    redirected to; the query is kept and the path stays as the client encoded it."""
    assert _location({"path": "//evil.example/", "raw_path": b"//evil.example/"}, "/x/") is None
    assert _location({"path": "/\\evil/", "raw_path": b"/\\evil/"}, "/x/") is None
    scope = {"path": "/a b/", "raw_path": b"/a%20b/", "query_string": b"q=1"}
    assert _location(scope, "/a b/") == "/a%20b?q=1"
