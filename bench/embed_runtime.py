"""The local model's runtime, ONNX Runtime against sentence-transformers (torch), side by side.

    .venv/bin/python -m bench.embed_runtime            # 2 alternating rounds, writes the section
    .venv/bin/python -m bench.embed_runtime --rounds 1 --no-write

Each round starts one fresh process per runtime (EMBED_RUNTIME=onnx, the same with
EMBED_QUERY_PRECISION=int8, then torch), which loads the
product's LocalEmbedder (one thread, EMBED_THREADS=1; onnx from the graph `trulybot warm-model`
exported) and measures, in process CPU time: 48 distinct questions encoded one by one (what a
lone visitor's question costs), the same questions in batches of 16 (what the micro-batcher does
under load), and real chunks of the Python HTML documentation as the product embeds them (header
+ passage, most near the 256-piece window) in slices of 4. Also: the time to load, the process's
resident memory after it, and the largest difference per vector component between the two
runtimes on every text measured, and the least cosine between a question's int8 and onnx
vectors (int8 encodes questions only, one by one; its chunks are onnx's own).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import add_write_options, fmt, print_table, write_section, writes_docs
from bench.embed_slices import QUESTIONS as SLICE_QUESTIONS

QUESTIONS = [f"{stem} ({n})" for n in range(6) for stem in SLICE_QUESTIONS]


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(runtime: str, files: int, out: Path) -> None:
    """One runtime in this fresh process; writes its figures and vectors under ``out``."""
    from bench.embed_slices import chunk_texts
    from rag.knowledge.embeddings import LocalEmbedder

    chunks = chunk_texts(files)[:48]
    rss0 = _rss_mib()
    started = time.perf_counter()
    embedder = LocalEmbedder(
        batch_size=32,
        threads=1,
        runtime="onnx" if runtime == "onnx-int8" else runtime,  # type: ignore[arg-type]
        query_precision="int8" if runtime == "onnx-int8" else "fp32",
    )
    used = embedder.load() + ("-int8" if embedder.query_precision_used == "int8" else "")
    load_s = time.perf_counter() - started
    embedder._encode(["warm up the first call"])
    rss_loaded = _rss_mib()

    def cpu_ms(batches: list[list[str]], encode: Any = embedder._encode) -> tuple[float, Any]:
        t0 = time.process_time()
        vectors = [encode(batch) for batch in batches]
        return (time.process_time() - t0) * 1000, np.vstack(vectors)

    asked = embedder._encode_queries
    single_ms, single = cpu_ms([[q] for q in QUESTIONS], asked)
    batches = [QUESTIONS[i : i + 16] for i in range(0, len(QUESTIONS), 16)]
    batch_ms, batched = cpu_ms(batches, asked)
    chunk_ms, chunked = cpu_ms([chunks[i : i + 4] for i in range(0, len(chunks), 4)])
    figures = {
        "runtime": used,
        "load_s": load_s,
        "rss_before": rss0,
        "rss_loaded": rss_loaded,
        "rss_after": _rss_mib(),
        "single_ms": single_ms / len(QUESTIONS),
        "batch_ms": batch_ms / len(QUESTIONS),
        "chunk_ms": chunk_ms / len(chunks),
        "chunks": len(chunks),
        "torch_imported": "torch" in sys.modules,
    }
    (out / f"{runtime}.json").write_text(json.dumps(figures))
    np.save(out / f"{runtime}.npy", np.vstack([single, batched, chunked]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--files", type=int, default=20, help="documentation pages to chunk")
    add_write_options(parser)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.child:
        child(args.child, args.files, Path(args.out))
        return

    runtimes = ("onnx", "onnx-int8", "torch")
    figures: dict[str, list[dict[str, float]]] = {r: [] for r in runtimes}
    difference = 0.0
    least_cosine = 1.0
    for round_ in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            for runtime in runtimes:
                command = [sys.executable, "-m", "bench.embed_runtime", "--child", runtime]
                command += ["--out", tmp, "--files", str(args.files)]
                subprocess.run(command, check=True)
                figures[runtime].append(json.loads((Path(tmp) / f"{runtime}.json").read_text()))
            a, int8, b = (np.load(Path(tmp) / f"{r}.npy") for r in runtimes)
            difference = max(difference, float(np.abs(a - b).max()))
            asked = 2 * len(QUESTIONS)  # the question rows: alone, then in 16s
            least_cosine = min(least_cosine, float((a[:asked] * int8[:asked]).sum(1).min()))
        print(f"round {round_ + 1}: load {os.getloadavg()[0]:.1f}", flush=True)

    def med(runtime: str, key: str) -> float:
        return statistics.median(float(f[key]) for f in figures[runtime])

    rows = []
    for runtime in runtimes:
        ran = {str(f["runtime"]) for f in figures[runtime]}
        rows.append(
            [
                f"{runtime}" + ("" if ran == {runtime} else f" (ran {'/'.join(sorted(ran))})"),
                fmt(med(runtime, "single_ms"), 1),
                fmt(med(runtime, "batch_ms"), 1),
                fmt(med(runtime, "chunk_ms"), 1),
                fmt(med(runtime, "load_s"), 2),
                fmt(med(runtime, "rss_loaded"), 0),
                fmt(med(runtime, "rss_after"), 0),
                "yes" if any(f["torch_imported"] for f in figures[runtime]) else "no",
            ]
        )
    keys = ("single_ms", "batch_ms", "chunk_ms")
    ratio = [med("torch", key) / med("onnx", key) for key in keys]
    rows.append(["torch / onnx", *(fmt(r, 2) + "x" for r in ratio), "", "", "", ""])
    ratio = [med("onnx", key) / med("onnx-int8", key) for key in keys[:2]]
    rows.append(["onnx / onnx-int8", *(fmt(r, 2) + "x" for r in ratio), "", "", "", "", ""])
    headers = [
        "runtime",
        "question alone: CPU ms",
        "questions in 16s: CPU ms each",
        "full chunks in 4s: CPU ms each",
        "load s",
        "RSS after load MiB",
        "RSS at the end MiB",
        "torch imported",
    ]
    table = print_table(headers, rows, "the local model's runtime (one thread, medians of rounds)")
    print(f"largest difference per vector component, onnx vs torch: {difference:.1e}")
    print(f"least cosine of a question's int8 and onnx vectors: {least_cosine:.4f}")
    load = os.getloadavg()[0]
    if writes_docs(args):
        chunks = int(figures["onnx"][0]["chunks"])
        body = (
            f"`python -m bench.embed_runtime --rounds {args.rounds}` ({args.rounds} alternating "
            f"rounds, a fresh process per runtime and round, one thread; {len(QUESTIONS)} "
            f"questions, {chunks} chunks of the Python docs as embedded; load average "
            f"{load:.1f} at the end). Largest difference per vector component between the "
            f"runtimes over every text: {difference:.1e}; least cosine of a question's int8 "
            f"and onnx vectors {least_cosine:.4f} (onnx-int8: EMBED_QUERY_PRECISION=int8, "
            "questions only; its chunks are onnx's).\n\n" + table
        )
        write_section("embed_runtime", body)


if __name__ == "__main__":
    main()
