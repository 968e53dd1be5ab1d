"""RERANKER=maxsim: late interaction over the bundled MiniLM's token states, fused with the
retrieval order's page scores (issue 12; docs/retrieval.md, nineteenth and twentieth sessions).

Each candidate page is scored by MaxSim against the question, in the manner of ColBERT but
with the shipped all-MiniLM-L6-v2 as it is, over its two best candidate chunks: its hit chunk
and, when the search's candidates hold one, the page's next candidate chunk
(``retrieval.Hit.second``), the page's score being the larger of the two:

    maxsim(q, d) = mean over the question's tokens i of (max over the passage's tokens j of
                   cos(q_i, d_j))

over the model's last hidden states (every piece but [CLS], [SEP] and padding, on both sides),
the passage being the text that was embedded for the chunk (its header and the chunk,
``chunking.stored_embedding_text``). The candidates are then ordered by

    (1 - w) x minmax(page score) + w x minmax(maxsim)

with ``page_score`` the score that placed each page in the retrieval order (the BM25-fused page
score by default; ``retrieval.Hit.page_score``) and ``w`` RERANKER_MAXSIM_WEIGHT; ties keep
the retrieval order, so at weight 0 the order is the retrieval order. A candidate without a
page score (a page's further chunk that chat's search adds to fill its passages) keeps its
place after the scored ones. A chunk-level search's hits (``/search`` with ``per_document``
off) are each their own page: scored by their chunk alone, fused with their own score.

The states come from an ONNX graph of the model's last hidden states, exported from the
bundled weights by ``trulybot warm-model`` beside the pooled graph the embedder uses
(``export_hidden``; nothing is downloaded); ``start`` refuses to start without it. The model
runs on one thread of its own (a one-worker executor, one ONNX Runtime thread), off the event
loop; the shared budget, cache, fallback and metrics are ``rerank.Reranker``'s.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.errors import ConfigError
from rag.knowledge.chunking import stored_embedding_text
from rag.knowledge.rerank import Candidate, Reranker, RerankFailed, Spent

if TYPE_CHECKING:
    from core.config import Settings

log = logging.getLogger("trulybot.rerank")

NAME = "maxsim"
WEIGHT = 0.3
"""RERANKER_MAXSIM_WEIGHT's default: chosen on both sets' tune halves in the harness
(docs/retrieval.md, nineteenth session)."""
CANDIDATES = 10
"""The pages reordered when RERANKER_CANDIDATES is not set: the harness reordered the first 10."""
TIMEOUT_MS = 5000
"""The budget when RERANKER_TIMEOUT_MS is not set: the rerank takes about 1.7 s of CPU a
question (two chunks of 10 pages, bench.maxsim_cost), over the 1.5 s default the other
rerankers share, so an operator turning maxsim on would keep the retrieval order on most
questions of a busy host."""
SPECIAL = frozenset({0, 101, 102})
"""[PAD], [CLS] and [SEP] in the model's word pieces: no token of a question or a passage."""
BATCH = 8
"""Passages encoded per model call (sorted by length, so little is padded)."""
HIDDEN_TOLERANCE = 1e-5
"""Largest difference per component accepted between the token-state graph's mean-pooled
vectors and the pooled graph's (``verify_hidden``)."""


def hidden_graph_path(cache_dir: Path | None) -> Path:
    """Where ``trulybot warm-model`` puts the token-state graph: beside the pooled graph
    (EMBED_MODEL_CACHE_DIR, else ``onnx_minilm.default_cache_dir()``), keyed by the weights."""
    from rag.knowledge import onnx_minilm

    model_path = onnx_minilm.bundled_model_path()
    directory = cache_dir or onnx_minilm.default_cache_dir()
    return directory / f"all-MiniLM-L6-v2-hidden-{onnx_minilm.artifact_key(model_path)}.onnx"


