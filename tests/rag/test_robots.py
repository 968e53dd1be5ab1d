"""A sitemap's pages are crawled by us, so their site's robots.txt decides which we fetch
(rag/knowledge/robots.py): before, a posted sitemap and every scheduled sync fetched every page
it listed, /admin/ and /drafts/ included, whatever the site asked of crawlers."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections import Counter
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler

import pytest
from redis.asyncio import Redis

from core.config import Settings
from core.db import Database
from rag.knowledge import robots
from rag.knowledge.robots import parse_robots
from tests.fakes.http_handler import serving
from tests.rag.test_sources import Page, _post_sitemap, article, local_site, world

# --- the rules, as RFC 9309 reads them ---------------------------------------------------------


def test_our_own_group_wins_over_the_star_group_and_groups_of_ours_combine() -> None:
    robots = parse_robots(
        "User-agent: *\n"
        "Disallow: /\n"
        "\n"
        "User-agent: OtherBot\n"
        "User-agent: TrulyBot/2.0  # our product token, any version\n"
        "Disallow: /drafts/\n"
        "\n"
        "user-agent: trulybot\n"
        "disallow: /tmp\n"
    )
    assert robots.allows("https://example.com/guide")  # the * group's "/" is not ours
    assert not robots.allows("https://example.com/drafts/one")
    assert not robots.allows("https://example.com/tmp/x")


def test_with_no_group_of_ours_the_star_group_applies() -> None:
    robots = parse_robots("User-agent: Googlebot\nDisallow: /\n\nUser-agent: *\nDisallow: /cart\n")
    assert not robots.allows("https://example.com/cart?item=3")
    assert robots.allows("https://example.com/guide")
    nobody = parse_robots("User-agent: Googlebot\nDisallow: /\n")
    assert nobody.allows("https://example.com/anything")


def test_the_longest_match_wins_allow_wins_a_tie_and_wildcards_match() -> None:
    robots = parse_robots(
        "User-agent: *\n"
        "Disallow: /docs/\n"
        "Allow: /docs/public/\n"
        "Disallow: /*.pdf$\n"
        "Allow: /same\n"
        "Disallow: /same\n"
        "Disallow: /search?*q=\n"
        "Disallow:\n"  # an empty value disallows nothing
    )
    assert not robots.allows("https://example.com/docs/private")
    assert robots.allows("https://example.com/docs/public/page")
    assert not robots.allows("https://example.com/files/report.pdf")
    assert robots.allows("https://example.com/files/report.pdf.html")  # "$" anchors the end
    assert robots.allows("https://example.com/same")
    assert not robots.allows("https://example.com/search?lang=en&q=refunds")
    assert robots.allows("https://example.com/robots.txt")
    assert robots.allows("https://example.com/")


_HOSTILE = (
    "import sys\n"
    "from rag.knowledge.robots import parse_robots\n"
    "robots = parse_robots('User-agent: *\\nDisallow: /' + '*a' * 30 + '*b\\n'\n"
    "                      'Allow: /' + '*a' * 20 + '$\\n')\n"
    "url = 'https://example.com/' + 'a' * 2000\n"
    "print(robots.allows(url), robots.allows(url + 'b'), robots.allows(url + 'c'))\n"
)


def test_a_hostile_robots_txt_is_matched_without_backtracking() -> None:
    """A site's ``Disallow: /*a*a*a...*b`` against a listed URL of 2,000 ``a``s: before, each
    ``*`` was a ``.*`` of a regular expression and the match backtracked for longer than any
    request lasts (four wildcards and 300 characters took half a minute), on the event loop of
    the server reading the sitemap, every workspace's requests waiting. In a child process, so
    that a return of the backtracking fails this test instead of hanging the run."""
    done = subprocess.run(
        [sys.executable, "-c", _HOSTILE], capture_output=True, text=True, timeout=300, check=True
    )
    # No b: the Allow rule (ends in "a") matches; a b at the end: the longer Disallow wins.
    assert done.stdout.split() == ["True", "False", "True"]


class _CountedPath(str):
    """A path that counts the searches made in it (``Rule.matches`` looks for each literal
    piece of a rule with ``find``)."""

    searches = 0

    def find(self, *args: object) -> int:  # type: ignore[override]
        type(self).searches += 1
        return super().find(*args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    ["/" + "*" * 500_000, "/private" + "*" * 250_000 + "x$", "/" + "**a" * 150_000 + "*"],
)
def test_a_run_of_wildcards_costs_one_wildcard(value: str) -> None:
    """``Disallow: /`` and half a megabyte of ``*`` (one line of a 500 KiB robots.txt) was a
    rule of 500,000 empty pieces, each looked for in every listed URL: 200 pages of a sitemap
    took 21 s of the server's CPU to screen (24 s for the posted sitemap, past its request's
    time), and the rule held 4 MB in the rules cache. A run of ``*`` matches what one does."""
    rules = parse_robots(f"User-agent: *\nDisallow: {value}\n").rules
    text = "/private/a/page-" + "a" * 300 + "x"
    expected = robots._rule(False, re.sub(r"\*+", "*", value)).matches(text)
    path = _CountedPath(text)
    _CountedPath.searches = 0
    assert rules[0].matches(path) is expected
    assert _CountedPath.searches <= len(path) + 2


@pytest.mark.parametrize(
    ("rule", "path", "matches"),
    [
        ("/a*b", "/axxb", True),
        ("/a*b", "/ab/c", True),
        ("/a*b$", "/ab/c", False),
        ("/a*b$", "/abb", True),
        ("/a*b*b$", "/ab", False),  # the pieces may not overlap
        ("/a*b*b$", "/abb", True),
        ("/a$", "/a", True),
        ("/a$", "/ab", False),
        ("/*$", "/anything", True),
        ("/**x", "/yx", True),
        ("/x*", "/y", False),
    ],
)
def test_wildcards_and_the_end_anchor(rule: str, path: str, matches: bool) -> None:
    assert robots._rule(False, rule).matches(path) is matches


def test_rules_and_urls_are_compared_percent_encoded_alike() -> None:
    """RFC 9309, 2.2.2: a rule written in UTF-8 (as editors save it) matches the percent-encoded
    URL a sitemap lists; an unreserved character matches its %xx form and hex case does not
    count. Compared raw, /caf%C3%A9/menu was crawled although the site disallowed /café."""
    rules = parse_robots(
        "User-agent: *\n"
        "Disallow: /café\n"
        "Disallow: /%E0%A4%AE%E0%A4%A6%E0%A4%A6\n"  # मदद ("help"), written encoded
        "Disallow: /private\n"
        "Disallow: /a%3cb\n"
        "Disallow: /%62%61%7A\n"  # RFC 9309's example: /baz
        "Allow: /café/open$\n"
    )
    site = "https://shop.example"
    for url in (
        "/caf%C3%A9/menu",
        "/caf%c3%a9/menu",
        "/café/menu",
        "/मदद/faq",
        "/%e0%a4%ae%e0%a4%a6%e0%a4%a6/faq",
        "/%70rivate/x",
        "/a%3Cb",
        "/baz",
    ):
        assert not rules.allows(site + url), url
    assert rules.allows(site + "/caf%C3%A9/open")  # the longer allow, matched encoded too
    assert rules.allows(site + "/cafe/menu")
    assert rules.allows(site + "/a%3Db")


def test_an_empty_disallow_ends_its_group() -> None:
    """ "Everyone may crawl but BadBot": the empty Disallow of the * group did not end it, so
    BadBot's line joined it and its "Disallow: /" kept us out of the whole site (docs review
    F1)."""
    robots = parse_robots("User-agent: *\nDisallow:\n\nUser-agent: BadBot\nDisallow: /\n")
    assert robots.allows("https://example.com/guide")
    mine = parse_robots("User-agent: TrulyBot\nDisallow:\nUser-agent: *\nDisallow: /\n")
    assert mine.allows("https://example.com/guide")


def test_a_byte_order_mark_does_not_hide_the_first_group() -> None:
    """Files saved by some editors start with a UTF-8 BOM: the first User-agent line was not
    read and its rules were dropped (session review F2)."""
    robots = parse_robots("\ufeffUser-agent: *\nDisallow: /private\n")
    assert not robots.allows("https://example.com/private/x")


def test_junk_and_comments_give_no_rules() -> None:
    robots = parse_robots("<html><body>Not found</body></html>\n# Disallow: /\nDisallow: /x\n")
    assert robots.allows("https://example.com/x")  # a rule before any user-agent line: no group


# --- a real site ------------------------------------------------------------------------------

ROBOTS = (
    "User-agent: *\n"
    "Disallow: /private\n"
    "\n"
    "User-agent: TrulyBot\n"
    "Disallow: /drafts/\n"
    "Allow: /drafts/public$\n"
)


async def test_a_posted_sitemap_and_its_syncs_leave_out_what_robots_txt_disallows(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    paths = ["/a", "/private", "/drafts/secret", "/drafts/public"]
    with local_site() as site:
        for path in paths:
            site.pages[path] = Page(article(path.strip("/"), [f"words of {path}"]))
        site.pages["/robots.txt"] = Page(ROBOTS.encode(), "text/plain", etag=False)
        site.sitemap(paths)
        async with world(db, owner_db, redis_client) as w:
            r = await _post_sitemap(w, site.url("/sitemap.xml"))
            assert r.status_code == 202, r.text
            assert (r.json()["count"], r.json()["disallowed"]) == (3, 1)
            kept = [site.url(p) for p in ("/a", "/drafts/public", "/private")]
            assert sorted(await w.documents()) == kept  # /private: only * is told to stay out
            assert not site.hits("/drafts/secret")

            # The site now keeps us out of /a too: the sync neither fetches nor removes it.
            site.pages["/robots.txt"] = Page(
                (ROBOTS + "Disallow: /a\n").encode(), "text/plain", etag=False
            )
            site.reset()
            [source] = await w.sources()
            record = await w.sync_now(source["id"])
            assert record["status"] == "ok", record
            assert (record["pages_added"], record["pages_removed"]) == (0, 0)
            [note] = record["errors"]
            assert note["code"] == "robots_disallowed"
            assert "2 listed page(s)" in note["message"]
            assert not site.hits("/a")
            assert not site.hits("/drafts/secret")
            assert site.hits("/drafts/public")
            assert sorted(await w.documents()) == kept


async def test_a_robots_txt_that_cannot_be_read_fetches_nothing_and_removes_nothing(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    """A 5xx robots.txt means the site cannot say what it allows (RFC 9309): nothing is fetched
    and the sync fails without removing a page; a 404 (no file) means no rules."""
    with local_site() as site:
        site.pages["/a"] = Page(article("a", ["words of a"]))
        site.pages["/robots.txt"] = Page(b"busy", "text/plain", status=503)
        site.sitemap(["/a"])
        async with world(db, owner_db, redis_client) as w:
            refused = await _post_sitemap(w, site.url("/sitemap.xml"))
            assert refused.status_code == 422, refused.text
            assert refused.json()["error"]["code"] == "robots_unavailable"
            assert await w.documents() == {}
            assert not site.hits("/a")

            del site.pages["/robots.txt"]  # 404: no rules
            added = await _post_sitemap(w, site.url("/sitemap.xml"))
            assert added.status_code == 202, added.text
            assert sorted(await w.documents()) == [site.url("/a")]

            site.pages["/robots.txt"] = Page(b"busy", "text/plain", status=503)
            site.reset()
            [source] = await w.sources()
            record = await w.sync_now(source["id"])
            assert record["status"] == "failed", record
            assert "robots.txt" in record["errors"][0]["message"]
            assert not site.hits("/a")
            assert sorted(await w.documents()) == [site.url("/a")]


async def test_every_page_disallowed_is_a_clear_refusal(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    with local_site() as site:
        site.pages["/a"] = Page(article("a", ["words of a"]))
        site.pages["/robots.txt"] = Page(b"User-agent: *\nDisallow: /\n", "text/plain")
        site.sitemap(["/a"])
        async with world(db, owner_db, redis_client) as w:
            refused = await _post_sitemap(w, site.url("/sitemap.xml"))
            assert refused.status_code == 422, refused.text
            assert refused.json()["error"]["code"] == "robots_disallowed"
            assert await w.documents() == {}


async def test_a_retried_sitemap_page_is_fetched_only_if_robots_txt_allows_it_now(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    """The owner's Retry (and a reindex) fetched a sitemap's page again without asking its
    site's robots.txt (upgrade review F5): only submissions and syncs did."""
    with local_site() as site:
        site.pages["/a"] = Page(article("a", ["words of a"]), status=500)
        site.sitemap(["/a"])
        async with world(db, owner_db, redis_client) as w:
            added = await _post_sitemap(w, site.url("/sitemap.xml"))
            assert added.status_code == 202, added.text
            [document] = (await w.documents()).values()
            assert document["status"] == "failed"  # the page answered 500

            site.pages["/a"].status = 200
            site.pages["/robots.txt"] = Page(b"User-agent: *\nDisallow: /a\n", "text/plain")
            robots.forget_recent()  # the rules read at the submission, as minutes later
            site.reset()
            retried = await w.client.post(
                w.owner.url(f"/documents/{document['id']}/retry"), headers=w.owner.headers
            )
            assert retried.status_code == 202, retried.text
            await w.runtime.jobs.drain()
            [after] = (await w.documents()).values()
            assert (after["status"], after["error_code"]) == ("failed", "robots_disallowed")
            assert not site.hits("/a")

            del site.pages["/robots.txt"]  # allowed again: the retry fetches it
            robots.forget_recent()
            again = await w.client.post(
                w.owner.url(f"/documents/{document['id']}/retry"), headers=w.owner.headers
            )
            assert again.status_code == 202, again.text
            await w.runtime.jobs.drain()
            [ready] = (await w.documents()).values()
            assert ready["status"] == "ready"


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
async def test_of_a_robots_txt_past_500_kib_the_first_500_kib_are_read(
    db: Database, owner_db: Database, redis_client: Redis, eol: str
) -> None:
    """RFC 9309, 2.5: a crawler parses at least the first 500 KiB. A larger file was refused as
    unreadable, so a site with a long robots.txt could not be added at all; the rules in its
    first 500 KiB now apply, the line cut at the limit is not read as a rule (here it would
    have been "Disallow: /a"), and nothing past the limit is. Lines may end in CR alone (2.2):
    the cut looked for LF only, so such a file lost every rule."""
    head = f"User-agent: *{eol}Disallow: /private{eol}"
    cut = "Disallow: /a"
    padding = robots.MAX_BYTES - len(head) - len(cut)
    width = 99 + len(eol)
    lines = ("#" * 99 + eol) * (padding // width) + "#" * (padding % width)
    assert len(lines) == padding
    body = head + lines[: -len(eol)] + eol + cut + f"ll-of-this-is-cut{eol}Disallow: /late{eol}"
    body += lines
    assert len(body.encode()) > robots.MAX_BYTES + 100_000
    assert body.encode()[: robots.MAX_BYTES].endswith(cut.encode())
    with local_site() as site:
        for path in ("/a", "/private", "/late"):
            site.pages[path] = Page(article(path.strip("/"), [f"words of {path}"]))
        site.pages["/robots.txt"] = Page(body.encode(), "text/plain", etag=False)
        site.sitemap(["/a", "/private", "/late"])
        async with world(db, owner_db, redis_client) as w:
            r = await _post_sitemap(w, site.url("/sitemap.xml"))
            assert r.status_code == 202, r.text
            assert (r.json()["count"], r.json()["disallowed"]) == (2, 1)
            assert sorted(await w.documents()) == [site.url("/a"), site.url("/late")]
            assert not site.hits("/private")


async def test_a_robots_txt_of_too_many_rules_fetches_nothing_of_its_site(
    db: Database, owner_db: Database, redis_client: Redis
) -> None:
    """Each listed page was compared with every rule of its site, on the server's event loop:
    500 KiB of ``Disallow: /*1*x`` lines (40,000 rules) held it half a minute for 200 pages.
    Past ``MAX_RULES`` the site cannot say what it allows: none of its pages is fetched, said
    as for a robots.txt that cannot be read; at the limit the rules apply."""
    rules = "".join(f"Disallow: /*{i}*x\n" for i in range(robots.MAX_RULES - 1))
    with local_site() as site:
        site.pages["/a"] = Page(article("a", ["words of a"]))
        site.pages["/private"] = Page(article("private", ["words of private"]))
        site.sitemap(["/a", "/private"])
        site.pages["/robots.txt"] = Page(
            f"User-agent: *\n{rules}Disallow: /private\nDisallow: /b\n".encode(),
            "text/plain",
            etag=False,
        )
        async with world(db, owner_db, redis_client) as w:
            refused = await _post_sitemap(w, site.url("/sitemap.xml"))
            assert refused.status_code == 422, refused.text
            error = refused.json()["error"]
            assert error["code"] == "robots_unavailable"
            assert str(robots.MAX_RULES) in error["message"]
            assert await w.documents() == {}
            assert not site.hits("/a")

            robots.forget_recent()
            site.pages["/robots.txt"] = Page(
                f"User-agent: *\n{rules}Disallow: /private\n".encode(), "text/plain", etag=False
            )
            added = await _post_sitemap(w, site.url("/sitemap.xml"))
            assert added.status_code == 202, added.text
            assert (added.json()["count"], added.json()["disallowed"]) == (1, 1)
            assert sorted(await w.documents()) == [site.url("/a")]


# --- many sites -------------------------------------------------------------------------------

SITES = 9


class Crowd:
    """The robots.txt requests several local sites see, counted across them all. A request is
    held until ``READS_AT_ONCE`` are in flight (or every site has asked), so reads made one
    after another never get past the first: it waits 30 s, then answers 503."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.in_flight = self.peak = self.started = 0
        self.starved = False
        self.reads: Counter[int] = Counter()  # robots.txt reads per site (its port)

    def handler(self, status_of: dict[int, int]) -> type[BaseHTTPRequestHandler]:
        crowd = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                port = self.server.server_address[1]
                with crowd.lock:
                    crowd.reads[port] += 1
                    crowd.started += 1
                    crowd.in_flight += 1
                    crowd.peak = max(crowd.peak, crowd.in_flight)
                    crowd.lock.notify_all()
                    released = crowd.lock.wait_for(
                        lambda: crowd.in_flight >= robots.READS_AT_ONCE or crowd.started >= SITES,
                        timeout=30,
                    )
                    crowd.starved = crowd.starved or not released
                    crowd.in_flight -= 1  # before answering: the client's next read follows it
                status = 503 if not released else status_of.get(port, 200)
                body = b"User-agent: *\nDisallow: /private\n"
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    return  # a read cancelled when another site failed the listing

            def log_message(self, format: str, *args: object) -> None:
                return

        return Handler


async def test_the_robots_txt_of_many_sites_are_read_a_few_at_a_time(settings: Settings) -> None:
    """A sitemap listing pages on many sites read their robots.txt files one after another, each
    up to FETCH_TIMEOUT_SECONDS, so one submission (holding a sitemap slot) or sync could take
    minutes (ingestion review U3). Now READS_AT_ONCE are read at once, each site once, and the
    rules read are kept for the pages' own ingestion jobs."""
    crowd = Crowd()
    with ExitStack() as stack:
        sites = [stack.enter_context(serving(crowd.handler({}))) for _ in range(SITES)]
        pages = [site + path for site in sites for path in ("/a", "/private", "/b")]
        screened = await robots.screen(pages, allow_private=True, timeout=60, max_redirects=0)
        blocked = screened.blocked
        assert screened.unavailable == {}
    assert not crowd.starved, "the reads were made one after another"
    assert crowd.peak == robots.READS_AT_ONCE
    assert blocked == {site + "/private" for site in sites}
    assert sorted(crowd.reads.values()) == [1] * SITES
    for site in sites:
        # From the kept rules: a read would be refused (these settings allow no private address).
        await robots.check_allowed(site + "/a", settings)
        with pytest.raises(robots.RobotsDisallowed):
            await robots.check_allowed(site + "/private", settings)
    assert sorted(crowd.reads.values()) == [1] * SITES


async def test_one_site_that_cannot_say_withholds_its_own_pages_only() -> None:
    """One site of the listing whose robots.txt answers 503 failed the whole listing (review
    F5): its pages are withheld, the other sites' are screened as usual, and only that site
    (or every site) unreadable is fatal."""
    crowd = Crowd()
    status_of: dict[int, int] = {}
    with ExitStack() as stack:
        sites = [stack.enter_context(serving(crowd.handler(status_of))) for _ in range(SITES)]
        status_of[int(sites[5].rsplit(":", 1)[1])] = 503
        pages = [site + path for site in sites for path in ("/a", "/private")]
        screened = await robots.screen(pages, allow_private=True, timeout=60, max_redirects=0)
    assert list(screened.unavailable) == [sites[5]]
    assert screened.unavailable[sites[5]].code == "robots_unavailable"
    assert screened.withheld == {sites[5] + "/a", sites[5] + "/private"}
    assert screened.blocked == {site + "/private" for site in sites if site != sites[5]}
    assert screened.fatal(sites[0] + "/sitemap.xml") is None
    fatal = screened.fatal(sites[5] + "/sitemap.xml")
    assert fatal is not None
    assert sites[5] in fatal.message
    note = screened.note()
    assert note is not None
    assert "2 listed page(s)" in note["message"]
