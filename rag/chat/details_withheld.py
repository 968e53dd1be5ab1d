# ruff: noqa: RUF001 (words written in their own scripts)
"""Contact details typed in a message that the visitor does not leave to be reached on: their
removal asked ("9876543210 is my number, delete it", "please delete my number ...", "remove me
from your list", "borren mi número ...", "löschen Sie meine Nummer ...", "supprimez-le",
"cancellalo", "isko hata do", "удалите мой номер", "请删除我的手机号..."), a number the visitor
asks about or denies in the clause before it ("what's my number 9876543210", "why is my number
... blocked", "this is not my number ...", "no es mi número ...", "das ist nicht meine Nummer
..."), gives as an example ("e.g. my number is ...", "if my number is ... what do I type") or
quotes ('"my number is ..."': someone else's words, ``quoted``).

A removal asked is how the visitor withdraws a number or an address, as "don't call me" turns
a call down (``contact_details._NO_CALLS``): no lead is made of it, and the message is a
question, as "delete my number" without one is (the owner erases a visitor's data through the
API: ``lifecycle/erasure.py``). Before, each of these made a lead with the number, thanked
with a call promised (a reviewer's finding)."""

from __future__ import annotations

import re

from rag.chat.call_phrases import called_on, number_at
from rag.chat.courtesy import Lexicon, after_greetings, phrases
from rag.chat.courtesy import words as _words
from rag.chat.lead_phrases import PHONE_DIGITS
from rag.chat.other_numbers import CLAUSES

_N = PHONE_DIGITS
# What is removed: the visitor's number, address or data, named ("my number", "the email",
# "all my data", "this number", the number itself) or "me" ("remove me from your list"); not an
# old one ("remove my old number, my new number is ...": the new one is left).
_EN_DETAIL = (
    r"(?:number|numbers|no|phone|mobile|cell|whatsapp|email|emails|mail|address|details|data"
    r"|info|information|contact|contacts|record|records)"
)
# ("the data", "this info" may be anything's: "how do I delete the data I uploaded?")
_EN_NUMBER = r"(?:number|numbers|no|phone|mobile|cell|whatsapp|email|emails|address)"
# Up to two words of the one thing named ("my mobile number", "all my contact details"); none
# a determiner starting another ("delete my message my number is ...": two things named).
_OF_IT = r"(?: (?!(?:my|our|the|this|that|your)(?!\S))\S+){0,2}?"
_EN_WHAT = (
    rf"(?:all (?:of )?)?(?:(?:my|our)(?! (?:old|previous|former|wrong|earlier)){_OF_IT}"
    rf" {_EN_DETAIL}"
    rf"|(?:the|this|that|these|those)(?: \S+)? {_EN_NUMBER}|me|us|{_N})(?: {_N})?"
)
_EN_REMOVE = r"(?:delete|remove|erase|wipe|purge|scrub|discard|destroy)"
_ES_DETAIL = (
    r"(?:número|numero|teléfono|telefono|celular|móvil|movil|whatsapp|correo|email|datos"
    r"|contacto|información|informacion)"
)
_ES_REMOVE = r"(?:b[oó]rr|elim[ií]n|supr[ií]m)"
_DE_DETAIL = (
    r"(?:nummer|telefonnummer|handynummer|rufnummer|daten|e mail|email|adresse|mailadresse"
    r"|emailadresse|kontaktdaten)"
)
_DE_REMOVE = r"(?:löschen|loschen|loeschen|lösche|losche|entfernen|entferne)"
_FR_DETAIL = (
    r"(?:numéro|numero|téléphone|telephone|portable|mail|email|e mail|adresse|coordonnées"
    r"|coordonnees|données|donnees)"
)
_PT_DETAIL = r"(?:número|numero|telefone|celular|whatsapp|zap|email|e mail|dados|contato|contacto)"
_IT_DETAIL = r"(?:numero|cellulare|telefono|dati|email|e mail|mail|contatto|contatti|indirizzo)"
_HI_DO = (
    r"(?:do|dijiye|dein|den|dena|karo|kar do|kar dijiye|kar dena|kar dein|kar den|kijiye"
    r"|दो|दें|दीजिए|दीजिये|कर दो|कर दें|कर दीजिए|करो|करें)"
)
_HI_REMOVE = rf"(?:hata|hatao|mita|mitao|delete|remove|हटा|मिटा|डिलीट) {_HI_DO}"

