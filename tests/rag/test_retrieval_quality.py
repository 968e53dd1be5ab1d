"""What docs/retrieval.md chose, pinned on small documents shaped like the real generators' pages
(Sphinx, AsciiDoc man pages, DocBook manuals) and, when installed, on the real pages themselves.

- The embedded text: "title > heading path", a blank line, the chunk; header plus chunk fit the
  model's 256 word pieces.
- The parser drops heading permalinks (¶), DocBook navheader/navfooter, AsciiDoc/Sphinx footers.
- A man page is titled by its NAME line ("git-add - Add file contents to the index"); the
  "git-add(1) Manual Page" heading that repeated its <title> leaves the heading paths.
- Sections shorter than CHUNK_MIN_TOKENS join the next one.
- Search returns one hit per document (its best chunk), in /search and in what chat hands the
  model.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from api.runtime import Runtime
from core.db import Database
from rag.knowledge import retrieval
from rag.knowledge.chunking import (
    EMBED_FORMAT,
    EMBED_WINDOW,
    MAX_HEADER_TOKENS,
    chunk_document,
    chunk_header,
    chunk_sections,
    count_tokens,
    merge_small,
    stored_embedding_text,
)
from rag.knowledge.parsing import Section, parse
from tests.conftest import Owner

SPHINX_PAGE = """<!DOCTYPE html><html><head>
<title>csv — CSV File Reading and Writing — Python 3.11.2 documentation</title></head>
<body>
<div class="related" role="navigation"><ul><li><a href="index.html">index</a></li></ul></div>
<div class="document"><div class="body" role="main">
<section id="module-csv">
<h1><code>csv</code> — CSV File Reading and Writing<a class="headerlink" href="#module-csv"
 title="Permalink to this heading">¶</a></h1>
<p>The so-called CSV (Comma Separated Values) format is the most common import and export
format for spreadsheets and databases.</p>
<section id="dialects-and-formatting-parameters">
<h2>Dialects and Formatting Parameters<a class="headerlink" href="#dialects"
 title="Permalink to this heading">¶</a></h2>
<p>To make it easier to specify the format of input and output records, specific formatting
parameters are grouped together into dialects.</p>
<dl><dt id="csv.Dialect.delimiter"><span>Dialect.delimiter</span><a class="headerlink"
 href="#csv.Dialect.delimiter" title="Permalink to this definition">¶</a></dt>
