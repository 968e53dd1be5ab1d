"""A replacement that fails to ingest, told to the owner as it is: the document is ``failed``
and its last good version's chunks keep answering (they are swapped only in the job's last
transaction), so its reason says so, with that version's chunk count and when it was ingested;
a first version that fails says nothing answers from it. Retry runs the stored (failed) version
again, not the old one; the old file sent again is ingested (its chunks reused); deleting the
document removes the old chunks too. Real app, real ingestion, small real documents."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import text

from core.db import Database
from tests.conftest import Owner
from tests.rag.test_documents_api import MD, chunks_of, copy_chunks, get_doc, upload


def _empty_markdown() -> bytes:
    """A Markdown file with no text to extract (a comment only): ``nothing_extractable``."""
    return f"<!-- draft {uuid.uuid4().hex}: the text is to come -->\n".encode()


def _guide() -> bytes:
    """``MD`` (three sections: three chunks or more), unique to the test."""
    return (MD + f"\nReference {uuid.uuid4().hex}.\n").encode()


def _minute(value: str) -> str:
    """An API time as a failure's reason writes it: "2026-12-06 19:40 UTC"."""
    return f"{datetime.fromisoformat(value).astimezone(UTC):%Y-%m-%d %H:%M} UTC"


async def _search(client: httpx.AsyncClient, who: Owner, query: str) -> list[dict[str, Any]]:
    found = await client.post(
        who.url("/search"), json={"query": query, "k": 5}, headers=who.headers
    )
    assert found.status_code == 200, found.text
    results: list[dict[str, Any]] = found.json()["results"]
    return results


async def _replace(client: httpx.AsyncClient, who: Owner, doc_id: str, data: bytes) -> None:
    put = await client.put(
        who.url(f"/documents/{doc_id}"),
        files={"file": ("guide.md", data, "text/markdown")},
        headers=who.headers,
    )
    assert put.status_code == 202, put.text


async def _ready_guide(
    client: httpx.AsyncClient, who: Owner, jobs: Any
) -> tuple[bytes, dict[str, Any]]:
    data = _guide()
    first = await upload(client, who, "guide.md", data, "text/markdown")
    assert first.status_code == 202, first.text
    await jobs.drain()
    ready = await get_doc(client, who, first.json()["id"])
    assert ready["status"] == "ready", ready
    assert ready["chunk_count"] >= 3
    return data, ready


LONG_PARKING = "\n\n".join(
    f"## Level {i}\n\n" + " ".join(f"bay{i}x{j}" for j in range(80)) for i in range(8)
)
"""A parking text of several chunks."""


async def parking_and_filler(client: httpx.AsyncClient, owner: Owner) -> dict[str, str]:
    """Two text documents of one chunk each, "Parking" and "Filler", posted (not ingested yet);
    their ids by title."""
    ids = {}
    for title, body in (("Parking", "Visitors park on level two."), ("Filler", "A short fact.")):
        posted = await client.post(
            owner.url("/documents"),
            json={"title": title, "text": f"{body} ({uuid.uuid4().hex})"},
            headers=owner.headers,
        )
        assert posted.status_code == 202, posted.text
        ids[title] = str(posted.json()["id"])
    return ids


async def replaced_text(
    client: httpx.AsyncClient, owner: Owner, jobs: Any, doc_id: str, text: str
) -> dict[str, Any]:
    """The document once ``text`` replaced its own (a PUT, 202) and its job ran."""
    put = await client.put(
        owner.url(f"/documents/{doc_id}"), json={"text": text}, headers=owner.headers
    )
    assert put.status_code == 202, put.text
    await jobs.drain()
    return await get_doc(client, owner, doc_id)


