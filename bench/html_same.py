"""Does every HTML page on this machine parse the same in two checkouts? Titles and sections
(text and heading path) of ``parse_html``, page by page, the whole parser's code (the tree, the
walk, ``rag.knowledge.parsed``) of each checkout:

    PYTHONPATH=/work/main .venv/bin/python bench/html_same.py --write /tmp/before.json
    .venv/bin/python -m bench.html_same --against /tmp/before.json

Prints the pages that differ (none: exit 0) and how many were compared; never recorded.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DIRECTORIES = ["/usr/share/doc/python3.11/html", "/usr/share/doc/git-doc"]


def parsed(directories: list[str]) -> dict[str, object]:
    from rag.knowledge.html_parsing import parse_html

    out: dict[str, object] = {}
    for directory in directories:
        for path in sorted(Path(directory).rglob("*")):
            if path.suffix in (".html", ".htm") and path.is_file():
                title, sections = parse_html(path.read_bytes(), "text/html")
                out[str(path)] = [title, [[s.text, s.heading_path] for s in sections]]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directories", nargs="*", default=DIRECTORIES)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--write", type=Path, help="write this checkout's parses here")
    what.add_argument("--against", type=Path, help="compare with the parses written here")
    args = parser.parse_args(argv)
    now = parsed(args.directories)
    if args.write:
        args.write.write_text(json.dumps(now))
        print(f"{len(now)} pages written to {args.write}")
        return 0
    before = json.loads(args.against.read_text())
    paths = before.keys() | now.keys()
    differ = sorted(path for path in paths if before.get(path) != now.get(path))
    for path in differ:
        print(f"differs: {path}")
    print(f"{len(now)} pages compared, {len(differ)} differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
