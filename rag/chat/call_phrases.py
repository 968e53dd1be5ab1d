# ruff: noqa: RUF002, RUF003 (examples written in their own scripts and punctuation)
"""A call asked on the number that comes with it, in every language of the lead tables
(``rag.chat.lead_phrases``, ``rag.chat.lead_languages``): "call me on +91 98765 43210",
"rufen Sie mich unter 0171 2345678 an", "llámame al 612 345 678", "appelez-moi au 06 12 34 56
78", "me ligue no 11 91234 5678", "chiamatemi al 333 123 4567", "mujhe 98765 43210 par call
karo", "перезвоните мне по номеру +7 916 123-45-67", "اتصلوا بي على الرقم 0501234567",
"请打电话给我 13812345678", "090-1234-5678に電話してください". The number is the visitor's to be
called back on, whatever else the message says: "my order is late, please call me on ..." names
an order, not the order's number (``contact_details.callback_number``). A call asked as a
question is asked all the same ("Können Sie mich unter 0171 2345678 zurückrufen?", "Potete
richiamarmi al 333 123 4567?", "Можете перезвонить мне по номеру ...?", "可以打电话给我吗？...",
"...に電話していただけますか？"), and so is one with the number given after it, in a clause
of its own ("Can you call me? My number is ...", "¿Me puedes llamar? Mi número es ...",
"Können Sie mich zurückrufen? Meine Nummer ist ..."). A call told of or tried ("why did you
call me on ...", "someone called me at ...", "avete provato a chiamarmi al ...") asks for none.

The text is reduced by ``courtesy.words`` (casefolded, punctuation gone); Chinese and Japanese,
written without spaces, are matched anywhere in it (``_UNSPACED``)."""

from __future__ import annotations

import re
import unicodedata
from typing import Final

from rag.chat.courtesy import (
    FILLER,
    GOODBYE,
    THANKS,
    Lexicon,
    after_greetings,
    phrases,
    without_courtesy,
)
from rag.chat.courtesy import words as _words
from rag.chat.lead_phrases import OWN_NUMBER, PHONE_DIGITS
from rag.chat.other_numbers import named_span

_N = PHONE_DIGITS
_HI_ME = r"(?:मुझे|मुझको|हमें|mujhe|mujhko|muje|hume|humein|hamein)"
_HI_CALL = r"(?:कॉल|फ़ोन|फोन|call|phone|fone)"
_HI_DO = (
    r"(?:करें|करो|कीजिए|कीजिये|कर दीजिए|कर दें|कर दो|कर देना|करना|करिए|karo|kro|kariye|kijiye"
    r"|karein|karen|kar do|kar dena|kar dijiye|karna"
    # Asked: "क्या आप मुझे ... पर कॉल कर सकते हैं?", "kya aap mujhe ... par call kar sakte hain?"
    r"|कर सकते|कर सकती|कर सकेंगे|कर सकेंगी|कर पाएंगे|kar sakte|kar sakti|kar sakoge|kar sakenge)"
)


