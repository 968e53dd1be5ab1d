"""HTML to sections: the page's main content without navigation, chrome, scripts or hidden
elements, cut at every heading."""

from __future__ import annotations

import re
import warnings

from bs4 import BeautifulSoup, NavigableString, Tag, XMLParsedAsHTMLWarning
from bs4.element import CData, Comment, Declaration, Doctype, ProcessingInstruction

from rag.knowledge.decoding import declared_charset
from rag.knowledge.parsed import Section, SectionBuilder

# XHTML pages (git's manual, many generated sites) are parsed as HTML on purpose: their text is
# what is wanted, not their XML tree. BeautifulSoup warned once per process on stderr, outside
# the structured log, as if the page had been misread.
warnings.filterwarnings("ignore", category=XMLParsedAsHTMLWarning)

_DROP_TAGS = [
    "nav",
    "aside",
    "script",
    "style",
    "noscript",
    "form",
    "template",
    "svg",
    "iframe",
    "button",
    "select",
    "textarea",
    "canvas",
    "object",
    "embed",
    "head",
]
_BLOCK_TAGS = {
    "p",
    "div",
    "section",
    "article",
    "main",
    "blockquote",
    "pre",
    "ul",
    "ol",
    "li",
    "dl",
    "dt",
    "dd",
    "table",
    "thead",
    "tbody",
    "tfoot",
    "tr",
    "figure",
    "figcaption",
    "address",
    "details",
    "summary",
    "hr",
    "header",
    "footer",
    "caption",
}
_DROP_ROLES = {"navigation", "banner", "contentinfo", "search", "complementary"}
# Page chrome that generators mark by class or id rather than by tag or role: DocBook's
# navigation tables, AsciiDoc's and Sphinx's "Last updated"/copyright footers.
_CHROME_CLASSES = {"navheader", "navfooter", "footer", "related", "sphinxsidebar"}
_CHROME_IDS = {"footer", "footer-text"}
# A link whose whole text is one of these is a heading's permalink (Sphinx, MkDocs, GitHub).
_PERMALINK_GLYPHS = {"¶", "#", "§", "🔗", "⚓"}
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_HTML_SPACE = re.compile(r"[ \t\n\r\f]+")  # HTML white space; NBSP is kept as content
_SKIP_STRINGS = (Comment, Declaration, Doctype, ProcessingInstruction, CData)


def parse_html(data: bytes, content_type: str | None) -> tuple[str | None, list[Section]]:
    charset = declared_charset(content_type)
    soup = BeautifulSoup(data, "lxml", from_encoding=charset) if charset else None
    if soup is None:
        soup = BeautifulSoup(data, "lxml")
    title_tag = soup.find("title")
    title = title_tag.get_text(" ", strip=True) if title_tag else None
    root = _main_content(soup)
    _drop_boilerplate(root)
    if not title:
        h1 = root.find("h1")
        title = h1.get_text(" ", strip=True) if h1 else None
    builder = SectionBuilder()
    buffer: list[str] = []
    _walk_html(root, builder, buffer)
    builder.paragraph("".join(buffer))
    return title, builder.finish()


def _drop_boilerplate(root: Tag) -> None:
    """Decompose the boilerplate under ``root`` (``_is_boilerplate``). One walk down, which
    knows whether an ``<article>`` is above each tag: asking each ``<header>`` (walking up to the
    root) and each link's whole text, on a legacy page whose unclosed ``<a name>`` anchors nest
    every paragraph in all those before it, took minutes (``parse_timeout``)."""
    in_article = root.name == "article" or root.find_parent("article") is not None
    stack = [(child, in_article) for child in root.contents if isinstance(child, Tag)]
    doomed: list[Tag] = []
    while stack:
        tag, in_article = stack.pop()
        if _is_boilerplate(tag, in_article=in_article):
            doomed.append(tag)  # and what is under it
            continue
        inside = in_article or tag.name == "article"
        stack.extend((child, inside) for child in tag.contents if isinstance(child, Tag))
    for tag in doomed:
        tag.decompose()


