"""The fake Razorpay API answers the real SDK the way Razorpay does."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
import razorpay
import requests
from razorpay.errors import BadRequestError, ServerError

from billing.signatures import verify_checkout_signature, verify_webhook_signature
from tests.fakes.razorpay_server import (
    FakeRazorpay,
    checkout_signature,
    sign_webhook,
    webhook_payload,
)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeRazorpay]:
    with FakeRazorpay() as server:
        yield server


@pytest.fixture(autouse=True)
def _reset(fake: FakeRazorpay) -> None:
    fake.down = False
    fake.latency = 0.0


@pytest.fixture
def client(fake: FakeRazorpay) -> razorpay.Client:
    return razorpay.Client(auth=(fake.key_id, fake.key_secret), base_url=fake.base_url)


def create_order(client: razorpay.Client, amount: int = 99_900) -> dict[str, object]:
    order: dict[str, object] = client.order.create(
        {"amount": amount, "currency": "INR", "receipt": "ws_42:starter", "notes": {"ws": "42"}}
    )
    return order


def test_sdk_creates_and_fetches_an_order(fake: FakeRazorpay, client: razorpay.Client) -> None:
    order = create_order(client)
    assert str(order["id"]).startswith("order_")
    assert order["entity"] == "order"
    assert order["status"] == "created"
    assert (order["amount"], order["amount_paid"], order["amount_due"]) == (99_900, 0, 99_900)
    assert order["currency"] == "INR"
    assert order["receipt"] == "ws_42:starter"
    assert order["notes"] == {"ws": "42"}
    assert order["attempts"] == 0
    assert isinstance(order["created_at"], int)

    assert client.order.fetch(order["id"]) == order

    sent = [r for r in fake.requests if r.method == "POST" and r.path == "/v1/orders"][-1]
    assert sent.authenticated
    assert sent.json() == {
        "amount": 99_900,
        "currency": "INR",
        "receipt": "ws_42:starter",
        "notes": {"ws": "42"},
    }
    token = base64.b64encode(f"{fake.key_id}:{fake.key_secret}".encode()).decode()
    assert sent.headers["authorization"] == f"Basic {token}"


def test_paid_order_and_its_payments(fake: FakeRazorpay, client: razorpay.Client) -> None:
    order = create_order(client)
    assert client.order.payments(order["id"]) == {"entity": "collection", "count": 0, "items": []}

    failed = fake.fail_payment(str(order["id"]))
    assert client.order.fetch(order["id"])["status"] == "attempted"
    captured = fake.capture_payment(str(order["id"]))

    fetched = client.order.fetch(order["id"])
    assert fetched["status"] == "paid"
    assert (fetched["amount_paid"], fetched["amount_due"], fetched["attempts"]) == (99_900, 0, 2)

    payments = client.order.payments(order["id"])
    assert payments["count"] == 2
    assert {p["id"]: p["status"] for p in payments["items"]} == {
        failed["id"]: "failed",
        captured["id"]: "captured",
    }
    payment = client.payment.fetch(captured["id"])
    assert payment["id"].startswith("pay_")
    assert (payment["status"], payment["captured"], payment["order_id"]) == (
        "captured",
        True,
        order["id"],
    )
    assert (payment["amount"], payment["currency"]) == (99_900, "INR")
    assert client.payment.fetch(failed["id"])["error_code"] == "BAD_REQUEST_ERROR"

    with pytest.raises(ValueError, match="already paid"):
        fake.capture_payment(str(order["id"]))


def test_partial_capture_leaves_the_order_attempted(
    fake: FakeRazorpay, client: razorpay.Client
) -> None:
    order = create_order(client)
    fake.capture_payment(str(order["id"]), amount=100)
    fetched = client.order.fetch(order["id"])
    assert (fetched["status"], fetched["amount_paid"], fetched["amount_due"]) == (
        "attempted",
        100,
        99_800,
    )


def test_wrong_secret_is_an_authentication_error(fake: FakeRazorpay) -> None:
    wrong = razorpay.Client(auth=(fake.key_id, "not-the-secret"), base_url=fake.base_url)
    with pytest.raises(BadRequestError, match="Authentication failed"):
        wrong.order.create({"amount": 99_900, "currency": "INR"})
    assert not fake.requests[-1].authenticated

    raw = requests.get(f"{fake.base_url}/v1/orders/order_x", timeout=5)
    assert raw.status_code == 401
    assert raw.json()["error"]["code"] == "BAD_REQUEST_ERROR"
    assert raw.json()["error"]["description"] == "Authentication failed"


def test_unknown_ids_and_invalid_orders_are_bad_requests(client: razorpay.Client) -> None:
    with pytest.raises(BadRequestError, match="does not exist"):
        client.order.fetch("order_DoesNotExist01")
    with pytest.raises(BadRequestError, match="does not exist"):
        client.payment.fetch("pay_DoesNotExist001")
    with pytest.raises(BadRequestError):
        client.order.create({"amount": 99, "currency": "INR"})  # below Rs 1
    with pytest.raises(BadRequestError):
        client.order.create({"amount": "99900", "currency": "INR"})
    with pytest.raises(BadRequestError):
        client.order.create({"amount": 99_900})
    with pytest.raises(BadRequestError, match="should not be sent"):
        client.order.create({"amount": 99_900, "currency": "INR", "plan": "pro"})


def test_down_503_is_a_server_error(fake: FakeRazorpay, client: razorpay.Client) -> None:
    order = create_order(client)
    fake.down = True
    with pytest.raises(ServerError):
        client.order.fetch(order["id"])
    fake.down = "503"
    with pytest.raises(ServerError):
        create_order(client)
    fake.down = False
    assert client.order.fetch(order["id"])["id"] == order["id"]


def test_down_close_is_a_connection_error(fake: FakeRazorpay, client: razorpay.Client) -> None:
    fake.down = "close"
    before = fake.dropped_connections
    with pytest.raises(requests.ConnectionError):
        create_order(client)
    assert fake.dropped_connections > before
    fake.down = False
    assert client.order.fetch(create_order(client)["id"])["status"] == "created"


def test_latency_triggers_client_timeouts(fake: FakeRazorpay, client: razorpay.Client) -> None:
    fake.latency = 1.0
    with pytest.raises(requests.Timeout):
        client.order.create({"amount": 99_900, "currency": "INR"}, timeout=0.2)


def test_stopped_fake_refuses_connections() -> None:
    fake = FakeRazorpay().start()
    client = razorpay.Client(auth=(fake.key_id, fake.key_secret), base_url=fake.base_url)
    create_order(client)
    fake.stop()
    with pytest.raises(requests.ConnectionError):
        create_order(client)


def test_webhook_helpers_produce_what_the_verifiers_accept(
    fake: FakeRazorpay, client: razorpay.Client
) -> None:
    order = create_order(client)
    payment = fake.capture_payment(str(order["id"]))
    payload = webhook_payload(
        "order.paid", order=fake.orders[str(order["id"])], payment=payment, created_at=1_700_000_000
    )
    assert payload["entity"] == "event"
    assert payload["event"] == "order.paid"
    assert payload["contains"] == ["payment", "order"]
    assert payload["payload"]["order"]["entity"]["status"] == "paid"
    assert payload["payload"]["payment"]["entity"]["order_id"] == order["id"]
    assert payload["created_at"] == 1_700_000_000

    body = json.dumps(payload).encode()
    verify_webhook_signature(body, sign_webhook(body, "whsec"), ["whsec"])
    signature = checkout_signature(str(order["id"]), payment["id"], fake.key_secret)
    verify_checkout_signature(str(order["id"]), payment["id"], signature, fake.key_secret)
