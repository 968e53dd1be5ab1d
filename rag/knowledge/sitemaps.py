"""Reading sitemaps (``<urlset>``, ``<sitemapindex>``, a plain-text list) over the SSRF-safe
fetcher: nested indexes followed within bounds, pages capped and deduplicated, and what could
not be read (or was past the cap) said, so a caller never takes an incomplete listing for the
whole site."""

from __future__ import annotations

import asyncio
import codecs
import hashlib
import json
import uuid
import weakref
import zlib
from collections import deque
from collections.abc import AsyncIterator, Collection, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from lxml import etree  # type: ignore[import-untyped]

from core.config import Settings
from core.errors import AppError
from core.tls import outgoing_tls
from rag.knowledge.addresses import (
    MAX_URL_LENGTH,
    FetchFailed,
    IPNetwork,
    allowed_networks,
    page_url,
)
from rag.knowledge.fetch import SITEMAP_TYPES, FetchTooLarge, Inflater, fetch_url


def _gunzip(data: bytes, max_bytes: int) -> bytes:
    """Every member of a ``.gz`` file (several joined are one file, as ``gzip -d`` reads them),
    the cap counting them all; one cut short is refused."""
    out = bytearray()
    inflater = Inflater("gzip")
    for piece in inflater.feed(data):
        out += piece
        if len(out) > max_bytes:
            raise FetchTooLarge(
                f"Sitemap expands to more than {max_bytes} bytes", details={"max_bytes": max_bytes}
            )
    inflater.finish()
    return bytes(out)


class InvalidSitemap(FetchFailed):
    code = "invalid_sitemap"
    message = "The response is not a sitemap"


def parse_sitemap(data: bytes) -> tuple[str, list[str]]:
    """``("index", sitemap URLs)`` or ``("urlset", page URLs)`` from sitemap XML or a text list.

    Raises ``InvalidSitemap`` for anything else (an HTML page, other XML, text that lists no
    URL, an empty body), so junk served with a 200 is never read as "lists nothing"; an empty
    ``<urlset/>`` is a sitemap that lists nothing. A UTF-8 byte order mark first is no content
    (an XML file saved with one was refused as junk, a text list lost its first URL), and a
    text list's scheme may be in capitals, as a ``<loc>``'s may.
    """
    stripped = data.lstrip().removeprefix(codecs.BOM_UTF8).lstrip()
    if not stripped.startswith(b"<"):
        lines = stripped.decode("utf-8", errors="replace").splitlines()
        urls = [line.strip() for line in lines if line.strip().lower().startswith("http")]
        if not urls:
            raise InvalidSitemap("The response is neither sitemap XML nor a list of URLs")
        return "urlset", urls
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=True
    )
    try:
        root = etree.fromstring(stripped, parser=parser)  # entities, DTDs and network are off
    except etree.XMLSyntaxError as exc:
        raise InvalidSitemap(f"Invalid sitemap XML: {exc}") from exc
    if root is None:
        raise InvalidSitemap("Invalid sitemap XML")
    name = etree.QName(root).localname
    if name not in ("urlset", "sitemapindex"):
        raise InvalidSitemap(f"Not a sitemap: the document is <{name}>, not <urlset>")
    kind = "index" if name == "sitemapindex" else "urlset"
    child = "sitemap" if kind == "index" else "url"
    locs: list[str] = []
    for entry in root:
        if not isinstance(entry.tag, str) or etree.QName(entry).localname != child:
            continue
        for loc in entry:
            if isinstance(loc.tag, str) and etree.QName(loc).localname == "loc" and loc.text:
                locs.append(loc.text.strip())
    return kind, locs


@dataclass(frozen=True)
class SitemapFile:
    """One sitemap file as last read: its validators and what it listed, so the next read asks
    it conditionally and a 304 reuses ``locs`` (nothing downloaded or parsed)."""

    etag: str | None
    last_modified: str | None
    kind: str
    locs: tuple[str, ...]


def pack_files(files: Mapping[str, SitemapFile]) -> bytes | None:
    """``files`` as stored (``sources.sitemap_files``): zlib-compressed JSON; None when empty."""
    if not files:
        return None
    data = {
        url: {"etag": f.etag, "last_modified": f.last_modified, "kind": f.kind, "locs": f.locs}
        for url, f in files.items()
    }
    return zlib.compress(json.dumps(data, separators=(",", ":")).encode(), 6)


