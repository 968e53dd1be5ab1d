"""A name in any script is kept as typed, its last letter whole: a combining mark that ends a
name belongs to the letter before it (Hindi "विष्णु" ends with the vowel sign U, Arabic
"مُحَمَّدٌ" with a tanween, "Anna ❤️" with the emoji variation selector). The trimming that
sign-up took from the account page (``profile.display_name``) cut such a mark off as if it were
invisible: "विष्णु" was stored as "विष्ण". A mark on nothing visible (after a space) is still
trimmed. Through the sign-up API and /me."""

from __future__ import annotations

import httpx
import pytest

from tests.workspaces.test_names_everywhere import _api_signup, _my_name

KEPT = [
    "\u0935\u093f\u0937\u094d\u0923\u0941",  # विष्णु
    "\u0939\u093f\u092e\u093e\u0902\u0936\u0941 \u0915\u0941\u092e\u093e\u0930",  # हिमांशु कुमार
    "\u0645\u064f\u062d\u064e\u0645\u0651\u064e\u062f\u064c",  # مُحَمَّدٌ
    "\u0633\u0627\u0631\u0629",  # سارة
    "Anna \u2764\ufe0f",  # Anna ❤️
    "\U0001f469\u200d\U0001f4bb Ada",  # 👩‍💻 Ada
    "Ze\u0301",  # Zé, decomposed
]


@pytest.mark.parametrize("name", KEPT)
async def test_a_name_ending_in_a_combining_mark_keeps_it(
    client: httpx.AsyncClient, name: str
) -> None:
    done, email = await _api_signup(client, f" {name} ")
    assert done.status_code == 202, done.text
    assert await _my_name(client, email) == name


async def test_a_mark_on_nothing_visible_is_still_trimmed(client: httpx.AsyncClient) -> None:
    done, email = await _api_signup(client, "Ada \u0301")
    assert done.status_code == 202, done.text
    assert await _my_name(client, email) == "Ada"
