"""An HTML page is decoded in the HTML standard's order (encoding sniffing): its byte order
mark first, then the charset its Content-Type names, then its own declaration, in which UTF-16
means UTF-8 (the bytes that say so are ASCII, so not UTF-16) and UTF-32, no label of the
standard, is passed over, as UTF-7 is wherever it is named (the standard forbids it).

A page with a UTF-16 byte order mark served as ``charset=utf-8`` (a server's default for every
``.html``) was read as UTF-8: a NUL between letters, the title the file's name. A UTF-8 page
with its byte order mark served as ``charset=windows-1252`` was read as mojibake ("TÃ¯tle").
An ASCII page whose ``<meta charset>`` says ``utf-16`` (a template copied from a UTF-16 file)
was read as UTF-16: CJK garbage ("格浴㹬...") where the page had English."""

from __future__ import annotations

import uuid

import pytest

from rag.knowledge.parsing import parse


def _page(head: str = "") -> tuple[str, str, str]:
    """A page (its text, title and body), both with a non-ASCII letter."""
    title, body = f"Tïtle {uuid.uuid4().hex[:8]}", f"Hello wörld {uuid.uuid4().hex[:8]}"
    page = f"<html><head>{head}<title>{title}</title></head><body><p>{body}</p></body></html>"
    return page, title, body


BOMS = {
    "utf-16-le": b"\xff\xfe",
    "utf-16-be": b"\xfe\xff",
    "utf-8": b"\xef\xbb\xbf",
    "utf-32-le": b"\xff\xfe\x00\x00",
    "utf-32-be": b"\x00\x00\xfe\xff",
}


@pytest.mark.parametrize("encoding", list(BOMS))
@pytest.mark.parametrize("charset", ["utf-8", "windows-1252", "iso-8859-1", "shift_jis"])
def test_a_byte_order_mark_beats_the_content_type_charset(encoding: str, charset: str) -> None:
    page, title, body = _page()
    data = BOMS[encoding] + page.encode(encoding)
    parsed = parse(data, filename="page.html", content_type=f"text/html; charset={charset}")
    assert (parsed.title, parsed.text) == (title, body)


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-8"])
def test_a_byte_order_mark_beats_the_page_s_own_declaration(encoding: str) -> None:
    page, title, body = _page('<meta charset="windows-1252">')
    data = BOMS[encoding] + page.encode(encoding)
    parsed = parse(data, filename="page.html", content_type="text/html")
    assert (parsed.title, parsed.text) == (title, body)


UTF16_LABELS = ["utf-16", "UTF-16LE", "utf-16be", "unicode", "ucs-2", "unicodeFFFE", "csUnicode"]


@pytest.mark.parametrize("label", UTF16_LABELS)
@pytest.mark.parametrize("form", ["meta charset", "http-equiv"])
def test_a_page_declaring_utf16_in_its_markup_is_read_as_utf8(label: str, form: str) -> None:
    declaration = (
        f'<meta charset="{label}">'
        if form == "meta charset"
        else f'<meta http-equiv="Content-Type" content="text/html; charset={label}">'
    )
    page, title, body = _page(declaration)
    parsed = parse(page.encode(), filename="page.html", content_type="text/html")
    assert (parsed.title, parsed.text) == (title, body)


@pytest.mark.parametrize("label", ["utf-32", "UTF-32LE", "utf_32", "ucs-4", "utf-7", "UTF7"])
def test_a_page_declaring_utf32_or_utf7_in_its_markup_is_not_read_so(label: str) -> None:
    page, title, body = _page(f'<meta charset="{label}">')
    parsed = parse(page.encode(), filename="page.html", content_type="text/html")
    assert (parsed.title, parsed.text) == (title, body)


@pytest.mark.parametrize("where", ["content-type", "meta"])
def test_utf7_is_never_read_so_its_escapes_stay_text(where: str) -> None:
    """The HTML standard forbids UTF-7: read so, ``+ADw-b+AD4-`` in a page's text became a
    ``<b>`` element (``+ADw-script+AD4-`` a script) and its UTF-8 letters garbage."""
    page, title, body = _page('<meta charset="utf-7">' if where == "meta" else "")
    page = page.replace(body, f"{body} +ADw-b+AD4-x+ADw-/b+AD4-")
    charset = "; charset=utf-7" if where == "content-type" else ""
    parsed = parse(page.encode(), filename="page.html", content_type=f"text/html{charset}")
    assert (parsed.title, parsed.text) == (title, f"{body} +ADw-b+AD4-x+ADw-/b+AD4-")


def test_the_content_type_charset_still_beats_the_page_s_own_declaration() -> None:
    """(Held before: the transport's charset comes before the page's ``<meta>``.)"""
    page, title, body = _page('<meta charset="windows-1252">')
    parsed = parse(page.encode(), filename="page.html", content_type="text/html; charset=utf-8")
    assert (parsed.title, parsed.text) == (title, body)


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_named_by_the_content_type_without_a_mark_is_still_read(encoding: str) -> None:
    """(Held before: a transport ``charset=utf-16le`` names the bytes' encoding.)"""
    page, title, body = _page()
    charset = encoding.replace("-le", "le").replace("-be", "be")
    parsed = parse(
        page.encode(encoding), filename="page.html", content_type=f"text/html; charset={charset}"
    )
    assert (parsed.title, parsed.text) == (title, body)


@pytest.mark.parametrize("charset", ["utf-16", "UTF-16LE", "utf-16be", "ucs-2", "utf-32"])
@pytest.mark.parametrize("pad", ["", " "])
def test_utf16_named_by_the_content_type_of_bytes_with_no_nul_is_not_believed(
    charset: str, pad: str
) -> None:
    """A UTF-16 (UTF-32) page's markup is ASCII letters, each with a NUL byte (three): bytes
    holding no NUL at all are not in it, whatever the Content-Type says (a server labelling
    every page ``charset=utf-16``). Read so, an English page was ingested as CJK garbage
    ("格浴㹬..."), an odd length's the same with a replacement character at its end."""
    page, title, body = _page()
    data = (page + pad).encode()
    parsed = parse(data, filename="page.html", content_type=f"text/html; charset={charset}")
    assert (parsed.title, parsed.text) == (title, body)
