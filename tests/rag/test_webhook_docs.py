"""docs/webhooks.md is what a receiver is built from: its verification recipes are run here
against a real delivery, and the headers and events it lists are the ones sent."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RuntimeFactory, client_for, signup
from tests.fakes.receiver import Received, receiver

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def _block(language: str) -> str:
    [code] = [
        block
        for block in re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), re.S)
        if "verify(" in block
    ]
    return code


def _python_verify() -> Any:
    namespace: dict[str, Any] = {}
    exec(compile(_block("python"), str(DOC), "exec"), namespace)  # noqa: S102 - our own doc
    return namespace["verify"]


async def _real_delivery(runtime_factory: RuntimeFactory) -> tuple[Received, str]:
    """A visitor's handoff, posted by the app to a local receiver; what it received and the
    workspace's secret as the owner reads it."""
    async with (
        runtime_factory(allow_private_urls=True) as runtime,
        client_for(runtime) as client,
    ):
        owner = await signup(client, f"Docs {uuid.uuid4().hex[:8]}")
        with receiver() as hook:
            r = await client.patch(
                owner.url(""), json={"webhook_url": hook.url()}, headers=owner.headers
            )
            assert r.status_code == 200, r.text
            chat = await client.post(
                "/api/v1/chat",
                json={"message": "I want to speak to a human", "session_id": "v-docs"},
                headers={"X-Widget-Key": owner.workspace["public_key"]},
            )
            assert chat.json()["source"] == "handoff"
            await runtime.notifier.drain()
        webhook = await client.get(owner.url("/webhook"), headers=owner.headers)
        [received] = hook.received
        return received, webhook.json()["secret"]


async def test_the_documented_python_recipe_verifies_a_real_delivery(
    runtime_factory: RuntimeFactory,
) -> None:
    verify = _python_verify()
    received, secret = await _real_delivery(runtime_factory)
    header = received.headers["x-trulybot-signature"]
    assert verify(secret, header, received.body)
    assert not verify(secret, header, received.body + b" ")
    assert not verify("whsec_someone-else", header, received.body)
    assert not verify(secret, header, received.body, now=time.time() + 301)  # a replay
    assert not verify(secret, "t=1,v1", received.body)

    doc = DOC.read_text()
    sent = {name for name in received.headers if name.startswith("x-trulybot-")}
    assert sent == {"x-trulybot-event", "x-trulybot-delivery", "x-trulybot-signature"}
    assert all(re.search(rf"`{name}`", doc, re.I) for name in sent)
    payload = json.loads(received.body)
    assert sorted(payload) == ["created_at", "data", "event", "id", "workspace_id"]
    assert f"| `{payload['event']}` |" in doc
    assert all(f"`{key}`" in doc for key in payload["data"])


async def test_the_documented_node_recipe_verifies_a_real_delivery(
    runtime_factory: RuntimeFactory, tmp_path: Path
) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("no node on this machine")
    received, secret = await _real_delivery(runtime_factory)
    (tmp_path / "verify.js").write_text(_block("javascript"))
    (tmp_path / "body.bin").write_bytes(received.body)
    script = (
        "const { verify } = require('./verify.js');"
        "const body = require('node:fs').readFileSync('body.bin');"
        "const [secret, header] = process.argv.slice(1);"
        "console.log(JSON.stringify([verify(secret, header, body),"
        " verify(secret, header, Buffer.concat([body, Buffer.from(' ')])),"
        " verify(secret, header, body, Date.now() / 1000 + 301)]));"
    )
    result = subprocess.run(
        [node, "-e", script, secret, received.headers["x-trulybot-signature"]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [True, False, False]
