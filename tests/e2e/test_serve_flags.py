"""`trulybot serve --port N` (the flag, not PORT): what the app tells others to load and click
names the address it serves, not PORT's: the embed snippet owners paste, the links it mails,
its start-up lines."""

from __future__ import annotations

import email
import email.policy
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import demo_owner, running_server


def test_the_port_flag_reaches_the_snippet_the_mails_and_the_start_up_lines(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    data_dir = tmp_path_factory.mktemp("serve-port-flag")
    with running_server(
        data_dir, port_flag=True, SEED_DEMO="true", EMBEDDING_PROVIDER="hash"
    ) as base_url:
        owner = demo_owner(base_url, data_dir)
        widget = owner.api("GET", owner.workspace("/widget"))
        assert widget.status_code == 200, widget.text
        assert widget.json()["embed_snippet"].startswith(f'<script src="{base_url}/widget.js"')

        signup = httpx.post(  # a new owner is mailed a link to confirm the address
            f"{base_url}/api/v1/auth/signup",
            json={
                "email": f"flag-{uuid.uuid4().hex[:10]}@example.com",
                "password": "correct horse battery",
                "workspace_name": "Port flag",
            },
            timeout=30,
        )
        assert signup.status_code == 202, signup.text
        body = _newest_mail_text(data_dir / "outbox")
        assert f"{base_url}/" in body, body
        log = (data_dir / "server.log").read_text()
    assert f"demo site: {base_url}/" in log, log[-2000:]


def _newest_mail_text(outbox: Path) -> str:
    """The text of the newest mail in the outbox (written in the background: waited for)."""
    deadline = time.monotonic() + 60  # a guard against hanging, not a timing assertion
    while True:
        mails = sorted(outbox.glob("*.eml"), key=lambda p: p.stat().st_mtime)
        if mails:
            message = email.message_from_bytes(mails[-1].read_bytes(), policy=email.policy.default)
            part = message.get_body(preferencelist=("plain",))
            assert part is not None
            return str(part.get_content())
        assert time.monotonic() < deadline, f"no mail in {outbox}"
        time.sleep(0.2)
