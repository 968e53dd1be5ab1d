"""CPU cost of the per-answer and per-request guards: ``python -m bench.guards``.

* the output guard (rag.chat.guard.OutputGuard) on whole answers of several lengths, and over a
  stream of word-sized deltas (guard_stream), as the LLM path runs it;
* the link filter (rag.chat.links.restrict_links) on an answer with links;
* the JSON input guard (api.input_guard) on a chat body and on 1 MB bodies.

No database, no network: pure CPU, one core. Writes its section of docs/benchmarks.md (not on
a ``--quick`` run unless ``--write`` is given; never with ``--no-write``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Callable

from api.input_guard import json_depth_exceeds, lone_surrogate_field
from bench.common import add_write_options, print_table, write_section, writes_docs
from rag.chat.generator import Completion, StreamEvent
from rag.chat.guard import RULE_CONCEPTS, OutputGuard, guard_stream
from rag.chat.links import LinkPolicy, restrict_links
from rag.chat.prompts import new_canary, system_rules

PERSONA = (
    "You are Aria, the assistant of Acme Shoes. Offer the loyalty programme to returning "
    "customers and keep answers short; never discuss suppliers or internal pricing."
)
SENTENCES = [
    "Refunds are processed within 5 business days of receiving the item [2].",
    "Shipping is free for orders above $50 and orders ship within 2 days [1].",
    "Our office is open Monday to Friday from 9am to 6pm [3].",
    "See [the policy](https://shop.example.com/refunds) or [this page](https://evil.test/x).",
]


def _answer(chars: int) -> str:
    text = ""
    while len(text) < chars:
        text += " ".join(SENTENCES) + " "
    return text[:chars]


def _per_call_ms(fn: Callable[[], object], repeat: int) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - started) / repeat * 1000


def _stream_ms(guard: OutputGuard, answer: str, repeat: int) -> float:
    pieces = re.findall(r"\S+\s*", answer)

    async def upstream() -> AsyncIterator[StreamEvent]:
        for piece in pieces:
            yield StreamEvent("delta", piece)
        yield StreamEvent("done", completion=Completion(answer, 1, 1, "m"))

    async def run() -> None:
        async for _ in guard_stream(upstream(), guard):
            pass

    started = time.perf_counter()
    for _ in range(repeat):
        asyncio.run(run())
    return (time.perf_counter() - started) / repeat * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    add_write_options(parser)
    args = parser.parse_args(argv)
    scale = 0.1 if args.quick else 1.0

    guard = OutputGuard(
        [new_canary(), system_rules("Aria")],
        persona=PERSONA,
        rule_concepts=RULE_CONCEPTS,
        public_text=SENTENCES * 5,
    )
    policy = LinkPolicy.of(
        cited_urls=["https://docs.example.com/a"], allowed_origins=["https://shop.example.com"]
    )
    rows: list[tuple[str, str, str]] = []
    for chars in (500, 2000, 8000):
        text = _answer(chars)
        repeat = max(5, int(400 * scale * 500 / chars))
        whole_ms = _per_call_ms(lambda t=text: guard.leaks(t), repeat)
        rows.append(("output guard, whole answer", f"{chars} chars", f"{whole_ms:.2f} ms"))
    answer = _answer(2000)
    words = len(re.findall(r"\S+\s*", answer))
    rows.append(
        (
            "output guard over a stream",
            f"2000 chars in {words} deltas",
            f"{_stream_ms(guard, answer, max(2, int(20 * scale))):.1f} ms",
        )
    )
    link_ms = _per_call_ms(lambda: restrict_links(answer, policy), max(20, int(2000 * scale)))
    rows.append(("link filter", "2000 chars, 2 links per 290", f"{link_ms:.3f} ms"))
    bodies = {
        "chat body, 60 B": json.dumps({"message": "How do refunds work?", "session_id": "s"}),
        "1 MB text document": json.dumps({"title": "t", "text": "Some [link](x) text. " * 50_000}),
        "1 MB of [] pairs": "[" + "[]," * 349_000 + "[]]",
        "1 MB of escaped emoji": json.dumps({"text": "\U0001f600 " * 110_000}),
    }
    for label, text in bodies.items():
        raw = text.encode()
        repeat = max(3, int((20_000 if len(raw) < 1000 else 20) * scale))

        def check(body: bytes = raw) -> None:
            json_depth_exceeds(body)
            lone_surrogate_field(body)

        rows.append(("JSON input guard", label, f"{_per_call_ms(check, repeat):.3f} ms"))

    table = print_table(["check", "input", "CPU per call"], rows, title="Guards")
    if not writes_docs(args):
        return 0
    write_section(
        "guards",
        "## Guards on answers and request bodies\n\n"
        "`python -m bench.guards`: CPU per call on one core, no I/O. The output guard runs on LLM "
        "answers only (extractive answers quote documents and are not guarded); streams are "
        "checked every 24 characters on their tail and every 256 on the whole text. Before the "
        "decoded views, the persona and the paraphrase check (issue 18) the guard took about "
        "0.7 ms per 2000-character answer and 12 ms over the same stream on this machine. Word "
        "stems come from snowballstemmer, cached per word (issue 11): run alternately on the "
        "same 2000-character answer it took 2.1 ms per check, the hand-written suffix "
        "stripper it replaced 2.4 ms.\n\n" + table,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