# When to call, in English: whenever the team is free ("when you get a chance", "when
# convenient", "when it suits you", "at your convenience"); between the call and its number
# too ("call me when convenient on ...": ``CALL_ON``).
_WHEN_FREE_EN = (
    r"(?:when(?:ever)? (?:(?:you|u) (?:get|have|find) (?:a |the |some )?(?:chance|moment|minute"
    r"|min|sec|second|time)|(?:(?:you|u) (?:are|re|r)|youre) (?:free|available|back|able"
    r"|not busy)|(?:you|u) can|(?:(?:its|it is) )?(?:convenient|possible)(?: for (?:you|u))?"
    r"|(?:it )?suits (?:you|u))|at your (?:earliest )?convenience)"
)
WHEN_FREE = phrases(
    _WHEN_FREE_EN,
    r"quand (?:vous|tu) (?:pouvez|pourrez|peux|pourras|(?:avez|aurez|as|auras) (?:un moment"
    r"|le temps|une minute)|(?:êtes|etes|serez|es|seras) (?:disponibles?|libres?))",
    r"quand (?:ça|ca) vous (?:arrange|convient)",
    r"quando (?:puder|puderem|possível|possivel|potete|può|puo|puoi|(?:hai|avete) un momento)",
    r"quando (?:for|fosse) (?:possível|possivel|conveniente)|quando tiver(?:em)? (?:tempo"
    r"|um momento)",
    r"quando (?:hai|avete|ha) (?:tempo|un attimo|un minuto)|quando (?:ti|vi|le) (?:è|e|va|fa)"
    r" comodo|quando (?:sei|siete|è) (?:liber[oaie]|disponibil[ei])",
    r"когда (?:вам |тебе )?(?:будет )?(?:удобно|время)|когда (?:сможете|сможешь|будете свободны"
    r"|будешь свободен|будет минутка)",
    r"متى (?:ما )?(?:سمح|يسمح) (?:وقتك|وقتكم|لك الوقت|لكم الوقت)|متى (?:ما )?(?:كنت|كنتم)"
    r" (?:متاحا|متاحين|متاح|متفرغا|متفرغ)",
)
"""When to call, not a question of when: "when you get a chance, call me on ...", "when it
suits you", "quand vous aurez un moment", "quando puder, me ligue no ...", "quando hai tempo",
"когда будет удобно", "متى ما سمح وقتك": no question's word (``problems.states_a_problem``), no
words of the visitor's own beside the call (``call_requests.beside_the_call``)."""


def when_to_call(words: str, at: int = 0) -> str | None:
    """The time to call ``words`` (a clause, reduced) says from ``at`` on (``WHEN_FREE``: "when
    you get a chance", "quando hai tempo"), when nothing follows it in the clause but the
    words a call is asked with ("please": ``CALL_FRAMING``); None for none: "when you can
    refund me", "When it is possible to cancel", "quando puoi spedire" ask when."""
    found = WHEN_FREE.match(words, at)
    if found is None or any(
        w not in CALL_FRAMING and w not in FILLER for w in words[found.end() :].split()
    ):
        return None
    return found[0]


def _one_of(words: tuple[str, ...]) -> str:
    """``words`` as one alternation, in their order: ("on", "at") is "(?:on|at)"."""
    return "(?:" + "|".join(words) + ")"


def _maybe_then(words: tuple[str, ...]) -> str:
    """Maybe one of ``words`` next, after a space: ("ist", "lautet") is "(?: ist| lautet)?"."""
    return "(?:" + "|".join(f" {word}" for word in words) + ")?"


# The words that link a call to the number right after it, by language, written once for the
# call phrases (``CALL_ON``, ``_MINE``) and the word before a number (``_LINKS``): the word the
# number follows ("on", "unter", "al", "a este", "по"), the words after it ("my", "der"), the
# number's name ("number", "nummer", "número", "номеру") and, after "my number", its verb
# ("is", "ist", "es").
_EN_ON, _EN_THE, _EN_IS = ("on", "at"), ("my", "this", "the"), ("is",)
_EN_NUMBER = ("number", "no", "mobile", "cell", "phone")
_DE_ON, _DE_THE, _DE_IS = ("unter", "auf"), ("der", "meiner", "dieser"), ("ist", "lautet")
_DE_NUMBER = ("nummer", "telefonnummer", "handynummer", "rufnummer")
_ES_ON, _ES_IS = ("al", "a este", "en el"), ("es",)
_ES_NUMBER = ("número", "numero", "teléfono", "telefono", "celular", "móvil", "movil")
_ES_MY_NUMBER = (*_ES_NUMBER, "whatsapp")  # "mi whatsapp es ..."
_FR_ON, _FR_IS, _FR_THE = ("au", "sur le", "sur", "à ce", "a ce"), ("est", "cest"), ("le",)
_FR_NUMBER = ("numéro", "numero", "portable", "téléphone", "telephone")
_PT_ON, _PT_IS = ("no", "pelo", "para o", "neste", "nesse", "em"), ("é", "e")
_PT_NUMBER = ("número", "numero", "telefone", "celular", "whatsapp")
_IT_ON, _IT_IS = ("al", "allo", "sul", "a questo"), ("è", "e")
_IT_NUMBER = ("numero", "cellulare", "telefono")
_RU_ON, _RU_NUMBER = ("по", "на"), ("номеру", "номер", "телефону", "мобильный")
_AR_ON, _AR_NUMBER = ("على", "ع"), ("الرقم", "رقم", "رقمي")
_HI_ON = ("पर", "पे", "par", "pe")

