"""The limits the README and docs give are the ones the API applies: the widget texts' lengths
and which of them take a line break, the live API keys a workspace may hold, the default page,
the JSON depth, the request head.

The README said line breaks are taken "only in the three answers" of the widget's texts: the
replies to thanks and to a goodbye take them too (five)."""

from __future__ import annotations

import re

import httpx

from api.deps import DEFAULT_PAGE_SIZE
from api.http_protocol import MAX_HEAD_BYTES
from api.input_guard import MAX_JSON_DEPTH
from tests.conftest import ROOT, Owner
from workspaces.team import MAX_LIVE_API_KEYS
from workspaces.widget_texts import TEXT_FIELDS

README = (ROOT / "README.md").read_text()
ERRORS = (ROOT / "docs" / "errors.md").read_text()


def readme_text_limits() -> dict[str, int]:
    """field -> max of the README's table of the widget's texts."""
    table = README[README.index("| field | max | where |") :]
    limits = {}
    for row in table[: table.index("\n\n")].splitlines()[2:]:
        names, most = row.strip("|").split(" | ")[:2]
        for name in re.findall(r"`([a-z_]+)`", names):
            limits[name] = int(most)
    return limits


def readme_multiline_texts() -> set[str]:
    sentence = re.search(r"line breaks only in the bot's \w+ replies: ([^)]*)\)", README)
    assert sentence, "the README names the texts that take a line break"
    return set(re.findall(r"`([a-z_]+)`", sentence.group(1)))


def test_the_readme_gives_each_widget_text_its_length() -> None:
    assert readme_text_limits() == {name: spec.max_length for name, spec in TEXT_FIELDS.items()}


async def test_the_texts_the_readme_says_take_a_line_break_are_those_that_do(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    taken = set()
    for name in TEXT_FIELDS:
        r = await client.patch(
            owner.url("/widget"), json={"texts": {name: "One\nTwo"}}, headers=owner.headers
        )
        assert r.status_code in (200, 422), r.text
        if r.status_code == 200:
            taken.add(name)
        else:
            assert r.json()["error"]["code"] == "invalid_text", r.text
    assert taken == readme_multiline_texts()


def test_the_numbers_the_docs_give_are_the_codes() -> None:
    assert f"at most {MAX_LIVE_API_KEYS} live API keys" in README
    assert f"the most live API keys it may ({MAX_LIVE_API_KEYS})" in ERRORS
    assert f"(default {DEFAULT_PAGE_SIZE}, at most `MAX_PAGE_SIZE`)" in README
    assert f"more than {MAX_JSON_DEPTH} levels deep" in ERRORS
    assert f"longer than {MAX_HEAD_BYTES // 1024} KiB" in ERRORS