REMOVED = Lexicon(
    {
        "en": (
            # "delete my number", "please remove all my data", "delete 9876543210", "erase me"
            rf"{_EN_REMOVE}(?: out)? {_EN_WHAT}",
            # "delete my account and all my data", "remove my profile and my email": the data
            # named after another thing of the visitor's (a stakeholder's finding: it was a
            # question, answered "I don't know" with the contact form offered).
            rf"{_EN_REMOVE} (?:(?:my|our)(?: \S+){{1,2}}?|me) (?:and|plus|with|including)"
            rf"(?: also)? {_EN_WHAT}",
            rf"forget (?:all (?:of )?)?(?:my{_OF_IT} {_EN_DETAIL}|me|us|{_N})",
            rf"take {_EN_WHAT} (?:off|out|down)|take (?:off|out|down) {_EN_WHAT}",
            rf"(?:dont|do not|never) (?:store|save|keep|retain|record|share|sell|use) {_EN_WHAT}",
            rf"(?:unsubscribe|opt) {_EN_WHAT}|opt out {_N}",
            # "delete everything you have on me", "erase all the data you hold about me"
            rf"(?:{_EN_REMOVE}|forget) (?:\S+ ){{1,3}}(?:you|u) (?:have|hold|keep|store|stored"
            r"|know|collected|got)(?: \S+)? (?:on|about|of) (?:me|us)",
        ),
        "es": (
            # "borren mi número", "eliminen todos mis datos", "bórralo", "eliminarlo"
            rf"{_ES_REMOVE}\w* (?:todos )?(?:mi|mis|el|este|ese|nuestro|nuestros)(?: \S+)?"
            rf" {_ES_DETAIL}",
            rf"{_ES_REMOVE}(?:a|e|en|ar)(?:lo|la|los|las|me)",
            rf"no (?:guard|almacen|compart)\w* (?:mi|mis|el|este|ese)(?: \S+)? {_ES_DETAIL}",
        ),
        "de": (
            # "löschen Sie meine Nummer", "bitte meine Daten löschen"
            rf"{_DE_REMOVE}(?: sie)?(?: bitte)? (?:meine|meinen|die|diese|unsere|alle meine)"
            rf"(?: \S+)? {_DE_DETAIL}",
            rf"(?:meine|die|diese) (?:\S+ )?{_DE_DETAIL}(?: \S+){{0,3}} {_DE_REMOVE}",
            rf"{_DE_REMOVE} sie (?:sie|es|das)",
        ),
        "fr": (
            # "supprimez mon numéro", "effacez mes données", "pouvez-vous le supprimer"
            rf"(?:supprim|effac)\w* (?:mon|ma|mes|ce|cet|cette|le|les)(?: \S+)? {_FR_DETAIL}",
            r"(?:le|la|les|me) (?:supprimer|effacer)",
        ),
        "pt": (
            # "apague o meu número", "exclua meus dados", "me remova da lista"
            rf"(?:apag|exclu|remov|delet)\w* (?:o |a |os |as )?(?:meu|minha|meus|minhas|esse|este"
            rf"|isso)(?: \S+)? {_PT_DETAIL}",
            r"me (?:remov|exclu|apag|tir)\w*",
        ),
        "it": (
            # "cancellate il mio numero", "eliminate i miei dati", "cancellalo"
            rf"(?:cancell|elimin|rimuov)\w* (?:il |i |la |le )?(?:mio|mia|miei|mie|nostro|questo"
            rf"|quel)(?: \S+)? {_IT_DETAIL}",
            r"(?:cancell|elimin)(?:alo|atelo|ala|atela|ali|ateli|arlo|arla|atemi|ami)"
            r"|rimuov(?:ilo|etelo|ila|etela|erlo|erla|etemi)",
        ),
        "hi": (
            # "isko hata do", "mera number delete kar do", "9876543210 hai delete kar do"
            rf"(?:isko|ise|isse|ye|yeh|usko|mera(?: \S+)? (?:number|no|data|email|mobile)|इसे"
            rf"|इसको|यह|ये|मेरा(?: \S+)? (?:नंबर|नम्बर|डेटा|ईमेल)|{_N})(?: \S+){{0,2}} {_HI_REMOVE}",
        ),
        "ru": (
            # "удалите мой номер", "сотрите мои данные", "уберите меня из базы"
            r"(?:удал|сотр|убер)\w* (?:пожалуйста )?(?:(?:мой|мою|мои|моё|мое|этот)(?: \S+)?"
            r" (?:номер|телефон|данные|почту|email|контакт|контакты|адрес)|его|их|меня)",
        ),
        "ar": (
            r"(?:احذف|احذفوا|احذفي|امسح|امسحوا|أزل|ازل|أزيلوا|ازيلوا) (?:رقمي|بياناتي|الرقم|هذا"
            r"|ايميلي|بريدي)",
        ),
    }
)
"""A removal of the visitor's details asked anywhere in a message, by language."""
# Chinese and Japanese, unspaced: "请删除我的手机号...", "...の電話番号を削除してください".
_UNSPACED = re.compile(
    r"(?:删除|删掉|刪除|刪掉|移除|清除)(?:我的|这个|這個)?(?:电话|電話|手机|手機|号码|號碼|信息"
    r"|資料|资料|数据|數據|联系方式|聯繫方式|邮箱|郵箱)"
    r"|(?:番号|電話番号|携帯番号|個人情報|データ|連絡先|メールアドレス)を?(?:削除|消去|消して)"
)
# A clause that is nothing but the removal asked, its object a pronoun or none: "delete it",
# "please remove it from your records", "bitte löschen", "bórralo", "supprimez-le",
# "cancellatelo", "apague-o", "удалите", "delete kar do". (A pronoun elsewhere may stand for
# anything: "I can't delete it, call me on ..." asks a call.)
_REMOVAL_ALONE = phrases(
    rf"(?:(?:please|pls|plz|kindly|can you|could you|would you|will you|can u|could u)"
    rf"(?: please)? )?{_EN_REMOVE}(?: (?:it|this|that|them|this one|that one))?"
    r"(?: (?:please|pls|plz|asap|now|too|as well|for me|from (?:\S+ )?(?:list|records|system"
    r"|database|files)))*",
    r"(?:please |pls |kindly )?(?:dont|do not|never) (?:store|save|keep|retain|record|share|use)"
    r"(?: (?:it|this|that|them))?(?: (?:please|pls|anywhere))?",
    r"(?:por favor )?(?:b[oó]rr|elim[ií]n)(?:alo|ala|enlo|enla|elo|ela|arlo|arla)(?: por favor)?",
    rf"(?:bitte )?{_DE_REMOVE}(?: sie)?(?: (?:sie|es|das))?(?: bitte)?",
    r"(?:merci de |veuillez |pouvez vous |pourriez vous )?(?:le |la |les )?(?:supprimez|effacez"
    r"|supprimer|effacer|supprime|efface)(?: (?:le|la|les))?(?: (?:svp|stp|sil vous plait"
    r"|sil vous plaît|merci))?",
    r"(?:por favor )?(?:apague|apaguem|apaga|exclua|excluam|remova|removam)(?: (?:o|a|isso))?"
    r"(?: por favor)?",
    r"(?:per favore )?(?:cancellalo|cancellatelo|cancellala|cancellatela|eliminalo|eliminatelo"
    r"|eliminala|eliminatela|rimuovilo|rimuovetelo)(?: per favore)?",
    r"(?:пожалуйста )?(?:удалите|удали|сотрите|сотри)(?: (?:его|это|их|пожалуйста))*",
    rf"(?:please |kripya |कृपया )?(?:isko |ise |ye |yeh |इसे |इसको |यह |ये )?{_HI_REMOVE}",
)


