"""SQL of finding a visitor's address or number written in free text (lifecycle/erasure.py):
the chat messages, the forms' and the leads' messages an erasure by email or phone reads. Split
from ``erasure_repository.py`` when it passed 490 lines."""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import ColumnElement, Text, and_, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.text import lowered_as_postgres
from rag.chat.contact_details import emails_in, phones_in
from workspaces.lead_repository import phone_key, same_number


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
    typed = [(row_key, number) for row_key, body in result.all() for number in phones_in(body)]
    if not typed:
        return set()
    numbers = sorted({number for _, number in typed})
    same = (
        await session.execute(
            select(
                *(
                    same_number(literal(n, Text), phone).label(f"n{i}")
                    for i, n in enumerate(numbers)
                )
            )
        )
    ).one()
    kept = {number for number, alike in zip(numbers, same, strict=True) if alike}
    return {row_key for row_key, number in typed if number in kept}
