"""`make test`'s order of files (tests/conftest.py): the long ones first, the rest as
pytest-xdist ordered them (most tests first), each file's tests in their own order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from tests.conftest import LONGEST_FIRST, ROOT, file_order


@dataclass
class Item:
    nodeid: str


def test_every_long_file_named_exists() -> None:
    """A renamed file would silently go back to the end of the run."""
    assert [name for name in LONGEST_FIRST if not (ROOT / name).is_file()] == []
    assert len(set(LONGEST_FIRST)) == len(LONGEST_FIRST)


def test_long_files_first_then_by_their_number_of_tests() -> None:
    names = [
        "tests/a.py::one",
        "tests/b.py::one",
        "tests/b.py::two",
        f"{LONGEST_FIRST[1]}::only",
        "tests/c.py::one",
        f"{LONGEST_FIRST[0]}::first",
        f"{LONGEST_FIRST[0]}::second",
        "tests/c.py::two",
        "tests/c.py::three",
    ]
    ordered = file_order(cast(Any, [Item(name) for name in names]))
    assert [item.nodeid for item in ordered] == [
        f"{LONGEST_FIRST[0]}::first",
        f"{LONGEST_FIRST[0]}::second",
        f"{LONGEST_FIRST[1]}::only",
        "tests/c.py::one",
        "tests/c.py::two",
        "tests/c.py::three",
        "tests/b.py::one",
        "tests/b.py::two",
        "tests/a.py::one",
    ]
