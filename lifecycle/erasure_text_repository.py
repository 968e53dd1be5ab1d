"""SQL of finding a visitor's address or number written in free text (lifecycle/erasure.py):
the chat messages, the forms' and the leads' messages an erasure by email or phone reads, and
of taking it out of the texts the erasure keeps (``redact_written``). Split from
``erasure_repository.py`` when it passed 490 lines."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Text, and_, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from core.text import lowered_as_postgres
from rag.chat.contact_details import (
    EMAIL_IN_TEXT,
    PHONE_IN_TEXT,
    emails_in,
    phone_matches,
)
from workspaces.lead_repository import phone_key, same_number
from workspaces.models import Lead, LeadSubmission


class Key(Protocol):
    """The address or the number an erasure names (``erasure_repository.Named``): one of the
    two is set."""

    @property
    def email(self) -> str | None: ...

    @property
    def phone(self) -> str | None: ...


async def holding(
    session: AsyncSession,
    named: Key,
    key_column: Any,
    text_column: Any,
    *where: ColumnElement[bool],
) -> set[Any]:
    """``key_column`` of the rows whose ``text_column`` holds the visitor's address (any case,
    ``_holding_email``) or number (however written, ``_holding_phone``)."""
    if named.phone is not None:
        return await _holding_phone(session, named.phone, key_column, text_column, *where)
    assert named.email is not None
    return await _holding_email(session, named.email, key_column, text_column, *where)


async def _holding_email(
    session: AsyncSession,
    email: str,
    key_column: Any,
    text_column: Any,
    *where: ColumnElement[bool],
) -> set[Any]:
    """``key_column`` of the rows whose ``text_column`` holds ``email`` in any case, as the
    chat's own detection reads an address (``emails_in``), so ``jo@example.com`` never
    matches ``ajo@example.com`` or ``jo@example.com.au``."""
    # As the database lowers the texts and emails_in what it finds: Python's lower made a
    # capital sigma ending the local part "ς" and "İ" two characters, found in no text.
    email = lowered_as_postgres(email)
    result = await session.execute(
        select(key_column, text_column).where(
            *where, func.strpos(func.lower(text_column), email) > 0
        )
    )
    return {key for key, body in result.all() if email in emails_in(body)}


NUMBER_SIGNS = " ().-\u00a0"
"""What separates a phone number's digits as the chat reads one (``contact_details.phones_in``)."""
_DIGIT_ZEROS: tuple[int, ...] = (0x0660, 0x06F0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66)
_DIGIT_ZEROS += (0x0BE6, 0x0C66, 0x0CE6, 0x0D66, 0x0E50, 0xFF10)
"""The digits besides ASCII's a visitor may type a number in, as the chat reads them
(``phones_in``: any decimal digit): Arabic-Indic and Persian, the Indian scripts (Devanagari,
Bengali, Gurmukhi, Gujarati, Oriya, Tamil, Telugu, Kannada, Malayalam), Thai and fullwidth."""
OTHER_DIGITS = "".join(chr(zero + d) for zero in _DIGIT_ZEROS for d in range(10))
AS_ASCII = "0123456789" * len(_DIGIT_ZEROS)
NUMBER_MARKS = "[" + "".join(f"{chr(zero)}-{chr(zero + 9)}" for zero in _DIGIT_ZEROS) + "]"
"""A regular expression's class of ``OTHER_DIGITS``: only the messages that hold any are read
again with them made ASCII (``translate`` with 130 more characters to look for took 27 times as
long over every message: 8.2 s against 0.3 s for 100,000; the two passes, 0.5 s)."""


def _digits_of(text: Any, *, other_digits: bool) -> ColumnElement[str]:
    """``text`` without the signs a number is written with; ``other_digits``: its digits of
    other scripts made ASCII too."""
    if other_digits:
        return func.translate(text, OTHER_DIGITS + NUMBER_SIGNS, AS_ASCII)
    return func.translate(text, NUMBER_SIGNS, "")


