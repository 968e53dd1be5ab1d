"""Sitemaps in shapes the protocol allows that editors and CMS plugins save: a UTF-8 byte order
mark before the XML declaration or the first URL of a text list, a scheme in capitals."""

from __future__ import annotations

import codecs

from rag.knowledge.sitemaps import parse_sitemap

BOM = codecs.BOM_UTF8


def test_an_xml_sitemap_after_a_byte_order_mark_is_read() -> None:
    body = BOM + (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<url><loc>https://shop.example/a</loc></url></urlset>"
    )
    assert parse_sitemap(body) == ("urlset", ["https://shop.example/a"])


def test_a_sitemap_index_after_a_byte_order_mark_is_read() -> None:
    body = BOM + (
        b'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<sitemap><loc>https://shop.example/s1.xml</loc></sitemap></sitemapindex>"
    )
    assert parse_sitemap(body) == ("index", ["https://shop.example/s1.xml"])


def test_a_text_list_keeps_its_first_url_after_a_byte_order_mark() -> None:
    body = BOM + b"https://shop.example/1\r\nhttps://shop.example/2\r\n"
    assert parse_sitemap(body) == ("urlset", ["https://shop.example/1", "https://shop.example/2"])


def test_a_text_list_takes_a_scheme_in_capitals_as_xml_does() -> None:
    body = b"HTTPS://shop.example/1\nhttps://shop.example/2\n"
    assert parse_sitemap(body) == ("urlset", ["HTTPS://shop.example/1", "https://shop.example/2"])
