"""Turn uploaded or fetched bytes (txt, md, html, pdf, docx) into titled, structured sections.

``detect_kind`` reads what a file is (its bytes first, then its name and declared type);
``check_size`` bounds what it may expand to before parsing (``check_upload``: both, a zip's
directory read once); ``parse`` dispatches to the format's
parser (``rag.knowledge.html_parsing``, ``rag.knowledge.formats``) and titles the result. What
one document may cost is bounded by ``ParseLimits`` (``rag.knowledge.parsed``); parse untrusted
files with ``rag.knowledge.parse_isolation.parse_isolated``, which runs ``parse`` in a child
process held to the limits' time and memory.
"""

from __future__ import annotations

import hashlib
import io
import re
import struct
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import PurePosixPath

from core.errors import AppError, UnsupportedMediaType
from rag.knowledge.decoding import decode
from rag.knowledge.docx_parsing import parse_docx
from rag.knowledge.formats import parse_markdown, parse_pdf
from rag.knowledge.html_parsing import parse_html
from rag.knowledge.parsed import (
    MIB,
    DocumentTooLarge,
    Kind,
    Notice,
    ParsedDocument,
    ParseLimits,
    ParseTimeout,
    Section,
    normalize_text,
    storable,
    text_sections,
    unreadable,
)

DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MAX_ZIP_MEMBERS = 10_000  # a real DOCX has dozens of parts; the zip directory is read first
_RATIO_CHECKED_FROM = MIB  # parts smaller than this are not checked for their ratio


_CONTENT_TYPES: dict[str, Kind] = {
    "text/plain": "txt",
    "text/markdown": "md",
    "text/x-markdown": "md",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/pdf": "pdf",
    "application/x-pdf": "pdf",
    DOCX_MIME: "docx",
}
_GENERIC_TYPES = {"", "application/octet-stream", "binary/octet-stream", "application/unknown"}
_EXTENSIONS: dict[str, Kind] = {
    ".txt": "txt",
    ".text": "txt",
    ".md": "md",
    ".markdown": "md",
    ".mdown": "md",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".pdf": "pdf",
    ".docx": "docx",
}


def sha256_text(text: str) -> str:
    """Hex SHA-256 of the UTF-8 encoding of ``text``."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- type detection


_ZIP_ENTRY_BYTES = 46 + 255
"""A directory entry's fixed part and a generous name: the directory bytes ``MAX_ZIP_MEMBERS``
parts may take."""
MAX_ZIP_DIRECTORY_BYTES = MAX_ZIP_MEMBERS * _ZIP_ENTRY_BYTES


def _zip_directory(data: bytes) -> tuple[int, int, int] | None:
    """Where ``zipfile`` will read the central directory (start, end) and the entry count its
    end record declares, found as ``zipfile`` finds them (the last end record, the ZIP64 record
    just before its locator); None: no end record (zipfile then refuses the file itself)."""
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))
    if end == -1 or end + 22 > len(data):
        return None
    entries, size, _offset = struct.unpack_from("<HII", data, end + 10)
    directory_end = end
    locator = end - 20
    if locator >= 0 and data[locator : locator + 4] == b"PK\x06\x07":
        record = locator - 56
        if record < 0 or data[record : record + 4] != b"PK\x06\x06":
            return None  # zipfile calls it a corrupt ZIP64 archive
        entries, size, _offset = struct.unpack_from("<QQQ", data, record + 32)
        directory_end = record
    return directory_end - size, directory_end, entries


def _check_zip_directory(data: bytes) -> None:
    """413 ``document_too_large`` for a zip directory holding more than ``MAX_ZIP_MEMBERS``
    parts, told before ``zipfile`` reads it. The count the end record declares is not what
    zipfile goes by: it reads the directory to its byte size, so a file declaring one part
    (or a ZIP64 count) had 100,000 parsed, twice, on the API's event loop. So the directory's
    byte size is bounded, and its entries (each starts with a signature) are counted."""
    found = _zip_directory(data)
    if found is None:
        return
    start, end, declared = found
    if end - start > MAX_ZIP_DIRECTORY_BYTES:
        raise DocumentTooLarge(
            f"The archive's directory is {end - start} bytes; at most"
            f" {MAX_ZIP_DIRECTORY_BYTES} are read",
            details={"directory_bytes": end - start, "limit": MAX_ZIP_DIRECTORY_BYTES},
        )
    entries = max(declared, data.count(b"PK\x01\x02", max(start, 0), end))
    if entries > MAX_ZIP_MEMBERS:
        raise DocumentTooLarge(
            f"The archive has {entries} parts; at most {MAX_ZIP_MEMBERS} are read",
            details={"parts": entries, "limit": MAX_ZIP_MEMBERS},
        )


def _zip_listing(data: bytes) -> list[zipfile.ZipInfo] | None:
    """The parts of a zip file, its directory read once (None: not a zip, or a bad one)."""
    if not data.startswith(b"PK\x03\x04"):
        return None
    _check_zip_directory(data)
    try:
        with _open_zip(data) as archive:
            return archive.infolist()
    except zipfile.BadZipFile:
        return None


def _magic(data: bytes, listing: list[zipfile.ZipInfo] | None) -> Kind | None:
    if data[:1024].lstrip().startswith(b"%PDF-"):
        return "pdf"
    if listing is not None and any(info.filename == "word/document.xml" for info in listing):
        return "docx"
    return None


_DAMAGED_ZIP = (NotImplementedError, ValueError, OSError, EOFError, struct.error)
"""What ``zipfile`` raises besides ``BadZipFile`` for a damaged archive: an unknown zip version
(``NotImplementedError``), a member name flagged UTF-8 that is not (``UnicodeDecodeError``, a
``ValueError``), a directory pointing past the end. These were a 500 on upload."""


@contextmanager
def _open_zip(data: bytes) -> Iterator[zipfile.ZipFile]:
    """The archive, or 422 ``parse_failed`` when its directory is damaged in a way zipfile does
    not call ``BadZipFile``."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            yield archive
    except zipfile.BadZipFile:
        raise
    except _DAMAGED_ZIP as exc:
        raise unreadable("zip", f"a damaged zip archive ({type(exc).__name__})") from exc


