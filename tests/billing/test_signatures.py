"""Webhook and Checkout signatures: only Razorpay's exact bytes under a configured secret pass."""

from __future__ import annotations

import json

import pytest
import razorpay

from billing.signatures import (
    BillingDisabled,
    InvalidSignature,
    PaymentProviderUnavailable,
    verify_checkout_signature,
    verify_webhook_signature,
)
from core.errors import AppError
from tests.fakes.razorpay_server import (
    checkout_signature,
    make_order,
    make_payment,
    sign_webhook,
    webhook_payload,
)

SECRET = "whsec_current_0001"
OLD_SECRET = "whsec_previous_0001"
KEY_SECRET = "key_secret_0001"


@pytest.fixture
def body() -> bytes:
    order = make_order(amount=99_900, receipt="ws_1", status="paid", amount_paid=99_900)
    payment = make_payment(order_id=order["id"], amount=99_900)
    return json.dumps(webhook_payload("order.paid", order=order, payment=payment)).encode()


def reason(exc: pytest.ExceptionInfo[InvalidSignature]) -> str:
    assert exc.value.code == "invalid_signature"
    assert exc.value.status_code == 400
    details = exc.value.details
    assert isinstance(details, dict)
    return str(details["reason"])


def test_razorpay_signed_body_is_accepted(body: bytes) -> None:
    verify_webhook_signature(body, sign_webhook(body, SECRET), [SECRET])


def test_agrees_with_the_sdk_helper(body: bytes) -> None:
    signature = sign_webhook(body, SECRET)
    client = razorpay.Client(auth=("k", "s"))
    assert client.utility.verify_webhook_signature(body.decode(), signature, SECRET)
    verify_webhook_signature(body, signature, [SECRET])


@pytest.mark.parametrize("position", [0, 1, 17, -2, -1])
def test_one_changed_byte_is_refused(body: bytes, position: int) -> None:
    signature = sign_webhook(body, SECRET)
    tampered = bytearray(body)
    tampered[position] ^= 0x01
    with pytest.raises(InvalidSignature) as exc:
        verify_webhook_signature(bytes(tampered), signature, [SECRET])
    assert reason(exc) == "mismatch"


def test_amount_changed_in_the_body_is_refused(body: bytes) -> None:
    signature = sign_webhook(body, SECRET)
    tampered = body.replace(b'"amount": 99900', b'"amount": 100', 1)
    assert tampered != body
    with pytest.raises(InvalidSignature):
        verify_webhook_signature(tampered, signature, [SECRET])


@pytest.mark.parametrize(
    "dumps",
    [
        lambda d: json.dumps(d, separators=(",", ":")),
        lambda d: json.dumps(d, indent=2),
        lambda d: json.dumps(d, sort_keys=True),
        lambda d: json.dumps(d) + "\n",
    ],
)
def test_reserialised_json_is_refused(body: bytes, dumps: object) -> None:
    """Same data, other bytes: verification must run over the raw body as received."""
    signature = sign_webhook(body, SECRET)
    assert callable(dumps)
    reserialised = dumps(json.loads(body)).encode()
    assert json.loads(reserialised) == json.loads(body)
    assert reserialised != body
    with pytest.raises(InvalidSignature):
        verify_webhook_signature(reserialised, signature, [SECRET])


@pytest.mark.parametrize(
    ("header", "expected_reason"),
    [
        (None, "missing"),
        ("", "missing"),
        ("   ", "missing"),
        ("z" * 64, "malformed"),
        ("0x" + "a" * 62, "malformed"),
        ("a" * 63, "malformed"),
        ("a" * 65, "malformed"),
        ("é" * 64, "malformed"),
        ("é" * 32, "malformed"),  # 64 bytes in UTF-8, 32 characters
        ("٣" * 64, "malformed"),  # Arabic-Indic digit: str.isdigit() is True for it
        ("sha256=" + "a" * 64, "malformed"),
        ("a" * 32 + " " + "a" * 31, "malformed"),
        ("a" * 64, "mismatch"),  # well formed, wrong
    ],
)
def test_malformed_headers_are_a_400_never_a_crash(
    body: bytes, header: str | None, expected_reason: str
) -> None:
    if expected_reason == "mismatch":
        assert header is not None
        assert header.lower() != sign_webhook(body, SECRET)
    with pytest.raises(InvalidSignature) as exc:
        verify_webhook_signature(body, header, [SECRET])
    assert reason(exc) == expected_reason


def test_uppercase_hex_is_the_same_signature(body: bytes) -> None:
    """Decision: hex case is not part of the MAC; Razorpay sends lowercase, uppercase passes."""
    signature = sign_webhook(body, SECRET)
    verify_webhook_signature(body, signature.upper(), [SECRET])
    verify_webhook_signature(body, f"  {signature}\t", [SECRET])


