"""Documents over HTTP: every format from real files, URLs, limits, duplicates, changes, delete."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any

import docx
import httpx
import pytest
from fpdf import FPDF
from redis.asyncio import Redis
from sqlalchemy import text

from api.runtime import Runtime
from core.db import Database
from rag.knowledge.embeddings import Embedder
from tests.conftest import Owner, client_for, make_runtime, make_settings, signup
from tests.fakes.embedders import CountingEmbedder
from tests.fakes.http_handler import serving

# --- real files ------------------------------------------------------------------------------

# Sections of 40 tokens or more (CHUNK_MIN_TOKENS): each stays a chunk of its own.
MD = """# Widget guide

## Installing

Paste the snippet before the closing body tag. The widget loads asynchronously, so it never
delays the page, and it waits for the visitor's first click before it opens a connection to
the chat server.

## Colours

Pick a brand colour in the dashboard; the launcher button follows it. The chat window uses the
same colour for its header and its send button, and the text on it turns white or black,
whichever of the two reads better against the colour you picked.

## Languages

The widget speaks English and Hindi; more languages are coming. It follows the language of the
visitor's browser and falls back to English when it does not speak that language yet, so
nobody is ever shown an empty window.
"""

HTML = b"""<!doctype html><html><head><title>Refund policy</title></head><body>
<nav><a href="/">Home</a> <a href="/pricing">Pricing</a></nav>
<main><h1>Refunds</h1><p>Refunds are issued within fourteen days of a cancelled order.</p>
<h2>Exceptions</h2><p>Gift cards cannot be refunded.</p></main>
<script>var tracking = 1;</script></body></html>"""


def make_pdf() -> bytes:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for page_text in (
        "Shipping takes three to five business days within India.",
        "International shipping is available to forty countries.",
    ):
        pdf.add_page()
        pdf.multi_cell(0, 10, page_text)
    return bytes(pdf.output())


def make_docx() -> bytes:
    document = docx.Document()
    document.add_heading("Onboarding handbook", level=1)
    document.add_paragraph("New employees receive a laptop on their first day.")
    document.add_heading("Payroll", level=2)
    document.add_paragraph("Salaries are paid on the last working day of each month.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


async def upload(
    client: httpx.AsyncClient,
    who: Owner,
    name: str,
    data: bytes,
    content_type: str,
    title: str | None = None,
) -> httpx.Response:
    return await client.post(
        who.url("/documents"),
        files={"file": (name, data, content_type)},
        data={"title": title} if title else None,
        headers=who.headers,
    )


async def copy_chunks(owner_db: Database, document_id: str, copies: int) -> None:
    """``copies`` more copies of a document's chunks, stored as its own (a workspace filled
    up to a chunks quota without embedding thousands of chunks)."""
    async with owner_db.transaction() as session:
        await session.execute(
            text(
                "INSERT INTO chunks (id, workspace_id, document_id, position, text, metadata,"
                " token_count, content_hash, embedding)"
                " SELECT gen_random_uuid(), workspace_id, document_id, position + g, text,"
                " metadata, token_count, content_hash, embedding"
                " FROM chunks, generate_series(1, :n) g WHERE document_id = :d"
            ),
            {"d": document_id, "n": copies},
        )


async def get_doc(client: httpx.AsyncClient, who: Owner, doc_id: str) -> dict[str, Any]:
    response = await client.get(who.url(f"/documents/{doc_id}"), headers=who.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def chunks_of(client: httpx.AsyncClient, who: Owner, doc_id: str) -> list[dict[str, Any]]:
    response = await client.get(
        who.url(f"/documents/{doc_id}/chunks?limit=100"), headers=who.headers
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def ingested_text(
    client: httpx.AsyncClient, who: Owner, jobs: Any, accepted: httpx.Response
) -> str:
    """The chunks' text of the document ``accepted`` (a 202) once its job ran; it must be
    ready."""
    assert accepted.status_code == 202, accepted.text
    await jobs.drain()
    document = await get_doc(client, who, accepted.json()["id"])
    assert document["status"] == "ready", document
    return "\n".join(c["text"] for c in await chunks_of(client, who, accepted.json()["id"]))


@asynccontextmanager
async def custom_client(
    db: Database, redis_client: Redis, *, embedder: Embedder | None = None, **overrides: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    """A client of an app over its own runtime: these settings, and ``embedder`` if given."""
    async with (
        make_runtime(make_settings(**overrides), db, redis_client, embedder=embedder) as runtime,
        client_for(runtime) as c,
    ):
        yield c, runtime


@contextmanager
def local_site(pages: dict[str, tuple[str, bytes]]) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            page = pages.get(self.path)
            if page is None:
                self.send_response(404)
                self.end_headers()
                return
            content_type, body = page
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    with serving(Handler) as url:
        yield url


# --- tests -----------------------------------------------------------------------------------


async def test_every_format_from_real_files_ends_ready_with_structure(
    client: httpx.AsyncClient, owner: Owner, jobs: Any
) -> None:
    files = [
        ("notes.txt", b"Our office is open from nine to six on weekdays.", "text/plain"),
        ("guide.md", MD.encode(), "text/markdown"),
        ("refunds.html", HTML, "text/html"),
        ("shipping.pdf", make_pdf(), "application/pdf"),
        (
            "handbook.docx",
            make_docx(),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
    ]
    ids = {}
    for name, data, content_type in files:
        response = await upload(client, owner, name, data, content_type)
        assert response.status_code == 202, response.text
        body = response.json()
        assert body["status"] == "queued"
        assert body["duplicate"] is False
        ids[name] = body["id"]
    await jobs.drain()
    assert jobs.failures == []
    for name, doc_id in ids.items():
        doc = await get_doc(client, owner, doc_id)
        assert doc["status"] == "ready", (name, doc)
        assert doc["progress"] == 1.0
        assert doc["chunk_count"] >= 1
        assert doc["source"] == name
    pdf_chunks = await chunks_of(client, owner, ids["shipping.pdf"])
    assert [c["metadata"]["page"] for c in pdf_chunks] == [1, 2]
    md_chunks = await chunks_of(client, owner, ids["guide.md"])
    assert ["Widget guide", "Colours"] in [c["metadata"]["heading_path"] for c in md_chunks]
    html_chunks = await chunks_of(client, owner, ids["refunds.html"])
    html_text = " ".join(c["text"] for c in html_chunks)
    assert "fourteen days" in html_text
    assert "Pricing" not in html_text
    assert "tracking" not in html_text
    assert html_chunks[0]["metadata"]["title"] == "Refund policy"
    docx_chunks = await chunks_of(client, owner, ids["handbook.docx"])
    assert any(c["metadata"]["heading_path"][-1:] == ["Payroll"] for c in docx_chunks)

    listing = await client.get(owner.url("/documents?status=ready"), headers=owner.headers)
    assert listing.status_code == 200
    assert listing.json()["total"] == 5
    search = await client.post(
        owner.url("/search"),
        json={"query": "when are salaries paid", "k": 3, "mode": "hybrid"},
        headers=owner.headers,
    )
    assert search.status_code == 200, search.text
    top = search.json()["results"][0]
    assert top["document_id"] == ids["handbook.docx"]
    assert top["similarity"] is not None


async def test_json_text_duplicates_and_usage(
    client: httpx.AsyncClient, owner: Owner, jobs: Any, owner_db: Database
) -> None:
    payload = {"title": "Opening hours", "text": "We are open from nine to five, Monday to Friday."}
    first = await client.post(owner.url("/documents"), json=payload, headers=owner.headers)
    assert first.status_code == 202, first.text
    await jobs.drain()
    again = await client.post(owner.url("/documents"), json=payload, headers=owner.headers)
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert again.json()["id"] == first.json()["id"]
    same_bytes = await upload(client, owner, "hours.txt", payload["text"].encode(), "text/plain")
    assert same_bytes.status_code == 200
    assert same_bytes.json()["duplicate"] is True
    await jobs.drain()
    async with owner_db.transaction() as session:
        counters = (
            await session.execute(
                text("SELECT documents, chunks FROM usage_counters WHERE workspace_id = :w"),
                {"w": owner.workspace_id},
            )
        ).one()
    assert tuple(counters) == (1, 1)


async def _fail(owner_db: Database, document_id: str) -> None:
    """The document as a passing failure leaves it (the queue or the embedder was down)."""
    async with owner_db.transaction() as session:
        await session.execute(
            text(
                "UPDATE documents SET status = 'failed', error_code = 'queue_unavailable',"
                " error = 'The job could not be queued' WHERE id = :id"
            ),
            {"id": document_id},
        )


async def test_the_same_content_as_a_failed_document_queues_it_again(
    client: httpx.AsyncClient, owner: Owner, jobs: Any, owner_db: Database
) -> None:
    """A document that failed for a passing reason, uploaded again (under its name or another,
    or PUT): it answered 200 `duplicate` ("already there with the same content") and queued
    nothing, so it stayed failed until the owner noticed and pressed Retry."""
    data = f"Deliveries arrive on Mondays ({uuid.uuid4().hex}).".encode()
    first = await upload(client, owner, "deliveries.txt", data, "text/plain")
    assert first.status_code == 202, first.text
    doc_id = first.json()["id"]
    await jobs.drain()
    for again in (
        lambda: upload(client, owner, "deliveries.txt", data, "text/plain"),
        lambda: upload(client, owner, "deliveries-copy.txt", data, "text/plain"),
        lambda: client.put(
            owner.url(f"/documents/{doc_id}"),
            files={"file": ("deliveries.txt", data, "text/plain")},
            headers=owner.headers,
        ),
    ):
        await _fail(owner_db, doc_id)
        response = await again()
        assert response.status_code == 202, response.text
        body = response.json()
        assert (body["id"], body["duplicate"], body["status"]) == (doc_id, False, "queued")
        await jobs.drain()
        doc = await get_doc(client, owner, doc_id)
        assert (doc["status"], doc["error_code"]) == ("ready", None)
    listed = (await client.get(owner.url("/documents"), headers=owner.headers)).json()
    assert listed["total"] == 1
    same = await upload(client, owner, "deliveries-copy.txt", data, "text/plain")
    assert (same.status_code, same.json()["duplicate"]) == (200, True)  # ready: a duplicate


async def test_a_new_version_equal_to_another_document_updates_its_own(
    client: httpx.AsyncClient, owner: Owner, jobs: Any
) -> None:
    """'Refund policy' updated to the text another document already holds becomes that text
    (a new revision): it answered with the other document as a duplicate and kept its old
    text. A re-send of a document's own text changes nothing and says so (updated false)."""
    tag = uuid.uuid4().hex[:6]
    old = f"Refunds for the zebra plan {tag} are possible within 10 days."
    new = f"Refunds for the zebra plan {tag} are possible within 60 days."
    policy = {"title": f"Refund policy {tag}", "text": old}
    first = await client.post(owner.url("/documents"), json=policy, headers=owner.headers)
    assert first.status_code == 202, first.text
    other = await upload(client, owner, f"refunds-{tag}.txt", new.encode(), "text/plain")
    assert other.status_code == 202, other.text
    await jobs.drain()
    updated = await client.post(
        owner.url("/documents"), json={**policy, "text": new}, headers=owner.headers
    )
    assert updated.status_code == 202, updated.text
    assert updated.json()["id"] == first.json()["id"]
    assert updated.json()["duplicate"] is False
    assert updated.json()["updated"] is True
    await jobs.drain()
    doc = await get_doc(client, owner, first.json()["id"])
    assert doc["revision"] == 2
    assert doc["status"] == "ready"
    assert [c["text"] for c in await chunks_of(client, owner, doc["id"])] == [new]
    unchanged = await client.post(
        owner.url("/documents"), json={**policy, "text": new}, headers=owner.headers
    )
    assert unchanged.status_code == 200
    assert unchanged.json()["duplicate"] is True
    assert unchanged.json()["updated"] is False
    assert unchanged.json()["id"] == first.json()["id"]


