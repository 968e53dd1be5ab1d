"""An FAQ CSV import names the rows that are wrong, all of them before anything is added: a
blank answer, a question with no words, two rows giving one question different answers. Rows
repeating a question with the same answer are one FAQ; counts say what the file changed."""

from __future__ import annotations

import uuid

import pytest

from api.runtime import Runtime
from core.errors import ValidationFailed
from rag.chat import faq as faq_service
from rag.chat import faq_import
from tests.conftest import Owner
from workspaces import repository as ws_repo
from workspaces.service import WorkspaceAccess


def csv(*rows: tuple[str, str]) -> bytes:
    lines = ["question,answer", *(f'"{q}","{a}"' for q, a in rows)]
    return ("\n".join(lines) + "\n").encode()


async def run_import(runtime: Runtime, owner: Owner, data: bytes) -> faq_import.ImportResult:
    ws = uuid.UUID(owner.workspace_id)
    async with runtime.db.transaction(workspace_id=ws) as session:
        workspace = await ws_repo.get_workspace(session, ws)
        assert workspace is not None
        access = WorkspaceAccess.operator(workspace, command="test")
        return await faq_import.import_csv(session, runtime.embedder, access, data)


async def stored(runtime: Runtime, owner: Owner) -> dict[str, str]:
    ws = uuid.UUID(owner.workspace_id)
    async with runtime.db.transaction(workspace_id=ws) as session:
        faqs, _, _ = await faq_service.list_page(session, workspace_id=ws, limit=100, cursor=None)
    return {f.question: f.answer for f in faqs}


async def test_rows_the_import_cannot_take_are_named_and_nothing_is_added(
    runtime: Runtime, owner: Owner
) -> None:
    tag = uuid.uuid4().hex[:8]
    data = csv(
        (f"Opening hours {tag}?", "Nine to five."),
        (f"Refunds {tag}?", "\u200b"),  # row 3: shows nothing
        ("???", "Question marks."),  # row 4: no words to look up
        (f"Shipping {tag}?", "Two days."),
        (f"opening HOURS {tag}", "Ten to six."),  # row 6: row 2's question, another answer
    )
    with pytest.raises(ValidationFailed) as refused:
        await run_import(runtime, owner, data)
    assert refused.value.code == "invalid_csv"
    problems = refused.value.details
    assert isinstance(problems, list)
    assert [(p["row"], p["field"]) for p in problems] == [
        (3, "answer"),
        (4, "question"),
        (6, "question"),
    ], problems
    assert "row 2" in str(problems[2]["message"])
    assert await stored(runtime, owner) == {}


async def test_a_row_repeated_with_the_same_answer_is_one_faq_and_counts_once(
    runtime: Runtime, owner: Owner
) -> None:
    tag = uuid.uuid4().hex[:8]
    data = csv(
        (f"Opening hours {tag}?", "Nine to five."),
        (f"Opening hours {tag}?", "Nine to five."),
        (f"Shipping {tag}?", "Two days."),
    )
    result = await run_import(runtime, owner, data)
    assert (result.created, result.updated) == (2, 0)
    assert await stored(runtime, owner) == {
        f"Opening hours {tag}?": "Nine to five.",
        f"Shipping {tag}?": "Two days.",
    }
    again = await run_import(runtime, owner, csv((f"Shipping {tag}?", "Three days.")))
    assert (again.created, again.updated) == (0, 1)


async def test_a_row_refused_after_an_empty_row_is_named_by_its_own_number(
    runtime: Runtime, owner: Owner
) -> None:
    """A spreadsheet's empty row (",,") is skipped, yet the rows after it kept their numbers
    only until the FAQs were written: a row refused there was named one too low (the row
    above it, which the owner then looked at in vain)."""
    tag = uuid.uuid4().hex[:8]
    await run_import(
        runtime, owner, csv((f"Opening hours {tag}?", "Nine."), (f"Shipping {tag}?", "Two days."))
    )
    data = (
        "question,answer,alt_questions\n"
        f'"Refunds {tag}?","Thirty days.",\n'
        ",,\n"  # row 3: empty, as a spreadsheet saves it
        f'"Opening hours {tag}?","Ten.","Shipping {tag}?"\n'  # row 4: two FAQs' questions
    ).encode()
    with pytest.raises(ValidationFailed) as refused:
        await run_import(runtime, owner, data)
    assert refused.value.message.startswith("Row 4: "), refused.value.message
    assert await stored(runtime, owner) == {
        f"Opening hours {tag}?": "Nine.",
        f"Shipping {tag}?": "Two days.",
    }


