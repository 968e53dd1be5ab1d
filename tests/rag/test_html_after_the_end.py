"""What a page says after its ``</html>`` is read as the end of its body.

Templates that close the page in a footer include, then go on (a CMS's late widget, a page
concatenated from parts), leave content after ``</html>``; browsers show it at the end of the
body. libxml2 reports it as a second ``<html>`` element, and the page's tree kept the first one
alone: that content was lost (before the linear parser too).
"""

from __future__ import annotations

import uuid

from rag.knowledge.parsing import parse


def test_content_after_the_closing_html_tag_is_read() -> None:
    first, late, heading = (f"w{uuid.uuid4().hex[:10]}" for _ in range(3))
    page = (
        f"<html><head><title>T</title></head><body><p>{first}</p></body></html>"
        f"<h2>{heading}</h2><p>{late}</p>"
    )
    parsed = parse(page.encode(), filename="page.html", content_type="text/html")
    assert parsed.text.split() == [first, heading, late]
    assert [s.heading_path for s in parsed.sections] == [[], [heading]]
