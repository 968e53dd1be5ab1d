"""bench.peer_langchain says what to install when the LangChain side is missing."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bench import peer_langchain


def test_missing_langchain_exits_with_what_to_install_before_any_work(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A module set to None in sys.modules cannot be imported: as if it were not installed.
    monkeypatch.setitem(sys.modules, "langchain_core", None)
    monkeypatch.setitem(sys.modules, "langchain_postgres", None)
    data_dir = tmp_path / "peer"
    with pytest.raises(SystemExit) as exited:
        peer_langchain.main(["--quick", "--no-write", "--data-dir", str(data_dir)])
    message = str(exited.value.code)
    assert "langchain-postgres" in message
    assert "pip install" in message
    assert not data_dir.exists()  # no database was started for nothing
