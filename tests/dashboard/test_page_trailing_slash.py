"""A dashboard page's address with a trailing slash leads to the page: an owner's walk typed
their workspace's address as ``/app/w/<id>/`` and was told "Page not found ... a workspace you
are not a member of" about their own workspace (the dashboard's catch-all answered before the
app's trailing-slash redirect could). An address that names no page is still the 404 page."""

from __future__ import annotations

import uuid

from tests.dashboard.conftest import WebOwner


async def test_a_page_with_a_trailing_slash_redirects_to_the_page(web: WebOwner) -> None:
    for page, query in (("", ""), ("knowledge", "?notice=x"), ("leads", "?status=new")):
        sent = await web.client.get(web.url(page) + "/" + query)
        assert sent.status_code == 307, (page, sent.status_code)
        assert sent.headers["location"] == web.url(page) + query  # relative: scheme kept
        assert (await web.client.get(sent.headers["location"])).status_code == 200


async def test_an_address_naming_no_page_is_still_not_found(web: WebOwner) -> None:
    for path in (web.url("nothing-here") + "/", f"/app/w/{uuid.uuid4()}/", "/app/nowhere/"):
        answer = await web.client.get(path)
        if answer.status_code == 307:  # a page of a workspace that is not theirs: then 404
            answer = await web.client.get(answer.headers["location"])
        assert answer.status_code == 404, path
        assert "Page not found" in answer.text


async def test_a_post_with_a_trailing_slash_is_refused_not_applied(web: WebOwner) -> None:
    """A form's post sent with a trailing slash is neither redirected (its body sent again
    elsewhere) nor silently dropped as a page: 405, and nothing changed (review 13)."""
    sent = await web.post("/app/account/name/", {"name": "Slash Name"})
    assert sent.status_code == 405, sent.text
    assert sent.json()["error"]["code"] == "method_not_allowed"
    assert "location" not in sent.headers
    assert "Slash Name" not in (await web.client.get("/app/account")).text
