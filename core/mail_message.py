"""How an outbox message is written for the wire: its headers and parts (``build_message``),
the recipient's domain in ASCII, the bytes sent (``flatten``) and each part's transfer encoding.
No I/O: core/mail.py's Mailer sends what this builds."""

from __future__ import annotations

import email.policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

import idna

from core import mail_repository as repo

_UTF8 = email.policy.default.clone(utf8=True)


def deliverable_address(address: str) -> str:
    """``address`` with its domain in ASCII (IDNA: exämple.com -> xn--exmple-cua.com), which
    every mail server takes; the local part is left as it is."""
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii():
        return address
    try:
        # IDNA 2008 with UTS 46, as the address was checked at sign-up: Python's own "idna"
        # codec is IDNA 2003, which maps fußball.de to fussball.de, another domain.
        return f"{local}@{idna.encode(domain, uts46=True).decode('ascii')}"
    except idna.IDNAError:
        return address  # sent as written (UTF-8, SMTPUTF8), never to a look-alike


MAX_LINE = 998
"""The longest line SMTP carries (RFC 5322 2.1.1, without CRLF); a server may refuse a longer
one (``500 Line too long``)."""


def flatten(message: EmailMessage) -> bytes:
    """The message as it goes out (CRLF lines). Headers are folded at 998 octets, not at 78
    columns: a long header without spaces (List-Unsubscribe's URL) was rewritten as
    =?utf-8?q?...?= words at 78, which mail clients do not read as the URL, so their one-click
    unsubscribe did not work. Never unfolded: a Subject with a long non-ASCII name (a lead's,
    200 emoji) was one line of 1100 octets, which servers refuse, so the mail never went out."""
    policy = email.policy.SMTPUTF8 if getattr(message.policy, "utf8", False) else email.policy.SMTP
    return message.as_bytes(policy=policy.clone(max_line_length=MAX_LINE))


def build_message(row: repo.OutboxRow, *, mail_from: str, reply_to: str | None) -> EmailMessage:
    recipient = deliverable_address(row.recipient)
    # A non-ASCII local part (jösé@...) is written as UTF-8 (RFC 6531; the SMTP server must
    # offer SMTPUTF8): the default policy encoded it as =?utf-8?...?=, which no mail
    # system reads as an address.
    message = EmailMessage(policy=_UTF8 if not recipient.isascii() else email.policy.default)
    message["From"] = mail_from
    message["To"] = recipient
    if reply_to:
        message["Reply-To"] = reply_to
    message["Subject"] = row.subject
    message["Date"] = format_datetime(row.created_at)
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid(idstring=row.id.hex, domain=domain)
    message["X-TrulyBot-Mail-Id"] = str(row.id)
    for name, value in (row.headers or {}).items():
        message[name] = value
    # Plain 7bit when it can be (a person reading the .eml sees the links whole), else QP.
    message.set_content(row.text_body, cte=transfer_encoding(row.text_body))
    if row.html_body:
        message.add_alternative(row.html_body, subtype="html", cte=transfer_encoding(row.html_body))
    return message


def transfer_encoding(body: str) -> str:
    # The lines as the encoder writes them (CR and LF only): str.splitlines() also split on a
    # form feed or a vertical tab, so "&\x0c" * 250 in a lead's message looked short while its
    # HTML part was one line of 1500 octets, which the server refused.
    plain = body.isascii() and all(len(line) < 990 for line in body.encode().splitlines())
    return "7bit" if plain else "quoted-printable"
