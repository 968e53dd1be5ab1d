"""A DOCX is read in time linear in its styles: each style is looked up once, in a map.

python-docx finds a paragraph's style, and each style's base, by scanning every style of the
document. A paragraph's role (title, heading level) was asked of its style and of up to four of
its bases: five scans per distinct style, so a document of 4,000 paragraphs each in a style of
its own (an export that styles every paragraph; 80 KB zipped) took 76 s and failed
``parse_timeout`` after holding a parser for all of PARSE_TIMEOUT_SECONDS. Roles are the same
as before: a style named "Title", or "Heading N" itself or up to four bases above it."""

from __future__ import annotations

import uuid

from rag.knowledge.parse_isolation import parse_isolated
from rag.knowledge.parsing import ParseLimits, parse
from tests.rag.test_docx_merged_tables import docx_with

N = 6_000


def _styled(styles: list[str], paragraphs: list[tuple[str | None, str]]) -> bytes:
    """python-docx's template with ``styles`` (``<w:style>`` elements) added and a body of
    ``paragraphs``: (style id or None, text)."""
    body = "".join(
        "<w:p>"
        + (f'<w:pPr><w:pStyle w:val="{style}"/></w:pPr>' if style else "")
        + f"<w:r><w:t>{text}</w:t></w:r></w:p>"
        for style, text in paragraphs
    ).encode()
    added = "".join(styles).encode()
    return docx_with(
        {
            "word/document.xml": lambda data: data.replace(b"<w:body>", b"<w:body>" + body, 1),
            "word/styles.xml": lambda data: data.replace(b"</w:styles>", added + b"</w:styles>"),
        }
    )


def _style(style_id: str, name: str, based_on: str | None = None) -> str:
    return (
        f'<w:style w:type="paragraph" w:styleId="{style_id}"><w:name w:val="{name}"/>'
        + (f'<w:basedOn w:val="{based_on}"/>' if based_on else "")
        + "</w:style>"
    )


def test_thousands_of_styles_are_read_within_the_parse_limits() -> None:
    words = [f"w{uuid.uuid4().hex[:10]}" for _ in range(N)]
    # S0 is based on S1, ..., S{N-1} on the template's Heading 2.
    styles = [_style(f"S{i}", f"Export {i}", f"S{i + 1}") for i in range(N - 1)]
    styles.append(_style(f"S{N - 1}", f"Export {N - 1}", "Heading2"))
    paragraphs: list[tuple[str | None, str]] = []
    for i, word in enumerate(words):
        paragraphs += [(f"S{i}", word), (None, f"Text {i}.")]  # each followed by a plain one
    parsed = parse_isolated(
        _styled(styles, paragraphs),
        filename="export.docx",
        content_type=None,
        limits=ParseLimits(),  # the defaults: PARSE_TIMEOUT_SECONDS=60
    )
    text = parsed.text
    positions = [text.index(word) for word in words]
    assert positions == sorted(positions)
    # Four bases at most: S{N-4} (S{N-3}, S{N-2}, S{N-1}, Heading 2) is a heading, S{N-5} not.
    assert parsed.sections[-1].heading_path == [words[-1]]
    headings = {h for s in parsed.sections for h in s.heading_path}
    assert headings == set(words[-4:])


def test_title_and_heading_styles_keep_their_roles() -> None:
    title, first, second, body = (f"w{uuid.uuid4().hex[:10]}" for _ in range(4))
    styles = [
        _style("MyTitle", "Title"),  # a title by its name
        _style("Sub", "Fancy", "Heading1"),  # a heading by its base
        _style("heading 3", "Odd"),  # by its id
    ]
    parsed = parse(
        _styled(
            styles,
            [
                ("MyTitle", title),
                ("Sub", first),
                ("heading 3", second),
                ("NoSuchStyle", body),  # an unknown id: the default style, a paragraph
            ],
        ),
        filename="styled.docx",
        content_type=None,
    )
    assert parsed.title == title
    assert parsed.sections[-1].heading_path == [first, second]
    assert body in parsed.sections[-1].text
