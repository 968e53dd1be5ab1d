"""An FAQ CSV import embeds its rows' phrasings in a few batched calls, not one call per row:
a 500-row file (the limit) made 500 calls to the embeddings provider in the request, one
after another, and with a remote provider (a round trip of 100-300 ms) took longer than the
request timeout (60 s): a 504 with nothing imported, for a file within every limit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import numpy as np
import pytest

from api.runtime import Runtime
from rag.chat import faq as faq_service
from rag.chat import faq_import
from rag.chat.faq import FaqMatch
from rag.knowledge.embedders import EmbeddingError
from rag.knowledge.embeddings import HashEmbedder
from tests.conftest import RuntimeFactory, client_for, signup
from workspaces import repository as ws_repo
from workspaces.service import WorkspaceAccess


class CallCounting:
    """A hash embedder that counts the calls made to it and the texts each carried."""

    def __init__(self) -> None:
        self.inner = HashEmbedder(dimensions=384)
        self.name, self.dimensions = self.inner.name, self.inner.dimensions
        self.calls: list[int] = []

    async def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(len(texts))
        return await self.inner.embed_documents(texts)

    async def embed_query(self, text: str) -> np.ndarray:
        return await self.inner.embed_query(text)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def import_and_match(
    runtime_factory: RuntimeFactory, data: bytes, phrases: Sequence[str]
) -> tuple[faq_import.ImportResult, list[int], list[FaqMatch | None]]:
    """Import ``data`` into a new workspace through a ``CallCounting`` embedder: the result,
    the import's calls, and the FAQ each of ``phrases`` finds by its vector alone."""
    counting = CallCounting()
    async with runtime_factory(embedder=counting) as runtime:
        async with client_for(runtime) as client:
            owner = await signup(client, "Batch")
        ws = uuid.UUID(owner.workspace_id)
        async with runtime.db.transaction(workspace_id=ws) as session:
            workspace = await ws_repo.get_workspace(session, ws)
            assert workspace is not None
            access = WorkspaceAccess.operator(workspace, command="test")
            counting.calls.clear()
            result = await faq_import.import_csv(session, counting, access, data)
        calls = list(counting.calls)
        matches = await matched_by_vector(runtime, ws, counting, phrases)
    return result, calls, matches


async def matched_by_vector(
    runtime: Runtime, ws: uuid.UUID, embedder: CallCounting, phrases: Sequence[str]
) -> list[FaqMatch | None]:
    """The FAQ each of ``phrases`` finds by its vector alone."""
    matches = []
    async with runtime.db.transaction(workspace_id=ws) as session:
        for phrase in phrases:
            found = await faq_service.match(
                session,
                workspace_id=ws,
                normalized="",  # by the vector alone
                embedding=await embedder.embed_query(phrase),
                threshold=0.99,
                question=phrase,
            )
            matches.append(found)
    return matches


def faq_csv(rows: int, tag: str) -> bytes:
    lines = ["question,answer,alt_questions"] + [
        f'"Question {n} about {tag}?","Answer {n}.","Phrasing {n} of {tag}|Other {n} {tag}"'
        for n in range(rows)
    ]
    return ("\n".join(lines) + "\n").encode()


async def test_a_file_of_many_rows_is_embedded_in_a_few_calls(
    runtime_factory: RuntimeFactory,
) -> None:
    tag = uuid.uuid4().hex[:8]
    rows = 90  # under the free plan's 100 FAQs
    result, calls, matches = await import_and_match(
        runtime_factory, faq_csv(rows, tag), [f"Phrasing 7 of {tag}"]
    )
    assert (result.created, result.updated) == (rows, 0)
    # Every phrasing embedded once, in a handful of calls (one here), not one per row.
    assert sum(calls) == rows * 3, calls
    assert len(calls) <= 2, f"{len(calls)} calls for {rows} rows"
    # Each phrasing's vector is its own: the nearest to "Phrasing 7" is row 7's FAQ.
    assert [m.answer if m else None for m in matches] == ["Answer 7."]


