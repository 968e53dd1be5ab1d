"""Adding a URL must not let an owner probe the server's DNS: a host name that does not resolve
and one that resolves to a private address are refused alike (the detail stays in the log).

Before, the first was 422 ``fetch_failed`` "Could not resolve host ..." and the second 422
``url_not_allowed`` "... private or reserved network address": an owner trying names learnt
which internal host names exist (an intranet's ``db``, ``admin``, ``jenkins``...)."""

from __future__ import annotations

import logging
import uuid

import httpx
import pytest

from rag.knowledge.addresses import UrlNotAllowed
from rag.knowledge.fetch import fetch_url
from tests.conftest import Owner

PRIVATE_NAME = "localhost"  # a name this machine resolves, to loopback
"""Stands for an internal host name: it resolves, but to a non-public address."""


def _unresolvable() -> str:
    return f"nowhere-{uuid.uuid4().hex[:12]}.invalid"  # RFC 6761: never resolves


def _same(first: httpx.Response, second: httpx.Response, urls: tuple[str, str]) -> None:
    """The two refusals differ in nothing but the URL each owner sent."""
    assert first.status_code == second.status_code == 422, (first.text, second.text)
    a, b = first.json()["error"], second.json()["error"]
    assert a["code"] == b["code"] == "url_not_allowed"
    assert a["message"] == b["message"]
    assert urls[0] not in a["message"]
    assert urls[1] not in b["message"]
    assert a["details"] == {**b["details"], "url": urls[0]}


@pytest.mark.parametrize("field", ["url", "sitemap_url"])
async def test_an_unresolvable_and_a_private_host_are_refused_alike(
    client: httpx.AsyncClient, owner: Owner, field: str
) -> None:
    urls = (f"http://{PRIVATE_NAME}:9/x.xml", f"http://{_unresolvable()}/x.xml")
    private, missing = [
        await client.post(owner.url("/documents"), json={field: url}, headers=owner.headers)
        for url in urls
    ]
    _same(private, missing, urls)


async def test_fetches_say_the_same_of_both_and_log_which_it_was(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The fetch of a page or a sync (whose error the owner reads on the document or the sync
    record) says the same; the server's log tells which it was."""
    missing_host = _unresolvable()
    errors = []
    with caplog.at_level(logging.INFO, logger="rag.knowledge.addresses"):
        for host in (PRIVATE_NAME, missing_host):
            with pytest.raises(UrlNotAllowed) as info:
                await fetch_url(f"http://{host}:9/page")
            errors.append(info.value)
    assert {e.code for e in errors} == {"url_not_allowed"}
    assert errors[0].message == errors[1].message
    logged = caplog.text
    assert missing_host in logged
    assert "does not resolve" in logged
    assert "non-public" in logged
