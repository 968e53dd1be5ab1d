"""The payment provider behind a small Protocol; one real implementation on the ``razorpay`` SDK.

The SDK is synchronous (``requests``): every call runs in a worker thread with a timeout, both on
the HTTP request itself and around the thread, so a slow provider never blocks the event loop.
Connection errors, 5xx answers, timeouts, unreadable answers and Razorpay's rate limit (429)
become ``PaymentProviderUnavailable`` (503); its 401 (this server's API keys refused) is
``PaymentProviderKeysRefused`` (503, logged at ERROR for the operator); any other 4xx from
Razorpay is a ``PaymentProviderError`` (502).
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import partial
from typing import Any, Final, Protocol, TypeVar

import razorpay
import requests
from razorpay.errors import BadRequestError, GatewayError, ServerError

from billing.signatures import BillingDisabled, PaymentProviderUnavailable
from core.config import Settings
from core.errors import AppError

log = logging.getLogger("trulybot.billing")

T = TypeVar("T")


class PaymentProviderError(AppError):
    code = "payment_provider_error"
    status_code = 502
    message = "The payment provider refused the request"


class PaymentProviderKeysRefused(PaymentProviderUnavailable):
    """Razorpay answered 401: this server's ``RAZORPAY_KEY_ID``/``RAZORPAY_KEY_SECRET`` are not
    an account's (wrong, revoked, test keys against live). Nothing the owner can fix, nor a
    refusal of what was asked: whatever asked is retried, and succeeds once the operator set
    the right keys. A ``PaymentProviderUnavailable``, so every caller that retries those
    retries this too."""

    code = "payment_provider_keys_refused"
    message = (
        "Payments are unavailable: the payment provider refused this server's API keys;"
        " the operator has been told"
    )


KEYS_REFUSED: Final = 401
RATE_LIMITED: Final = 429
# Razorpay's rate limit lifts within a minute: when to try again.
RATE_LIMIT_RETRY_SECONDS: Final = 60


# A ``Retry-After`` Razorpay sends with its 429 is followed up to this (a day's header would
# hold the cancels, and tell the owners to come back, for a day).
RETRY_AFTER_MOST_SECONDS: Final = 3600


class PaymentProviderRateLimited(PaymentProviderUnavailable):
    """Razorpay answered 429: the account's rate limit, shared with the live checkouts, is
    reached. ``retry_after``: the seconds its ``Retry-After`` said (bounded), None without one.
    Its code, details (``reason`` ``rate_limited``) and ``Retry-After`` as before."""

    retry_after: float | None = None


class _Status(Exception):
    """Razorpay's answer of ``status`` (401 or 429), raised from the session's response hook
    before the ``razorpay`` client reads it: the client raises ``BadRequestError`` for both,
    as for a 400 refusal (Razorpay's code is ``BAD_REQUEST_ERROR`` in all three), and keeps
    only the description (and none of the headers: ``retry_after``, from a 429's)."""

    def __init__(self, status: int, retry_after: float | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.retry_after = retry_after


def _raise_for_keys_or_limit(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    if response.status_code in (KEYS_REFUSED, RATE_LIMITED):
        _ = response.content  # read: the connection goes back to the pool
        raise _Status(
            response.status_code, retry_after_seconds(response.headers.get("Retry-After"))
        )


# RFC 9110's delay-seconds: ASCII digits. ``str.isdigit`` also took "\u00b2" (superscript two),
# which ``float`` refuses: a ValueError from the hook, the 429 read as an unreadable answer.
_DELAY_SECONDS: Final = re.compile(r"[0-9]+")


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """A ``Retry-After`` header's wait in seconds (delay-seconds or an HTTP date, RFC 9110),
    at most ``RETRY_AFTER_MOST_SECONDS``; None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if _DELAY_SECONDS.fullmatch(text):
        seconds = float(text)
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            # OverflowError: a year past C's long ("Wed, 21 Oct 99999999999999999999 ..."),
            # which escaped the response hook as a 500 (and ended the cancel sweep's job).
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), float(RETRY_AFTER_MOST_SECONDS))


REFUSED_CODE: Final = "BAD_REQUEST_ERROR"
"""Razorpay's error code of a refusal (the ``razorpay`` client's ``BadRequestError``)."""


def refusal(exc: PaymentProviderError) -> str:
    """What Razorpay answered, as an operator reads it: "refused by Razorpay (CODE:
    description)"."""
    details = exc.details if isinstance(exc.details, dict) else {}
    code = details.get("razorpay_code") or REFUSED_CODE
    description = details.get("razorpay_description") or exc.message
    return f"refused by Razorpay ({code}: {description})"


class PaymentProvider(Protocol):
    key_id: str

    async def create_order(
        self, *, amount: int, currency: str, receipt: str, notes: Mapping[str, str]
    ) -> dict[str, Any]: ...

    async def fetch_order_payments(self, razorpay_order_id: str) -> list[dict[str, Any]]: ...

    async def fetch_payment(self, razorpay_payment_id: str) -> dict[str, Any]: ...

    async def capture_payment(
        self, razorpay_payment_id: str, *, amount: int, currency: str
    ) -> dict[str, Any]: ...

    async def cancel_subscription(
        self, razorpay_subscription_id: str, *, at_cycle_end: bool
    ) -> dict[str, Any]: ...

    async def fetch_subscription_invoices(
        self, razorpay_subscription_id: str
    ) -> list[dict[str, Any]]: ...


# Razorpay's 400 for a subscription that has ended already: "Subscription is not cancellable in
# cancelled status." (or completed, expired): nothing left to cancel.
_ENDED = re.compile(r"not cancellable in (cancelled|completed|expired) status", re.IGNORECASE)


# ``GET /v1/invoices`` answers at most 100 a page; a subscription is read to 50 pages (5,000
# invoices: over 400 years of a monthly plan).
INVOICE_PAGE: Final = 100
INVOICE_PAGES: Final = 50


class RazorpayProvider:
    """``razorpay.Client`` off the event loop, with a timeout."""

    def __init__(
        self, *, key_id: str, key_secret: str, base_url: str | None, timeout_seconds: float
    ) -> None:
        self.key_id = key_id
        self.timeout = timeout_seconds
        options: dict[str, Any] = {"base_url": base_url} if base_url else {}  # else SDK default
        self._client = razorpay.Client(auth=(key_id, key_secret), **options)
        self._client.session.hooks["response"].append(_raise_for_keys_or_limit)

    @classmethod
    def from_settings(cls, settings: Settings) -> RazorpayProvider:
        if not settings.billing_enabled:
            raise BillingDisabled(
                "Billing is not configured on this server: set RAZORPAY_KEY_ID and "
                "RAZORPAY_KEY_SECRET"
            )
        assert settings.razorpay_key_id is not None
        assert settings.razorpay_key_secret is not None
        return cls(
            key_id=settings.razorpay_key_id,
            key_secret=settings.razorpay_key_secret,
            base_url=settings.razorpay_base_url,
            timeout_seconds=settings.razorpay_timeout_seconds,
        )

    async def _call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            # The thread cannot be cancelled; the request's own timeout ends it soon after.
            return await asyncio.wait_for(asyncio.to_thread(fn), timeout=self.timeout + 1.0)
        except (TimeoutError, requests.RequestException, ServerError, GatewayError) as exc:
            log.warning("razorpay %s failed: %s", what, type(exc).__name__)
            raise PaymentProviderUnavailable(details={"operation": what}) from exc
        except _Status as exc:
            raise _unavailable(what, exc.status, exc.retry_after) from exc
        except BadRequestError as exc:
            # The SDK raises this for Razorpay's ``BAD_REQUEST_ERROR`` (its 400 refusals, also
            # its 401 and 429), keeping the description only.
            raise PaymentProviderError(
                f"Razorpay refused {what}: {exc}",
                details={
                    "operation": what,
                    "razorpay_code": REFUSED_CODE,
                    "razorpay_description": str(exc)[:300],
                },
            ) from exc
        except ValueError as exc:  # an answer that is not JSON (a proxy's error page...)
            log.warning("razorpay %s answered something unreadable", what)
            raise PaymentProviderUnavailable(details={"operation": what}) from exc

    async def create_order(
        self, *, amount: int, currency: str, receipt: str, notes: Mapping[str, str]
    ) -> dict[str, Any]:
        data = {
            "amount": amount,
            "currency": currency,
            "receipt": receipt,
            "notes": dict(notes),
            # Captured as soon as it is authorized, whatever the account's capture setting: a
            # payment left authorized is refunded by Razorpay after a few days and grants nothing.
            "payment_capture": 1,
        }
        result = await self._call(
            "create_order", lambda: self._client.order.create(data, timeout=self.timeout)
        )
        if not isinstance(result, dict) or not isinstance(result.get("id"), str):
            raise PaymentProviderUnavailable(details={"operation": "create_order"})
        return result

    async def fetch_order_payments(self, razorpay_order_id: str) -> list[dict[str, Any]]:
        result = await self._call(
            "fetch_order_payments",
            lambda: self._client.order.payments(razorpay_order_id, timeout=self.timeout),
        )
        return _items(result, "fetch_order_payments")

    async def fetch_subscription_invoices(
        self, razorpay_subscription_id: str
    ) -> list[dict[str, Any]]:
        """A Razorpay Subscription's invoices (``GET /v1/invoices?subscription_id=``): one per
        cycle charged, naming its payment and the cycle (``billing_start``, ``billing_end``).
        Razorpay answers ``count`` (at most 100) a page, from ``skip``: every page is read, up
        to ``INVOICE_PAGES`` of them. Before, only the first page was: a charge whose invoice
        was not on it was never settled (billing review 10)."""
        invoices: list[dict[str, Any]] = []
        for page in range(INVOICE_PAGES):
            data = {
                "subscription_id": razorpay_subscription_id,
                "count": INVOICE_PAGE,
                "skip": page * INVOICE_PAGE,
            }
            result = await self._call(
                "fetch_subscription_invoices",
                partial(self._client.invoice.all, data, timeout=self.timeout),
            )
            items = _items(result, "fetch_subscription_invoices")
            invoices.extend(items)
            if len(items) < INVOICE_PAGE:
                break
        return invoices

    async def fetch_payment(self, razorpay_payment_id: str) -> dict[str, Any]:
        result = await self._call(
            "fetch_payment",
            lambda: self._client.payment.fetch(razorpay_payment_id, timeout=self.timeout),
        )
        if not isinstance(result, dict) or not isinstance(result.get("status"), str):
            raise PaymentProviderUnavailable(details={"operation": "fetch_payment"})
        return result

    async def capture_payment(
        self, razorpay_payment_id: str, *, amount: int, currency: str
    ) -> dict[str, Any]:
        """Capture an authorized payment for exactly ``amount`` ``currency`` (what its order
        asked); a 4xx (already captured, another amount, refunded) is ``PaymentProviderError``."""
        data = {"currency": currency}  # the SDK's default dict is shared between calls
        result = await self._call(
            "capture_payment",
            lambda: self._client.payment.capture(
                razorpay_payment_id, amount, data, timeout=self.timeout
            ),
        )
        if not isinstance(result, dict) or not isinstance(result.get("status"), str):
            raise PaymentProviderUnavailable(details={"operation": "capture_payment"})
        return result

    async def cancel_subscription(
        self, razorpay_subscription_id: str, *, at_cycle_end: bool
    ) -> dict[str, Any]:
        """Cancel a Razorpay Subscription now or at the end of its billing cycle
        (``POST /v1/subscriptions/{id}/cancel``). One Razorpay says has ended already (cancelled,
        completed, expired) answers ``{"status": ..., "already_ended": True}``: nothing is left
        to charge. Any other 4xx is ``PaymentProviderError``."""
        data = {"cancel_at_cycle_end": 1 if at_cycle_end else 0}

        def cancel() -> dict[str, Any]:
            try:
                answer = self._client.subscription.cancel(
                    razorpay_subscription_id, data, timeout=self.timeout
                )
            except BadRequestError as exc:
                ended = _ENDED.search(str(exc))
                if ended is None:
                    raise
                return {"id": razorpay_subscription_id, "status": ended[1], "already_ended": True}
            return answer if isinstance(answer, dict) else {}

        result = await self._call("cancel_subscription", cancel)
        if not isinstance(result.get("status"), str):
            raise PaymentProviderUnavailable(details={"operation": "cancel_subscription"})
        return result


def _unavailable(
    what: str, status: int, retry_after: float | None = None
) -> PaymentProviderUnavailable:
    """Razorpay's 401 (the keys refused: the operator is told at ERROR) or 429 (rate limited:
    ``Retry-After``, Razorpay's when it sent one, else ``RATE_LIMIT_RETRY_SECONDS``), for
    ``what``. Before, both were "refused" (502), as a 400 is."""
    details = {"operation": what}
    if status == KEYS_REFUSED:
        log.error(
            "razorpay refused this server's API keys (HTTP 401) at %s: check RAZORPAY_KEY_ID and"
            " RAZORPAY_KEY_SECRET (payments, cancels and reconcile fail until they are right)",
            what,
        )
        return PaymentProviderKeysRefused(details=details)
    log.warning("razorpay rate limited %s (HTTP 429)", what)
    wait = RATE_LIMIT_RETRY_SECONDS if retry_after is None else max(1, math.ceil(retry_after))
    limited = PaymentProviderRateLimited(
        f"The payment provider is rate limiting this server (HTTP 429); try again in"
        f" {wait} seconds",
        details={**details, "reason": "rate_limited"},
        headers={"Retry-After": str(wait)},
    )
    limited.retry_after = retry_after
    return limited


def unavailable_why(exc: PaymentProviderUnavailable) -> str:
    """Why Razorpay did not answer ``exc``'s call, as an operator reads it."""
    if isinstance(exc, PaymentProviderKeysRefused):
        return "Razorpay refused this server's API keys (HTTP 401): check RAZORPAY_KEY_ID/SECRET"
    if rate_limited(exc):
        return "Razorpay rate limited this server (HTTP 429)"
    return UNREACHABLE


def retry_after(exc: Exception) -> float | None:
    """The wait Razorpay's 429 said (``Retry-After``, bounded), None when it said none."""
    return exc.retry_after if isinstance(exc, PaymentProviderRateLimited) else None


def rate_limited(exc: Exception) -> bool:
    """``exc`` is Razorpay's 429 (``_unavailable``): the account's rate limit, which the live
    checkouts share, reached; a client asks nothing more until it lifts."""
    return isinstance(exc, PaymentProviderRateLimited)


UNREACHABLE: Final = "Razorpay could not be reached"


def _items(result: object, operation: str) -> list[dict[str, Any]]:
    """The entities of a Razorpay collection (``{"items": [...]}``); an answer that is none is
    Razorpay unavailable."""
    items = result.get("items") if isinstance(result, dict) else None
    if not isinstance(items, list):
        raise PaymentProviderUnavailable(details={"operation": operation})
    return [item for item in items if isinstance(item, dict)]
