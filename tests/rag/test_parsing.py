"""Parsing real files: HTML with boilerplate, Markdown, text, a 2-page PDF and a DOCX."""

from __future__ import annotations

import io

import pytest
from docx import Document
from fpdf import FPDF

from core.errors import AppError, UnsupportedMediaType
from rag.knowledge.parse_isolation import parse_isolated
from rag.knowledge.parsed import ParseLimits
from rag.knowledge.parsing import DOCX_MIME, normalize_text, parse, sha256_text

HTML = b"""<!doctype html>
<html><head><title>Acme Help Centre</title>
<style>.x { color: red }</style>
<script>var trackingSecret = "SCRIPT_TEXT";</script>
</head>
<body>
<header><a href="/">LOGO_TEXT</a></header>
<nav><ul><li>NAV_HOME</li><li>NAV_PRICING</li></ul></nav>
<main>
  <h1>Refund policy</h1>
  <p>We refund   purchases within
     <b>30 days</b>.</p>
  <noscript>NOSCRIPT_TEXT</noscript>
  <h2>How to ask</h2>
  <p>Email support.</p>
  <ul><li>Order number</li><li>Reason</li></ul>
  <form><label>FORM_TEXT</label><input name="q"></form>
  <h3>Timing</h3>
  <p>Refunds take 5 days.</p>
  <h2>Exceptions</h2>
  <p>Gift cards are final.</p>
  <div hidden>HIDDEN_TEXT</div>
</main>
<aside>ASIDE_TEXT</aside>
<footer>FOOTER_TEXT</footer>
</body></html>"""


def test_html_keeps_main_content_and_heading_structure() -> None:
    doc = parse(HTML, filename="help.html", content_type="text/html; charset=utf-8")
    assert doc.kind == "html"
    assert doc.title == "Acme Help Centre"
    full = doc.text
    for junk in (
        "SCRIPT_TEXT",
        "color: red",
        "LOGO_TEXT",
        "NAV_HOME",
        "NOSCRIPT_TEXT",
        "FORM_TEXT",
        "ASIDE_TEXT",
        "FOOTER_TEXT",
        "HIDDEN_TEXT",
    ):
        assert junk not in full
    paths = [s.heading_path for s in doc.sections]
    assert paths == [
        ["Refund policy"],
        ["Refund policy", "How to ask"],
        ["Refund policy", "How to ask", "Timing"],
        ["Refund policy", "Exceptions"],
    ]
    assert doc.sections[0].text == "Refund policy\n\nWe refund purchases within 30 days."
    assert "- Order number\n\n- Reason" in doc.sections[1].text
    assert all(s.page is None for s in doc.sections)


def test_html_without_main_uses_body_and_h1_title() -> None:
    html = b"<html><body><nav>MENU</nav><h1>Only Heading</h1><p>Body text here.</p></body></html>"
    doc = parse(html, filename=None, content_type=None)
    assert doc.kind == "html"
    assert doc.title == "Only Heading"
    assert doc.text == "Only Heading\n\nBody text here."


def test_html_charset_from_content_type() -> None:
    html = "<html><body><p>Caf\u00e9 cr\u00e8me</p></body></html>".encode("latin-1")
    doc = parse(html, filename="x.html", content_type="text/html; charset=iso-8859-1")
    assert doc.text == "Caf\u00e9 cr\u00e8me"


MARKDOWN = b"""---
layout: post
---
Intro before any heading.

# Getting started

Install with **pip** from [the index](https://example.invalid/x).

```python
# not a heading
print("hi")
```

## Configure

Set `API_KEY`.

Second paragraph.

Usage
-----

Run it.
"""


def test_markdown_headings_become_heading_path() -> None:
    doc = parse(MARKDOWN, filename="guide.md", content_type="text/plain")
    assert doc.kind == "md"
    assert doc.title == "Getting started"
    assert [s.heading_path for s in doc.sections] == [
        [],
        ["Getting started"],
        ["Getting started", "Configure"],
        ["Getting started", "Usage"],  # setext "---" underline is a level-2 heading
    ]
    assert doc.sections[0].text == "Intro before any heading."
    started = doc.sections[1].text
    assert "Install with pip from the index." in started
    assert "# not a heading" in started
    assert "https://" not in started
    assert doc.sections[2].text == "Configure\n\nSet API_KEY.\n\nSecond paragraph."