async def test_a_file_past_one_window_is_embedded_window_by_window(
    runtime_factory: RuntimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memory holds one window's vectors: a file of more phrasings than a window is embedded
    in several calls, each at most a window, every phrasing once and each FAQ found by its
    own vector."""
    monkeypatch.setattr(faq_import, "EMBED_WINDOW", 7)
    tag = uuid.uuid4().hex[:8]
    phrases = [f"Other {n} {tag}" for n in (0, 5, 9)]
    result, calls, matches = await import_and_match(runtime_factory, faq_csv(10, tag), phrases)
    assert result.created == 10
    assert calls == [6] * 5  # two rows (six phrasings) a window
    assert [m.answer if m else None for m in matches] == ["Answer 0.", "Answer 5.", "Answer 9."]


async def test_a_file_giving_stored_faqs_new_phrasings_is_embedded_in_a_few_calls(
    runtime_factory: RuntimeFactory,
) -> None:
    """A file whose rows update stored FAQs (an owner's export, reworded and imported again):
    each update is indexed with the FAQ's stored phrasings too, which no window held, so each
    row still made its own call (91 calls for 90 rows, the 504 again). The stored phrasings'
    vectors are read, not embedded again; a row that changes nothing embeds nothing."""
    counting = CallCounting()
    tag = uuid.uuid4().hex[:8]
    rows = 90
    first = faq_csv(rows, tag)
    lines = ["question,answer,alt_questions"] + [
        f'"Question {n} about {tag}?","Answer {n}.","New {n} {tag}"' for n in range(rows)
    ]
    second = ("\n".join(lines) + "\n").encode()
    async with runtime_factory(embedder=counting) as runtime:
        async with client_for(runtime) as client:
            owner = await signup(client, "Reword")
        ws = uuid.UUID(owner.workspace_id)
        results = []
        calls = []
        for data in (first, second, second):
            async with runtime.db.transaction(workspace_id=ws) as session:
                workspace = await ws_repo.get_workspace(session, ws)
                assert workspace is not None
                access = WorkspaceAccess.operator(workspace, command="test")
                counting.calls.clear()
                results.append(await faq_import.import_csv(session, counting, access, data))
                calls.append(list(counting.calls))
        phrases = (f"New 7 {tag}", f"Other 7 {tag}", f"Question 7 about {tag}?")
        matches = await matched_by_vector(runtime, ws, counting, phrases)
        found = [m.answer if m else None for m in matches]
    assert [(r.created, r.updated) for r in results] == [(rows, 0), (0, rows), (0, 0)]
    assert sum(calls[1]) == rows, calls[1]  # only the new phrasings
    assert len(calls[1]) <= 2, f"{len(calls[1])} calls for {rows} updated rows"
    assert calls[2] == []  # the same file again changes nothing and embeds nothing
    assert found == ["Answer 7."] * 3  # every phrasing keeps or gets its own vector


class FailingSecondCall(CallCounting):
    """The provider fails on the import's second call (a window past the first)."""

    async def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if len(self.calls) == 1:
            self.calls.append(len(texts))
            raise EmbeddingError("The embedding service failed (HTTP 500)")
        return await super().embed_documents(texts)


async def test_a_provider_failing_after_a_window_stores_nothing(
    runtime_factory: RuntimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first window's FAQs are written when the second window's call fails: the import is
    502 ``embedding_failed`` and its transaction keeps none of them."""
    monkeypatch.setattr(faq_import, "EMBED_WINDOW", 7)
    failing = FailingSecondCall()
    tag = uuid.uuid4().hex[:8]
    async with runtime_factory(embedder=failing) as runtime:
        async with client_for(runtime) as client:
            owner = await signup(client, "Fails")
        ws = uuid.UUID(owner.workspace_id)
        failing.calls.clear()

        async def import_file() -> None:
            async with runtime.db.transaction(workspace_id=ws) as session:
                workspace = await ws_repo.get_workspace(session, ws)
                assert workspace is not None
                access = WorkspaceAccess.operator(workspace, command="test")
                await faq_import.import_csv(session, failing, access, faq_csv(10, tag))

        with pytest.raises(EmbeddingError) as raised:
            await import_file()
        assert (raised.value.code, raised.value.status_code) == ("embedding_failed", 502)
        assert failing.calls == [6, 6]  # the second window's call is the one that failed
        async with runtime.db.transaction(workspace_id=ws) as session:
            assert await faq_service.count(session, ws) == 0
