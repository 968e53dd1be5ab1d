"""Links in answers drawn from documents: clickable only to cited sources and allowed sites.

A document (or a model a document instructed) can put a markdown link to anywhere into an
answer; the widget would render it as a link the visitor trusts. Other URLs stay plain text.
"""

from __future__ import annotations

import random
import re
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.runtime import Runtime
from rag.chat.links import LinkPolicy, inline_links, restrict_links
from tests.bounded_child import run_bounded
from tests.conftest import Owner, signup
from tests.fakes.openai_server import FakeOpenAI
from tests.rag.test_answers import REFUNDS, fake_llm, ingest, llm_client, llm_settings
from tests.rag.test_chat import chat, parse_sse, widget_headers

# JavaScript's \s (widget.js's), which is not Python's: no U+001C-U+001F or U+0085, U+FEFF too.
JS_SPACE = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
# The regular expression widget.js renders inline markdown with (bold, code, link, citation),
# scanned the same way (left to right, no overlaps). A match with a label group is a link.
WIDGET_INLINE = re.compile(
    r"\*\*([^*\n]+?)\*\*|`([^`\n]+)`|\[([^\]\n]+)\]\(([^()"
    + re.escape(JS_SPACE)
    + r"]+)\)|\[(\d{1,3})\]"
)

POLICY = LinkPolicy.of(
    cited_urls=["https://docs.acme.test/guide/setup", None],
    allowed_origins=["https://shop.example.com", "https://*.example.org", "http://localhost:5001"],
)


def widget_links(text: str) -> list[str]:
    return [m.group(4) for m in WIDGET_INLINE.finditer(text) if m.group(3) is not None]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            "Claim it [here](https://evil.example/win) today.",
            "Claim it here (https://evil.example/win) today.",
        ),
        ("See [setup](https://docs.acme.test/other)", "See [setup](https://docs.acme.test/other)"),
        ("[cart](https://shop.example.com/cart)", "[cart](https://shop.example.com/cart)"),
        ("[deep](https://a.b.example.org/x)", "[deep](https://a.b.example.org/x)"),
        ("[apex](https://example.org/x)", "apex (https://example.org/x)"),
        ("[dev](http://localhost:5001/)", "[dev](http://localhost:5001/)"),
        ("[x](https://shop.example.com.evil.test/)", "x (https://shop.example.com.evil.test/)"),
        ("[x](https://shop.example.com@evil.test/)", "x (https://shop.example.com@evil.test/)"),
        ("[x](https://evilshop.example.com/)", "x (https://evilshop.example.com/)"),
        ("[x](javascript:alert%281%29)", "x (javascript:alert%281%29)"),
        ("[x](/relative/path)", "x (/relative/path)"),
        ("[https://evil.test/](https://evil.test/)", "https://evil.test/"),
        ("Visit <https://evil.test/a>.", "Visit https://evil.test/a."),
        ("Visit <https://shop.example.com/a>.", "Visit <https://shop.example.com/a>."),
        ('[t](https://shop.example.com "a title")', "[t](https://shop.example.com)"),
        (
            "[ref]: https://evil.test/r\n\nsee [it][ref]",
            "ref: https://evil.test/r\n\nsee [it][ref]",
        ),
        (
            "Refunds take 5 days [1]. **Note** `code` [2]",
            "Refunds take 5 days [1]. **Note** `code` [2]",
        ),
    ],
)
def test_links_are_restricted(answer: str, expected: str) -> None:
    assert restrict_links(answer, POLICY) == expected


@pytest.mark.parametrize(
    "answer",
    [
        "[a](<https://shop.example.com/ [L](https://evil.test) >)",
        '[a](https://shop.example.com "[L](https://evil.test)")',
        "[[t](https://evil.test)](https://shop.example.com)",
        "[a](https://shop.example.com/(x) [b](https://evil.test/y))",
        "[a](https://evil.test/<x)",
        "**[a](https://evil.test)**",
        "[a](https://shop.example.com\\@evil.test/)",
    ],
)
def test_nested_and_odd_links_leave_no_widget_link_to_another_site(answer: str) -> None:
    safe = restrict_links(answer, POLICY)
    for url in widget_links(safe):
        assert POLICY.allows(url), (answer, safe, url)


