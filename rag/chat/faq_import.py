"""FAQs imported from a CSV file: a header row naming ``question`` and ``answer`` (and,
optionally, ``alt_questions``: other phrasings separated by ``|``, or a JSON list of them as a
workspace export's ``faqs.csv`` writes it; and ``enabled``: true or false, as the export writes
it, an FAQ switched off imported switched off), one FAQ per row.

All or nothing: a file with any invalid row adds nothing and says which rows are wrong (up to
``MAX_REPORTED`` of them, each with its row number): a field the schema refuses, an answer that
shows nothing, a question with no words to look up or too long to index, a question an earlier
row of the file gives another answer to, a NUL character in a field. A row repeating an earlier
one's question with the same answer adds its phrasings to that row's FAQ.

What spreadsheets save is read as they save it (``_text``, ``_dialect``): UTF-8 (with or without
a byte order mark), UTF-16 with its byte order mark (Excel's "Unicode Text"), UTF-32 with its
byte order mark, otherwise Windows-1252 (Excel's "CSV" on Windows); fields separated by ``,``,
``;`` (Excel where the comma is the decimal mark) or a tab, whichever makes the first row name
``question`` and ``answer``, unless a first line ``sep=X`` (which Excel reads and hides) names
the separator.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import QuotaExceeded, ValidationFailed
from rag.chat import faq as faq_service
from rag.chat.models import Faq
from rag.chat.normalize import normalize_question
from rag.chat.repository import faqs as faq_repo
from rag.chat.schemas import FaqIn
from rag.knowledge.embeddings import Embedder
from workspaces.permissions import Action, authorize
from workspaces.service import WorkspaceAccess

MAX_ROWS = 500
MAX_BYTES = 2 * 1024 * 1024
MAX_REPORTED = 10
EMBED_WINDOW = 1024  # phrasings embedded in one call ahead of the rows asking them
_FIELDS = ("question", "answer", "alt_questions")
NUL_MESSAGE = "The field holds a NUL character, which cannot be stored: remove it"
SEPARATORS = (",", ";", "\t")


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int = 0
    """FAQs that already asked a row's question and that a row changed (another answer, a new
    phrasing), each counted once: each takes the row's answer (a file imported again with
    corrected answers updates them instead of adding FAQs no visitor would get). One the row
    leaves as it was is neither written again nor counted."""


def parse(data: bytes) -> list[FaqIn]:
    """The file's FAQs, or 422 ``invalid_csv`` naming the first wrong rows."""
    return [item for _, item in numbered(data)]


