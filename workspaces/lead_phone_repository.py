"""SQL expressions comparing leads' phone numbers (migration 0045's functions): moved verbatim
from workspaces/lead_repository.py, which re-exports them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, ColumnElement, Text, and_, func, literal, literal_column

_PHONE_KEY: ColumnElement[str] = literal_column("tb_phone_key(phone)")
"""A lead's national number (migration 0045's ``tb_phone_key``: the digits without an
international prefix, its country code or a trunk "0"), as the migration's index has it:
written out, not bound (PostgreSQL matches an index by its expression)."""
_PHONE_COUNTRY: ColumnElement[str] = literal_column("tb_phone_country(phone)")
"""The country code a lead's number was written with, '' for none (``tb_phone_country``): the
index's second expression."""
_PHONE_DIGITS: ColumnElement[str] = literal_column("regexp_replace(phone, '[^0-9]', '', 'g')")
"""A lead's number by its digits alone (a search for part of a number as written)."""


def phone_key(value: Any) -> ColumnElement[str]:
    """The national number of ``value`` as ``tb_phone_key`` reads it (migration 0045): the one
    rule the index, the search and a visitor's erasure compare numbers by."""
    return func.tb_phone_key(value, type_=Text)


def phone_country(value: Any) -> ColumnElement[str]:
    """The country code ``value`` was written with (after "+" or "00"), '' for none: migration
    0045's ``tb_phone_country``."""
    return func.tb_phone_country(value, type_=Text)


def same_number(column: Any, phone: str) -> ColumnElement[bool]:
    """The rows whose number (``column``) is ``phone``: migration 0045's ``tb_same_phone`` (the
    same national number, and the same country code unless either was written without one;
    "+44 7911 123456" is "07911 123456" and "7911 123456", never "+91 79111 23456", a Delhi
    mobile with the same digits; "+39 0331 234567" is "0331 234567", never "+39 331 234567"),
    after the national numbers it can be, which the index finds: ``phone``'s own, its digits
    (a number without a country code that Italy reads whole), or its own without a leading
    "0" (an Italian one matching a number written without "+39")."""
    ours = literal(phone, Text)
    national = phone_key(column)
    return and_(
        national.in_([phone_key(ours), _digits(ours), phone_key(phone_key(ours))]),
        func.tb_same_phone(column, ours, type_=Boolean),
    )


def nearest_number_first(column: Any, phone: str) -> tuple[ColumnElement[bool], ...]:
    """The order of the rows ``same_number`` finds for ``phone``, the nearest first: the one
    whose national number is ``phone``'s digits whole (written without a country code,
    "0331 234567" is "+39 0331 234567", the landline Italy reads with its "0", before "331
    234567", a mobile typed without "+39" that it matches only with the "0" read as a trunk
    prefix: two numbers both without a country code are compared so), then the one with the
    same country code ('' for none)."""
    ours = literal(phone, Text)
    return (
        (phone_key(column) == _digits(ours)).desc(),
        (phone_country(column) == phone_country(ours)).desc(),
    )


def _digits(value: Any) -> ColumnElement[str]:
    return func.regexp_replace(value, "[^0-9]", "", "g", type_=Text)
