"""Parsing is bounded: decoded size (zip bombs, PDF streams, pages), time and memory.

A document over a bound is refused with a stable code (``document_too_large``,
``parse_timeout``); a slow or greedy parse runs in a child process that is killed, so it never
hangs a worker or grows the worker's own memory.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import random
import struct
import subprocess
import sys
import threading
import zipfile
import zlib
from pathlib import Path
from typing import Any

import docx
import httpx
import pytest
from fpdf import FPDF
from redis.asyncio import Redis

from core.config import Settings
from core.db import Database
from core.errors import AppError
from rag.knowledge import parsing
from rag.knowledge.limits import parse_limits
from rag.knowledge.parse_isolation import parse_isolated
from rag.knowledge.parsing import (
    DOCX_MIME,
    DocumentTooLarge,
    ParseLimits,
    ParseTimeout,
    parse,
)
from tests.conftest import signup
from tests.rag.test_documents_api import custom_client, get_doc, upload

ROOT = Path(__file__).resolve().parents[2]
MIB = 1_048_576
WORDS = [
    "refund",
    "order",
    "parcel",
    "invoice",
    "courier",
    "warranty",
    "address",
    "payment",
    "support",
    "delivery",
]


def docx_with_paragraphs(paragraphs: list[bytes]) -> bytes:
    """A real DOCX whose body is ``paragraphs`` (raw ``<w:p>`` XML), stored deflated."""
    seed = io.BytesIO()
    document = docx.Document()
    document.add_paragraph("seed")
    document.save(seed)
    out = io.BytesIO()
    with (
        zipfile.ZipFile(seed) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target,
    ):
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "word/document.xml":
                head, tail = data.split(b"<w:body>")
                data = head + b"<w:body>" + b"".join(paragraphs) + tail
            target.writestr(info.filename, data)
    return out.getvalue()


def bomb_docx(xml_bytes: int) -> bytes:
    """The red team's DOCX: tens of kilobytes that expand to ``xml_bytes`` of paragraphs."""
    para = b"<w:p><w:r><w:t>x</w:t></w:r></w:p>"
    return docx_with_paragraphs([para] * (xml_bytes // len(para)))


def wordy_docx(xml_bytes: int) -> bytes:
    """Ordinary-looking paragraphs that compress about as well as real prose."""
    rng = random.Random(18)
    paragraphs: list[bytes] = []
    size = 0
    while size < xml_bytes:
        text = " ".join(rng.choice(WORDS) for _ in range(12))
        para = f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>".encode()
        paragraphs.append(para)
        size += len(para)
    return docx_with_paragraphs(paragraphs)


def pdf_with_pages(contents: list[bytes]) -> bytes:
    """A minimal valid PDF, one page per (FlateDecode-compressed) content stream."""
    count = len(contents)
    objects: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids ["
        + b" ".join(f"{4 + 2 * i} 0 R".encode() for i in range(count))
        + f"] /Count {count} >>".encode(),
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    }
    for i, content in enumerate(contents):
        packed = zlib.compress(content, 9)
        objects[4 + 2 * i] = (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792]"
            b" /Resources << /Font << /F1 3 0 R >> >> /Contents " + f"{5 + 2 * i} 0 R >>".encode()
        )
        objects[5 + 2 * i] = (
            f"<< /Length {len(packed)} /Filter /FlateDecode >>\nstream\n".encode()
            + packed
            + b"\nendstream"
        )
    out = bytearray(b"%PDF-1.4\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += f"{number} 0 obj\n".encode() + objects[number] + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for number in sorted(objects):
        out += f"{offsets[number]:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)


def text_page(text: str, padding: int = 0) -> bytes:
    return f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET\n".encode() + b" " * padding


# --- decoded size ------------------------------------------------------------------------------


def test_docx_zip_bomb_is_refused_before_parsing() -> None:
    data = bomb_docx(5 * MIB)
    assert len(data) < 100_000
    with pytest.raises(DocumentTooLarge) as info:
        parse(data, filename="bomb.docx", content_type=DOCX_MIME)
    assert info.value.code == "document_too_large"
    assert info.value.status_code == 413
    assert info.value.details["member"] == "word/document.xml"


def test_docx_expanding_past_the_decoded_bound_is_refused() -> None:
    data = wordy_docx(300_000)  # compresses like prose: no bomb, just too big for this bound
    limits = ParseLimits(max_decoded_bytes=200_000)
    with pytest.raises(DocumentTooLarge, match="200000"):
        parse(data, filename="big.docx", content_type=DOCX_MIME, limits=limits)
    doc = parse(data, filename="big.docx", content_type=DOCX_MIME)  # the default bound is larger
    assert doc.kind == "docx"


def _lie_about_size(data: bytes, name: bytes, size: int) -> bytes:
    """Rewrite the uncompressed size the local and central headers declare for ``name``."""
    out = bytearray(data)
    # (signature, offset of the uncompressed size, of the name's length, of the name)
    for signature, size_at, length_at, name_at in (
        (b"PK\x03\x04", 22, 26, 30),
        (b"PK\x01\x02", 24, 28, 46),
    ):
        start = out.find(signature)
        while start != -1:
            (length,) = struct.unpack_from("<H", out, start + length_at)
            if bytes(out[start + name_at : start + name_at + length]) == name:
                struct.pack_into("<I", out, start + size_at, size)
            start = out.find(signature, start + 4)
    return bytes(out)


def test_docx_member_is_never_read_past_its_declared_size() -> None:
    # The headers claim 1,000 bytes; the deflate stream holds 5 MiB. Reading stops at the claim
    # (and the checksum then fails): the declared sizes the bound is checked on are the truth.
    data = _lie_about_size(bomb_docx(5 * MIB), b"word/document.xml", 1000)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.getinfo("word/document.xml").file_size == 1000
    with pytest.raises(AppError) as info:
        parse(data, filename="liar.docx", content_type=DOCX_MIME)
    assert info.value.code == "parse_failed"


def parts_zip(parts: int, *, declared: int | None = None) -> bytes:
    """A zip holding ``word/document.xml`` and ``parts`` empty parts; its end record declaring
    ``declared`` entries when given (a lie zipfile does not go by). Past 65,535 entries zipfile
    writes ZIP64 records, whose count the old check skipped."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("word/document.xml", b"<w:document/>")
        for i in range(parts):
            archive.writestr(zipfile.ZipInfo(f"{i:x}"), b"")
    data = bytearray(buffer.getvalue())
    if declared is not None:
        end = data.rfind(b"PK\x05\x06")
        struct.pack_into("<HH", data, end + 8, declared, declared)
    return bytes(data)


@pytest.fixture
def zip_opened(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The threads ``zipfile`` read an archive's directory on, one entry per opening."""
    opened: list[int] = []
    real = parsing._open_zip

    def recording(data: bytes) -> Any:
        opened.append(threading.get_ident())
        return real(data)

    monkeypatch.setattr(parsing, "_open_zip", recording)
    return opened


@pytest.mark.parametrize(
    ("parts", "declared", "refused_by"),
    [(12_000, 1, "parts"), (66_000, None, "directory_bytes")],
    ids=["declares-one-entry", "zip64"],
)
def test_zip_directory_past_the_part_limit_is_refused_before_zipfile_reads_it(
    zip_opened: list[int], parts: int, declared: int | None, refused_by: str
) -> None:
    data = parts_zip(parts, declared=declared)
    with pytest.raises(DocumentTooLarge) as info:
        parse(data, filename="parts.docx", content_type=DOCX_MIME)
    assert info.value.status_code == 413
    assert refused_by in info.value.details
    assert zip_opened == []  # zipfile never parsed the 12,000 or 66,000 entries


def test_pdf_streams_are_decoded_within_the_bound() -> None:
    data = pdf_with_pages([text_page("Delivery takes three days.", padding=8 * MIB)])
    assert len(data) < 100_000
    with pytest.raises(DocumentTooLarge):
        parse(data, filename="bomb.pdf", content_type="application/pdf", limits=_small())
    doc = parse(data, filename="bomb.pdf", content_type="application/pdf")
    assert "three days" in doc.text


def test_pdf_page_count_is_bounded() -> None:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for n in range(3):
        pdf.add_page()
        pdf.multi_cell(0, 10, f"Page {n} of the shipping guide.")
    data = bytes(pdf.output())
    with pytest.raises(DocumentTooLarge, match="2 pages"):
        parse(
            data, filename="g.pdf", content_type="application/pdf", limits=ParseLimits(max_pages=2)
        )
    assert len(parse(data, filename="g.pdf", content_type="application/pdf").sections) == 3


def test_pdf_text_is_bounded_in_total() -> None:
    pages = [text_page("Returns are accepted within thirty days. " * 20) for _ in range(40)]
    data = pdf_with_pages(pages)
    with pytest.raises(DocumentTooLarge):
        parse(data, filename="t.pdf", content_type="application/pdf", limits=_small(8_000))


@pytest.mark.parametrize(
    ("name", "content_type"),
    [("a.txt", "text/plain"), ("a.md", "text/markdown"), ("a.html", "text/html")],
)
def test_text_formats_are_bounded(name: str, content_type: str) -> None:
    data = b"<p>" + b"word " * 1000 + b"</p>"
    with pytest.raises(DocumentTooLarge):
        parse(data, filename=name, content_type=content_type, limits=_small(4000))


def _small(max_decoded_bytes: int = MIB) -> ParseLimits:
    return ParseLimits(max_decoded_bytes=max_decoded_bytes)


# --- time and memory: a child process that is killed ----------------------------------------


def test_isolated_parse_returns_the_same_document() -> None:
    data = wordy_docx(20_000)
    assert parse_isolated(
        data, filename="a.docx", content_type=DOCX_MIME, limits=ParseLimits()
    ) == parse(data, filename="a.docx", content_type=DOCX_MIME)


def test_isolated_parse_reports_the_parsers_error() -> None:
    with pytest.raises(DocumentTooLarge) as info:
        parse_isolated(
            bomb_docx(5 * MIB), filename="bomb.docx", content_type=DOCX_MIME, limits=ParseLimits()
        )
    assert info.value.details["member"] == "word/document.xml"


def test_a_parse_past_its_time_is_stopped() -> None:
    # Twenty megabytes of paragraphs take the parser tens of seconds; the bound is half a second.
    limits = ParseLimits(timeout_seconds=0.5, max_zip_ratio=None, max_decoded_bytes=64 * MIB)
    with pytest.raises(ParseTimeout) as info:
        parse_isolated(
            bomb_docx(20 * MIB), filename="slow.docx", content_type=DOCX_MIME, limits=limits
        )
    assert info.value.code == "parse_timeout"
    assert multiprocessing.active_children() == []  # the parser was killed and reaped


def test_a_parse_past_its_memory_is_stopped() -> None:
    limits = ParseLimits(max_memory_bytes=160 * MIB, max_zip_ratio=None, max_decoded_bytes=64 * MIB)
    with pytest.raises(DocumentTooLarge, match="memory"):
        parse_isolated(
            bomb_docx(20 * MIB), filename="big.docx", content_type=DOCX_MIME, limits=limits
        )
    assert multiprocessing.active_children() == []


# --- as an owner sees it -----------------------------------------------------------------------


async def test_docx_bomb_upload_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, owner: Any
) -> None:
    response = await upload(client, owner, "handbook.docx", bomb_docx(20 * MIB), DOCX_MIME)
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "document_too_large"
    listed = (await client.get(owner.url("/documents"), headers=owner.headers)).json()
    assert listed["total"] == 0


async def test_upload_reads_a_zip_directory_once_and_off_the_event_loop(
    client: httpx.AsyncClient, owner: Any, zip_opened: list[int]
) -> None:
    # A directory declaring 1 entry and holding 12,000 was read twice on the event loop: every
    # other request of the process (chat streams, widgets, health checks) waited meanwhile.
    lying = await upload(client, owner, "parts.docx", parts_zip(12_000, declared=1), DOCX_MIME)
    assert lying.status_code == 413, lying.text
    error = lying.json()["error"]
    assert error["code"] == "document_too_large"
    assert error["details"]["parts"] == 12_001
    assert zip_opened == []
    loop_thread = threading.get_ident()
    ok = await upload(client, owner, "handbook.docx", wordy_docx(20_000), DOCX_MIME)
    assert ok.status_code == 202, ok.text
    opened = list(zip_opened)
    assert len(opened) == 1  # detecting the type and bounding the parts read it once
    assert opened[0] != loop_thread


async def test_documents_over_the_parse_bounds_fail_with_a_code_and_the_worker_moves_on(
    db: Database, redis_client: Redis
) -> None:
    async with custom_client(db, redis_client, parse_timeout_seconds=0.5, parse_max_pages=2) as (
        c,
        runtime,
    ):
        who = await signup(c, "Bounded")
        slow = await upload(c, who, "slow.docx", wordy_docx(8 * MIB), DOCX_MIME)
        assert slow.status_code == 202, slow.text
        pdf = FPDF()
        pdf.set_font("Helvetica", size=12)
        for n in range(3):
            pdf.add_page()
            pdf.multi_cell(0, 10, f"Page {n}.")
        long = await upload(c, who, "long.pdf", bytes(pdf.output()), "application/pdf")
        assert long.status_code == 202
        jobs = runtime.jobs
        await jobs.drain()
        slow_doc = await get_doc(c, who, slow.json()["id"])
        assert (slow_doc["status"], slow_doc["error_code"]) == ("failed", "parse_timeout")
        assert "0.5 s" in slow_doc["error"]
        long_doc = await get_doc(c, who, long.json()["id"])
        assert (long_doc["status"], long_doc["error_code"]) == ("failed", "document_too_large")
        ok = await c.post(
            who.url("/documents"),
            json={"title": "Hours", "text": "Open 9 to 5."},
            headers=who.headers,
        )
        await jobs.drain()
        assert (await get_doc(c, who, ok.json()["id"]))["status"] == "ready"


def test_default_limits_are_the_default_settings() -> None:
    assert parse_limits(Settings(_env_file=None)) == ParseLimits()  # type: ignore[call-arg]


MAIN_SCRIPT = """
import os, sys
with open(sys.argv[1], "a") as log:
    log.write(f"{os.getpid()}\\n")  # every process that runs this script leaves a line

from rag.knowledge.parse_isolation import ParseLimits, parse_isolated

if __name__ == "__main__":
    for n in range(2):
        doc = parse_isolated(
            b"<p>Open on Sundays.</p>", filename="a.html", content_type="text/html",
            limits=ParseLimits(),
        )
        assert "Sundays" in doc.text
"""


def test_parser_children_do_not_rerun_the_programs_main_script(tmp_path: Path) -> None:
    # `trulybot` is a script importing the whole CLI; a child that ran it again would spend a
    # quarter of a second per document before parsing anything.
    script, runs = tmp_path / "main_script.py", tmp_path / "runs.txt"
    script.write_text(MAIN_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), str(runs)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert len(runs.read_text().split()) == 1


def test_parsing_goes_on_after_the_fork_server_was_reaped_elsewhere() -> None:
    """The fork server exits and another part of the process reaps it (seen after the browser
    tests): multiprocessing's own check then raises ECHILD on every start; parsing must go on."""
    import os
    import signal
    from multiprocessing import forkserver

    text = b"A page that parses the same before and after."
    limits = ParseLimits()
    before = parse_isolated(text, filename="a.txt", content_type="text/plain", limits=limits)
    server = forkserver._forkserver  # type: ignore[attr-defined]
    pid = server._forkserver_pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)  # reaped here, as a waitpid(-1) elsewhere would
    after = parse_isolated(text, filename="a.txt", content_type="text/plain", limits=limits)
    assert after == before
    assert server._forkserver_pid not in (None, pid)
