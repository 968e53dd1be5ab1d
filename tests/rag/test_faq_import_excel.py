"""An FAQ CSV saved by a spreadsheet with its defaults is read: Excel's "CSV" is Windows-1252
text (not UTF-8), its "Unicode Text" UTF-16 with a byte order mark and tabs, and in countries
where the comma is the decimal mark its CSV separates fields with ``;``. Each was refused with
422 ``invalid_csv`` ("must be UTF-8 text", or "the first row must name the columns question and
answer" for a ``question;answer`` header). What is neither still is, with the same code."""

from __future__ import annotations

import codecs
import uuid

import pytest

from api.runtime import Runtime
from core.errors import ValidationFailed
from rag.chat import faq_import
from tests.conftest import Owner
from tests.rag.test_faq_import_rows import run_import, stored


def _rows(sep: str, tag: str) -> str:
    return (
        f"question{sep}answer{sep}alt_questions\r\n"
        f'"Café opening hours {tag}?"{sep}"Nine to five; closed on Sundays, €2 parking."{sep}'
        f'"When is the café open {tag}?|Öffnungszeiten {tag}?"\r\n'
        f'Refunds {tag}?{sep}"“Within 14 days”, with the receipt."{sep}\r\n'
    )


@pytest.mark.parametrize(
    ("encoding", "sep"),
    [
        ("cp1252", ","),  # Excel's "CSV (Comma delimited)"
        ("cp1252", ";"),  # the same where the comma is the decimal mark
        ("utf-16", "\t"),  # "Unicode Text" (a byte order mark, then UTF-16)
        ("utf-16", ","),
        ("utf-16-be-bom", ";"),
        ("utf-32", ","),  # UTF-32 with its byte order mark (little-endian here)
        ("utf-32", "\t"),
        ("utf-32-be-bom", ";"),
        ("utf-8-sig", ";"),  # "CSV UTF-8" in a European locale
        ("utf-8", "\t"),
    ],
)
def test_spreadsheet_encodings_and_separators_are_read(encoding: str, sep: str) -> None:
    tag = uuid.uuid4().hex[:8]
    text = _rows(sep, tag)
    if encoding == "utf-16-be-bom":
        data = codecs.BOM_UTF16_BE + text.encode("utf-16-be")
    elif encoding == "utf-32-be-bom":
        data = codecs.BOM_UTF32_BE + text.encode("utf-32-be")
    else:
        data = text.encode(encoding)
    items = faq_import.parse(data)
    assert [(i.question, i.answer, i.alt_questions) for i in items] == [
        (
            f"Café opening hours {tag}?",
            "Nine to five; closed on Sundays, €2 parking.",
            [f"When is the café open {tag}?", f"Öffnungszeiten {tag}?"],
        ),
        (f"Refunds {tag}?", "“Within 14 days”, with the receipt.", []),
    ]


async def test_a_windows_1252_semicolon_file_is_imported(runtime: Runtime, owner: Owner) -> None:
    tag = uuid.uuid4().hex[:8]
    result = await run_import(runtime, owner, _rows(";", tag).encode("cp1252"))
    assert (result.created, result.updated) == (2, 0)
    assert await stored(runtime, owner) == {
        f"Café opening hours {tag}?": "Nine to five; closed on Sundays, €2 parking.",
        f"Refunds {tag}?": "“Within 14 days”, with the receipt.",
    }