def test_text_normalizes_whitespace_and_keeps_paragraphs() -> None:
    raw = "  First\tline   of text.\r\n\r\n\r\n\r\nSecond \u00a0 paragraph\u200b.\n"
    doc = parse(raw.encode(), filename="notes.txt", content_type=None)
    assert doc.kind == "txt"
    assert doc.title == "notes.txt"
    assert doc.sections[0].text == "First line of text.\n\nSecond paragraph."
    assert doc.sections[0].heading_path == []


def test_normalize_text_repairs_ligatures() -> None:
    assert normalize_text("e\ufb03cient  \n\n\n\n  \ufb01le") == "efficient\n\nfile"


def _pdf_bytes(pages: list[str], title: str | None = "Quarterly Report") -> bytes:
    pdf = FPDF()
    if title:
        pdf.set_title(title)
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        if text:
            pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


def test_pdf_one_section_per_page_with_page_numbers() -> None:
    data = _pdf_bytes(
        [
            "Revenue grew by twelve percent in the first quarter.",
            "",
            "Costs were flat. Headcount rose to forty people.",
        ]
    )
    doc = parse(data, filename="report.pdf", content_type="application/pdf")
    assert doc.kind == "pdf"
    assert doc.title == "Quarterly Report"
    assert [s.page for s in doc.sections] == [1, 3]  # the blank page 2 yields no section
    assert "Revenue grew by twelve percent" in doc.sections[0].text
    assert "Headcount rose to forty people." in doc.sections[1].text
    assert "Revenue" not in doc.sections[1].text


def test_pdf_detected_by_magic_bytes_and_title_falls_back_to_filename() -> None:
    data = _pdf_bytes(["Hello PDF world."], title=None)
    doc = parse(data, filename="upload.bin", content_type="application/octet-stream")
    assert doc.kind == "pdf"
    assert doc.title == "upload.bin"


def test_pdf_without_text_is_nothing_extractable() -> None:
    with pytest.raises(AppError) as info:
        parse(_pdf_bytes(["", ""]), filename="scan.pdf", content_type="application/pdf")
    assert info.value.code == "nothing_extractable"
    assert info.value.status_code == 422


def encrypted_pdf(data: bytes, algorithm: str, user_password: str = "") -> bytes:
    """``data`` encrypted as Acrobat, Word and scanners write "restricted" PDFs: an owner
    password for the permissions and, by default, no user password (any viewer opens it)."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(
        user_password=user_password,
        owner_password="owner-secret",
        algorithm=algorithm,
        permissions_flag=0,
    )
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize("algorithm", ["RC4-128", "AES-128", "AES-256"])
def test_pdf_encrypted_without_a_user_password_is_read(algorithm: str) -> None:
    # AES ones failed "Could not read the PDF file: cryptography>=3.1 is required for AES".
    data = encrypted_pdf(_pdf_bytes(["Refunds are issued within thirty days."]), algorithm)
    doc = parse(data, filename="policy.pdf", content_type="application/pdf")
    assert "Refunds are issued within thirty days." in doc.text


@pytest.mark.parametrize("algorithm", ["RC4-128", "AES-256"])
def test_pdf_that_needs_a_password_says_so(algorithm: str) -> None:
    data = encrypted_pdf(_pdf_bytes(["Salaries."]), algorithm, user_password="user-secret")
    with pytest.raises(AppError) as info:
        parse(data, filename="payroll.pdf", content_type="application/pdf")
    assert (info.value.code, info.value.status_code) == ("nothing_extractable", 422)
    assert info.value.message == "The PDF is password-protected"


def test_pdf_encryption_the_server_cannot_read_is_said_without_library_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server without the cryptography package (or an algorithm pypdf needs another package
    for) answered with pypdf's own words, which name a Python dependency."""
    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    def missing(self: object, password: str) -> object:
        raise DependencyError("cryptography>=3.1 is required for AES algorithm")

    monkeypatch.setattr(PdfReader, "decrypt", missing)
    data = encrypted_pdf(_pdf_bytes(["Refunds."]), "RC4-128")
    with pytest.raises(AppError) as info:
        parse(data, filename="policy.pdf", content_type="application/pdf")
    assert (info.value.code, info.value.status_code) == ("parse_failed", 422)
    assert "encryption" in info.value.message
    assert "cryptography" not in info.value.message


