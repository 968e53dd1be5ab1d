"""Two people accepting one invitation with a new account at once (the link forwarded, a
double submit from two tabs): the password is hashed between transactions now, so both pass
the first check; one account is created and joins, the other request is refused with a 4xx
and creates nothing."""

from __future__ import annotations

import asyncio

import httpx

from api.deps import account_deps
from core.db import Database
from tests.conftest import client_for, runtime_of, someone_waits_for_a_lock
from tests.dashboard.conftest import PASSWORD, invitation
from workspaces import invitations, security


async def test_one_invitation_accepted_twice_at_once_makes_one_account(
    client: httpx.AsyncClient, owner_db: Database
) -> None:
    _owner, invited, token = await invitation(client)
    runtime = runtime_of(client)
    async with runtime.db.transaction() as session:  # the first accept, not yet committed
        await invitations.accept(
            session,
            account_deps(runtime),
            token=token,
            principal=None,
            password_hash=await security.hash_password(PASSWORD),
            start_session=False,
        )
        async with client_for(runtime) as other_tab:
            racing = asyncio.create_task(
                other_tab.post(
                    "/api/v1/invitations/accept",
                    json={"token": token, "password": "another horse battery"},
                )
            )
            for _ in range(400):
                if racing.done() or await someone_waits_for_a_lock(owner_db):
                    break
                await asyncio.sleep(0.025)
            # commit the first while the second waits
            await session.commit()
            second = await racing
    assert 400 <= second.status_code < 500, second.text
    assert second.json()["error"]["code"] in ("link_used", "login_required")
    signed_in = await client.post(
        "/api/v1/auth/login", json={"email": invited, "password": PASSWORD}
    )
    assert signed_in.status_code == 200, signed_in.text
