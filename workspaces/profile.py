"""What an account changes about itself besides its password: its display name, the name
teammates see beside its address and its mails greet it by (the dashboard's account page).

Not in a workspace's audit log: the name is the account's, not any workspace's (a password
change is not audited there either)."""

from __future__ import annotations

import unicodedata
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from core.db import set_tenant
from core.errors import NotFound, ValidationFailed
from core.text import is_invisible, refuse_controls
from workspaces import account_repository as repo
from workspaces.notification_text import one_line

DISPLAY_NAME_MAX = 200
"""The longest display name (the column's size; signing up takes the same)."""


def display_name(value: str) -> str | None:
    """``value`` as the account's display name: trimmed of spaces and invisible characters at
    both ends, None when nothing visible is left (the name is removed). 422 ``invalid_text``
    for a control character (a line break: a name is one line, in a mail's greeting too) or a
    bidirectional embedding, override or isolate (it turns the words after the name around);
    422 ``validation_error`` past ``DISPLAY_NAME_MAX`` characters. A name's last letter keeps its
    combining marks (``_visible_end``)."""
    refuse_controls("name", value, multiline=False)
    start, end = 0, len(value)
    while start < end and is_invisible(value[start]):
        start += 1
    end = _visible_end(value, start, end)
    name = value[start:end]
    if len(name) > DISPLAY_NAME_MAX:
        raise ValidationFailed(
            f"name is longer than {DISPLAY_NAME_MAX} characters",
            details=[
                {
                    "field": "name",
                    "message": f"Use at most {DISPLAY_NAME_MAX} characters.",
                    "type": "string_too_long",
                    "max_length": DISPLAY_NAME_MAX,
                }
            ],
        )
    return name or None


_MARKS = ("Mn", "Me")


def _visible_end(value: str, start: int, end: int) -> int:
    """Where ``value[start:end]`` ends once invisible characters are trimmed off its end; the
    combining marks of a visible letter are part of it ("विष्णु" ends with the vowel sign U,
    "❤️" with a variation selector), only marks on nothing visible go."""
    while end > start:
        if unicodedata.category(value[end - 1]) in _MARKS:
            base = end - 1
            while base > start and unicodedata.category(value[base - 1]) in _MARKS:
                base -= 1
            if base > start and not is_invisible(value[base - 1]):
                break
            end = base
        elif is_invisible(value[end - 1]):
            end -= 1
        else:
            break
    return end


def given_name(value: str | None) -> str | None:
    """A name typed where an account is created (sign-up, an invitation accepted with a new
    account): ``display_name``'s rule and refusals, None when none was given."""
    return None if value is None else display_name(value)


_LINK_MARKS = str.maketrans({ch: f"\u200c{ch}\u200c" for ch in ".:/@"})


def unlinked(text: str) -> str:
    """``text`` as no mail client makes a link of it: a zero-width non-joiner on both sides of
    each dot, colon, slash and at sign. Clients link what looks like an address ("www.evil.example",
    "evil.example/login") in a plain-text part and in an HTML one alike; the joiner shows
    nothing, so "J.R.R. Tolkien" reads as typed."""
    return text.translate(_LINK_MARKS)


def in_a_mail(name: str | None) -> str | None:
    """The account's name as a mail shows it (a greeting, an invitation's sender): on one line,
    without a bidirectional override, and never as a link (``unlinked``). A name stored before
    sign-up took ``display_name``'s rule may hold a line break or an override (those rows are
    kept as they are), and the mail goes to whatever address was typed (the verification's, an
    invitation's)."""
    return (text_in_a_mail(name) or None) if name else None


def text_in_a_mail(text: str) -> str:
    """Text someone typed for a mail to show (a person's name, a workspace's): on one line,
    without a bidirectional override, never as a link."""
    return unlinked(one_line(text, DISPLAY_NAME_MAX))


async def rename(session: AsyncSession, user_id: uuid.UUID, value: str) -> str | None:
    """Set the account's display name from ``value`` (``display_name``); the name stored."""
    name = display_name(value)
    await set_tenant(session, user_id=user_id)
    if not await repo.set_name(session, user_id, name):
        raise NotFound("User not found")
    return name