_PERMALINK_NODES = 8
"""A heading's permalink holds its glyph, maybe in a span or an icon: a link with more under
it is not one (and its text is not read)."""


def _is_permalink(tag: Tag) -> bool:
    """Walked by hand: bs4's ``descendants`` first finds the last one, the depth of the page
    away."""
    text: list[str] = []
    stack = list(reversed(tag.contents))
    for _ in range(_PERMALINK_NODES):
        if not stack:
            return "".join(text).strip() in _PERMALINK_GLYPHS
        node = stack.pop()
        if isinstance(node, Tag):
            stack.extend(reversed(node.contents))
        elif isinstance(node, NavigableString) and not isinstance(node, _SKIP_STRINGS):
            text.append(str(node))
    return not stack and "".join(text).strip() in _PERMALINK_GLYPHS


def _is_boilerplate(tag: Tag, *, in_article: bool) -> bool:
    """Navigation, chrome, scripts, forms and hidden elements: never document content."""
    name = tag.name
    if name in _DROP_TAGS:
        return True
    if name == "footer" or (name == "header" and not in_article):
        return True
    if tag.has_attr("hidden") or str(tag.get("aria-hidden", "")).lower() == "true":
        return True
    if name == "a" and _is_permalink(tag):
        return True
    classes = tag.get_attribute_list("class")
    if any(c in _CHROME_CLASSES for c in classes) or tag.get("id") in _CHROME_IDS:
        return True
    return str(tag.get("role", "")).lower() in _DROP_ROLES


def _main_content(soup: BeautifulSoup) -> Tag:
    for finder in (
        lambda: soup.find("main"),
        lambda: soup.find(lambda tag: tag.get("role") == "main"),
    ):
        found = finder()
        if isinstance(found, Tag):
            return found
    articles = soup.find_all("article")
    if len(articles) == 1 and isinstance(articles[0], Tag):
        return articles[0]
    body = soup.find("body")
    return body if isinstance(body, Tag) else soup


_END_BLOCK = object()  # on the walk's stack: a block element's children have been walked
_END_CELL = object()  # a table cell's


def _walk_html(root: Tag, builder: SectionBuilder, buffer: list[str]) -> None:
    """The text under ``root`` into ``builder``, cut at headings and blocks. Walked with a
    stack, not by recursion: legacy pages nest every paragraph in the unclosed ``<font>`` of
    the ones before, and past about 1,000 levels the page failed with RecursionError."""
    stack: list[object] = list(reversed(root.contents))
    while stack:
        child = stack.pop()
        if child is _END_BLOCK:
            builder.paragraph("".join(buffer))
            buffer.clear()
        elif child is _END_CELL:
            buffer.append(" ")
        elif isinstance(child, NavigableString):
            if not isinstance(child, _SKIP_STRINGS):
                buffer.append(_HTML_SPACE.sub(" ", str(child)))
        elif isinstance(child, Tag):
            _enter(child, builder, buffer, stack)


def _enter(tag: Tag, builder: SectionBuilder, buffer: list[str], stack: list[object]) -> None:
    """What ``tag`` adds as the walk reaches it; its children (and what closes it) go on
    ``stack``, to be walked next."""
    name = tag.name
    if name in _HEADINGS:
        builder.paragraph("".join(buffer))
        buffer.clear()
        builder.heading(_HEADINGS[name], tag.get_text(" ", strip=True))
        return
    if name == "br":
        buffer.append("\n")
        return
    if name == "pre":
        builder.paragraph("".join(buffer))
        buffer.clear()
        builder.paragraph(tag.get_text())
        return
    if name == "img":
        alt = tag.get("alt")
        if isinstance(alt, str) and alt.strip():
            buffer.append(f" {alt.strip()} ")
        return
    if name in ("td", "th"):
        buffer.append(" ")
        stack.append(_END_CELL)
    elif name in _BLOCK_TAGS:
        builder.paragraph("".join(buffer))
        buffer.clear()
        if name == "li":
            buffer.append("- ")
        stack.append(_END_BLOCK)
    stack.extend(reversed(tag.contents))
