"""The content types a fetched page may come as: an accepted type's other names
(shared-mime-info's aliases: ``application/x-pdf``, ``application/acrobat``...) are read as that
type, with the same checks (a body that is no PDF is ``content_type_mismatch``) and the same cap;
a type that says nothing (a forced download) is read by the URL's extension, ``.html`` too, and a
charset the header declares is kept. Before: a PDF served as ``application/x-pdf`` was refused
415, as was a page at ``/guide.html`` sent as ``application/octet-stream``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from fpdf import FPDF
from redis.asyncio import Redis

from core.db import Database
from core.errors import UnsupportedMediaType
from rag.knowledge.fetch import FetchTooLarge, fetch_url
from tests.conftest import signup
from tests.rag.test_documents_api import chunks_of, custom_client, get_doc, local_site

Page = tuple[str, bytes]  # content type, body


def _pdf(word: str) -> bytes:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 8, f"The manual says {word}.")
    return bytes(pdf.output())


@pytest.fixture
def site() -> Iterator[tuple[str, dict[str, Page]]]:
    pages: dict[str, Page] = {}  # read at each request: a test adds its pages
    with local_site(pages) as base:
        yield base, pages


PDF_ALIASES = ["application/x-pdf", "application/acrobat", "application/nappdf", "image/pdf"]


@pytest.mark.parametrize("alias", PDF_ALIASES)
async def test_a_pdf_under_another_name_is_read_as_a_pdf(
    site: tuple[str, dict[str, Page]], alias: str
) -> None:
    base, pages = site
    data = _pdf(uuid.uuid4().hex)
    pages["/manual"] = (alias, data)
    page = await fetch_url(base + "/manual", allow_private=True)
    assert (page.content_type, page.data) == ("application/pdf", data)
    # The cap applies as to application/pdf.
    with pytest.raises(FetchTooLarge):
        await fetch_url(base + "/manual", allow_private=True, max_bytes=len(data) - 1)


@pytest.mark.parametrize(
    ("path", "sent", "read"),
    [
        ("/guide.html", "application/octet-stream", "text/html; charset=iso-8859-1"),
        ("/guide.htm", "application/force-download", "text/html; charset=iso-8859-1"),
        ("/notes.markdown", "application/octet-stream", "text/markdown; charset=iso-8859-1"),
        ("/manual.pdf", "application/x-download", "application/pdf; charset=iso-8859-1"),
    ],
)
async def test_a_type_that_says_nothing_is_read_by_the_extension_with_its_charset(
    site: tuple[str, dict[str, Page]], path: str, sent: str, read: str
) -> None:
    base, pages = site
    pages[path] = (f"{sent}; charset=iso-8859-1", b"caf\xe9")
    page = await fetch_url(base + path, allow_private=True)
    assert page.content_type == read


async def test_an_unrelated_type_is_still_refused(site: tuple[str, dict[str, Page]]) -> None:
    base, pages = site
    pages["/photo.pdf"] = ("image/png", b"\x89PNG....")
    with pytest.raises(UnsupportedMediaType):
        await fetch_url(base + "/photo.pdf", allow_private=True)


async def test_a_page_sent_as_x_pdf_is_ingested_and_checked_as_a_pdf(
    db: Database, redis_client: Redis, site: tuple[str, dict[str, Page]]
) -> None:
    base, pages = site
    word = f"w{uuid.uuid4().hex}"
    pages["/manual"] = ("application/x-pdf", _pdf(word))
    # An error page sent under the PDF's type is what it is for application/pdf: a mismatch.
    pages["/broken"] = ("application/x-pdf", b"<html><body><p>Server error</p></body></html>")
    async with custom_client(db, redis_client, allow_private_urls=True) as (c, runtime):
        who = await signup(c, f"Types {uuid.uuid4().hex[:8]}")
        sent = {}
        for path in ("/manual", "/broken"):
            answer = await c.post(
                who.url("/documents"), json={"url": base + path}, headers=who.headers
            )
            assert answer.status_code == 202, answer.text
            sent[path] = answer.json()["id"]
        await runtime.jobs.drain()
        manual = await get_doc(c, who, sent["/manual"])
        assert (manual["status"], manual["content_type"]) == ("ready", "application/pdf"), manual
        assert word in " ".join(chunk["text"] for chunk in await chunks_of(c, who, manual["id"]))
        broken = await get_doc(c, who, sent["/broken"])
        assert (broken["status"], broken["error_code"]) == ("failed", "content_type_mismatch")
