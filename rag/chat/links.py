"""Links in generated answers: clickable only to the cited sources and the workspace's own sites.

An answer built from documents (quoted by the extractive answerer, or written by a model that a
document may have instructed) can carry a markdown link to anywhere: a phishing page dressed up
as the site's own help. Before an answer is stored, cached or sent, every link whose host is
neither the host of a source the answer cites nor one of the workspace's allowed origins (the
sites the owner embeds the widget on, ``*.`` wildcards included) becomes plain text:
``[label](url)`` turns into ``label (url)``, an autolink ``<url>`` into ``url``. Only http(s)
links can stay. The widget renders nothing else as a link.

Owner-written answers (FAQs, the greeting) are not filtered: their links are the owner's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

__all__ = ["LinkPolicy", "inline_links", "restrict_links", "safe_links"]

# A URL that may stay a link has none of the characters that could hide another link in it.
_SAFE_URL: Final = re.compile(r"[^\s<>\[\]()\"'`\\]+")
_AUTOLINK: Final = re.compile(r"<([A-Za-z][A-Za-z0-9+.\-]{1,31}:[^<>\s]*)>")
# Reference-style definitions ("[id]: https://..."), which make "[label][id]" a link elsewhere.
_REFERENCE: Final = re.compile(r"^( {0,3})\[([^\]\n]+)\]:[ \t]*<?(\S+?)>?(?=[ \t]|$)", re.M)
_MAX_PASSES: Final = 5
# Space to Python's \s (str.isspace), not to JavaScript's (widget.js's) nor to CommonMark's: a
# URL holding one was read here as ending at it (no link), and the widget, reading on through
# it, showed a link to anywhere. Made spaces (to them too) before anything is read.
_PYTHON_ONLY_SPACE: Final = re.compile(r"[\x1c-\x1f\x85]")

# What widget.js renders as a link, and the other inline-link forms markdown renderers accept
# (angle-bracketed destinations, titles, empty labels): a superset, so nothing slips between.
# A link is what this expression matches, scanned left to right without overlaps:
#     \[([^\]\n]*)\]\(\s*(?:<([^<>\n]*)>|([^()\s]*))
#     (?:\s+(?:"[^"\n]*"|'[^'\n]*'|\([^()\n]*\)))?\s*\)
# It is scanned by hand in linear time: the expression itself retried from every "[" of a run
# (quadratic: 2,000 "[" took 120 ms) and tried every split of the spaces after "(" (cubic with
# both: 800 characters took 1.5 s), and an answer is partly the visitor's to shape.
# tests/rag/test_links.py holds the scanner to the expression on generated texts.
_LABEL_END: Final = re.compile(r"[\]\n]")
_SPACES: Final = re.compile(r"\s*")
_ANGLE: Final = re.compile(r"<([^<>\n]*)>")
_BARE: Final = re.compile(r"[^()\s]*")
_TITLE: Final = re.compile(r"\"[^\"\n]*\"|'[^'\n]*'|\([^()\n]*\)")


def _closed(text: str, at: int) -> int | None:
    """Where ``\\s*\\)`` at ``at`` ends, or None."""
    after = _SPACES.match(text, at).end()  # type: ignore[union-attr]
    return after + 1 if text.startswith(")", after) else None


def _after_destination(text: str, at: int) -> int | None:
    """Where the optional title and the ``)`` after a destination ending at ``at`` end. Spaces
    then a title (which starts with a quote or "(", never a space: only all the spaces can
    come before it), else spaces then ``)``."""
    after = _SPACES.match(text, at).end()  # type: ignore[union-attr]
    if after > at and (title := _TITLE.match(text, after)):
        end = _closed(text, title.end())
        if end is not None:
            return end
    return after + 1 if text.startswith(")", after) else None


def _destination(text: str, paren: int) -> tuple[str, int] | None:
    """The URL and the end of the link whose ``(`` is at ``paren``, as the expression's
    backtracking finds them: all the spaces first, then one fewer (any fewer leave the same
    choice: an empty destination followed by spaces)."""
    start = _SPACES.match(text, paren + 1).end()  # type: ignore[union-attr]
    if text.startswith("<", start) and (angle := _ANGLE.match(text, start)):
        end = _after_destination(text, angle.end())
        if end is not None:
            return angle.group(1), end
    # A shorter bare destination would leave a character of it next, which is neither a space
    # nor ")": only the longest can be followed by the rest.
    bare = _BARE.match(text, start).end()  # type: ignore[union-attr]
    end = _after_destination(text, bare)
    if end is not None:
        return text[start:bare], end
    if start > paren + 1 and (title := _TITLE.match(text, start)):
        # One space fewer: an empty destination, the last space, then the title.
        end = _closed(text, title.end())
        if end is not None:
            return "", end
    return None


def inline_links(text: str) -> list[tuple[int, int, str, str]]:
    """Every inline link of ``text`` as (start, end, label, URL), left to right, in linear
    time. Every "[" before the same "]" (or line end) shares that "]" and what follows it: the
    first of them starts the link, or none does."""
    found: list[tuple[int, int, str, str]] = []
    if "](" not in text:  # most answers: citations ("[1]") and no link
        return found
    at = 0
    while (opening := text.find("[", at)) >= 0:
        stop = _LABEL_END.search(text, opening + 1)
        if stop is None:
            break
        close = stop.start()
        link = _destination(text, close + 1) if text.startswith("](", close) else None
        if link is None:
            at = close + 1
            continue
        url, end = link
        found.append((opening, end, text[opening + 1 : close], url))
        at = end
    return found


def _replace_links(text: str, replace: Callable[[str, str], str]) -> str:
    """``text`` with each inline link replaced by ``replace(label, url)``."""
    pieces: list[str] = []
    at = 0
    for start, end, label, url in inline_links(text):
        pieces += (text[at:start], replace(label, url))
        at = end
    if not pieces:
        return text
    pieces.append(text[at:])
    return "".join(pieces)


def _host(url: str) -> str | None:
    if not _SAFE_URL.fullmatch(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return parts.hostname.rstrip(".").lower()


@dataclass(frozen=True)
class LinkPolicy:
    """The hosts an answer may link to."""

    hosts: frozenset[str]
    suffixes: tuple[str, ...] = ()

    @classmethod
    def of(
        cls, *, cited_urls: Iterable[str | None], allowed_origins: Iterable[str] = ()
    ) -> LinkPolicy:
        """Hosts of the cited sources' URLs, and of the workspace's allowed origins
        (``https://*.example.com`` allows any subdomain of example.com, not example.com)."""
        hosts = {h for h in (_host(u) for u in cited_urls if u) if h}
        suffixes = []
        for origin in allowed_origins:
            _scheme, sep, rest = str(origin).partition("://")
            if not sep:
                continue
            if rest.startswith("*."):
                suffixes.append("." + rest[2:].split(":")[0].strip(".").lower())
            else:
                host = _host(origin)
                if host:
                    hosts.add(host)
        return cls(hosts=frozenset(hosts), suffixes=tuple(suffixes))

    def allows(self, url: str) -> bool:
        host = _host(url)
        if host is None:
            return False
        return host in self.hosts or any(
            host.endswith(s) and len(host) > len(s) for s in self.suffixes
        )


def _plain(label: str, url: str) -> str:
    label = label.strip()
    return url if not label or label == url else f"{label} ({url})"


def restrict_links(text: str, allowed: LinkPolicy | Callable[[str], bool]) -> str:
    """``text`` with every link the policy does not allow turned into plain text."""
    allows = allowed.allows if isinstance(allowed, LinkPolicy) else allowed
    text = _PYTHON_ONLY_SPACE.sub(" ", text)

    def inline(label: str, url: str) -> str:
        # An allowed link is rebuilt bare (no title that could carry text of its own).
        return f"[{label}]({url})" if allows(url) else _plain(label, url)

    def auto(match: re.Match[str]) -> str:
        return match.group(0) if allows(match.group(1)) else match.group(1)

    def reference(match: re.Match[str]) -> str:
        indent, label, url = match.group(1), match.group(2), match.group(3)
        return match.group(0) if allows(url) else f"{indent}{label}: {url}"

    # Rewriting one link can make a new one appear (a label that held brackets): repeat until
    # nothing changes.
    for _ in range(_MAX_PASSES):
        rewritten = _REFERENCE.sub(reference, _AUTOLINK.sub(auto, _replace_links(text, inline)))
        if rewritten == text:
            return text
        text = rewritten
    return _unlinked(text)


def _unlinked(text: str) -> str:
    """``text`` with no link of any form left, for one still changing after the passes (links
    nested deeper than them): each link left becomes text, and so could make the one around it
    a link (its label held the brackets), which nothing would look at. So the marks that make a
    link are broken apart too: "](" (an inline link), "]:" (a reference definition) and an
    autolink's angle brackets (each given a space, which neither a link nor an autolink can
    hold)."""
    text = _AUTOLINK.sub(lambda m: f" {m.group(1)} ", _replace_links(text, _plain))
    return text.replace("](", "] (").replace("]:", "] :")


def safe_links(
    widget_config: Mapping[str, Any] | None, text: str, citations: Iterable[Mapping[str, Any]]
) -> str:
    """Links in an answer drawn from documents stay clickable only to the sources it cites and
    the workspace's allowed origins (its ``widget_config``)."""
    policy = LinkPolicy.of(
        cited_urls=[c.get("url") for c in citations],
        allowed_origins=list((widget_config or {}).get("allowed_origins") or []),
    )
    return restrict_links(text, policy)
