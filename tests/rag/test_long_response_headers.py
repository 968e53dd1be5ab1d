"""A web page whose server sends validators or a Content-Type longer than the columns that
keep them (``etag`` 300, ``last_modified`` 100, ``content_type`` 200 characters) is ingested and
synced like any other: the page failed with "Internal error: DBAPIError" (code
``internal_error``), which told its owner nothing, and every sync of it failed again."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest
from redis.asyncio import Redis

from core.db import Database
from tests.fakes.http_handler import serving
from tests.rag.test_sources import article, world

LONG_ETAG = '"' + "e" * 400 + '"'
LONG_DATE = "Mon, 01 Jan 2024 00:00:00 GMT; " + "x" * 150
LONG_TYPE = "text/html; charset=utf-8; profile=" + "p" * 300


@pytest.fixture
def site() -> Iterator[str]:
    body = article("headers", ["tea costs two euros", "coffee costs three euros"])

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", LONG_TYPE)
            self.send_header("ETag", LONG_ETAG)
            self.send_header("Last-Modified", LONG_DATE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    with serving(Handler) as base:
        yield base


async def test_a_page_with_long_validators_and_type_is_ingested_and_synced(
    db: Database, owner_db: Database, redis_client: Redis, site: str
) -> None:
    async with world(db, owner_db, redis_client) as w:
        source = await w.add_url(site + "/guide")
        doc = (await w.documents())[site + "/guide"]
        assert (doc["status"], doc["error_code"]) == ("ready", None), doc
        assert doc["content_type"] == "text/html; charset=utf-8"
        record = await w.sync_now(source["id"])
        assert record["status"] == "ok", record
        doc = (await w.documents())[site + "/guide"]
        assert (doc["status"], doc["error_code"]) == ("ready", None), doc
