"""Razorpay signature checks and the billing errors.

Two signatures exist, both hex HMAC-SHA256:

- webhooks: over the *raw* request body with the webhook secret, sent in ``X-Razorpay-Signature``;
- checkout: over ``f"{order_id}|{payment_id}"`` with the API key secret, returned by Checkout.

The SDK helper is not used: it wants ``str`` bodies (a ``bytes`` body or a ``None`` signature
raises ``TypeError``, which would become a 500) and it knows only one secret. Here every malformed
input is an ``InvalidSignature`` (400), never an exception of another type.

Case: Razorpay sends lowercase hex. Uppercase (or mixed-case) hex is accepted, because it
encodes the very same 32 bytes; what is compared in constant time is the decoded MAC, so case
changes nothing about what an attacker must know. Surrounding whitespace is stripped (it is not
part of an HTTP field value).
"""

from __future__ import annotations

import hashlib
import hmac
import string
from collections.abc import Sequence

from core.errors import AppError

__all__ = [
    "SIGNATURE_HEX_LENGTH",
    "BillingDisabled",
    "InvalidSignature",
    "PaymentProviderUnavailable",
    "compute_signature",
    "verify_checkout_signature",
    "verify_webhook_signature",
]

SIGNATURE_HEX_LENGTH = 64  # hex digits of a SHA-256 HMAC
_HEX_DIGITS = frozenset(string.hexdigits)


class InvalidSignature(AppError):
    code = "invalid_signature"
    status_code = 400
    message = "Invalid signature"


class BillingDisabled(AppError):
    code = "billing_disabled"
    status_code = 503
    message = "Billing is not configured on this server"


class PaymentProviderUnavailable(AppError):
    code = "payment_provider_unavailable"
    status_code = 503
    message = "The payment provider is unavailable; try again later"


def compute_signature(message: bytes, secret: str) -> str:
    """Lowercase hex HMAC-SHA256 of ``message`` keyed with ``secret`` (UTF-8), as Razorpay signs."""
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def _invalid(reason: str) -> InvalidSignature:
    return InvalidSignature(details={"reason": reason})


def _parse_signature(signature: object) -> bytes:
    """The 32 MAC bytes of a well-formed hex signature, or ``InvalidSignature``."""
    if signature is None:
        raise _invalid("missing")
    if not isinstance(signature, str):
        raise _invalid("malformed")
    value = signature.strip()
    if not value:
        raise _invalid("missing")
    if not value.isascii() or len(value) != SIGNATURE_HEX_LENGTH:
        raise _invalid("malformed")
    if not _HEX_DIGITS.issuperset(value):
        raise _invalid("malformed")
    return bytes.fromhex(value)


def _usable_secrets(secrets: Sequence[str] | str) -> list[str]:
    # A bare string is a Sequence[str] too: iterating it would try each character as a secret.
    candidates = [secrets] if isinstance(secrets, str) else list(secrets)
    # An empty key is a key everybody knows: never accept a signature made with it.
    return [s for s in candidates if isinstance(s, str) and s]


def _matches_any(message: bytes, mac: bytes, secrets: list[str]) -> bool:
    matched = False
    for secret in secrets:  # no early exit: the time taken does not depend on which secret matched
        expected = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()
        matched |= hmac.compare_digest(expected, mac)
    return matched


def verify_webhook_signature(
    raw_body: bytes, signature_header: str | None, secrets: Sequence[str]
) -> None:
    """Accept the webhook only if ``signature_header`` is the HMAC of ``raw_body`` under a secret.

    ``raw_body`` must be the bytes exactly as received: re-serialised JSON does not match.
    Several secrets may be given (rotation: old and new both valid for a while). With no usable
    secret every request is refused. Raises ``InvalidSignature`` (400); returns ``None`` on success.
    """
    if not isinstance(raw_body, bytes | bytearray | memoryview):
        raise TypeError("raw_body must be the raw request bytes")
    mac = _parse_signature(signature_header)
    usable = _usable_secrets(secrets)
    if not usable:
        raise _invalid("not_configured")
    if not _matches_any(bytes(raw_body), mac, usable):
        raise _invalid("mismatch")


def verify_checkout_signature(
    order_id: str, payment_id: str, signature: str | None, key_secret: str
) -> None:
    """Accept a Checkout callback only if ``signature`` is HMAC(key_secret, "order_id|payment_id").

    Empty ids, ids containing ``|`` (which would make the signed message ambiguous) and an empty key
    secret are refused. Raises ``InvalidSignature`` (400); returns ``None`` on success.
    """
    mac = _parse_signature(signature)
    for value in (order_id, payment_id):
        if not isinstance(value, str) or not value or "|" in value or not value.isascii():
            raise _invalid("malformed")
    usable = _usable_secrets(key_secret)
    if not usable:
        raise _invalid("not_configured")
    message = f"{order_id}|{payment_id}".encode()
    if not _matches_any(message, mac, usable):
        raise _invalid("mismatch")