def nested_links(depth: int, url: str = "https://evil.test/") -> str:
    """``depth`` links each inside the label of the next: "[a[b](u0)](u1)" at depth 2. Each
    link the filter turns into text ("b (u0)") makes the one around it a link to look at."""
    return "".join(f"[L{i}" for i in range(depth)) + "".join(f"]({url}{i})" for i in range(depth))


@pytest.mark.parametrize("depth", range(1, 13))
def test_links_nested_however_deep_leave_no_link_to_another_site(depth: int) -> None:
    """Past the filter's fifth pass, its last one turned the links left into text and so made
    the next one out a link that nothing looked at: seven nested links to another site left one
    the widget showed ("[L6 (https://evil.test/0) ...](https://evil.test/6)")."""
    safe = restrict_links(nested_links(depth), POLICY)
    assert widget_links(safe) == [], safe
    assert [url for *_, url in inline_links(safe)] == [], safe


# Space to Python (its \s, str.isspace), not to JavaScript: the filter read the URL as ending
# there (no link), the widget read on through it (a link).
PYTHON_ONLY_SPACES = ["\x1c", "\x1d", "\x1e", "\x1f", "\x85"]


@pytest.mark.parametrize("space", PYTHON_ONLY_SPACES)
def test_a_url_holding_a_space_only_python_sees_leaves_no_link_to_another_site(
    space: str,
) -> None:
    """ "[Claim](https://evil.test/<U+0085>win)" went through unchanged (to the filter, a URL
    cut by a space, so no link) and widget.js, whose \\s holds no U+0085, showed a link to
    evil.test."""
    for answer in (
        f"[Claim](https://evil.test/{space}win)",
        f"[a](https://shop.example.com/{space})",
    ):
        safe = restrict_links(answer, POLICY)
        for url in widget_links(safe):
            assert POLICY.allows(url), (answer, safe, url)


TOKENS = st.sampled_from(
    [
        "[",
        "]",
        "(",
        ")",
        "<",
        ">",
        '"',
        " ",
        "\n",
        "*",
        "`",
        "\\",
        "@",
        "x",
        "1",
        "https://evil.test/",
        "https://shop.example.com/",
        "https://a.example.org/",
        "javascript:",
        "\x85",
    ]
)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.lists(TOKENS, max_size=40).map("".join))
def test_no_arrangement_leaves_a_widget_link_to_another_site(answer: str) -> None:
    safe = restrict_links(answer, POLICY)
    for url in widget_links(safe):
        assert POLICY.allows(url), (answer, safe, url)


# The inline-link expression the filter used before it was a scanner: what a link is stays
# defined by it. It retried from every "[" of a run (quadratic) and split the spaces after "("
# every way (cubic with both: 800 characters took 1.5 s of event loop).
OLD_INLINE_LINK = re.compile(
    r"\[([^\]\n]*)\]\(\s*(?:<([^<>\n]*)>|([^()\s]*))"
    r"(?:\s+(?:\"[^\"\n]*\"|'[^'\n]*'|\([^()\n]*\)))?\s*\)"
)
LINK_PIECES = ["[", "]", "(", ")", "<", ">", '"', "'", " ", "  ", "\n", "\t", "\u00a0", "x", "y"]
LINK_PIECES += ["https://a.test/", "[a](", "](", '"t"', "(t)", "<u>", "](<"]


def old_links(text: str) -> list[tuple[int, int, str, str]]:
    return [
        (m.start(), m.end(), m.group(1), m.group(2) if m.group(2) is not None else m.group(3))
        for m in OLD_INLINE_LINK.finditer(text)
    ]


