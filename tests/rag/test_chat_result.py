"""A chat answer's body (``ChatResult.to_dict``) is written out field by field (issue 15: less
CPU per turn than ``dataclasses.asdict``); it must stay what ``asdict`` gave: every field, in
order, the ids as text, and nothing shared with the result."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, fields

from rag.chat.exchange import ChatResult

DOCUMENT = "6f1c2b1e-6d1f-4b59-9a43-2c3d4e5f6a7b"


def _result() -> ChatResult:
    return ChatResult(
        conversation_id=uuid.uuid4(),
        message_id=uuid.uuid4(),
        answer="Refunds take 14 days [1].",
        intent="question",
        source="rag",
        citations=[{"n": 1, "document_id": DOCUMENT, "title": "Refunds", "page": None}],
        lead_capture=False,
        timings_ms={"record": 1.5, "total": 9.25},
        extractive=True,
        lead_saved=False,
    )


def test_to_dict_is_what_asdict_gave() -> None:
    result = _result()
    body = result.to_dict()
    expected = asdict(result) | {
        "conversation_id": str(result.conversation_id),
        "message_id": str(result.message_id),
    }
    assert list(body) == [f.name for f in fields(ChatResult)]
    assert json.dumps(body) == json.dumps(expected)


def test_to_dict_shares_no_list_or_dict_with_the_result() -> None:
    result = _result()
    body = result.to_dict()
    body["citations"][0]["title"] = "changed"
    body["citations"].append({})
    body["timings_ms"]["total"] = 0.0
    assert result.citations == _result().citations
    assert result.timings_ms == {"record": 1.5, "total": 9.25}
