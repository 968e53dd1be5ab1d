"""CSV cells a spreadsheet cannot run: every CSV the app writes (leads, conversations,
unanswered questions, the workspace export's) passes each cell through ``csv_safe``."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

_FORMULA_START = ("=", "+", "-", "@", "|", "%")
_CONTROL_START = ("\t", "\r", "\n")
# Where a spreadsheet set to another list separator starts a cell inside one of ours: at its
# separator, and at a line break (it honours a quote only at the start of its own cell, and the
# quote before a cell of ours with a line break is mid-cell there: the break ends its row).
_SEPARATORS = re.compile(r"([;\t\r\n])")
# What a spreadsheet skips before a formula: spaces of every kind, controls, invisible formats.
_BLANK_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf"})


def _looks_like_formula(text: str, *, quoted: bool = False) -> bool:
    """Whether ``text`` starts like a formula once leading blanks (and with ``quoted``, quotes)
    are skipped and compatibility forms (fullwidth U+FF1D, small U+FE66 equals...) are read as
    ASCII (NFKC)."""
    for char in text:
        if unicodedata.category(char) in _BLANK_CATEGORIES or (quoted and char == '"'):
            continue
        return unicodedata.normalize("NFKC", char).startswith(_FORMULA_START)
    return False


def csv_safe(value: object) -> str:
    """Neutralise spreadsheet formulas (CSV injection): a leading apostrophe makes them text,
    including formulas behind leading spaces or invisible characters and fullwidth forms. A
    spreadsheet whose list separator is ``;`` (Excel in much of Europe; LibreOffice's import
    offers ``;`` and tab) starts a cell after every ``;`` or tab of a row, whatever the commas
    and quotes around it: a piece after one that starts like a formula gets its apostrophe too
    (``Jane;=cmd|...`` was a formula in the cell after ``Jane``). So does a piece after a line
    break: there the break ends the row (``Hello\\n=cmd|...`` began a row with a formula).
    Such a piece is looked at behind its quotes too: a cell of its own that starts with one is
    a quoted cell there, read as a formula all the same (``Jane;"=cmd|..."``)."""
    if value is None:
        return ""
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    if text.startswith(_CONTROL_START) or _looks_like_formula(text):
        text = "'" + text
    if not _SEPARATORS.search(text):
        return text
    pieces = _SEPARATORS.split(text)  # text, separator, text, separator...
    for i in range(2, len(pieces), 2):
        if _looks_like_formula(pieces[i], quoted=True):
            pieces[i] = "'" + pieces[i]
    return "".join(pieces)