# The number given after the call, in a clause of its own ("Can you call me? My number is ...",
# "¿Me puedes llamar? Mi número es ...", "Können Sie mich zurückrufen? Meine Nummer ist ..."),
# or alone ("Can you call me? +91 ...").
_EN_MINE = rf"(?:(?:here is|heres|this is|its) )?my {OWN_NUMBER}{_maybe_then(_EN_IS)}"
_DE_MINE = rf"(?:hier ist )?meine {_one_of(_DE_NUMBER)}{_maybe_then(_DE_IS)}"
_ES_MINE = rf"mi {_one_of(_ES_MY_NUMBER)}{_maybe_then(_ES_IS)}"
_FR_MINE = rf"mon {_one_of(_FR_NUMBER)}{_maybe_then(_FR_IS)}{_maybe_then(_FR_THE)}"
_PT_MINE = rf"(?:o )?meu {_one_of(_PT_NUMBER)}{_maybe_then(_PT_IS)}"
_IT_MINE = rf"(?:il )?mio {_one_of(_IT_NUMBER)}{_maybe_then(_IT_IS)}"
# German asked, the verb last: "Können Sie mich (bitte) ... zurückrufen?"
_DE_ASKED = (
    r"(?:können|koennen|könnten|koennten|kannst|könntest|koenntest|könnt|koennt|würden"
    r"|wuerden|würdest|wuerdest) (?:sie|du|ihr) (?:mich|uns)(?: (?:bitte|doch|mal|heute"
    r"|morgen|gleich|umgehend|kurz))*"
)
_DE_CALL_BACK = r"(?:zurückrufen|zuruckrufen|zurueckrufen|anrufen)"
_DE_ON_NUMBER = rf"{_one_of(_DE_ON)}(?: {_one_of(_DE_THE)})?(?: {_one_of(_DE_NUMBER)})?"


def _nfkc(*patterns: str) -> tuple[str, ...]:
    """Patterns as ``courtesy.words`` leaves the text ("फ़" is two characters there)."""
    return tuple(unicodedata.normalize("NFKC", pattern) for pattern in patterns)


