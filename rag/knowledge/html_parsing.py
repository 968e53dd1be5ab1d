"""HTML to sections: the page's main content without navigation, chrome, scripts or hidden
elements, cut at every heading.

libxml2's HTML parser (through lxml, in the encodings BeautifulSoup's "lxml" builder tried, in
its order: the same parser on the same bytes and events, so the same tree) feeds a small tree of
``_Node`` (lxml's own tree stops at 256 levels, 2,046 with huge_tree, and drops what is deeper),
walked with a stack. BeautifulSoup built its own tree in Python, and linking each node
it appended to a parent that had children already walked up to the root: a page whose unclosed
``<font>`` nested 24,000 headings (0.6 MB) took about 150 s to read (``parse_timeout``), and
every node cost tens of microseconds (docs/benchmarks.md, "HTML parsing: worst shapes").
Comments and processing instructions are not kept, as they were not read.
"""

from __future__ import annotations

import codecs
import gc
import re
import threading
from collections.abc import Iterator
from typing import Any

from bs4.dammit import EncodingDetector
from lxml import etree  # type: ignore[import-untyped]

from rag.knowledge.decoding import browser_charset, declared_charset
from rag.knowledge.parsed import Section, SectionBuilder

_DROP_TAGS = {
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
}
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


class _Node:
    """An element: its name, attributes and children (text and elements, in order)."""

    __slots__ = ("attrib", "children", "tag")

    def __init__(self, tag: str, attrib: dict[str, str]) -> None:
        self.tag = tag
        self.attrib = attrib
        self.children: list[str | _Node] = []

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.attrib.get(name, default)

    def iter(self, name: str | None = None) -> Iterator[_Node]:
        """This element and those under it named ``name`` (all: None), in document order."""
        stack: list[str | _Node] = [self]
        while stack:
            node = stack.pop()
            if isinstance(node, _Node):
                if name is None or node.tag == name:
                    yield node
                stack.extend(reversed(node.children))

    def iter_nodes(self) -> Iterator[str | _Node]:
        """The text and elements under this one, in document order, each child list read as
        the walk reaches it (lazily: a link's first nodes cost no more than themselves)."""
        walks = [iter(self.children)]
        while walks:
            node = next(walks[-1], None)
            if node is None:
                walks.pop()
                continue
            yield node
            if isinstance(node, _Node):
                walks.append(iter(node.children))

    def itertext(self) -> Iterator[str]:
        return (node for node in self.iter_nodes() if isinstance(node, str))


class _TreeBuilder:
    """lxml's parser target: the parser's events as a tree of ``_Node``, a run of text as one
    string."""

    def __init__(self) -> None:
        self.root: _Node | None = None
        self._open: list[_Node] = []
        self._text: list[str] = []
        self._end_of_body: _Node | None = None

    def _flush(self) -> None:
        if self._text and self._open:
            self._open[-1].children.append("".join(self._text))
        self._text.clear()

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        self._flush()
        parent = self._open[-1] if self._open else None
        if parent is None and self.root is not None:
            # After </html> (a template's late part): libxml2 opens a second root; a browser
            # shows what it holds at the end of the body, and so is it read.
            if self._end_of_body is None:
                self._end_of_body = next(self.root.iter("body"), self.root)
            if tag == "html":
                self._open.append(self._end_of_body)
                return
            parent = self._end_of_body
        node = _Node(tag, dict(attrib) if attrib else {})
        if parent is not None:
            parent.children.append(node)
        elif self.root is None:
            self.root = node
        self._open.append(node)

    def end(self, tag: str) -> None:
        self._flush()
        if self._open:
            self._open.pop()

    def data(self, text: str) -> None:
        self._text.append(text)

    def close(self) -> _Node | None:
        self._flush()
        return self.root


