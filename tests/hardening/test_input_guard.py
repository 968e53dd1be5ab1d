"""The JSON input guard reads every body before routing and authentication, so anyone can make
it work: its answer must match what the JSON decoder sees, and its cost must stay linear in the
body, up to the 1 MB body limit."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.input_guard import MAX_JSON_DEPTH, json_depth_exceeds
from tests.bounded_child import run_bounded

ROOT = Path(__file__).resolve().parents[2]
ONE_MB = 1_048_576  # MAX_BODY_BYTES' default, the largest body most routes take
# One unterminated string after more than the limit of opening brackets, its content repeated
# to fill the body: `"` then `\"`..., `"` then `\`..., and quotes alone. The old single-pattern
# string regex retried from every quote and scanned to the end each time (quadratic: about 50
# minutes of blocked event loop for the first shape at 1 MB).
SHAPES: dict[str, tuple[bytes, bytes]] = {
    "escaped quotes": (b'"', b'\\"'),
    "quote then backslash": (b"", b'"\\'),
    "quotes": (b"", b'"'),
}


def adversarial(shape: str, size: int = ONE_MB, depth: int = MAX_JSON_DEPTH + 1) -> bytes:
    head, unit = SHAPES[shape]
    start = b"[" * depth + head
    return start + unit * ((size - len(start)) // len(unit))


def reference_depth(body: bytes | str) -> int:
    """How deep the JSON decoder finds arrays and objects nested (an empty one counts)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(json.loads(body), 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


def tricky_string(rng: random.Random) -> str:
    """Text made of what a string scanner can get wrong: quotes, backslashes, brackets."""
    return "".join(rng.choice('"\\[]{}ab\n\u00e9') for _ in range(rng.randrange(0, 12)))


def tricky_value(rng: random.Random, depth: int) -> Any:
    if depth == 0 or rng.random() < 0.25:
        return rng.choice([tricky_string(rng), 1, None, True])
    if rng.random() < 0.5:
        return [tricky_value(rng, depth - 1) for _ in range(rng.randrange(0, 4))]
    return {tricky_string(rng): tricky_value(rng, depth - 1) for _ in range(rng.randrange(0, 4))}


def test_the_depth_check_agrees_with_the_json_decoder_on_tricky_strings() -> None:
    """Strings full of quotes, escaped quotes, backslashes and brackets (as keys and values) do
    not change the depth: the guard answers as a check on the decoded JSON does."""
    rng = random.Random(20261204)  # fixed: the same bodies on every run
    for _ in range(400):
        value = tricky_value(rng, rng.randrange(1, 9))
        body = json.dumps(value, ensure_ascii=rng.random() < 0.5).encode()
        depth = reference_depth(body)
        for limit in (1, 2, 4, 6):
            assert json_depth_exceeds(body, limit) == (depth > limit), (body, limit)
    # The adversarial shapes, closed (valid JSON), exactly at and past the limit.
    for depth in (MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1):
        for inside in (b'"' + b'\\"' * 5_000 + b'"', b'"' + b'\\"' * 5_000 + b'\\\\"'):
            body = b"[" * depth + inside + b"]" * depth
            assert reference_depth(body) == depth
            assert json_depth_exceeds(body) == (depth > MAX_JSON_DEPTH), (body[-80:], depth)
        body = b"[" * depth + b'"",' * 5_000 + b'""' + b"]" * depth
        assert reference_depth(body) == depth
        assert json_depth_exceeds(body) == (depth > MAX_JSON_DEPTH), depth


def test_a_megabyte_of_adversarial_json_is_checked_in_linear_time() -> None:
    """A time bound, on purpose: the old pattern needed minutes to an hour
    per body here (quadratic), the linear check about a tenth of a second, so 120 s cannot be
    missed by a slow machine, only by a quadratic pass. It runs in a process of its own, so a
    regression fails this test instead of holding the suite (a regex cannot be interrupted)."""
    script = (
        "import json, sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from api.input_guard import json_depth_exceeds\n"
        "from tests.hardening.test_input_guard import SHAPES, adversarial\n"
        "print(json.dumps({s: json_depth_exceeds(adversarial(s)) for s in SHAPES}))\n"
    )
    printed = run_bounded(
        script,
        str(ROOT),
        seconds=120,
        too_slow="the JSON guard took more than 120 s on a 1 MB body: not linear",
    )
    # More than 64 opening brackets stand before the unterminated string in every shape.
    assert json.loads(printed) == dict.fromkeys(SHAPES, True)


@pytest.mark.parametrize("shape", list(SHAPES))
async def test_an_anonymous_megabyte_of_adversarial_json_is_a_422(
    client: httpx.AsyncClient, shape: str
) -> None:
    body = adversarial(shape)
    assert len(body) > ONE_MB - 2
    refused = await client.post(
        "/api/v1/auth/login", content=body, headers={"content-type": "application/json"}
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "json_too_deep"
    assert (await client.get("/healthz")).status_code == 200