CALL_ON = Lexicon(
    {
        "en": (
            # (a call told of or asked about: "why did you call me on ...", "they never ...")
            r"(?<!did )(?<!didnt )(?<!why )(?<!who )(?<!never )(?<!dont )(?<!do you )"
            r"(?<!did you )(?<!didnt you )(?<!did they )(?<!did someone )(?<!they )"
            r"(?:call|phone|ring|text|whatsapp|sms|reach|contact) me(?: back)?"
            rf"(?: (?:please|pls|plz|asap|today|tomorrow|anytime|urgently|{_WHEN_FREE_EN})){{0,2}}"
            rf"(?: (?:{_one_of(_EN_ON)}(?: my {OWN_NUMBER}|(?: {_one_of(_EN_THE)})?"
            rf"(?: {_one_of(_EN_NUMBER)})?)|{_EN_MINE}))? {_N}",
        ),
        "de": (
            r"(?:rufen sie mich|ruf mich|ruft mich|rufen sie uns)(?: (?:bitte|doch|mal|heute"
            rf"|morgen|gleich|umgehend|an|zurück|zuruck))* {_DE_ON_NUMBER} {_N}",
            r"(?:rufen sie mich|ruf mich|ruft mich|rufen sie uns)(?: (?:bitte|doch|mal|heute"
            rf"|morgen|gleich|umgehend))* (?:an|zurück|zuruck)(?: {_DE_MINE})? {_N}",
            # Asked, the verb last: "Können Sie mich unter ... zurückrufen?", "Kannst du mich
            # bitte unter ... anrufen?"
            rf"{_DE_ASKED} {_DE_ON_NUMBER} {_N}(?: (?:bitte|heute|morgen|gleich))*"
            rf" {_DE_CALL_BACK}",
            rf"{_DE_ASKED} {_DE_CALL_BACK}(?: {_DE_MINE})? {_N}",
        ),
        "es": (
            r"(?:llámenme|llamenme|llámame|llamame|llámeme|llameme|márquenme|marquenme"
            r"|me (?:pueden|puede|puedes|podrían|podrian|podría|podria|podrías|podrias|podés|podes)"
            r" (?:llamar|marcar|devolver la llamada)"
            r"|(?:pueden|puede|puedes|podrían|podrian|podría|podria|podrías|podrias|podés|podes)"
            r" (?:llamarme|marcarme|devolverme la llamada))"
            rf"(?: por favor)?(?: (?:{_one_of(_ES_ON)}(?: {_one_of(_ES_NUMBER)})?"
            rf"|{_ES_MINE}))? {_N}",
        ),
        "fr": (
            r"(?:rappelez moi|rappelle moi|appelez moi|appelle moi|rappelez nous|appelez nous"
            r"|me rappeler|mappeler|me téléphoner|me telephoner)(?: (?:sil vous plaît"
            rf"|sil vous plait|svp|stp|vite|rapidement))?(?: (?:{_one_of(_FR_ON)}"
            rf"(?: {_one_of(_FR_NUMBER)})?|{_FR_MINE}))? {_N}",
        ),
        "pt": (
            r"(?:me liga|me ligue|me liguem|me ligar|ligue para mim|liguem para mim|ligar para mim"
            r"|me telefone|me telefonem|me retorne|me retornem|me telefonar|me retornar"
            # European Portuguese puts the pronoun after the verb: "Podem ligar-me para o ...?"
            # (not tried: "tentaram ligar-me para o ...")
            r"|(?<!tentaram )(?<!tentou )(?<!tentaste )(?:ligar me|telefonar me|contactar me)"
            r"|ligue me|liguem me|ligues me|telefone me|telefonem me"
            rf"|contacte me|contactem me)(?: por favor)?(?: (?:{_one_of(_PT_ON)}"
            rf"(?: {_one_of(_PT_NUMBER)})?|{_PT_MINE}))? {_N}",
        ),
        "it": (
            r"(?:mi richiami|mi richiamate|richiamatemi|richiamami|mi chiami|mi chiamate"
            # (not tried: "avete provato a chiamarmi al ...")
            r"|chiamatemi|chiamami|(?<!provato a )(?<!provata a )(?<!cercato di )(?:richiamarmi"
            r"|chiamarmi|ricontattarmi|telefonarmi)"
            # Asked: "Mi può richiamare al ...?", "Mi potreste chiamare al ...?"
            r"|mi (?:può|puo|puoi|potete|potreste|potrebbe|potresti|potrà|potra)"
            r" (?:richiamare|chiamare|ricontattare|telefonare))"
            rf"(?: per favore)?(?: (?:{_one_of(_IT_ON)}(?: {_one_of(_IT_NUMBER)})?"
            rf"|{_IT_MINE}))? {_N}",
        ),
        "hi": _nfkc(
            # The number inside: "mujhe 98765 43210 par call karo"; after: "mujhe call karo
            # 98765 43210", "मुझे कॉल करें इस नंबर पर 98765 43210"
            rf"{_HI_ME} {_N} {_one_of(_HI_ON)} {_HI_CALL} {_HI_DO}",
            rf"{_HI_ME} {_HI_CALL} {_HI_DO}(?: (?:इस नंबर|is number|is no) {_one_of(_HI_ON)})? {_N}",
        ),
        "ru": (
            # and asked: "Можете перезвонить мне ...?", "Не могли бы вы позвонить мне на ...?",
            # the infinitive with "me" (not "как позвонить на номер 8 800 ...?": how to call
            # the site's own number), or "call back" asked of "you" ("Можете перезвонить на
            # ...?"); not tried: "пытались позвонить мне на ..."
            r"(?:перезвоните|перезвони|позвоните|позвони|наберите|набери|(?<!пытались )"
            r"(?<!пытался )(?<!пыталась )(?<!хотели )(?<!хотел )(?<!хотела )(?:перезвонить"
            r"|позвонить|набрать)(?= (?:мне|нам) )|(?:можете|сможете|можешь|сможешь|могли бы"
            r"(?: вы)?)(?: пожалуйста)? перезвонить)(?: (?:мне|нам))?"
            rf"(?: пожалуйста)?(?: {_one_of(_RU_ON)})?(?: {_one_of(_RU_NUMBER)})? {_N}",
        ),
        "ar": (
            # and asked: "هل يمكنكم الاتصال بي على ...؟", "ممكن تتصلوا بي على ...؟", the verbal
            # noun with "me" (not "كيف يمكنني الاتصال على الرقم ...؟": how to call the site's own
            # number; nor "why was I called": "لماذا تم الاتصال بي")
            r"(?:اتصلوا|اتصل|اتصلي|اتصلو|كلموني|كلمني|(?<!تم )(?<!حاول )(?<!حاولوا )(?<!حاولتم )"
            r"(?<!حاولت )الاتصال(?= (?:بي|معي) )|تتصلوا|تتصل|تتصلي|تكلموني"
            r"|تكلمني)(?: (?:بي|علي|عليا|معي))?(?: (?:من فضلك"
            rf"|لو سمحت|رجاء))? {_one_of(_AR_ON)}(?: {_one_of(_AR_NUMBER)})? {_N}",
        ),
    }
)
"""A call asked on the number that follows it (or, in Hindi, that it holds), by language."""

