"""A visitor's erasure by phone: the scan of the visitors' messages against the address's.

``python -m bench.erasure_phone_scan [--messages 100000]``

On a cluster of its own (``pgserver`` under a temporary directory, stopped at the end): that
many chat-like messages, one in 50 with a 10-digit number and one in 70 with an address; the
median of five runs of each statement an erasure's message scan could use, and migration 0045's
``tb_phone_key`` against the digits alone over as many numbers.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import statistics
import tempfile
import time
from pathlib import Path

import pgserver
import psycopg

MIGRATION = Path(__file__).resolve().parents[1] / "migrations/versions/0045_phone_key.py"


def _key_function() -> str:
    """Migration 0045's ``CREATE FUNCTION tb_phone_key`` (its module name starts with a digit)."""
    spec = importlib.util.spec_from_file_location("phone_key_0045", MIGRATION)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.FUNCTION)


STATEMENTS = {
    "by email: strpos(lower(text))": (
        "SELECT count(*) FROM msgs WHERE strpos(lower(text), 'u700@example.com') > 0"
    ),
    "by phone: strpos(regexp_replace(text, non-digits))": (
        "SELECT count(*) FROM msgs"
        " WHERE strpos(regexp_replace(text, '[^0-9]', '', 'g'), '9876543210') > 0"
    ),
    "by phone: strpos(translate(text, signs)) (shipped)": (
        "SELECT count(*) FROM msgs"
        " WHERE strpos(translate(text, ' ().-' || chr(160), ''), '9876543210') > 0"
    ),
    "tb_phone_key over as many numbers": (
        "SELECT count(DISTINCT tb_phone_key('+91 ' || g))"
        " FROM generate_series(9000000000, 8999999999 + %(n)s) g"
    ),
    "the digits alone over as many numbers": (
        "SELECT count(DISTINCT regexp_replace('+91 ' || g, '[^0-9]', '', 'g'))"
        " FROM generate_series(9000000000, 8999999999 + %(n)s) g"
    ),
}


def _messages(count: int) -> list[str]:
    rng = random.Random(1)
    words = ["hello", "please", "price", "plan", "order", "delivery", "call", "me", "my"]
    words += ["number", "is", "the", "a", "refund"]
    found = []
    for i in range(count):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(4, 30)))
        if i % 50 == 0:
            text += f" {rng.randint(6000000000, 9999999999)}"
        if i % 70 == 0:
            text += f" u{i}@example.com"
        found.append(text)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    count = parser.parse_args().messages
    with tempfile.TemporaryDirectory() as data:
        server = pgserver.get_server(data, cleanup_mode="stop")
        try:
            with psycopg.connect(server.get_uri(), autocommit=True) as conn:
                conn.execute("CREATE TABLE msgs (text text)")
                with conn.cursor().copy("COPY msgs (text) FROM STDIN") as copy:
                    for text in _messages(count):
                        copy.write_row((text,))
                conn.execute("VACUUM ANALYZE msgs")
                conn.execute(_key_function())

                def median_ms(sql: str) -> float:
                    runs: list[float] = []
                    for _ in range(5):
                        start = time.perf_counter()
                        conn.execute(sql, {"n": count}).fetchall()
                        runs.append((time.perf_counter() - start) * 1000)
                    return statistics.median(runs)

                print(f"| statement ({count:,} messages or numbers) | median ms |")
                print("|---|---|")
                for name, sql in STATEMENTS.items():
                    print(f"| {name} | {median_ms(sql):.0f} |")
        finally:
            server.cleanup()


if __name__ == "__main__":
    main()