def kind_by_name(filename: str) -> Kind | None:
    """The format a file name's extension claims (None: no known extension)."""
    return _EXTENSIONS.get(PurePosixPath(filename).suffix.lower())


def _looks_like_text(data: bytes) -> bool:
    head = data[:4096]
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    controls = sum(1 for b in head if b < 9 or 13 < b < 32)
    return controls <= len(head) // 100


def _looks_like_html(text: str) -> bool:
    head = text[:2048].lstrip().lower()
    return head.startswith(("<!doctype html", "<html")) or bool(
        re.search(r"<(head|body|p|div|h1)[\s>]", head)
    )


def detect_kind(data: bytes, *, filename: str | None, content_type: str | None) -> Kind:
    """Pick the parser: binary magic first, then content type, then extension, then sniffing.
    A file named or typed as text whose bytes no text has (garbage.txt, a program renamed .md)
    is refused: it was indexed as pages of control characters the bot then cited."""
    return _detect_kind(data, _zip_listing(data), filename=filename, content_type=content_type)


def _detect_kind(
    data: bytes,
    listing: list[zipfile.ZipInfo] | None,
    *,
    filename: str | None,
    content_type: str | None,
) -> Kind:
    kind = _claimed_kind(data, listing, filename=filename, content_type=content_type)
    if kind in ("txt", "md", "html") and _binary(data, content_type):
        raise UnsupportedMediaType(
            f"File does not look like {kind.upper()}: it holds binary data",
            details={"content_type": content_type, "filename": filename},
        )
    return kind


def _binary(data: bytes, content_type: str | None) -> bool:
    """Bytes of no text: its start, decoded as the parser would decode it (a byte order mark,
    the charset, UTF-16 without a mark...), holds more than 1 % control characters."""
    if _looks_like_text(data):
        return False
    head = decode(data[:4096], content_type)
    controls = sum(1 for ch in head if ord(ch) < 32 and ch not in "\t\n\r\f\v")
    return controls > len(head) // 100


def _claimed_kind(
    data: bytes,
    listing: list[zipfile.ZipInfo] | None,
    *,
    filename: str | None,
    content_type: str | None,
) -> Kind:
    magic = _magic(data, listing)
    if magic is not None:
        return magic
    media = (content_type or "").split(";")[0].strip().lower()
    ext_kind = _EXTENSIONS.get(PurePosixPath(filename or "").suffix.lower())
    ct_kind = _CONTENT_TYPES.get(media)
    if ct_kind in ("pdf", "docx") or ext_kind in ("pdf", "docx"):
        # Claimed binary format without its signature: mislabelled, or damaged.
        raise _mismatch(data, filename=filename, content_type=content_type, media=media)
    if ct_kind == "txt" and ext_kind in ("md", "html"):
        return ext_kind
    if ct_kind is not None:
        return ct_kind
    if media not in _GENERIC_TYPES and not media.startswith("text/") and ext_kind is None:
        raise UnsupportedMediaType(
            f"Unsupported file type {media!r}: expected text, Markdown, HTML, PDF or DOCX",
            details={"content_type": content_type, "filename": filename},
        )
    if ext_kind is not None:
        return ext_kind
    if _looks_like_text(data):
        return "html" if _looks_like_html(decode(data[:4096], content_type)) else "txt"
    raise UnsupportedMediaType(
        "Unsupported file type: expected text, Markdown, HTML, PDF or DOCX",
        details={"content_type": content_type, "filename": filename},
    )


