"""`trulybot ingest` (api/commands/ingest.py) with files that share a name: each stays a document
of its own. Before, `trulybot ingest docs/v1/faq.md docs/v2/faq.md` stored one document (the
second replaced the first), and two folders holding `index.html` died on the unique index."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import httpx
import pytest

from api.commands.ingest import collect, ingest_files
from api.runtime import Runtime
from tests.conftest import Owner

FAQS = {
    "v1": "# FAQ\n\nReturns are accepted within thirty days of delivery.\n",
    "v2": "# FAQ\n\nShipping takes five working days to most countries.\n",
}


def _folders(root: Path, name: str) -> list[Path]:
    for folder, body in FAQS.items():
        (root / folder).mkdir()
        (root / folder / name).write_text(body)
    return [root / folder for folder in FAQS]


async def _documents(client: httpx.AsyncClient, owner: Owner) -> dict[str, str]:
    r = await client.get(owner.url("/documents"), headers=owner.headers)
    assert r.status_code == 200, r.text
    return {d["source"]: d["status"] for d in r.json()["items"]}


async def _search(client: httpx.AsyncClient, owner: Owner, query: str) -> list[str]:
    r = await client.post(
        owner.url("/search"), json={"query": query, "mode": "fulltext"}, headers=owner.headers
    )
    assert r.status_code == 200, r.text
    return [hit["text"] for hit in r.json()["results"]]


@pytest.mark.parametrize("concurrency", [1, 2])
async def test_files_of_one_name_given_as_files_stay_two_documents(
    runtime: Runtime,
    client: httpx.AsyncClient,
    owner: Owner,
    tmp_path: Path,
    concurrency: int,
) -> None:
    folders = _folders(tmp_path, "faq.md")
    files = collect([str(f / "faq.md") for f in folders])
    assert [source for _, source in files] == ["v1/faq.md", "v2/faq.md"]
    summary = await ingest_files(
        runtime, uuid.UUID(owner.workspace_id), files, concurrency=concurrency
    )
    assert summary["outcomes"] == {"ready": 2}
    assert await _documents(client, owner) == {"v1/faq.md": "ready", "v2/faq.md": "ready"}
    assert any("thirty days" in text for text in await _search(client, owner, "returns"))
    assert any("five working days" in text for text in await _search(client, owner, "shipping"))


async def test_two_folders_holding_the_same_name_stay_two_documents(
    runtime: Runtime, client: httpx.AsyncClient, owner: Owner, tmp_path: Path
) -> None:
    folders = _folders(tmp_path, "index.md")
    (folders[0] / "only-here.md").write_text("# Only\n\nA page only the first folder has.\n")
    files = collect([str(f) for f in folders])
    assert sorted(source for _, source in files) == ["only-here.md", "v1/index.md", "v2/index.md"]
    summary = await ingest_files(runtime, uuid.UUID(owner.workspace_id), files)  # 2 at once
    assert summary["outcomes"] == {"ready": 3}
    assert set((await _documents(client, owner)).values()) == {"ready"}


def test_a_file_given_twice_is_ingested_once(tmp_path: Path) -> None:
    (tmp_path / "guide.md").write_text("# Guide\n")
    assert collect([str(tmp_path / "guide.md"), str(tmp_path)]) == [
        (tmp_path / "guide.md", "guide.md")
    ]


def test_nothing_to_ingest_is_an_error_naming_what_was_looked_for(tmp_path: Path) -> None:
    """A folder of other file types, or an --include that matches nothing, said "0 files" and
    exited 0 (an operator's finding): a script took it for done."""
    (tmp_path / "notes.odt").write_bytes(b"not a type we read")
    (tmp_path / "guide.md").write_text("# Guide\n")
    with pytest.raises(SystemExit) as nothing:
        collect([str(tmp_path)], include="*.html")
    said = str(nothing.value.code)
    assert said.startswith("no files to ingest: no "), said
    assert ".md" in said
    assert "matching --include '*.html'" in said
    assert collect([str(tmp_path)]) == [(tmp_path / "guide.md", "guide.md")]


async def test_a_file_name_that_is_not_utf8_is_ingested_under_a_readable_name(
    runtime: Runtime, client: httpx.AsyncClient, owner: Owner, tmp_path: Path
) -> None:
    """A name in Latin-1 or Windows-1252 (an archive unpacked from an old Windows share) is
    not UTF-8: Python spells its byte as a lone surrogate, which the database cannot store,
    and the file failed ("failed: DBAPIError", the run exiting 1). Now it is read as
    Windows-1252, as the FAQ import reads such a file's text."""
    folder = tmp_path / "docs"
    folder.mkdir()
    word = f"w{uuid.uuid4().hex[:10]}"
    (Path(os.fsdecode(bytes(folder)) + os.fsdecode(b"/caf\xe9.md"))).write_text(
        f"# Menu\n\nCoffee {word}.\n"
    )
    (folder / "thé.md").write_text("# Tea\n\nTea of every kind.\n")  # UTF-8: as it is
    files = collect([str(folder)])
    assert sorted(source for _, source in files) == ["café.md", "thé.md"]
    summary = await ingest_files(runtime, uuid.UUID(owner.workspace_id), files)
    assert summary["outcomes"] == {"ready": 2}
    assert await _documents(client, owner) == {"café.md": "ready", "thé.md": "ready"}
    assert any(word in text for text in await _search(client, owner, word))


def test_names_that_read_the_same_are_refused_before_anything_is_ingested(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "café.md").write_text("# A\n\nOne.\n")
    Path(os.fsdecode(bytes(folder)) + os.fsdecode(b"/caf\xe9.md")).write_text("# B\n\nTwo.\n")
    with pytest.raises(SystemExit, match=r"same document: café\.md"):
        collect([str(folder)])
