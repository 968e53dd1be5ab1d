"""bench.chat_http's lean fake model (``--clients lean``) answers the server's OpenAI client as
FakeOpenAI does: the same completion and the same streamed events, read by the real SDK, and
the same bodies apart from the completion's id and time."""

from __future__ import annotations

import json
from typing import Any

import httpx2

from bench.chat_servers import fake_reply
from bench.lean_fake_llm import LeanFakeLLM
from rag.chat.llm import OpenAIChatLLM
from rag.chat.prompts import PromptMessage
from tests.fakes.openai_server import FakeOpenAI

MESSAGES: list[PromptMessage] = [
    {"role": "system", "content": "Answer from the passages. [1] Refunds take five days."},
    {"role": "user", "content": "How long do refunds take, café owner asks?"},
]


async def _answers(base_url: str) -> tuple[Any, list[Any]]:
    llm = OpenAIChatLLM(api_key="bench", base_url=base_url)
    try:
        completion = await llm.complete(MESSAGES, user="v1")
        events = [event async for event in llm.stream(MESSAGES, user="v1")]
    finally:
        await llm.aclose()
    return completion, events


def _without_identity(text: str) -> list[Any]:
    """Each JSON document of a body (a completion, or a stream's ``data:`` lines), its id and
    creation time left out."""
    documents = []
    for line in text.splitlines() or [text]:
        data = line.removeprefix("data: ")
        if data and data != "[DONE]":
            document = json.loads(data)
            document.pop("id", None)
            document.pop("created", None)
            documents.append(document)
        elif data:
            documents.append(data)
    return documents


async def test_the_lean_fake_answers_as_fake_openai() -> None:
    fake = FakeOpenAI(chat_reply=fake_reply).start()
    lean = LeanFakeLLM(chat_reply=fake_reply).start()
    try:
        assert await _answers(lean.base_url) == await _answers(fake.base_url)
        bodies = []
        async with httpx2.AsyncClient() as client:
            for base in (fake.base_url, lean.base_url):
                for stream in (False, True):
                    body = {"model": "m", "messages": MESSAGES, "stream": stream}
                    if stream:
                        body["stream_options"] = {"include_usage": True}
                    r = await client.post(f"{base}/chat/completions", json=body)
                    kind = r.headers["content-type"]
                    bodies.append((r.status_code, kind, _without_identity(r.text)))
            assert (await client.get(f"{lean.base_url}/models")).status_code == 404
    finally:
        lean.stop()
        fake.stop()
    assert bodies[:2] == bodies[2:]


async def test_the_lean_fake_answers_the_same_after_its_latency() -> None:
    """With ``latency`` set (bench.chat_http's ``--latencies``) the answer is written later by
    the fake's loop, and it is the same answer."""
    fake = FakeOpenAI(chat_reply=fake_reply).start()
    lean = LeanFakeLLM(chat_reply=fake_reply).start()
    lean.latency = fake.latency = 0.05
    try:
        assert await _answers(lean.base_url) == await _answers(fake.base_url)
    finally:
        lean.stop()
        fake.stop()
