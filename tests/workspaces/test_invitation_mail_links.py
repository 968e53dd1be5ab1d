"""An invitation mail never shows text its sender typed as a link: mail clients turn anything
that looks like an address ("www.evil.example", "evil.example/login") into one. The subject
names the sender by their verified address, never by their display name; the body quotes the
name and the workspace's name with a zero-width non-joiner after each dot, colon and slash, so
no client links them. Read from a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import re

from api.runtime import Runtime
from tests.conftest import Owner, client_for, signup
from tests.fakes.smtp import Received, SmtpServer

NAME = "IT security: www.evil.example/login"
WORKSPACE = "shop.example"
LINKABLE = re.compile(
    r"(?:https?://|www\.)\S+|(?:[\w.+-]+@)?[\w-]+(?:\.[\w-]+)+(?:/\S*)?", re.IGNORECASE
)


async def _invitation(
    mailing: Runtime, smtp: SmtpServer, *, change: tuple[str, dict[str, str]]
) -> tuple[Owner, Received]:
    """A new owner makes ``change`` (a PATCH of a path under /api/v1, "" for their workspace)
    and invites someone: the owner and the mail as the SMTP server received it."""
    async with client_for(mailing) as client:
        owner = await signup(client, WORKSPACE)
        path, body = change
        url = f"/api/v1{path}" if path else owner.url("")
        changed = await client.patch(url, json=body, headers=owner.headers)
        assert changed.status_code == 200, changed.text
        invited = f"invited-{owner.user_id[:8]}@example.org"
        sent = await client.post(
            owner.url("/members"), json={"email": invited, "role": "member"}, headers=owner.headers
        )
        assert sent.status_code == 202, sent.text
    await mailing.mailer.settle()
    await mailing.jobs.drain()
    [mail] = smtp.to(invited)
    return owner, mail


async def test_an_invitation_shows_no_name_as_a_link(mailing: Runtime, smtp: SmtpServer) -> None:
    owner, mail = await _invitation(mailing, smtp, change=("/me", {"name": NAME}))
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


async def test_an_invitation_shows_the_workspaces_name_on_one_line_without_overrides(
    mailing: Runtime, smtp: SmtpServer
) -> None:
    """A workspace's name is typed by its owner (or an admin, or an API key) and the invitation
    goes to whatever address they type: a right-to-left override in the name turned the words
    after it around ("... on TrulyBot" in the subject, the role in the body), and a line
    separator broke the subject's line, as a person's name did before names1. The name is shown
    on one line without them, as a person's name is (``profile.in_a_mail``)."""
    name = "Acme \u202eevil\u2028Your account is locked"
    _owner, mail = await _invitation(mailing, smtp, change=("", {"name": name}))
    subject = str(mail.message["Subject"])
    assert mail.html is not None
    for body in (subject, mail.text, mail.html):
        assert "\u202e" not in body, body
        assert "\u2028" not in body, body
    assert subject.endswith("invited you to Acme evil Your account is locked on TrulyBot"), subject
