"""An untitled page is titled by its first ``<h1>``, wherever the markup nests it.

The page's first ``<h1>`` in document order, outside the chrome, titled a page without a
``<title>``. The linear parser took the first one its walk reached, and the walk does not go
into a heading or a ``<pre>`` (their text is read whole): an ``<h1>`` inside an unclosed
``<h2>`` or ``<pre>`` of broken markup was missed, and the page was titled by its file name.
"""

from __future__ import annotations

import uuid

import pytest

from rag.knowledge.parsing import parse


@pytest.mark.parametrize(
    "shape",
    [
        "<h2>Overview <h1>{title}</h1></h2><p>{body}</p>",
        "<pre>listing\n<h1>{title}</h1></pre><p>{body}</p>",
        "<h3>See <b><h1>{title}</h1></b></h3><h1>Later heading</h1><p>{body}</p>",
    ],
)
def test_the_first_h1_titles_the_page_however_it_nests(shape: str) -> None:
    title, body = f"Manual {uuid.uuid4().hex[:10]}", f"body{uuid.uuid4().hex[:10]}"
    page = "<html><body>" + shape.format(title=title, body=body) + "</body></html>"
    assert parse(page.encode(), filename="page.html", content_type="text/html").title == title


def test_an_h1_in_the_chrome_under_a_heading_does_not_title_the_page() -> None:
    title = f"Manual {uuid.uuid4().hex[:10]}"
    chrome = "<h2>Intro<nav><h1>Menu</h1></nav></h2>"
    page = f"<html><body>{chrome}<h1>{title}</h1><p>x</p></body></html>"
    assert parse(page.encode(), filename="page.html", content_type="text/html").title == title