_UNSPACED_DIGITS = r"\d(?: ?\d){6,14}"
# Japanese requests: "...してください", asked: "...していただけますか", "...してもらえますか".
_JA_PLEASE = (
    r"(?:を)?(?:して|する)?(?:ください|下さい|くださいませんか|いただけますか|いただけませんか"
    r"|頂けますか|頂けませんか|もらえますか|もらえませんか|くれますか|くれませんか|ほしいです"
    r"|欲しいです|ほしい|欲しい|お願いします|お願いできますか|お願い)?"
)
_UNSPACED = re.compile(
    # Chinese: "请打电话给我 13812345678", "给我回电话：13812345678", "请拨打13812345678联系我";
    # asked: "可以打电话给我吗？13812345678", "能给我回个电话吗？我的手机号是13812345678"
    r"(?:请|請|麻烦|麻煩)?(?:打电话给我|打電話給我|给我打电话|給我打電話|给我回电话|給我回電話|给我回电|給我回電"
    r"|给我回个电话|給我回個電話|给我打个电话|給我打個電話|回电|回電|联系我|聯繫我)(?:吗|嗎|好吗|好嗎)?"
    r"(?:到|至)? ?(?:我的)?(?:电话|電話|手机|手機)?(?:号码|號碼|号|號)?(?:是)? ?"
    + _UNSPACED_DIGITS
    + r"|(?:请|請)?(?:拨打|撥打|打)(?:我的)?(?:电话|電話|手机|手機)?(?:号码|號碼)? ?"
    + _UNSPACED_DIGITS
    + r" ?(?:联系我|聯繫我|找我)"
    # Japanese: "090-1234-5678に電話してください", "折り返しお電話ください 090-1234-5678";
    # asked: "090-1234-5678に電話していただけますか", "...に折り返しお電話いただけますか"
    + r"|"
    + _UNSPACED_DIGITS
    + r" ?(?:に|へ|まで)(?:折り返し|おりかえし)?(?:の)?(?:お|ご)?(?:電話|折り返し|連絡)"
    # (not a call the visitor can make, wants to make, made or is making: "...に電話できますか",
    # "...に電話したい", "...に電話する方法", "...に電話しましたが", "...に電話しているのに")
    + r"(?!でき|した|しま|してい(?!ただ)|しても|する方法|方法)"
    + _JA_PLEASE
    + r"|(?:折り返し|おりかえし)(?:の)?(?:お)?(?:電話|連絡)"
    + _JA_PLEASE
    + r" ?"
    + _UNSPACED_DIGITS
)