async def test_a_failed_replacement_says_its_last_good_version_keeps_answering(
    client: httpx.AsyncClient, owner: Owner, jobs: Any
) -> None:
    """Before: the document was ``failed`` with "No text could be extracted from this document"
    alone, while its old chunks went on answering unsaid (only a web page's reason said so)."""
    data, ready = await _ready_guide(client, owner, jobs)
    doc_id, count = ready["id"], ready["chunk_count"]
    old_chunks = {c["id"] for c in await chunks_of(client, owner, doc_id)}

    await _replace(client, owner, doc_id, _empty_markdown())
    await jobs.drain()
    failed = await get_doc(client, owner, doc_id)
    assert (failed["status"], failed["error_code"]) == ("failed", "nothing_extractable")
    assert failed["error"].startswith("No text could be extracted from this document. ")
    assert "Retry runs the version that failed again" in failed["error"], failed["error"]
    assert ready["ingested_at"] == ready["processed_at"]
    assert (
        f"Its last good version ({count} chunks, ingested {_minute(ready['ingested_at'])})"
        " keeps answering until a new version is ingested." in failed["error"]
    ), failed["error"]
    # What the reason says is so: the old chunks are there and answer.
    assert (failed["chunk_count"], failed["ingested_at"]) == (count, ready["ingested_at"])
    assert {c["id"] for c in await chunks_of(client, owner, doc_id)} == old_chunks
    hits = await _search(client, owner, "Which languages does the widget speak?")
    assert [h["document_id"] for h in hits] == [doc_id]

    # Retry runs the stored new file again (it fails again), not the old one: still failed,
    # still saying the same last good version answers.
    retry = await client.post(owner.url(f"/documents/{doc_id}/retry"), headers=owner.headers)
    assert retry.status_code == 202, retry.text
    await jobs.drain()
    retried = await get_doc(client, owner, doc_id)
    assert (retried["status"], retried["revision"]) == ("failed", failed["revision"] + 1)
    assert retried["error"] == failed["error"]
    assert retried["ingested_at"] == ready["ingested_at"]

    # The previous file sent again, as the reason says: ingested again, every chunk reused.
    await _replace(client, owner, doc_id, data)
    await jobs.drain()
    back = await get_doc(client, owner, doc_id)
    assert (back["status"], back["error"], back["chunk_count"]) == ("ready", None, count)
    assert back["ingested_at"] > ready["ingested_at"]
    assert {c["id"] for c in await chunks_of(client, owner, doc_id)} == old_chunks


async def test_a_failed_first_version_says_nothing_answers_from_it(
    client: httpx.AsyncClient, owner: Owner, jobs: Any
) -> None:
    """Before: the reason alone, nothing said of what answers (nothing does)."""
    first = await upload(client, owner, "draft.md", _empty_markdown(), "text/markdown")
    assert first.status_code == 202, first.text
    await jobs.drain()
    failed = await get_doc(client, owner, first.json()["id"])
    assert failed["error"] == (
        "No text could be extracted from this document. Nothing answers from it: no version of"
        " it has been ingested yet."
    )
    assert (failed["status"], failed["chunk_count"], failed["ingested_at"]) == ("failed", 0, None)
    assert "last good version" not in failed["error"]


async def test_a_failed_text_replacement_says_to_send_its_text_again(
    client: httpx.AsyncClient, owner: Owner, jobs: Any, owner_db: Database
) -> None:
    """A text document of one chunk replaced by a text of several, past the chunks quota
    (2,000 on the plan a sign-up gets; another document holds 1,999): ``quota_exceeded``,
    and its one chunk still answers."""
    ids = await parking_and_filler(client, owner)
    await jobs.drain()
    ready = await get_doc(client, owner, ids["Parking"])
    assert (ready["status"], ready["chunk_count"]) == ("ready", 1)
    await copy_chunks(owner_db, ids["Filler"], 1998)  # 1,999 beside Parking's one
    failed = await replaced_text(client, owner, jobs, ids["Parking"], LONG_PARKING)
    assert (failed["status"], failed["error_code"]) == ("failed", "quota_exceeded"), failed
    assert "to go back to the last good one, send its text again" in failed["error"]
    assert (
        f"Its last good version (1 chunk, ingested {_minute(ready['ingested_at'])})"
        in (failed["error"])
    )
    assert failed["chunk_count"] == 1
    [kept] = await chunks_of(client, owner, ids["Parking"])
    assert "level two" in kept["text"]


async def test_deleting_a_failed_replacement_removes_the_old_chunks_too(
    client: httpx.AsyncClient, owner: Owner, jobs: Any, owner_db: Database
) -> None:
    _, ready = await _ready_guide(client, owner, jobs)
    doc_id = ready["id"]
    await _replace(client, owner, doc_id, _empty_markdown())
    await jobs.drain()
    assert (await get_doc(client, owner, doc_id))["status"] == "failed"
    assert await _search(client, owner, "Which languages does the widget speak?")

    deleted = await client.delete(owner.url(f"/documents/{doc_id}"), headers=owner.headers)
    assert deleted.status_code == 204, deleted.text
    async with owner_db.transaction() as session:
        left = await session.execute(
            text("SELECT count(*) FROM chunks WHERE document_id = :d"), {"d": doc_id}
        )
        assert left.scalar_one() == 0
    assert await _search(client, owner, "Which languages does the widget speak?") == []
