"""A small local fake of the Razorpay API, good enough for the real ``razorpay`` SDK.

Usage::

    with FakeRazorpay() as fake:
        client = razorpay.Client(auth=(fake.key_id, fake.key_secret), base_url=fake.base_url)
        order = client.order.create({"amount": 99_900, "currency": "INR", "receipt": "r1"})
        payment = fake.capture_payment(order["id"])          # the customer pays
        assert client.order.fetch(order["id"])["status"] == "paid"
        fake.down = True       # every request answers 503 {"error": {"code": "SERVER_ERROR", ...}}
        fake.down = "close"    # connections closed before any answer (requests ConnectionError)
        fake.latency = 0.5     # seconds added before each answer (for client timeouts)
        fake.throttle_from(3)  # the 3rd request from now on, and every one after, answers 429
        fake.throttle_from(None)  # ...until the rate limit is lifted
        fake.retry_after = "120"  # the 429s carry this ``Retry-After`` header (None: none)
        fake.gate = threading.Event()  # each request waits there until the test sets it;
        fake.arrived.wait(30)          # ...and ``arrived`` says one got there
        fake.requests          # every request received: method, path, headers, body, authenticated

Endpoints (the URLs the SDK calls, under ``/v1``): ``POST /orders``, ``GET /orders/{id}``, ``GET
/orders/{id}/payments``, ``GET /payments/{id}``, ``POST /payments/{id}/capture`` (an authorized
payment, for exactly its amount and currency; else Razorpay's 400), ``POST
/subscriptions/{id}/cancel`` (``cancel_at_cycle_end`` 0 or 1, on a subscription made with
``add_subscription``; one already ``cancelled``, ``completed`` or ``expired`` gets Razorpay's 400
"Subscription is not cancellable in cancelled status."). Requests need HTTP basic auth
with the key id and secret; anything else gets Razorpay's 401 ``{"error": {"code":
"BAD_REQUEST_ERROR", "description": "Authentication failed", ...}}``. Unknown ids and invalid bodies
get Razorpay's 400 error shape.

Helpers for webhook tests: ``sign_webhook``, ``checkout_signature``, ``webhook_payload`` (Razorpay's
event envelope) and the entity builders ``make_order``, ``make_payment``, ``make_refund``,
``make_subscription``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import secrets
import string
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from uvicorn.protocols.http.h11_impl import H11Protocol

from tests.fakes.server import ThreadedServer

__all__ = [
    "FakeRazorpay",
    "RecordedRequest",
    "checkout_signature",
    "make_order",
    "make_payment",
    "make_refund",
    "make_subscription",
    "razorpay_id",
    "sign_webhook",
    "webhook_payload",
]

DownMode = Literal["503", "close"]
_ID_ALPHABET = string.ascii_letters + string.digits
_ORDER_FIELDS = frozenset(
    {
        "amount",
        "currency",
        "receipt",
        "notes",
        "partial_payment",
        "first_payment_min_amount",
        "payment_capture",
    }
)


# --------------------------------------------------------------------------------------------------
# Signatures and webhook payloads


def sign_webhook(body: bytes, secret: str) -> str:
    """The ``X-Razorpay-Signature`` Razorpay would send for ``body``: hex HMAC-SHA256."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def checkout_signature(order_id: str, payment_id: str, key_secret: str) -> str:
    """The ``razorpay_signature`` Checkout returns: hex HMAC-SHA256 of ``order_id|payment_id``."""
    message = f"{order_id}|{payment_id}".encode()
    return hmac.new(key_secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def razorpay_id(prefix: str) -> str:
    """An id shaped like Razorpay's: ``prefix_`` and 14 alphanumerics (``order_Nx3...``)."""
    return f"{prefix}_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(14))


def _now() -> int:
    return int(time.time())


def make_order(
    *,
    amount: int,
    currency: str = "INR",
    receipt: str | None = None,
    notes: Mapping[str, str] | None = None,
    status: str = "created",
    amount_paid: int = 0,
    attempts: int = 0,
    order_id: str | None = None,
    created_at: int | None = None,
) -> dict[str, Any]:
    """An order entity as the Orders API returns it (empty notes are ``[]``, as Razorpay sends)."""
    return {
        "id": order_id or razorpay_id("order"),
        "entity": "order",
        "amount": amount,
        "amount_paid": amount_paid,
        "amount_due": amount - amount_paid,
        "currency": currency,
        "receipt": receipt,
        "offer_id": None,
        "status": status,
        "attempts": attempts,
        "notes": dict(notes) if notes else [],
        "created_at": created_at if created_at is not None else _now(),
    }


def make_payment(
    *,
    order_id: str | None,
    amount: int,
    currency: str = "INR",
    status: str = "captured",
    payment_id: str | None = None,
    method: str = "upi",
    notes: Mapping[str, str] | None = None,
    created_at: int | None = None,
) -> dict[str, Any]:
    """A payment entity; ``status="failed"`` fills Razorpay's error fields."""
    failed = status == "failed"
    return {
        "id": payment_id or razorpay_id("pay"),
        "entity": "payment",
        "amount": amount,
        "currency": currency,
        "status": status,
        "order_id": order_id,
        "invoice_id": None,
        "international": False,
        "method": method,
        "amount_refunded": 0,
        "refund_status": None,
        "captured": status in ("captured", "refunded"),
        "description": None,
        "card_id": None,
        "bank": None,
        "wallet": None,
        "vpa": "success@razorpay" if method == "upi" else None,
        "email": "customer@example.com",
        "contact": "+919000090000",
        "notes": dict(notes) if notes else [],
        "fee": None if failed else amount * 2 // 100,
        "tax": None if failed else amount * 2 // 100 * 18 // 118,
        "error_code": "BAD_REQUEST_ERROR" if failed else None,
        "error_description": "Payment failed" if failed else None,
        "error_source": "customer" if failed else None,
        "error_step": "payment_authorization" if failed else None,
        "error_reason": "payment_failed" if failed else None,
        "acquirer_data": {},
        "created_at": created_at if created_at is not None else _now(),
    }


def make_refund(
    *,
    payment_id: str,
    amount: int,
    currency: str = "INR",
    refund_id: str | None = None,
    created_at: int | None = None,
) -> dict[str, Any]:
    return {
        "id": refund_id or razorpay_id("rfnd"),
        "entity": "refund",
        "amount": amount,
        "currency": currency,
        "payment_id": payment_id,
        "notes": [],
        "receipt": None,
        "acquirer_data": {"arn": None},
        "created_at": created_at if created_at is not None else _now(),
        "batch_id": None,
        "status": "processed",
        "speed_processed": "normal",
        "speed_requested": "normal",
    }


def make_dispute(
    *,
    payment_id: str,
    amount: int,
    currency: str = "INR",
    status: str = "lost",
    dispute_id: str | None = None,
    created_at: int | None = None,
) -> dict[str, Any]:
    """A dispute (chargeback) entity, as Razorpay's ``payment.dispute.*`` webhooks carry it next
    to the payment; ``amount_deducted`` is what left the merchant's balance (0 until lost)."""
    return {
        "id": dispute_id or razorpay_id("disp"),
        "entity": "dispute",
        "payment_id": payment_id,
        "amount": amount,
        "currency": currency,
        "amount_deducted": amount if status == "lost" else 0,
        "reason_code": "chargeback",
        "reason_description": "The cardholder disputes the charge",
        "respond_by": (created_at if created_at is not None else _now()) + 7 * 86_400,
        "status": status,
        "phase": "chargeback",
        "created_at": created_at if created_at is not None else _now(),
    }


def make_subscription(
    *,
    plan_id: str,
    status: str = "active",
    subscription_id: str | None = None,
    current_start: int | None = None,
    current_end: int | None = None,
    paid_count: int = 1,
    notes: Mapping[str, str] | None = None,
    created_at: int | None = None,
) -> dict[str, Any]:
    now = _now()
    return {
        "id": subscription_id or razorpay_id("sub"),
        "entity": "subscription",
        "plan_id": plan_id,
        "customer_id": None,
        "status": status,
        "current_start": current_start,
        "current_end": current_end,
        "ended_at": None,
        "quantity": 1,
        "notes": dict(notes) if notes else [],
        "charge_at": current_end,
        "start_at": current_start,
        "end_at": None,
        "auth_attempts": 0,
        "total_count": 12,
        "paid_count": paid_count,
        "customer_notify": True,
        "created_at": created_at if created_at is not None else now,
        "expire_by": None,
        "short_url": None,
        "has_scheduled_changes": False,
        "change_scheduled_at": None,
        "source": "api",
        "offer_id": None,
        "remaining_count": 12 - paid_count,
    }


def webhook_payload(
    event: str,
    *,
    order: Mapping[str, Any] | None = None,
    payment: Mapping[str, Any] | None = None,
    subscription: Mapping[str, Any] | None = None,
    refund: Mapping[str, Any] | None = None,
    dispute: Mapping[str, Any] | None = None,
    account_id: str = "acc_FakeAccount0001",
    created_at: int | None = None,
) -> dict[str, Any]:
    """Razorpay's webhook envelope: ``{"entity": "event", "event", "contains", "payload", ...}``.

    Serialise it with ``json.dumps(...).encode()`` and sign those exact bytes with ``sign_webhook``.
    """
    entities = {
        "refund": refund,
        "dispute": dispute,
        "subscription": subscription,
        "payment": payment,
        "order": order,
    }
    present = {name: dict(entity) for name, entity in entities.items() if entity is not None}
    return {
        "entity": "event",
        "account_id": account_id,
        "event": event,
        "contains": list(present),
        "payload": {name: {"entity": entity} for name, entity in present.items()},
        "created_at": created_at if created_at is not None else _now(),
    }


# --------------------------------------------------------------------------------------------------
# The fake server


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    authenticated: bool
    at: float = field(default_factory=time.time)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def _error(
    status: int, code: str, description: str, *, field_name: str | None = None
) -> JSONResponse:
    error: dict[str, Any] = {
        "code": code,
        "description": description,
        "source": "NA",
        "step": "NA",
        "reason": "NA",
        "metadata": {},
    }
    if field_name is not None:
        error["field"] = field_name
        error["reason"] = "input_validation_failed"
        error["source"] = "business"
    return JSONResponse({"error": error}, status_code=status)


def _bad_request(description: str, field_name: str | None = None) -> JSONResponse:
    return _error(400, "BAD_REQUEST_ERROR", description, field_name=field_name)


# How long a request waits at a closed gate at most: a failing test that never opens it does not
# hang the server's thread for good.
_GATE_BOUND_SECONDS = 60.0


class FakeRazorpay:
    """A Razorpay API on 127.0.0.1 (free port), served by uvicorn in a background thread."""

    def __init__(
        self,
        key_id: str = "rzp_test_FakeKey00001",
        key_secret: str = "fake_key_secret_0001",  # noqa: S107 - a test fixture, not a credential
    ) -> None:
        self.key_id = key_id
        self.key_secret = key_secret
        self.down: bool | DownMode = False
        self.latency: float = 0.0
        # While an Event, every request (once recorded) waits until the test sets it, and
        # ``arrived`` is set when one got there: what happens meanwhile is seen without timing.
        self.gate: threading.Event | None = None
        self.arrived = threading.Event()
        # The id the next created order gets (once), for answers Razorpay would not give.
        self.next_order_id: str | None = None
        self.orders: dict[str, dict[str, Any]] = {}
        # Orders created with ``payment_capture`` true: their payments are captured as soon as
        # they are authorized (``pay``), whatever the account's capture setting.
        self.auto_capture: set[str] = set()
        # While True, ``POST /payments/{id}/capture`` is refused (Razorpay's 400).
        self.refuse_captures = False
        # Paths answered 429 (Razorpay's rate limit: "Too many requests") while listed here.
        self.throttled_paths: set[str] = set()
        # While not None: how many more requests are answered before every one answers 429
        # (``throttle_from``: Razorpay's rate limit reached in the middle of a run).
        self._answered_before_429: int | None = None
        # The ``Retry-After`` header of the 429s (None: Razorpay's own carry none documented).
        self.retry_after: str | None = None
        # Paths answered Razorpay's 400 refusal (``BAD_REQUEST_ERROR``) with this description.
        self.refused_paths: dict[str, str] = {}
        self.payments: dict[str, dict[str, Any]] = {}
        # Razorpay Subscriptions the fake knows (``add_subscription``), by id.
        self.subscriptions: dict[str, dict[str, Any]] = {}
        # A subscription's invoices (``add_invoice``): one per cycle charged, naming its payment.
        self.invoices: list[dict[str, Any]] = []
        self.dropped_connections = 0
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._port: int | None = None
        self.app = Starlette(
            routes=[
                Route("/v1/orders", self._create_order, methods=["POST"]),
                Route("/v1/orders/{order_id}", self._fetch_order, methods=["GET"]),
                Route("/v1/orders/{order_id}/payments", self._order_payments, methods=["GET"]),
                Route("/v1/payments/{payment_id}", self._fetch_payment, methods=["GET"]),
                Route("/v1/payments/{payment_id}/capture", self._capture_payment, methods=["POST"]),
                Route("/v1/invoices", self._invoices, methods=["GET"]),
                Route(
                    "/v1/subscriptions/{subscription_id}/cancel",
                    self._cancel_subscription,
                    methods=["POST"],
                ),
                Route(
                    "/{rest:path}",
                    self._not_found,
                    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                ),
            ]
        )
        self._http = ThreadedServer(
            self.app,
            name="fake-razorpay",
            http=self._protocol_class(),
            timeout_graceful_shutdown=2,
        )

    # lifecycle ------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError("FakeRazorpay is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def start(self) -> FakeRazorpay:
        if not self._http.running:
            self._http.start()
            self._port = self._http.port
        return self

    def stop(self) -> None:
        self._http.stop()

    def __enter__(self) -> FakeRazorpay:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _down_mode(self) -> DownMode | None:
        if self.down is True:
            return "503"
        return self.down or None

    def _protocol_class(self) -> type[H11Protocol]:
        fake = self

        class _DroppingH11Protocol(H11Protocol):
            """Closes the connection without an answer while ``fake.down == "close"``."""

            def data_received(self, data: bytes) -> None:
                if fake._down_mode() == "close":
                    with fake._lock:
                        fake.dropped_connections += 1
                    self.transport.close()
                    return
                super().data_received(data)

        return _DroppingH11Protocol

    # test helpers ---------------------------------------------------------------------------------

    def throttle_from(self, nth: int | None) -> None:
        """The ``nth`` request from now on (counting every path), and every one after it, answers
        Razorpay's 429 ("Too many requests"), until ``throttle_from(None)``."""
        if nth is not None and nth < 1:
            raise ValueError("nth counts from 1")
        with self._lock:
            self._answered_before_429 = None if nth is None else nth - 1

    def _rate_limited(self) -> bool:
        with self._lock:
            left = self._answered_before_429
            if left is None:
                return False
            if left > 0:
                self._answered_before_429 = left - 1
                return False
            return True

    def capture_payment(self, order_id: str, amount: int | None = None) -> dict[str, Any]:
        """The customer pays ``amount`` (default: what is due): a captured payment on the order.

        The order becomes ``paid`` once ``amount_paid`` reaches its amount (else ``attempted``).
        """
        with self._lock:
            order = self._order_or_raise(order_id)
            if order["status"] == "paid":
                raise ValueError(f"order {order_id} is already paid")
            amount = order["amount_due"] if amount is None else amount
            payment = make_payment(
                order_id=order_id,
                amount=amount,
                currency=order["currency"],
                notes=order["notes"] or None,
            )
            self.payments[payment["id"]] = payment
            order["attempts"] += 1
            order["amount_paid"] += amount
            order["amount_due"] = max(order["amount"] - order["amount_paid"], 0)
            order["status"] = "paid" if order["amount_paid"] >= order["amount"] else "attempted"
            return dict(payment)

    def add_subscription(self, **fields: Any) -> dict[str, Any]:
        """A Razorpay Subscription the fake knows (``make_subscription``'s arguments)."""
        subscription = make_subscription(**fields)
        with self._lock:
            self.subscriptions[subscription["id"]] = subscription
            return dict(subscription)

    def add_invoice(
        self,
        subscription_id: str,
        payment_id: str,
        *,
        billing_start: int,
        billing_end: int,
        created_at: int | None = None,
    ) -> dict[str, Any]:
        """The paid invoice of a subscription's cycle from ``billing_start``, charged by
        ``payment_id`` (Razorpay's invoice entity, the fields billing reads)."""
        invoice = {
            "id": razorpay_id("inv"),
            "entity": "invoice",
            "subscription_id": subscription_id,
            "payment_id": payment_id,
            "status": "paid",
            "billing_start": billing_start,
            "billing_end": billing_end,
            "created_at": billing_start if created_at is None else created_at,
        }
        with self._lock:
            self.invoices.append(invoice)
        return dict(invoice)

    def cancels(self, subscription_id: str) -> list[Any]:
        """The bodies of the cancel requests received for ``subscription_id`` (answered or not)."""
        path = f"/v1/subscriptions/{subscription_id}/cancel"
        return [r.json() for r in self.requests if r.method == "POST" and r.path == path]

    def pay(self, order_id: str) -> dict[str, Any]:
        """The customer pays what is due on an account set to manual capture: the payment is
        captured when its order asked for it (``payment_capture``), else it stays
        ``authorized`` (Razorpay refunds it days later unless the merchant captures it)."""
        if order_id in self.auto_capture:
            return self.capture_payment(order_id)
        return self.authorize_payment(order_id)

    def authorize_payment(self, order_id: str) -> dict[str, Any]:
        """The customer pays what is due, and the payment stays ``authorized`` (an authorization
        late past the auto-capture window, or an order that asked for no capture on an account
        set to manual capture): no money taken yet, the order ``attempted``. ``capture`` (or
        ``POST /v1/payments/{id}/capture``) takes it."""
        return self._attempt(order_id, "authorized")

    def capture(self, payment_id: str) -> dict[str, Any]:
        """Capture an authorized payment (what the merchant does on manual capture)."""
        with self._lock:
            payment = self.payments[payment_id]
            order = self._order_or_raise(str(payment["order_id"]))
            payment.update(status="captured", captured=True)
            order["amount_paid"] += payment["amount"]
            order["amount_due"] = max(order["amount"] - order["amount_paid"], 0)
            order["status"] = "paid" if order["amount_paid"] >= order["amount"] else "attempted"
            return dict(payment)

    def fail_payment(self, order_id: str) -> dict[str, Any]:
        """A failed payment attempt on the order (the order becomes ``attempted``)."""
        return self._attempt(order_id, "failed")

    def _attempt(self, order_id: str, status: str) -> dict[str, Any]:
        """A payment on the order that took no money (yet): the order becomes ``attempted``."""
        with self._lock:
            order = self._order_or_raise(order_id)
            payment = make_payment(
                order_id=order_id,
                amount=order["amount_due"] or order["amount"],
                currency=order["currency"],
                status=status,
                notes=order["notes"] or None,
            )
            self.payments[payment["id"]] = payment
            order["attempts"] += 1
            if order["status"] == "created":
                order["status"] = "attempted"
            return dict(payment)

    def _order_or_raise(self, order_id: str) -> dict[str, Any]:
        try:
            return self.orders[order_id]
        except KeyError:
            raise KeyError(f"no order {order_id!r} on the fake") from None

    # HTTP -----------------------------------------------------------------------------------------

    def _authenticated(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic" or not encoded:
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        key_id, sep, key_secret = decoded.partition(":")
        expected = f"{self.key_id}:{self.key_secret}".encode()
        return bool(sep) and hmac.compare_digest(f"{key_id}:{key_secret}".encode(), expected)

    async def _guard(self, request: Request) -> Response | None:
        """Record the request, apply latency and ``down``, check auth; a response ends the call."""
        body = await request.body()
        authenticated = self._authenticated(request)
        with self._lock:
            self._requests.append(
                RecordedRequest(
                    method=request.method,
                    path=request.url.path,
                    query=dict(request.query_params),
                    headers=dict(request.headers),
                    body=body,
                    authenticated=authenticated,
                )
            )
        gate = self.gate
        if gate is not None:
            self.arrived.set()
            await asyncio.to_thread(gate.wait, _GATE_BOUND_SECONDS)
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        if self._down_mode() is not None:
            return _error(503, "SERVER_ERROR", "The server is temporarily unavailable")
        if not authenticated:
            return _error(401, "BAD_REQUEST_ERROR", "Authentication failed")
        if request.url.path in self.throttled_paths or self._rate_limited():
            limited = _error(429, "BAD_REQUEST_ERROR", "Too many requests")
            if self.retry_after is not None:
                limited.headers["Retry-After"] = self.retry_after
            return limited
        if (refusal := self.refused_paths.get(request.url.path)) is not None:
            return _bad_request(refusal)
        return None

    async def _create_order(self, request: Request) -> Response:
        if (stop := await self._guard(request)) is not None:
            return stop
        try:
            data = json.loads(await request.body() or b"{}")
        except ValueError:
            return _bad_request("The request body is not valid JSON")
        if not isinstance(data, dict):
            return _bad_request("The request body must be a JSON object")
        extra = sorted(set(data) - _ORDER_FIELDS)
        if extra:
            return _bad_request(f"{', '.join(extra)} is/are not required and should not be sent")
        amount = data.get("amount")
        if not isinstance(amount, int) or isinstance(amount, bool):
            return _bad_request("The amount field is required.", "amount")
        if amount < 100:
            return _bad_request("Order amount less than minimum amount allowed", "amount")
        currency = data.get("currency")
        if not isinstance(currency, str) or len(currency) != 3 or not currency.isupper():
            return _bad_request("The currency field is required.", "currency")
        receipt = data.get("receipt")
        if receipt is not None and (not isinstance(receipt, str) or len(receipt) > 40):
            return _bad_request("The receipt may not be greater than 40 characters.", "receipt")
        notes = data.get("notes") or {}
        if not isinstance(notes, dict) or len(notes) > 15:
            return _bad_request("The notes must be an object of at most 15 items.", "notes")
        if any(not isinstance(v, str | int | float) or len(str(v)) > 256 for v in notes.values()):
            return _bad_request("A note value may not be greater than 256 characters.", "notes")
        order_id, self.next_order_id = self.next_order_id, None
        order = make_order(
            amount=amount, currency=currency, receipt=receipt, notes=notes, order_id=order_id
        )
        with self._lock:
            self.orders[order["id"]] = order
            if data.get("payment_capture") in (1, True, "1", "true"):
                self.auto_capture.add(order["id"])
            return JSONResponse(dict(order))

    async def _fetch_order(self, request: Request) -> Response:
        if (stop := await self._guard(request)) is not None:
            return stop
        with self._lock:
            order = self.orders.get(request.path_params["order_id"])
            if order is None:
                return _bad_request("The id provided does not exist")
            return JSONResponse(dict(order))

    async def _order_payments(self, request: Request) -> Response:
        if (stop := await self._guard(request)) is not None:
            return stop
        order_id = request.path_params["order_id"]
        with self._lock:
            if order_id not in self.orders:
                return _bad_request("The id provided does not exist")
            items = [dict(p) for p in self.payments.values() if p["order_id"] == order_id]
        items.sort(key=lambda p: p["created_at"], reverse=True)
        return JSONResponse({"entity": "collection", "count": len(items), "items": items})

    async def _fetch_payment(self, request: Request) -> Response:
        if (stop := await self._guard(request)) is not None:
            return stop
        with self._lock:
            payment = self.payments.get(request.path_params["payment_id"])
            if payment is None:
                return _bad_request("The id provided does not exist")
            return JSONResponse(dict(payment))

    async def _capture_payment(self, request: Request) -> Response:
        if (stop := await self._guard(request)) is not None:
            return stop
        try:
            data = json.loads(await request.body() or b"{}")
        except ValueError:
            return _bad_request("The request body is not valid JSON")
        payment_id = request.path_params["payment_id"]
        with self._lock:
            payment = self.payments.get(payment_id)
        if payment is None:
            return _bad_request("The id provided does not exist")
        if self.refuse_captures:
            return _bad_request("The payment could not be captured")
        if payment["status"] != "authorized":
            return _bad_request(f"This payment has already been {payment['status']}")
        if not isinstance(data, dict) or data.get("amount") != payment["amount"]:
            return _bad_request("Capture amount must be equal to the amount authorized", "amount")
        if data.get("currency", "INR") != payment["currency"]:
            return _bad_request("The currency should be the payment's currency", "currency")
        return JSONResponse(self.capture(payment_id))

    async def _invoices(self, request: Request) -> Response:
        """``GET /v1/invoices?subscription_id=``: that subscription's invoices, newest first."""
        if (stop := await self._guard(request)) is not None:
            return stop
        sub_id = request.query_params.get("subscription_id")
        try:
            count = int(request.query_params.get("count", "10"))
            skip = int(request.query_params.get("skip", "0"))
        except ValueError:
            return _bad_request("count and skip must be integers", "count")
        if not 1 <= count <= 100 or skip < 0:
            return _bad_request("The count may not be greater than 100.", "count")
        with self._lock:
            items = [dict(i) for i in self.invoices if sub_id in (None, i["subscription_id"])]
        items.sort(key=lambda i: i["created_at"], reverse=True)
        page = items[skip : skip + count]  # Razorpay's pages: ``count`` (10, at most 100), ``skip``
        return JSONResponse({"entity": "collection", "count": len(page), "items": page})

    async def _cancel_subscription(self, request: Request) -> Response:
        """Immediately (``cancelled``, ``ended_at`` set) or at the cycle's end (still ``active``,
        ``cancel_at_cycle_end`` noted), as Razorpay answers."""
        if (stop := await self._guard(request)) is not None:
            return stop
        try:
            data = json.loads(await request.body() or b"{}")
        except ValueError:
            return _bad_request("The request body is not valid JSON")
        if not isinstance(data, dict) or set(data) - {"cancel_at_cycle_end"}:
            return _bad_request("Only cancel_at_cycle_end may be sent")
        at_cycle_end = data.get("cancel_at_cycle_end", 0)
        if at_cycle_end not in (0, 1, True, False):
            return _bad_request("The cancel at cycle end must be 0 or 1.", "cancel_at_cycle_end")
        with self._lock:
            subscription = self.subscriptions.get(request.path_params["subscription_id"])
            if subscription is None:
                return _bad_request("The id provided does not exist")
            status = subscription["status"]
            if status in ("cancelled", "completed", "expired"):
                return _bad_request(
                    f"Subscription is not cancellable in {status} status.", "status"
                )
            if at_cycle_end:
                subscription["cancel_at_cycle_end"] = True
            else:
                subscription.update(status="cancelled", ended_at=_now())
            return JSONResponse(dict(subscription))

    async def _not_found(self, request: Request) -> Response:
        if (stop := await self._guard(request)) is not None:
            return stop
        return _bad_request("The requested URL was not found on the server.")
