"""A problem stated or a question asked, in a message short enough to be a number left beside a
call ("the app crashes, call me on ...", "refund not arrived, call me on ...", "where is my
parcel, call me on ..."): ``intents.detect_intent`` answers it as the question it is, the
number on a lead (``shortcuts.callback``), where a request with a lead's own details ("I'd
like a table for 2 at 8, call me on ...", "This is Ravi Kumar, call me on ...") stays a number
left. In every language of the call phrases (``call_phrases.CALL_ON``) and Chinese and
Japanese; the text is reduced by ``courtesy.words`` (casefolded, apostrophes dropped:
"doesn't" is "doesnt"). A question is asked after a greeting or the visitor's name as well
("hi, where is my parcel, call me on ...", "this is Ravi, where is my parcel, call me on
...", "مرحبا، أين طردي، ..."): its word opens the message once its greetings are set aside, or
a clause before the call's."""

from __future__ import annotations

import re

from rag.chat.call_phrases import CLAUSE_END, WHEN_FREE, number_at, when_to_call
from rag.chat.contact_details import callback_number
from rag.chat.courtesy import ASKING_GREETING_ALONE, after_greetings, phrases
from rag.chat.courtesy import words as _words

_PROBLEMS = phrases(
    # English
    # (a time the visitor is not free is no problem: "I can't talk now", "not before 10")
    r"(?:not|never) (?:working|work|works|arrived|received|loading|load|opening|open|showing"
    r"|delivered|refunded|responding|sent|going through|came|come|got|get)",
    r"(?:cant|cannot|couldnt|unable to) (?!talk|speak|answer|chat|pick)\w+",
    # (nor an email the visitor has none of, nor when they are free: "I haven't got an email",
    # "I won't be free before 5", "in the late afternoon")
    r"doesnt|didnt|hasnt|isnt|wasnt|arent|never arrived|no longer",
    r"havent(?! (?:got )?(?:an? |any )?(?:email|e mail|mail|address))",
    r"wont(?! be (?:free|available|around|home|back|in|reachable|at))",
    r"crash(?:es|ed|ing)?|broken|broke|breaks|errors?|bugs?|buggy|fail(?:s|ed|ing)?",
    r"failure|stuck|frozen|freez(?:es|ing)|hangs|delayed|delay|missing|lost|wrong",
    r"late(?! (?:morning|afternoon|evening|night))",
    r"incorrect|damaged|defective|faulty|outage|problems?|issues?|trouble|glitch|overcharged",
    r"charged twice|double charged|locked out|declined|rejected|slow",
    # German
    r"(?:funktioniert|geht|klappt|lädt|ladt|öffnet|offnet) nicht|nicht (?:angekommen|erhalten"
    r"|bekommen|geliefert|mehr)|kann (?:mich )?nicht (?!sprechen|telefonieren|reden)\w+",
    r"kaputt|defekt|fehler|probleme?|abgestürzt|stürzt|hängt",
    r"verspätet|verspätung|fehlt|fehlen|falsch|doppelt|gesperrt",
    # Spanish
    # (in every language, a visitor who cannot talk now is not free, nothing wrong: "no puedo
    # hablar ahora", "не могу говорить", "abhi baat nahi kar sakta", "现在不能接电话")
    r"no (?:funciona|anda|llega|llegó|puedo(?! (?:hablar|atender|contestar|responder))|me deja"
    r"|carga|abre|he recibido|recibí)",
    r"errore?s?|falla|fallo|roto|rota|problemas?|(?:llega|llegó|va|viene) tarde|retrasad[oa]",
    r"retraso|incorrect[oa]|equivocad[oa]|cobrado dos veces|bloquead[oa]|perdid[oa]|dañad[oa]",
    r"nunca",
    # French
    r"(?:ne )?(?:marche|fonctionne) pas|pas (?:reçu|recu|arrivé|arrive|livré|livre)",
    r"(?:je )?ne peux pas(?! (?:parler|répondre|repondre|décrocher|decrocher))",
    r"bug|bogue|plante|planté|erreur|problème|en retard|retard|cassée?",
    r"bloquée?|manque|manquant|perdue?|fausse?|débité deux fois",
    # Portuguese
    r"(?:não|nao) (?:funciona|chegou|consigo(?! (?:falar|atender|conversar))|abre|recebi)",
    r"erros?|atrasad[oa]|atraso",
    r"quebrad[oa]|travando|trava|travou|errad[oa]|cobrad[oa] duas vezes",
    # Italian
    r"non (?:funziona|arriva|è arrivato|e arrivato|riesco(?! a (?:parlare|rispondere))|si apre)",
    r"errori|problemi",
    r"in ritardo|ritardo|rott[oa]|si blocca|bloccat[oa]|sbagliat[oa]|addebitato due volte",
    r"pers[oa]|si chiude",
    # Hindi, in Latin letters and in Devanagari: "not" with what does not happen ("order nahi
    # aaya", "login nahi ho raha"), not alone ("email nahi hai", "abhi nahi": not now)
    r"(?<!baat )(?:nahi|nahin) (?:aa|ay|chal|ho|hu|khul|mil|pahunch|kar rah|kart|dikh|lag|de"
    r"|di|bhej)\S*",
    r"(?<!बात )(?:नहीं|नही) (?:आ|चल|हो|हु|खुल|मिल|पहुं|पहुँ|कर रह|करत|दिख|लग|दे|दि|भेज)\S*",
    r"dikkat|samasya|kharab|kharaab|galat|band ho gaya|atak gaya",
    r"प्रॉब्लम|दिक्कत|समस्या|खराब|गलत|लेट|देर|एरर|अटक|बंद हो",
    # Russian
    r"не (?:работает|приходит|пришел|пришёл|пришла|пришло|могу(?! (?:говорить|разговаривать"
    r"|ответить|отвечать))|открывается|грузится)",
    r"ошибк[аиу]|проблем[аыу]?|сломал(?:ся|ось)?|сломано|опаздывает|задерживается|задержка",
    r"вылетает|зависает|завис|неправильно|неверно|дважды|списали|заблокирован",
    # Arabic
    r"لا (?:يعمل|يشتغل|(?:أستطيع|استطيع)(?! (?:التحدث|الكلام|الرد|التكلم)))",
    r"لم (?:يصل|تصل|أستلم|استلم)|مشكلة|مشكله|خطأ|خطا|عطل",
    r"معطل|متأخر|متاخر|متأخرة|تأخر|تاخر|مكسور|مرتين|مقفل|محظور",
)
_PROBLEMS_UNSPACED = (
    # Chinese
    "无法", "無法", "不能", "不了", "错误", "錯誤", "问题", "問題", "故障", "坏了", "壞了",
    "崩溃", "崩潰", "闪退", "閃退", "没到", "沒到", "没收到", "沒收到", "还没", "還沒", "延迟",
    "延遲", "两次", "兩次", "打不开", "打不開", "卡住", "出错", "出錯",
    # Japanese
    "できません", "できない", "エラー", "問題", "不具合", "壊れ", "届かない", "届いていない",
    "届きません", "遅れ", "遅延", "動かない", "動きません", "クラッシュ", "開かない", "開きません",
    "二重", "間違", "故障",
)  # fmt: skip
# Not being free to talk now, in Chinese and Japanese ("现在不能接电话", "接不了电话",
# "今は話すことができません"): left out before the problem parts are looked for.
_NOT_FREE_UNSPACED = re.compile(
    r"(?:不能|不方便|没法|沒法)(?:说话|說話|讲话|講話|接电话|接電話|接听|接聽|通话|通話|聊天)"
    r"|接不了|(?:話す|お話しする|電話に出る)ことが(?:できません|できない)"
)
# A question's first word: "where is my parcel, call me on ...".
_ASKING_FIRST = frozenset(
    {"how", "what", "whats", "why", "when", "where", "which", "who", "whose", "is", "are"}
    | {"was", "were", "does", "do", "did", "has", "have", "should"}
    | {"wie", "warum", "wieso", "weshalb", "wann", "wo", "welche", "welcher", "welches"}
    | {"cómo", "como", "cuándo", "dónde", "donde", "cuál", "qué"}
    | {"comment", "pourquoi", "quand", "où", "quel", "quelle"}
    | {"come", "perché", "perche", "quando", "dove", "quale", "onde", "qual"}
    # Italian elided before "è" ("dov'è", "com'è", "cos'è": the apostrophe dropped)
    | {"dovè", "comè", "cosè", "qualè", "quandè"}
    | {"kaise", "kyun", "kyu", "kab", "kahan", "क्यों", "कैसे", "कब", "कहाँ", "कहां"}
    | {"как", "почему", "когда", "где", "какой", "зачем"}
    | {"كيف", "لماذا", "متى", "أين", "اين", "ماذا", "هل"}
)
_ASKING_FIRST_UNSPACED = (
    "怎么", "怎麼", "为什么", "為什麼", "如何", "どうして", "なぜ", "どうやって",
)  # fmt: skip


