"""The owners' /search and the visitors' chat rank a workspace's pages with the same
RETRIEVAL_* weights (``retrieval.Weights.of(settings)``): the same question gives the same pages
in the same order, whatever the settings say, and each weight really changes that order here.

Before one ``Weights`` was passed down, each caller passed the five weights one by one and a
caller could drop one (benchmarks ran with BM25 or its budget at their defaults). Over real
ingestion of small help pages, the shipped settings and each weight changed in turn: if /search or
chat ignored a setting, it would rank as with the shipped value while the other did not, or the
order would not change at all; either fails here.

Under the shipped weights the five pages are Webhooks, Team settings, Security checklist, Zapier
and Endpoints. Webhooks has two relevant sections and Team settings one that matches better: the
second chunk's weight puts Webhooks first, without it Team settings leads. Team settings'
relevant section is its second, its first is about members: a lead weight lowers it. The release
notes' forty short sections fill the vector candidates, so Endpoints, whose chunk matches less,
comes in by BM25 alone, within its postings budget: without BM25 or without that budget the
release notes take its place. Without pseudo-relevance feedback the candidates differ and the
Changelog comes in instead.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import RuntimeFactory, client_for, signup
from tests.fakes.openai_server import FakeOpenAI
from tests.rag.test_chat import chat

QUESTION = "How do I rotate the webhook signing secret for Zapier?"
PAGES = {
    "Webhooks": (
        "## Signing secret\n\nEvery webhook request carries a signature made with the signing"
        " secret of its endpoint. Compute the HMAC of the raw body with that secret and compare"
        " it with the signature header before you trust the request.\n\n"
        "## Rotating the secret\n\nOpen the endpoint in the dashboard and choose a new secret."
        " The old signing secret keeps signing webhook requests for one hour, so your servers"
        " can switch without missing a delivery."
    ),
    "Security checklist": (
        "## Secrets\n\nRotate the webhook signing secret whenever someone who knew it leaves"
        " the team, and keep every secret in a vault rather than in the code of your servers"
        " or in a chat message."
    ),
    "Team settings": (
        "## Members\n\nInvite people from the team page and give each of them a role: owners"
        " manage billing, admins manage documents and members, and viewers only read the"
        " conversations of the workspace.\n\n"
        "## Webhook secret\n\nHow to rotate the webhook signing secret: open the settings page,"
        " find the webhook you want to change and press the rotate button next to its secret."
    ),
    "Endpoints": (
        "## Endpoints\n\nAn endpoint is a URL of your server that receives webhook requests."
        " Each endpoint has its own signing secret and its own list of events, and it can be"
        " paused while you deploy.\n\n"
        "## Timeouts\n\nYour endpoint must answer within five seconds, or the delivery counts"
        " as failed and is tried again later with the same body and a new timestamp."
    ),
    "Billing": (
        "## Invoices\n\nInvoices are sent by email at the start of each month and can be"
        " downloaded from the billing page as PDF files, with the taxes of your country shown"
        " on a line of their own."
    ),
    "Changelog": (
        "## March\n\nThe signing of webhook requests now uses SHA-256 instead of SHA-1. The"
        " signing secret did not change, and requests signed the old way are no longer sent"
        " after the first of April."
    ),
    "Zapier": (
        "## Connecting Zapier\n\nConnect Zapier to send each new lead to a spreadsheet or a"
        " CRM. Zapier asks once for the API key of the workspace, when you add the connection,"
        " and keeps working until the key is revoked."
    ),
    "Release notes": "\n\n".join(
        f"## Release 4.{i}\n\nRelease 4.{i} makes exports of the dashboard faster for teams"
        f" that do {i + 2} exports a day, and fixes {i % 3 + 1} small layout problems."
        for i in range(40)
    ),
}
CHANGED: dict[str, float] = {
    "retrieval_second_chunk_weight": 0.0,
    "retrieval_feedback_weight": 0.0,
    "retrieval_lexical_weight": 0.0,
    "retrieval_lexical_postings": 0,
    "retrieval_lead_weight": 2.0,
}
"""Each RETRIEVAL_* weight at a value other than the shipped one (shipped: 0.5, 0.25, 0.3,
4000 and 0)."""
SOURCE = re.compile(r'<source n="\d+" title="([^"]*)"')


@pytest.fixture(scope="module")
def fake_llm() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(chat_reply="Open the settings page [1].") as fake:
        yield fake


async def _orders(
    runtime_factory: RuntimeFactory, fake: FakeOpenAI, **weights: Any
) -> tuple[list[str], list[str]]:
    """The pages /search returns for ``QUESTION`` and the pages chat gives the model for it
    (the titles of its passages, each page once, in order), in a new workspace holding
    ``PAGES`` under these settings. Every passage chat retrieves reaches the model (no
    similarity floor) and each page's sections are chunks of their own."""
    async with (
        runtime_factory(
            openai_api_key="sk-test",
            openai_base_url=fake.base_url,
            llm_max_retries=0,
            llm_timeout_seconds=30.0,
            retrieval_min_similarity=-1.0,
            chunk_min_tokens=0,
            **weights,
        ) as runtime,
        client_for(runtime) as client,
    ):
        owner = await signup(client, "Weights")
        for title, text in PAGES.items():
            uploaded = await client.post(
                owner.url("/documents"),
                files={"file": (f"{title}.md", text.encode(), "text/markdown")},
                data={"title": title},
                headers=owner.headers,
            )
            assert uploaded.status_code == 202, uploaded.text
        await runtime.jobs.drain()
        k = runtime.settings.retrieval_k
        searched = await client.post(
            owner.url("/search"), json={"query": QUESTION, "k": k}, headers=owner.headers
        )
        assert searched.status_code == 200, searched.text
        asked = len(fake.chat_requests)
        answered = await chat(client, owner, QUESTION)
        assert answered.status_code == 200, answered.text
        assert answered.json()["source"] == "rag", answered.text
        assert len(fake.chat_requests) == asked + 1
    messages = fake.chat_requests[-1].json["messages"]
    context = next(m["content"] for m in messages if m["content"].startswith("Context sources"))
    passages = [html.unescape(title) for title in SOURCE.findall(context)]
    return [h["title"] for h in searched.json()["results"]], list(dict.fromkeys(passages))


async def test_search_and_chat_rank_the_same_pages_as_each_weight_changes(
    runtime_factory: RuntimeFactory, fake_llm: FakeOpenAI
) -> None:
    shipped, chatted = await _orders(runtime_factory, fake_llm)
    assert shipped == chatted
    assert shipped[:2] == ["Webhooks", "Team settings"]
    assert "Endpoints" in shipped
    orders = {}
    for name, value in CHANGED.items():
        searched, chatted = await _orders(runtime_factory, fake_llm, **{name: value})
        assert searched == chatted, f"{name}={value}: /search and chat rank differently"
        assert searched != shipped, f"{name}={value} changed no page's place: the data is blind"
        orders[name] = searched
    assert orders["retrieval_second_chunk_weight"][0] == "Team settings"
    assert "Endpoints" not in orders["retrieval_lexical_weight"]
    assert "Endpoints" not in orders["retrieval_lexical_postings"]
    assert orders["retrieval_lead_weight"].index("Team settings") > 1
