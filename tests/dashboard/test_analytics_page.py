"""The analytics page on real figures: visitors chat through the public widget API, the rollup is
recounted as the scheduled job does, and the page shows the same numbers as the service over
7, 30 and 90 days; an empty workspace renders; another workspace is a 404."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import httpx

from api.runtime import Runtime
from core.models import utcnow
from rag.chat import analytics
from tests.conftest import Owner, signup
from tests.dashboard.conftest import WebOwner
from tests.rag.test_analytics import move_back

HOURS = "What are your opening hours?"
UNKNOWN = "Do you rent out submarines for weddings?"


async def _widget_key(web: WebOwner) -> str:
    page = await web.client.get(web.url("widget"))
    found = re.search(r"data-key=(?:&#34;|&quot;)(pk_[\w-]+)", page.text)
    assert found, "the embed snippet names the widget key"
    return found.group(1)


async def _visit(client: httpx.AsyncClient, key: str, message: str, rating: str = "") -> str:
    """A new visitor asks one question (and rates the answer); the answer's stage."""
    session_id = f"v-{uuid.uuid4().hex[:12]}"
    response = await client.post(
        "/api/v1/chat",
        json={"message": message, "session_id": session_id},
        headers={"X-Widget-Key": key},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    if rating:
        rated = await client.post(
            "/api/v1/widget/feedback",
            json={"message_id": body["message_id"], "rating": rating, "session_id": session_id},
            headers={"X-Widget-Key": key},
        )
        assert rated.status_code == 204, rated.text
    return str(body["source"])


def _stat(html: str, name: str) -> str:
    found = re.search(rf'data-stat="{name}">([^<]*)<', html)
    assert found, name
    return found.group(1)


def _stage_count(html: str, stage: str) -> str:
    row = re.search(rf'data-stage="{stage}">(.*?)</tr>', html, flags=re.DOTALL)
    assert row, stage
    found = re.search(r'data-label="Answers">([^<]*)<', row.group(1))
    assert found, stage
    return found.group(1)


async def test_the_page_shows_the_rollup_over_7_30_and_90_days(
    client: httpx.AsyncClient, runtime: Runtime, web: WebOwner
) -> None:
    faq = await web.post(web.url("knowledge/faqs"), {"question": HOURS, "answer": "9 to 5."})
    assert faq.status_code == 303
    key = await _widget_key(web)
    assert await _visit(client, key, HOURS, rating="up") == "faq"
    assert await _visit(client, key, UNKNOWN, rating="down") == "fallback"
    # Those two happened 20 days ago; one more visitor today.
    shim = Owner(web.email, "", "", "", web.workspace_id, {})
    await move_back(runtime, shim, timedelta(days=20))
    assert await _visit(client, key, HOURS) == "faq"
    # The owner's own tries in the playground never count.
    await web.post(web.url("playground"), {"message": HOURS})

    before = await web.client.get(web.url("analytics"))
    assert before.status_code == 200
    assert _stat(before.text, "conversations") == "0"  # the rollup has not run yet
    assert "the first count has not run yet" in before.text

    await analytics.rebuild(runtime.db, workspace_id=uuid.UUID(web.workspace_id), now=utcnow())

    month = await web.client.get(web.url("analytics"))  # 30 days by default
    assert month.status_code == 200
    assert 'aria-current="page">Analytics<' in month.text
    assert _stat(month.text, "conversations") == "3"
    assert _stat(month.text, "answer_rate") == "67%"  # 2 answered, 1 not
    assert _stat(month.text, "feedback_up") == "50%"
    assert _stat(month.text, "feedback_down") == "50%"
    assert _stage_count(month.text, "faq") == "2"
    assert _stage_count(month.text, "fallback") == "1"
    assert 'aria-label="Conversations per day, last 30 days: 3 in all' in month.text
    assert 'aria-label="Unanswered questions per day, last 30 days: 1 in all' in month.text
    assert 'fill="url(#chart-unanswered-hatch)"' in month.text  # a pattern, not only a colour
    top = re.search(r'data-testid="top-questions">(.*?)</table>', month.text, flags=re.DOTALL)
    assert top
    assert HOURS in top.group(1)
    assert '<td data-label="Times asked">2</td>' in top.group(1)
    assert month.text.count("<time datetime=") >= 30  # the per-day table: every day a row

    week = await web.client.get(web.url("analytics") + "?days=7")
    assert week.status_code == 200
    assert f'href="/app/w/{web.workspace_id}/analytics?days=7" aria-current="true"' in (week.text)
    assert _stat(week.text, "conversations") == "1"
    assert _stat(week.text, "answer_rate") == "100%"
    assert _stat(week.text, "feedback_up") == "no data"  # nothing rated: no division by zero
    assert _stage_count(week.text, "fallback") == "0"
    assert UNKNOWN not in week.text

    quarter = await web.client.get(web.url("analytics") + "?days=90")
    assert _stat(quarter.text, "conversations") == "3"
    assert 'aria-label="Conversations per day, last 90 days: 3 in all' in quarter.text
    # The longest range (90 days of bars and table rows) with its CSS and scripts: < 150 KB.
    weight = len(quarter.content)
    for asset in set(re.findall(r'(?:src|href)="(/app/static/[^"]+)"', quarter.text)):
        weight += len((await web.client.get(asset)).content)
    assert weight < 150 * 1024, weight


async def test_a_sales_lead_sent_to_the_team_is_shown_apart_from_the_answer_rate(
    client: httpx.AsyncClient, runtime: Runtime, web: WebOwner
) -> None:
    """A quote asked for gets the contact form: not an unanswered question (the answer rate is
    the unknown question's alone), but a figure of its own."""
    key = await _widget_key(web)
    assert await _visit(client, key, "Can I get a quote for my team?") == "fallback"
    assert await _visit(client, key, UNKNOWN) == "fallback"
    await analytics.rebuild(runtime.db, workspace_id=uuid.UUID(web.workspace_id), now=utcnow())
    page = await web.client.get(web.url("analytics") + "?days=7")
    assert _stat(page.text, "answer_rate") == "0%"
    assert "0 answered, 1 not" in page.text
    assert _stat(page.text, "sales_routed") == "1 sales lead sent to your team"
    assert 'aria-label="Unanswered questions per day, last 7 days: 1 in all' in page.text


async def test_an_empty_workspace_renders(web: WebOwner) -> None:
    page = await web.client.get(web.url("analytics") + "?days=7")
    assert page.status_code == 200
    assert _stat(page.text, "conversations") == "0"
    assert _stat(page.text, "answer_rate") == "no data"
    assert _stage_count(page.text, "faq") == "0"
    assert "none in this range" in page.text
    assert "No visitor questions in this range yet." in page.text


async def test_only_7_30_or_90_days(web: WebOwner) -> None:
    for value in ("14", "abc", "-7", "366"):
        response = await web.client.get(web.url("analytics") + f"?days={value}")
        assert response.status_code == 422, value
        assert "<html" in response.text


async def test_another_workspace_is_a_404(client: httpx.AsyncClient, web: WebOwner) -> None:
    other = await signup(client, "Globex")
    response = await web.client.get(f"/app/w/{other.workspace_id}/analytics")
    assert response.status_code == 404
    assert "Globex" not in response.text
