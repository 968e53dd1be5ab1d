"""CPU per chat turn of the text checks the event loop runs on every rag answer, over the
bench's questions (``bench.chat_questions``) and passages of the demo documents: intent
detection, the normalized question, whether the answer echoes the visitor (response cache),
the prompt and output guard's preparation, the guard's leak check, the stage metrics.

    .venv/bin/python -m bench.turn_checks                 # this checkout
    cd <another checkout> && <this venv>/bin/python -m bench.turn_checks   # (copy the file there)

Prints thread CPU microseconds per call (``time.thread_time``), median of ``--rounds`` rounds;
each round asks the same ``--questions`` of every check, after a warm-up. The passages come
back from a small pool, as the demo documents' chunks do turn after turn. Prints only.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench.common import ROOT, Table

ANSWER = "According to the documentation, this is covered in the knowledge base [1]."
DOCUMENTS = ("pricing.md", "refunds.md", "setup.md", "platforms.md")


def checks(questions: list[str], rng: random.Random) -> dict[str, Callable[[int, str], Any]]:
    from rag.chat.clock import observe
    from rag.chat.echoes import echoes_the_visitor
    from rag.chat.generator import Completion, GenerationRequest
    from rag.chat.intents import detect_intent
    from rag.chat.llm import LLMGenerator
    from rag.chat.normalize import normalize_question
    from rag.chat.prompts import Passage

    words = " ".join((ROOT / "api" / "demo" / n).read_text() for n in DOCUMENTS).split()

    def passages() -> list[Passage]:
        out = []
        for n in range(1, 6):
            start = rng.randrange(0, len(words) - 160)
            text = " ".join(words[start : start + 160])
            out.append(Passage(n, n, n, f"Doc {n}", None, None, text, 0.5))
        return out

    pool = [passages() for _ in range(8)]
    generator = LLMGenerator(llm=None)  # type: ignore[arg-type]  # only _prepare is called
    requests = [
        GenerationRequest(q, pool[i % len(pool)], user=f"v{i}") for i, q in enumerate(questions)
    ]
    guards = [generator._prepare(r)[1] for r in requests]
    stages = "validate record faq cache embed faq_semantic cache_semantic retrieval generation"
    timings = dict.fromkeys([*stages.split(), "record_answer", "total"], 1.5)
    completion = Completion(
        text=ANSWER, prompt_tokens=100, completion_tokens=20, model="m", finish_reason="stop"
    )
    return {
        "detect_intent": lambda i, q: detect_intent(q),
        "normalize_question": lambda i, q: normalize_question(q),
        "echoes_the_visitor": lambda i, q: echoes_the_visitor(ANSWER, q, pool[i % len(pool)]),
        "LLMGenerator._prepare": lambda i, q: generator._prepare(requests[i]),
        "OutputGuard.leaks": lambda i, q: guards[i].leaks(ANSWER),
        "clock.observe": lambda i, q: observe("rag", completion, timings),
    }


def main(argv: list[str] | None = None) -> None:
    from bench.chat_questions import unique_questions

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--questions", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    questions = unique_questions(args.questions, rng)
    named = checks(questions, rng)
    for check in named.values():  # warm-up: imports, compiled patterns, the passages' caches
        for i, q in enumerate(questions[:100]):
            check(i, q)
    figures: dict[str, list[float]] = {name: [] for name in named}
    load = os.getloadavg()[0]
    for _ in range(args.rounds):
        for name, check in named.items():
            started = time.thread_time()
            for i, q in enumerate(questions):
                check(i, q)
            figures[name].append((time.thread_time() - started) * 1e6 / len(questions))
    table = Table(["check", "µs per call"])
    for name, values in figures.items():
        each = " / ".join(f"{v:.1f}" for v in values)
        table.add(name, f"{statistics.median(values):.1f} ({each})")
    table.print(
        f"thread CPU per call, median of {args.rounds} rounds of {args.questions} questions"
        f" (load average {load:.1f} -> {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores)"
    )


if __name__ == "__main__":
    main()
