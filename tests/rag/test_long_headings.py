"""A heading is kept whole in its section's text, and cut in its chunks' heading path.

Every chunk of a section carries the section's heading path in its metadata, twice
(``heading_path``, ``heading_text``), and its BM25 terms are counted over it. A Markdown file of
490 KB, one heading line of 245 KB and as much text under it, made 1,213 chunks whose metadata
alone came to 594 MB, held in the worker at once and written to the database; 10 MB (the upload
limit) would have been some 120 GB. Now a heading path's parts are at most ``MAX_HEADING``
characters (the heading's words all stay in the text, where they are searched and cited)."""

from __future__ import annotations

import json
import uuid

import pytest

from rag.knowledge.chunking import chunk_document
from rag.knowledge.parsed import MAX_HEADING
from rag.knowledge.parsing import parse


@pytest.mark.parametrize(
    ("name", "template"),
    [
        ("notes.md", "# {heading}\n\n{body}\n"),
        ("notes.md", "{heading}\n=====\n\n{body}\n"),
        ("notes.html", "<h1>{heading}</h1><p>{body}</p>"),
    ],
)
def test_a_long_heading_is_cut_in_the_path_and_kept_in_the_text(name: str, template: str) -> None:
    words = [f"w{uuid.uuid4().hex[:10]}" for _ in range(20_000)]  # 240 KB
    heading, body = " ".join(words), " ".join(reversed(words))
    parsed = parse(
        template.format(heading=heading, body=body).encode(), filename=name, content_type=None
    )
    for section in parsed.sections:
        assert all(len(h) <= MAX_HEADING for h in section.heading_path), section.heading_path
    assert parsed.sections[0].heading_path[0].startswith(words[0])
    assert words[-1] in parsed.text  # the heading's last word: in the text, not lost
    pieces = chunk_document(parsed, max_tokens=250, overlap=40, min_tokens=40)
    metadata = sum(len(json.dumps(p.heading_path)) for p in pieces)
    assert metadata <= len(pieces) * (MAX_HEADING + 10)
