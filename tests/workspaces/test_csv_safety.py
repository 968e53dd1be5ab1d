"""Lead exports cannot smuggle spreadsheet formulas, however the formula is disguised.

Spreadsheets skip leading blanks (spaces, no-break and other Unicode spaces, invisible format
characters) and some read fullwidth or compatibility forms of ``=``/``+``/``-``/``@`` as the
ASCII ones. A cell that starts like a formula once those are looked through gets a leading
apostrophe (shown as text); everything else is exported as it was stored.
"""

from __future__ import annotations

import csv
import io
import unicodedata

import httpx
import pytest

from tests.conftest import Owner
from tests.widget.test_widget_leads import submit
from workspaces.csv_cells import csv_safe

DISGUISED = [
    "=1+1",
    " =1+1",  # a leading space
    '   =HYPERLINK("http://evil.example","x")',
    "\u00a0=1+1",  # no-break space
    "\u2007=1+1",  # figure space
    "\u3000=1+1",  # ideographic space
    "\u200b=1+1",  # zero-width space
    "\ufeff=1+1",  # byte order mark
    "\u00a0 \u200b\u2003=1+1",  # several of them
    "\uff1d1+1",  # fullwidth equals sign
    "\ufe661+1",  # small equals sign
    "\uff0bcmd|' /C calc'!A0",  # fullwidth plus
    "\uff0d2+3",  # fullwidth hyphen-minus
    "\uff20SUM(A1:A9)",  # fullwidth commercial at
    " \uff1dcmd|' /C calc'!A0",  # a space, then fullwidth equals
    "+1 555 0100",
    "-2+3",
    "@SUM(A1)",
    "|calc",
    "%0A=1",
]

PLAIN = [
    "Jane Customer",
    " Jane",  # a leading space before ordinary text stays as it is
    "\u00a0Jane",
    "jane@example.com",
    "1 + 1 = 2",
    "Call me: +1 555 0100",
    "\uff2aane",  # fullwidth letters are text
    "",
]


@pytest.mark.parametrize("value", DISGUISED)
def test_disguised_formulas_are_neutralised(value: str) -> None:
    assert csv_safe(value) == "'" + value


@pytest.mark.parametrize("value", PLAIN)
def test_ordinary_text_is_exported_unchanged(value: str) -> None:
    assert csv_safe(value) == value


# A spreadsheet whose list separator is ";" (Excel opens a .csv by the system's separator, ";"
# in much of Europe; LibreOffice's import dialog offers ";" and tab) splits a row at every ";"
# whatever the commas and quotes around it: the text after one is a cell of its own, read as a
# formula when it starts like one. Such a piece gets the apostrophe too.
SEPARATED = {
    "Jane;=cmd|' /C calc'!A0;": "Jane;'=cmd|' /C calc'!A0;",
    "Jane; =1+1": "Jane;' =1+1",
    "Jane;\u00a0\uff1d1+1": "Jane;'\u00a0\uff1d1+1",
    "Jane\t@SUM(A1)": "Jane\t'@SUM(A1)",
    "a;b;+1 555 0100": "a;b;'+1 555 0100",
    "=1+1;-2": "'=1+1;'-2",
    "\t=1+1": "'\t'=1+1",  # a cell of its own after the tab too
}
# A piece that starts with a quote: where ";" separates cells it is a quoted cell of its own,
# and a quoted cell is read as a formula all the same (the CSV writer doubles the quote: a
# spreadsheet reads ``""`` as an empty quoted part, the text after it as the cell's).
QUOTED_PIECES = {
    "Jane;\"=cmd|' /C calc'!A0\"": "Jane;'\"=cmd|' /C calc'!A0\"",
    'Jane;"=1+1': "Jane;'\"=1+1",
    'Jane; "" =1+1': 'Jane;\' "" =1+1',
    'a\t"@SUM(1)"': 'a\t\'"@SUM(1)"',
    'Hi\n"-2+3"': 'Hi\n\'"-2+3"',
}
SEPARATED_PLAIN = ["Mon; Tue", "10;20", "a;;b", "Jane;", "x\ty", 'a;"b"', 'Say "=" ;"hi"']


def spreadsheet_formula(cell: str) -> bool:
    """What a spreadsheet reads as a formula: =, +, - or @ (or a compatibility form of one)
    after any blanks."""
    for char in cell:
        if unicodedata.category(char) in ("Zs", "Cc", "Cf"):
            continue
        return unicodedata.normalize("NFKC", char)[:1] in ("=", "+", "-", "@")
    return False


@pytest.mark.parametrize(("value", "expected"), SEPARATED.items())
def test_a_formula_after_a_separator_is_neutralised(value: str, expected: str) -> None:
    assert csv_safe(value) == expected


@pytest.mark.parametrize(("value", "expected"), QUOTED_PIECES.items())
def test_a_quoted_formula_after_a_separator_is_neutralised(value: str, expected: str) -> None:
    assert csv_safe(value) == expected


@pytest.mark.parametrize("value", SEPARATED_PLAIN)
def test_separated_ordinary_text_is_unchanged(value: str) -> None:
    assert csv_safe(value) == value