def states_a_problem(text: str, words: str) -> bool:
    """Whether a message (``text``, and its ``words``) says something is wrong ("crashes", "not
    arrived", "no funciona", "не работает", "无法登录") or asks: a question's word ("where",
    "warum", "pourquoi", "почему") opens a clause up to the call's number, once its greetings
    are set aside ("hi where is my parcel, call me on ...", "hola, dónde está mi paquete,
    llámame al ...", "this is Ravi, where is my parcel, call me on ..."); the whole message
    when it asks no call. A clause of greetings and how are you asks nothing ("bonjour,
    comment ça va, appelez-moi au ...")."""
    if not words:
        return False
    return (
        _PROBLEMS.search(words) is not None
        or (
            any(ord(ch) >= 0x3040 for ch in words)
            and any(part in _NOT_FREE_UNSPACED.sub(" ", words) for part in _PROBLEMS_UNSPACED)
        )
        or _asks_to_the_call(text)
    )


def _asks_to_the_call(text: str) -> bool:
    """Whether a question's word opens a clause of ``text`` up to the call's number."""
    clauses = _clauses_to_the_call(text)
    return any(
        _opens_a_question(_words(clause), last=i == len(clauses) - 1)
        for i, clause in enumerate(clauses)
    )


def _opens_a_question(words: str, *, last: bool) -> bool:
    """Whether a question's word opens ``words`` (a message or a clause, reduced), or opens
    what follows its greetings and filler ("hi", "good morning", "hey there", "你好"); words
    that are nothing but those and how are you ("hi", "how are you", "bonjour comment ça va",
    ``courtesy.ASKING_GREETING_ALONE``) ask nothing, nor does a time to call ("when you get a
    chance", ``call_phrases.when_to_call``), all its clause but the call's own words, or
    before the call in the ``last`` clause (the call's, up to its number: "when you get a
    chance call me on"); "when you can refund me, call me on ..." asks when."""
    at = after_greetings(words)
    if at >= len(words) or (WHEN_FREE.match(words, at) if last else when_to_call(words, at)):
        return False
    if ASKING_GREETING_ALONE.fullmatch(words, at):
        return False
    return any(
        first in _ASKING_FIRST or first.startswith(_ASKING_FIRST_UNSPACED)
        for first in {words.split(" ", 1)[0], words[at:].split(" ", 1)[0]}
    )


def _clauses_to_the_call(text: str) -> list[str]:
    """The clauses of ``text`` up to the number it asks the call on
    (``contact_details.callback_number``), the call's own up to the number included; the whole
    text when it asks no call."""
    number = callback_number(text)
    at = -1 if number is None else number_at(text, number)
    return CLAUSE_END.split(text[:at]) if at >= 0 else [text]


__all__ = ["states_a_problem"]
