"""A visitor's erasure by phone: the scan of the visitors' messages against the address's.

``python -m bench.erasure_phone_scan [--messages 100000]``

On a cluster of its own (``pgserver`` under a temporary directory, stopped at the end): that
many chat-like messages, one in 50 with a 10-digit number, one in 500 with one in Devanagari
digits and one in 70 with an address; the
median of five runs of each statement an erasure's message scan could use, and migration 0045's
``tb_phone_key`` against the digits alone over as many numbers.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time

import pgserver
import psycopg

from core.migrate import revision_module
from lifecycle.erasure_text_repository import AS_ASCII, NUMBER_MARKS, NUMBER_SIGNS, OTHER_DIGITS


def _key_function() -> str:
    """Migration 0045's ``CREATE FUNCTION tb_phone_key``."""
    return str(revision_module("0045").FUNCTION)


STATEMENTS = {
    "by email: strpos(lower(text))": (
        "SELECT count(*) FROM msgs WHERE strpos(lower(text), 'u700@example.com') > 0"
    ),
    "by phone: strpos(regexp_replace(text, non-digits))": (
        "SELECT count(*) FROM msgs"
        " WHERE strpos(regexp_replace(text, '[^0-9]', '', 'g'), '9876543210') > 0"
    ),
    "by phone: strpos(translate(text, signs)) (ASCII digits only: leads9)": (
        "SELECT count(*) FROM msgs"
        f" WHERE strpos(translate(text, '{NUMBER_SIGNS}', ''), '9876543210') > 0"
    ),
    "by phone: strpos(translate(text, signs and 130 other digits))": (
        "SELECT count(*) FROM msgs WHERE strpos(translate(text,"
        f" '{OTHER_DIGITS}{NUMBER_SIGNS}', '{AS_ASCII}'), '9876543210') > 0"
    ),
    "by phone: ASCII, or other digits where a message has any (shipped)": (
        "SELECT count(*) FROM msgs"
        f" WHERE strpos(translate(text, '{NUMBER_SIGNS}', ''), '9876543210') > 0"
        f" OR (text ~ '{NUMBER_MARKS}' AND strpos(translate(text,"
        f" '{OTHER_DIGITS}{NUMBER_SIGNS}', '{AS_ASCII}'), '9876543210') > 0)"
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


_DEVANAGARI = str.maketrans("0123456789", OTHER_DIGITS[20:30])


def _messages(count: int) -> list[str]:
    rng = random.Random(1)
    words = ["hello", "please", "price", "plan", "order", "delivery", "call", "me", "my"]
    words += ["number", "is", "the", "a", "refund"]
    found = []
    for i in range(count):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(4, 30)))
        if i % 50 == 0:
            text += f" {rng.randint(6000000000, 9999999999)}"
        if i % 500 == 0:  # a number in Devanagari digits
            text += " " + str(rng.randint(6000000000, 9999999999)).translate(_DEVANAGARI)
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