# A call asked of the team on a number with no "me" ("please call 98765 43210", "call +44 20
# 7946 0958", "can you call back on ...", "llamen al ...", "appelez le ...", "ligue para ...",
# "chiamate il ...", "bitte rufen Sie ... an", "... par call karo"), as "Позвоните на ..." is:
# the message's first words but greetings, or after "please" anywhere ("my order is late,
# please call ..."). Not a call quoted ("your site says call ..."), nor one the visitor may make
# ("can I call ...?"), nor another person's ("call my husband on ...").
_PLEASE = (
    r"(?:please|pls|plz|kindly|por favor|sil vous plait|sil vous plaît|svp|bitte|per favore"
    r"|kripya|कृपया)"
)
_BARE = (  # (one group: what follows it closes each of its alternatives, not the last only)
    rf"(?:(?:(?:call|ring|phone|text|whatsapp|sms)(?: back)?(?: {_one_of(_EN_ON)}"
    rf"(?: {_one_of(_EN_THE)})?(?: {_one_of(_EN_NUMBER)})?| (?:this|my) {_one_of(_EN_NUMBER)})?"
    rf"|(?:llame|llamen|marque|marquen) (?:al|a este)(?: {_one_of(_ES_NUMBER)})?"
    rf"|(?:appelez|rappelez) (?:le|au|ce)(?: {_one_of(_FR_NUMBER)})?"
    rf"|(?:ligue|liguem|retorne|retornem) (?:para|no|pelo)(?: o)?(?: {_one_of(_PT_NUMBER)})?"
    rf"|(?:chiamate|richiamate|chiami|richiami) (?:il|al|questo)(?: {_one_of(_IT_NUMBER)})?"
    rf"|rufen sie(?: bitte)?(?: {_DE_ON_NUMBER})?) {_N}(?: (?:an|zurück|zuruck))?"
    rf"|(?:is (?:number|no) )?{_N} {_one_of(_HI_ON)} {_HI_CALL} {_HI_DO}"
    rf"|(?:(?:is (?:number|no)|इस नंबर) {_one_of(_HI_ON)} )?{_HI_CALL} {_HI_DO} {_N})"
)
_BARE_FIRST = re.compile(
    rf"(?:(?:can|could|would|will) (?:you|u|someone|somebody)(?: please)? |(?:you|u) (?:can|may)"
    rf" |{_PLEASE} )?{_BARE}"
    r"(?!\S)"
)
_BARE_PLEASED = re.compile(rf"(?<!\S){_PLEASE} {_BARE}(?!\S)")


def called_on(words: str, *, bare: bool = True) -> re.Match[str] | None:
    """The first call asked on a number in ``words`` (a text reduced by ``courtesy.words``), in
    any language of the lead tables; ``bare``: one with no "me" too (``_BARE``)."""
    found = next((found for _, found in CALL_ON.found(words)), None) or _UNSPACED.search(words)
    if found is None and bare:
        first = _BARE_FIRST.match(words, after_greetings(words)) or _BARE_FIRST.match(words)
        found = first or _BARE_PLEASED.search(words)
    return found