def unpack_files(data: bytes | None) -> dict[str, SitemapFile]:
    """What ``pack_files`` stored; anything unreadable is no cache (every file asked afresh)."""
    if not data:
        return {}
    try:
        raw = json.loads(zlib.decompress(data))
        return {
            str(url): SitemapFile(
                etag=entry.get("etag"),
                last_modified=entry.get("last_modified"),
                kind=str(entry["kind"]),
                locs=tuple(str(loc) for loc in entry["locs"]),
            )
            for url, entry in raw.items()
        }
    except (zlib.error, ValueError, TypeError, KeyError, AttributeError):
        return {}


@dataclass
class SitemapListing:
    """What a sitemap lists, and whether that is all of it.

    ``pages``: the first ``max_pages`` distinct page URLs. ``errors``: the child sitemaps that
    could not be read (or were not read: past ``max_depth`` or ``max_sitemaps``), each
    ``{"url", "code", "message"}``; any of them makes the listing incomplete, so a page it
    does not list may still be on the site. ``skipped``: listed entries past ``max_pages``
    (counted, not kept; a URL repeated past the cap counts each time). ``also_listed``: those
    of the ``known`` URLs the caller asked about that are listed past the cap. ``too_long``:
    listed page URLs of more than ``MAX_URL_LENGTH`` bytes, left out (no page of such a URL is
    fetched or stored); they do not make the listing incomplete.
    """

    pages: list[str] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    skipped: int = 0
    also_listed: set[str] = field(default_factory=set)
    too_long: int = 0
    files: dict[str, SitemapFile] = field(default_factory=dict)
    """The files read that carry an ETag or Last-Modified, as read (or, answered 304, as
    cached): what the caller keeps for the next read's conditional requests."""
    not_modified: int = 0
    """Files that answered 304 to a conditional request (not downloaded again)."""
    unread: int = 0
    """Child sitemap files not read (an error, no time left, past the depth or the count; a
    file listed twice counts once, up to ``MAX_UNREAD_KEPT`` of them): the pages they list are
    not in ``pages``."""

    @property
    def complete(self) -> bool:
        """Every sitemap file of the listing was read."""
        return not self.errors

    def listed(self, url: str) -> bool:
        return url in self.also_listed or url in self.pages


MAX_CACHED_LOCS = 100_000
"""The most listed URLs kept in ``SitemapListing.files`` (what a conditional request's 304
reuses; stored with the source) over all the files of one listing: a file past it is read again
next time. Fifty files of 75,000 URLs each were all kept, in memory and in the database."""


MAX_UNREAD_KEPT = 10_000
"""The most child sitemaps not read whose URLs (a 16-byte digest each) are kept so a child
listed again is not counted again: an index of 75,000 children, each an index of as many,
lists millions, and past this a repeated one counts each time."""