class ContentTypeMismatch(UnsupportedMediaType):
    code = "content_type_mismatch"


def _mismatch(
    data: bytes, *, filename: str | None, content_type: str | None, media: str
) -> ContentTypeMismatch:
    """415 ``content_type_mismatch``: named or sent as a PDF or DOCX (no file of either starts
    otherwise), the bytes are something else. Text is not indexed as the text it is: a file
    called .pdf holding text is most often a download that went wrong (an error page saved
    under the document's name), which the bot would then cite. The message says which claim
    and what the bytes hold, for the owner to rename the file or upload the real one."""
    by_name = _EXTENSIONS.get(PurePosixPath(filename or "").suffix.lower())
    claimed = by_name if by_name in ("pdf", "docx") else _CONTENT_TYPES[media]
    how = (
        f"named {PurePosixPath(filename or '').name}" if by_name == claimed else f"sent as {media}"
    )
    if _binary(data, content_type):
        found, advice = "binary", "it may be damaged; upload the file again"
    else:
        text = decode(data[:4096], content_type)
        found = "html" if _looks_like_html(text) else "text"
        extension = ".html" if found == "html" else ".txt or .md"
        advice = f"upload it as {extension}, or upload the {claimed.upper()} itself"
    holds = {"binary": "no text and no PDF or DOCX", "html": "HTML", "text": "text"}[found]
    return ContentTypeMismatch(
        f"File does not look like a valid {claimed.upper()}: it is {how} but holds {holds};"
        f" {advice}",
        details={
            "claimed": claimed,
            "found": found,
            "content_type": content_type,
            "filename": filename,
        },
    )


# --------------------------------------------------------------------------- entry point


def check_upload(
    data: bytes, *, filename: str | None, content_type: str | None, limits: ParseLimits
) -> Kind:
    """``detect_kind`` then ``check_size``, a zip's directory read once for both. CPU-bound on
    a large file: the API calls it in a thread, off the event loop."""
    listing = _zip_listing(data)
    kind = _detect_kind(data, listing, filename=filename, content_type=content_type)
    _check_size(data, kind, limits, listing)
    return kind


def check_size(data: bytes, kind: Kind, limits: ParseLimits) -> None:
    """Refuse (413 ``document_too_large``) what would decode past the limits, before parsing:
    a DOCX by its zip directory (the sizes zipfile then enforces while reading), text formats
    by their length. PDF streams and pages are bounded while parsing."""
    _check_size(data, kind, limits, _zip_listing(data) if kind == "docx" else None)


def _check_size(
    data: bytes, kind: Kind, limits: ParseLimits, listing: list[zipfile.ZipInfo] | None
) -> None:
    if kind == "docx":
        if listing is None:
            raise unreadable("docx", "not a readable zip archive")
        _check_docx_archive(listing, limits)
    elif kind != "pdf" and len(data) > limits.max_decoded_bytes:
        raise DocumentTooLarge(
            f"The document is {len(data)} bytes; at most {limits.max_decoded_bytes} are parsed",
            details={"size": len(data), "limit": limits.max_decoded_bytes},
        )


def _check_docx_archive(infos: list[zipfile.ZipInfo], limits: ParseLimits) -> None:
    if len(infos) > MAX_ZIP_MEMBERS:
        raise DocumentTooLarge(
            f"The DOCX file has {len(infos)} parts; at most {MAX_ZIP_MEMBERS} are read",
            details={"parts": len(infos), "limit": MAX_ZIP_MEMBERS},
        )
    ratio = limits.max_zip_ratio
    for info in infos:
        packed = max(info.compress_size, 1)
        if (
            ratio is not None
            and info.file_size > _RATIO_CHECKED_FROM
            and info.file_size > ratio * packed
        ):
            raise DocumentTooLarge(
                f"The DOCX part {info.filename} expands {info.file_size // packed} times"
                f" (to {info.file_size} bytes): refused as a compression bomb",
                details={"member": info.filename, "size": info.file_size, "ratio": ratio},
            )
    total = sum(info.file_size for info in infos)
    if total > limits.max_decoded_bytes:
        raise DocumentTooLarge(
            f"The DOCX file expands to {total} bytes; at most {limits.max_decoded_bytes} are"
            " parsed",
            details={"size": total, "limit": limits.max_decoded_bytes},
        )