# Labels of UTF-16 (the WHATWG's, and those libxml2's iconv knows) and of UTF-32 / UCS-4 (no
# WHATWG label) a page may declare in its own markup; and of the encodings the HTML standard
# forbids, passed over wherever they are named (a byte order mark aside).
_UTF16_LABELS = frozenset(
    {
        *("utf-16", "utf-16le", "utf-16be", "unicode", "unicodefeff", "unicodefffe", "csunicode"),
        *("ucs-2", "ucs-2le", "ucs-2be", "iso-10646-ucs-2", "unicodelittle", "unicodebig"),
    }
)
_UTF32_LABELS = frozenset(("utf-32", "utf-32le", "utf-32be", "ucs-4", "ucs-4le", "ucs-4be"))
_FORBIDDEN_LABELS = frozenset(
    ("utf-7", "utf7", "unicode-1-1-utf-7", "csunicode11utf7", "cesu-8", "bocu-1", "scsu")
)


def _label(name: str | None) -> str:
    return (name or "").lower().replace("_", "-")


def _detector(data: bytes, charset: str | None) -> EncodingDetector:
    """The encodings to try, in the HTML standard's order (encoding sniffing): a byte order
    mark, the charset the Content-Type names, the page's own declaration, then detection,
    UTF-8 and Windows-1252 (BeautifulSoup's). A declaration of UTF-16 means UTF-8 (the
    standard: the bytes that say so are ASCII, so not UTF-16) and one of UTF-32 (no label of
    the standard) is passed over, as UTF-7 is wherever it is named (the standard forbids it:
    read so, a page's ``+ADw-b+AD4-`` was a ``<b>`` element). The charset came before the
    mark (a UTF-16 page served as ``charset=utf-8`` was read with a NUL between letters) and
    a ``<meta charset=utf-16>`` was believed (an ASCII page read as CJK garbage), as was a
    Content-Type's UTF-16 (UTF-32) for bytes with no NUL, which its markup cannot be. A name
    of ISO-8859-1, in either, is Windows-1252 (``browser_charset``): C1 controls were read."""
    markup, bom = EncodingDetector.strip_byte_order_mark(data)
    transport = None if _label(charset) in _FORBIDDEN_LABELS else browser_charset(charset)
    if not bom and _label(transport) in _UTF16_LABELS | _UTF32_LABELS and b"\0" not in data:
        transport = None  # no NUL, no UTF-16 (UTF-32) markup: the label is wrong
    first = [e for e in (bom, transport) if e]
    declared = EncodingDetector.find_declared_encoding(markup, is_html=True) or ""
    label = _label(declared)
    passed_over = label in _UTF32_LABELS | _FORBIDDEN_LABELS and declared not in first
    detector = EncodingDetector(
        data,
        known_definite_encodings=first,
        is_html=True,
        # (detection's names too: "utf_7")
        exclude_encodings=[*_FORBIDDEN_LABELS, "utf_7", *([declared] if passed_over else [])],
    )
    declared = "utf-8" if label in _UTF16_LABELS else browser_charset(declared) or ""
    detector.declared_encoding = declared or None
    return detector


def _tree(data: bytes, charset: str | None) -> _Node | None:
    """The page's root element (None: no element at all), decoded in the encodings
    ``_detector`` gives, the next one tried when one is refused."""
    detector = _detector(data, charset)
    for encoding in detector.encodings:
        builder = _TreeBuilder()
        markup, encoding = _convertible(detector.markup, encoding)
        try:  # a label libxml2 does not know is refused here, as BeautifulSoup's builder did
            parser = etree.HTMLParser(target=builder, recover=True, encoding=encoding)
            parser.feed(markup)
            root: _Node | None = parser.close()
        except (UnicodeDecodeError, LookupError, etree.ParserError):
            continue
        except etree.XMLSyntaxError:  # no element
            return None
        return root
    return None


# What a browser reads a page labelled so in (the WHATWG encodings), supersets of Python's
# codec of that name: a byte Python's Shift_JIS refuses may be a Windows-31J character.
_SUPERSETS = {
    "ascii": "cp1252",
    "shift_jis": "cp932",
    "euc_kr": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "big5": "big5hkscs",
}


