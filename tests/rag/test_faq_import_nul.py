"""A NUL character in an FAQ CSV (a file exported from a tool that pads with NULs, a field
pasted from a binary) is named by its row before anything is embedded, like every other row the
import cannot take: it reached the database, which refuses NUL in text, after the rows before it
were embedded; the dashboard's page then said "a character that cannot be stored", no row."""

from __future__ import annotations

import uuid

import pytest

from api.runtime import Runtime
from core.errors import ValidationFailed
from tests.conftest import Owner
from tests.rag.test_faq_import_rows import run_import, stored


@pytest.mark.parametrize(
    "row",
    [
        'What is tea {tag}\x00?,"Tea is nice."',
        'What is tea {tag}?,"Tea\x00 is nice."',
    ],
)
async def test_a_nul_in_a_row_is_named_and_nothing_is_added(
    runtime: Runtime, owner: Owner, row: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    data = f'question,answer\n"Opening hours {tag}?","Nine to five."\n{row.format(tag=tag)}\n'
    with pytest.raises(ValidationFailed) as refused:
        await run_import(runtime, owner, data.encode())
    assert refused.value.code == "invalid_csv"
    problems = refused.value.details
    assert isinstance(problems, list)
    assert [p["row"] for p in problems] == [3], problems
    assert await stored(runtime, owner) == {}


async def test_a_nul_in_other_phrasings_is_named(runtime: Runtime, owner: Owner) -> None:
    tag = uuid.uuid4().hex[:8]
    data = f'question,answer,alt_questions\n"Tea {tag}?","Nice.","Tea\x00 {tag}|Cha {tag}"\n'
    with pytest.raises(ValidationFailed) as refused:
        await run_import(runtime, owner, data.encode())
    assert refused.value.code == "invalid_csv"
    problems = refused.value.details
    assert isinstance(problems, list)
    assert [(p["row"], p["field"]) for p in problems] == [(2, "alt_questions")], problems
