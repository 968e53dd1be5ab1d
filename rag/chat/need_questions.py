# ruff: noqa: RUF001, RUF003 (phrases written in their own scripts and punctuation)
"""A request for a person or a sales lead that asks whether one is needed rather than for one
("¿necesito pedir una demo?", "kya mujhe demo chahiye?"; in Russian, Arabic, Chinese and
Japanese too): the checks ``rag.chat.human_languages`` (and through it
``rag.chat.lead_languages``) run on a request they found. Split from ``human_languages`` when it
passed 500 lines. The text is reduced by ``courtesy.words``."""

from __future__ import annotations

import re
import unicodedata

from rag.chat.courtesy import words

QUESTION_MARKS = frozenset("?؟\uff1f")
SENTENCE_ENDS = QUESTION_MARKS | frozenset(".!…\u0964\u0965\u3002\uff01\uff0e")
"""What ends a sentence: besides ".", "!" and a question mark (Arabic's "؟", the fullwidth "？"),
Hindi's danda "।" and double danda "॥", the ideographic full stop "。" and the fullwidth "！" and
"．" (typed with a Chinese or Japanese keyboard, whatever the language)."""
PAUSE_MARKS = SENTENCE_ENDS | frozenset(",;:¿¡،؛\uff0c\uff1b\uff1a\u3001")
"""What pauses a message (``human_languages.pauses``): a sentence's end, a comma, a colon, a
semicolon, in their Arabic and fullwidth forms too ("،", "؛", "，", "；", "：", "、")."""

# Needing one, in a question ("¿Necesito hablar con un agente para cancelar?", "¿necesito pedir
# una demo?", "Мне нужно поговорить с человеком, чтобы отменить заказ?", "нужен человек, чтобы
# отменить?", "kya mujhe demo chahiye?"): asked whether one is needed, not asked for, as English's
# "do I need to talk to a person?". The need comes right before the request or opens it; the
# same words as a statement ("Necesito hablar con un agente", "Мне нужен оператор", "mujhe demo
# chahiye") still ask, and so does a question whether one may ("¿Puedo pedir una demo?",
# "Можно поговорить с оператором?", "kya aap demo dikha sakte ho?"). A question's particle in
# it ("нужно ли", "هل أحتاج") makes it one, whatever the marks.
_NEED_BY_LANGUAGE = {
    "es": r"necesito|necesitamos|necesita|necesitan|hace falta|es necesario|es obligatorio"
    r"|tengo que|tenemos que|hay que|debo|debemos",
    "pt": r"preciso(?: de)?|precisamos(?: de)?|precisa(?: de)?|é preciso|e preciso|é necessário"
    r"|e necessario|é obrigatório|e obrigatorio|tenho que|tenho de|temos que|devo",
    "it": r"ho bisogno di|abbiamo bisogno di|mi serve|serve|bisogna|occorre|devo|dobbiamo"
    r"|è necessario|e necessario|è obbligatorio|e obbligatorio",
    "fr": r"(?:jai|ai je|avons nous|nous avons|on a) besoin (?:de|dun|dune)|faut il|il faut"
    r"|dois je|je dois|est il nécessaire de|est il necessaire de",
    "ru": r"(?:мне |нам )?(?:нужно|надо|нужен|нужна|нужны|обязательно|необходимо|должен|должна"
    r"|должны|придётся|придется|требуется)(?: ли)?(?: мне| нам)?",
    "ar": r"(?:هل )?(?:يجب|يلزم|لازم|أحتاج|احتاج|نحتاج|من الضروري)(?: إلى| الى| أن| ان)?",
}
_NEEDED_BEFORE = {
    language: re.compile(rf"(?:^|(?<=\s))(?:{need})$")
    for language, need in _NEED_BY_LANGUAGE.items()
}
_NEEDED_FIRST = {
    language: re.compile(rf"(?:{need})(?=\s)") for language, need in _NEED_BY_LANGUAGE.items()
}
_ASKING_PARTICLE = re.compile(r"(?:^|\s)(?:ли|هل)(?:\s|$)")
# Hindi says the need after what is needed ("kya mujhe demo chahiye?", "क्या डेमो ज़रूरी है?"),
# and asks with "kya" first or last ("demo chahiye kya"): a question mark alone is no question
# there ("demo chahiye?" asks for one).
_NEED_AFTER = {
    "hi": frozenset(
        words("चाहिए ज़रूरी जरूरी पड़ेगा पड़ेगी chahiye chaiye chahie zaroori zaruri jaruri").split()
    )
    | frozenset(words("padega padegi").split())
}
# Asked whether one is needed ("取消订单需要转人工吗？", "需要先预约演示吗？",
# "解約するには担当者と話す必要がありますか？"): in Chinese the need comes before, in Japanese
# after, and the sentence asks ("吗", "か" ending the run, or a question mark). Cancelling one
# ("取消转人工") is no request either.
_UNSPACED_NEED_BEFORE = re.compile(
    r"(?:需要|必须|必需|一定要|要不要|需不需要|是否需要|用不用|得)\S{0,3}$"
)
_UNSPACED_NEED_AFTER = re.compile(r"\S{0,6}?(?:必要|しなければ|しないと|なければなりません)")
_UNSPACED_ASKING = re.compile(r"(?:吗|嗎|么|麼|か|かな|でしょうか)$")


