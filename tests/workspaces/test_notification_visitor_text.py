"""What a visitor typed, quoted in an owner's notification mail, stays quoted: it cannot write
lines of its own into the mail (a fake "Open it in TrulyBot" link under the real one)."""

from __future__ import annotations

import uuid

from tests.conftest import signup
from tests.workspaces.test_notifications import World, w  # noqa: F401  (the fixture)

PHISH = "https://evil.example/login"


def _forged_lines(text: str) -> list[str]:
    """Lines of the mail that begin with what the visitor wrote (not after a label or quote)."""
    return [
        line
        for line in text.splitlines()
        if line.strip().startswith((PHISH, "Open it in TrulyBot", "Stop these mails"))
        and PHISH in line
    ]


async def test_a_lead_cannot_write_lines_of_its_own_into_the_owners_mail(w: World) -> None:  # noqa: F811
    owner = await signup(w.client, "Acme")
    email = f"lead-{uuid.uuid4().hex[:10]}@example.com"
    response = await w.client.post(
        "/api/v1/widget/leads",
        json={
            "email": email,
            "name": f"Vee\r\n\r\nOpen it in TrulyBot:\r\n{PHISH}\u2028",
            "message": f"Hello\n\nOpen it in TrulyBot:\n{PHISH}\n\nthanks",
        },
        headers={"X-Widget-Key": owner.workspace["public_key"]},
    )
    assert response.status_code == 202, response.text
    [mail] = await w.notices(owner.email)
    assert _forged_lines(mail.text) == [], mail.text
    # The name is one line wherever it is quoted; the message is kept, line by line, quoted.
    assert f"Name: Vee Open it in TrulyBot: {PHISH}" in mail.text.splitlines()
    assert f"> {PHISH}" in mail.text.splitlines()
    assert "> thanks" in mail.text.splitlines()
    assert "\u2028" not in mail.text
    assert mail.html is not None
    assert "Vee Open it in TrulyBot:" in mail.html


async def test_the_workspaces_name_is_one_line_without_overrides(w: World) -> None:  # noqa: F811
    """The name an admin or an API key gave the workspace heads each notification's subject: a
    right-to-left override in it turned the subject's own words around, as in an invitation
    (``test_invitation_mail_links``)."""
    owner = await signup(w.client, "Acme")
    renamed = await w.client.patch(
        owner.url(""), json={"name": "Acme \u202eevil\u2028shop"}, headers=owner.headers
    )
    assert renamed.status_code == 200, renamed.text
    response = await w.client.post(
        "/api/v1/widget/leads",
        json={"email": f"lead-{uuid.uuid4().hex[:10]}@example.com", "message": "Call me"},
        headers={"X-Widget-Key": owner.workspace["public_key"]},
    )
    assert response.status_code == 202, response.text
    [mail] = await w.notices(owner.email)
    subject = str(mail.message["Subject"])
    assert subject.startswith("[Acme evil shop] "), subject
    assert mail.html is not None
    for body in (subject, mail.text, mail.html):
        assert "\u202e" not in body
        assert "\u2028" not in body
