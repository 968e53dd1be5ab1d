"""Offline tuning harness for retrieval levers: both eval sets, both halves, in minutes.

The product's own code parses (``rag.knowledge.parsing.parse``) and chunks
(``rag.knowledge.chunking.chunk_document``) every page of both corpora; the chunks' embedded
texts go through the local MiniLM embedder behind an on-disk cache keyed by
(model, sha256(embedded text)), so a lever that changes a tenth of the chunks re-embeds a tenth.
Ranking is done in numpy exactly as ``rag.knowledge.eval`` does it through PostgreSQL: cosine
similarity over every chunk of the corpus (the SQL search is exact below 10k chunks and HNSW
above), the top ``CHUNKS_PER_QUESTION`` chunks, their distinct documents in order, recall@1/5/10
and MRR of the first expected page. ``--grouped`` ranks documents by their best chunk over all
chunks instead (one hit per page), which is what grouped search returns.

    python -m bench.retrieval_levers                     # the default variant, both sets
    python -m bench.retrieval_levers --variant baseline  # the chunk text alone (format 1)
    python -m bench.retrieval_levers --list              # every variant
    python -m bench.retrieval_levers --table             # every result recorded so far

Needs `apt-get install -y python3-doc git-doc`. Results are appended to
``$LEVERS_DIR/results.jsonl`` (default .cache/levers, with the embedding cache); choose on the
tune halves only. ``python -m bench.eval_quality`` measures the same through the real ingest path.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import ROOT
from bench.embed_cache import DEFAULT_DIR, EmbeddingCache

sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from eval.splits import SPLITS, split_of
from rag.knowledge import (
    chunking,
    parsing,
    retrieval,
)
from rag.knowledge import eval as rag_eval

CORPORA: dict[str, tuple[Path, Path]] = {
    "python": (Path("/usr/share/doc/python3.11/html"), ROOT / "eval" / "python-docs.jsonl"),
    "git": (Path("/usr/share/doc/git-doc"), ROOT / "eval" / "git-docs.jsonl"),
}
CUTOFFS = rag_eval.CUTOFFS


@dataclass(frozen=True)
class Variant:
    """One combination of levers (the defaults are the product's defaults)."""

    name: str
    header: bool = True
    parser: str = "clean"  # "raw": without the chrome/permalink rules (the parser before them)
    max_tokens: int = 250
    overlap: int = 40
    chunk_options: dict[str, Any] = field(default_factory=dict)
    rewrite: bool = False  # short keyword queries asked as "How do I ...?" (lever 7)
    note: str = ""


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in [
        Variant(
            "baseline", header=False, parser="raw", note="before: chunk text alone, old parser"
        ),
        Variant("clean", header=False, note="+ parser drops permalinks, nav/footer chrome"),
        Variant(
            "header-cut",
            chunk_options={"window": 10**6},
            note="+ title > heading path before a 250-token chunk: the model cuts past 256",
        ),
        Variant("header", note="+ title > heading path, chunk cut to fit 256 word pieces"),
        Variant("merge24", chunk_options={"min_tokens": 24}, note="+ sections < 24 tokens joined"),
        Variant("merge40", chunk_options={"min_tokens": 40}, note="+ sections < 40 tokens joined"),
        Variant("merge64", chunk_options={"min_tokens": 64}, note="+ sections < 64 tokens joined"),
        Variant("size180", max_tokens=180, overlap=30, note="header, 180-token chunks"),
        Variant(
            "before",
            parser="clean-noname",
            chunk_options={"min_tokens": 40},
            note="the default before this session: header, floor 40, 250/40, no NAME title",
        ),
        Variant(
            "name",
            chunk_options={"min_tokens": 40},
            note="+ a man page titled by its NAME line, its 'X(1) Manual Page' heading dropped",
        ),
        Variant(
            "name+question",
            chunk_options={"min_tokens": 40},
            rewrite=True,
            note="+ short keyword queries embedded as 'How do I ...?'",
        ),
        Variant(
            "name+size200",
            chunk_options={"min_tokens": 40},
            max_tokens=200,
            overlap=32,
            note="the NAME title, 200-token chunks, overlap 32",
        ),
    ]
}
DEFAULT_VARIANT = "name"


