"""Uploads whose text decodes to characters UTF-8 cannot hold (lone surrogates).

A text part may declare any charset Python knows, and a few of those decode bytes to lone
surrogates (``\\ud800``): ``unicode_escape`` and ``raw_unicode_escape`` (Python's own codecs,
no charset a browser or a mail client sends) from ``\\ud800`` written out, UTF-7 from
``+2AA-``. The upload was accepted (202) and its job failed with ``internal_error`` (the
database driver could not encode the chunk), an error report sent each time, and none of the
document's text was searchable. Now what the charset decodes to is stored, a lone surrogate
as U+FFFD, as a byte that does not decode is (whatever the format: ``parse`` makes every
section's text, heading and the title storable)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from rag.knowledge.parsing import parse
from tests.conftest import Owner
from tests.rag.test_documents_api import ingested_text, upload

TEA = "Tea costs two euros"


@pytest.mark.parametrize(
    ("charset", "data"),
    [
        ("unicode_escape", b"Tea costs two euros \\ud800 at the kiosk."),
        ("raw_unicode_escape", b"Tea costs two euros \\ud800 at the kiosk."),
        ("utf-7", b"Tea costs two euros +2AA- at the kiosk."),
    ],
)
@pytest.mark.parametrize("name", ["prices.txt", "prices.md"])
def test_parsed_text_is_always_storable(charset: str, data: bytes, name: str) -> None:
    parsed = parse(data, filename=name, content_type=f"text/plain; charset={charset}")
    parsed.text.encode("utf-8")  # no lone surrogate
    parsed.title.encode("utf-8")
    assert TEA in parsed.text


def test_headings_and_titles_are_storable() -> None:
    data = b"# Prices \\udc00\n\nTea costs two euros.\n\n## Coffee \\ud800\n\nThree euros.\n"
    parsed = parse(data, filename="prices.md", content_type="text/markdown; charset=unicode_escape")
    parsed.title.encode("utf-8")
    for section in parsed.sections:
        section.text.encode("utf-8")
        for heading in section.heading_path:
            heading.encode("utf-8")


async def test_an_upload_decoding_to_a_lone_surrogate_is_stored_and_searchable(
    client: httpx.AsyncClient, owner: Owner, jobs: Any
) -> None:
    word = f"kiosk{uuid.uuid4().hex[:8]}"
    accepted = await upload(
        client,
        owner,
        "prices.txt",
        f"Tea costs two euros \\ud800 at the {word}.".encode(),
        "text/plain; charset=unicode_escape",
    )
    assert word in await ingested_text(client, owner, jobs, accepted)
    found = await client.post(
        owner.url("/search"), json={"query": word, "mode": "fulltext"}, headers=owner.headers
    )
    assert found.status_code == 200, found.text
    assert found.json()["results"], found.json()
