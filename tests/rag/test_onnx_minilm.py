"""The local model through ONNX Runtime (EMBED_RUNTIME=onnx): the vectors sentence-transformers
gives, the exported graph cached and checked, and torch when ONNX cannot run."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rag.knowledge import onnx_minilm
from rag.knowledge.embeddings import LocalEmbedder, build_embedder, get_local_model
from tests.conftest import make_settings, seed_onnx_graph

PAGE = Path("/usr/share/doc/python3.11/html/library/asyncio-task.html")

# Short questions, text with accents, emoji and CJK, and passages over the model's 256-piece
# window (cut by both runtimes the same way).
TEXTS = [
    "how do I reset my password",
    "Wie kann ich mein Abonnement kündigen? 🙂",
    "日本語のドキュメントはありますか",
    "What happens to my data when I delete the workspace?",
    "asyncio.gather runs awaitables concurrently; " * 60,
    " ".join(f"word{i}" for i in range(400)),
]


def _page_passages() -> list[str]:
    """Real documentation text (python3-doc) in passages of 180 words, when installed."""
    if not PAGE.exists():
        return []
    from rag.knowledge.parsing import parse

    parsed = parse(PAGE.read_bytes(), filename=PAGE.name, content_type="text/html")
    words = " ".join(section.text for section in parsed.sections).split()
    return [" ".join(words[i : i + 180]) for i in range(0, min(len(words), 180 * 6), 180)]


@pytest.fixture(scope="module")
def torch_model() -> Any:
    return get_local_model(1)


def _not_exported() -> Any:
    raise AssertionError("the graph was exported again")


def _reference(model: Any, texts: list[str]) -> np.ndarray:
    vectors = model.encode(texts, normalize_embeddings=True, show_progress_bar=False)
    return np.asarray(vectors, dtype=np.float32)


def test_the_tokenizer_cuts_and_pads_as_sentence_transformers_does(torch_model: Any) -> None:
    texts = TEXTS + _page_passages()
    ours = onnx_minilm.load_tokenizer(onnx_minilm.bundled_model_path()).encode_batch(texts)
    theirs = torch_model.tokenizer(texts, padding=True, truncation=True, max_length=256)
    assert [e.ids for e in ours] == theirs["input_ids"]
    assert [e.attention_mask for e in ours] == theirs["attention_mask"]
    assert max(sum(e.attention_mask) for e in ours) == 256  # the long ones were cut at 256


def test_onnx_vectors_equal_the_torch_models_alone_and_in_batches(
    torch_model: Any, onnx_graph: Path, tmp_path: Path
) -> None:
    """The session's graph (the export itself is the next tests' matter), against torch."""
    texts = TEXTS + _page_passages()
    expected = _reference(torch_model, texts)
    encoder = onnx_minilm.load(seed_onnx_graph(onnx_graph, tmp_path), 1, _not_exported)
    alone = np.vstack([encoder.encode([text]) for text in texts])
    mixed = encoder.encode(texts, batch_size=3)  # batches of long and short texts, padded
    for got in (alone, mixed):
        assert got.shape == (len(texts), 384)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, expected, atol=1e-5)
    # Different texts stay apart: the comparison above is not between zero vectors.
    assert float(expected[0] @ expected[3]) < 0.9


def test_the_graph_is_exported_once_then_loaded_without_torch(
    torch_model: Any, tmp_path: Path
) -> None:
    calls: list[int] = []

    def model() -> Any:
        calls.append(1)
        return torch_model

    first = onnx_minilm.load(tmp_path, 1, model)
    files = list(tmp_path.iterdir())
    assert [f.suffix for f in files] == [".onnx"]
    assert calls == [1]
    assert onnx_minilm.artifact_key(onnx_minilm.bundled_model_path()) in files[0].name
    assert oct(files[0].stat().st_mode & 0o777) == oct(0o644)
    again = onnx_minilm.load(tmp_path, 1, model)  # the same process: the same session
    assert again is first
    assert calls == [1]

    # Another process finds the file and never imports torch.
    script = (
        "import sys; from pathlib import Path; from rag.knowledge import onnx_minilm\n"
        "def no_torch(): raise SystemExit('asked for the torch model')\n"
        f"e = onnx_minilm.load(Path({str(tmp_path)!r}), 1, no_torch)\n"
        "v = e.encode(['how do I reset my password'])[0]\n"
        "print('torch' in sys.modules, ' '.join(f'{x:.6f}' for x in v[:4]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    imported, head = result.stdout.split(" ", 1)
    assert imported == "False"
    expected = _reference(torch_model, ["how do I reset my password"])[0][:4]
    np.testing.assert_allclose([float(x) for x in head.split()], expected, atol=1e-5)


def test_a_damaged_graph_is_exported_again(torch_model: Any, tmp_path: Path) -> None:
    key = onnx_minilm.artifact_key(onnx_minilm.bundled_model_path())
    graph = tmp_path / f"all-MiniLM-L6-v2-{key}.onnx"
    graph.write_bytes(b"not an onnx graph")
    encoder = onnx_minilm.load(tmp_path, 1, lambda: torch_model)
    assert graph.stat().st_size > 1_000_000
    np.testing.assert_allclose(
        encoder.encode(TEXTS[:2]), _reference(torch_model, TEXTS[:2]), atol=1e-5
    )


def test_an_export_that_differs_is_refused_and_removed(torch_model: Any, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="differs from the torch model"):
        onnx_minilm.load(tmp_path, 1, lambda: torch_model, tolerance=-1.0)
    assert list(tmp_path.iterdir()) == []


async def test_the_embedder_falls_back_to_torch_when_onnx_cannot_run(
    torch_model: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "a-file-not-a-directory"
    blocked.write_text("the cache directory cannot be made here")
    embedder = LocalEmbedder(batch_size=4, threads=1, model_cache_dir=blocked)
    assert embedder.load() == "torch"
    assert embedder.graph is None
    assert "EMBED_RUNTIME=onnx unavailable" in caplog.text
    vectors = await embedder.embed_documents(TEXTS[:3])
    np.testing.assert_allclose(vectors, _reference(torch_model, TEXTS[:3]), atol=1e-6)


async def test_onnx_and_torch_embedders_agree_through_the_batcher(
    onnx_graph: Path, tmp_path: Path
) -> None:
    settings = make_settings(
        embedding_provider="local",
        embed_threads=1,
        embed_model_cache_dir=seed_onnx_graph(onnx_graph, tmp_path),  # exported: not again
    )
    onnx = build_embedder(settings)
    torch_ = build_embedder(settings.model_copy(update={"embed_runtime": "torch"}))
    assert isinstance(onnx, LocalEmbedder)
    assert isinstance(torch_, LocalEmbedder)
    assert onnx.load() == "onnx"
    assert torch_.load() == "torch"
    assert onnx.graph is not None
    assert onnx.graph.parent == tmp_path
    try:
        questions = TEXTS[:4]
        got = await asyncio.gather(*(onnx.embed_query(q) for q in questions))
        want = await asyncio.gather(*(torch_.embed_query(q) for q in questions))
        np.testing.assert_allclose(np.vstack(got), np.vstack(want), atol=1e-5)
        docs = TEXTS + _page_passages()
        np.testing.assert_allclose(
            await onnx.embed_documents(docs), await torch_.embed_documents(docs), atol=1e-5
        )
    finally:
        await onnx.aclose()
        await torch_.aclose()


def test_a_blank_cache_directory_setting_means_the_default() -> None:
    settings = make_settings(embed_model_cache_dir="")
    assert settings.embed_model_cache_dir is None
    assert settings.embed_runtime == "onnx"
    assert onnx_minilm.default_cache_dir().parts[-2:] == ("trulybot", "models")