def local_encode(texts: list[str]) -> np.ndarray:
    from rag.knowledge.embeddings import LocalEmbedder

    return LocalEmbedder(batch_size=64, threads=1)._encode(texts)


# --- corpus ----------------------------------------------------------------------------------


@dataclass
class Corpus:
    name: str
    sources: list[str]  # per chunk: its page's source
    texts: list[str]  # per chunk: what is embedded
    token_counts: list[int]  # per chunk: word pieces of what is embedded, specials included
    pages: int


def files_of(root: Path) -> list[tuple[Path, str]]:
    from api.commands.ingest import collect

    return collect([str(root)], "*.html")


_PARSER_VERSION = hashlib.sha256(Path(parsing.__file__).read_bytes()).hexdigest()[:16]
_CLEANUP_RULES = ("_CHROME_CLASSES", "_CHROME_IDS", "_PERMALINK_GLYPHS")
_RULES = {name: getattr(parsing, name) for name in _CLEANUP_RULES}


_MAN_PAGE_NAME = parsing._man_page_name


def _keep_title(
    title: str | None, sections: list[parsing.Section]
) -> tuple[str | None, list[parsing.Section]]:
    return title, sections


def set_parser(mode: str) -> None:
    """ "clean": the product's parser; "clean-noname": without the man-page NAME title;
    "raw": also without the page-chrome and permalink rules (the parser before them)."""
    for name, value in _RULES.items():
        setattr(parsing, name, value if mode != "raw" else type(value)())
    parsing._man_page_name = _MAN_PAGE_NAME if mode == "clean" else _keep_title  # type: ignore[assignment]


def parse_page(
    path: Path, cache_dir: Path | None = None, mode: str = "clean"
) -> parsing.ParsedDocument | None:
    """``parsing.parse`` of one page, cached on disk by (parsing.py's text, the page's bytes)."""
    data = path.read_bytes()
    cached = None
    set_parser(mode)
    if cache_dir is not None:
        digest = hashlib.sha256(data).hexdigest()[:24]
        cached = cache_dir / "parsed" / f"{_PARSER_VERSION}-{mode}" / f"{digest}.pickle"
        if cached.is_file():
            return pickle.loads(cached.read_bytes())  # our own cache
    try:
        parsed: parsing.ParsedDocument | None = parsing.parse(
            data, filename=path.name, content_type=None
        )
    except parsing.AppError:
        parsed = None
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_bytes(pickle.dumps(parsed))
    return parsed


def build_corpus(
    name: str, variant: Variant, *, cache_dir: Path | None = None, only: set[str] | None = None
) -> Corpus:
    root, _ = CORPORA[name]
    sources: list[str] = []
    texts: list[str] = []
    documents = []
    for path, source in files_of(root):
        if only is not None and source not in only:
            continue
        parsed = parse_page(path, cache_dir, variant.parser)
        if parsed is not None:
            documents.append((source, parsed))
    documents = postprocess(documents, variant)
    for source, parsed in documents:
        pieces = chunking.chunk_document(
            parsed,
            max_tokens=variant.max_tokens,
            overlap=variant.overlap,
            header=variant.header,
            **variant.chunk_options,
        )
        for piece in pieces:
            sources.append(source)
            texts.append(piece.embed_text)
    counts = [c + chunking.SPECIAL_TOKENS for c in chunking.count_tokens_batch(texts)]
    return Corpus(name, sources, texts, counts, len(documents))


def postprocess(
    documents: list[tuple[str, parsing.ParsedDocument]], variant: Variant
) -> list[tuple[str, parsing.ParsedDocument]]:
    """Corpus-level parser levers (none yet)."""
    return documents


# --- ranking ---------------------------------------------------------------------------------


