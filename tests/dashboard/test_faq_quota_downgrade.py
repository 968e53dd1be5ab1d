"""A workspace that holds more FAQs than its plan allows now (a paid period ended: starter's
2,000 down to free's 100) may still change the FAQs it has. Editing one (the API) always
could; a CSV import that only updates FAQs adds none, and is allowed at any count as the docs
say (docs/billing.md "Subscriptions and quotas"), so it must be allowed over the limit too.
A file that adds one is refused."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from core.db import Database
from tests.dashboard.conftest import WebOwner
from tests.dashboard.test_faq_quota import bearer, csv_of, faqs_used, import_csv
from tests.rag.test_quota_downgrade import on_starter_until

HELD = 105  # past the free plan's 100 FAQs


async def test_an_import_that_only_updates_faqs_is_allowed_over_a_lowered_limit(
    web: WebOwner, db: Database
) -> None:
    tag = uuid.uuid4().hex[:6]
    await on_starter_until(db, uuid.UUID(web.workspace_id), datetime.now(UTC) + timedelta(days=30))
    assert (await import_csv(web, csv_of(range(HELD), tag))).status_code == 303
    ended = datetime.now(UTC) - timedelta(minutes=1)
    await on_starter_until(db, uuid.UUID(web.workspace_id), ended)
    assert await faqs_used(web) == {"used": HELD, "limit": 100}
    # The same questions with new answers: updates only.
    changed = csv_of(range(HELD), tag).replace(b".\n", b" (revised).\n")
    updated = await import_csv(web, changed)
    assert updated.status_code == 303, updated.text[-2000:]
    assert f"{HELD} updated" in updated.headers["location"].replace("+", " ")
    # One FAQ edited through the API, as before.
    headers = await bearer(web)
    listed = await web.client.get(
        f"/api/v1/workspaces/{web.workspace_id}/faqs", headers=headers, params={"limit": 1}
    )
    assert listed.status_code == 200, listed.text
    faq_id = listed.json()["items"][0]["id"]
    edited = await web.client.patch(
        f"/api/v1/workspaces/{web.workspace_id}/faqs/{faq_id}",
        json={"answer": "Edited."},
        headers=headers,
    )
    assert edited.status_code == 200, edited.text
    # A file adding one FAQ is refused, and nothing of it is stored.
    adding = await import_csv(web, csv_of(range(HELD + 1), tag))
    assert adding.status_code == 429
    assert "This file adds 1 FAQs" in adding.text
    assert await faqs_used(web) == {"used": HELD, "limit": 100}