def test_none_is_an_empty_cell() -> None:
    assert csv_safe(None) == ""


async def test_the_export_neutralises_disguised_formulas(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    names = {
        "space@example.com": " =1+1",
        "nbsp@example.com": "\u00a0=1+1",
        "fullwidth@example.com": '\uff1dHYPERLINK("http://evil.example")',
        "plain@example.com": "Jane Customer",
    }
    for email, name in names.items():
        created = await client.post(
            owner.url("/leads"), json={"email": email, "name": name}, headers=owner.headers
        )
        assert created.status_code == 201, created.text
    response = await client.get(owner.url("/leads/export"), headers=owner.headers)
    assert response.status_code == 200
    rows = {r["email"]: r["name"] for r in csv.DictReader(io.StringIO(response.text))}
    assert rows["space@example.com"] == "' =1+1"
    assert rows["nbsp@example.com"] == "'\u00a0=1+1"
    assert rows["fullwidth@example.com"] == '\'\uff1dHYPERLINK("http://evil.example")'
    assert rows["plain@example.com"] == "Jane Customer"


async def test_a_visitors_lead_is_no_formula_in_a_semicolon_spreadsheet(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """A visitor's lead form, exported by the owner and opened where ";" separates cells: the
    piece after the visitor's ";" is no formula (it was: ``=cmd|' /C calc'!A0`` in a cell)."""
    row = await semicolon_export(
        client,
        owner,
        name="Jane;=cmd|' /C calc'!A0;",
        message="Hello;@SUM(1+1)*cmd|' /C calc'!A0;",
    )
    assert row["name"] == "Jane;'=cmd|' /C calc'!A0;"


async def semicolon_export(
    client: httpx.AsyncClient, owner: Owner, *, name: str, message: str
) -> dict[str, str]:
    """A visitor's lead of ``name`` and ``message``, exported: no cell is a formula where ";"
    separates cells; the lead's row read with commas, as before (the words with the
    apostrophes)."""
    sent = await submit(client, owner, email="semicolon@example.com", name=name, message=message)
    assert sent.status_code == 202, sent.text
    response = await client.get(owner.url("/leads/export"), headers=owner.headers)
    assert response.status_code == 200
    cells = [cell for row in csv.reader(io.StringIO(response.text), delimiter=";") for cell in row]
    assert [cell for cell in cells if spreadsheet_formula(cell)] == []
    [row] = list(csv.DictReader(io.StringIO(response.text)))
    return row


# A line break inside a cell is kept by a spreadsheet that reads the file with commas (the cell
# is quoted). One that reads it with ";" or tabs honours a quote only at the start of a cell of
# its own, and the row's first such cell starts with the lead's id: the quote before the
# visitor's words is mid-cell, the line break ends the row, and the text after it starts a row
# of its own, read as a formula when it starts like one.
BROKEN_LINES = {
    "Hello\n=cmd|' /C calc'!A0": "Hello\n'=cmd|' /C calc'!A0",
    "Hello\r\n@SUM(1+1)": "Hello\r\n'@SUM(1+1)",
    "Hello\r+1 555 0100": "Hello\r'+1 555 0100",
    "Hi\n \u00a0\uff1d1+1": "Hi\n' \u00a0\uff1d1+1",
    "\n=1+1": "'\n'=1+1",  # a cell of its own after the break too, as after a tab
    "\r=1+1": "'\r'=1+1",
}
BROKEN_LINES_PLAIN = ["Hello\nthere", "a\r\nb", "line one\n\nline two", "Hi\n"]


@pytest.mark.parametrize(("value", "expected"), BROKEN_LINES.items())
def test_a_formula_after_a_line_break_is_neutralised(value: str, expected: str) -> None:
    assert csv_safe(value) == expected


@pytest.mark.parametrize("value", BROKEN_LINES_PLAIN)
def test_lines_of_ordinary_text_are_unchanged(value: str) -> None:
    assert csv_safe(value) == value


async def test_a_visitors_lines_are_no_formula_in_a_semicolon_spreadsheet(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """A visitor's lead message of several lines, opened where ";" separates cells: the line
    after the break is a row of its own there, and no formula (it was: ``=cmd|...`` began a
    row)."""
    message = "Hello\n=cmd|' /C calc'!A0\r\n-2+3"
    row = await semicolon_export(client, owner, name="Jane", message=message)
    assert row["message"] == "Hello\n'=cmd|' /C calc'!A0\r\n'-2+3"


async def test_a_visitors_quoted_formula_is_none_in_a_semicolon_spreadsheet(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """The piece after the visitor's ";" starts with a quote: a quoted cell of its own where
    ";" separates cells, and no formula (it was: ``=cmd|...`` after the doubled quote)."""
    row = await semicolon_export(
        client, owner, name="Jane;\"=cmd|' /C calc'!A0\"", message='Hi\n"@SUM(1+1)"'
    )
    assert (row["name"], row["message"]) == (
        "Jane;'\"=cmd|' /C calc'!A0\"",
        'Hi\n\'"@SUM(1+1)"',
    )