async def test_blank_text_is_refused_at_once_and_titles_are_trimmed(
    client: httpx.AsyncClient, owner: Owner, jobs: Any
) -> None:
    """A text of blanks is a 422 now, as an empty file is (it was accepted with 202 and failed
    in the job); the titles given keep no surrounding blanks."""
    listing = owner.url("/documents")
    before = (await client.get(listing, headers=owner.headers)).json()["total"]
    for payload in ({"title": "Blank", "text": " \n\t  "}, {"title": "   ", "text": "Facts."}):
        refused = await client.post(listing, json=payload, headers=owner.headers)
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == "validation_error"
    assert (await client.get(listing, headers=owner.headers)).json()["total"] == before
    tag = uuid.uuid4().hex[:8]
    text_doc = await client.post(
        listing,
        json={"title": "  Opening hours  ", "text": f"  Open nine to five ({tag}).  "},
        headers=owner.headers,
    )
    assert text_doc.status_code == 202, text_doc.text
    assert text_doc.json()["title"] == "Opening hours"
    sundays = f"Closed on Sundays ({tag}).".encode()
    file_doc = await upload(client, owner, "hours.txt", sundays, "text/plain", " Sundays ")
    assert file_doc.status_code == 202, file_doc.text
    assert file_doc.json()["title"] == "Sundays"
    await jobs.drain()