CLAUSE_END = re.compile(
    r"[,;:.!?\n\u060c\u061b\u061f\u0964\u3001\u3002\uff01\uff0c\uff1a\uff1b\uff1f]"
)
"""Where a clause ends, in the punctuation of every script of the call phrases: the call on a
number is cut out with its clause (``call_requests.without_callback``), and the clauses before
it are read for a question (``problems.states_a_problem``)."""


def number_at(text: str, number: str, start: int = 0) -> int:
    """Where ``number`` was typed in ``text`` from ``start`` on, its digits and spaces as typed
    (``_plain``); -1 for nowhere; not where named as another's (``named_span``) if elsewhere."""
    plain = _plain(text)
    first = at = plain.find(number, start)
    while at >= 0 and named_span(text, at, at + len(number)) is not None:
        at = plain.find(number, at + 1)
    return first if at < 0 else at


def _plain(text: str) -> str:
    """``text``, the same length, each digit in ASCII and each space a plain one."""
    return "".join(
        str(unicodedata.decimal(ch)) if ch.isdecimal() else " " if ch.isspace() else ch
        for ch in text
    )


# The words that link a call to the number right after it ("on", "al", "unter", "my number is",
# "mi número es", "по номеру", "على الرقم", "is number par"): the last of them before the number,
# the last word of each of the call phrases' links.
_LINKS: Final = frozenset(
    link.rsplit(" ", 1)[-1]
    for words in (
        *(_EN_ON, _EN_THE, _EN_NUMBER, _EN_IS, _DE_ON, _DE_THE, _DE_NUMBER, _DE_IS),
        *(_ES_ON, _ES_MY_NUMBER, _ES_IS, _FR_ON, _FR_NUMBER, _FR_IS, _FR_THE),
        *(_PT_ON, _PT_NUMBER, _PT_IS, _IT_ON, _IT_NUMBER, _IT_IS),
        *(_RU_ON, _RU_NUMBER, _AR_ON, _AR_NUMBER, _HI_ON),
    )
    for link in words
)
# Besides those, the words of a number said to be the visitor's after it ("... is my number",
# "... es mi número", "... c'est mon portable", "... ist meine Handynummer", "... мой номер").
_THEIRS: Final = frozenset(
    {"mine", "its", "s", "thats", "that", "here", "heres", "landline", "contact", "mi", "mon"}
    | {"c", "meine", "mein", "meu", "mio", "il", "handy", "мой", "это", "mera", "hai"}
)
_LAST_WORD = re.compile(r"(?<!\S)(\S+) \d[\d ]*$")


def called_back_on(text: str, words: str, number: str) -> bool:
    """Whether ``text`` (reduced: ``words``) asks a call on ``number`` (``called_on``), but
    not on a number bare after the call, no word linking the two (``_LINKS``: "Can you call
    me? +91 ...", "call me 98765 43210"), that the rest of its clause says something of
    (``_told_of``: "Can you call me? 1800 123 456 never answers", "... 98765 43210 is not my
    number", "Please call me. 2 000 000 is the amount I was charged"): that number is what
    the visitor tells of, not theirs to be called back on."""
    call = called_on(words)
    if call is None or digits_of(call[0]) != digits_of(number):
        return False
    last = _LAST_WORD.search(call[0])
    if last is None or any(ord(ch) >= 0x3040 for ch in last[1]):
        return True  # inside the call ("mujhe ... par call karo", "rufen Sie ... an"), unspaced
    if last[1] in _LINKS and called_on(words, bare=False) is not None:
        return True  # linked, "me" the call's ("call me on ...")
    # (A call with no "me" may be on the number the visitor tried: "call ... and nobody picks
    # up", "whatsapp ... not working", "appelez le ... ne répond pas".)
    return not _told_of(text, number)


