"""The workspace's ingestion budget (RATE_LIMIT_INGEST) is spent only by callers allowed to add
knowledge. It was counted before the permission check: a member, refused 403 on every document
route, still spent it, and could keep the owners from uploading for the limit's window. A
request from an allowed caller that is refused for its input spends it (docs/deploy.md,
"Environment variables", RATE_LIMIT_INGEST). The dashboard's forms:
tests/dashboard/test_ingest_limit_forms.py."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import Owner, join, signup
from tests.hardening.conftest import ClientFactory


def _text(tag: str) -> dict[str, str]:
    return {"title": f"Hours {tag}", "text": f"We open at nine ({tag})."}


async def test_a_members_refused_ingestion_leaves_the_owners_budget_whole(
    app_client: ClientFactory, client: httpx.AsyncClient, owner: Owner
) -> None:
    member = await signup(client, "Member Co")
    await join(client, owner, member, "member")
    unknown = uuid.uuid4()  # refused for the role before anything is looked up
    async with app_client(rate_limits="on", rate_limit_ingest="2/minute") as limited:
        tries = 3  # each route, more times than the budget holds
        for n in range(tries):
            tag = uuid.uuid4().hex[:8]
            refused = [
                await limited.post(
                    owner.url("/documents"), json=_text(tag), headers=member.headers
                ),
                await limited.post(
                    owner.url("/documents"),
                    files={"file": (f"{tag}.txt", b"Opening hours.\n", "text/plain")},
                    headers=member.headers,
                ),
                await limited.put(
                    owner.url(f"/documents/{unknown}"), json={"text": "x"}, headers=member.headers
                ),
                await limited.post(
                    owner.url(f"/documents/{unknown}/retry"), headers=member.headers
                ),
                await limited.post(owner.url(f"/sources/{unknown}/sync"), headers=member.headers),
            ]
            for answer in refused:
                assert answer.status_code == 403, (n, answer.request.url, answer.text)
                assert answer.json()["error"]["code"] == "insufficient_role"

        # A request an owner may send, refused for its body, spends the budget: one left.
        bad = await limited.post(
            owner.url("/documents"), json={"title": "x"}, headers=owner.headers
        )
        assert bad.status_code == 422, bad.text
        added = await limited.post(
            owner.url("/documents"), json=_text(uuid.uuid4().hex[:8]), headers=owner.headers
        )
        assert added.status_code == 202, added.text
        assert added.headers["ratelimit-remaining"] == "0"
        over = await limited.post(
            owner.url("/documents"), json=_text(uuid.uuid4().hex[:8]), headers=owner.headers
        )
        assert over.status_code == 429, over.text
        assert over.json()["error"]["code"] == "rate_limited"
