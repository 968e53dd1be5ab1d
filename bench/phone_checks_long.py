"""Time of the phone-number checks a chat turn runs on the event loop (``leaves_a_phone``, and
``number_left`` beside an address) over long messages: ordering phrases repeated, many numbers
too long to call, words only; each ending "call me on +91 98765 43210". Side by side with
another checkout's ``rag/chat/contact_details.py`` (loaded with this checkout's other modules):

    .venv/bin/python -m bench.phone_checks_long --against /work/main

Prints milliseconds per message (both checks), the median of ``--rounds`` new messages (a
space more each round: no cache answers). Prints only.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time
from pathlib import Path
from types import ModuleType

from bench.common import Table

TAIL = " call me on +91 98765 43210"
SHAPES = {
    "ordering repeated": "I want to order 50 units ",
    "an order repeated": "an order ",
    "numbers too long to call": "12345678901234567 ",
    "one-letter words": "a ",
}


def _load(checkout: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "other_contact_details", checkout / "rag" / "chat" / "contact_details.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _millis(module: ModuleType, text: str, rounds: int) -> float:
    times = []
    for i in range(rounds):
        message = text + " " * i
        start = time.perf_counter()
        module.leaves_a_phone(message)
        module.number_left(f"{message} jo@example.com")
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", type=Path, help="another checkout to compare with")
    parser.add_argument("--lengths", default="2000,10000,20000")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from rag.chat import contact_details

    modules = {"this": contact_details}
    if args.against:
        modules = {"other": _load(args.against), **modules}
    table = Table(["message", "chars", *(f"{name} ms" for name in modules)], digits=1)
    for shape, unit in SHAPES.items():
        for length in (int(n) for n in args.lengths.split(",")):
            text = unit * (length // len(unit)) + TAIL
            table.add(shape, len(text), *(_millis(m, text, args.rounds) for m in modules.values()))
    table.print("phone checks of one long message (leaves_a_phone + number_left)")


if __name__ == "__main__":
    main()
