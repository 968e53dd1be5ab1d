"""robots.txt (RFC 9309) for the pages a sitemap lists.

Pages an owner names one by one are fetched because that person asked for them (as a browser
would); the pages of a sitemap are crawled, on a schedule, by us. So before a sitemap's pages are
added or checked again, the robots.txt of each site they are on is read once (of ``MAX_SITES``
sites at most; a site is its scheme, host and port however a URL spells them), and the pages it
disallows for ``TrulyBot`` (or, with no group of ours, for ``*``) are left out and said.

What the file's answer means (RFC 9309, 2.3.1): a 4xx answer, or a body that is not a robots file,
means no rules; a 5xx answer or no answer means the site cannot say what it allows, so nothing of
it is fetched until it can. That holds for that site alone: the listing's pages on the other
sites are fetched (``Screened.fatal``: only the sitemap's own site, or every site, unreadable
fails the sync, which then removes nothing; the next one tries again).

Matching: the groups naming our product token (case-insensitive) are combined, else the ``*``
groups; the longest matching rule wins and ``allow`` wins a tie; ``*`` matches any characters
and a final ``$`` anchors the end; ``/robots.txt`` itself is always allowed. A rule and a URL
are compared percent-encoded alike (RFC 9309, 2.2.2): what is not ASCII is encoded as UTF-8, the
hex of ``%xx`` is upper-cased and an unreserved character's ``%xx`` is decoded (RFC 3986, 6.2.2).
"""

from __future__ import annotations

import asyncio
import re
import string
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

from cachetools import TTLCache

from core.config import Settings
from core.errors import AppError
from rag.knowledge.addresses import FetchFailed
from rag.knowledge.fetch import fetch_url

AGENT = "trulybot"
MAX_BYTES = 500 * 1024  # RFC 9309, 2.5: at least 500 KiB must be read
ROBOTS_TYPES: tuple[str, ...] = ("text/plain",)
RECENT_SECONDS = 300
RECENT_BYTES = 32 * 1_048_576
"""The most bytes of rules kept read (``_RECENT``, by ``Robots.size``), the oldest dropped
first: 1,024 sites were kept whatever each weighed, and a 500 KiB file of ``ab*`` is about
10 MB once read (170,000 pieces), so an owner listing pages on many sites of their own could
make one process hold gigabytes."""
_ENTRY_BYTES = 1024  # the least an entry counts: its key, the cache's bookkeeping
_RULE_BYTES = 300  # a ``Rule`` itself, beside its strings
UNREADABLE_SECONDS = 60
"""How long a page job keeps a site's failed robots.txt read (``check_allowed``): the site's
other pages fail at once, unfetched, instead of each reading the failing file again (a sitemap
of 500 pages reindexed during an outage of its site made 500 reads)."""
READS_AT_ONCE = 4  # the robots.txt files one sitemap's listing reads at once
MAX_SITES = 16
"""The most sites whose robots.txt one listing reads (the sitemap's own first, then those with
the most pages listed): a listing of 200 pages on 200 sites made 200 reads, each up to
FETCH_TIMEOUT_SECONDS, inside the request that posted it. The pages on the sites past it are
left out and said (``Screened.crowded``); a sitemap lists its own site's pages (sitemaps.org)."""
_DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_RULES = 2_000
"""The most rules of a site for us that are kept (its own groups combined, else ``*``'s): each
listed page is compared with every rule, and 500 KiB of ``Disallow: /*1*x`` lines (40,000
rules) took half a minute for a sitemap's 200 pages. A file with more cannot say what it allows
(``RobotsUnavailable``: the site's pages are not fetched, and the reason is said)."""


class RobotsUnavailable(FetchFailed):
    code = "robots_unavailable"
    message = "The site's robots.txt could not be read"


