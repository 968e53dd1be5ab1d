# ruff: noqa: RUF001 (messages written in their own scripts and punctuation)
"""A call asked on a number beside words that state no problem, through the real chat path.

"I can't talk now, call me on ..." is a number left (``problems.states_a_problem`` leaves a
time the visitor is not free aside, in English), thanked, with no question for the knowledge.
The same said in the other languages of the call phrases, and a visitor saying they have no
email or when they are free, is one too: before, the problem words read a bare negation ("no
puedo", "не могу", "não consigo", "nahi", "नहीं", "不能", "won't", "haven't") or a time of day
("late afternoon") as something wrong, and the visitor got "I don't know" after the call
promised, their "can't talk now" listed on the owner's Unanswered page. A problem stated in those
words ("order nahi aaya", "登录不能", "it won't load") is still the question it is."""

from __future__ import annotations

import uuid

import httpx
import pytest

from rag.chat.intents import detect_intent
from tests.conftest import Owner
from tests.rag.test_chat import chat


def _plus91() -> str:
    digits = f"{uuid.uuid4().int % 10**9:09d}"
    return f"+91 9{digits[:4]} {digits[4:]}"


# A number left with when to call, or why by phone: no problem stated.
NOT_FREE = [
    "I won't be free before 5pm, call me on {n}",
    "I wont be available until 6, call me on {n}",
    "I haven't got an email, call me on {n}",
    "call me on {n} in the late afternoon, not before 4",
    "No puedo hablar ahora, llámame al {n}",
    "Ahora no puedo hablar, llámame al {n} mañana",
    "No puedo atender ahora, llámame al {n}",
    "Не могу говорить, перезвоните мне по номеру {n}",
    "Сейчас не могу говорить, перезвоните мне {n} вечером",
    "Não consigo falar agora, me ligue no {n}",
    "Não consigo atender agora, me ligue no {n} à tarde",
    "Non riesco a parlare ora, chiamatemi al {n}",
    "abhi baat nahi kar sakta, mujhe {n} par call karo",
    "abhi nahi, mujhe {n} par call karo shaam ko",
    "mere paas email nahi hai, mujhe {n} par call karo",
    "अभी बात नहीं कर सकता, मुझे {n} पर कॉल करें",
    "मेरे पास ईमेल नहीं है, मुझे {n} पर कॉल करें",
    "لا أستطيع التحدث الآن، اتصلوا بي على {n}",
    "现在不能说话，请打电话给我 {n}",
    "我现在不能接电话，请打电话给我 {n}",
    "现在接不了电话，请给我回电话 {n}",
    "今は話すことができません。{n}に電話してください",
]
# A problem stated in the same words: the question it is, the number on a lead all the same.
PROBLEMS = [
    "the app won't load, call me on {n}",
    "I haven't received my refund, call me on {n}",
    "No puedo entrar, llámame al {n}",
    "Не могу войти, перезвоните мне по номеру {n}",
    "Não consigo entrar, me ligue no {n}",
    "order nahi aaya, mujhe {n} par call karo",
    "login nahi ho raha, mujhe {n} par call karo",
    "ऑर्डर नहीं आया, मुझे {n} पर कॉल करें",
    "paise wapas nahi aaye, mujhe {n} par call karo",
    "पैसे वापस नहीं आए, मुझे {n} पर कॉल करें",
    "لا أستطيع الدخول، اتصلوا بي على {n}",
    "我不能登录，请打电话给我 {n}",
    "ログインできません。{n}に電話してください",
]


@pytest.mark.parametrize(
    ("message", "intent"),
    [(m, "contact") for m in NOT_FREE] + [(m, "question") for m in PROBLEMS],
)
def test_a_problem_is_told_from_when_to_call(message: str, intent: str) -> None:
    """A number left with when to call is a number left; a problem said in the same words is
    still the question it is."""
    assert detect_intent(message.format(n=_plus91())).intent == intent, message


async def test_a_number_left_with_when_to_call_is_thanked_and_nothing_unanswered(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    thanked = {"intent": "contact", "source": "fallback", "lead_saved": True}
    for message in NOT_FREE:
        text = message.format(n=_plus91())
        body = (await chat(client, owner, text, session_id=f"v-{uuid.uuid4().hex}")).json()
        assert {key: body[key] for key in thanked} == thanked, (text, body)
    listing = await client.get(owner.url("/unanswered"), headers=owner.headers)
    assert listing.status_code == 200, listing.text
    assert listing.json() == [], listing.json()
