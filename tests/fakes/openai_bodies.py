"""The bodies the fake OpenAI-compatible models answer with (tests.fakes.openai_server's
FakeOpenAI, and bench.lean_fake_llm's lean one for the load benchmark): a chat completion, a
streamed chunk, the usage they report, counted in words."""

from __future__ import annotations

import re
from typing import Any

WORD = re.compile(r"\w+", re.UNICODE)
DELTA = re.compile(r"\S+\s*|\s+")
"""A streamed reply's deltas: one per word, its trailing whitespace included."""


def count_words(text: str) -> int:
    return len(WORD.findall(text))


def message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def word_usage(
    body: dict[str, Any], text: str, usage: tuple[int, int] | None = None
) -> dict[str, int]:
    """A reply's usage: ``usage`` (prompt, completion) when given, else words counted."""
    if usage is not None:
        prompt, completion = usage
    else:
        messages = body.get("messages") or []
        prompt = sum(count_words(message_text(m)) for m in messages if isinstance(m, dict))
        completion = count_words(text)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def completion_body(
    completion_id: str,
    created: int,
    model: str,
    text: str,
    finish_reason: str,
    usage: dict[str, int],
) -> dict[str, Any]:
    """A chat completion's JSON, as the fake answers one."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": "fp_fake",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": usage,
    }


def chunk_body(
    completion_id: str,
    created: int,
    model: str,
    delta: dict[str, Any],
    finish: str | None,
    include_usage: bool,
) -> dict[str, Any]:
    """One streamed chunk's JSON (``usage`` null when the stream reports it at its end)."""
    payload: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "system_fingerprint": "fp_fake",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    if include_usage:
        payload["usage"] = None
    return payload


def usage_chunk_body(
    completion_id: str, created: int, model: str, usage: dict[str, int]
) -> dict[str, Any]:
    """The last chunk of a stream that reports its usage: no choices."""
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "system_fingerprint": "fp_fake",
        "choices": [],
        "usage": usage,
    }
