"""Shared helpers for the benchmarks: the machine's description, tables, docs/benchmarks.md.

Each script owns one section of docs/benchmarks.md, delimited by markers
``<!-- bench:NAME:start -->`` and ``<!-- bench:NAME:end -->``, and replaces only the text between
them, so scripts (and people) never overwrite each other's results. Usage::

    from bench.common import Table, machine_markdown, database_versions, write_section

    table = Table(["mode", "p50 ms", "p95 ms"])
    table.add("vector", 1.23, 4.56)
    table.print()                                   # to stdout, aligned
    versions = await database_versions(owner_url)   # {"postgresql": ..., "pgvector": ...}
    write_section(
        "retrieval",                                # -> <!-- bench:retrieval:start/end -->
        "\\n".join(["Run `python -m bench.retrieval` ...", "", table.markdown(),
                   "", machine_markdown(versions)]),
    )

A missing section is appended at the end of the file (before the goals table when there is one);
the machine description is also written to the shared ``machine`` section by ``write_section``
when ``machine=`` is given.

Whether a run writes at all is one rule for every script (``add_write_options`` and
``writes_docs``): ``--no-write`` never writes, ``--write`` always does, and otherwise a ``--quick``
run (a smoke run, too small to record) leaves docs/benchmarks.md alone while a full run writes
(scripts whose runs are recorded only on purpose, such as the drills, default to not writing).
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import platform
import re
import statistics
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
GOALS_MARKER = "<!-- bench:goals:start -->"


# --- statistics ------------------------------------------------------------------------------


def pct(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "n": float(len(values)),
        "mean": statistics.fmean(values) if values else math.nan,
        "p50": pct(values, 0.50),
        "p95": pct(values, 0.95),
        "p99": pct(values, 0.99),
    }


# --- the machine -----------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return math.nan


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "-"


def require_packages(benchmark: str, packages: dict[str, str]) -> None:
    """Exit with a message naming what to install when a module of ``packages`` (module name ->
    distribution name) is missing: a benchmark that needs more than the product's dependencies
    says so before it starts a database, instead of failing halfway with a traceback."""
    missing = [
        dist for module, dist in packages.items() if importlib.util.find_spec(module) is None
    ]
    if missing:
        raise SystemExit(
            f"{benchmark} needs {', '.join(missing)}, not installed in this environment"
            f" ({sys.executable}); install {'them' if len(missing) > 1 else 'it'} with"
            f" `.venv/bin/pip install {' '.join(missing)}` and run it again"
        )


def machine() -> dict[str, str]:
    """CPU, cores, memory, OS and Python; database versions come from database_versions()."""
    return {
        "cpu": cpu_model(),
        "cores": str(os.cpu_count() or "?"),
        "memory": f"{memory_gib():.1f} GiB",
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
    }


async def database_versions(url: str) -> dict[str, str]:
    """PostgreSQL and pgvector versions of the server at ``url`` (any SQLAlchemy/libpq form)."""
    import asyncpg

    raw = re.sub(r"^postgresql\+\w+://", "postgresql://", url)
    conn = await asyncpg.connect(raw)
    try:
        pg = await conn.fetchval("SHOW server_version")
        vec = await conn.fetchval("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
    finally:
        await conn.close()
    return {"postgresql": str(pg).split()[0], "pgvector": str(vec or "not installed")}


def machine_markdown(extra: dict[str, str] | None = None) -> str:
    """A one-table description of the machine (plus ``extra`` rows, e.g. database versions)."""
    info = machine() | (extra or {})
    info["measured"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    table = Table(["", ""])
    for key, value in info.items():
        table.add(key, value)
    return table.markdown()


def git_revision() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
            timeout=5,
        )
        return out.stdout.strip() or "-"
    except (OSError, subprocess.SubprocessError):
        return "-"


# --- tables ----------------------------------------------------------------------------------


def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.{digits}f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    digits: int = 2

    def add(self, *cells: Any) -> None:
        if len(cells) != len(self.headers):
            raise ValueError(f"expected {len(self.headers)} cells, got {len(cells)}")
        self.rows.append([fmt(c, self.digits) for c in cells])

    def text(self) -> str:
        widths = [
            max(len(h), *(len(r[i]) for r in self.rows)) if self.rows else len(h)
            for i, h in enumerate(self.headers)
        ]
        lines = ["  ".join(h.ljust(w) for h, w in zip(self.headers, widths, strict=True))]
        lines.append("  ".join("-" * w for w in widths))
        lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in self.rows]
        return "\n".join(lines)

    def markdown(self) -> str:
        lines = ["| " + " | ".join(self.headers) + " |"]
        lines.append("|" + "|".join("---" for _ in self.headers) + "|")
        lines += ["| " + " | ".join(r) + " |" for r in self.rows]
        return "\n".join(lines)

    def print(self, title: str | None = None) -> None:
        if title:
            print(f"\n{title}")
        print(self.text(), flush=True)


def print_table(headers: list[str], rows: Iterable[Sequence[Any]], title: str | None = None) -> str:
    """Print an aligned table; returns its markdown."""
    table = Table(list(headers))
    for row in rows:
        table.add(*row)
    table.print(title)
    return table.markdown()


# --- docs/benchmarks.md ----------------------------------------------------------------------


def add_write_options(parser: argparse.ArgumentParser, *, default: bool = True) -> None:
    """``--write`` and ``--no-write`` (exclusive), read back with ``writes_docs(args)``.

    ``default``: whether a full run (not ``--quick``) writes when neither is given.
    """
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--write",
        dest="write",
        action="store_const",
        const=True,
        default=None,
        help="write this script's section of docs/benchmarks.md, also on a --quick run"
        + ("" if default else " (not written without it)"),
    )
    group.add_argument(
        "--no-write",
        dest="write",
        action="store_const",
        const=False,
        help="leave docs/benchmarks.md alone (print only)",
    )
    parser.set_defaults(write_by_default=default)


def parse_recorded(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """``parser``'s arguments from ``argv`` (the command line when None), and as ``argv`` the
    arguments themselves but ``--write``/``--no-write``: what a recorded run names."""
    args = parser.parse_args(argv)
    raw = sys.argv[1:] if argv is None else argv
    args.argv = [a for a in raw if a not in ("--write", "--no-write")]
    return args


def recorded(module: str, args: argparse.Namespace, note: str, table: Table) -> str:
    """A recorded run: the command (``args.argv``, ``parse_recorded``'s), ``note``, the table."""
    argv = " ".join(args.argv)
    command = f"`python -m {module}{' ' + argv if argv else ''}`"
    return "\n".join([f"{command} ({note}):", "", table.markdown()])


def writes_docs(args: argparse.Namespace) -> bool:
    """Whether this run writes docs/benchmarks.md: ``--write``/``--no-write`` when given, else
    never on a ``--quick`` run, else the script's default (``add_write_options``)."""
    explicit = getattr(args, "write", None)
    if explicit is not None:
        return bool(explicit)
    if getattr(args, "quick", False):
        return False
    return bool(getattr(args, "write_by_default", True))


def markers(name: str) -> tuple[str, str]:
    if not re.fullmatch(r"[a-z0-9_-]+", name):
        raise ValueError(f"invalid section name {name!r}")
    return f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"


def replace_section(document: str, name: str, body: str) -> str:
    """``document`` with the text between NAME's markers replaced by ``body``.

    A missing section is inserted before the goals section if there is one, else appended.
    """
    start, end = markers(name)
    block = f"{start}\n{body.strip()}\n{end}"
    i, j = document.find(start), document.find(end)
    if i != -1 and j != -1 and j > i:
        return document[:i] + block + document[j + len(end) :]
    if i != -1 or j != -1:
        raise ValueError(f"section {name!r} has only one of its markers")
    goals = document.find(GOALS_MARKER)
    if goals != -1 and name != "goals":
        cut = document.rfind("\n## ", 0, goals)
        cut = goals if cut == -1 else cut + 1
        return document[:cut] + block + "\n\n" + document[cut:]
    return document.rstrip("\n") + "\n\n" + block + "\n"


def write_section(
    name: str, body: str, *, path: Path = DOC, machine: dict[str, str] | None = None
) -> Path:
    """Replace section ``name`` of ``path`` (docs/benchmarks.md by default) with ``body``.

    With ``machine`` (e.g. database_versions()), the shared ``machine`` section is rewritten too.
    """
    document = path.read_text() if path.exists() else "# Benchmarks\n"
    document = replace_section(document, name, body)
    if machine is not None:
        document = replace_section(document, "machine", machine_markdown(machine))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(document)
    print(
        f"wrote section {name!r} of {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}"
    )
    return path