async def test_the_same_file_imported_again_counts_each_faq_it_updates_once(
    runtime: Runtime, owner: Owner
) -> None:
    """A file asking one question in two rows (the second adding a phrasing), imported twice
    with corrected answers: the second import said "3 updated" of a workspace holding two
    FAQs."""
    tag = uuid.uuid4().hex[:8]

    def data(hours: str, shipping: str) -> bytes:
        return (
            "question,answer,alt_questions\n"
            f'"Opening hours {tag}?","{hours}",\n'
            f'"Opening hours {tag}?","{hours}","When do you open {tag}?"\n'
            f'"Shipping {tag}?","{shipping}",\n'
        ).encode()

    first = await run_import(runtime, owner, data("Nine to five.", "Two days."))
    assert (first.created, first.updated) == (2, 0)
    again = await run_import(runtime, owner, data("Ten to six.", "Three days."))
    assert (again.created, again.updated) == (0, 2)
    assert await stored(runtime, owner) == {
        f"Opening hours {tag}?": "Ten to six.",
        f"Shipping {tag}?": "Three days.",
    }


async def test_only_the_faqs_a_file_changes_count_as_updated(
    runtime: Runtime, owner: Owner
) -> None:
    """The same file imported again said "2 updated" though nothing changed (and wrote each
    FAQ again, audited as an update): now only a changed answer or a new phrasing counts."""
    tag = uuid.uuid4().hex[:8]
    hours, shipping = (f"Opening hours {tag}?", "Nine to five."), (f"Shipping {tag}?", "Two days.")
    first = await run_import(runtime, owner, csv(hours, shipping))
    assert (first.created, first.updated) == (2, 0)
    again = await run_import(runtime, owner, csv(hours, shipping))
    assert (again.created, again.updated) == (0, 0)
    corrected = await run_import(runtime, owner, csv(hours, (shipping[0], "Three days.")))
    assert (corrected.created, corrected.updated) == (0, 1)
    phrasing = (
        "question,answer,alt_questions\n"
        f'"{hours[0]}","{hours[1]}","When do you open {tag}?"\n'
        f'"{shipping[0]}","Three days.",\n'
    ).encode()
    widened = await run_import(runtime, owner, phrasing)
    assert (widened.created, widened.updated) == (0, 1)
    assert await stored(runtime, owner) == {hours[0]: hours[1], shipping[0]: "Three days."}


async def test_a_row_asking_another_faqs_question_is_named_in_the_details(
    runtime: Runtime, owner: Owner
) -> None:
    """The row was named in the message only: the details (the list of rows to fix, which the
    dashboard shows under the import form) held the other FAQ without the row."""
    tag = uuid.uuid4().hex[:8]
    await run_import(
        runtime, owner, csv((f"Opening hours {tag}?", "Nine."), (f"Shipping {tag}?", "Two days."))
    )
    data = (
        "question,answer,alt_questions\n"
        f'"Refunds {tag}?","Thirty days.",\n'
        f'"Opening hours {tag}?","Ten.","Shipping {tag}?"\n'  # row 3: two FAQs' questions
    ).encode()
    with pytest.raises(ValidationFailed) as refused:
        await run_import(runtime, owner, data)
    assert refused.value.code == "invalid_csv"
    [problem] = refused.value.details
    assert (problem["row"], problem["field"]) == (3, "alt_questions"), problem
    assert str(problem["message"]).startswith("Row 3: "), problem
    assert f"Shipping {tag}?" in str(problem["message"]), problem