def test_the_link_scanner_finds_what_the_old_expression_found() -> None:
    """Same links, same places, same labels and URLs as the regular expression it replaced, on
    20,000 texts made of the pieces a link is made of (fixed seed: the same texts every run)."""
    # Where the expression's backtracking chose: an empty destination before a title, a title
    # in parentheses, an angle destination the rest does not follow, Unicode spaces.
    edges = ['[x]( "a b")', "[x]( (t))", "[x](  (t) )", "[x](<u> y)", "[x](<u>)", "[[x](u)"]
    edges += ["[x](\u00a0u\u00a0'v')", "[x]( \n )", "[x](<a\nb>)", "[a]( <u> 't' )"]
    for text in edges:
        assert inline_links(text) == old_links(text), text
    rng = random.Random(20261205)
    for _ in range(20_000):
        text = "".join(rng.choice(LINK_PIECES) for _ in range(rng.randrange(0, 30)))
        assert inline_links(text) == old_links(text), text


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from(LINK_PIECES), max_size=60).map("".join))
def test_the_link_scanner_agrees_on_any_arrangement(text: str) -> None:
    assert inline_links(text) == old_links(text)


SLOW_SHAPES = {
    "brackets then spaces": "[" * 3_000 + "](" + " " * 3_000,
    "brackets": "[" * 50_000,
    "spaces after (": "[x](" + " " * 20_000 + "y",
    "both, repeated": ("[" * 300 + "](" + " " * 300 + "\n") * 20,
}


def test_an_answer_of_brackets_and_spaces_is_filtered_in_linear_time() -> None:
    """In a process of its own, with a generous bound: the old expression needed hours for the
    first shape (cubic) and seconds for the others; the scanner needs milliseconds."""
    script = (
        "from rag.chat.links import LinkPolicy, restrict_links\n"
        "policy = LinkPolicy.of(cited_urls=['https://a.test/'])\n"
        f"for text in {list(SLOW_SHAPES.values())!r}:\n"
        "    restrict_links(text, policy)\n"
    )
    run_bounded(
        script,
        seconds=60,
        too_slow="the link filter took over 60 s on 160 KB of brackets and spaces",
    )


# --- through the answer pipeline -------------------------------------------------------------

PRIZE_DOC = (
    "# Zorblax voucher\n\nThe Zorblax loyalty voucher is claimed on the partner page "
    "[claim your Zorblax voucher](https://evil.example/win) within a week. "
    "Zorblax vouchers are also listed in [our Zorblax shop](https://shop.example.com/zorblax)."
)


async def _set_origins(client: httpx.AsyncClient, owner: Owner, origins: list[str]) -> None:
    response = await client.patch(
        owner.url("/widget"), json={"allowed_origins": origins}, headers=owner.headers
    )
    assert response.status_code == 200


async def test_extractive_answers_link_only_to_allowed_sites(
    client: httpx.AsyncClient, owner: Owner, runtime: Runtime
) -> None:
    await _set_origins(client, owner, ["https://shop.example.com"])
    await ingest(client, owner, runtime, "Vouchers", PRIZE_DOC)
    question = "How do I claim the Zorblax voucher?"
    headers = widget_headers(owner, Origin="https://shop.example.com")
    body = {"message": question, "session_id": "links-1"}
    first = (await client.post("/api/v1/chat", json=body, headers=headers)).json()
    assert first["source"] == "rag", first
    answer = first["answer"]
    assert "claim your Zorblax voucher (https://evil.example/win)" in answer
    assert "[our Zorblax shop](https://shop.example.com/zorblax)" in answer
    assert widget_links(answer) == ["https://shop.example.com/zorblax"]
    # Stored as shown, and served so from the cache too.
    transcript = (
        await client.get(
            owner.url(f"/conversations/{first['conversation_id']}"), headers=owner.headers
        )
    ).json()
    assert transcript["messages"][1]["text"] == answer
    body["session_id"] = "links-2"
    again = (await client.post("/api/v1/chat", json=body, headers=headers)).json()
    assert again["source"] == "cache"
    assert widget_links(again["answer"]) == ["https://shop.example.com/zorblax"]