<dd><p>A one-character string used to separate fields. It defaults to <code>','</code>.</p></dd>
</dl>
</section></section>
</div></div>
<div class="footer">© Copyright 2001-2023, Python Software Foundation.</div>
</body></html>"""

ASCIIDOC_PAGE = """<!DOCTYPE html><html><head><title>git-stash(1)</title></head><body>
<div id="header"><h1>git-stash(1) Manual Page</h1>
<h2>NAME</h2><div class="sectionbody"><p>git-stash - Stash the changes in a dirty working
directory away</p></div></div>
<div id="content">
<div class="sect1"><h2 id="_synopsis">SYNOPSIS</h2><div class="sectionbody">
<pre>git stash list [&lt;log-options&gt;]</pre></div></div>
<div class="sect1"><h2 id="_description">DESCRIPTION</h2><div class="sectionbody">
<p>Use git stash when you want to record the current state of the working directory and the
index, but want to go back to a clean working directory. The command saves your local
modifications away and reverts the working directory to match the HEAD commit.</p>
<p>The modifications stashed away by this command can be listed with git stash list,
inspected with git stash show, and restored (potentially on top of a different commit) with
git stash apply. Calling git stash without any arguments is equivalent to git stash push.</p>
</div></div>
<div class="sect1"><h2 id="_options">OPTIONS</h2><div class="sectionbody">
<p>-u, --include-untracked: all untracked files are also stashed and then cleaned up with
git clean.</p></div></div>
</div>
<div id="footnotes"><hr></div>
<div id="footer"><div id="footer-text">Last updated 2024-05-31 00:35:55 UTC</div></div>
</body></html>"""

DOCBOOK_PAGE = """<html><head><title>CREATE DOMAIN</title></head><body>
<div class="navheader"><table width="100%" summary="Navigation header">
<tr><th colspan="3" align="center">CREATE DOMAIN</th></tr>
<tr><td><a accesskey="p" href="sql-createdatabase.html">Prev</a></td>
<td><a accesskey="u" href="sql-commands.html">Up</a></td>
<td><a accesskey="n" href="sql-createeventtrigger.html">Next</a></td></tr></table><hr></div>
<div class="refentry"><div class="refnamediv"><h2>CREATE DOMAIN</h2>
<p>CREATE DOMAIN — define a new domain</p></div>
<div class="refsect1"><h2>Description</h2><p>CREATE DOMAIN creates a new domain. A domain is
essentially a data type with optional constraints (restrictions on the allowed set of
values). The user who defines a domain becomes its owner.</p></div></div>
<div class="navfooter"><hr><table width="100%" summary="Navigation footer">
<tr><td><a accesskey="p" href="sql-createdatabase.html">Prev</a></td>
<td><a accesskey="h" href="index.html">Home</a></td>
<td><a accesskey="n" href="sql-createeventtrigger.html">Next</a></td></tr></table></div>
</body></html>"""


def _parse(html: str, name: str = "page.html") -> object:
    return parse(html.encode(), filename=name, content_type="text/html")


# --- parser -----------------------------------------------------------------------------------


def test_parser_drops_permalink_glyphs_and_sphinx_chrome() -> None:
    doc = parse(SPHINX_PAGE.encode(), filename="csv.html", content_type="text/html")
    assert "¶" not in doc.text
    assert all("¶" not in h for s in doc.sections for h in s.heading_path)
    assert doc.sections[-1].heading_path == [
        "csv — CSV File Reading and Writing",
        "Dialects and Formatting Parameters",
    ]
    assert "Dialect.delimiter" in doc.text  # the definition stays, only its permalink goes
    assert "Copyright" not in doc.text
    assert "index" not in doc.text.split()


def test_parser_drops_asciidoc_footer_and_docbook_navigation() -> None:
    git = parse(ASCIIDOC_PAGE.encode(), filename="git-stash.html", content_type="text/html")
    assert "Last updated" not in git.text
    assert "include-untracked" in git.text
    docbook = parse(DOCBOOK_PAGE.encode(), filename="sql.html", content_type="text/html")
    assert "Prev" not in docbook.text
    assert "Next" not in docbook.text
    assert "Navigation" not in docbook.text
    assert "A domain is essentially a data type" in docbook.text


def test_a_man_page_is_titled_by_its_name_line_and_its_title_heading_goes() -> None:
    doc = parse(ASCIIDOC_PAGE.encode(), filename="git-stash.html", content_type="text/html")
    assert doc.title == "git-stash - Stash the changes in a dirty working directory away"
    # "git-stash(1) Manual Page" only repeated the <title> "git-stash(1)": no path carries it.
    assert [s.heading_path for s in doc.sections] == [
        ["NAME"],
        ["SYNOPSIS"],
        ["DESCRIPTION"],
        ["OPTIONS"],
    ]
    chunks = chunk_document(doc, min_tokens=40)
    assert chunks[0].embed_text.startswith(
        "git-stash - Stash the changes in a dirty working directory away > DESCRIPTION\n\n"
    )
    assert all("git-stash(1)" not in c.embed_text for c in chunks)


def test_a_name_heading_without_a_name_line_changes_nothing() -> None:
    page = ASCIIDOC_PAGE.replace(
        "git-stash - Stash the changes in a dirty working\ndirectory away",
        "The names of the stashes are listed below.",
    )
    doc = parse(page.encode(), filename="git-stash.html", content_type="text/html")
    assert doc.title == "git-stash(1)"
    assert doc.sections[0].heading_path == ["git-stash(1) Manual Page", "NAME"]
    sphinx = parse(SPHINX_PAGE.encode(), filename="csv.html", content_type="text/html")
    assert sphinx.title.startswith("csv — CSV File Reading and Writing")


# --- the embedded text --------------------------------------------------------------------------


def test_embedded_text_is_title_and_heading_path_then_the_chunk() -> None:
    doc = parse(SPHINX_PAGE.encode(), filename="csv.html", content_type="text/html")
    chunks = chunk_document(doc)
    last = chunks[-1]
    # The <title> starts with the h1, so the page's name is said once, without the site suffix.
    header = "csv — CSV File Reading and Writing > Dialects and Formatting Parameters"
    assert last.embed_text == f"{header}\n\n{last.text}"
    assert last.text.startswith("Dialects and Formatting Parameters")
    assert "Python 3.11.2 documentation" not in last.embed_text
    # The stored chunk text is the passage alone (what /search shows and chat cites).
    assert not last.text.startswith("csv —")


def test_a_title_that_differs_from_the_first_heading_heads_the_path() -> None:
    assert chunk_header("Shipping policy", ["Returns", "Refunds"]) == (
        "Shipping policy > Returns > Refunds"
    )
    assert chunk_header("Guide", ["Guide", "Install"]) == "Guide > Install"
    assert chunk_header("", []) == ""
    sections = [Section("Plain text without headings.", [])]
    assert chunk_sections(sections, title="notes.txt")[0].embed_text == (
        "notes.txt\n\nPlain text without headings."
    )


def test_header_plus_chunk_fit_the_model_window() -> None:
    sentence = "Each worker process reads the queue and acknowledges a job once it finishes. "
    path = ["Deployment guide", "Running workers in production", "Scaling out the job queue"]
    sections = [Section(sentence * 80, path)]
    title = "Operations handbook for the self-hosted edition"
    chunks = chunk_sections(sections, title=title, max_tokens=250, overlap=40)
    assert len(chunks) >= 5
    header_tokens = count_tokens(chunks[0].embed_text.split("\n\n", 1)[0])
    for chunk in chunks:
        assert chunk.embed_text.startswith(f"{title} > Deployment guide > ")
        # [CLS] + header + chunk + [SEP] within the 256 word pieces the model reads
        assert count_tokens(chunk.embed_text) + 2 <= EMBED_WINDOW
    # ... and the windows are filled: what the header needs is all that is given up.
    assert max(c.token_count for c in chunks) >= EMBED_WINDOW - 2 - header_tokens - 12
    # Without the header the same text makes 250-token chunks, which a header would push out.
    bare = chunk_sections(sections, max_tokens=250, overlap=40, header=False)
    assert max(c.token_count for c in bare) > EMBED_WINDOW - 2 - header_tokens
    assert all(c.embed_text == c.text for c in bare)


def test_a_very_long_header_is_cut_to_its_budget() -> None:
    path = [f"Part {i} about configuring the reverse proxy and certificates" for i in range(12)]
    chunks = chunk_sections([Section("Short body text.", path)], title="Admin guide")
    header = chunks[0].embed_text.split("\n\n", 1)[0]
    assert count_tokens(header) <= MAX_HEADER_TOKENS
    assert header.startswith("Admin guide > …")
    assert header.endswith(path[-1])  # the nearest heading is kept


def test_stored_chunks_give_back_what_was_embedded() -> None:
    doc = parse(SPHINX_PAGE.encode(), filename="csv.html", content_type="text/html")
    for chunk in chunk_document(doc, title="Comma separated values"):
        meta = {"title": "Comma separated values", "heading_path": chunk.heading_path}
        assert stored_embedding_text(chunk.text, {**meta, "embed_format": EMBED_FORMAT}) == (
            chunk.embed_text
        )
        assert stored_embedding_text(chunk.text, meta) == chunk.text  # format 1: text alone


def test_the_content_hash_follows_the_header() -> None:
    sections = [Section("Parcels arrive in three days.", ["Delivery"])]
    one = chunk_sections(sections, title="Shop FAQ")[0]
    renamed = chunk_sections(sections, title="Store FAQ")[0]
    assert one.text == renamed.text
    assert one.content_hash != renamed.content_hash  # a new title re-embeds the chunk


# --- tiny sections ---------------------------------------------------------------------------


def test_tiny_sections_join_the_next_one() -> None:
    doc = parse(ASCIIDOC_PAGE.encode(), filename="git-stash.html", content_type="text/html")
    plain = chunk_document(doc, min_tokens=0)
    merged = chunk_document(doc, min_tokens=40)
    assert [c.heading_path[-1] for c in plain][:3] == ["NAME", "SYNOPSIS", "DESCRIPTION"]
    assert len(merged) < len(plain)
    first = merged[0]
    # NAME and SYNOPSIS ride with the description under its heading path; no text is lost.
    assert first.heading_path[-1] == "DESCRIPTION"
    assert "Stash the changes in a dirty working directory" in first.text
    assert "git stash list [<log-options>]" in first.text
    assert "".join(c.text for c in plain).replace("\n", "") == "".join(
        c.text for c in merged
    ).replace("\n", "")
    assert min(count_tokens(c.text) for c in merged) >= 40 or len(merged) == 1
    # The headings now inside the joined text are known as such (an answer quotes none).
    assert first.headings == ("NAME", "SYNOPSIS", "OPTIONS")
    assert all(not c.headings for c in plain)


def test_merging_keeps_pdf_pages_apart_and_joins_a_tiny_last_section_backwards() -> None:
    pages = [Section("Cover", [], page=1), Section("Contents of page two. " * 20, [], page=2)]
    assert [s.page for s in merge_small(pages, 40)] == [1, 2]
    tail = [Section("A long enough section body. " * 20, ["A"]), Section("The end.", ["B"])]
    joined = merge_small(tail, 40)
    assert len(joined) == 1
    assert joined[0].heading_path == ["A"]
    assert joined[0].text.endswith("The end.")
    assert joined[0].headings == []  # "The end." is no heading: its text opens with no "B"
    titled = [tail[0], Section("B\n\nThe end.", ["B"])]
    assert merge_small(titled, 40)[0].headings == ["B"]


# --- one hit per document -----------------------------------------------------------------------


async def test_search_returns_one_hit_per_document_best_chunk_first(
    client: httpx.AsyncClient, owner: Owner, runtime: Runtime, db: Database
) -> None:
    tag = uuid.uuid4().hex[:8]
    # One long page about refunds (many chunks match) and two short ones that also match.
    long_page = "\n\n".join(
        f"## Refund case {i}\n\nA refund for annual plans {tag} is paid within {i} days."
        for i in range(12)
    )
    bodies = {
        "refunds.md": f"# Refunds {tag}\n\n{long_page}",
        "billing.md": f"# Billing\n\nRefunds for annual plans {tag} go to the original card.",
        "support.md": f"# Support\n\nAsk support about a refund {tag} for annual plans.",
    }
    for name, body in bodies.items():
        r = await client.post(
            owner.url("/documents"),
            files={"file": (name, body.encode(), "text/markdown")},
            headers=owner.headers,
        )
        assert r.status_code == 202, r.text
    await runtime.jobs.drain()
    query = {"query": f"refund for annual plans {tag}", "k": 3, "mode": "vector"}
    grouped = await client.post(owner.url("/search"), json=query, headers=owner.headers)
    assert grouped.status_code == 200, grouped.text
    hits = grouped.json()["results"]
    assert len({h["document_id"] for h in hits}) == len(hits) == 3
    chunks = await client.post(
        owner.url("/search"), json={**query, "k": 20, "per_document": False}, headers=owner.headers
    )
    ranked = chunks.json()["results"]
    assert len({h["document_id"] for h in ranked}) < len(ranked)  # chunk-level: repeats
    # Each document's hit is its best chunk (their order: tests/rag/test_page_ranking.py).
    best: dict[str, str] = {}
    for h in ranked:
        best.setdefault(h["document_id"], h["chunk_id"])
    assert {h["chunk_id"] for h in hits} == set(best.values())

    ws = uuid.UUID(owner.workspace_id)
    vector = await runtime.embedder.embed_query(query["query"])
    async with db.transaction(workspace_id=ws) as session:
        for mode in retrieval.MODES:
            found = await retrieval.search(
                session,
                workspace_id=ws,
                query=query["query"],
                query_embedding=vector,
                k=3,
                mode=mode,
                weights=retrieval.Weights(),
            )
            assert len({h.document_id for h in found}) == len(found) == 3, mode


# --- the real pages, when their Debian packages are installed -----------------------------------

PYTHON_DOCS = Path("/usr/share/doc/python3.11/html")
GIT_DOCS = Path("/usr/share/doc/git-doc")


@pytest.mark.skipif(not PYTHON_DOCS.is_dir(), reason="apt-get install -y python3-doc")
def test_real_sphinx_page_chunks_fit_and_carry_no_permalinks() -> None:
    doc = parse(
        (PYTHON_DOCS / "library/csv.html").read_bytes(),
        filename="csv.html",
        content_type="text/html",
    )
    chunks = chunk_document(doc, max_tokens=250, overlap=40)
    assert len(chunks) > 10
    assert all("¶" not in c.embed_text for c in chunks)
    assert all(c.embed_text.startswith("csv — CSV File Reading and Writing") for c in chunks)
    assert all(count_tokens(c.embed_text) + 2 <= EMBED_WINDOW for c in chunks)


@pytest.mark.skipif(not GIT_DOCS.is_dir(), reason="apt-get install -y git-doc")
def test_real_git_man_page_has_no_footer_and_no_tiny_name_chunk() -> None:
    data = (GIT_DOCS / "git-stash.html").read_bytes()
    doc = parse(data, filename="git-stash.html", content_type="text/html")
    assert "Last updated" not in doc.text
    chunks = chunk_document(doc, min_tokens=40)
    assert min(c.token_count for c in chunks) >= 40
    assert "Stash the changes in a dirty working directory away" in chunks[0].text
    assert doc.title == "git-stash - Stash the changes in a dirty working directory away"
    assert all(c.embed_text.startswith(f"{doc.title} > ") for c in chunks)