def removal_asked(text: str) -> bool:
    """Whether ``text`` asks to remove the visitor's number, address or data: ``REMOVED`` in a
    clause ("delete my cart, my number is ..." removes no number), but the removal of "me"
    from a list where a call on a number is asked too ("unsubscribe me from emails, call me on
    ..."); or a clause of nothing but the removal asked (``_REMOVAL_ALONE``) after a detail
    typed, or in a message with none after it: its pronoun points back ("... is my number,
    delete it"; not "please delete that, my number is ...")."""
    if _UNSPACED.search(_words(text)):
        return True
    called: bool | None = None
    start = 0
    for clause in CLAUSES.split(text):
        reduced = _words(clause)
        for found in REMOVED.pattern.finditer(reduced):
            if called is None:
                called = called_on(_words(text), bare=False) is not None
            removal = found[0] + reduced[found.end() :] if _AND.match(reduced, found.end()) else ""
            if not (called and _ME.search(found[0])) and not _of_another_kind(
                removal or found[0], text
            ):
                return True
        alone = reduced and _REMOVAL_ALONE.fullmatch(reduced, after_greetings(reduced))
        if alone and (_DETAIL.search(text, 0, start) or not _DETAIL.search(text, start)):
            return True
        start += len(clause) + 1
    return False