def _told_of(text: str, number: str) -> bool:
    """Whether the rest of the clause ``number`` ends in ``text`` holds a word besides the
    call's own (``CALL_FRAMING``: "tomorrow", "please"), courtesy, filler and the words of a
    number said to be the visitor's ("is my number")."""
    at = number_at(text, number)
    if at < 0:
        return False
    after = at + len(number)
    closing = CLAUSE_END.search(text, after)
    # Thanks, then goodbyes, are none of the clause's words (greetings are, as they were).
    rest = without_courtesy(
        _words(text[after : closing.start() if closing else len(text)]), (THANKS, GOODBYE)
    )
    return any(
        w in _NOT or w not in CALL_FRAMING | _LINKS | _THEIRS | FILLER
        for w in rest.split()
        if not w.isdigit()
    )


# "Not", which the words above may hold ("no": a number's; "не": "не могли бы вы").
_NOT = frozenset({"no", "не"})


_MINE = re.compile(rf"(?:{_EN_MINE}|{_DE_MINE}|{_ES_MINE}|{_FR_MINE}|{_PT_MINE}|{_IT_MINE})")


def digits_of(text: str) -> str:
    """The digits of ``text``, in ASCII ("९८७६५" is "98765")."""
    return "".join(str(unicodedata.decimal(ch)) for ch in text if ch.isdecimal())


def _framing(*lines: str) -> frozenset[str]:
    """The words of ``lines`` as ``courtesy.words`` leaves them (NFKC: "प्लीज़")."""
    return frozenset(unicodedata.normalize("NFKC", word) for line in lines for word in line.split())


CALL_FRAMING: Final = _framing(
    # English
    "can could would will you u someone somebody anyone anybody please pls plz kindly be able to"
    " is it possible me back this the a an at on by in after before around between about pm am"
    " oclock morning afternoon evening tonight today tomorrow now asap later soon next week"
    " monday tuesday wednesday thursday friday saturday sunday"
    # a number given again ("actually call me on ... instead", "sorry, better on my new number")
    " actually instead rather better sorry oops new other different correction",
    # French
    "pouvez pourriez peux pourrais vous tu me m svp sil s il plait plaît demain matin apres après"
    " midi soir ce cet aujourdhui aujourd hui dès des que possible plus tôt tot à a entre vers h"
    " heures heure lundi mardi mercredi jeudi vendredi samedi dimanche plutôt plutot finalement"
    " nouveau nouvel autre désolé desole",
    # Spanish
    "puede pueden podría podrían podria podrian puedes podrías podrias usted ustedes me por favor"
    " mañana manana tarde hoy noche la el en lo antes posible después despues a las los horas hora"
    " mejor nuevo otro perdón perdon",
    # German
    "können koennen könnten koennten kannst kann sie du mich bitte morgen früh frueh heute abend"
    " nachmittag vormittag um uhr gleich später spaeter lieber stattdessen eigentlich neue neuen"
    " andere anderen sorry",
    # Italian
    "può puo potete potreste puoi potrebbe per favore mi domani mattina pomeriggio sera oggi alle"
    " ore appena possibile invece piuttosto meglio nuovo altro scusate scusa",
    # Portuguese
    "pode podem poderia poderiam você voce vocês voces me por favor amanhã amanha de manhã manha"
    " tarde hoje noite às as horas melhor novo outro desculpe",
    # Hindi in Latin letters and in Devanagari
    "kya aap mujhe kar sakte sakti hain hai ho kal aaj subah shaam sham ko baje please plz",
    "क्या आप मुझे कर सकते सकती हैं है हो कल आज सुबह शाम को बजे कृपया प्लीज़",
    # Russian ("не могли бы вы": a polite "could you"), Arabic
    "можете сможете можешь могли бы вы не мне пожалуйста завтра утром сегодня вечером днём днем"
    " в после",
    "هل يمكنك يمكنكم ممكن من فضلك غدا صباحا مساء اليوم",
)
"""Words a call is asked with in the languages the call phrases are in ("would you be able to",
"por favor", "tomorrow morning", "demain matin"): the request's own, none of them something wrong
said beside it (``call_requests.complains_beside_a_call``: "Pouvez-vous me rappeler au ...?" is
a lead, "Ma commande est en retard, pouvez-vous me rappeler au ...?" a complaint)."""
