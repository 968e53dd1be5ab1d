"""Unanswered questions: a refused answer comes back in its group's form with what was typed,
and a group can be marked as dealt with without an FAQ."""

from __future__ import annotations

import html
import re
import uuid

from sqlalchemy import text

from api.runtime import Runtime
from tests.dashboard.conftest import WebOwner, asked_by_a_visitor

NOTICE = re.compile(r'<p class="flash" role="status">(.*?)</p>', re.S)


async def asked(runtime: Runtime, web: WebOwner) -> tuple[str, list[str]]:
    question = f"Do you offer phone support on Sundays in branch {uuid.uuid4().hex[:6]}?"
    return question, await asked_by_a_visitor(runtime, web, question)


async def test_a_refused_answer_keeps_what_was_typed(runtime: Runtime, web: WebOwner) -> None:
    question, ids = await asked(runtime, web)
    empty = await web.post(web.url("unanswered/faq"), {"ids": ids, "question": question})
    assert empty.status_code == 422
    assert "<h1>Unanswered questions</h1>" in empty.text
    assert 'aria-invalid="true" aria-describedby="a1-err"' in empty.text

    # A teammate adds the same question from the Knowledge page meanwhile.
    made = await web.post(web.url("knowledge/faqs"), {"question": question, "answer": "Yes."})
    assert made.status_code == 303
    typed = "Yes, from 10am to 4pm: call 080-1234."
    refused = await web.post(
        web.url("unanswered/faq"), {"ids": ids, "question": question, "answer": typed}
    )
    assert refused.status_code == 409
    text = html.unescape(refused.text)
    assert "<h1>Unanswered questions</h1>" in text
    assert f">{typed}</textarea>" in text
    assert "Another FAQ already asks this" in text
    assert "mark them as dealt with" in text
    # The refused FAQ was not half-made: the teammate's answer stands alone.
    knowledge = await web.client.get(web.url("knowledge"))
    assert typed not in html.unescape(knowledge.text)

    # The existing FAQ answers it: the group is marked as dealt with.
    dealt = await web.post(web.url("unanswered/resolve"), {"ids": ids})
    assert dealt.status_code == 303
    page = await web.client.get(dealt.headers["location"])
    assert question not in page.text
    assert NOTICE.search(page.text).group(1) == "1 question marked as dealt with"  # type: ignore[union-attr]
    again = await web.client.get(
        (await web.post(web.url("unanswered/resolve"), {"ids": ids})).headers["location"]
    )
    assert NOTICE.search(again.text).group(1) == "Those questions had already been dealt with"  # type: ignore[union-attr]


async def test_an_answer_to_questions_dealt_with_meanwhile_says_so(
    runtime: Runtime, web: WebOwner
) -> None:
    question, ids = await asked(runtime, web)
    assert (await web.post(web.url("unanswered/resolve"), {"ids": ids})).status_code == 303
    done = await web.post(
        web.url("unanswered/faq"), {"ids": ids, "question": question, "answer": "Yes."}
    )
    assert done.status_code == 303
    page = await web.client.get(done.headers["location"])
    said = NOTICE.search(page.text)
    assert said is not None
    assert said.group(1) == "FAQ added. Its questions had already been dealt with"


async def test_a_refusal_for_a_group_gone_meanwhile_keeps_the_answer(
    runtime: Runtime, web: WebOwner
) -> None:
    _, ids = await asked(runtime, web)
    assert (await web.post(web.url("unanswered/resolve"), {"ids": ids})).status_code == 303
    typed = f"Only on weekdays {uuid.uuid4().hex[:6]}."
    refused = await web.post(
        web.url("unanswered/faq"), {"ids": ids, "question": "", "answer": typed}
    )
    assert refused.status_code == 422
    assert "were dealt with meanwhile" in refused.text
    assert f">{typed}</textarea>" in refused.text


async def test_a_field_sent_as_a_file_part_is_left_out_not_a_500(
    runtime: Runtime, web: WebOwner
) -> None:
    """A form field posted as a file (a forged or broken form) is not text: it is left out, the
    rest of the form is saved (it was a 500 when that field was a phrasing)."""
    question, ids = await asked(runtime, web)
    answer = f"No, only by sea {uuid.uuid4().hex[:6]}."
    parts = [
        ("csrf_token", (None, web.csrf)),
        ("question", (None, question)),
        ("answer", (None, answer)),
        ("alt_questions", (None, "Can I get it delivered to Mars?")),
        ("alt_questions", ("alt.txt", b"other phrasing", "text/plain")),
        *[("ids", (None, i)) for i in ids],
    ]
    made = await web.client.post(web.url("unanswered/faq"), files=parts)
    assert made.status_code == 303, made.text
    async with runtime.db.transaction(workspace_id=uuid.UUID(web.workspace_id)) as session:
        saved = (
            await session.execute(
                text("SELECT question, alt_questions FROM faqs WHERE answer = :a"), {"a": answer}
            )
        ).all()
    assert [tuple(row) for row in saved] == [(question, ["Can I get it delivered to Mars?"])]
    page = await web.client.get(made.headers["location"])
    assert question not in page.text  # the group was answered
