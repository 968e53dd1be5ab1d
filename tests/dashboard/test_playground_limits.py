"""The playground's question box takes what the server takes: its ``maxlength`` is
MAX_MESSAGE_CHARS (it said 2000 whatever the setting), and a line break counts as one character
on the server as in the browser. A browser posts each line break of a textarea as CRLF, which
the server counted as two: a question the box had allowed, near the limit and on several lines,
was refused 422 ``message_too_long``. The widget's and the API's chat count the same way."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import unquote

import httpx

from core.db import Database
from tests.conftest import RuntimeFactory, client_for, login, signup
from tests.dashboard.conftest import PASSWORD, web_signup
from tests.rag.test_chat import chat
from workspaces import usage

LIMIT = 40
AT_THE_LIMIT = "x" * 19 + "\r\n" + "y" * 18 + "\r" + "z"  # 40 characters with LF breaks
assert len(AT_THE_LIMIT.replace("\r\n", "\n")) == LIMIT


@asynccontextmanager
async def _limited(runtime_factory: RuntimeFactory) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app whose MAX_MESSAGE_CHARS is ``LIMIT``."""
    async with (
        runtime_factory(max_message_chars=LIMIT) as runtime,
        client_for(runtime) as client,
    ):
        yield client


async def test_the_playground_takes_a_question_as_long_as_the_setting(
    runtime_factory: RuntimeFactory,
) -> None:
    async with _limited(runtime_factory) as client:
        web = await web_signup(client, f"Playground {uuid.uuid4().hex[:6]}")
        shown = await client.get(web.url("playground"))
        box = re.search(r'<textarea id="message"[^>]*>', shown.text)
        assert box is not None, shown.text
        assert f'maxlength="{LIMIT}"' in box.group(0)

        asked = await web.post(web.url("playground"), {"message": AT_THE_LIMIT})
        assert asked.status_code == 303, asked.text
        answered = await client.get(asked.headers["location"])
        assert "x" * 19 + "\n" + "y" * 18 + "\nz" in answered.text
        assert "\r" not in answered.text.split('id="chat-log"', 1)[1]

        too_long = await web.post(web.url("playground"), {"message": AT_THE_LIMIT + "!"})
        assert too_long.status_code == 422, too_long.text

        token = (await login(client, web.email, PASSWORD))["access_token"]
        owner_chat = await client.post(
            f"/api/v1/workspaces/{web.workspace_id}/chat",
            json={"message": AT_THE_LIMIT},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert owner_chat.status_code == 200, owner_chat.text


async def test_the_widget_counts_a_crlf_line_break_as_one_character(
    runtime_factory: RuntimeFactory,
) -> None:
    async with _limited(runtime_factory) as client:
        owner = await signup(client, f"Widget CRLF {uuid.uuid4().hex[:6]}")
        answered = await chat(client, owner, AT_THE_LIMIT, session_id="visitor-crlf-new")
        assert answered.status_code == 200, answered.text
        again = await chat(
            client,
            owner,
            AT_THE_LIMIT,
            session_id="visitor-crlf-new",
            conversation_id=answered.json()["conversation_id"],
        )
        assert again.status_code == 200, again.text
        refused = await chat(client, owner, AT_THE_LIMIT + "!", session_id="visitor-crlf-x")
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == "message_too_long"
        transcript = await client.get(
            owner.url(f"/conversations/{answered.json()['conversation_id']}"),
            headers=owner.headers,
        )
        assert transcript.status_code == 200, transcript.text
        texts = [m["text"] for m in transcript.json()["messages"] if m["role"] == "user"]
        assert len(texts) == 2, texts
        assert all("\r" not in text for text in texts), texts


async def test_a_refused_streamed_question_says_why(
    runtime_factory: RuntimeFactory, db: Database
) -> None:
    """The playground's script asks for the streamed answer; a question refused before the
    stream starts got the HTML error page alone, whose reason the script cannot show: the
    owner read "Too many questions at once; wait a moment" at the plan's monthly limit, and
    "The question was refused (422)" for a blank question. The reason now comes in the
    ``X-Error-Message`` header, as for htmx's requests."""
    async with runtime_factory() as runtime, client_for(runtime) as client:
        web = await web_signup(client, f"Stream refusals {uuid.uuid4().hex[:6]}")
        script = {
            "X-CSRF-Token": web.csrf,
            "Accept": "text/event-stream",
            "Sec-Fetch-Mode": "cors",
        }
        url = web.url("playground/stream")
        blank = await client.post(url, data={"message": "   "}, headers=script)
        assert blank.status_code == 422, blank.text
        assert unquote(blank.headers.get("X-Error-Message", "")) == "Write a question first"

        workspace_id = uuid.UUID(web.workspace_id)
        async with db.transaction(workspace_id=workspace_id) as session:
            await usage.increment(session, workspace_id, messages=1_000_000)
        over = await client.post(url, data={"message": "hello"}, headers=script)
        assert over.status_code == 429, over.text
        reason = unquote(over.headers.get("X-Error-Message", ""))
        assert "plan allows" in reason, reason

        # A page the browser shows (a link, a form posted without script) needs no header.
        page = await web.post(web.url("playground"), {"message": "   "})
        assert page.status_code == 422
        assert "X-Error-Message" not in page.headers
