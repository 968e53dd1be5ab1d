"""A replacement that fails keeps the notice of the version still answering: a PDF ingested with
a page left out (``pages_unreadable``) and then replaced by a file that fails. Before, the
failure's reason replaced the notice (``error``/``error_code`` hold one or the other): the owner
read only about the version that failed, and nothing said the version answering lacks a page.
Now the notice is the answering version's own (``ingested_notice``, ``ingested_notice_code``,
migration 0054), kept while a replacement is queued and after it fails, and the failure's reason
names it after what answers; the failure itself is told as any failure is."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Owner
from tests.rag.test_documents_api import get_doc, upload
from tests.rag.test_pdf_broken_pages import _broken, _cut_string, _pdf, _words

NOTICE = "Page 2 of 3 could not be read and was left out"


async def _with_page_left_out(
    client: httpx.AsyncClient, owner: Owner, jobs: Any, name: str
) -> dict[str, Any]:
    """``name``, a PDF of three pages whose second is broken, ingested: ready with NOTICE."""
    pdf = _broken(_pdf(_words(3)), {2}, _cut_string)
    first = await upload(client, owner, name, pdf, "application/pdf")
    assert first.status_code == 202, first.text
    await jobs.drain()
    ready = await get_doc(client, owner, first.json()["id"])
    assert (ready["status"], ready["error_code"], ready["error"]) == (
        "ready",
        "pages_unreadable",
        NOTICE,
    )
    return ready


async def _replace(
    client: httpx.AsyncClient, owner: Owner, ready: dict[str, Any], pdf: bytes
) -> None:
    put = await client.put(
        owner.url(f"/documents/{ready['id']}"),
        files={"file": (ready["source"], pdf, "application/pdf")},
        headers=owner.headers,
    )
    assert put.status_code == 202, put.text


async def test_a_failed_replacement_keeps_the_answering_version_s_notice(
    client: httpx.AsyncClient, owner: Owner, jobs: Any
) -> None:
    ready = await _with_page_left_out(client, owner, jobs, "manual.pdf")
    doc_id = ready["id"]
    unreadable = _broken(_pdf(_words(2)), {1, 2}, _cut_string)  # no page reads: parse_failed
    await _replace(client, owner, ready, unreadable)
    queued = await get_doc(client, owner, doc_id)
    assert queued["status"] in ("queued", "processing")
    await jobs.drain()

    failed = await get_doc(client, owner, doc_id)
    assert failed["status"] == "failed", failed
    assert failed["error_code"] == "parse_failed"  # the failure, as any failure is told
    assert failed["chunk_count"] == ready["chunk_count"]
    assert "keeps answering until a new version is ingested" in failed["error"]
    assert failed["error"].endswith(f" In the version answering: {NOTICE}."), failed["error"]
    for seen in (ready, queued, failed):  # the answering version's, whatever the status
        assert (seen.get("ingested_notice_code"), seen.get("ingested_notice")) == (
            "pages_unreadable",
            NOTICE,
        )


async def test_a_replacement_ingested_whole_clears_the_notice(
    client: httpx.AsyncClient, owner: Owner, jobs: Any
) -> None:
    ready = await _with_page_left_out(client, owner, jobs, "guide.pdf")
    await _replace(client, owner, ready, _pdf(_words(3)))
    await jobs.drain()
    whole = await get_doc(client, owner, ready["id"])
    assert whole["status"] == "ready", whole
    assert whole["error"] is None
    assert whole.get("ingested_notice", "-") is None
    assert whole.get("ingested_notice_code", "-") is None