async def _holding_phone(
    session: AsyncSession,
    phone: str,
    key_column: Any,
    text_column: Any,
    *where: ColumnElement[bool],
) -> set[Any]:
    """``key_column`` of the rows whose ``text_column`` holds ``phone`` however written: the
    texts that hold its national number once the signs a number is written with
    (``NUMBER_SIGNS``) are taken out (and digits of other scripts made ASCII, in the texts
    holding any), then each number the chat's own detection reads in them (``phones_in``)
    compared as leads are (``same_number``), so "98765 43210" never matches "498765 43210",
    "98765 432101" or "+44 98765 43210" when erasing "+91 98765 43210". ``translate``, not a
    regular expression: 0.3-0.5 s for 100,000 messages here, where ``regexp_replace`` took 4-6
    s (the address's scan: 0.16-0.2 s; docs/benchmarks.md, ``bench/erasure_phone_scan.py``)."""
    key = (await session.execute(select(phone_key(literal(phone, Text))))).scalar_one()
    if not key:
        return set()
    result = await session.execute(
        select(key_column, text_column).where(
            *where,
            or_(
                func.strpos(_digits_of(text_column, other_digits=False), key) > 0,
                and_(
                    text_column.op("~")(NUMBER_MARKS),
                    func.strpos(_digits_of(text_column, other_digits=True), key) > 0,
                ),
            ),
        )
    )
    rows = result.all()
    kept = await same_numbers(session, readings(body for _, body in rows), phone)
    return {row_key for row_key, body in rows if number_spans(body, kept)}


def _cuts(written: str) -> list[int]:
    """Where a stretch written like a number (``contact_details.PHONE_IN_TEXT``: digits and
    the signs between them, however many digits) may end: after each of its digits followed by
    a sign, the whole first."""
    ends = range(len(written) - 1, 0, -1)
    return [len(written), *(i for i in ends if written[i - 1].isdigit() > written[i].isdigit())]


def _as_number(written: str) -> str | None:
    """``written`` as the chat reads a number (``phone_matches``) when all of it is one."""
    for match, number in phone_matches(written):
        return number if match.span() == (0, len(written)) else None
    return None


def readings(texts: Iterable[str]) -> set[str]:
    """Every number ``number_spans`` may compare with the visitor's in ``texts``."""
    seen: set[str] = set()
    found: set[str] = set()
    pending = [m[0] for text in texts for m in PHONE_IN_TEXT.finditer(text)]
    while pending:
        if (written := pending.pop()) in seen:
            continue
        seen.add(written)
        for end in _cuts(written):
            if (number := _as_number(written[:end])) is not None:
                found.add(number)
            pending += [m[0] for m in PHONE_IN_TEXT.finditer(written[end:])]
    return found


def number_spans(text: str, numbers: set[str]) -> list[tuple[int, int]]:
    """Where ``text`` holds one of ``numbers`` (the visitor's, as ``phone_matches`` reads
    them): each stretch written like a number read from its start, the longest that is one of
    them first, then what follows it the same way ("98765 43210 (2 demos)", "98765 43210
    98765 43210": before, read whole, no number or another). A stretch that does not start with
    one (``+44 98765 43210 4``) holds none."""
    spans: list[tuple[int, int]] = []
    for match in PHONE_IN_TEXT.finditer(text):
        at, written = match.start(), match[0]
        while written:
            end = next((e for e in _cuts(written) if _as_number(written[:e]) in numbers), 0)
            if not end:
                break
            spans.append((at, at + end))
            rest = next(PHONE_IN_TEXT.finditer(written[end:]), None)
            if rest is None:
                break
            at, written = at + end + rest.start(), rest[0]
    return spans


SAME_NUMBERS_BATCH = 500
"""The numbers ``same_numbers`` compares in one statement, a column each: PostgreSQL takes at
most 1,664 columns (and a statement at most 32,767 parameters, five a number here); the owner's
notes holding a call list passed it (500 "internal_error")."""