async def test_url_from_local_server_and_sitemap(
    db: Database, redis_client: Redis, owner_db: Database
) -> None:
    page = b"<html><head><title>Pricing</title></head><body><main><h1>Plans</h1>"
    page += b"<p>The starter plan costs 999 rupees a month.</p></main></body></html>"
    other = b"<html><head><title>About</title></head><body><p>We build chatbots.</p></body></html>"
    with local_site({"/pricing": ("text/html", page), "/about": ("text/html", other)}) as base:
        sitemap = (
            f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<url><loc>{base}/pricing</loc></url><url><loc>{base}/about</loc></url></urlset>"
        ).encode()
        with local_site({"/sitemap.xml": ("application/xml", sitemap)}) as map_base:
            async with custom_client(db, redis_client, allow_private_urls=True) as (c, runtime):
                who = await signup(c, "Web")
                response = await c.post(
                    who.url("/documents"), json={"url": f"{base}/pricing"}, headers=who.headers
                )
                assert response.status_code == 202, response.text
                doc_id = response.json()["id"]
                maps = await c.post(
                    who.url("/documents"),
                    json={"sitemap_url": f"{map_base}/sitemap.xml"},
                    headers=who.headers,
                )
                assert maps.status_code == 202, maps.text
                assert maps.json()["count"] == 2
                await runtime.jobs.drain()
                doc = await get_doc(c, who, doc_id)
                assert doc["status"] == "ready", doc
                assert doc["title"] == "Pricing"
                chunks = await chunks_of(c, who, doc_id)
                assert chunks[0]["metadata"]["url"] == f"{base}/pricing"
                for sub in maps.json()["documents"]:
                    assert (await get_doc(c, who, sub["id"]))["status"] == "ready"
                # The same URL again re-fetches the same document: nothing new to embed.
                again = await c.post(
                    who.url("/documents"), json={"url": f"{base}/pricing"}, headers=who.headers
                )
                assert again.status_code == 202
                assert again.json()["id"] == doc_id
                assert again.json()["updated"] is True