def test_uppercase_hex_of_a_wrong_signature_is_refused(body: bytes) -> None:
    with pytest.raises(InvalidSignature):
        verify_webhook_signature(body, sign_webhook(body, "other").upper(), [SECRET])


def test_rotation_accepts_old_and_new_secret_only(body: bytes) -> None:
    secrets = [SECRET, OLD_SECRET]
    verify_webhook_signature(body, sign_webhook(body, SECRET), secrets)
    verify_webhook_signature(body, sign_webhook(body, OLD_SECRET), secrets)
    with pytest.raises(InvalidSignature):
        verify_webhook_signature(body, sign_webhook(body, "whsec_retired"), secrets)
    # once the old secret is removed from the configuration, its signatures stop working
    with pytest.raises(InvalidSignature):
        verify_webhook_signature(body, sign_webhook(body, OLD_SECRET), [SECRET])


@pytest.mark.parametrize("secrets", [[], [""], ["", ""], ()])
def test_no_configured_secret_refuses_everything(body: bytes, secrets: list[str]) -> None:
    """An empty secret is public knowledge: a body signed with it must not pass."""
    with pytest.raises(InvalidSignature) as exc:
        verify_webhook_signature(body, sign_webhook(body, ""), secrets)
    assert reason(exc) == "not_configured"


def test_a_bare_string_secret_is_one_secret_not_its_characters(body: bytes) -> None:
    verify_webhook_signature(body, sign_webhook(body, SECRET), SECRET)
    with pytest.raises(InvalidSignature):
        verify_webhook_signature(body, sign_webhook(body, SECRET[0]), SECRET)


def test_empty_body_is_checked_like_any_other() -> None:
    verify_webhook_signature(b"", sign_webhook(b"", SECRET), [SECRET])
    with pytest.raises(InvalidSignature):
        verify_webhook_signature(b"", sign_webhook(b"{}", SECRET), [SECRET])


def test_checkout_signature_roundtrip() -> None:
    signature = checkout_signature("order_A", "pay_B", KEY_SECRET)
    verify_checkout_signature("order_A", "pay_B", signature, KEY_SECRET)
    sdk = razorpay.Client(auth=("rzp_test_x", KEY_SECRET))
    assert sdk.utility.verify_payment_signature(
        {
            "razorpay_order_id": "order_A",
            "razorpay_payment_id": "pay_B",
            "razorpay_signature": signature,
        }
    )


@pytest.mark.parametrize(
    ("order_id", "payment_id", "key_secret"),
    [
        ("order_OTHER", "pay_B", KEY_SECRET),  # a signature for another order
        ("order_A", "pay_OTHER", KEY_SECRET),  # ...or another payment
        ("order_A", "pay_B", "wrong_secret"),
        ("pay_B", "order_A", KEY_SECRET),  # swapped
    ],
)
def test_checkout_signature_binds_order_payment_and_key(
    order_id: str, payment_id: str, key_secret: str
) -> None:
    signature = checkout_signature("order_A", "pay_B", KEY_SECRET)
    with pytest.raises(InvalidSignature):
        verify_checkout_signature(order_id, payment_id, signature, key_secret)


def test_checkout_refuses_ambiguous_ids_and_empty_key() -> None:
    # "order_A|x" + "|" + "pay_B" signs the same bytes as "order_A" + "|" + "x|pay_B"
    signature = checkout_signature("order_A|x", "pay_B", KEY_SECRET)
    with pytest.raises(InvalidSignature):
        verify_checkout_signature("order_A|x", "pay_B", signature, KEY_SECRET)
    with pytest.raises(InvalidSignature):
        verify_checkout_signature("order_A", "x|pay_B", signature, KEY_SECRET)
    with pytest.raises(InvalidSignature):
        verify_checkout_signature(
            "", "pay_B", checkout_signature("", "pay_B", KEY_SECRET), KEY_SECRET
        )
    with pytest.raises(InvalidSignature) as exc:
        verify_checkout_signature(
            "order_A", "pay_B", checkout_signature("order_A", "pay_B", ""), ""
        )
    assert reason(exc) == "not_configured"


@pytest.mark.parametrize("signature", [None, "", "zz" * 32, "a" * 63, "é" * 64])
def test_checkout_malformed_signature_is_a_400(signature: str | None) -> None:
    with pytest.raises(InvalidSignature):
        verify_checkout_signature("order_A", "pay_B", signature, KEY_SECRET)


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (InvalidSignature, 400, "invalid_signature"),
        (BillingDisabled, 503, "billing_disabled"),
        (PaymentProviderUnavailable, 503, "payment_provider_unavailable"),
    ],
)
def test_errors_render_with_stable_codes(error: type[AppError], status: int, code: str) -> None:
    exc = error()
    assert isinstance(exc, AppError)
    assert exc.status_code == status
    assert exc.to_dict()["error"]["code"] == code
