"""What a visitor reads on `make run`'s demo: the embedded default answers without a language
model (the extractive answerer) from the demo's Markdown documents, whose prose is wrapped at a
width, through the real server and the local model."""

from __future__ import annotations

import re
import uuid

import httpx

from tests.e2e.conftest import DemoServer


def test_the_demo_quotes_whole_sentences_of_its_wrapped_documents(
    demo_server: DemoServer,
) -> None:
    response = httpx.post(
        f"{demo_server.base_url}/api/v1/chat",
        headers={"X-Widget-Key": demo_server.credentials["public_key"]},
        json={
            "session_id": f"demo-{uuid.uuid4().hex[:12]}",
            "message": "Can a yearly plan be refunded in full?",
        },
        timeout=60,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["source"] == "rag", body
    answer = body["answer"]
    # refunds.md wraps this sentence after "within": it is quoted whole, with its citation.
    assert re.search(
        r"Yearly plans can be refunded in full within 30 days of the purchase or renewal; after"
        r" 30 days we refund the unused whole months\. \[\d\]",
        answer,
    ), answer
    # Every quote ends a sentence: none stops where a line of its document did.
    quotes = [q.strip() for q in re.split(r"\[\d+\]", answer.split(":", 1)[1]) if q.strip()]
    assert quotes, answer
    assert all(q[-1] in ".!?…" for q in quotes), quotes