@dataclass(frozen=True)
class Rule:
    allow: bool
    pattern: str
    parts: tuple[str, ...]
    """The pattern's literal pieces between its ``*`` wildcards (a final ``$`` left out)."""
    anchored: bool
    """The pattern ended with ``$``: it must match to the end of the path."""

    def matches(self, path: str) -> bool:
        """Whether the rule matches ``path`` from its start, in linear time.

        Not a regular expression: ``*`` became ``.*`` and a site's ``/*a*a*a*a*b`` against a
        listed URL of a few hundred characters backtracked for minutes (hours past that),
        holding the event loop of the server that read the sitemap. Each literal piece is found
        at its leftmost place after the one before, which matches whenever any placing does;
        an anchored pattern's last piece must end the path."""
        first, *middle = self.parts
        if not path.startswith(first):
            return False
        if not middle:
            return not self.anchored or path == first
        *middle, last = middle
        end = len(path)
        if self.anchored:
            end -= len(last)
            if end < len(first) or not path.endswith(last):
                return False
        at = len(first)
        for part in middle:
            found = path.find(part, at, end)
            if found == -1:
                return False
            at = found + len(part)
        return self.anchored or path.find(last, at) != -1


_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_URI_CHARACTERS = frozenset(string.ascii_letters + string.digits + "-._~:/?#[]@!$&'()*+,;=%")


_SAFE = "".join(sorted(_URI_CHARACTERS - _UNRESERVED))
"""What ``quote`` leaves as written beside the unreserved characters: the rest of the URI's."""