async def test_loopback_url_refused_by_default(client: httpx.AsyncClient, owner: Owner) -> None:
    response = await client.post(
        owner.url("/documents"), json={"url": "http://127.0.0.1:9/x"}, headers=owner.headers
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "url_not_allowed"


async def test_url_not_allowed_does_not_reveal_resolved_addresses(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    for body in ({"url": "http://localhost:9/x"}, {"sitemap_url": "http://localhost:9/s.xml"}):
        response = await client.post(owner.url("/documents"), json=body, headers=owner.headers)
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "url_not_allowed"
        for address in ("127.0.0.1", "::1"):  # what localhost resolves to, never the client's
            assert address not in response.text


async def test_size_and_type_limits(db: Database, redis_client: Redis) -> None:
    async with custom_client(db, redis_client, max_upload_bytes=2000) as (c, _runtime):
        who = await signup(c, "Limits")
        too_big = await upload(c, who, "big.txt", b"word " * 1000, "text/plain")
        assert too_big.status_code == 413
        assert too_big.json()["error"]["code"] == "payload_too_large"
        exe = await upload(
            c, who, "tool.exe", b"MZ\x90\x00" + bytes(200), "application/x-msdownload"
        )
        assert exe.status_code == 415
        assert exe.json()["error"]["code"] == "unsupported_media_type"
        # Named text, but bytes no text has: refused at once (it was stored ready as pages of
        # control characters the bot then cited). Text in UTF-16, with or without a byte
        # order mark, is still text.
        junk = await upload(c, who, "garbage.txt", bytes(range(256)) * 6, "text/plain")
        assert junk.status_code == 415, junk.text
        assert "binary data" in junk.json()["error"]["message"]
        for data in ("Tea menu\n".encode("utf-16"), "Tea menu, two\n".encode("utf-16-le")):
            text = await upload(c, who, f"menu-{uuid.uuid4().hex[:6]}.txt", data, "text/plain")
            assert text.status_code == 202, text.text


async def test_a_replacement_file_gets_the_upload_limit_not_the_json_body_limit(
    db: Database, redis_client: Redis
) -> None:
    """PUT .../documents/{id} with a multipart file: bounded by MAX_UPLOAD_BYTES like the
    first upload, not by MAX_BODY_BYTES (the JSON bodies' limit)."""
    body_limit, upload_limit = 64 * 1024, 512 * 1024
    async with custom_client(
        db, redis_client, max_body_bytes=body_limit, max_upload_bytes=upload_limit
    ) as (c, runtime):
        who = await signup(c, "Manuals")
        first = await upload(c, who, "manual.txt", b"Version one of the manual.", "text/plain")
        assert first.status_code == 202, first.text
        await runtime.jobs.drain()
        doc_id = first.json()["id"]
        # Twice the JSON body limit, well within the upload limit.
        bigger = b"Version two of the manual, a lot longer. " * (2 * body_limit // 40)
        assert body_limit < len(bigger) < upload_limit
        replaced = await c.put(
            who.url(f"/documents/{doc_id}"),
            files={"file": ("manual.txt", bigger, "text/plain")},
            headers=who.headers,
        )
        assert replaced.status_code == 202, replaced.text
        assert replaced.json()["revision"] == 2
        await runtime.jobs.drain()
        assert (await get_doc(c, who, doc_id))["status"] == "ready"
        # The upload limit still holds for a replacement.
        too_big = await c.put(
            who.url(f"/documents/{doc_id}"),
            files={"file": ("manual.txt", b"x" * (upload_limit + 1), "text/plain")},
            headers=who.headers,
        )
        assert too_big.status_code == 413
        assert too_big.json()["error"]["code"] == "payload_too_large"
        assert (await get_doc(c, who, doc_id))["revision"] == 2  # nothing changed


async def test_nothing_extractable_ends_failed_with_reason(
    client: httpx.AsyncClient, owner: Owner, jobs: Any
) -> None:
    html = b"<html><body><nav>Home</nav><script>x()</script></body></html>"
    response = await upload(client, owner, "empty.html", html, "text/html")
    assert response.status_code == 202
    await jobs.drain()
    doc = await get_doc(client, owner, response.json()["id"])
    assert doc["status"] == "failed"
    assert "No text" in doc["error"]
    retry = await client.post(owner.url(f"/documents/{doc['id']}/retry"), headers=owner.headers)
    assert retry.status_code == 202
    await jobs.drain()
    assert (await get_doc(client, owner, doc["id"]))["status"] == "failed"


async def test_document_quota_429_with_limit(
    client: httpx.AsyncClient, owner: Owner, jobs: Any
) -> None:
    for i in range(20):  # the free plan stores 20 documents
        r = await client.post(
            owner.url("/documents"),
            json={"title": f"Doc {i}", "text": f"Fact number {i} about the product."},
            headers=owner.headers,
        )
        assert r.status_code == 202, r.text
    over = await client.post(
        owner.url("/documents"), json={"title": "One more", "text": "x"}, headers=owner.headers
    )
    assert over.status_code == 429
    error = over.json()["error"]
    assert error["code"] == "quota_exceeded"
    assert error["details"]["limit"] == 20
    assert error["details"]["metric"] == "documents"


async def test_concurrent_uploads_stop_at_the_document_quota(
    client: httpx.AsyncClient, owner: Owner, jobs: Any
) -> None:
    """40 uploads at once into a workspace that may store 20: exactly 20 are taken (each
    count is made after the previous upload's commit), the rest get 429."""
    answers = await asyncio.gather(
        *(
            client.post(
                owner.url("/documents"),
                json={"title": f"Doc {i}", "text": f"Fact number {i} about the product."},
                headers=owner.headers,
            )
            for i in range(40)
        )
    )
    codes = sorted(r.status_code for r in answers)
    assert codes == [202] * 20 + [429] * 20, codes
    await jobs.drain()
    usage = await client.get(owner.url("/usage"), headers=owner.headers)
    assert usage.json()["metrics"]["documents"]["used"] == 20


async def test_chunk_quota_fails_the_document_and_then_refuses(
    db: Database, redis_client: Redis, owner_db: Database
) -> None:
    async with custom_client(db, redis_client, chunk_tokens=8, chunk_overlap_tokens=0) as (
        c,
        runtime,
    ):
        who = await signup(c, "Chunky")
        sentences = " ".join(f"Sentence {i} says something." for i in range(2500))
        big = await c.post(
            who.url("/documents"), json={"title": "Big", "text": sentences}, headers=who.headers
        )
        assert big.status_code == 202
        await runtime.jobs.drain()
        doc = await get_doc(c, who, big.json()["id"])
        assert doc["status"] == "failed"
        assert "2000" in doc["error"]
        ok = await c.post(
            who.url("/documents"),
            json={"title": "Fits", "text": "A short fact."},
            headers=who.headers,
        )
        await runtime.jobs.drain()
        assert (await get_doc(c, who, ok.json()["id"]))["status"] == "ready"
        await copy_chunks(owner_db, ok.json()["id"], 1999)  # fill the store up to the limit
        full = await c.post(
            who.url("/documents"), json={"title": "Full", "text": "a b c"}, headers=who.headers
        )
        assert full.status_code == 429
        assert full.json()["error"]["details"]["metric"] == "chunks"
        assert full.json()["error"]["details"]["limit"] == 2000


async def test_changed_document_reembeds_only_changed_chunks(
    db: Database, redis_client: Redis
) -> None:
    counting = CountingEmbedder()
    async with custom_client(db, redis_client, embedder=counting) as (client, runtime):
        await _reembeds_only_changed_chunks(client, await signup(client), runtime, counting)


async def _reembeds_only_changed_chunks(
    client: httpx.AsyncClient, owner: Owner, runtime: Runtime, counting: CountingEmbedder
) -> None:
    jobs = runtime.jobs
    first = await upload(client, owner, "guide.md", MD.encode(), "text/markdown")
    await jobs.drain()
    doc_id = first.json()["id"]
    before = {c["content_hash"]: c["id"] for c in await chunks_of(client, owner, doc_id)}
    assert len(before) >= 3
    counting.embedded.clear()
    changed = MD.replace("English and Hindi", "English, Hindi and Tamil")
    second = await upload(client, owner, "guide.md", changed.encode(), "text/markdown")
    assert second.status_code == 202
    assert second.json()["id"] == doc_id
    assert second.json()["updated"] is True
    await jobs.drain()
    assert len(counting.embedded) == 1
    assert "Tamil" in counting.embedded[0]
    after = await chunks_of(client, owner, doc_id)
    kept = [c for c in after if c["content_hash"] in before]
    assert len(kept) == len(after) - 1
    assert all(before[c["content_hash"]] == c["id"] for c in kept)
    doc = await get_doc(client, owner, doc_id)
    assert doc["status"] == "ready"
    assert doc["revision"] == 2

    counting.embedded.clear()
    put = await client.put(
        owner.url(f"/documents/{doc_id}"), json={"text": changed}, headers=owner.headers
    )
    assert put.status_code in (200, 202)
    await jobs.drain()
    assert counting.embedded == []  # identical text: every chunk reused


async def test_delete_removes_chunks_and_bumps_knowledge_version(
    client: httpx.AsyncClient, owner: Owner, jobs: Any, owner_db: Database
) -> None:
    r = await client.post(
        owner.url("/documents"),
        json={"title": "Temp", "text": "Temporary knowledge about parking."},
        headers=owner.headers,
    )
    await jobs.drain()
    doc_id = r.json()["id"]
    version_before = (await client.get(owner.url(""), headers=owner.headers)).json()
    deleted = await client.delete(owner.url(f"/documents/{doc_id}"), headers=owner.headers)
    assert deleted.status_code == 204
    assert (
        await client.get(owner.url(f"/documents/{doc_id}"), headers=owner.headers)
    ).status_code == 404
    async with owner_db.transaction() as session:
        left = (
            await session.execute(
                text("SELECT count(*) FROM chunks WHERE document_id = :d"), {"d": doc_id}
            )
        ).scalar_one()
        version = (
            await session.execute(
                text("SELECT knowledge_version FROM workspaces WHERE id = :w"),
                {"w": owner.workspace_id},
            )
        ).scalar_one()
    assert left == 0
    if "knowledge_version" in version_before:
        assert version > version_before["knowledge_version"]
    else:
        assert version >= 2  # ingestion bumped it once, the delete once more


async def test_search_in_a_never_returns_b(
    client: httpx.AsyncClient, owner: Owner, other: Owner, jobs: Any
) -> None:
    secret = "zebracorn protocol unlocks the vault"
    await client.post(
        other.url("/documents"), json={"title": "B secret", "text": secret}, headers=other.headers
    )
    a_doc = await client.post(
        owner.url("/documents"),
        json={"title": "A doc", "text": "Our vault opens at noon."},
        headers=owner.headers,
    )
    await jobs.drain()
    for mode in ("vector", "fulltext", "hybrid"):
        response = await client.post(
            owner.url("/search"),
            json={"query": "zebracorn protocol vault", "k": 10, "mode": mode},
            headers=owner.headers,
        )
        assert response.status_code == 200, response.text
        results = response.json()["results"]
        assert all(r["document_id"] == a_doc.json()["id"] for r in results), mode
        assert all("zebracorn" not in r["text"] for r in results)
    b_docs = (await client.get(other.url("/documents"), headers=other.headers)).json()["items"]
    b_id = b_docs[0]["id"]
    for method, path in (
        ("GET", f"/documents/{b_id}"),
        ("GET", f"/documents/{b_id}/chunks"),
        ("DELETE", f"/documents/{b_id}"),
    ):
        r = await client.request(method, owner.url(path), headers=owner.headers)
        assert r.status_code == 404, (method, path)
    foreign = await client.post(
        other.url("/search"), json={"query": "vault"}, headers=owner.headers
    )
    assert foreign.status_code == 404
    assert uuid.UUID(b_id)


@pytest.mark.parametrize("mode", ["vector", "fulltext", "hybrid"])
async def test_search_validates_input(client: httpx.AsyncClient, owner: Owner, mode: str) -> None:
    response = await client.post(
        owner.url("/search"), json={"query": "", "mode": mode}, headers=owner.headers
    )
    assert response.status_code == 422


async def test_usage_shows_the_documents_and_chunks_stored_not_those_added_this_month(
    client: httpx.AsyncClient, owner: Owner, jobs: Any
) -> None:
    """The documents and chunks quotas count what is stored; the usage report showed the month's
    additions, which a delete never lowered (an owner near the limit who was not)."""
    ids = []
    for n in range(3):
        payload = {"title": f"Note {n}", "text": f"Fact number {n}: the office cat is called Tom."}
        created = await client.post(owner.url("/documents"), json=payload, headers=owner.headers)
        assert created.status_code == 202, created.text
        ids.append(created.json()["id"])
    await jobs.drain()
    for document_id in ids[:2]:
        deleted = await client.delete(owner.url(f"/documents/{document_id}"), headers=owner.headers)
        assert deleted.status_code == 204
    listed = (await client.get(owner.url("/documents"), headers=owner.headers)).json()
    metrics = (await client.get(owner.url("/usage"), headers=owner.headers)).json()["metrics"]
    assert metrics["documents"]["used"] == listed["total"] == 1
    assert metrics["chunks"]["used"] == sum(d["chunk_count"] for d in listed["items"]) == 1


async def test_the_same_new_name_title_or_url_submitted_at_once_makes_one_document(
    db: Database, redis_client: Redis
) -> None:
    """A double click, or a client retrying a slow upload: before, both requests found no
    document, the second insert hit the unique index and answered 500."""
    page = b"<html><head><title>Hours</title></head><body><p>Open nine to five.</p></body></html>"
    with local_site({"/hours": ("text/html", page)}) as base:
        async with custom_client(db, redis_client, allow_private_urls=True) as (c, runtime):
            who = await signup(c, f"Twice {uuid.uuid4().hex[:8]}")
            tag = uuid.uuid4().hex
            uploads = [
                c.post(
                    who.url("/documents"),
                    files={"file": ("guide.md", f"# Guide\n\nVersion {i} ({tag}).".encode())},
                    headers=who.headers,
                )
                for i in range(4)
            ]
            texts = [
                c.post(
                    who.url("/documents"),
                    json={"title": "Opening hours", "text": f"Open until {i} pm ({tag})."},
                    headers=who.headers,
                )
                for i in range(4)
            ]
            urls = [
                c.post(who.url("/documents"), json={"url": f"{base}/hours"}, headers=who.headers)
                for _ in range(4)
            ]
            answers = await asyncio.gather(*uploads, *texts, *urls)
            for group in (answers[0:4], answers[4:8], answers[8:12]):
                assert [r.status_code for r in group] == [202] * 4, [r.text for r in group]
                bodies = [r.json() for r in group]
                assert len({b["id"] for b in bodies}) == 1  # one document for the four
                # One request added it; the others are new versions of it.
                assert sorted(b["updated"] for b in bodies) == [False, True, True, True]
            await runtime.jobs.drain()
            listed = await c.get(who.url("/documents"), headers=who.headers)
            items = listed.json()["items"]
            assert sorted(d["source"] for d in items) == sorted(
                ["guide.md", "Opening hours", f"{base}/hours"]
            )
            assert all(d["status"] == "ready" for d in items), items


def _damaged_docx(*, extract_version: int | None = None, utf8_flag_bad_name: bool = False) -> bytes:
    """A small DOCX whose zip directory says what a damaged file does: a zip version zipfile
    does not know, or a member name flagged UTF-8 that is not."""
    buffer = io.BytesIO()
    document = docx.Document()
    document.add_paragraph("Returns are accepted within thirty days.")
    document.save(buffer)
    data = bytearray(buffer.getvalue())
    at = data.find(b"PK\x01\x02")  # the first central directory entry
    assert at != -1
    if extract_version is not None:
        data[at + 6 : at + 8] = extract_version.to_bytes(2, "little")
    if utf8_flag_bad_name:
        flags = int.from_bytes(data[at + 8 : at + 10], "little") | 0x800
        data[at + 8 : at + 10] = flags.to_bytes(2, "little")
        data[at + 46] = 0x8C  # the name's first byte: no UTF-8 starts so
    return bytes(data)


async def test_a_damaged_docx_or_an_unknown_charset_is_a_clear_4xx(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """A flipped byte in a DOCX's zip directory, or a text part declaring charset=undefined,
    answered 500 internal_error with no reason."""
    docx_type = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    for name, data in (
        ("version.docx", _damaged_docx(extract_version=110)),
        ("name.docx", _damaged_docx(utf8_flag_bad_name=True)),
    ):
        r = await upload(client, owner, name, data, docx_type)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "parse_failed"
    odd = await upload(
        client,
        owner,
        "notes.txt",
        b"\x01\x02\x03abc\xff\xfe\x00\x80" * 50,
        "text/plain; charset=undefined",
    )
    assert odd.status_code == 415, odd.text
    assert "binary data" in odd.json()["error"]["message"]
    readable = await upload(
        client,
        owner,
        f"menu-{uuid.uuid4().hex[:6]}.txt",
        b"Tea and coffee.",
        "text/plain; charset=undefined",
    )
    assert readable.status_code == 202, readable.text
    listed = await client.get(owner.url("/documents"), headers=owner.headers)
    assert [d["source"] for d in listed.json()["items"]] == [readable.json()["source"]]


async def test_an_upload_named_past_what_its_identity_holds_is_refused(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """Multipart file names are unbounded: 3,200 characters answered 500 (the unique index)."""
    name = "".join(uuid.uuid4().hex for _ in range(100)) + ".txt"
    r = await upload(client, owner, name, b"Tea and coffee.", "text/plain")
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "name_too_long"
    ok = await upload(client, owner, "x" * 1000 + ".txt", b"Tea and coffee.", "text/plain")
    assert ok.status_code == 202, ok.text


async def test_restricted_aes_pdf_is_read(
    client: httpx.AsyncClient, owner: Owner, jobs: Any
) -> None:
    """A PDF with an owner password only, AES-encrypted (as Acrobat, Word and scanners write
    them, and every viewer opens): it ended failed "cryptography>=3.1 is required"."""
    from tests.rag.test_parsing import encrypted_pdf

    response = await upload(
        client, owner, "policy.pdf", encrypted_pdf(make_pdf(), "AES-128"), "application/pdf"
    )
    assert response.status_code == 202, response.text
    await jobs.drain()
    doc = await get_doc(client, owner, response.json()["id"])
    assert doc["status"] == "ready", doc["error"]
    assert "forty countries" in " ".join(
        c["text"] for c in await chunks_of(client, owner, doc["id"])
    )


async def test_pasted_text_replaces_a_text_document_and_a_pdf_takes_a_file(
    client: httpx.AsyncClient, owner: Owner, jobs: Any
) -> None:
    """PUT {text} on an uploaded prices.pdf answered 415 "File does not look like a valid TXT":
    the wrong format named, and no way through."""
    pdf = await upload(client, owner, "prices.pdf", make_pdf(), "application/pdf")
    notes = await upload(client, owner, "notes.md", b"# Notes\n\nTea costs two euros.", "")
    assert (pdf.status_code, notes.status_code) == (202, 202), (pdf.text, notes.text)
    await jobs.drain()
    pdf_id, notes_id = pdf.json()["id"], notes.json()["id"]
    pasted = {"text": "Prices: tea 2 EUR, coffee 3 EUR."}
    refused = await client.put(
        owner.url(f"/documents/{pdf_id}"), json=pasted, headers=owner.headers
    )
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "not_replaceable_by_text"
    assert "PDF" in error["message"]
    assert "uploading a file" in error["message"]
    assert (await get_doc(client, owner, pdf_id))["revision"] == 1  # nothing changed
    replaced = await client.put(
        owner.url(f"/documents/{pdf_id}"),
        files={"file": ("prices.pdf", make_pdf() + b"\n% v2\n", "application/pdf")},
        headers=owner.headers,
    )
    assert replaced.status_code == 202, replaced.text
    text_ok = await client.put(
        owner.url(f"/documents/{notes_id}"), json=pasted, headers=owner.headers
    )
    assert text_ok.status_code == 202, text_ok.text
    await jobs.drain()
    assert (await get_doc(client, owner, notes_id))["status"] == "ready"


async def test_a_reupload_racing_a_replacement_gets_a_revision_of_its_own(
    runtime: Runtime, owner: Owner, owner_db: Database
) -> None:
    """A re-upload of guide.md while a PUT of it was committing read the revision before the
    PUT's and wrote the PUT's number again: the PUT's job then ended superseded and the
    re-upload's job, under the same id, was refused while that one ran."""
    from rag.knowledge import submissions
    from workspaces import repository as ws_repo
    from workspaces.service import WorkspaceAccess

    ws = uuid.UUID(owner.workspace_id)
    settings = runtime.settings
    tag = uuid.uuid4().hex

    async def access(session: Any) -> WorkspaceAccess:
        workspace = await ws_repo.get_workspace(session, ws)
        assert workspace is not None
        return WorkspaceAccess.operator(workspace, command="test")

    async def upload_guide(version: str) -> submissions.Submission:
        async with runtime.db.transaction(workspace_id=ws) as session:
            return await submissions.submit_upload(
                session,
                await access(session),
                data=f"{version} {tag}".encode(),
                filename="guide.md",
                content_type="text/markdown",
                settings=settings,
            )

    document_id = (await upload_guide("v1")).document.id

    async with runtime.db.transaction(workspace_id=ws) as session:
        replaced = await submissions.replace_document(
            session,
            await access(session),
            document_id,
            data=f"v2 {tag}".encode(),
            content_type="text/markdown",
            settings=settings,
        )
        assert replaced.document.revision == 2
        racing = asyncio.create_task(upload_guide("v3"))
        for _ in range(300):  # until the re-upload waits for this transaction's row lock
            async with owner_db.transaction() as check:
                waiting = await check.scalar(
                    text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
                )
            if waiting:
                break
            await asyncio.sleep(0.05)
        assert waiting, "the re-upload never waited for the replacement"
    assert (await racing).document.revision == 3
    await runtime.jobs.drain()


async def test_an_upload_whose_content_type_is_longer_than_stored_keeps_its_media_type(
    client: httpx.AsyncClient, owner: Owner, jobs: Any
) -> None:
    """A multipart part whose Content-Type carried long extra parameters (some clients and
    proxies add them) answered 500 on POST and PUT (documents.content_type holds 200): now the
    media type and its charset are kept, and only a media type itself too long is refused."""
    tag = uuid.uuid4().hex[:8]
    long_type = "text/plain; charset=utf-8; x=" + "a" * 300
    posted = await upload(client, owner, f"long-{tag}.txt", f"Tea {tag}.".encode(), long_type)
    assert posted.status_code == 202, posted.text
    assert posted.json()["content_type"] == "text/plain; charset=utf-8"
    doc_id = posted.json()["id"]
    replaced = await client.put(
        owner.url(f"/documents/{doc_id}"),
        files={
            "file": (f"long-{tag}.txt", f"Coffee {tag}.".encode(), "text/plain; x=" + "b" * 300)
        },
        headers=owner.headers,
    )
    assert replaced.status_code == 202, replaced.text
    assert replaced.json()["content_type"] == "text/plain"
    await jobs.drain()
    doc = await get_doc(client, owner, doc_id)
    assert (doc["status"], doc["revision"]) == ("ready", 2)
    assert [c["text"] for c in await chunks_of(client, owner, doc_id)] == [f"Coffee {tag}."]
    refused = await upload(client, owner, f"odd-{tag}.txt", b"Tea.", "text/" + "x" * 300)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "content_type_too_long"


async def test_text_with_a_nul_is_refused_at_once_as_everywhere_else(
    client: httpx.AsyncClient, owner: Owner, jobs: Any
) -> None:
    """POST {title, text} with a NUL answered 202, took a document slot and a job, then failed
    as a file "holding binary data"; PUT and an upload of the same text answered 415. Now 422
    invalid_text, the API's answer for a NUL, on POST and on PUT's JSON alike."""
    listing = owner.url("/documents")
    before = (await client.get(listing, headers=owner.headers)).json()["total"]
    tag = uuid.uuid4().hex[:8]
    for text_ in ("Refunds take\x00 five days.", "\x00"):
        refused = await client.post(
            listing, json={"title": f"Refunds {tag}", "text": text_}, headers=owner.headers
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == "invalid_text"
    assert (await client.get(listing, headers=owner.headers)).json()["total"] == before
    made = await client.post(
        listing, json={"title": f"Refunds {tag}", "text": "Five days."}, headers=owner.headers
    )
    assert made.status_code == 202, made.text
    await jobs.drain()
    put = await client.put(
        owner.url(f"/documents/{made.json()['id']}"),
        json={"text": "Ten\x00 days."},
        headers=owner.headers,
    )
    assert put.status_code == 422, put.text
    assert put.json()["error"]["code"] == "invalid_text"
    doc = await get_doc(client, owner, made.json()["id"])
    assert (doc["status"], doc["revision"]) == ("ready", 1)


async def test_a_title_sent_with_new_text_renames_a_text_document(
    client: httpx.AsyncClient, owner: Owner, jobs: Any
) -> None:
    """PUT {text, title} on a text document answered 202 and kept the old title, and the same
    text with only a new title queued a new revision anyway. Now the title (a text document's
    identity) changes, a title another text document has is 409 title_taken, and the same
    text and title as stored is a duplicate with nothing queued."""
    tag = uuid.uuid4().hex[:8]
    listing = owner.url("/documents")
    body = f"Shop {tag} opens at nine."
    first = await client.post(
        listing, json={"title": f"Hours {tag}", "text": body}, headers=owner.headers
    )
    taken = await client.post(
        listing, json={"title": f"Taken {tag}", "text": f"Other {tag}."}, headers=owner.headers
    )
    assert (first.status_code, taken.status_code) == (202, 202), (first.text, taken.text)
    await jobs.drain()
    doc_url = owner.url(f"/documents/{first.json()['id']}")
    renamed = await client.put(
        doc_url, json={"text": body, "title": f"Opening hours {tag}"}, headers=owner.headers
    )
    assert renamed.status_code == 202, renamed.text
    await jobs.drain()
    doc = await get_doc(client, owner, first.json()["id"])
    assert (doc["title"], doc["source"]) == (f"Opening hours {tag}", f"Opening hours {tag}")
    assert (doc["status"], doc["revision"]) == ("ready", 2)
    [chunk] = await chunks_of(client, owner, doc["id"])
    assert chunk["metadata"]["title"] == f"Opening hours {tag}"
    # The same text and title again: nothing to do.
    same = await client.put(
        doc_url, json={"text": body, "title": f"Opening hours {tag}"}, headers=owner.headers
    )
    assert same.status_code == 200, same.text
    assert same.json()["duplicate"] is True
    assert (await get_doc(client, owner, doc["id"]))["revision"] == 2
    # Another text document's title: refused, nothing changed.
    clash = await client.put(
        doc_url, json={"text": body, "title": f"Taken {tag}"}, headers=owner.headers
    )
    assert clash.status_code == 409, clash.text
    assert clash.json()["error"]["code"] == "title_taken"
    assert clash.json()["error"]["details"]["document_id"] == taken.json()["id"]
    after = await get_doc(client, owner, doc["id"])
    assert (after["title"], after["revision"]) == (f"Opening hours {tag}", 2)
    # The new title is its identity: posting it again is this document; the old one is free.
    again = await client.post(
        listing, json={"title": f"Opening hours {tag}", "text": body}, headers=owner.headers
    )
    assert (again.status_code, again.json()["id"]) == (200, doc["id"])
    old_title = await client.post(
        listing, json={"title": f"Hours {tag}", "text": f"Closed {tag}."}, headers=owner.headers
    )
    assert old_title.status_code == 202, old_title.text
    assert old_title.json()["id"] not in (doc["id"], taken.json()["id"])
    await jobs.drain()
