"""Which body limit a request gets: documents take uploads (MAX_UPLOAD_BYTES), the rest JSON
(MAX_BODY_BYTES)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from core.config import Settings
from tests.conftest import Owner, make_settings

MIB = 1_048_576


@pytest.fixture
def settings() -> Settings:
    """Uploads up to 4 MiB, JSON bodies at the default 1 MiB; a plan with room for big files."""
    return make_settings(max_upload_bytes=4 * MIB, max_body_bytes=MIB, default_plan="unlimited")


def _text(size: int, marker: str) -> bytes:
    line = f"{marker} shipping and returns policy, paragraph of the replacement handbook.\n"
    return (line * (size // len(line) + 1)).encode()[:size]


async def test_a_multipart_replacement_gets_the_upload_limit_not_the_json_one(
    client: httpx.AsyncClient, owner: Owner, jobs: Any
) -> None:
    created = await client.post(
        owner.url("/documents"),
        files={"file": ("handbook.txt", _text(2_000, "original"), "text/plain")},
        headers=owner.headers,
    )
    assert created.status_code == 202, created.text
    await jobs.drain()
    document_id = created.json()["id"]

    big = _text(2 * MIB, "replacement")  # over MAX_BODY_BYTES, under MAX_UPLOAD_BYTES
    replaced = await client.put(
        owner.url(f"/documents/{document_id}"),
        files={"file": ("handbook.txt", big, "text/plain")},
        headers=owner.headers,
    )
    assert replaced.status_code == 202, replaced.text
    assert replaced.json()["revision"] == created.json()["revision"] + 1

    too_big = await client.put(
        owner.url(f"/documents/{document_id}"),
        files={"file": ("handbook.txt", _text(5 * MIB, "oversized"), "text/plain")},
        headers=owner.headers,
    )
    assert too_big.status_code == 413
    assert too_big.json()["error"]["code"] == "payload_too_large"
    await jobs.drain()


async def test_other_routes_under_documents_keep_the_json_limit(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    retry = await client.post(
        owner.url("/documents/00000000-0000-4000-8000-000000000000/retry"),
        content=b"x" * (2 * MIB),
        headers=owner.headers | {"Content-Type": "application/json"},
    )
    assert retry.status_code == 413
    assert retry.json()["error"]["code"] == "payload_too_large"