def ranked_sources(scores: np.ndarray, sources: Sequence[str], depth: int) -> list[str]:
    """The distinct sources of the best ``retrieval.candidate_count(depth)`` chunks, best first:
    ``retrieval.search(k=depth)`` (grouped by document) over an exact vector search."""
    top = min(retrieval.candidate_count(depth), len(scores))
    part = np.argpartition(-scores, top - 1)[:top]
    order = part[np.argsort(-scores[part], kind="stable")]
    out: list[str] = []
    for i in order:
        source = sources[int(i)]
        if source not in out:
            out.append(source)
            if len(out) >= depth:
                break
    return out


def chunk_sources(scores: np.ndarray, sources: Sequence[str], k: int) -> list[str]:
    """The sources of the ``k`` best chunks (what chat handed the model before grouping)."""
    top = np.argsort(-scores, kind="stable")[:k]
    return [sources[int(i)] for i in top]


def evaluate(
    corpus: Corpus,
    chunk_vectors: np.ndarray,
    questions: Sequence[rag_eval.Question],
    query_vectors: np.ndarray,
) -> dict[str, dict[str, list[Any]]]:
    """Per half: ``ranks`` (1-based rank of the first expected page or None), ``chunks5``
    (whether an expected page is among the 5 best chunks), ``distinct5`` (pages among them)."""
    out: dict[str, dict[str, list[Any]]] = {
        s: {"ranks": [], "chunks5": [], "distinct5": [], "ids": []} for s in SPLITS
    }
    scores = query_vectors @ chunk_vectors.T
    for question, row in zip(questions, scores, strict=True):
        half = out[split_of(question.id)]
        ordered = ranked_sources(row, corpus.sources, rag_eval.DEPTH)
        half["ranks"].append(rag_eval.first_rank(ordered, question.expected))
        five = chunk_sources(row, corpus.sources, 5)
        half["chunks5"].append(rag_eval.first_rank(five, question.expected, depth=5) is not None)
        half["distinct5"].append(len(set(five)))
        half["ids"].append(question.id)
    return out


def metrics(ranks: Sequence[int | None]) -> dict[str, float]:
    result = rag_eval.ModeResult(mode="", ranks=list(ranks))
    out = {f"R@{k}": result.recall(k) for k in CUTOFFS}
    out["MRR"] = result.mrr
    out["n"] = len(ranks)
    return out


def query_texts(variant: Variant, questions: Sequence[rag_eval.Question]) -> list[str]:
    """What is embedded for each question (lever 7 rewrites short keyword queries)."""
    from bench.fusion_levers import as_question

    return [as_question(q.question) if variant.rewrite else q.question for q in questions]


def in_sample(question_id: str) -> bool:
    """Half of the questions, independent of the tune/heldout split (the second byte of the
    id's SHA-256, where the split uses the first)."""
    return hashlib.sha256(question_id.encode()).digest()[1] % 2 == 0


