"""One rule for every benchmark: a --quick run leaves docs/benchmarks.md alone unless --write.

A smoke run on a loaded machine must not replace the recorded numbers; every script that writes
its section accepts --no-write (and --write), read back through bench.common.writes_docs.
"""

from __future__ import annotations

import argparse
import re

import pytest

from bench import all as bench_all
from bench import guards
from bench.common import DOC, ROOT, add_write_options, writes_docs


def _args(argv: list[str], *, quick: bool = True, default: bool = True) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    if quick:
        parser.add_argument("--quick", action="store_true")
    add_write_options(parser, default=default)
    return parser.parse_args(argv)


@pytest.mark.parametrize(
    ("argv", "default", "expected"),
    [
        ([], True, True),  # a full run writes
        (["--quick"], True, False),  # a smoke run does not
        (["--quick", "--write"], True, True),  # unless asked to
        (["--no-write"], True, False),
        (["--quick", "--no-write"], True, False),
        ([], False, False),  # drills write only on purpose
        (["--write"], False, True),
    ],
)
def test_writes_docs_rule(argv: list[str], default: bool, expected: bool) -> None:
    assert writes_docs(_args(argv, default=default)) is expected


def test_write_and_no_write_exclude_each_other() -> None:
    with pytest.raises(SystemExit):
        _args(["--write", "--no-write"])


def test_every_script_that_writes_takes_the_shared_options() -> None:
    # Scripts whose options another module parses: topology_soak's bench/topology.py,
    # chat_http's bench/chat_args.py.
    parsers = {"topology_soak": "topology", "chat_http": "chat_args"}
    for path in sorted((ROOT / "bench").glob("*.py")):
        source = path.read_text()
        if path.stem == "common" or "write_section(" not in source:
            continue
        assert "writes_docs(" in source, f"{path.name} writes without asking writes_docs"
        owner = ROOT / "bench" / f"{parsers.get(path.stem, path.stem)}.py"
        assert "add_write_options(" in owner.read_text(), f"{path.name} lacks --no-write"
        assert not re.search(r"add_argument\(\s*\"--(no-)?write\"", source), path.name


def test_quick_runs_leave_the_page_byte_identical() -> None:
    before = DOC.read_bytes()
    try:
        assert guards.main(["--quick"]) == 0
        assert DOC.read_bytes() == before
        # bench.all --quick hands --no-write to every script, --quick or not.
        assert bench_all.main(["--quick", "--only", "guards"]) == 0
        assert DOC.read_bytes() == before
    finally:
        DOC.write_bytes(before)  # a failing run must not leave the page rewritten