def _convertible(markup: bytes, encoding: str) -> tuple[bytes, str]:
    """``markup`` as libxml2 is given it, and the encoding it is told. libxml2 converts a page
    from its charset and stops at the first byte it cannot convert, with nothing read: a page
    in a declared Shift_JIS (Windows-1252, EUC-KR...) with one stray byte read as nothing at
    all (``nothing_extractable``). Such a page is decoded here, that byte replaced, and given
    as UTF-8. A page Python decodes whole (or in a charset it does not know, or UTF-8, which
    libxml2 reads with the stray bytes replaced) is given as it is, read as before."""
    try:
        codec = codecs.lookup(encoding).name
    except LookupError:
        return markup, encoding
    if codec == "utf-8":
        return markup, encoding
    try:
        markup.decode(codec)
    except UnicodeDecodeError:
        text = markup.decode(_SUPERSETS.get(codec, codec), errors="replace")
        return text.encode("utf-8", errors="surrogatepass"), "utf-8"
    return markup, encoding


class _CollectorPause:
    """Python's cyclic garbage collector off while pages are parsed (in any thread), back to
    its state when the last parse ends. A parse allocates a node, a list and a dict per element
    and tuples on the walk's stacks: the collector's passes over the growing tree took 40-65%
    of a 4 MB page's parse (docs/benchmarks.md, "HTML parsing: worst shapes"). The tree holds
    no cycles (no parent links), so it is freed when the parse lets go of it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parses = 0
        self._was_enabled = False

    def __enter__(self) -> None:
        with self._lock:
            if self._parses == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._parses += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._parses -= 1
            if self._parses == 0 and self._was_enabled:
                gc.enable()


_COLLECTOR_PAUSE = _CollectorPause()


def parse_html(data: bytes, content_type: str | None) -> tuple[str | None, list[Section]]:
    with _COLLECTOR_PAUSE:
        return _parse_html(data, content_type)


def _parse_html(data: bytes, content_type: str | None) -> tuple[str | None, list[Section]]:
    document = _tree(data, declared_charset(content_type))
    if document is None:
        return None, []
    title_tag = next(document.iter("title"), None)
    title = _joined(title_tag.itertext()) if title_tag is not None else None
    root, in_article = _main_content(document)
    builder = SectionBuilder()
    buffer: list[str] = []
    first_h1 = _walk_html(root, in_article, builder, buffer)
    builder.paragraph("".join(buffer))
    return title or first_h1, builder.finish()


def _joined(strings: Iterator[str]) -> str:
    """The strings, each stripped, the empty ones left out, joined by a space (BeautifulSoup's
    ``get_text(" ", strip=True)``)."""
    return " ".join(text for text in (s.strip() for s in strings) if text)


_PERMALINK_NODES = 8
"""A heading's permalink holds its glyph, maybe in a span or an icon: a link with more under
it is not one (and its text is not read)."""


def _is_permalink(tag: _Node) -> bool:
    """Read lazily: at most ``_PERMALINK_NODES`` nodes under the link."""
    text: list[str] = []
    nodes = tag.iter_nodes()
    for count, node in enumerate(nodes):
        if count >= _PERMALINK_NODES:
            return False
        if isinstance(node, str):
            text.append(node)
    return "".join(text).strip() in _PERMALINK_GLYPHS


def _is_boilerplate(tag: _Node, name: str, *, in_article: bool) -> bool:
    """Navigation, chrome, scripts, forms and hidden elements: never document content."""
    if name in _DROP_TAGS:
        return True
    if name == "footer" or (name == "header" and not in_article):
        return True
    attributes = tag.attrib
    if attributes:
        if "hidden" in attributes or attributes.get("aria-hidden", "").lower() == "true":
            return True
        classes = attributes.get("class")
        if classes and any(c in _CHROME_CLASSES for c in classes.split()):
            return True
        if attributes.get("id") in _CHROME_IDS:
            return True
        if attributes.get("role", "").lower() in _DROP_ROLES:
            return True
    return name == "a" and _is_permalink(tag)


def _main_content(document: _Node) -> tuple[_Node, bool]:
    """``<main>``, else the first element of role "main", else the only ``<article>``, else
    ``<body>`` (else the whole page): found in one walk; and whether it is an ``<article>`` or
    inside one (the tree keeps no parents: without them it holds no cycles)."""
    role: tuple[_Node, bool] | None = None
    articles: list[_Node] = []
    body: tuple[_Node, bool] | None = None
    stack: list[tuple[_Node, bool]] = [(document, False)]
    while stack:
        tag, inside = stack.pop()
        name = tag.tag
        inside = inside or name == "article"
        if name == "main":
            return tag, inside
        if role is None and tag.attrib and tag.attrib.get("role") == "main":
            role = tag, inside
        if name == "article" and len(articles) < 2:
            articles.append(tag)
        elif name == "body" and body is None:
            body = tag, inside
        stack.extend((child, inside) for child in reversed(tag.children) if type(child) is _Node)
    if role is not None:
        return role
    if len(articles) == 1:
        return articles[0], True
    return body if body is not None else (document, document.tag == "article")


_END_BLOCK = object()  # on the walk's stack: a block element's children have been walked
_END_CELL = object()  # a table cell's


def _push_content(tag: _Node, inside: bool, stack: list[Any]) -> None:
    """``tag``'s children onto ``stack``, to be popped in document order."""
    for child in reversed(tag.children):
        stack.append(child if isinstance(child, str) else (child, inside))