@dataclass
class _NotRead:
    """Sitemap files an index lists that are not read (past the depth or the count): how many
    and the first. ``seen`` (shared by the reasons of one listing): the digests of those
    counted, so a file listed twice (in one index or in two) counts once; it was counted per
    listing, "5 sitemap file(s) not read" of two files."""

    code: str
    seen: set[bytes]
    count: int = 0
    first: str = ""

    def add(self, url: str) -> None:
        key = hashlib.blake2b(url.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        if key in self.seen:
            return
        if len(self.seen) < MAX_UNREAD_KEPT:
            self.seen.add(key)
        self.first = self.first or url
        self.count += 1

    def error(self, why: str) -> dict[str, str]:
        return {
            "url": self.first,
            "code": self.code,
            "message": f"{self.count} sitemap file(s) not read: {why}",
        }


def _read_file(data: bytes, max_bytes: int) -> tuple[str, list[str]]:
    """``parse_sitemap`` of a fetched file, gunzipped first when it is a ``.gz``."""
    if data[:2] == b"\x1f\x8b":
        data = _gunzip(data, max_bytes)
    return parse_sitemap(data)


async def read_sitemap(
    url: str,
    *,
    max_pages: int = 200,
    allow_private: bool = False,
    timeout: float = 10.0,  # noqa: ASYNC109 - a per-fetch budget, applied with asyncio.timeout
    max_bytes: int = 5 * 1_048_576,
    max_redirects: int = 5,
    max_depth: int = 2,
    max_sitemaps: int = 50,
    allow_networks: Iterable[str | IPNetwork] = (),
    client: httpx.AsyncClient | None = None,
    known: Collection[str] = (),
    cached: Mapping[str, SitemapFile] | None = None,
    deadline: float | None = None,
) -> SitemapListing:
    """The listing of a sitemap (``<urlset>``, ``<sitemapindex>`` or a plain-text list).

    Nested indexes are followed up to ``max_depth`` levels below the root and at most
    ``max_sitemaps`` sitemap files are fetched; the pages are deduplicated, http(s) only and at
    most ``max_pages`` long. Past the cap the sitemaps are still read (memory stays bounded:
    one file at a time) to count what was skipped and to find which ``known`` URLs are listed.
    Child sitemaps past ``max_depth`` or ``max_sitemaps`` are counted, not remembered, and each
    file is parsed in a thread, off the event loop. A failing root raises; a failing child
    sitemap is recorded in ``errors``.

    ``cached``: the files as an earlier read left them (``SitemapListing.files``, at most
    ``MAX_CACHED_LOCS`` URLs in all); each is asked with its ETag / Last-Modified, and one that
    answers 304 lists what it listed then.

    ``deadline`` (the event loop's clock): no child sitemap is asked after it, and none is
    waited for past it; those are ``errors`` (``sitemap_time``), as the request that posts a
    sitemap must answer in time. The root is given ``timeout`` whatever the deadline.
    """
    cached = cached or {}
    networks = allowed_networks(allow_networks)
    own_client = client is None
    http = client or httpx.AsyncClient(
        follow_redirects=False, trust_env=False, timeout=timeout, verify=outgoing_tls()
    )
    listing = SitemapListing()
    known_set = set(known)
    seen_pages: set[str] = set()
    seen_maps: set[str] = {url}
    queue: deque[tuple[str, int]] = deque([(url, 0)])
    fetched = 0
    not_read: set[bytes] = set()
    past_limit = _NotRead(code="sitemap_limit", seen=not_read)
    too_deep = _NotRead(code="sitemap_too_deep", seen=not_read)
    out_of_time = _NotRead(code="sitemap_time", seen=not_read)
    loop = asyncio.get_running_loop()
    cached_locs = 0

    def take(kind: str, locs: list[str], depth: int) -> None:
        """One file's URLs into the listing (in a worker thread: a file of 5 MB lists 400,000,
        each read on the event loop held it most of a second, every request waiting)."""
        for listed in locs:
            if not listed.lower().startswith(("http://", "https://")):
                continue
            # One page (or file) however it is spelled (a fragment, a host in capitals):
            # each spelling was fetched, stored and embedded once.
            loc = page_url(listed)
            if kind == "index":
                if loc in seen_maps:
                    continue
                if depth >= max_depth:
                    too_deep.add(loc)
                elif fetched + len(queue) >= max_sitemaps:
                    # Only counted: an index of 75,000 children, each one an index of as
                    # many, made 3.7 million URLs held at once (840 MB for one request).
                    past_limit.add(loc)
                else:
                    seen_maps.add(loc)
                    queue.append((loc, depth + 1))
            elif loc in seen_pages:
                continue
            elif len(loc.encode("utf-8", "surrogatepass")) > MAX_URL_LENGTH:
                # Not fetchable, and past what the documents' unique index holds: one such
                # <loc> made the whole submission a 500.
                listing.too_long += 1
            elif len(listing.pages) < max_pages:
                seen_pages.add(loc)
                listing.pages.append(loc)
            else:
                listing.skipped += 1
                if loc in known_set:
                    listing.also_listed.add(loc)

    try:
        while queue:
            sitemap_url, depth = queue.popleft()
            budget = timeout
            if deadline is not None and depth > 0:
                budget = min(timeout, deadline - loop.time())
                if budget <= 0:
                    out_of_time.add(sitemap_url)
                    continue
            fetched += 1
            before = cached.get(sitemap_url)
            try:
                page = await fetch_url(
                    sitemap_url,
                    allow_private=allow_private,
                    timeout=budget,
                    max_bytes=max_bytes,
                    max_redirects=max_redirects,
                    allowed_types=SITEMAP_TYPES,
                    allow_networks=networks,
                    client=http,
                    etag=before.etag if before is not None else None,
                    last_modified=before.last_modified if before is not None else None,
                )
                if page.not_modified and before is not None:
                    kind, locs = before.kind, list(before.locs)
                    listing.not_modified += 1
                else:  # megabytes of XML: parsed off the event loop
                    kind, locs = await asyncio.to_thread(_read_file, page.data, max_bytes)
                if (page.etag or page.last_modified) and cached_locs + len(locs) <= MAX_CACHED_LOCS:
                    listing.files[sitemap_url] = SitemapFile(
                        page.etag, page.last_modified, kind, tuple(locs)
                    )
                    cached_locs += len(locs)
            except AppError as exc:
                if depth == 0:
                    raise
                listing.unread += 1
                listing.errors.append(
                    {"url": sitemap_url, "code": exc.code, "message": exc.message[:500]}
                )
                continue
            await asyncio.to_thread(take, kind, locs, depth)
    finally:
        if own_client:
            await http.aclose()
    if past_limit.count:
        listing.errors.append(past_limit.error(f"more than {max_sitemaps} in all"))
    if too_deep.count:
        listing.errors.append(too_deep.error(f"nested more than {max_depth} levels deep"))
    if out_of_time.count:
        listing.errors.append(out_of_time.error("no time was left to read them"))
    listing.unread += past_limit.count + too_deep.count + out_of_time.count
    return listing


async def fetch_sitemap(url: str, **options: Any) -> list[str]:
    """The first page URLs a sitemap lists (``read_sitemap(...).pages``)."""
    return (await read_sitemap(url, **options)).pages


__all__ = [
    "InvalidSitemap",
    "SitemapBusy",
    "SitemapFile",
    "SitemapListing",
    "fetch_sitemap",
    "pack_files",
    "parse_sitemap",
    "read_sitemap",
    "unpack_files",
]


class SitemapBusy(AppError):
    code = "sitemap_busy"
    status_code = 503
    message = "Other sitemaps are being read; try again in a minute"


class SitemapSlots:
    """This process's sitemap downloads at once: at most ``limit`` in all
    (SITEMAP_FETCHES_AT_ONCE), at most ``share`` (half of them, at least one) per workspace,
    and as many per person across all their workspaces. A download past a share waits for one
    of that workspace's (or person's) own to end, outside the common queue: before, four slow
    sitemaps of one workspace held every slot and every other workspace's sitemap waited
    behind them until its request timed out (504); later, one account's two workspaces
    (FREE_WORKSPACES_PER_ACCOUNT) did the same with two each (503 ``sitemap_busy``)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.share = max(1, limit // 2)
        self._all = asyncio.Semaphore(limit)
        self._own: dict[tuple[str, uuid.UUID], asyncio.Semaphore] = {}
        self._users: dict[tuple[str, uuid.UUID], int] = {}
        self.running = 0
        """Downloads under way now."""

    def _shares(self, keys: list[tuple[str, uuid.UUID]]) -> list[asyncio.Semaphore]:
        for key in keys:
            self._users[key] = self._users.get(key, 0) + 1
        return [self._own.setdefault(key, asyncio.Semaphore(self.share)) for key in keys]

    def _forget(self, keys: list[tuple[str, uuid.UUID]]) -> None:
        for key in keys:
            self._users[key] -= 1
            if not self._users[key]:  # nobody holds or waits: forget the workspace or person
                del self._users[key], self._own[key]

    @asynccontextmanager
    async def slot(
        self,
        workspace_id: uuid.UUID,
        deadline: float | None = None,
        *,
        person: uuid.UUID | None = None,
    ) -> AsyncIterator[None]:
        """A download slot; ``SitemapBusy`` (503) when none comes free by ``deadline`` (the
        event loop's clock; None: waits as long as it takes). ``person``: who asks (None: an
        operator, counted by the workspace alone)."""
        keys = [("workspace", workspace_id)] + ([("person", person)] if person else [])
        shares = self._shares(keys)
        held: list[asyncio.Semaphore] = []
        try:
            try:
                async with asyncio.timeout_at(deadline):
                    # Always in this order (the workspace's, the person's, then the common
                    # one): no two requests can each hold what the other waits for.
                    for semaphore in [*shares, self._all]:
                        await semaphore.acquire()
                        held.append(semaphore)
            except TimeoutError as exc:
                raise SitemapBusy(
                    "Other sitemaps are being read on this server; nothing was added: try again"
                    " in a minute"
                ) from exc
            self.running += 1
            try:
                yield
            finally:
                self.running -= 1
        finally:
            for semaphore in reversed(held):
                semaphore.release()
            self._forget(keys)


_FETCH_SLOTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, SitemapSlots]] = (
    weakref.WeakKeyDictionary()
)


def sitemap_fetch_slots(settings: Settings) -> SitemapSlots:
    """This process's sitemap download slots (SITEMAP_FETCHES_AT_ONCE; one per event loop and
    limit)."""
    per_limit = _FETCH_SLOTS.setdefault(asyncio.get_running_loop(), {})
    limit = settings.sitemap_fetches_at_once
    if limit not in per_limit:
        per_limit[limit] = SitemapSlots(limit)
    return per_limit[limit]