# The removal of the visitor from a list, no detail of theirs named ("remove me", "unsubscribe
# me", "me remova", "уберите меня"); a digit or an "@": a detail typed.
_ME = re.compile(r"(?:^|\s)(?:me|us|меня)$|^me\s")
_DETAIL = re.compile(r"[@\d]")
# An address named by its kind, and a number by its, in the lexicon's languages.
_AN_ADDRESS = re.compile(
    r"(?<!\S)(?:e ?mails?|mail|correo|mailadresse|emailadresse|почту|ईमेल|ايميلي|بريدي)(?!\S)"
)
_A_NUMBER = re.compile(
    r"(?<!\S)(?:numbers?|no|phone|mobile|cell|whatsapp|número|numero|teléfono|telefono|celular"
    r"|móvil|movil|nummer|telefonnummer|handynummer|rufnummer|numéro|téléphone|telephone"
    r"|portable|telefone|zap|cellulare|номер|телефон|नंबर|नम्बर|رقمي|الرقم)(?!\S)"
)


# A removal of more than one thing ("delete my email and my number ..."): the rest of its
# clause is read with it.
_AND = re.compile(r" (?:and|or|y|o|und|oder|et|ou|e|и|или|aur|और) ")


def _of_another_kind(removal: str, text: str) -> bool:
    """Whether the ``removal`` asked names only an address while ``text`` types none ("remove
    my email from the newsletter, my number is ...": the number typed is left), or only a
    number while it types no digit ("delete my old phone, my email is ...")."""
    address, number = _AN_ADDRESS.search(removal), _A_NUMBER.search(removal)
    if address and not number:
        return "@" not in text
    if number and not address:
        return not any(ch.isdigit() for ch in text)
    return False


# The questions' first words, and the verbs of being asking whether ("is this my number ...",
# "was my number ... changed"; not "can I get a call back on ...", "would like a callback, my
# number is ...", "will be free after 5, my number is ...": requests and statements).
_WH = frozenset(
    {"how", "what", "whats", "why", "when", "where", "who", "whom", "which", "whose", "do"}
    | {"does", "did"}
)
# A clause of time addressed to the team, "you" its subject right after "when" ("when you are
# free my number is ..."): a question puts its verb first ("when can you call ...").
_TIME = frozenset({"when", "whenever"})
_BEING = frozenset({"is", "are", "was", "were", "isnt", "wasnt"})
_BEING_OF = frozenset({"this", "that", "it", "my", "the", "these", "those", "there"})
# The visitor's possessives in the lead tables' languages.
_MY = r"(?:my|our|mi|mis|meine|mein|meiner|unsere|mon|ma|notre|meu|minha|mio|mia|мой|мою|mera|मेरा)"
# A denial right before the visitor's number named ("this is not my number ...", "no es mi
# número ...", "das ist nicht meine Nummer ...", "ce n'est pas mon numéro ...", "não é o meu
# número ...", "non è il mio numero ...", "это не мой номер ..."): a verb and an article between.
_DENIED = re.compile(
    r"(?<!\S)(?:not|isnt|wasnt|arent|werent|aint|never|nicht|kein|keine|pas|no es|no era|não"
    r"|nao|non|не|नहीं|nahi|nahin)(?: (?:is|be|es|era|é|e|è|o|il|ist|est|even|really)){0,2}"
    rf" {_MY}(?: \S+){{0,3}}$"
)
# An example or a supposition ("e.g. my number is ...", "for example ... is my number", "if my
# number is ... what do I type").
_EXAMPLE = re.compile(
    r"(?<!\S)(?:eg|e g|ie|i e|for example|for instance|such as|example|examples|sample|if"
    rf"|suppose|supposing|assuming|say)(?: {_MY}(?: \S+){{0,3}})?$"
)


