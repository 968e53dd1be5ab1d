"""The team page offers its only owner no action that can only be refused: an owner's walk
found "Leave this workspace", "Remove" and "Change role" beside their own row, each answered
409 "A workspace needs an owner". Instead it says what to do; with a second owner, the
buttons are back."""

from __future__ import annotations

import re

import httpx

from tests.dashboard.conftest import WebOwner
from tests.dashboard.test_team_page import _joined, _member_row

ONLY_OWNER = "You are this workspace's only owner"


def _row(page: str, user_id: str) -> str:
    found = re.search(rf'<tr data-member="{user_id}">(.*?)</tr>', page, re.DOTALL)
    assert found, page
    return found.group(1)


async def test_the_only_owner_is_told_what_to_do_instead_of_refused_buttons(
    client: httpx.AsyncClient, web: WebOwner
) -> None:
    own_id, _ = await _member_row(web, web.email)
    page = (await web.client.get(web.url("team"))).text
    assert 'data-testid="leave"' not in page
    assert ONLY_OWNER in page
    own = _row(page, own_id)
    assert "/remove" not in own
    assert "/role" not in own
    # A second owner: either may leave, change a role or be removed.
    _, other_id = await _joined(client, web, "owner")
    page = (await web.client.get(web.url("team"))).text
    assert 'data-testid="leave"' in page
    assert ONLY_OWNER not in page
    assert "/remove" in _row(page, own_id)
    assert "/role" in _row(page, own_id)
    assert "/remove" in _row(page, other_id)
