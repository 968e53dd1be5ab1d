"""Late interaction (MaxSim) over MiniLM's token states, fused with the product's page order
(issue 12, nineteenth session).

The product ranks a page by its chunks' pooled vectors (one vector per chunk, the mean of
MiniLM's token states) fused with BM25. Late interaction, in the manner of ColBERT, keeps the
token states apart: a question token meets its best-matching token of the passage,

    maxsim(q, d) = mean over the question's tokens i of (max over the passage's tokens j of
                   cos(q_i, d_j))

so a passage that answers every part of the question scores higher than one that matches its
gist. Here with the shipped all-MiniLM-L6-v2 as it is (its last hidden states, no ColBERT
training), computed at query time over the product's candidates: the pages of the shipped order
(vector pages with the two-chunk score and feedback 0.25 x 10, BM25 chunk k1 0.9 fused by
min-max at 0.3, as ``bench.rank_combo`` has them), each page by its best maxsim over its chunks
among the 40 vector and 40 BM25 candidate chunks (``--chunks all``), or over the one chunk its
grouped hit carries, what a reranker of the product's grouped hits sees (``best``; twentieth
session), or that and its next candidate (``best2``). The first ``pool`` pages are reordered by

    (1 - w) x minmax(shipped fused score) + w x minmax(page maxsim)

and the rest keep their place below (a reranking stage). ``kind``: ``all`` keeps every question
token but [CLS] and [SEP]; ``content`` also drops punctuation and stop words (``core.stems``).

    python -m bench.late_interaction --sets git,python   # fill the token cache, print the grid
    python -m bench.late_interaction --sets git --chunks best,best2 --pools 10,20 --kinds all

The choice is made on the tune halves only (``choose``). Token states of the candidate chunks
are cached under ``$LEVERS_DIR/tokens.sqlite`` (float16, unit length per token); the pooled
vectors come from the harness's cache (``bench.retrieval_levers`` fills it first).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sqlite3
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np

from bench import bm25
from bench.embed_cache import DEFAULT_DIR, open_cache
from bench.levers_corpus import CORPORA, VARIANTS, build_corpus, local_encode, pages_subset
from bench.levers_eval import feedback_queries, in_sample, metrics
from bench.page_ranking import Ranking, page_scores
from core.stems import STOPWORDS
from eval.splits import SPLITS, split_of
from rag.knowledge import eval as rag_eval
from rag.knowledge import retrieval
from rag.knowledge.maxsim_rerank import export_hidden

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SPECIAL = {0, 101, 102}  # [PAD], [CLS], [SEP] in bert-base-uncased's pieces
KINDS = ("all", "content")
CHUNKS = ("all", "best", "best2")  # the index of best/best2 is how many chunks a page keeps
WEIGHTS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0)
POOLS = (10, 20)


# --- token states ----------------------------------------------------------------------------


class TokenEncoder:
    """MiniLM's last hidden states per token, through an ONNX graph exported once from the
    bundled weights (the product's graph pools them away), tokenized as the product tokenizes
    (``onnx_minilm.load_tokenizer``: cut at 256 pieces)."""

    def __init__(self, directory: Path, threads: int = 1) -> None:
        from rag.knowledge.onnx_minilm import bundled_model_path, cpu_session, load_tokenizer

        model_path = bundled_model_path()
        graph = directory / "minilm-hidden.onnx"
        if not graph.is_file():
            export_hidden(model_path, graph)
        self.session = cpu_session(graph, threads)
        self.tokenizer = load_tokenizer(model_path)
        self.pieces = self.tokenizer.id_to_token

    def encode(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per text: its piece ids (no padding) and their unit-length states, float16."""
        from rag.knowledge.onnx_minilm import token_feed

        encodings = self.tokenizer.encode_batch(list(texts))
        hidden = self.session.run(None, token_feed(encodings))[0]
        out = []
        for e, states in zip(encodings, hidden, strict=True):
            n = int(sum(e.attention_mask))
            v = states[:n] / np.linalg.norm(states[:n], axis=1, keepdims=True)
            out.append((np.asarray(e.ids[:n], dtype=np.int32), v.astype(np.float16)))
        return out


class TokenCache:
    """Token ids and states by sha256(text), in one sqlite file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path)
        self.db.execute("CREATE TABLE IF NOT EXISTS t (key TEXT PRIMARY KEY, ids BLOB, v BLOB)")
        self.path = path
        self.encoder: TokenEncoder | None = None

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    def states(self, texts: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Every text's (ids, states), by key; the missing ones encoded and stored."""
        keys = {self.key(t): t for t in texts}
        found: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        unique = list(keys)
        for i in range(0, len(unique), 500):
            part = unique[i : i + 500]
            marks = ",".join("?" * len(part))
            for k, ids, v in self.db.execute(
                f"SELECT key, ids, v FROM t WHERE key IN ({marks})", part
            ):
                ids_ = np.frombuffer(ids, dtype=np.int32)
                found[k] = (ids_, np.frombuffer(v, dtype=np.float16).reshape(len(ids_), -1))
        missing = sorted((k for k in keys if k not in found), key=lambda k: len(keys[k]))
        started = time.perf_counter()
        for i in range(0, len(missing), 8):
            part = missing[i : i + 8]
            if self.encoder is None:
                self.encoder = TokenEncoder(self.path.parent)
            encoded = self.encoder.encode([keys[k] for k in part])
            rows = [
                (k, ids.tobytes(), v.tobytes()) for k, (ids, v) in zip(part, encoded, strict=True)
            ]
            self.db.executemany("INSERT OR REPLACE INTO t VALUES (?, ?, ?)", rows)
            self.db.commit()
            found.update(zip(part, encoded, strict=True))
            rate = (i + len(part)) / max(1e-9, time.perf_counter() - started)
            print(
                f"  tokens {i + len(part)}/{len(missing)} ({rate:.1f}/s)", file=sys.stderr, end="\r"
            )
        if missing:
            print(file=sys.stderr)
        return found


def kept(ids: np.ndarray, kind: str, pieces: Sequence[str]) -> np.ndarray:
    """The question tokens ``kind`` keeps (a boolean mask over ``ids``)."""
    mask = np.asarray([int(i) not in SPECIAL for i in ids])
    if kind == "content":
        for n, i in enumerate(ids):
            piece = pieces[int(i)]
            if piece in STOPWORDS or not any(ch.isalnum() for ch in piece):
                mask[n] = False
    return mask


def maxsim(question: np.ndarray, passage: tuple[np.ndarray, np.ndarray]) -> float:
    """The mean over ``question``'s token states of each one's best cosine to the passage's."""
    ids, states = passage
    doc = states[np.asarray([int(i) not in SPECIAL for i in ids])].astype(np.float32)
    if not len(question) or not len(doc):
        return 0.0
    return float((question @ doc.T).max(axis=1).mean())


# --- the product's candidates ----------------------------------------------------------------


@dataclass
class Question:
    id: str
    half: str
    expected: list[str]
    pages: list[str]  # the shipped order, best first
    fused: np.ndarray  # the shipped fused score of each page
    chunks: list[list[int]]  # each page's candidate chunks (vector and BM25 pools)
    text: str


def _minmax(scores: dict[str, float], pages: list[str]) -> np.ndarray:
    if not scores:
        return np.zeros(len(pages))
    low, high = min(scores.values()), max(scores.values())
    return np.asarray([(scores.get(p, low) - low) / ((high - low) or 1.0) for p in pages])


def candidates(
    name: str, subset: int | None = None, sample: bool = False
) -> tuple[list[Question], list[str]]:
    """The questions of ``name`` with the shipped order and each page's candidate chunks, and
    the corpus's embedded texts. ``subset``: the expected pages and that many others
    (``levers_corpus.pages_subset``) instead of the whole corpus; ``sample``: half of the
    questions (``levers_eval.in_sample``, as ``retrieval_levers --sample``)."""
    cache = open_cache(DEFAULT_DIR, None)
    questions = rag_eval.load_questions(CORPORA[name][1])
    if sample:
        questions = [q for q in questions if in_sample(q.id)]
    only = None if subset is None else pages_subset(name, questions, subset)
    corpus = build_corpus(name, VARIANTS["name"], cache_dir=cache.path.parent, only=only)
    vectors = cache.embed(corpus.texts, local_encode)
    asked = cache.embed([q.question for q in questions], local_encode)
    searched = feedback_queries(asked, vectors, 0.25, 10)
    lexical = bm25.Lexical(kind="chunk", k1=0.9)
    index = bm25.LexicalIndexes(corpus).index("chunk")
    top = retrieval.candidate_count(rag_eval.DEPTH)
    out = []
    for q, row in zip(questions, searched @ vectors.T, strict=True):
        vec = dict(page_scores(row, corpus.sources, rag_eval.DEPTH, Ranking("top2f", 0.5)))
        lexical_scores = index.scores(bm25.tokenize(q.question), lexical.params)
        lex = dict(page_scores(lexical_scores, corpus.sources, rag_eval.DEPTH, Ranking()))
        lex = {p: s for p, s in lex.items() if s > 0}
        pages = list(dict.fromkeys([*vec, *lex]))
        fused = 0.7 * _minmax(vec, pages) + 0.3 * _minmax(lex, pages)
        order = np.argsort(-fused, kind="stable")
        pages = [pages[i] for i in order]
        chunks = page_pools(row, lexical_scores, corpus.sources, pages, top)
        out.append(
            Question(
                q.id, split_of(q.id), list(q.expected), pages, fused[order], chunks, q.question
            )
        )
    return out, list(corpus.texts)


def page_pools(
    row: np.ndarray,
    lexical_scores: np.ndarray,
    sources: Sequence[str],
    pages: Sequence[str],
    top: int,
) -> list[list[int]]:
    """Each page's candidate chunks in the product's order of preference: its chunks among the
    ``top`` vector candidates (``row``: the cosine to the feedback-moved question, the order of
    ``retrieval.feedback_candidates``), best first, then its chunks among the ``top`` BM25
    candidates (score above 0), best first. So a page's first chunk is the one its grouped hit
    carries (``retrieval.fuse_lexical``: the page's best vector candidate, else its best BM25
    chunk), and ``chosen(.., "best")`` is what a reranker of the grouped hits sees."""
    pool = list(np.argsort(-row, kind="stable")[:top])
    pool += [i for i in np.argsort(-lexical_scores, kind="stable")[:top] if lexical_scores[i] > 0]
    per_page: dict[str, list[int]] = {p: [] for p in pages}
    for i in dict.fromkeys(int(i) for i in pool):
        if sources[i] in per_page:
            per_page[sources[i]].append(i)
    return [per_page[p] for p in pages]


def chosen(chunks: list[int], which: str) -> list[int]:
    """The chunks of one page that are scored: ``all`` its candidates (the nineteenth session),
    ``best`` the grouped hit's chunk only, ``best2`` that and the next one (``page_pools``)."""
    if which not in CHUNKS:
        raise ValueError(f"unknown chunks {which!r}; one of {', '.join(CHUNKS)}")
    return chunks if which == "all" else chunks[: CHUNKS.index(which)]


# --- the lever -------------------------------------------------------------------------------


def page_maxsims(
    questions: list[Question],
    texts: list[str],
    cache: TokenCache,
    kind: str,
    pool: int,
    which: str = "all",
) -> list[np.ndarray]:
    """Per question: the maxsim of each of its first ``pool`` pages (the best of its chunks
    ``which`` keeps, ``chosen``)."""
    needed = [texts[i] for q in questions for c in q.chunks[:pool] for i in chosen(c, which)]
    states = cache.states(needed + [q.text for q in questions])
    encoder_pieces = _pieces()
    out = []
    for q in questions:
        ids, v = states[cache.key(q.text)]
        asked = v[kept(ids, kind, encoder_pieces)].astype(np.float32)
        out.append(
            np.asarray(
                [
                    max(
                        (maxsim(asked, states[cache.key(texts[i])]) for i in chosen(c, which)),
                        default=0.0,
                    )
                    for c in q.chunks[:pool]
                ]
            )
        )
    return out


def _pieces() -> list[str]:
    from rag.knowledge.onnx_minilm import bundled_model_path, load_tokenizer

    tokenizer = load_tokenizer(bundled_model_path())
    return [tokenizer.id_to_token(i) or "" for i in range(tokenizer.get_vocab_size())]


def reranked(q: Question, sims: np.ndarray, w: float) -> list[str]:
    """``q``'s pages with its first ``len(sims)`` reordered by the fused score and maxsim."""
    n = len(sims)
    head = q.fused[:n]
    spread = (head.max() - head.min()) or 1.0
    s_spread = (sims.max() - sims.min()) or 1.0
    score = (1 - w) * (head - head.min()) / spread + w * (sims - sims.min()) / s_spread
    order = np.argsort(-score, kind="stable")
    return [q.pages[i] for i in order] + q.pages[n:]


def ranks(questions: list[Question], sims: list[np.ndarray], w: float) -> list[int | None]:
    return [
        rag_eval.first_rank(reranked(q, s, w)[: rag_eval.DEPTH], q.expected)
        for q, s in zip(questions, sims, strict=True)
    ]


def cost(
    questions: list[Question], texts: list[str], pool: int, n: int, which: str = "all"
) -> None:
    """CPU per question of the lever at query time, on one thread: the token states of the
    question and of its first ``pool`` pages' chunks ``which`` keeps (``chosen``) encoded
    afresh (no cache, batches of 8), and the maxsims."""
    encoder = TokenEncoder(DEFAULT_DIR)
    pieces = _pieces()
    spent, chunks = [], []
    for q in questions[:n]:
        mine = [texts[i] for c in q.chunks[:pool] for i in chosen(c, which)]
        started = time.process_time()
        (ids, v), *states = encoder.encode([q.text]) + [
            s for i in range(0, len(mine), 8) for s in encoder.encode(mine[i : i + 8])
        ]
        asked = v[kept(ids, "all", pieces)].astype(np.float32)
        [maxsim(asked, s) for s in states]
        spent.append(1000 * (time.process_time() - started))
        chunks.append(len(mine))
    print(
        f"cost, {which} chunks of the first {pool} pages: {np.mean(chunks):.1f} chunks a question,"
        f" {np.mean(spent):.0f} ms CPU a question (median {np.median(spent):.0f}),"
        f" {sum(spent) / sum(chunks):.1f} ms a chunk, {n} questions"
    )


Row = tuple[str, str, str, int, float, str, dict[str, float]]
"""(set, chunks, kind, pool, w, half, metrics)."""


def choose(rows: Sequence[Row]) -> tuple[tuple[str, str, int, float], float] | None:
    """The third session's rule on the tune halves only: a setting (chunks, kind, pool, w)
    qualifies when it loses no tune metric against the shipped order (w 0) on any set, and of
    those the highest tune MRR over all sets' tune questions pooled wins (the first measured on
    a tie). None when no setting beats the shipped order's pooled tune MRR."""
    tune = [r for r in rows if r[5] == "tune"]
    shipped = {r[0]: r[6] for r in tune if r[4] == 0}
    settings: dict[tuple[str, str, int, float], dict[str, dict[str, float]]] = {}
    for name, which, kind, pool, w, _, m in tune:
        settings.setdefault((which, kind, pool, w), {})[name] = m

    def pooled(by_set: dict[str, dict[str, float]]) -> float:
        n = sum(m["n"] for m in by_set.values())
        return sum(m["MRR"] * m["n"] for m in by_set.values()) / (n or 1)

    best = None
    floor = pooled(shipped)
    for setting, by_set in settings.items():
        if by_set.keys() != shipped.keys() or any(
            m[k] < shipped[name][k] - 1e-9 for name, m in by_set.items() for k in m if k != "n"
        ):
            continue
        score = pooled(by_set)
        if score > floor + 1e-9 and (best is None or score > best[1] + 1e-9):
            best = (setting, score)
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="git,python")
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument(
        "--subset",
        metavar="SET=N",
        action="append",
        default=[],
        help="that set's expected pages and N others instead of its whole corpus",
    )
    parser.add_argument("--sample", action="append", default=[], help="sets sampled (half)")
    parser.add_argument("--cost", type=int, metavar="N", help="CPU of the first N questions")
    parser.add_argument(
        "--chunks",
        default="all",
        help="which chunks of a page are scored, comma-separated: all (its candidates),"
        " best (its grouped hit's), best2 (that and the next)",
    )
    parser.add_argument("--pools", default=",".join(map(str, POOLS)), help="pages reordered")
    parser.add_argument("--kinds", default=",".join(KINDS), help="question tokens kept")
    parser.add_argument("--rows", type=Path, help="also append the rows to this JSON lines file")
    parser.add_argument("--choose", type=Path, help="only print the choice over this file's rows")
    args = parser.parse_args(argv)
    if args.choose:
        lines = args.choose.read_text().splitlines()
        print(_choice(choose([cast(Row, tuple(json.loads(line))) for line in lines if line])))
        return
    cache = TokenCache(args.dir / "tokens.sqlite")
    rows: list[Row] = []
    subsets = {k: int(v) for k, v in (x.split("=") for x in args.subset)}
    chunk_kinds = args.chunks.split(",")
    for which in chunk_kinds:
        chosen([], which)  # refuses an unknown one before the corpora are built
    pools = [int(p) for p in args.pools.split(",")]
    for name in args.sets.split(","):
        questions, texts = candidates(name, subsets.get(name), name in args.sample)
        for which in chunk_kinds:
            for pool in pools:
                counts = [sum(len(chosen(c, which)) for c in q.chunks[:pool]) for q in questions]
                print(f"{name}: {np.mean(counts):.1f} {which} chunks in the first {pool} pages")
        if args.cost:
            for which in chunk_kinds:
                cost(questions, texts, min(pools), args.cost, which)
            continue
        for which in chunk_kinds:
            for kind in args.kinds.split(","):
                for pool in pools:
                    sims = page_maxsims(questions, texts, cache, kind, pool, which)
                    for w in WEIGHTS:
                        found = ranks(questions, sims, w)
                        for half in SPLITS:
                            m = metrics(
                                [r for r, q in zip(found, questions, strict=True) if q.half == half]
                            )
                            rows.append((name, which, kind, pool, w, half, m))
    if not rows:
        return
    print("| set | chunks | kind | pool | w | half | R@1 | R@5 | R@10 | MRR |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, which, kind, pool, w, part, m in rows:
        print(
            f"| {name} | {which} | {kind} | {pool} | {w:g} | {part} | {m['R@1']:.3f} |"
            f" {m['R@5']:.3f} | {m['R@10']:.3f} | {m['MRR']:.3f} |"
        )
    if args.rows:
        with args.rows.open("a") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
    print(_choice(choose(rows)))


def _choice(choice: tuple[tuple[str, str, int, float], float] | None) -> str:
    if choice is None:
        return "choice on the tune halves: the shipped order"
    return f"choice on the tune halves: {choice[0]}, pooled tune MRR {choice[1]:.4f}"


if __name__ == "__main__":
    main()