# Another person's detail named before it ("my wife's email is ...", "his number is ..."):
# a possessive but the shortenings of "is" ("it's my email", "here's my number").
_ANOTHERS = re.compile(
    r"(?:(?<!\w)(?!(?:it|that|here|what|there|who|where|he|she|let|how)['’]s)\w+['’]s|\bhis"
    r"|\bher|\btheir)\s+(?:\w+\s+)?(?:e-?mail|mail|address|number|phone|mobile|cell|whatsapp)\b",
    re.IGNORECASE,
)


def anothers_at(text: str, start: int, since: int = 0) -> int | None:
    """Where the words naming the detail typed at ``start`` as another person's begin in its
    clause after ``since`` (the detail typed before it), within ``_REACH`` characters ("my
    husband's number is ...", ``_ANOTHERS``); None when they do not. (Bounded: a message of
    many numbers is read once, not once per number to its start.)"""
    begins = max(since, start - _REACH)
    ends = [m.end() for m in CLAUSES.finditer(text, begins, start)]
    named = _ANOTHERS.search(text, ends[-1] if ends else begins, start)
    return None if named is None else named.start()


_REACH = 80


def asked_about(text: str, start: int, *, called: bool) -> bool:
    """Whether the clause of ``text`` before the detail typed at ``start`` asks about it (its
    first word a question's: "what's my number ...", "why is my number ... blocked", "is this
    my number ..."), denies it is the visitor's (``_DENIED``), gives it as an example
    (``_EXAMPLE``) or as another person's (``_ANOTHERS``: "my wife's email is ...").
    ``called``: a call is asked on the number ("when can you call me on ...", "is it ok if
    you call me on ..."): its own question is no question about it."""
    ends = [m.end() for m in CLAUSES.finditer(text, 0, start)]
    clause = text[ends[-1] if ends else 0 : start]
    if _ANOTHERS.search(clause):
        return True
    said = _words(clause)
    said = said[after_greetings(said) :].strip()
    if _DENIED.search(said) or _EXAMPLE.search(said):
        return True
    first = said.split()[:2]
    if called or not first:
        return False
    if first[0] in _WH:
        return first[0] not in _TIME or first[1:] != ["you"]  # "when you are free, ..."
    return first[0] in _BEING and len(first) == 2 and first[1] in _BEING_OF


# A verb right after a number, telling of it: "my number 9876543210 got hacked", "... is not
# receiving the OTP", "... doesn't work" (not "... is my number": the number given first).
_TOLD = frozenset(
    {"is", "isnt", "was", "wasnt", "got", "gets", "has", "hasnt", "had", "does", "doesnt"}
    | {"did", "didnt", "cant", "cannot", "wont", "keeps", "kept", "shows", "says", "stopped"}
    | {"not", "never", "no", "became", "belongs", "went"}
)


def told_of(text: str, end: int) -> bool:
    """Whether the clause of ``text`` after a number ending at ``end`` tells of it: a verb
    (``_TOLD``) first, not then giving it as the visitor's ("is my number", "is mine")."""
    closing = CLAUSES.search(text, end)
    said = _words(text[end : closing.start() if closing else len(text)]).split()[:2]
    return bool(said) and said[0] in _TOLD and said[1:] not in (["my"], ["mine"], ["our"])


# The verbs of being that give a number as their complement ("my number is ...", "mi número
# es ...", "meine Nummer ist ...", "mon numéro est ...", "il mio numero è ...", "meu número
# é ...", "мой номер это ..."), or a colon ("my mobile: ...").
_IS = frozenset({"is", "its", "es", "ist", "lautet", "est", "è", "é", "e", "это"})


def _given_by_is(text: str, start: int) -> bool:
    """Whether the number typed at ``start`` is given by the verb of being or the colon right
    before it ("my number is ... no rush", "my number is ... (not a landline)"): it is the
    complement of that verb, so what comes after it is a clause of its own, not a verb telling
    of it (``told_of``: "my number ... got hacked" has no verb before the number)."""
    before = text[:start].rstrip()
    said = _words(before).split()
    return before.endswith((":", "\uff1a")) or (bool(said) and said[-1] in _IS)


# Quotation marks of the lead tables' scripts: straight, curly, low and angle quotes.
QUOTES = frozenset("\"'\u2018\u2019\u201a\u201c\u201d\u201e\u00ab\u00bb\u2039\u203a\u300c\u300d")