def export_hidden(model_path: Path, target: Path) -> None:
    """The bundled MiniLM as an ONNX graph: token ids in, last hidden states out."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    bert = AutoModel.from_pretrained(str(model_path), local_files_only=True).eval()

    class Hidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    sample = AutoTokenizer.from_pretrained(str(model_path))(["a sample"], return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    dynamic = {0: "batch", 1: "tokens"}
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    with torch.inference_mode():
        torch.onnx.export(
            Hidden(),
            tuple(sample[n] for n in names),
            str(partial),
            input_names=names,
            output_names=["hidden"],
            dynamic_axes={**dict.fromkeys(names, dynamic), "hidden": dynamic},
            opset_version=17,
            dynamo=False,
        )
    partial.replace(target)


class TokenStates:
    """The token-state graph on one ONNX Runtime thread, tokenized as the embedder tokenizes
    (cut at 256 pieces); one call at a time."""

    def __init__(self, graph: Path) -> None:
        from rag.knowledge.onnx_minilm import bundled_model_path, cpu_session, load_tokenizer

        self.session = cpu_session(graph, 1)
        self.tokenizer = load_tokenizer(bundled_model_path())
        self.lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Per text: the unit-length states of its pieces but [CLS], [SEP] and padding
        (float32, one row a piece), passages run in batches of ``BATCH`` by length."""
        from rag.knowledge.onnx_minilm import token_feed

        out: list[np.ndarray] = [np.zeros((0, 0), np.float32)] * len(texts)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), BATCH):
            rows = order[start : start + BATCH]
            encodings = self.tokenizer.encode_batch([texts[i] for i in rows])
            hidden = self.session.run(None, token_feed(encodings))[0]
            for i, e, states in zip(rows, encodings, hidden, strict=True):
                pairs = zip(e.ids, e.attention_mask, strict=True)
                keep = np.asarray([m == 1 and t not in SPECIAL for t, m in pairs])
                v = states[: len(keep)][keep].astype(np.float32)
                out[i] = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
        return out


def maxsim(question: np.ndarray, passage: np.ndarray) -> float:
    """The mean over ``question``'s token states of each one's best cosine to ``passage``'s."""
    if not len(question) or not len(passage):
        return 0.0
    return float((question @ passage.T).max(axis=1).mean())


def _minmax(values: np.ndarray) -> np.ndarray:
    spread = float(values.max() - values.min()) if len(values) else 0.0
    return (values - values.min()) / (spread or 1.0)


def fuse(
    page_scores: Sequence[float], sims: Sequence[float] | np.ndarray, weight: float
) -> list[int]:
    """Indices, best first, by ``(1 - weight) x minmax(page_scores) + weight x minmax(sims)``;
    stable (ties keep the given order)."""
    pages = np.asarray(page_scores, dtype=np.float64)
    late = np.asarray(sims, dtype=np.float64)
    score = (1 - weight) * _minmax(pages) + weight * _minmax(late)
    return [int(i) for i in np.argsort(-score, kind="stable")]


def embedded_text(candidate: Candidate) -> str:
    """What was embedded for the candidate's chunk (header and chunk, by its embed format)."""
    metadata = {
        "title": candidate.title,
        "heading_path": list(candidate.heading_path),
        "embed_format": getattr(candidate, "embed_format", 1),
    }
    return stored_embedding_text(candidate.text, metadata)


def page_texts(candidate: Candidate) -> list[str]:
    """The embedded texts a page is scored by: its hit chunk's, then its second chunk's when it
    carries one (``retrieval.Hit.second``, a chat ``Passage.second``)."""
    second = getattr(candidate, "second", None)
    return [embedded_text(candidate), *([embedded_text(second)] if second is not None else [])]


