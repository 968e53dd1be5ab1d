"""HTML parsing on the worst page shapes an upload can hold: before and after, in one run.

    .venv/bin/python -m bench.html_parse                  # 10 MB pages (MAX_UPLOAD_BYTES)
    .venv/bin/python -m bench.html_parse --size 0.5 --quick

Each shape fills ``--size`` MB with one unit repeated (a heading, a heading over a tiny
paragraph, headings nested in unclosed ``<font>``, nested lists, tables and divs, thousands of
attributes on one tag...). ``rag.knowledge.html_parsing.parse_html`` is timed as it is now
("after") and as it was at ``--before`` (a git revision: the BeautifulSoup parser by default),
each in a child process stopped at ``--timeout`` seconds (PARSE_TIMEOUT_SECONDS: a parse past it
fails ``parse_timeout``). The sections come from the current parser, and its document is
chunked as a job chunks it (CHUNK_MIN_TOKENS 40: tiny sections merged by the floor).
"""

from __future__ import annotations

import argparse
import multiprocessing
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import (
    Table,
    add_write_options,
    machine_markdown,
    parse_recorded,
    recorded,
    write_section,
    writes_docs,
)

BEFORE = "bf7428c0"  # the last revision with the BeautifulSoup parser
MODULE = "rag/knowledge/html_parsing.py"
PARSED = "rag/knowledge/parsed.py"
ROOT = Path(__file__).resolve().parent.parent
ATTRIBUTES = " ".join(f"a{i}=1" for i in range(2000))

SHAPES: dict[str, tuple[str, str]] = {  # name: (unit, what encloses the units)
    "headings": ("<h2>H</h2>", "{}"),
    "tiny sections": ("<h3>T</h3><p>one two</p>", "{}"),
    "headings in unclosed font": ("<font><h2>H</h2>t", "{}"),
    "nested lists": ("<ul><li>a<b>c</b>", "{}"),
    "nested tables": ("<table><tr><td>a<b>c</b>", "{}"),
    "nested divs": ("<div>a", "{}"),
    "2,000 attributes a tag": (f"<p {ATTRIBUTES}>x</p>", "{}"),
    "line breaks": ("a<br>", "{}"),
    "cells of one row": ("<td>a", "<table><tr>{}</tr></table>"),
}


def page(unit: str, frame: str, size: int) -> tuple[bytes, int]:
    shell = f"<html><head><title>Bench</title></head><body>{frame}</body></html>"
    count = (size - len(shell) + 2) // len(unit)
    return shell.format(unit * count).encode(), count


def _revision_module(revision: str, path: str, name: str) -> types.ModuleType:
    source = subprocess.run(
        ["git", "show", f"{revision}:{path}"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    module = types.ModuleType(name)
    sys.modules[name] = module  # (dataclasses look their module up)
    exec(compile(source, f"{revision}:{path}", "exec"), module.__dict__)
    return module


def _before_module(revision: str) -> types.ModuleType:
    """The parser at ``revision``, with that revision's ``rag.knowledge.parsed`` (text
    normalisation, sections): loaded in the timing child only, which it replaces there."""
    _revision_module(revision, PARSED, "rag.knowledge.parsed")
    return _revision_module(revision, MODULE, "html_parsing_before")


def _child(conn: Any, revision: str | None, data: bytes) -> None:
    from rag.knowledge import html_parsing

    parse: Callable[..., Any] = (
        _before_module(revision).parse_html if revision else html_parsing.parse_html
    )
    started = time.perf_counter()
    _, sections = parse(data, "text/html")
    conn.send((time.perf_counter() - started, len(sections)))


def timed(revision: str | None, data: bytes, timeout: float) -> tuple[float | None, int | None]:
    """Seconds ``parse_html`` (of ``revision``, or the current one) took on ``data`` in a child
    process and its sections; (None, None) past ``timeout``."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(sender, revision, data), daemon=True)
    child.start()
    sender.close()
    try:
        if receiver.poll(timeout):
            seconds, sections = receiver.recv()
            return seconds, sections
        return None, None
    finally:
        if child.is_alive():
            child.kill()
        child.join()


def chunked(data: bytes) -> tuple[int, float]:
    from rag.knowledge.chunking import chunk_document
    from rag.knowledge.parsing import parse

    document = parse(data, filename="bench.html", content_type="text/html")
    started = time.perf_counter()
    pieces = chunk_document(document, min_tokens=40)
    return len(pieces), time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=float, default=10.0, help="MB of each page (10)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds (60)")
    parser.add_argument("--before", default=BEFORE, help=f"git revision ({BEFORE})")
    parser.add_argument("--quick", action="store_true", help="a smoke run: never recorded")
    add_write_options(parser)
    args = parse_recorded(parser, argv)
    size = int(args.size * 1_048_576)
    table = Table(["shape", "units", "before s", "after s", "sections", "chunks", "chunking s"])
    for name, (unit, frame) in SHAPES.items():
        data, count = page(unit, frame, size)
        before, _ = timed(args.before, data, args.timeout)
        after, sections = timed(None, data, args.timeout)
        chunks, chunk_seconds = chunked(data) if after is not None else (None, None)
        late = f"> {args.timeout:g} (parse_timeout)"
        table.add(
            name,
            count,
            late if before is None else before,
            late if after is None else after,
            sections,
            chunks,
            chunk_seconds,
        )
        print(f"{name}: done", flush=True)
    table.print(f"parse_html on {args.size:g} MB pages, before ({args.before}) and after")
    if writes_docs(args):
        note = (
            f"each page {args.size:g} MB; parse_html alone, each in a child process stopped at"
            f" {args.timeout:g} s; before: the parser (and rag.knowledge.parsed) at"
            f" {args.before}, after: this checkout's; chunks as a job cuts them"
            " (CHUNK_MIN_TOKENS 40)"
        )
        write_section(
            "html_parse",
            "\n".join(
                [
                    "## HTML parsing: worst shapes",
                    "",
                    recorded("bench.html_parse", args, note, table),
                    "",
                    machine_markdown(),
                ]
            ),
        )


if __name__ == "__main__":
    main()