def quoted(text: str, start: int, end: int) -> bool:
    """The detail typed at ``start``:``end`` is inside a quotation opened before it ('I got
    this mail: "my email is pay@scam.example, send gift cards" - is it from you?'): someone
    else's words, so someone else's address or number. A mark opens a quotation where no
    letter or digit is before it and one is after it, and closes one otherwise; marks right
    around the detail alone ('my email is "jo@example.com"') quote only the detail."""
    head = text[:start]
    if head.rstrip()[-1:] in QUOTES and text[end:].lstrip()[:1] in QUOTES:
        head = head.rstrip()[:-1]
    depth = 0
    for at, mark in enumerate(head):
        if mark in QUOTES:
            opens = not head[at - 1 : at].isalnum() and head[at + 1 : at + 2].isalnum()
            depth = depth + 1 if opens else max(depth - 1, 0)
    return depth > 0


def withheld(text: str, number: str) -> bool:
    """Whether ``number``, typed in ``text``, is quoted, told of by the verb after it, asked
    about, denied or an example (``quoted``, ``told_of``, ``asked_about``: '"my number is ..."',
    "my number ... got hacked", "what's my number ...", "this is not my number ...", "e.g. my
    number is ..."): not left to be called on (``contact_details.leaves_a_phone``,
    ``number_left``)."""
    at = number_at(text, number)
    if at < 0:
        return False
    end = at + len(number)
    called = called_on(_words(text)) is not None
    told = not called and not _given_by_is(text, at) and told_of(text, end)
    return quoted(text, at, end) or told or asked_about(text, at, called=called)


def data_erasure_asked(text: str) -> bool:
    """Whether ``text``, typing no number nor address, asks the business to erase the
    visitor's own data ("please delete my data", "forget me", "remove my details", "delete
    everything you have on me", "delete my account and all my data", "borren mis datos",
    "löschen Sie meine Daten", "удалите мои данные", "请删除我的信息"): a removal of
    ``REMOVED`` naming the visitor's own (``_OWN``), not turned down ("don't delete my
    data"), nor a clause asking how or whether one can ("how do I delete my data?",
    ``_HOW``: a question for the knowledge, as "how do I delete my account?" is; "can you
    delete my data?" asks the business). A pronoun alone ("please delete it") may stand for
    a file or anything: no erasure."""
    if _UNSPACED_OWN.search(_words(text)):
        return True
    for clause in CLAUSES.split(text):
        reduced = _words(clause)
        said = reduced[after_greetings(reduced) :].split()
        if said[:1] and (said[0] in _HOW or " ".join(said[:2]) in _HOW):
            continue
        for found in REMOVED.pattern.finditer(reduced):
            verb = found[0].split()[0]
            before = reduced[: found.start()].split()[-2:]
            if _OWN.search(found[0]) and verb not in _NOT_A_REMOVAL and not _NO & set(before):
                return True
    return False


# The visitor's own named in a removal (the possessives, "me", "us", and Arabic's suffix).
_OWN = re.compile(
    rf"(?<!\S)(?:{_MY}|me|us|mes|meus|minhas|miei|mie|nostri|мои|моё|мое|меня|нас|mere|मेरे"
    r"|رقمي|بياناتي|ايميلي|بريدي)(?!\S)|(?:me|mi)$"
)
# Chinese with "my" ("删除我的信息"); Japanese naming personal data or contact details.
_UNSPACED_OWN = re.compile(
    r"(?:删除|删掉|刪除|刪掉|移除|清除)我的|(?:個人情報|連絡先)を?(?:削除|消去|消して)"
)
# A removal's words that ask none (a keeping or an opt-out: "don't share my data",
# "unsubscribe me") and the words turning one down right before it ("don't delete my data").
_NOT_A_REMOVAL = frozenset({"dont", "do", "never", "unsubscribe", "opt", "no"})
_NO = frozenset({"dont", "not", "never", "no", "nicht", "pas", "não", "nao", "non", "не"})
# A clause asking how or whether one may ("how do I delete my data?", "can I remove my
# details?", "¿cómo borro mis datos?", "Wie lösche ich meine Daten?").
_HOW = frozenset(
    {"how", "where", "what", "whats", "why", "when", "which", "who", "do", "does", "is", "are"}
    | {"can i", "could i", "may i", "should i", "can we", "am i", "cómo", "como", "dónde"}
    | {"donde", "puedo", "wie", "wo", "kann ich", "warum", "comment", "où", "pourquoi", "posso"}
    | {"come", "dove", "perché", "как", "где", "могу", "почему", "kaise", "kahan", "कैसे"}
)
