# ruff: noqa: RUF001 (messages in their own letters and punctuation)
"""Visitors who do not write English, as they write: a demo, a quote or a call asked for is a
lead; a person asked for is a hand-off; a question about whether one is needed ("¿necesito
pedir una demo?", "нужен человек, чтобы отменить?", "kya demo lena zaroori hai?") is a question
to answer, neither. Before, Hindi (in Devanagari and in Latin letters), Russian, Arabic, Chinese
and Japanese demos, quotes and calls were no lead at all ("mujhe demo chahiye", "please call
me"), a Russian question whether a person is needed was handed off, and a Spanish or Portuguese
question whether a demo is needed was taken for a lead.

Each row: the language, the message, the intent it must get."""

from __future__ import annotations

import httpx
import pytest

from rag.chat.intents import detect_intent
from tests.conftest import Owner
from tests.rag.test_person_declined_languages import assert_not_handed_off

LEAD = "lead"
HUMAN = "human"
QUESTION = "question"
CONTACT = "contact"
"""A lead by the phone number it leaves: saved, the visitor thanked (``shortcuts.contact``)."""

PHRASINGS: list[tuple[str, str, str]] = [
    # Hindi, Devanagari
    ("hi", "मुझे डेमो चाहिए", LEAD),
    ("hi", "डेमो बुक करना है", LEAD),
    ("hi", "क्या आप मुझे डेमो दिखा सकते हैं?", LEAD),
    ("hi", "मुझे 50 यूज़र्स के लिए कोटेशन चाहिए", LEAD),
    ("hi", "कृपया मुझे कॉल करें", LEAD),
    ("hi", "मेरा नंबर 9876543210 है, मुझे कॉल कर दीजिए", CONTACT),
    ("hi", "क्या मुझे डेमो लेना ज़रूरी है?", QUESTION),
    ("hi", "क्या डेमो के लिए पैसे लगते हैं?", QUESTION),
    ("hi", "मुझे किसी इंसान से बात करनी है", HUMAN),
    ("hi", "क्या मुझे कैंसल करने के लिए किसी इंसान से बात करनी होगी?", QUESTION),
    # Hindi in Latin letters (Hinglish)
    ("hinglish", "mujhe demo chahiye", LEAD),
    ("hinglish", "demo chahiye", LEAD),
    ("hinglish", "hume demo book karna hai", LEAD),
    ("hinglish", "kya aap demo dikha sakte ho?", LEAD),
    ("hinglish", "50 users ke liye quotation chahiye", LEAD),
    ("hinglish", "please call me", LEAD),
    ("hinglish", "mujhe call karo", LEAD),
    ("hinglish", "mera number 9876543210 hai, call kar dena", CONTACT),
    ("hinglish", "kya demo lena zaroori hai?", QUESTION),
    ("hinglish", "kya mujhe pehle demo book karna padega?", QUESTION),
    ("hinglish", "demo free hai kya", QUESTION),
    ("hinglish", "mujhe insaan se baat karni hai", HUMAN),
    ("hinglish", "kya mujhe kisi insaan se baat karni padegi?", QUESTION),
    # Russian
    ("ru", "Хочу заказать демо", LEAD),
    ("ru", "Можно посмотреть демонстрацию?", LEAD),
    ("ru", "Пришлите, пожалуйста, коммерческое предложение", LEAD),
    ("ru", "Перезвоните мне, пожалуйста", LEAD),
    ("ru", "Позвоните мне по номеру +7 916 123-45-67", CONTACT),
    ("ru", "Нужно ли заказывать демо?", QUESTION),
    ("ru", "Демо бесплатное?", QUESTION),
    ("ru", "нужен человек, чтобы отменить?", QUESTION),
    ("ru", "Нужно ли говорить с оператором, чтобы отменить подписку?", QUESTION),
    ("ru", "Мне нужно поговорить с человеком, чтобы отменить заказ?", QUESTION),
    ("ru", "Обязательно говорить с оператором?", QUESTION),
    ("ru", "Хочу поговорить с оператором", HUMAN),
    ("ru", "Нужен живой человек", HUMAN),
    ("ru", "Мне нужен оператор", HUMAN),
    # Spanish
    ("es", "Quiero una demo", LEAD),
    ("es", "¿Podemos agendar una demo para el martes?", LEAD),
    ("es", "Necesito una cotización para 20 usuarios", LEAD),
    ("es", "Llámenme por favor", LEAD),
    # The call asked, the number given after it: a number left, as the Chinese below is
    # (``call_phrases.CALL_ON``; before, a sales lead: the blurb, the form, no lead saved)
    ("es", "¿Me pueden llamar? Mi número es 55 1234 5678", CONTACT),
    ("es", "¿necesito pedir una demo?", QUESTION),
    ("es", "¿Necesito una cotización para el plan empresa?", QUESTION),
    ("es", "Necesito agendar una demo antes de comprar?", QUESTION),
    ("es", "¿Cuánto dura la demo?", QUESTION),
    ("es", "¿Necesito hablar con un agente para cancelar?", QUESTION),
    ("es", "Necesito hablar con un agente", HUMAN),
    # Portuguese
    ("pt", "Quero uma demonstração", LEAD),
    ("pt", "Preciso de um orçamento para 30 usuários", LEAD),
    ("pt", "Podem me ligar? Meu número é (11) 91234-5678", CONTACT),
    ("pt", "Me liga, por favor", LEAD),
    ("pt", "preciso pedir uma demo?", QUESTION),
    ("pt", "Preciso agendar uma demonstração antes de assinar?", QUESTION),
    ("pt", "Preciso de um orçamento para o plano anual?", QUESTION),
    ("pt", "A demo é gratuita?", QUESTION),
    ("pt", "Preciso falar com um atendente para cancelar?", QUESTION),
    ("pt", "Preciso falar com um atendente", HUMAN),
    # German
    ("de", "Ich möchte eine Demo buchen", LEAD),
    ("de", "Bitte schicken Sie mir ein Angebot", LEAD),
    ("de", "Rufen Sie mich bitte zurück", LEAD),
    ("de", "Bitte um Rückruf unter 030 1234567", CONTACT),
    ("de", "Muss ich eine Demo buchen?", QUESTION),
    ("de", "Brauche ich ein Angebot für den Business-Tarif?", QUESTION),
    ("de", "Ist die Demo kostenlos?", QUESTION),
    ("de", "Muss ich mit einem Mitarbeiter sprechen, um zu kündigen?", QUESTION),
    ("de", "Ich möchte mit einem Mitarbeiter sprechen", HUMAN),
    # French
    ("fr", "Je voudrais une démo", LEAD),
    ("fr", "J'ai besoin d'un devis pour 10 utilisateurs", LEAD),
    ("fr", "Rappelez-moi s'il vous plaît", LEAD),
    ("fr", "Pouvez-vous me rappeler au 06 12 34 56 78 ?", CONTACT),
    ("fr", "Faut-il réserver une démo ?", QUESTION),
    ("fr", "Est-ce que j'ai besoin d'un devis pour le plan entreprise ?", QUESTION),
    ("fr", "La démo est-elle gratuite ?", QUESTION),
    ("fr", "Faut-il parler à un conseiller pour annuler ?", QUESTION),
    ("fr", "Je veux parler à un conseiller", HUMAN),
    # Arabic
    ("ar", "أريد عرض توضيحي", LEAD),
    ("ar", "أريد حجز عرض تجريبي", LEAD),
    ("ar", "أحتاج عرض سعر لخمسين مستخدم", LEAD),
    ("ar", "اتصلوا بي من فضلك", LEAD),
    ("ar", "هل يجب حجز عرض توضيحي قبل الشراء؟", QUESTION),
    ("ar", "هل أحتاج إلى عرض سعر؟", QUESTION),
    ("ar", "هل العرض التوضيحي مجاني؟", QUESTION),
    ("ar", "أريد التحدث مع موظف", HUMAN),
    ("ar", "هل يجب أن أتحدث مع موظف لإلغاء الاشتراك؟", QUESTION),
    # Chinese
    ("zh", "我想预约演示", LEAD),
    ("zh", "可以给我演示一下吗？", LEAD),
    ("zh", "请给我报价", LEAD),
    ("zh", "麻烦给我打个电话，我的电话是13812345678", CONTACT),
    ("zh", "需要先预约演示吗？", QUESTION),
    ("zh", "演示是免费的吗？", QUESTION),
    ("zh", "我要转人工", HUMAN),
    ("zh", "取消订单需要转人工吗？", QUESTION),
    # Japanese
    ("ja", "デモを予約したいです", LEAD),
    ("ja", "見積もりをお願いします", LEAD),
    ("ja", "折り返し電話してください", LEAD),
    ("ja", "デモの予約は必要ですか？", QUESTION),
    ("ja", "デモは無料ですか？", QUESTION),
    ("ja", "担当者と話したいです", HUMAN),
    ("ja", "解約するには担当者と話す必要がありますか？", QUESTION),
    # English beside them: a call asked for is a lead, a number left with it (the number
    # after the call asked, as "call me back on ..." is: before, a lead, the number lost); a
    # name given is none
    ("en", "please call me", LEAD),
    ("en", "can someone call me back? 555 123 4567", CONTACT),
    ("en", "call me Bob", QUESTION),
    ("en", "do I need to book a demo?", QUESTION),
    ("en", "please don't call me, just email", QUESTION),
    # A call made, a name or a cancelled booking told of: no lead
    ("en", "why did someone call me at 3am?", QUESTION),
    ("en", "when will you call me back?", QUESTION),
    ("en", "please call me Bob", QUESTION),
    ("de", "Warum rufen Sie mich ständig an?", QUESTION),
    ("es", "Me llamo Ana y tengo una pregunta sobre la demo", QUESTION),
    ("pt", "Por que vocês ficam me ligando?", QUESTION),
    ("ru", "Почему мне никто не перезвонил?", QUESTION),
    ("ar", "اتصلوا بي أمس ولم يتركوا رسالة", QUESTION),
    ("zh", "昨天有人给我打电话了，是什么事？", QUESTION),
    ("ja", "デモの予約をキャンセルしたいです", QUESTION),
    ("hinglish", "mujhe demo nahi chahiye, bas features batao", QUESTION),
    ("hinglish", "kya mujhe demo chahiye?", QUESTION),
    # A number left is a lead, saved with the number (``contact``); an order's number is none
    ("hinglish", "mera number 9876543210 hai", CONTACT),
    ("hi", "मेरा मोबाइल नंबर 98765 43210 है", CONTACT),
    ("en", "my number is 555 123 4567", CONTACT),
    ("es", "mi número es 55 1234 5678", CONTACT),
    ("pt", "meu whatsapp é (11) 91234-5678", CONTACT),
    ("de", "Meine Nummer ist 0171 2345678", CONTACT),
    ("fr", "mon numéro c'est le 06 12 34 56 78", CONTACT),
    ("ru", "мой номер +7 916 123-45-67", CONTACT),
    ("ar", "رقمي 0501234567", CONTACT),
    ("zh", "我的手机号是13812345678", CONTACT),
    ("ja", "電話番号は090-1234-5678です", CONTACT),
    ("en", "my order number is 12345678, where is it?", QUESTION),
    ("hinglish", "mera order number 12345678 hai, kab aayega?", QUESTION),
    ("en", "my number is 5", QUESTION),
    ("es", "Necesitamos una demo para el equipo", LEAD),
    ("es", "¿Necesitamos una demo para el equipo?", QUESTION),
    ("pt", "Precisamos de um orçamento para 12 lojas", LEAD),
    ("pt", "Precisamos de um orçamento?", QUESTION),
    ("es", "Necesito una demo, ¿cuándo pueden?", LEAD),
    ("es", "¿Puedo pedir una demo?", LEAD),
    # A question of its own before or after a request leaves it one, as in English ("Do you
    # offer refunds? I want a demo"): "kya" or a question mark asks in its own sentence only
    ("hinglish", "kya refund milega? mujhe demo chahiye", LEAD),
    ("hinglish", "mujhe demo chahiye. refund milega kya", LEAD),
    ("hi", "क्या रिफंड मिलेगा? मुझे डेमो चाहिए", LEAD),
    ("zh", "我需要转人工。你们几点下班？", HUMAN),
    ("zh", "我需要预约演示。多少钱？", LEAD),
    ("zh", "需要先预约演示吗？", QUESTION),
    ("zh", "取消订单需要转人工吗？", QUESTION),
    # "padegi" / "होगी" (must) after a request asks only with "kya" or a question mark of its
    # own clause or sentence: a question before or after it leaves it a request for a person
    ("hinglish", "kya refund milega? mujhe kisi insaan se baat karni padegi", HUMAN),
    ("hinglish", "mujhe kisi insaan se baat karni padegi. refund kab milega?", HUMAN),
    ("hi", "क्या रिफंड मिलेगा? मुझे किसी इंसान से बात करनी होगी", HUMAN),
    ("hi", "मुझे किसी इंसान से बात करनी होगी. रिफंड कब मिलेगा?", HUMAN),
    ("hinglish", "mujhe kisi insaan se baat karni padegi, kya?", QUESTION),
    ("hinglish", "refund ke liye, kya mujhe kisi insaan se baat karni padegi?", QUESTION),
]


@pytest.mark.parametrize(
    ("language", "text", "intent"), PHRASINGS, ids=[f"{r[0]}-{i}" for i, r in enumerate(PHRASINGS)]
)
def test_a_visitors_phrasing_gets_its_intent(language: str, text: str, intent: str) -> None:
    assert detect_intent(text).intent == intent, (language, text)


async def test_asking_in_russian_whether_a_person_is_needed_keeps_the_conversation_open(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    await assert_not_handed_off(
        client, owner, "Мне нужно поговорить с человеком, чтобы отменить заказ?"
    )
