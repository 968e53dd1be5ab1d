"""FAQs have a plan limit (free 100, starter 2,000, pro 20,000 FAQs stored), checked on every
way in (the API, the dashboard's form, the CSV import), shown on the usage API and the plan
page; the CSV import, whose every row is embedded, is under RATE_LIMIT_INGEST (plan-limits
review F3: 3,000 FAQs of 2,000 characters imported on the free plan, in 6 files)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import httpx

from tests.conftest import RuntimeFactory, client_for, login
from tests.dashboard.conftest import PASSWORD, WebOwner, web_signup


def csv_of(rows: range, tag: str) -> bytes:
    lines = b"".join(
        b"Question %s %d about topic %d?,Answer %d.\n" % (tag.encode(), n, n, n) for n in rows
    )
    return b"question,answer\n" + lines


async def import_csv(web: WebOwner, data: bytes) -> httpx.Response:
    return await web.client.post(
        web.url("knowledge/faqs/import"),
        data={"csrf_token": web.csrf},
        files={"file": ("faqs.csv", data, "text/csv")},
    )


async def bearer(web: WebOwner) -> dict[str, str]:
    """The owner's JSON API credentials (the dashboard's cookie is not one)."""
    tokens = await login(web.client, web.email, PASSWORD)
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def faqs_used(web: WebOwner) -> dict[str, int | None]:
    """The usage API's FAQ figure."""
    found = await web.client.get(
        f"/api/v1/workspaces/{web.workspace_id}/usage", headers=await bearer(web)
    )
    assert found.status_code == 200, found.text
    return dict(found.json()["metrics"]["faqs"])


async def create(web: WebOwner, question: str, headers: dict[str, str]) -> httpx.Response:
    return await web.client.post(
        f"/api/v1/workspaces/{web.workspace_id}/faqs",
        json={"question": question, "answer": "Yes."},
        headers=headers,
    )


async def test_the_free_plan_holds_100_faqs_whichever_way_they_come(web: WebOwner) -> None:
    tag = uuid.uuid4().hex[:6]
    assert (await import_csv(web, csv_of(range(60), tag))).status_code == 303
    # 50 more would be 110: the whole file is refused, nothing of it stored.
    refused = await import_csv(web, csv_of(range(60, 110), tag))
    assert refused.status_code == 429
    assert "Plan limit reached" in refused.text
    assert "This file adds 50 FAQs" in refused.text
    assert await faqs_used(web) == {"used": 60, "limit": 100}
    # A file that only updates FAQs adds none: allowed at any count.
    assert (await import_csv(web, csv_of(range(60), tag))).status_code == 303
    assert (await import_csv(web, csv_of(range(60, 100), tag))).status_code == 303
    assert await faqs_used(web) == {"used": 100, "limit": 100}

    api = await create(web, "Do you ship to the moon?", await bearer(web))
    assert api.status_code == 429
    assert api.json()["error"]["code"] == "quota_exceeded"
    assert api.json()["error"]["details"]["metric"] == "faqs"
    form = await web.post(
        web.url("knowledge/faqs"), {"question": "Do you ship to Mars?", "answer": "No."}
    )
    assert form.status_code == 429
    assert "The free plan allows 100 FAQs" in form.text  # on the form, with what was typed
    assert "Do you ship to Mars?" in form.text
    plan = await web.client.get(web.url("plan"))
    assert 'data-metric="faqs"' in plan.text
    assert await faqs_used(web) == {"used": 100, "limit": 100}


async def test_faqs_created_at_once_stop_at_the_limit(web: WebOwner) -> None:
    tag = uuid.uuid4().hex[:6]
    assert (await import_csv(web, csv_of(range(98), tag))).status_code == 303
    headers = await bearer(web)
    answers = await asyncio.gather(*(create(web, f"Rush {tag} {n}?", headers) for n in range(6)))
    assert Counter(a.status_code for a in answers) == {201: 2, 429: 4}
    assert await faqs_used(web) == {"used": 100, "limit": 100}


async def test_the_import_is_under_the_ingest_rate_limit(runtime_factory: RuntimeFactory) -> None:
    async with (
        runtime_factory(rate_limits="on", rate_limit_ingest="2/minute") as runtime,
        client_for(runtime) as client,
    ):
        web = await web_signup(client, "Importer")
        tag = uuid.uuid4().hex[:6]
        codes = [
            (await import_csv(web, csv_of(range(n, n + 1), tag))).status_code for n in range(3)
        ]
        assert codes == [303, 303, 429]
        assert (await faqs_used(web))["used"] == 2