def run_variant(
    variant: Variant,
    cache: EmbeddingCache,
    *,
    sets: Sequence[str],
    subset: int | None,
    sample: bool = False,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    rows = []
    for name in sets:
        started = time.perf_counter()
        questions = rag_eval.load_questions(CORPORA[name][1])
        if sample:
            questions = [q for q in questions if in_sample(q.id)]
        if limit:
            questions = questions[:limit]
        only = None if subset is None else pages_subset(name, questions, subset)
        corpus = build_corpus(name, variant, cache_dir=cache.path.parent, only=only)
        built = time.perf_counter() - started
        vectors = cache.embed(corpus.texts, local_encode)
        query_vectors = cache.embed(query_texts(variant, questions), local_encode)
        halves = evaluate(corpus, vectors, questions, query_vectors)
        counts = np.asarray(corpus.token_counts)
        for half in SPLITS:
            found = halves[half]
            rows.append(
                {
                    "variant": variant.name,
                    "set": name,
                    "half": half,
                    "subset": subset,
                    "sample": sample,
                    **metrics(found["ranks"]),
                    "chunks@5": float(np.mean(found["chunks5"])),
                    "distinct@5": float(np.mean(found["distinct5"])),
                    "chunks": len(corpus.texts),
                    "pages": corpus.pages,
                    "truncated": float(np.mean(counts > chunking.EMBED_WINDOW)),
                    "under40": float(np.mean(counts < 40)),
                    "ranks": dict(zip(found["ids"], found["ranks"], strict=True)),
                    "build_s": round(built, 1),
                    "at": time.strftime("%Y-%m-%d %H:%M:%S"),
                    "config": {k: v for k, v in asdict(variant).items() if k != "name"},
                }
            )
    return rows


def pages_subset(name: str, questions: Sequence[rag_eval.Question], distractors: int) -> set[str]:
    """Every expected page and ``distractors`` other pages drawn with a fixed seed (the same
    pages ``bench.eval_quality --pages`` ingests): a corpus small enough to re-embed."""
    from bench.eval_quality import select_pages

    expected = {e for q in questions for e in q.expected}
    files = files_of(CORPORA[name][0])
    pages = len([f for f in files if f[1] in expected]) + distractors
    return {source for _, source in select_pages(files, expected, pages)}


def misses(
    variant: Variant,
    cache: EmbeddingCache,
    name: str,
    *,
    subset: int | None,
    sample: bool,
) -> list[dict[str, Any]]:
    """Every question not found at rank 1: what ranked first, and its best chunk's size."""
    questions = rag_eval.load_questions(CORPORA[name][1])
    if sample:
        questions = [q for q in questions if in_sample(q.id)]
    only = None if subset is None else pages_subset(name, questions, subset)
    corpus = build_corpus(name, variant, cache_dir=cache.path.parent, only=only)
    vectors = cache.embed(corpus.texts, local_encode)
    query_vectors = cache.embed(query_texts(variant, questions), local_encode)
    out = []
    for question, row in zip(questions, query_vectors @ vectors.T, strict=True):
        ordered = ranked_sources(row, corpus.sources, rag_eval.DEPTH)
        rank = rag_eval.first_rank(ordered, question.expected)
        if rank == 1:
            continue
        best = int(np.argmax(row))
        text = corpus.texts[best].split("\n\n", 1)[-1] if variant.header else corpus.texts[best]
        out.append(
            {
                "id": question.id,
                "half": split_of(question.id),
                "question": question.question,
                "expected": question.expected,
                "rank": rank,
                "first": ordered[0],
                "first_chunk_tokens": chunking.count_tokens(text),
                "first_chunk": text[:160],
            }
        )
    return out


def corpus_stats(name: str, cache_dir: Path, parser: str) -> dict[str, Any]:
    """Chunk statistics of a whole corpus at the product's chunk size (no embedding needed)."""
    documents = []
    for path, source in files_of(CORPORA[name][0]):
        parsed = parse_page(path, cache_dir, parser)
        if parsed is not None:
            documents.append((source, parsed))
    bare: list[tuple[str, chunking.Piece]] = []
    for source, parsed in documents:
        bare += [
            (source, p)
            for p in chunking.chunk_document(parsed, header=False, max_tokens=250, overlap=40)
        ]
    texts = [p.text for _, p in bare]
    headers = [
        chunking.chunk_header(parsed.title, p.heading_path)
        for source, parsed in documents
        for p in chunking.chunk_document(parsed, header=False, max_tokens=250, overlap=40)
    ]
    header_tokens = chunking.count_tokens_batch(headers)
    counts = [p.token_count for _, p in bare]
    over = [
        c + h + chunking.SPECIAL_TOKENS > chunking.EMBED_WINDOW
        for c, h in zip(counts, header_tokens, strict=True)
    ]
    seen: dict[str, int] = {}
    for t in texts:
        seen[t] = seen.get(t, 0) + 1
    return {
        "set": name,
        "parser": parser,
        "pages": len(documents),
        "chunks": len(texts),
        "header+chunk > 256 wp": float(np.mean(over)),
        "chunks < 40 tokens": float(np.mean([c < 40 for c in counts])),
        "chunks with ¶": float(np.mean(["¶" in t for t in texts])),
        "chunks with 'Last updated'": float(np.mean(["Last updated" in t for t in texts])),
        "duplicate chunks": sum(n - 1 for n in seen.values()),
    }


def table(rows: Sequence[dict[str, Any]]) -> str:
    lines = [
        "| variant | set | half | R@1 | R@5 | R@10 | MRR | page in 5 chunks | pages in 5 chunks"
        " | chunks | >256 wp | <40 wp |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        name = r["variant"] + (f" [{r['pages']} pages]" if r.get("subset") is not None else "")
        name += " [sample]" if r.get("sample") else ""
        lines.append(
            f"| {name} | {r['set']} | {r['half']} | {r['R@1']:.3f} | {r['R@5']:.3f} |"
            f" {r['R@10']:.3f} | {r['MRR']:.3f} | {r['chunks@5']:.3f} | {r['distinct@5']:.2f} |"
            f" {r['chunks']} | {r['truncated']:.1%} | {r['under40']:.1%} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", action="append", help="variant name (repeatable)")
    parser.add_argument("--sets", default="python,git")
    parser.add_argument(
        "--subset",
        type=int,
        default=None,
        metavar="N",
        help="expected pages + N seeded distractors instead of every page",
    )
    parser.add_argument(
        "--sample", action="store_true", help="half of the questions (with --subset: their pages)"
    )
    parser.add_argument("--questions", type=int, default=None, help="only the first N questions")
    parser.add_argument("--stats", action="store_true", help="chunk statistics, whole corpora")
    parser.add_argument("--misses", metavar="VARIANT", help="questions not found at rank 1")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--shard", metavar="I/N", help="only embed shard I of N into the cache")
    parser.add_argument("--table", action="store_true", help="print every recorded result")
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    args = parser.parse_args(argv)
    results = args.dir / "results.jsonl"
    if args.list:
        for v in VARIANTS.values():
            print(f"{v.name}: {v.note}")
        return
    if args.misses:
        cache = EmbeddingCache(args.dir / "embeddings.sqlite")
        for name in [s for s in args.sets.split(",") if s]:
            for row in misses(
                VARIANTS[args.misses], cache, name, subset=args.subset, sample=args.sample
            ):
                print(json.dumps(row, ensure_ascii=False))
        return
    if args.shard:
        # Embed only this shard's share of the chunks (I of N, by text hash) into the cache, so
        # N processes of one thread each fill it in parallel; then run without --shard.
        reverse = args.shard.endswith("r")  # "0/2r": the same shard, longest texts first
        index, count = (int(x) for x in args.shard.rstrip("r").split("/"))
        cache = EmbeddingCache(args.dir / "embeddings.sqlite")
        for name in [s for s in args.sets.split(",") if s]:
            for variant in args.variant or [DEFAULT_VARIANT]:
                corpus = build_corpus(name, VARIANTS[variant], cache_dir=args.dir)
                mine = [t for t in corpus.texts if int(cache.key(t)[:8], 16) % count == index]
                cache.embed(mine, local_encode, longest_first=reverse)
        return
    if args.stats:
        for name in [s for s in args.sets.split(",") if s]:
            for mode in ("raw", "clean"):
                print(json.dumps(corpus_stats(name, args.dir, mode), ensure_ascii=False))
        return
    if args.table:
        rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
        print(table(rows))
        return
    cache = EmbeddingCache(args.dir / "embeddings.sqlite")
    sets = [s for s in args.sets.split(",") if s]
    for name in sets:
        if not CORPORA[name][0].is_dir():
            raise SystemExit(
                f"{CORPORA[name][0]} is missing: apt-get install -y python3-doc git-doc"
            )
    out = []
    for name in args.variant or [DEFAULT_VARIANT]:
        rows = run_variant(
            VARIANTS[name],
            cache,
            sets=sets,
            subset=args.subset,
            sample=args.sample,
            limit=args.questions,
        )
        with results.open("a") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
        out += rows
    print(table(out))
    print(f"(embedded {cache.encoded} new texts)")


if __name__ == "__main__":
    main()
