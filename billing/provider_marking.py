"""Razorpay's 429 to any call of ours marks the account, not only a cancel's.

Razorpay's rate limit is the account's (the key id's): an owner's checkout, a payment's verify
and capture, and ``trulybot billing reconcile`` spend the same limit the cancels do. Before,
only a cancel answered 429 set the account's "rate limited until" mark (billing/
rate_limit_mark.py), so the cancel sweep went on calling into a limit the account was already
in. ``MarkingProvider`` wraps the process's ``PaymentProvider`` (api/runtime.py): any call
answered 429 marks the account with ``RateLimitMark.limited`` (its compare-and-set: one call's
shorter wait never cuts a longer mark, and a 429 while the mark holds adds no strike), at this
moment, with Razorpay's ``Retry-After``; then the error goes on to its caller as before (an
owner reads 503 ``payment_provider_unavailable``, ``reason`` ``rate_limited``, with
``Retry-After``; reconcile stops its run). Nothing here waits for the mark. A call answered
(a refusal included) once the mark passed forgets the strikes, as a cancel answered does
(``RateLimitMark.answered``: one Redis read a call; a mark still holding, or set by another
process since, stays). Before, only a cancel's answer forgot them: with no cancel due between
them, each 429 of the day (a checkout's, reconcile's) doubled the cancels' next wait, up to
an hour, though Razorpay had answered every call in between.

The cancel itself is passed through unmarked: its sender marks the account on the sweep's
clock (``provider_cancels.send``) and gives the cancel's claim back after it; marking it here
as well would count the one 429 twice. The mark is the one the lifecycle jobs wait for
(``LifecycleDeps.razorpay_mark`` is this provider's ``mark``): without Redis it lives in this
process only, so it has to be the same object.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar

from billing.provider import PaymentProvider, PaymentProviderError, rate_limited, retry_after
from billing.rate_limit_mark import RateLimitMark
from core.models import utcnow

T = TypeVar("T")


class MarkingProvider:
    """``inner`` (a ``PaymentProvider``) whose calls answered 429 mark the account in
    ``mark``; ``cancel_subscription`` unmarked (see the module)."""

    def __init__(self, inner: PaymentProvider, mark: RateLimitMark) -> None:
        self.inner = inner
        self.mark = mark
        self.key_id = inner.key_id

    async def _marking(self, call: Awaitable[T]) -> T:
        try:
            answer = await call
        except PaymentProviderError:  # a refusal: answered, as a cancel refused is
            await self.mark.answered(self.key_id, utcnow())
            raise
        except Exception as exc:
            if rate_limited(exc):
                await self.mark.limited(self.key_id, utcnow(), retry_after(exc))
            raise
        await self.mark.answered(self.key_id, utcnow())
        return answer

    async def create_order(
        self, *, amount: int, currency: str, receipt: str, notes: Mapping[str, str]
    ) -> dict[str, Any]:
        return await self._marking(
            self.inner.create_order(amount=amount, currency=currency, receipt=receipt, notes=notes)
        )

    async def fetch_order_payments(self, razorpay_order_id: str) -> list[dict[str, Any]]:
        return await self._marking(self.inner.fetch_order_payments(razorpay_order_id))

    async def fetch_payment(self, razorpay_payment_id: str) -> dict[str, Any]:
        return await self._marking(self.inner.fetch_payment(razorpay_payment_id))

    async def capture_payment(
        self, razorpay_payment_id: str, *, amount: int, currency: str
    ) -> dict[str, Any]:
        return await self._marking(
            self.inner.capture_payment(razorpay_payment_id, amount=amount, currency=currency)
        )

    async def cancel_subscription(
        self, razorpay_subscription_id: str, *, at_cycle_end: bool
    ) -> dict[str, Any]:
        return await self.inner.cancel_subscription(
            razorpay_subscription_id, at_cycle_end=at_cycle_end
        )

    async def fetch_subscription_invoices(
        self, razorpay_subscription_id: str
    ) -> list[dict[str, Any]]:
        return await self._marking(self.inner.fetch_subscription_invoices(razorpay_subscription_id))


def mark_of(payments: PaymentProvider | None) -> RateLimitMark | None:
    """The mark ``payments`` sets on a 429 (a ``MarkingProvider``'s), else None."""
    return payments.mark if isinstance(payments, MarkingProvider) else None
