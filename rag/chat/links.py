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

__all__ = ["LinkPolicy", "restrict_links", "safe_links"]

# What widget.js renders as a link, and the other inline-link forms markdown renderers accept
# (angle-bracketed destinations, titles, empty labels): a superset, so nothing slips between.
_INLINE_LINK: Final = re.compile(
    r"\[([^\]\n]*)\]\(\s*(?:<([^<>\n]*)>|([^()\s]*))"
    r"(?:\s+(?:\"[^\"\n]*\"|'[^'\n]*'|\([^()\n]*\)))?\s*\)"
)
# A URL that may stay a link has none of the characters that could hide another link in it.
_SAFE_URL: Final = re.compile(r"[^\s<>\[\]()\"'`\\]+")
_AUTOLINK: Final = re.compile(r"<([A-Za-z][A-Za-z0-9+.\-]{1,31}:[^<>\s]*)>")
# Reference-style definitions ("[id]: https://..."), which make "[label][id]" a link elsewhere.
_REFERENCE: Final = re.compile(r"^( {0,3})\[([^\]\n]+)\]:[ \t]*<?(\S+?)>?(?=[ \t]|$)", re.M)
_MAX_PASSES: Final = 5


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


def _url(match: re.Match[str]) -> str:
    return match.group(2) if match.group(2) is not None else match.group(3)


def _plain(label: str, url: str) -> str:
    label = label.strip()
    return url if not label or label == url else f"{label} ({url})"


def restrict_links(text: str, allowed: LinkPolicy | Callable[[str], bool]) -> str:
    """``text`` with every link the policy does not allow turned into plain text."""
    allows = allowed.allows if isinstance(allowed, LinkPolicy) else allowed

    def inline(match: re.Match[str]) -> str:
        label, url = match.group(1), _url(match)
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
        rewritten = _REFERENCE.sub(reference, _AUTOLINK.sub(auto, _INLINE_LINK.sub(inline, text)))
        if rewritten == text:
            return text
        text = rewritten
    return _INLINE_LINK.sub(lambda m: _plain(m.group(1), _url(m)), text)


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