def _canonical(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else f"%{match.group(1).upper()}"


def _normalized(text: str) -> str:
    """``text`` (a rule's path or a URL's path and query) percent-encoded as the other side is:
    a rule saved in UTF-8 (``/café``) matches the URL a sitemap lists (``/caf%C3%A9``),
    ``%70rivate`` is ``private`` and ``%3c`` is ``%3C``. ``*`` and ``$`` stay as written.
    The escapes written are made canonical first, then the whole text is encoded in one
    ``quote`` (one call a character, ten calls each before: 500 KiB of ``é`` took seconds)."""
    if "%" in text:
        text = _PERCENT.sub(_canonical, text)
    return quote(text, safe=_SAFE, errors="replace")


_WILDCARDS = re.compile(r"\*{2,}")


def _rule(allow: bool, pattern: str) -> Rule:
    """A rule; a run of ``*`` in it is one wildcard (it matches what one does), so its pieces
    never hold an empty one between two: ``Disallow: /`` and 500 KiB of ``*`` was a rule of
    500,000 pieces, each looked for in every listed URL (21 s of CPU for a sitemap's 200
    pages). Its length, which ranks it, is that of the pattern as written."""
    pattern = _normalized(pattern)
    anchored = pattern.endswith("$")
    body = _WILDCARDS.sub("*", pattern[:-1] if anchored else pattern)
    return Rule(allow, pattern, tuple(body.split("*")), anchored)


@dataclass(frozen=True)
class Robots:
    """The rules of one site for us; no rules: everything allowed."""

    rules: tuple[Rule, ...] = field(default=())
    size: int = field(default=_ENTRY_BYTES, compare=False)
    """About the bytes the rules hold (``_weight``): what ``_RECENT`` counts."""

    def allows(self, url: str) -> bool:
        try:
            parts = urlsplit(url)
        except ValueError:  # no URL ("http://[::1/a"): nothing of it may be fetched
            return False
        path = _normalized((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
        if path == "/robots.txt":
            return True
        best: Rule | None = None
        for rule in self.rules:
            if not rule.matches(path):
                continue
            longer = best is None or len(rule.pattern) > len(best.pattern)
            tie_allows = best is not None and len(rule.pattern) == len(best.pattern) and rule.allow
            if longer or tie_allows:
                best = rule
        return best is None or best.allow


def parse_robots(text: str, agent: str = AGENT) -> Robots:
    """The rules ``text`` gives ``agent``: its own groups combined, else the ``*`` groups."""
    groups: list[tuple[set[str], list[Rule]]] = []
    agents: set[str] = set()
    rules: list[Rule] = []
    ruled = False  # a rule line (an empty "Disallow:" too) ends the group's user-agent lines
    for raw in text.removeprefix("\ufeff").splitlines():
        line = raw.split("#", 1)[0].strip()
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip().lower(), value.strip()
        if key == "user-agent":
            if ruled:
                groups.append((agents, rules))
                agents, rules, ruled = set(), [], False
            agents.add(value.split("/")[0].strip().lower())
        elif key in ("allow", "disallow") and agents:
            ruled = True
            if value:  # an empty value allows everything: no rule
                rules.append(_rule(key == "allow", value))
    if agents:
        groups.append((agents, rules))
    ours = [r for names, group in groups if agent in names for r in group]
    if not any(agent in names for names, _ in groups):
        ours = [r for names, group in groups if "*" in names for r in group]
    return Robots(tuple(ours), size=_weight(ours))


def _weight(rules: list[Rule]) -> int:
    """The bytes ``rules`` hold, counted from above (a string shared by two pieces twice)."""
    return _ENTRY_BYTES + sum(
        _RULE_BYTES
        + sys.getsizeof(rule.pattern)
        + sys.getsizeof(rule.parts)
        + sum(map(sys.getsizeof, rule.parts))
        for rule in rules
    )


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url`` as one site is named however its URLs spell it: the
    scheme and host in lower case, the host's final dot and a default port left out (each
    spelling of a host was a site of its own, its robots.txt read once per spelling)."""
    try:
        parts = urlsplit(url)
    except ValueError:  # "http://[::1/a" (a "[" never closed): named as written, refused
        return url
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:  # not a port: named as written (the fetcher refuses it)
        return f"{scheme}://{parts.netloc.lower()}"
    host = (parts.hostname or "").rstrip(".")
    if ":" in host:
        host = f"[{host}]"
    userinfo, at, _ = parts.netloc.rpartition("@")  # kept: the fetcher refuses credentials
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    return f"{scheme}://{userinfo}{at}{host}"


_RECENT: TTLCache[str, Robots] = TTLCache(
    maxsize=RECENT_BYTES, ttl=RECENT_SECONDS, getsizeof=lambda robots: robots.size
)
"""The rules last read per site: a sitemap's pages, ingested one job each after it was posted,
do not read robots.txt again each (a sync round and a submission always read it afresh)."""


_UNREADABLE: TTLCache[str, RobotsUnavailable] = TTLCache(maxsize=1024, ttl=UNREADABLE_SECONDS)
"""The sites whose robots.txt a page job could not read lately, with why (``check_allowed``
only: a submission and a sync read the file afresh, and a good read ends the entry)."""


def forget_recent() -> None:
    _RECENT.clear()
    _UNREADABLE.clear()


class RobotsDisallowed(AppError):
    code = "robots_disallowed"
    status_code = 422
    message = "The site's robots.txt disallows this page"


async def check_allowed(url: str, settings: Settings) -> None:
    """Before a sitemap's page is fetched by its ingestion job (after the sitemap was posted, a
    Retry, a reindex): ``RobotsDisallowed`` when its site's robots.txt disallows it now,
    ``RobotsUnavailable`` when the site cannot say: the page is not fetched (it fails, and the
    owner retries it), and for ``UNREADABLE_SECONDS`` the site's other pages fail alike
    without reading the file again."""
    origin = origin_of(url)
    robots = _RECENT.get(origin)
    if robots is None:
        failed = _UNREADABLE.get(origin)
        if failed is not None:  # read (and failed) moments ago by another page's job
            raise RobotsUnavailable(failed.message, details=failed.details)
        try:
            robots = await read_robots(
                origin,
                allow_private=settings.allow_private_urls,
                timeout=settings.fetch_timeout_seconds,
                max_redirects=settings.fetch_max_redirects,
            )
        except RobotsUnavailable as exc:
            kept = RobotsUnavailable(
                f"{exc.message}: retry the page later (the file is read again after"
                f" {UNREADABLE_SECONDS} s)",
                details=exc.details,
            )
            _UNREADABLE[origin] = kept
            raise kept from exc
    if not robots.allows(url):
        raise RobotsDisallowed(
            "The site's robots.txt disallows this page for TrulyBot: it was not fetched",
            details={"url": url},
        )


async def read_robots(origin: str, **fetch_options: object) -> Robots:
    """The rules of ``origin`` (``scheme://host[:port]``) for us, read over the SSRF-safe fetcher
    with ``fetch_options`` (allow_private, timeout, max_redirects), and kept a few minutes for
    ``check_allowed``. Raises ``RobotsUnavailable`` when the site cannot say (5xx, no answer); of a
    file past 500 KiB the first 500 KiB are read (RFC 9309, 2.5)."""
    robots = await _fetch_rules(origin, **fetch_options)
    if robots.size <= RECENT_BYTES:
        _RECENT[origin] = robots
    else:  # (more than 500 KiB can weigh: never kept)
        _RECENT.pop(origin, None)
    _UNREADABLE.pop(origin, None)
    return robots


async def _fetch_rules(origin: str, **fetch_options: object) -> Robots:
    url = f"{origin}/robots.txt"
    try:
        page = await fetch_url(
            url,
            max_bytes=MAX_BYTES,
            allowed_types=ROBOTS_TYPES,
            truncate=True,
            **fetch_options,  # type: ignore[arg-type]
        )
    except AppError as exc:
        details = exc.details if isinstance(exc.details, dict) else {}
        status = details.get("status")
        if isinstance(status, int) and 400 <= status < 500:
            return Robots()  # no robots.txt: no rules
        if exc.code == "unsupported_media_type":
            return Robots()  # an HTML page or the like served for any path: not a robots file
        raise RobotsUnavailable(
            f"{url} could not be read ({exc.message}); the sitemap's pages on {origin} are "
            "not fetched until it can be",
            details={"url": url},
        ) from exc
    data = page.data
    if page.truncated:
        # RFC 9309, 2.5: the first 500 KiB are parsed; the line cut at the limit is not a rule.
        # Lines may end in LF, CR LF or CR alone (RFC 9309, 2.2: EOL).
        data = data[: max(data.rfind(b"\n"), data.rfind(b"\r")) + 1]
    # Off the event loop: 500 KiB of rules (the parse drops a byte order mark).
    robots = await asyncio.to_thread(_parsed, data)
    if len(robots.rules) > MAX_RULES:
        raise RobotsUnavailable(
            f"{url} has {len(robots.rules)} rules for TrulyBot; at most {MAX_RULES} are read:"
            f" the sitemap's pages on {origin} are not fetched",
            details={"url": url, "rules": len(robots.rules), "limit": MAX_RULES},
        )
    return robots


def _parsed(data: bytes) -> Robots:
    return parse_robots(data.decode("utf-8", errors="replace"))


@dataclass
class Screened:
    """What robots.txt says of a listing's pages (``screen``)."""

    blocked: set[str] = field(default_factory=set)
    """Pages their site's robots.txt disallows for us."""
    unavailable: dict[str, RobotsUnavailable] = field(default_factory=dict)
    """Sites (origins) whose robots.txt could not be read, with why."""
    withheld: set[str] = field(default_factory=set)
    """The pages on those sites: not fetched this time (RFC 9309, 2.3.1.4: complete
    disallow), neither added nor counted missing."""
    crowded: set[str] = field(default_factory=set)
    """Pages on the sites past ``MAX_SITES``: their robots.txt is not read, so they are
    neither fetched nor added (nor counted missing)."""
    origins: int = 0
    """How many sites' robots.txt were asked (at most ``MAX_SITES``)."""

    @property
    def left_out(self) -> set[str]:
        return self.blocked | self.withheld | self.crowded

    def crowd_note(self, sitemap_url: str) -> dict[str, str] | None:
        """The sync record's note of the pages on sites past ``MAX_SITES``, or None."""
        if not self.crowded:
            return None
        return {
            "url": sitemap_url,
            "code": "too_many_sites",
            "message": f"The listed pages are on more than {MAX_SITES} sites: the robots.txt"
            f" of {MAX_SITES} was read and {len(self.crowded)} listed page(s) on the others"
            " were not fetched",
        }

    def fatal(self, sitemap_url: str) -> RobotsUnavailable | None:
        """The error that fails the whole listing: every site's robots.txt unread, or that of
        the sitemap's own site (the site the owner means). Else None: one stale link to a dead
        host leaves the rest of the site fetched."""
        own = self.unavailable.get(origin_of(sitemap_url))
        if own is not None:
            return own
        if self.unavailable and len(self.unavailable) == self.origins:
            return self.unavailable[min(self.unavailable)]
        return None

    def note(self) -> dict[str, str] | None:
        """The sync record's note of the unreadable sites, or None."""
        if not self.unavailable:
            return None
        first = self.unavailable[min(self.unavailable)]
        more = len(self.unavailable) - 1
        return {
            "url": first.details.get("url", "") if isinstance(first.details, dict) else "",
            "code": RobotsUnavailable.code,
            "message": (
                f"The robots.txt of {len(self.unavailable)} site(s) could not be read"
                f" ({first.message}{f'; and {more} more' if more else ''}):"
                f" {len(self.withheld)} listed page(s) on them were not fetched this time;"
                " the others were"
            )[:500],
        }


async def screen(
    pages: Iterable[str],
    *,
    sitemap_url: str = "",
    deadline: float | None = None,
    **fetch_options: object,
) -> Screened:
    """The pages their site's robots.txt disallows for us, and the sites that cannot say (one
    read per site, ``READS_AT_ONCE`` sites at a time, so a listing spread over many slow sites
    does not wait for each in turn). A site that cannot say (5xx, no answer, a host that does
    not resolve or is not allowed) withholds its own pages only. Of ``MAX_SITES`` sites at
    most: ``sitemap_url``'s own, then those with the most pages; the others' are ``crowded``.
    ``deadline`` (the event loop's clock): no read starts after it, none is waited for past it,
    and the sites not read by then cannot say (the request posting a sitemap answers in time)."""
    by_origin: dict[str, list[str]] = {}
    for url in pages:
        by_origin.setdefault(origin_of(url), []).append(url)
    own = origin_of(sitemap_url) if sitemap_url else ""
    ranked = sorted(by_origin, key=lambda o: (o != own, -len(by_origin[o]), o))
    crowded = [url for origin in ranked[MAX_SITES:] for url in by_origin.pop(origin)]
    gate = asyncio.Semaphore(READS_AT_ONCE)

    async def rules(origin: str) -> Robots | RobotsUnavailable:
        async with gate:
            options = dict(fetch_options)
            if deadline is not None:
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    return RobotsUnavailable(
                        f"{origin}/robots.txt was not read: no time was left",
                        details={"url": f"{origin}/robots.txt"},
                    )
                asked = options.get("timeout")
                options["timeout"] = min(asked, left) if isinstance(asked, float | int) else left
            try:
                return await read_robots(origin, **options)
            except RobotsUnavailable as exc:
                return exc
            except AppError as exc:  # a URL the fetcher refuses before asking (credentials)
                return RobotsUnavailable(
                    f"{origin}/robots.txt could not be read ({exc.message})",
                    details={"url": f"{origin}/robots.txt"},
                )

    origins = [origin for origin in ranked if origin in by_origin]  # in that order
    answers = await asyncio.gather(*(rules(origin) for origin in origins))
    out = Screened(crowded=set(crowded), origins=len(origins))
    for origin, answer in zip(origins, answers, strict=True):
        urls = by_origin[origin]
        if isinstance(answer, RobotsUnavailable):
            out.unavailable[origin] = answer
            out.withheld.update(urls)
        else:
            # Off the event loop: thousands of pages by up to MAX_RULES rules each.
            out.blocked.update(await asyncio.to_thread(_disallowed, answer, urls))
    return out


def _disallowed(robots: Robots, urls: list[str]) -> list[str]:
    return [url for url in urls if not robots.allows(url)]