def _docx_bytes(title: str | None) -> bytes:
    document = Document()
    if title:
        document.core_properties.title = title
    document.add_paragraph("Preface text.")
    document.add_heading("Shipping", level=1)
    document.add_paragraph("We ship worldwide.")
    document.add_heading("Rates", level=2)
    document.add_paragraph("Flat fee of 5 EUR.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Zone"
    table.cell(0, 1).text = "Price"
    table.cell(1, 0).text = "EU"
    table.cell(1, 1).text = "5"
    document.add_heading("Returns", level=1)
    document.add_paragraph("Within 30 days.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_docx_headings_build_heading_path() -> None:
    doc = parse(_docx_bytes("Shop Handbook"), filename="handbook.docx", content_type=DOCX_MIME)
    assert doc.kind == "docx"
    assert doc.title == "Shop Handbook"
    assert [s.heading_path for s in doc.sections] == [
        [],
        ["Shipping"],
        ["Shipping", "Rates"],
        ["Returns"],
    ]
    assert doc.sections[0].text == "Preface text."
    assert doc.sections[2].text == "Rates\n\nFlat fee of 5 EUR.\n\nZone | Price\nEU | 5"
    assert doc.sections[3].text == "Returns\n\nWithin 30 days."


def test_docx_title_falls_back_to_first_heading() -> None:
    doc = parse(_docx_bytes(None), filename="h.docx", content_type="application/octet-stream")
    assert doc.kind == "docx"
    assert doc.title == "Shipping"


def test_unknown_binary_is_unsupported_media_type() -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"
    with pytest.raises(UnsupportedMediaType) as info:
        parse(png, filename="logo.png", content_type="image/png")
    assert info.value.status_code == 415
    assert info.value.code == "unsupported_media_type"
    with pytest.raises(UnsupportedMediaType):
        parse(png, filename=None, content_type=None)
    with pytest.raises(UnsupportedMediaType):
        parse(b"just text", filename=None, content_type="application/zip")


def test_mislabelled_pdf_is_refused() -> None:
    with pytest.raises(UnsupportedMediaType):
        parse(b"not really a pdf", filename="fake.pdf", content_type="application/pdf")


def test_empty_html_is_nothing_extractable() -> None:
    html = b"<html><body><nav>Only navigation</nav><script>x()</script></body></html>"
    with pytest.raises(AppError) as info:
        parse(html, filename="empty.html", content_type="text/html")
    assert info.value.code == "nothing_extractable"


def test_corrupt_docx_is_parse_failed() -> None:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", "<not-xml")
    with pytest.raises(AppError) as info:
        parse(buffer.getvalue(), filename="broken.docx", content_type=DOCX_MIME)
    assert info.value.code == "parse_failed"
    assert info.value.status_code == 422


def test_sha256_text() -> None:
    assert sha256_text("abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    assert sha256_text("caf\u00e9") != sha256_text("cafe")


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("返品は購入から30日以内に受け付けます。送料は無料です。", "shift_jis"),
        ("退货政策：购买后三十天内可以退货，运费由我们承担。", "gb18030"),  # noqa: RUF001
        ("Возврат товара возможен в течение тридцати дней после покупки.", "cp1251"),
        ("Refunds within 30 days of purchase; shipping is free.", "utf-16-le"),
        ("Refunds within 30 days of purchase; shipping is free.", "utf-16-be"),
        ("Café Genève: “smart quotes”, naïve façade, prices in €.", "cp1252"),
        ("Über uns: Größe, Straße, Qualität, Öffnungszeiten.", "latin-1"),
        # Short Western text that detection takes for Shift-JIS or Cyrillic: cp1252 stays.
        ("A: 30 × 20 × 10 cm, weight ½ kg.", "cp1252"),  # noqa: RUF001
        ("© 2024 Acme Inc. All rights reserved.", "cp1252"),
        ("Temperature: 20°C ± 2°", "cp1252"),
        ("Café", "cp1252"),
    ],
)
def test_text_in_another_encoding_is_read_as_written(text: str, encoding: str) -> None:
    """A file that is not UTF-8 and says nothing of its charset: before, Shift-JIS became
    mojibake and UTF-16 without a byte order mark "R e f u n d s", both stored as ready and
    never found by search."""
    parsed = parse(text.encode(encoding), filename="policy.txt", content_type="text/plain")
    assert parsed.sections[0].text == text


def test_utf16_without_a_byte_order_mark_cut_at_an_odd_byte_is_still_read() -> None:
    """A body cut at a byte limit ends mid-character half the time."""
    text = "Refunds within 30 days of purchase; shipping is free."
    parsed = parse(text.encode("utf-16-le") + b"\n", filename="p.txt", content_type="text/plain")
    assert parsed.sections[0].text.startswith(text)


@pytest.mark.parametrize("commas", [40, 90])
def test_a_name_section_of_commas_is_read_without_backtracking(commas: int) -> None:
    """A page whose NAME section holds "a,a,...,a" and no dash: the manual-page title rule
    (parsing._man_page_name) split the names at every comma in two ways and backtracked
    exponentially (30 commas: minutes), so the page ran into parse_timeout. Parsed as a
    worker parses it (a child held to the limits), it is titled by its own title; a real NAME
    line still titles a manual page."""
    body = b"a," * commas + b"a"
    page = b"<html><head><title>Commas</title></head><body><h1>NAME</h1><p>%s</p>" % body
    parsed = parse_isolated(
        page + b"<h1>More</h1><p>Text.</p></body></html>",
        filename="x.html",
        content_type="text/html",
        limits=ParseLimits(),
    )
    assert parsed.title == "Commas"
    man = b"# NAME\n\ngzip, gunzip, zcat - compress or expand files\n\n# MORE\n\nText.\n"
    assert parse(man, filename="gzip.md", content_type="text/markdown").title == (
        "gzip, gunzip, zcat - compress or expand files"
    )


@pytest.mark.parametrize(
    "stated",
    [
        "Untitled",
        "untitled-1",
        "Untitled document",
        "Microsoft Word - returns policy.doc",
        "Microsoft Word - Document1",
        "Microsoft PowerPoint - deck.pptx",
        "Document1",
        "returns-policy.docx",
        "C:\\Users\\asha\\Desktop\\draft.doc",
        "   ",
        "-",
    ],
)
def test_a_pdf_titled_by_its_writer_not_its_author_takes_the_file_name(stated: str) -> None:
    """A PDF's metadata title that only its writing program put there ("Untitled", "Microsoft
    Word - x.doc", a file name) is no title: the file name is (a DOCX or Markdown file takes its
    first heading; a PDF has none to read)."""
    data = _pdf_bytes(["Returns are free within 30 days."], title=stated)
    doc = parse(data, filename="returns.pdf", content_type="application/pdf")
    assert doc.title == "returns.pdf"
    assert doc.source_title is None  # an older parser's junk title reads as the owner's: kept


@pytest.mark.parametrize("stated", ["Returns Policy 2026", "Untitled Goose Game: a review"])
def test_a_pdf_with_a_real_metadata_title_takes_it(stated: str) -> None:
    data = _pdf_bytes(["Returns are free within 30 days."], title=stated)
    doc = parse(data, filename="returns.pdf", content_type="application/pdf")
    assert doc.title == stated