async def same_numbers(session: AsyncSession, numbers: Collection[str], phone: str) -> set[str]:
    """Of ``numbers`` (as ``phones_in`` reads them), those that are ``phone``, compared as
    leads' numbers are (``same_number``), ``SAME_NUMBERS_BATCH`` to a statement."""
    ordered = sorted(set(numbers))
    found: set[str] = set()
    for at in range(0, len(ordered), SAME_NUMBERS_BATCH):
        batch = ordered[at : at + SAME_NUMBERS_BATCH]
        same = (
            await session.execute(
                select(
                    *(
                        same_number(literal(n, Text), phone).label(f"n{i}")
                        for i, n in enumerate(batch)
                    )
                )
            )
        ).one()
        found |= {number for number, alike in zip(batch, same, strict=True) if alike}
    return found


REDACTED = "[erased]"
"""What an erasure writes in place of the visitor's address (number) in a text it keeps: no
digit and no "@", so it never reads as part of an address or a number."""
REDACTED_COUNTS = (
    "redacted_leads",
    "redacted_lead_submissions",
    "redacted_messages",
    "redacted_unanswered_questions",
)
"""The erasure's counts of the rows it kept and rewrote (``redact_written``; the messages and
the unanswered questions of the conversations an erasure by phone keeps,
``erasure_named_repository.redact_conversations``)."""


@dataclass(frozen=True)
class Redacted:
    """What ``redact_written`` rewrote."""

    counts: dict[str, int]
    """How many rows of each kind were rewritten (``REDACTED_COUNTS``)."""
    quoted_leads: set[uuid.UUID]
    """The leads whose message, or one of whose submissions' message, lost the address
    (number): the owners' mails about them quote it ("New lead", ``mail_repo.forget_about``)."""


_TEXTS: dict[type[Lead] | type[LeadSubmission], tuple[str, ...]] = {
    Lead: ("name", "message", "notes"),
    LeadSubmission: ("name", "message"),
}
"""The free texts of the leads and the submissions an erasure keeps that may hold the
visitor's address (number): the name too (a visitor who typed theirs in the form's name field,
an owner who named a lead by it; before, it outlived the erasure there)."""


def _joined(model: type[Lead] | type[LeadSubmission]) -> Any:
    """The ``_TEXTS`` of ``model`` as one text for one scan, joined by a line break."""
    return func.concat_ws("\n", *(getattr(model, field) for field in _TEXTS[model]))


async def redact_written(session: AsyncSession, *, workspace_id: uuid.UUID, named: Key) -> Redacted:
    """The visitor's address (number) taken out of what an erasure keeps, once it has deleted
    what was theirs: the names and the messages of the leads and the submissions left (a form
    or a lead filed under another address or number that names the visitor's, "my colleague
    jo@example.com wants a demo too", or that they typed as their name), and the owner's notes
    on any lead of the workspace. Each occurrence ``holding`` reads (an address in any case,
    never ``ajo@...`` or ``...com.au``; a number however written, never a longer one or another
    country's) becomes ``REDACTED``, the rest of the text as it was. The rows are locked by id,
    after the leads the erasure locked, and read again once locked (a form or the owner writing
    to one is waited for)."""
    # The name, the message and the notes read in one scan: joined by a line break, which no
    # address or number spans (the rows found are then read field by field).
    leads = await holding(session, named, Lead.id, _joined(Lead), Lead.workspace_id == workspace_id)
    submissions = await holding(
        session,
        named,
        LeadSubmission.id,
        _joined(LeadSubmission),
        LeadSubmission.workspace_id == workspace_id,
    )
    lead_rows, quoted = await _redact(session, named, workspace_id, Lead, Lead.id, leads)
    submission_rows, quoted_by_forms = await _redact(
        session, named, workspace_id, LeadSubmission, LeadSubmission.lead_id, submissions
    )
    return Redacted(
        counts={"redacted_leads": lead_rows, "redacted_lead_submissions": submission_rows},
        quoted_leads=quoted | quoted_by_forms,
    )


