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