class MaxSimReranker(Reranker):
    """RERANKER=maxsim: the best MaxSim of each page's two best candidate chunks to the
    question, fused with the page scores."""

    name = NAME

    def __init__(
        self,
        graph: Path,
        *,
        weight: float = WEIGHT,
        candidates: int = CANDIDATES,
        timeout_ms: int = 1500,
        cache_size: int = 2048,
    ) -> None:
        super().__init__(candidates=candidates, timeout_ms=timeout_ms, cache_size=cache_size)
        if not 0.0 <= weight <= 1.0:
            raise ConfigError(f"RERANKER_MAXSIM_WEIGHT={weight}: must be between 0 and 1")
        self.graph = graph
        self.weight = weight
        self.model: TokenStates | None = None
        self._executor: ThreadPoolExecutor | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> MaxSimReranker:
        """RERANKER_CANDIDATES pages and RERANKER_TIMEOUT_MS when they are set, else
        ``CANDIDATES`` and ``TIMEOUT_MS``."""
        chosen = "reranker_candidates" in settings.model_fields_set
        timed = "reranker_timeout_ms" in settings.model_fields_set
        return cls(
            hidden_graph_path(settings.embed_model_cache_dir),
            weight=settings.reranker_maxsim_weight,
            candidates=settings.reranker_candidates if chosen else CANDIDATES,
            timeout_ms=settings.reranker_timeout_ms if timed else TIMEOUT_MS,
            cache_size=settings.reranker_cache_size,
        )

    @property
    def model_id(self) -> str:
        return f"{NAME}:{self.graph.name}:{self.weight:g}"

    @property
    def available(self) -> bool:
        return self.model is not None

    async def start(self) -> None:
        if not self.graph.is_file():
            raise ConfigError(missing_graph(self.graph))
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="maxsim")
        loop = asyncio.get_running_loop()
        try:
            self.model = await loop.run_in_executor(self._executor, TokenStates, self.graph)
        except Exception as exc:
            raise ConfigError(
                f"RERANKER=maxsim: {self.graph} does not load ({type(exc).__name__}: {exc});"
                " run `trulybot warm-model` with RERANKER=maxsim to export it again"
            ) from exc

    async def aclose(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def similarities(
        self, query: str, passages: Sequence[str], deadline: float | None = None
    ) -> np.ndarray:
        """Each passage's MaxSim to ``query``, computed in this thread; not started once
        ``deadline`` (``time.monotonic()``) has passed (its caller has given up)."""
        model = self.model
        if model is None:
            raise RerankFailed("no_model", "the token-state graph is not loaded")
        with model.lock:
            if deadline is not None and time.monotonic() > deadline:
                raise RerankFailed("timeout", "the model was busy past the time budget")
            asked, *states = model.encode([query, *passages])
        return np.asarray([maxsim(asked, s) for s in states])

    async def _order(self, query: str, candidates: Sequence[Candidate], spent: Spent) -> list[int]:
        # A retrieval.Hit or chat Passage carries its page's score; a candidate without one
        # keeps its place after those reordered.
        page_scores: list[float | None] = [getattr(c, "page_score", None) for c in candidates]
        scored = [i for i, s in enumerate(page_scores) if s is not None]
        rest = [i for i, s in enumerate(page_scores) if s is None]
        if len(scored) < 2:
            return list(range(len(candidates)))
        if self._executor is None:
            raise RerankFailed("no_model", "the reranker was not started")
        deadline = time.monotonic() + self.timeout
        per_page = [page_texts(candidates[i]) for i in scored]
        texts = [t for page in per_page for t in page]
        loop = asyncio.get_running_loop()
        flat = await loop.run_in_executor(self._executor, self.similarities, query, texts, deadline)
        starts = np.cumsum([0, *(len(page) for page in per_page[:-1])])
        sims = np.maximum.reduceat(flat, starts)  # each page's best chunk
        pages = [float(page_scores[i] or 0.0) for i in scored]
        return [scored[i] for i in fuse(pages, sims, self.weight)] + rest


def missing_graph(graph: Path) -> str:
    return (
        f"RERANKER=maxsim: no token-state graph at {graph}; run `trulybot warm-model` with"
        " RERANKER=maxsim set (it exports the graph from the bundled MiniLM beside the"
        " embedder's, once)"
    )


def check_graph(settings: Settings) -> None:
    """``ConfigError`` (the operator told to run ``trulybot warm-model``) when the graph
    RERANKER=maxsim needs is not there: said at start, before any worker runs."""
    graph = hidden_graph_path(settings.embed_model_cache_dir)
    if not graph.is_file():
        raise ConfigError(missing_graph(graph))


PROBES = ("how do I reset my password", "git rebase --interactive HEAD~3 rewrites commits")


def verify_hidden(graph: Path, pooled: np.ndarray) -> float:
    """The largest difference per component between ``graph``'s mean-pooled, normalized states
    of ``PROBES`` and ``pooled``, the embedder's vectors of them."""
    from rag.knowledge.onnx_minilm import token_feed

    states = TokenStates(graph)
    worst = 0.0
    for text, expected in zip(PROBES, pooled, strict=True):
        encodings = states.tokenizer.encode_batch([text])
        mean = states.session.run(None, token_feed(encodings))[0][0].mean(axis=0)
        worst = max(worst, float(np.abs(mean / np.linalg.norm(mean) - expected).max()))
    return worst


def warm(settings: Settings, encode: Callable[[list[str]], np.ndarray]) -> Path:
    """Export the token-state graph when it is not there (``trulybot warm-model``), checked
    against ``encode`` (the embedder's vectors); a graph that differs is removed and
    ``RuntimeError`` raised."""
    from rag.knowledge.onnx_minilm import bundled_model_path

    graph = hidden_graph_path(settings.embed_model_cache_dir)
    if not graph.is_file():
        log.info("exporting all-MiniLM-L6-v2's hidden states to ONNX: %s", graph)
        export_hidden(bundled_model_path(), graph)
    difference = verify_hidden(graph, encode(list(PROBES)))
    if difference > HIDDEN_TOLERANCE:
        graph.unlink(missing_ok=True)
        raise RuntimeError(f"the token-state graph differs from the pooled one by {difference:.2e}")
    return graph
