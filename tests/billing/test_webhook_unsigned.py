"""A webhook whose signature does not verify costs the server no database connection: the raw
body is read and its HMAC checked first, and only a verified event opens the transaction that
stores and applies it. Before, the route's session took a pooled connection and began a
transaction before the body was even read, so a flood of unsigned posts (anyone can send them:
the route has no other check) held the pool that every owner's request and every genuine event
needs, one connection per slow body. Counted with the pool's own checkout event, on the real
app and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import event

from api.runtime import Runtime
from tests.billing.conftest import WEBHOOK_URL, post_webhook, signed, wrong_signature
from tests.fakes.razorpay_server import make_payment, webhook_payload


@contextmanager
def pool_checkouts(runtime: Runtime) -> Iterator[list[Any]]:
    """The connections the app's pool hands out while the block runs."""
    taken: list[Any] = []

    def checkout(*args: Any) -> None:
        taken.append(args[0])

    engine = runtime.db.engine.sync_engine
    event.listen(engine, "checkout", checkout)
    try:
        yield taken
    finally:
        event.remove(engine, "checkout", checkout)


async def test_an_unsigned_webhook_takes_no_database_connection(
    bclient: httpx.AsyncClient, billing_runtime: Runtime
) -> None:
    payload = webhook_payload("payment.captured", payment=make_payment(order_id=None, amount=100))
    body, good = signed(payload)
    large = json.dumps({**payload, "padding": "x" * 900_000}).encode()
    refused = [
        (body, {}),
        (body, {"X-Razorpay-Signature": ""}),
        (body, {"X-Razorpay-Signature": "not hex"}),
        (body, {"X-Razorpay-Signature": wrong_signature(good)}),
        (large, {"X-Razorpay-Signature": good}),
    ]
    with pool_checkouts(billing_runtime) as taken:
        for content, headers in refused:
            response = await bclient.post(
                WEBHOOK_URL,
                content=content,
                headers={"Content-Type": "application/json", **headers},
            )
            assert response.status_code == 400, response.text
            assert response.json()["error"]["code"] == "invalid_signature"
    assert taken == []
    # A signed one does use the database (the count above could see it).
    with pool_checkouts(billing_runtime) as taken:
        response = await post_webhook(bclient, payload)
        assert response.status_code == 200, response.text
    assert taken