def numbered(data: bytes) -> list[tuple[int, FaqIn]]:
    """``parse``, each FAQ with its row number in the file (the header is row 1; an empty row
    keeps its number, so the rows after it are named as the spreadsheet numbers them)."""
    if len(data) > MAX_BYTES:
        raise ValidationFailed(
            f"The CSV file is larger than {MAX_BYTES // 1024 // 1024} MB", code="invalid_csv"
        )
    text, separator = _sep_line(_text(data))
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=separator or _dialect(text))
    try:  # the header row is read here (a field of it past the limit was a 500)
        fields = {(name or "").strip().lower() for name in reader.fieldnames or []}
    except csv.Error as exc:
        raise _unreadable(exc) from exc
    if not {"question", "answer"} <= fields:
        raise ValidationFailed(
            "The first row must name the columns question and answer (alt_questions and enabled"
            " optional)",
            code="invalid_csv",
        )
    items: list[tuple[int, FaqIn]] = []
    problems: list[dict[str, object]] = []
    answered: dict[str, tuple[int, str]] = {}  # a phrasing: the first row asking it, its answer
    try:
        for number, raw in enumerate(reader, start=2):
            if number - 1 > MAX_ROWS:
                raise ValidationFailed(f"At most {MAX_ROWS} FAQs per file", code="invalid_csv")
            row = {(k or "").strip().lower(): (v or "") for k, v in raw.items() if k}
            if not any(value.strip() for value in row.values()):
                continue
            if nul := next((f for f in _FIELDS if "\x00" in row.get(f, "")), None):
                # Not storable: the database refused it mid-import, after the rows before it
                # were embedded, and the page named no row.
                if len(problems) < MAX_REPORTED:
                    problems.append({"row": number, "field": nul, "message": NUL_MESSAGE})
                continue
            # Only a file with the column says whether an FAQ it updates is switched on.
            given: dict[str, bool] = {}
            if "enabled" in row:
                switch = _enabled(row["enabled"])
                if switch is None:
                    if len(problems) < MAX_REPORTED:
                        problems.append(
                            {"row": number, "field": "enabled", "message": ENABLED_MESSAGE}
                        )
                    continue
                given["enabled"] = switch
            try:
                item = FaqIn(
                    question=row.get("question", "").strip(),
                    answer=row.get("answer", "").strip(),
                    alt_questions=_alt_questions(row.get("alt_questions", "")),
                    **given,
                )
            except ValidationError as exc:
                err = exc.errors()[0]
                problem: dict[str, object] | None = {
                    "row": number,
                    "field": str(err["loc"][0]),
                    "message": _said(err),
                }
            else:
                problem = _row_problem(item, number, answered)
                items.append((number, item))
            if problem is not None and len(problems) < MAX_REPORTED:
                problems.append(problem)
    except csv.Error as exc:
        raise _unreadable(exc) from exc
    if problems:
        rows = ", ".join(str(p["row"]) for p in problems)
        raise ValidationFailed(
            f"Nothing was imported: rows {rows} need fixing", code="invalid_csv", details=problems
        )
    if not items:
        raise ValidationFailed("The CSV file has no FAQs", code="invalid_csv")
    return items


def _said(err: Any) -> str:
    """A refused field of a row in words an owner acts on: pydantic's own ("String should have
    at least 1 character") was shown as it was."""
    kind, ctx = str(err.get("type", "")), err.get("ctx") or {}
    if kind == "string_too_short":
        return "is empty: fill it in"
    if kind == "string_too_long":
        return f"is longer than {ctx.get('max_length')} characters"
    if kind == "too_long":
        return f"has more than {ctx.get('max_length')} other phrasings (separate them with |)"
    return str(err.get("msg", "")).removeprefix("Value error, ")


ENABLED_MESSAGE = "enabled must be true or false (or left empty: switched on)"
_SWITCH = {"true": True, "yes": True, "1": True, "on": True, "": True}
_SWITCH |= {"false": False, "no": False, "0": False, "off": False}


def _enabled(cell: str) -> bool | None:
    """The ``enabled`` column's cell (the export writes True or False), None when it is
    neither."""
    return _SWITCH.get(cell.strip().lower())


def _alt_questions(cell: str) -> list[str]:
    """The other phrasings: separated by ``|``, or a JSON list of strings, as a workspace
    export's ``faqs.csv`` writes them (read as one phrasing, ``["a", "b"]``, before)."""
    text = cell.strip()
    if text.startswith("[") and text.endswith("]"):
        try:
            listed = json.loads(text)
        except ValueError:
            listed = None
        if isinstance(listed, list) and all(isinstance(q, str) for q in listed):
            return [q.strip() for q in listed if q.strip()]
    return [a.strip() for a in text.split("|") if a.strip()]


def _unreadable(exc: csv.Error) -> ValidationFailed:
    return ValidationFailed(f"The CSV file cannot be read: {exc}", code="invalid_csv")


