"""The knowledge page's documents and FAQs a page at a time by keyset cursor, as the API's
lists: paged by offset, a document (or FAQ) added while the owner read the first page pushed
the first page's last row onto the next one, shown twice, and the offset stopped at 100 000."""

from __future__ import annotations

import html
import re
import uuid

from sqlalchemy import text

from core.db import Database
from core.models import utcnow
from core.pagination import cursor_scope, encode_key
from dashboard.pages.knowledge import FAQ_PAGE_SIZE, PAGE_SIZE
from tests.dashboard.conftest import WebOwner


def _documents(page: str) -> list[str]:
    return re.findall(r'<tr data-document="([^"]+)"', page)


def _faqs(page: str) -> list[str]:
    return re.findall(r'<tr data-faq="([^"]+)"', page)


def _link(page: str, link_id: str) -> str | None:
    found = re.search(rf'id="{link_id}" href="([^"]+)"', page)
    return html.unescape(found.group(1)) if found else None


async def _insert(owner_db: Database, workspace_id: str, table: str, count: int, age: int) -> None:
    """``count`` documents or FAQs, the newest ``age`` minutes old, a minute apart."""
    rows = [
        {
            "i": uuid.uuid4(),
            "w": uuid.UUID(workspace_id),
            "n": f"{table} {age}-{n}",
            "m": age + n,
            "s": uuid.uuid4().hex,
        }
        for n in range(count)
    ]
    statement = (
        "INSERT INTO documents (id, workspace_id, title, source_type, source, status, created_at)"
        " VALUES (:i, :w, :n, 'text', :s, 'ready', now() - make_interval(mins => :m))"
        if table == "documents"
        else "INSERT INTO faqs (id, workspace_id, question, answer, alt_questions, enabled,"
        " created_at, updated_at) VALUES (:i, :w, :n, 'yes', '{}', true,"
        " now() - make_interval(mins => :m), now())"
    )
    async with owner_db.transaction() as session:
        await session.execute(text(statement), rows)


async def test_documents_page_by_cursor_and_a_new_one_moves_none_between_pages(
    web: WebOwner, owner_db: Database
) -> None:
    await _insert(owner_db, web.workspace_id, "documents", PAGE_SIZE + 1, age=10)
    first = (await web.client.get(web.url("knowledge"))).text
    shown = _documents(first)
    assert len(shown) == PAGE_SIZE
    assert f"{PAGE_SIZE + 1} documents" in first
    following = _link(first, "documents-next")
    assert following
    assert "cursor=" in following
    assert "offset" not in following

    await _insert(owner_db, web.workspace_id, "documents", 1, age=0)  # added meanwhile
    second = await web.client.get(following)
    assert second.status_code == 200
    rest = _documents(second.text)
    assert len(rest) == 1  # the oldest one, not the first page's last again
    assert set(rest).isdisjoint(shown)
    assert _link(second.text, "documents-next") is None
    assert _link(second.text, "documents-first") == web.url("knowledge")

    # The poll of a later page keeps polling that page; a delete there comes back to it.
    cursor = following.partition("cursor=")[2]
    fragment = await web.client.get(web.url("knowledge/documents"), params={"cursor": cursor})
    assert _documents(fragment.text) == rest
    delete = re.search(r'action="([^"]+/delete[^"]*)"', second.text)
    assert delete
    deleted = await web.post(html.unescape(delete.group(1)))
    assert deleted.status_code == 303
    assert f"cursor={cursor}" in deleted.headers["location"]
    landed = await web.client.get(deleted.headers["location"])
    assert "No documents on this page." in landed.text


async def test_faqs_page_by_cursor_keeping_the_documents_page(
    web: WebOwner, owner_db: Database
) -> None:
    await _insert(owner_db, web.workspace_id, "documents", PAGE_SIZE + 1, age=10)
    await _insert(owner_db, web.workspace_id, "faqs", FAQ_PAGE_SIZE + 1, age=10)
    first = (await web.client.get(web.url("knowledge"))).text
    documents_next = _link(first, "documents-next")
    assert documents_next
    on_second = (await web.client.get(documents_next)).text
    shown = _faqs(on_second)
    assert len(shown) == FAQ_PAGE_SIZE
    faqs_next = _link(on_second, "faqs-next")
    assert faqs_next
    assert "faq_cursor=" in faqs_next
    assert documents_next.partition("?")[2] in faqs_next  # the documents' page kept

    await _insert(owner_db, web.workspace_id, "faqs", 1, age=0)  # added meanwhile
    second = (await web.client.get(faqs_next)).text
    rest = _faqs(second)
    assert len(rest) == 1
    assert set(rest).isdisjoint(shown)
    assert len(_documents(second)) == 1  # still the documents' second page
    assert _link(second, "faqs-next") is None
    assert _link(second, "faqs-first")


async def test_a_garbled_or_foreign_cursor_is_the_422_page(web: WebOwner) -> None:
    for name in ("cursor", "faq_cursor"):
        garbled = await web.client.get(web.url("knowledge"), params={name: "garbage"})
        assert garbled.status_code == 422, garbled.text
        assert "Invalid cursor" in garbled.text
        assert "<h1>" in garbled.text
    fragment = await web.client.get(web.url("knowledge/documents"), params={"cursor": "x"})
    assert fragment.status_code == 422
    # A cursor of the FAQs' list is not one of the documents'.
    faq_cursor = encode_key(
        utcnow(), uuid.uuid4(), scope=cursor_scope("faqs", uuid.UUID(web.workspace_id))
    )
    foreign = await web.client.get(web.url("knowledge"), params={"cursor": faq_cursor})
    assert foreign.status_code == 422
    assert "another list" in foreign.text
    too_long = await web.client.get(web.url("knowledge"), params={"cursor": "a" * 201})
    assert too_long.status_code == 422