async def test_faq_answers_keep_the_owners_links(client: httpx.AsyncClient, owner: Owner) -> None:
    faq = await client.post(
        owner.url("/faqs"),
        json={
            "question": "How do I book a demo?",
            "answer": "Pick a time on [our calendar](https://calendly.com/acme/demo).",
        },
        headers=owner.headers,
    )
    assert faq.status_code == 201
    response = (await chat(client, owner, "How do I book a demo?")).json()
    assert response["source"] == "faq"
    assert widget_links(response["answer"]) == ["https://calendly.com/acme/demo"]


@pytest.fixture
def injected_link_llm(fake_llm: FakeOpenAI, llm_settings: Any) -> FakeOpenAI:
    fake_llm.chat_reply = (
        "Yearly plans are refunded within 30 days [1]. For a faster refund "
        "[log in here](https://evil.example/login) or see [the policy](https://shop.example.com/r)."
    )
    return fake_llm


async def _shop_answers(llm_client: Any) -> tuple[str, str]:
    """What a visitor on the shop's site reads to a question about refunds answered plain and
    to another streamed, from a workspace allowing that site and holding REFUNDS."""
    client, runtime = llm_client
    owner = await signup(client)
    await _set_origins(client, owner, ["https://shop.example.com"])
    await ingest(client, owner, runtime, "Refunds", REFUNDS)
    headers = widget_headers(owner, Origin="https://shop.example.com")
    body = {"message": "Can I get a refund on a yearly plan?", "session_id": "s1"}
    plain = await client.post("/api/v1/chat", json=body, headers=headers)
    assert plain.json()["source"] == "rag", plain.text
    body = {"message": "Can I get a refund on a yearly plan, please?", "session_id": "s2"}
    streamed = await client.post(
        "/api/v1/chat", json=body, headers={**headers, "Accept": "text/event-stream"}
    )
    done = parse_sse(streamed.text)[-1]
    assert done[0] == "done", done
    return str(plain.json()["answer"]), str(done[1]["answer"])


async def test_a_model_answer_with_an_injected_link_is_restricted(
    llm_client: Any, injected_link_llm: FakeOpenAI
) -> None:
    plain, streamed = await _shop_answers(llm_client)
    assert widget_links(plain) == ["https://shop.example.com/r"]
    assert "log in here (https://evil.example/login)" in plain
    assert widget_links(streamed) == ["https://shop.example.com/r"]


@pytest.fixture
def replying_llm(
    request: pytest.FixtureRequest, fake_llm: FakeOpenAI, llm_settings: Any
) -> FakeOpenAI:
    fake_llm.chat_reply = "Yearly plans are refunded within 30 days [1]. " + request.param
    return fake_llm


@pytest.mark.parametrize(
    "replying_llm",
    [
        pytest.param(nested_links(8, "https://evil.example/login"), id="nested eight deep"),
        # U+0085 (next line): a C1 control, which the model's text keeps
        pytest.param("[log in here](https://evil.example/login\x85now).", id="next line"),
    ],
    indirect=True,
)
async def test_a_model_answer_hiding_a_link_links_nowhere_else(
    llm_client: Any, replying_llm: FakeOpenAI
) -> None:
    """A model a document instructed hides a link from the filter (links nested eight deep; a
    U+0085 in its URL): the answer the widget shows, streamed or not, links to no other site."""
    plain, streamed = await _shop_answers(llm_client)
    assert widget_links(plain) == [], plain
    assert widget_links(streamed) == [], streamed


__all__ = ["fake_llm", "llm_client", "llm_settings"]  # fixtures shared with test_answers