def _text(data: bytes) -> str:
    """The file's text: UTF-8, UTF-16 or UTF-32 as its byte order mark says, else UTF-8, else
    Windows-1252 (which a spreadsheet on Windows saves; any UTF-8 file with a character past
    ASCII fails to be Windows-1252 only by chance, so UTF-8 is tried first). A UTF-8 file
    with a stray byte (``_meant_as_utf8``) is refused naming its line, not read as
    Windows-1252."""
    for bom, encoding, name in (
        (codecs.BOM_UTF8, "utf-8-sig", "UTF-8"),
        # UTF-32 first: its little-endian mark begins with UTF-16's (FF FE), and such a file
        # was read as UTF-16, a NUL between each letter, and refused for its header.
        (codecs.BOM_UTF32_LE, "utf-32", "UTF-32"),
        (codecs.BOM_UTF32_BE, "utf-32", "UTF-32"),
        (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"),
        (codecs.BOM_UTF16_BE, "utf-16", "UTF-16"),
    ):
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise ValidationFailed(
                    f"The CSV file starts as {name} text but is not {name}: save it again",
                    code="invalid_csv",
                ) from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if _meant_as_utf8(data):
            line = data[: exc.start].count(b"\n") + 1
            raise ValidationFailed(
                f"The CSV file is UTF-8 text but line {line} holds a byte that is not UTF-8"
                " (a character cut in half, or pasted from another encoding): fix that line"
                " or save the file again as UTF-8",
                code="invalid_csv",
                details=[{"line": line, "message": "not UTF-8"}],
            ) from exc
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise ValidationFailed(
            "The CSV file must be UTF-8, UTF-16 or Windows-1252 text", code="invalid_csv"
        ) from exc


def _meant_as_utf8(data: bytes) -> bool:
    """Whether bytes that are not all UTF-8 were still meant as UTF-8: more of their
    characters past ASCII are well-formed UTF-8 than not. Read as Windows-1252, such a file
    became mojibake (``é`` stored as ``Ã©``), imported without a word; Windows-1252 text
    makes a well-formed UTF-8 character only by chance (``Â£``), and mostly bytes that are
    not."""
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd") - data.count("\ufffd".encode())
    good = sum(1 for ch in text if ch > "\x7f" and ch != "\ufffd")
    return good > bad


_SEP_LINE = re.compile(r'"?sep=([^"\r\n])"?[ \t]*(?:\r\n|\r|\n|$)', re.IGNORECASE)


def _sep_line(text: str) -> tuple[str, str | None]:
    """The text after Excel's ``sep=X`` first line and the separator ``X`` it names, or the
    text as it is and None. Excel reads that line as "fields are separated by X" and shows no
    row for it, so the header is the row after it (row 1, as the rows are numbered)."""
    found = _SEP_LINE.match(text)
    if found is None:
        return text, None
    return text[found.end() :], found.group(1)


def _dialect(text: str) -> str:
    """The separator (``,``, ``;`` or a tab) that makes the first row name ``question`` and
    ``answer``; a comma when none does (the file is then refused for its columns)."""
    for separator in SEPARATORS:
        try:
            first = next(csv.reader(io.StringIO(text, newline=""), delimiter=separator), [])
        except csv.Error:
            continue
        if {"question", "answer"} <= {name.strip().lower() for name in first}:
            return separator
    return ","


def _row_problem(
    item: FaqIn, row: int, answered: dict[str, tuple[int, str]]
) -> dict[str, object] | None:
    """What the create or update of this row would refuse (found here, so the file's every
    wrong row is named, by its number, before anything is embedded; the refusal came one at a
    time, with no row), or a question an earlier row answers otherwise (the later answer
    silently replaced the earlier one). ``answered`` takes this row's phrasings."""
    try:
        faq_service.refuse_blank_answer(item.answer)
        faq_service.refuse_unindexable(item.question, item.alt_questions)
    except ValidationFailed as exc:
        detail = exc.details[0] if isinstance(exc.details, list) and exc.details else {}
        return {"row": row, "field": detail.get("field", "question"), "message": exc.message}
    if not normalize_question(item.question):
        return {"row": row, "field": "question", "message": "The question must contain words"}
    for phrasing in [item.question, *item.alt_questions]:
        key = normalize_question(phrasing)
        if not key:
            continue
        first, answer = answered.setdefault(key, (row, item.answer))
        if first != row and answer != item.answer:
            message = f"Row {row} asks {phrasing!r}, as row {first} does, with another answer"
            return {"row": row, "field": "question", "message": message, "same_as_row": first}
    return None


async def _creations(session: AsyncSession, access: WorkspaceAccess, items: list[FaqIn]) -> int:
    """How many FAQs the file would add: its rows that ask nothing an FAQ asks, nor anything an
    earlier row of the file asks (those update that FAQ, as ``import_csv`` does)."""
    asked_in_file: set[str] = set()
    adding = 0
    for item in items:
        keys = {normalize_question(q) for q in [item.question, *item.alt_questions]}
        if not keys & asked_in_file:
            existing = await faq_repo.faq_asking(
                session, workspace_id=access.workspace.id, normalized=sorted(keys)
            )
            adding += existing is None
        asked_in_file |= keys
    return adding


async def import_csv(
    session: AsyncSession, embedder: Embedder, access: WorkspaceAccess, data: bytes
) -> ImportResult:
    """Add every FAQ of the file, or update the FAQ that already asks a row's question when the
    row changes it (owners and admins; each one audited like a single create or update)."""
    authorize(access, Action.FAQ_CREATE)  # before the file is read
    rows = numbered(data)
    # Before the FAQs are counted: an import (or an FAQ added) at the same time is counted
    # once committed. Counted first, the same file sent twice at once was refused for the
    # quota as adding its rows again, which it only updates.
    await faq_repo.lock_faq_quota(session, access.workspace.id)
    adding = await _creations(session, access, [item for _, item in rows])
    try:  # the whole file, before anything is embedded (each create checks again)
        await faq_service.check_quota(session, access.workspace, adding=adding)
    except QuotaExceeded as exc:
        raise QuotaExceeded(
            f"This file adds {adding} FAQs: {exc.message}. Nothing was imported; remove FAQs,"
            " import fewer or upgrade the plan.",
            details={**(exc.details or {}), "adding": adding},
        ) from exc
    vectors = _FileVectors(embedder, session, access.workspace.id)
    window_end = 0  # the rows before it have their phrasings embedded
    created = 0
    made: set[uuid.UUID] = set()  # FAQs this file created: a later row of it is no update
    updated: set[uuid.UUID] = set()  # FAQs it updated, each counted once however many rows
    for index, (row, item) in enumerate(rows):
        if index == window_end:
            window_end = await vectors.prepare([i for _, i in rows], start=index)
        phrasings = [item.question, *item.alt_questions]
        existing = await faq_repo.faq_asking(
            session,
            workspace_id=access.workspace.id,
            normalized=[normalize_question(q) for q in phrasings],
        )
        try:
            if existing is None:
                faq = await faq_service.create(
                    session,
                    vectors,
                    access,
                    question=item.question,
                    answer=item.answer,
                    alt_questions=item.alt_questions,
                    enabled=item.enabled,
                )
                made.add(faq.id)
                created += 1
                continue
            known = faq_service.asked(existing)
            new_alts = []
            for q in phrasings:  # once each, as visitors' questions are compared
                if (key := normalize_question(q)) not in known:
                    known.add(key)
                    new_alts.append(q)
            switched = "enabled" in item.model_fields_set and existing.enabled != item.enabled
            if not new_alts and existing.answer == item.answer and not switched:
                continue  # nothing to change: not written again, audited or counted updated
            values: dict[str, Any] = {"answer": item.answer}
            if switched:
                values["enabled"] = item.enabled
            if new_alts:
                merged = [*existing.alt_questions, *new_alts]
                if len(merged) > faq_service.MAX_ALT_QUESTIONS:
                    # Merged past the limit every other way in keeps (the form, the API).
                    message = (
                        f"Row {row}: the FAQ it updates would have {len(merged)} other"
                        " phrasings, more than"
                        f" {faq_service.MAX_ALT_QUESTIONS}; nothing was imported"
                    )
                    raise ValidationFailed(
                        message,
                        code="invalid_csv",
                        details=[{"row": row, "field": "alt_questions", "message": message}],
                    )
                values["alt_questions"] = merged
            await faq_service.update(session, vectors, access, faq_id=existing.id, values=values)
            if existing.id not in made:
                updated.add(existing.id)
        except faq_service.FaqDuplicate as exc:  # one of its phrasings is another FAQ's
            raise _duplicate_row(exc, row, item, existing) from exc
    return ImportResult(created=created, updated=len(updated))


class _FileVectors:
    """The embedder the import's creates and updates use: the phrasings of the next rows (up to
    ``EMBED_WINDOW`` of them) are embedded in one call (``prepare``), and each FAQ's own call is
    answered from those vectors. Each row made its own call before: a 500-row file made 500
    round trips to the embeddings provider one after another in the request, which outlasted
    the request timeout (60 s) with a remote provider, and nothing was imported. A phrasing a
    stored FAQ asks already is not embedded again: its stored vector is read (an update indexes
    the FAQ's stored phrasings with its new ones; a row that changes nothing embeds nothing).
    Memory holds one window's vectors and those of the stored FAQs its rows ask; a phrasing not
    prepared is embedded as it comes."""

    def __init__(self, embedder: Embedder, session: AsyncSession, workspace_id: uuid.UUID) -> None:
        self.inner = embedder
        self.name, self.dimensions = embedder.name, embedder.dimensions
        self._session, self._workspace_id = session, workspace_id
        self._vectors: dict[str, np.ndarray] = {}

    async def prepare(self, items: Sequence[FaqIn], *, start: int) -> int:
        """Embed the phrasings of ``items[start:]`` up to a window's worth (at least one row's)
        that no stored FAQ asks, and read the stored vectors of the FAQs they ask; the index of
        the first row left for the next window."""
        wanted: dict[str, None] = {}
        end = start
        while end < len(items):
            texts = [t.strip() for t in (items[end].question, *items[end].alt_questions)]
            row = [t for t in texts if t and t not in wanted]
            if wanted and len(wanted) + len(row) > EMBED_WINDOW:
                break
            wanted.update(dict.fromkeys(row))
            end += 1
        stored = await faq_repo.stored_phrasings(
            self._session,
            workspace_id=self._workspace_id,
            normalized=sorted({normalize_question(t) for t in wanted}),
        )
        self._vectors = {text: vector for text, _, vector in stored}
        asked = {key for _, key, _ in stored}
        texts = [t for t in wanted if normalize_question(t) not in asked]
        if texts:
            self._vectors.update(zip(texts, await self.inner.embed_documents(texts), strict=True))
        return end

    async def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing:
            found = await self.inner.embed_documents(missing)
            self._vectors.update(zip(missing, found, strict=True))
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        return np.stack([np.asarray(self._vectors[t], dtype=np.float32) for t in texts])

    async def embed_query(self, text: str) -> np.ndarray:
        return await self.inner.embed_query(text)

    async def aclose(self) -> None:
        """The runtime's embedder is closed by the runtime."""


def _duplicate_row(
    exc: faq_service.FaqDuplicate, row: int, item: FaqIn, target: Faq | None
) -> ValidationFailed:
    """422 ``invalid_csv`` for a row one of whose phrasings another FAQ asks, the row named in
    the details as every refused row is (the dashboard lists the rows to fix from them; this
    one was named in the message only, and the list stayed empty)."""
    detail = exc.details[0] if isinstance(exc.details, list) and exc.details else {}
    other = str(detail.get("question") or "")
    # Updating ``target``, which asks the row's question: the clash is in its other phrasings.
    asks_question = target is not None and normalize_question(item.question) in (
        faq_service.asked(target)
    )
    message = (
        f"Row {row}: another FAQ already asks one of its questions"
        + (f" (\u201c{other}\u201d)" if other else "")
        + ": change that FAQ, or take the question out of this row; nothing was imported"
    )
    problem = {
        "row": row,
        "field": "alt_questions" if asks_question else "question",
        "message": message,
        **({"faq_id": detail["faq_id"]} if detail.get("faq_id") else {}),
    }
    return ValidationFailed(message, code="invalid_csv", details=[problem])