def needed_if_asked(
    reduced: str,
    request: re.Match[str],
    language: str,
    marks: dict[int, str],
    parts: list[str],
    then: tuple[str | None, str | None],
    said: int,
) -> bool:
    """A need right before a ``request`` (``parts``: the words before it) or opening it, or in
    Hindi in it or right after it (``then``), in a clause that asks (``said``: the words before
    the request): asked whether one is needed (``_NEED_BY_LANGUAGE``)."""
    if language in _NEED_AFTER:
        heard = set(request.group(0).split(" ")) | {w for w in then if w}
        end = said + len(request.group(0).split(" "))
        return bool(heard & _NEED_AFTER[language]) and _asks_in(reduced, said, end, marks)
    before, first = _NEEDED_BEFORE.get(language), _NEEDED_FIRST.get(language)
    if before is None or first is None:
        return False
    need = before.search(" ".join(parts[-4:])) or first.match(request.group(0))
    if need is None:
        return False
    if _ASKING_PARTICLE.search(need.group(0)):
        return True
    return _question_clause(said, said + len(request.group(0).split(" ")), marks)


_ASKING_HI = frozenset(words("क्या kya kyaa").split())


def _asks_in(reduced: str, start: int, end: int, marks: dict[int, str]) -> bool:
    """Whether the clause holding a request (its words ``start`` to ``end``; ``marks``, the
    pauses) asks as Hindi does without a mark: "kya" first or last in it. Not the message's
    first or last word: "kya refund milega? mujhe demo chahiye" asks for a demo."""
    opened, closed = _clause_pauses(start, end, marks)
    said = reduced.split(" ")
    clause = said[opened or 0 : len(said) if closed is None else closed]
    return bool(clause) and bool(_ASKING_HI & {clause[0], clause[-1]})


def asked_in_its_sentence(reduced: str, start: int, end: int, marks: dict[int, str]) -> bool:
    """Whether the request in words ``start`` to ``end`` of ``reduced`` (``marks``: the pauses)
    is asked: "kya" first or last in its clause, or a question mark ending its sentence (the
    first pause after it that ends one). Not a question before or after it: "kya refund
    milega? mujhe kisi insaan se baat karni padegi" asks for a person."""
    if _asks_in(reduced, start, end, marks):
        return True
    ends = sorted(count for count in marks if count >= end)
    stop = next((marks[count] for count in ends if SENTENCE_ENDS & set(marks[count])), "")
    return bool(QUESTION_MARKS & set(stop))


def _question_clause(start: int, end: int, marks: dict[int, str]) -> bool:
    """Whether the clause holding a request (its words ``start`` to ``end``) asks: "¿" opens it,
    or a question mark ends it."""
    opened, closed = _clause_pauses(start, end, marks)
    if opened is not None and "¿" in marks[opened]:
        return True
    return closed is not None and any(mark in QUESTION_MARKS for mark in marks[closed])


def _clause_pauses(start: int, end: int, marks: dict[int, str]) -> tuple[int | None, int | None]:
    """The pauses around the clause of words ``start`` to ``end``: the last at or before it and
    the first at or after it (None at the message's edges)."""
    opened = max((count for count in marks if count <= start), default=None)
    closed = min((count for count in marks if count >= end), default=None)
    return opened, closed


def unspaced_needed(reduced: str, found: re.Match[str], text: str) -> bool:
    """Whether a request ``found`` in a run of Chinese or Japanese asks whether one is
    needed."""
    before = reduced[max(found.start() - 6, 0) : found.start()].rsplit(" ", 1)[-1]
    run = reduced[found.end() :].split(" ", 1)[0]
    if not (_UNSPACED_NEED_BEFORE.search(before) or _UNSPACED_NEED_AFTER.match(run)):
        return False
    return bool(_UNSPACED_ASKING.search(run)) or _ends_in_a_question(found.group(0) + run, text)


def _ends_in_a_question(run: str, text: str) -> bool:
    """Whether the sentence of ``text`` that ends with ``run`` (as ``courtesy.words`` leaves it)
    ends with a question mark; any question mark in ``text`` when the run is not found there.
    Not a question after it: "我需要转人工。你们几点下班?" asks for a person."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    at = folded.find(run)
    if at < 0:
        return any(mark in text for mark in QUESTION_MARKS)
    after = folded[at + len(run) :].lstrip()
    return after[:1] in QUESTION_MARKS