def _strings(tag: _Node, in_article: bool, h1s: list[str] | None = None) -> list[str]:
    """The text under ``tag`` in document order, the boilerplate under it left out; the text
    of the first ``<h1>`` under it is appended to ``h1s`` (when given)."""
    out: list[str] = []
    stack: list[Any] = []
    _push_content(tag, in_article or tag.tag == "article", stack)
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
            continue
        child, inside = item
        name = child.tag
        if not _is_boilerplate(child, name, in_article=inside):
            if name == "h1" and h1s is not None:
                h1s.append(_joined(iter(_strings(child, inside))))
                h1s = None  # the first one only
            _push_content(child, inside or name == "article", stack)
    return out


def _walk_html(
    root: _Node, in_article: bool, builder: SectionBuilder, buffer: list[str]
) -> str | None:
    """The text under ``root`` (``in_article``: an ``<article>`` or inside one) into
    ``builder``, cut at headings and blocks; returns the first ``<h1>``'s text (None: none).
    Walked with a stack, not by recursion: legacy pages nest every paragraph in the unclosed
    ``<font>`` of the ones before, and past about 1,000 levels the page failed with
    RecursionError."""
    h1s: list[str] = []  # the first <h1>'s text, once the walk has passed one
    stack: list[Any] = []
    _push_content(root, in_article, stack)
    while stack:
        item = stack.pop()
        if item is _END_BLOCK:
            builder.paragraph("".join(buffer))
            buffer.clear()
        elif item is _END_CELL:
            buffer.append(" ")
        elif isinstance(item, str):
            buffer.append(_HTML_SPACE.sub(" ", item))
        else:
            tag, inside = item
            name = tag.tag
            if _is_boilerplate(tag, name, in_article=inside):
                continue
            _enter(tag, name, inside, builder, buffer, stack, None if h1s else h1s)
    return h1s[0] if h1s else None


def _enter(
    tag: _Node,
    name: str,
    inside: bool,
    builder: SectionBuilder,
    buffer: list[str],
    stack: list[Any],
    h1s: list[str] | None,
) -> None:
    """What ``tag`` adds as the walk reaches it; its children (and what closes it) go on
    ``stack``, to be walked next. The first ``<h1>`` met (``tag``, or one inside a heading or
    a ``<pre>``, whose children are not walked) has its text appended to ``h1s`` (when
    given): BeautifulSoup's ``find("h1")``, in document order."""
    if name in _HEADINGS:
        builder.paragraph("".join(buffer))
        buffer.clear()
        text = _joined(iter(_strings(tag, inside, None if name == "h1" else h1s)))
        if name == "h1" and h1s is not None:
            h1s.append(text)
        builder.heading(_HEADINGS[name], text)
        return
    if name == "br":
        buffer.append("\n")
        return
    if name == "pre":
        builder.paragraph("".join(buffer))
        buffer.clear()
        builder.paragraph("".join(_strings(tag, inside, h1s)))
        return
    if name == "img":
        alt = tag.get("alt")
        if alt and alt.strip():
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
    _push_content(tag, inside or name == "article", stack)
