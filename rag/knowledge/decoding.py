"""Bytes to text for the text formats (txt, md, and HTML's detection): the declared charset,
UTF-8 and UTF-16 with or without a BOM, UTF-32 with one, detection for East Asian, Cyrillic and
Greek text, cp1252 otherwise."""

from __future__ import annotations

import re

# Encodings taken from detection (charset_normalizer) when a file is neither UTF-8 nor declares
# its charset: the multibyte East Asian ones and the Cyrillic and Greek single-byte ones, which
# cp1252 would turn into mojibake. Western European text stays cp1252, which detection mistakes
# for cp1250 ("Genčve" for "Genève").
_EAST_ASIAN = (
    *("cp932", "shift_jis", "shift_jis_2004", "euc_jp", "iso2022_jp"),
    *("gb2312", "gbk", "gb18030", "hz", "big5", "big5hkscs", "cp950"),
    *("cp949", "euc_kr", "johab", "iso2022_kr"),
)
_CYRILLIC = ("cp1251", "koi8_r", "koi8_u", "iso8859_5", "mac_cyrillic", "cp866", "cp855")
_GREEK = ("cp1253", "iso8859_7")
_DETECTED = frozenset((*_EAST_ASIAN, *_CYRILLIC, *_GREEK))


def _utf16_without_bom(data: bytes) -> str | None:
    """``utf-16-le`` or ``-be`` when every other byte of the start is NUL (text of Latin script
    in UTF-16 without a byte order mark, which UTF-8 would "decode" with a NUL between
    letters)."""
    head = data[:4096]
    if len(head) < 8 or head.count(0) < len(head) // 4:
        return None
    odd, even = head[1::2], head[0::2]
    if odd.count(0) >= 0.9 * len(odd) and even.count(0) < 0.1 * len(even):
        return "utf-16-le"
    if even.count(0) >= 0.9 * len(even) and odd.count(0) < 0.1 * len(odd):
        return "utf-16-be"
    return None


def decode(data: bytes, content_type: str | None) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        # UTF-32 before UTF-16, whose little-endian mark begins the same (read as UTF-16, a NUL
        # between letters: refused as binary)
        return data.decode("utf-32", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    charset = declared_charset(content_type)
    if charset is None and (utf16 := _utf16_without_bom(data)) is not None:
        return data.decode(utf16, errors="replace")  # an odd last byte (a cut body) too
    for encoding in (browser_charset(charset), charset, "utf-8"):
        if not encoding:
            continue
        if encoding == "windows-1252":
            return windows_1252(data)
        try:
            return data.decode(encoding)
        except (UnicodeError, LookupError):  # charset=undefined raises a bare UnicodeError
            continue
    import charset_normalizer

    best = charset_normalizer.from_bytes(data[:200_000]).best()
    if best is not None and best.encoding in _DETECTED:
        text = data.decode(best.encoding, errors="replace")
        if _in_its_script(text, best.encoding):
            return text
    return data.decode("cp1252", errors="replace")


def _in_its_script(text: str, encoding: str) -> bool:
    """Whether most letters of ``text`` are of the script ``encoding`` is for: detection takes
    short Western text for cp932 (a multiplication sign read as a half-width katakana) or for
    Cyrillic, where the letters stay Latin but for a few."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return False
    if encoding in _CYRILLIC:
        ours = sum("\u0400" <= c <= "\u04ff" for c in letters)
    elif encoding in _GREEK:
        ours = sum("\u0370" <= c <= "\u03ff" for c in letters)
    else:  # East Asian: kana, ideographs, Hangul; never half-width katakana
        ours = sum(
            "\u3040" <= c <= "\u30ff" or "\u3400" <= c <= "\u9fff" or "\uac00" <= c <= "\ud7af"
            for c in letters
        )
    return ours >= 0.5 * len(letters)


def declared_charset(content_type: str | None) -> str | None:
    if not content_type:
        return None
    match = re.search(r"charset=\"?([\w.:-]+)", content_type, re.IGNORECASE)
    return match.group(1) if match else None


_LATIN1_LABELS = frozenset(
    {
        *("iso-8859-1", "iso8859-1", "iso88591", "iso_8859-1", "iso_8859-1:1987", "iso-ir-100"),
        *("latin1", "latin-1", "l1", "cp819", "ibm819", "csisolatin1"),
    }
)
"""Names of ISO-8859-1, which browsers read as Windows-1252 (the WHATWG Encoding standard's
labels of windows-1252, and Python's ``latin-1``): a Western page's curly quotes, dashes and
euro signs (bytes 0x80-0x9F) are Windows-1252's, and read as ISO-8859-1 they were C1 control
characters. (ASCII's names, also Windows-1252's labels, are refused by the bytes past ASCII
and the next encoding tried, as before.)"""
_WINDOWS_1252_LABELS = _LATIN1_LABELS | {"windows-1252", "cp1252", "x-cp1252"}


def browser_charset(charset: str | None) -> str | None:
    """``charset`` as browsers read it: ``windows-1252`` for a name of ISO-8859-1 (or of
    Windows-1252 itself), which ``decode`` reads with ``windows_1252``."""
    if charset is not None and charset.strip().lower() in _WINDOWS_1252_LABELS:
        return "windows-1252"
    return charset


_UNDEFINED_IN_CP1252 = frozenset((0x81, 0x8D, 0x8F, 0x90, 0x9D))
_C1_AS_CP1252 = str.maketrans(
    {
        chr(byte): bytes([byte]).decode("cp1252")
        for byte in range(0x80, 0xA0)
        if byte not in _UNDEFINED_IN_CP1252
    }
)


def windows_1252(data: bytes) -> str:
    """``data`` in Windows-1252 as the WHATWG Encoding standard reads it: Python's ``cp1252``,
    but the five bytes it leaves undefined are the C1 controls of their number (as in
    ISO-8859-1). Before, a text with one was read as ISO-8859-1 whole: its curly quotes,
    dashes and euro signs were C1 controls again."""
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1").translate(_C1_AS_CP1252)
