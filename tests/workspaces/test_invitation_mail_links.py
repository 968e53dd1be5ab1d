"""An invitation mail never shows text its sender typed as a link: mail clients turn anything
that looks like an address ("www.evil.example", "evil.example/login") into one. The subject
names the sender by their verified address, never by their display name; the body quotes the
name and the workspace's name with a zero-width non-joiner after each dot, colon and slash, so
no client links them. Read from a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import re

from api.runtime import Runtime
from tests.conftest import client_for, signup
from tests.fakes.smtp import SmtpServer

NAME = "IT security: www.evil.example/login"
WORKSPACE = "shop.example"
LINKABLE = re.compile(
    r"(?:https?://|www\.)\S+|(?:[\w.+-]+@)?[\w-]+(?:\.[\w-]+)+(?:/\S*)?", re.IGNORECASE
)


async def test_an_invitation_shows_no_name_as_a_link(mailing: Runtime, smtp: SmtpServer) -> None:
    async with client_for(mailing) as client:
        owner = await signup(client, WORKSPACE)
        named = await client.patch("/api/v1/me", json={"name": NAME}, headers=owner.headers)
        assert named.status_code == 200, named.text
        invited = f"linkless-{owner.user_id[:8]}@example.org"
        sent = await client.post(
            owner.url("/members"), json={"email": invited, "role": "member"}, headers=owner.headers
        )
        assert sent.status_code == 202, sent.text
    await mailing.mailer.settle()
    await mailing.jobs.drain()
    [mail] = smtp.to(invited)
    subject = str(mail.message["Subject"])
    assert subject.startswith(f"{owner.email} invited you to "), subject
    assert "evil" not in subject
    text = mail.text.replace("\r\n", "\n")
    assert mail.html is not None
    link = mail.link("/accept-invitation")
    for body in (subject, text, mail.html):
        # What a client would link: the accept link and the sender's address, nothing else.
        found = {m for m in LINKABLE.findall(body) if not m.startswith(link[:30])}
        assert found <= {owner.email, link, "bot.example.com"}, (found, body)
    # Still readable as typed: the invisible joiners aside, quoted as the sender's words.
    shown = text.replace("\u200c", "")
    assert f'"{NAME}" ({owner.email}) invited you to join the workspace "{WORKSPACE}"' in shown
    assert "<a " in mail.html
    assert set(re.findall(r'href="([^"]+)"', mail.html)) == {link}