@pytest.mark.parametrize(
    ("data", "says"),
    [
        # Bytes Windows-1252 leaves undefined (0x81): no text encoding this import reads.
        (b"question,answer\nWhat \x81?,Nothing.\n", "UTF-8, UTF-16 or Windows-1252"),
        # A UTF-16 byte order mark on bytes that are no UTF-16 (an odd length).
        (codecs.BOM_UTF16_LE + "question,answer\n".encode("utf-16-le") + b"\x00", "UTF-16"),
        # A UTF-32 byte order mark on bytes that are no UTF-32 (not a multiple of four).
        (codecs.BOM_UTF32_LE + "question,answer\n".encode("utf-32-le") + b"\x00\x00", "UTF-32"),
        (codecs.BOM_UTF32_BE + "question,answer\n".encode("utf-32-be")[:-1], "UTF-32"),
        # A UTF-8 byte order mark on bytes that are no UTF-8.
        (codecs.BOM_UTF8 + b"question,answer\nWhat \xe9?,Nothing.\n", "UTF-8"),
        # No separator this import knows names both columns.
        (b"question|answer\nWhat?|Nothing.\n", "question and answer"),
    ],
)
def test_what_is_no_readable_csv_is_still_refused(data: bytes, says: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        faq_import.parse(data)
    assert refused.value.code == "invalid_csv"
    assert says in refused.value.message


def test_the_row_limit_holds_whatever_the_separator() -> None:
    rows = "".join(f"Question {n}?;Answer {n}.\n" for n in range(faq_import.MAX_ROWS + 1))
    with pytest.raises(ValidationFailed) as refused:
        faq_import.parse(("question;answer\n" + rows).encode("cp1252"))
    assert refused.value.code == "invalid_csv"
    assert f"At most {faq_import.MAX_ROWS}" in refused.value.message


def test_a_field_past_the_csv_field_limit_is_refused_in_utf16() -> None:
    big = "x" * (128 * 1024 + 1)
    data = f'question\tanswer\n"Big?"\t"{big}"\n'.encode("utf-16")
    with pytest.raises(ValidationFailed) as refused:
        faq_import.parse(data)
    assert refused.value.code == "invalid_csv"
    assert "field larger than field limit" in refused.value.message


@pytest.mark.parametrize("separator", [",", ";", "\t"])
def test_a_header_past_the_csv_field_limit_is_refused(separator: str) -> None:
    """The header row is read before the rows: a field of it past the limit (an unclosed
    quote on the first line, which runs to the end of the file) raised csv.Error out of the
    import, a 500 on the dashboard's FAQs page."""
    big = "x" * (128 * 1024 + 1)
    for header in (f'"{big}"{separator}answer', f'"question{separator}answer'):
        data = f"{header}\nTea?{separator}{big}\n".encode()
        with pytest.raises(ValidationFailed) as refused:
            faq_import.parse(data)
        assert refused.value.code == "invalid_csv"
        assert "field larger than field limit" in refused.value.message


@pytest.mark.parametrize(
    "bad",
    [
        b"\xe9",  # one Latin-1 byte pasted into a UTF-8 file
        b"\xc3",  # a character cut in half (the file truncated by an editor, a copy)
    ],
)
def test_a_utf8_file_with_one_bad_byte_is_refused_naming_its_line(bad: bytes) -> None:
    """A UTF-8 file (it holds UTF-8's multi-byte characters) with one byte that is no UTF-8
    is refused, naming the line: read as Windows-1252 instead, it was imported with every
    ``é`` of it stored as ``Ã©``, and no word said so."""
    tag = uuid.uuid4().hex[:8]
    good = (
        f"question,answer\r\nCafé opening hours {tag}?,Nine to five, €2 parking.\r\n"
        f'Öffnungszeiten {tag}?,"Neun bis\r\nfünf."\r\n'
    ).encode()
    data = good + f"Delivery {tag}?,".encode() + b"Two days" + bad + b" at most.\r\n"
    with pytest.raises(ValidationFailed) as refused:
        faq_import.parse(data)
    assert refused.value.code == "invalid_csv"
    assert "UTF-8" in refused.value.message
    assert "line 5" in refused.value.message
    assert refused.value.details == [{"line": 5, "message": "not UTF-8"}]


def test_a_windows_1252_file_with_a_utf8_looking_pair_is_still_read() -> None:
    """Windows-1252 text is not taken for UTF-8 because two of its characters happen to make
    one UTF-8 character ("Â£" is the bytes of "£" in UTF-8): most of its letters are no UTF-8."""
    tag = uuid.uuid4().hex[:8]
    text = f"question,answer\r\nCafé crème {tag}?,Déjà vu: Â£ à côté.\r\n"
    items = faq_import.parse(text.encode("cp1252"))
    assert [(i.question, i.answer) for i in items] == [
        (f"Café crème {tag}?", "Déjà vu: Â£ à côté.")
    ]


@pytest.mark.parametrize(
    ("encoding", "line", "sep"),
    [
        ("cp1252", "sep=;", ";"),  # saved for Excel where the comma is the decimal mark
        ("utf-8-sig", "sep=;", ";"),
        ("utf-8", "SEP=,", ","),
        ("utf-16", "sep=\t", "\t"),
        ("cp1252", '"sep=;"', ";"),  # the line quoted by a tool that quotes every field
    ],
)
def test_excels_sep_line_names_the_separator_and_is_no_header(
    encoding: str, line: str, sep: str
) -> None:
    """A first line ``sep=;`` (what a file saved for Excel starts with, so that Excel splits
    it on ``;``) tells the separator; the header is the line after it. The file was refused:
    "The first row must name the columns question and answer"."""
    tag = uuid.uuid4().hex[:8]
    items = faq_import.parse((line + "\r\n" + _rows(sep, tag)).encode(encoding))
    assert [(i.question, i.answer) for i in items] == [
        (f"Café opening hours {tag}?", "Nine to five; closed on Sundays, €2 parking."),
        (f"Refunds {tag}?", "“Within 14 days”, with the receipt."),
    ]


def test_a_wrong_row_after_a_sep_line_is_named_as_the_spreadsheet_numbers_it() -> None:
    """Excel hides the ``sep=`` line: its row 1 is the header, so the rows are numbered from
    there."""
    tag = uuid.uuid4().hex[:8]
    data = f"sep=;\nquestion;answer\nHours {tag}?;Nine to five.\n???;Marks.\n".encode()
    with pytest.raises(ValidationFailed) as refused:
        faq_import.parse(data)
    assert refused.value.code == "invalid_csv"
    assert [p["row"] for p in refused.value.details] == [3]


async def test_a_file_with_a_sep_line_is_imported(runtime: Runtime, owner: Owner) -> None:
    tag = uuid.uuid4().hex[:8]
    result = await run_import(runtime, owner, ("sep=;\r\n" + _rows(";", tag)).encode("cp1252"))
    assert (result.created, result.updated) == (2, 0)
    assert await stored(runtime, owner) == {
        f"Café opening hours {tag}?": "Nine to five; closed on Sundays, €2 parking.",
        f"Refunds {tag}?": "“Within 14 days”, with the receipt.",
    }