def parse(
    data: bytes,
    *,
    filename: str | None,
    content_type: str | None,
    limits: ParseLimits | None = None,
) -> ParsedDocument:
    """Parse ``data`` into a :class:`ParsedDocument` within ``limits`` (the defaults if None).

    Raises ``UnsupportedMediaType`` for unknown types, ``DocumentTooLarge`` past a limit,
    ``AppError(code="nothing_extractable")`` when no text comes out and
    ``AppError(code="parse_failed")`` for corrupt files.
    """
    limits = limits or ParseLimits()
    kind = check_upload(data, filename=filename, content_type=content_type, limits=limits)
    warning: Notice | None = None
    try:
        if kind == "pdf":
            title, sections, warning = parse_pdf(data, limits)
        elif kind == "docx":
            title, sections = parse_docx(data)
        elif kind == "html":
            title, sections = parse_html(data, content_type)
        elif kind == "md":
            title, sections = parse_markdown(decode(data, content_type))
        else:
            title, sections = None, text_sections(decode(data, content_type), [])
    except (AppError, MemoryError):
        raise
    except Exception as exc:
        raise unreadable(kind, str(exc)) from exc
    sections = [_storable_section(s) for s in sections if s.text]
    if not sections:
        raise AppError(
            "No text could be extracted from this document",
            code="nothing_extractable",
            status_code=422,
            details={"kind": kind},
        )
    title = storable(title) if title else title
    stated = _clean_title(title)
    title, sections = _man_page_name(title, sections)
    title = _clean_title(title) or _clean_title(storable(filename or "")) or "Untitled"
    return ParsedDocument(
        title=title,
        sections=sections,
        kind=kind,
        source_title=stated if stated != title else None,
        warning=warning,
    )


def _storable_section(section: Section) -> Section:
    """``section`` with its text and headings as UTF-8 can hold them (``storable``)."""
    section.text = storable(section.text)
    section.heading_path = [storable(h) for h in section.heading_path]
    return section


# A manual page's NAME section: "git-add - Add file contents to the index", or several names
# ("gzip, gunzip, zcat - ..."). A space inside the names must follow a comma; written as
# "\S+(?:, ?\S+)*" the names could be split at any comma in two ways, and a page's "a,a,a,...,a"
# with no dash after took exponential time (thirty commas: minutes of a parse).
_NAME_LINE = re.compile(r"^(\S+(?:(?<=\S,) \S+)*) +[-\u2013\u2014] +(\S.*)$")
MAX_NAME_LINE = 200


def _man_page_name(title: str | None, sections: list[Section]) -> tuple[str | None, list[Section]]:
    """A manual page (a section headed NAME holding one "command - what it does" line) is
    titled by that line: "git-add(1)" becomes "git-add - Add file contents to the index", and a
    heading that only repeats the old title ("git-add(1) Manual Page") leaves every heading
    path. Anything else is returned as it is."""
    for section in sections[:3]:
        if not section.heading_path or section.heading_path[-1] != "NAME":
            continue
        lines = section.text.split("\n\n")
        body = " ".join(" ".join(lines[1:]).split()) if lines[0].strip() == "NAME" else ""
        if len(body) > MAX_NAME_LINE or not _NAME_LINE.match(body):
            return title, sections
        old = " ".join((title or "").split()).casefold()
        if old:
            for s in sections:
                s.heading_path = [
                    h for h in s.heading_path if not " ".join(h.split()).casefold().startswith(old)
                ]
        return body, sections
    return title, sections


def _clean_title(title: str | None) -> str | None:
    if not title:
        return None
    cleaned = " ".join(title.split())[:300]
    return cleaned or None


__all__ = [
    "DOCX_MIME",
    "MIB",
    "DocumentTooLarge",
    "Kind",
    "ParseLimits",
    "ParseTimeout",
    "ParsedDocument",
    "Section",
    "check_size",
    "check_upload",
    "detect_kind",
    "normalize_text",
    "parse",
    "sha256_text",
]
