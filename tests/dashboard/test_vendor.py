"""The vendored browser libraries are exactly the locked ones (offline: no registry needed)."""

from __future__ import annotations

import json
from pathlib import Path

from scripts import vendor


def test_committed_files_match_the_lock() -> None:
    assert vendor.check() == []
    entries = vendor.read_lock()
    assert {e.package for e in entries} == {"htmx.org"}
    assert all(e.version[0].isdigit() for e in entries), "versions are pinned exactly"


def test_check_notices_a_changed_file(tmp_path: Path) -> None:
    lock = tmp_path / "vendor.lock.json"
    entry = vendor.read_lock()[0]
    (tmp_path / entry.dest).write_bytes(b"/* not htmx */")
    lock.write_text(json.dumps({"files": [entry.__dict__]}))
    problems = vendor.check(vendor_dir=tmp_path, lock=lock)
    assert len(problems) == 1
    assert entry.dest in problems[0]
    (tmp_path / entry.dest).unlink()
    assert "missing" in vendor.check(vendor_dir=tmp_path, lock=lock)[0]
