"""Every time an owner reads names its zone (the database's UTC), never a bare "14:00"."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from dashboard.web import utc_time
from tests.dashboard.conftest import WebOwner, new_api_key

TIME = re.compile(r"<time datetime=\"[^\"]+\">([^<]*)</time>")
BARE = re.compile(r"\b\d{4}-\d{2}-\d{2} \d{2}:\d{2}\b(?! UTC)")


def test_a_time_is_written_in_utc_with_its_zone() -> None:
    ist = timezone(timedelta(hours=5, minutes=30))
    assert utc_time(datetime(2026, 3, 4, 19, 30, tzinfo=ist)) == "2026-03-04 14:00 UTC"
    assert utc_time(datetime(2026, 3, 4, 14, 0, tzinfo=UTC)) == "2026-03-04 14:00 UTC"
    assert utc_time(datetime(2026, 3, 4, 14, 0)) == "2026-03-04 14:00 UTC"


async def test_the_pages_say_utc(web: WebOwner) -> None:
    await web.post(web.url("playground"), {"message": "hello there"})
    await new_api_key(web, "CRM sync")
    listing = await web.client.get(web.url("conversations"))
    conversation = re.search(r'data-conversation="([^"]+)"', listing.text)
    assert conversation is not None
    pages = {
        "conversations": listing.text,
        "transcript": (
            await web.client.get(web.url(f"conversations/{conversation.group(1)}"))
        ).text,
        "sessions": (await web.client.get("/app/sessions")).text,
        "team": (await web.client.get(web.url("team"))).text,
    }
    for name, text in pages.items():
        shown = TIME.findall(text) + re.findall(r'data-label="When">([^<]*)<', text)
        assert shown, name
        assert all(t.endswith(" UTC") for t in shown), (name, shown)
        assert not BARE.search(text), name
