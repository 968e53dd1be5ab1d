"""Questions encoded by an int8 graph (EMBED_QUERY_PRECISION=int8): which weights to quantize.

    python -m bench.query_int8                 # every variant, both sets, both halves
    python -m bench.query_int8 --variant all --variant layer0

Each variant is the exported MiniLM graph through ONNX Runtime's dynamic quantization (int8
weights, one scale per output channel, activations quantized at run time) with some of the six
layers' weight products left in float32. For each: the least, 5th-percentile and mean cosine of
a question's int8 vector to its float32 one over every question of both eval sets, the CPU per
question encoded alone (one thread; what the product does for int8 questions), and the eval with
the product's ranking (pages by their two best chunks, pseudo-relevance feedback 0.25 x 10) over
the float32 chunk vectors that ``bench.retrieval_levers`` cached (fill them first: see its
docstring). Every variant is made by the product's ``onnx_minilm.quantize``; ``all`` (nothing
kept in float32) is what the product ships. Choose on the tuning
halves; the held-out halves say whether to keep it.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from bench.common import ROOT

sys.path.insert(0, str(ROOT))

from bench import levers_eval as levers
from bench.embed_cache import DEFAULT_DIR, EmbeddingCache
from bench.levers_corpus import CORPORA, VARIANTS, build_corpus, local_encode
from bench.page_ranking import Ranking
from rag.knowledge import eval as rag_eval
from rag.knowledge import onnx_minilm
from rag.knowledge.embeddings import get_local_model

LAYER = "/transformer/encoder/layer.{}/"
PRODUCTS = {
    "qkv": [
        "attention/self/query/MatMul",
        "attention/self/key/MatMul",
        "attention/self/value/MatMul",
    ],
    "attn-out": ["attention/output/dense/MatMul"],
    "ffn-in": ["intermediate/dense/MatMul"],
    "ffn-out": ["output/dense/MatMul"],
}


def kept(kinds: list[str], layers: range | list[int] = range(6)) -> list[str]:
    """The weight products left in float32: ``kinds`` of ``layers``."""
    return [LAYER.format(i) + name for i in layers for kind in kinds for name in PRODUCTS[kind]]


VARIANTS_INT8: dict[str, list[str]] = {
    "all": [],
    "qkv fp32": kept(["qkv"]),
    "attn-out fp32": kept(["attn-out"]),
    "ffn-in fp32": kept(["ffn-in"]),
    "ffn-out fp32": kept(["ffn-out"]),
    "ffn-out of layers 0, 5 fp32": kept(["ffn-out"], [0, 5]),
    "layer 0 fp32": kept(list(PRODUCTS), [0]),
    "layer 5 fp32": kept(list(PRODUCTS), [5]),
}


def cpu_ms(encoder: onnx_minilm.OnnxMiniLM, texts: list[str]) -> float:
    for text in texts[:5]:
        encoder.encode([text])
    started = time.process_time()
    for text in texts:
        encoder.encode([text])
    return (time.process_time() - started) * 1000 / len(texts)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", action="append", choices=list(VARIANTS_INT8))
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)  # the quantizer's advice for image models
    full = onnx_minilm.load(onnx_minilm.default_cache_dir(), 1, lambda: get_local_model(1))
    cache = EmbeddingCache(args.dir / "embeddings.sqlite")
    variant = VARIANTS["name"]
    sets = {}
    for name in ("python", "git"):
        questions = rag_eval.load_questions(CORPORA[name][1])
        corpus = build_corpus(name, variant, cache_dir=args.dir)
        sets[name] = (questions, corpus, cache.embed(corpus.texts, local_encode))
    texts = {name: levers.query_texts(variant, qs) for name, (qs, _, _) in sets.items()}
    every = [t for name in sets for t in texts[name]]
    reference = {name: cache.embed(texts[name], local_encode) for name in sets}
    ranking = Ranking.parse("top2f:0.5")
    headers = ["variant", "cosine min / p5 / mean", "CPU ms per question"]
    headers += [f"{name} {half} R@5 / MRR" for name in sets for half in ("tune", "heldout")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label in ["fp32", *(args.variant or VARIANTS_INT8)]:
            if label == "fp32":
                encoder = full
            else:
                path = Path(tmp) / f"variant-{len(rows)}.onnx"
                onnx_minilm.quantize(full.graph, path, keep_float=VARIANTS_INT8[label])
                encoder = onnx_minilm.OnnxMiniLM(path, onnx_minilm.bundled_model_path())
            asked = {n: np.vstack([encoder.encode([t]) for t in texts[n]]) for n in sets}
            cosines = np.concatenate([(asked[n] * reference[n]).sum(1) for n in sets])
            row = [
                label,
                f"{cosines.min():.4f} / {np.percentile(cosines, 5):.4f} / {cosines.mean():.4f}",
                f"{cpu_ms(encoder, every[:100]):.2f}",
            ]
            for name, (questions, corpus, vectors) in sets.items():
                searched = levers.feedback_queries(asked[name], vectors, 0.25, 10)
                signals = levers.ranking_signals(
                    ranking, corpus, cache, vectors, asked[name], searched
                )
                halves = levers.evaluate(corpus, vectors, questions, searched, ranking, signals)
                for half in ("tune", "heldout"):
                    found = levers.metrics(halves[half]["ranks"])
                    row.append(f"{found['R@5']:.3f} / {found['MRR']:.3f}")
            rows.append(row)
            print(" | ".join(row), flush=True)
    print()
    print("| " + " | ".join(headers) + " |")
    print("|" + "---|" * len(headers))
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