async def _redact(
    session: AsyncSession,
    named: Key,
    workspace_id: uuid.UUID,
    model: type[Lead] | type[LeadSubmission],
    lead_column: Any,
    ids: set[Any],
) -> tuple[int, set[uuid.UUID]]:
    """Rewrite the texts (``_TEXTS``) of the rows ``ids`` of ``model`` without the visitor's
    address (number): how many changed, and the leads (``lead_column``) of those whose name
    or message changed (what a "New lead" mail quotes)."""
    changed = await redact_rows(
        session,
        named,
        model.id,
        _TEXTS[model],
        model.workspace_id == workspace_id,
        model.id.in_(sorted(ids)),
        also=(lead_column,),
    )
    quoted = {
        lead_id
        for (lead_id,), fields in changed
        if fields & {"name", "message"} and lead_id is not None
    }
    return len(changed), quoted


async def redact_rows(
    session: AsyncSession,
    named: Key,
    key: InstrumentedAttribute[Any],
    fields: tuple[str, ...],
    *where: Any,
    also: tuple[Any, ...] = (),
) -> list[tuple[tuple[Any, ...], set[str]]]:
    """Rewrite ``fields`` of the rows (``where``) of the model whose key is ``key`` without the
    visitor's address (number) (``redacted``), the rows locked by their key, in its order: for
    each row that changed, its ``also`` columns and the fields that changed."""
    model = key.class_
    rows = (
        await session.execute(
            select(key, *also, *(getattr(model, field) for field in fields))
            .where(*where)
            .order_by(key)
            .with_for_update()
        )
    ).all()
    first_text = 1 + len(also)
    numbers: set[str] = set()
    if named.phone is not None:
        typed = readings(text for row in rows for text in row[first_text:] if text)
        numbers = await same_numbers(session, typed, named.phone)
    # A name's column is 200 characters: a short address (number) made "[erased]" may pass it.
    limits = [getattr(model, field).type.length for field in fields]
    changed: list[tuple[tuple[Any, ...], set[str]]] = []
    for row in rows:
        texts = row[first_text:]
        values = {
            field: kept
            for field, limit, text in zip(fields, limits, texts, strict=True)
            if text and (kept := redacted(text, named, numbers, limit)) != text
        }
        if values:
            await session.execute(update(model).where(key == row[0]).values(**values))
            changed.append((tuple(row[1:first_text]), set(values)))
    return changed


def redacted(text: str, named: Key, numbers: set[str], limit: int | None = None) -> str:
    """``text`` with ``REDACTED`` where it holds the visitor's address (as ``emails_in`` reads
    one, lowered as PostgreSQL lowers) or one of their ``numbers`` (as ``phones_in`` reads
    one); at most ``limit`` characters (``_fitted``)."""
    if named.email is not None:
        email = lowered_as_postgres(named.email)
        found = EMAIL_IN_TEXT.finditer(text)
        spans = [m.span() for m in found if lowered_as_postgres(m[0]) == email]
    else:
        spans = number_spans(text, numbers)
    if not spans:
        return text
    starts, ends = [0, *(end for _, end in spans)], [*(start for start, _ in spans), len(text)]
    return _fitted([text[at:to] for at, to in zip(starts, ends, strict=True)], limit)


def _fitted(pieces: list[str], limit: int | None) -> str:
    """``pieces`` (the text around the visitor's address or number) joined by ``REDACTED``,
    cut to ``limit`` characters where the longest piece ends (before its trailing spaces), the
    marks whole: "[erased]" is longer than the shortest address (``q@x.io``) or number (7
    digits), and a name of 200 characters, its column's most, holding one passed it (the
    erasure failed: 500)."""
    excess = len(REDACTED) * (len(pieces) - 1) + sum(map(len, pieces)) - (limit or 0)
    if limit is not None and excess > 0:
        longest = max(range(len(pieces)), key=lambda i: len(pieces[i]))
        piece = pieces[longest]
        kept = piece.rstrip()
        pieces[longest] = kept[: max(len(kept) - excess, 0)] + piece[len(kept) :]
    return REDACTED.join(pieces)[:limit]
