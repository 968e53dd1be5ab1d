# ruff: noqa: RUF001 (phrases written in their own scripts and punctuation)
"""Sales leads in the languages the bot answers in besides English: a demo or a quote asked for
("Quiero reservar una demo", "Kann ich ein Angebot für 50 Nutzer bekommen?", "Je voudrais un
devis", "Gostaria de agendar uma demonstração", "Vorrei un preventivo", "mujhe demo chahiye",
"मुझे डेमो चाहिए", "Хочу заказать демо", "أريد عرض توضيحي", "我想预约演示", "デモを予約したいです"),
and so is a call back asked for ("Rufen Sie mich bitte zurück", "Llámenme", "mujhe call karo",
"Перезвоните мне", "折り返し電話してください") or a phone number left ("mera number 9876543210
hai", "мой номер +7 916 123-45-67"): answered with the lead reply in that language, as
"book a demo" is (``rag.chat.intents``; the lexicon tells the reply's language,
``rag.chat.reply_language``). Before, Hindi, Russian, Arabic, Chinese and Japanese leads were
questions: "I don't know" and a line on the Unanswered page. Each needs a verb of booking or
asking beside the demo or the quote, so a question about one ("¿Qué incluye la demo?", "Ist das
Angebot noch gültig?", "Демо бесплатное?") is none, and so is a question whether one is needed
("¿necesito pedir una demo?", "kya mujhe demo chahiye?": ``need_questions``).
The text is reduced by ``courtesy.words``: casefolded, apostrophes dropped, punctuation gone;
accents stay, so both spellings are listed."""

from __future__ import annotations

import re
import unicodedata

from rag.chat.courtesy import Lexicon
from rag.chat.human_languages import Checks, pauses, turned_down, unspaced_turned_down
from rag.chat.lead_phrases import PHONE_DIGITS

_DE_WHAT = (
    r"(?:ein |einen )?(?:unverbindliches |individuelles |persönliches |personliches )?"
    r"(?:angebot|kostenvoranschlag)"
)
_DE_DEMO = r"(?:eine )?(?:demo|produktdemo|vorführung|vorfuhrung)"
_ES_WHAT = r"(?:una |un )?(?:demo|demostración|demostracion|presupuesto|cotización|cotizacion)"
_PT_WHAT = r"(?:uma |um )?(?:demo|demonstração|demonstracao|orçamento|orcamento|cotação|cotacao)"
_FR_WHAT = r"(?:une |un )?(?:démo|demo|démonstration|demonstration|devis)"
_IT_WHAT = r"(?:una |un )?(?:demo|dimostrazione|preventivo)"
_HI_WHAT = r"(?:डेमो|प्रेजेंटेशन|कोटेशन|क्वोटेशन|कोट|demo|quotation|quote|presentation)"
_HI_SAY = r"(?:है|हैं|हो|hai|hain|ho|h|he)"
_RU_WHAT = (
    r"(?:демо|демку|демо версию|демонстрацию|демонстрация|презентацию|презентация"
    r"|коммерческое предложение|кп)"
)
_AR_WHAT = (
    r"(?:عرض توضيحي|عرض تجريبي|عرضا توضيحيا|عرضًا توضيحيًا|ديمو|عرض سعر|عرض أسعار|عرض اسعار"
    r"|تسعيرة)"
)


# A phone number, as ``courtesy.words`` leaves it ("+7 916 123-45-67" is "7 916 123 45 67").
_DIGITS = PHONE_DIGITS


def _nfkc(*patterns: str) -> tuple[str, ...]:
    """Patterns as ``courtesy.words`` leaves the text: Devanagari's letters with a nukta ("फ़",
    "ड़") are two characters there."""
    return tuple(unicodedata.normalize("NFKC", pattern) for pattern in patterns)


SALES_ELSEWHERE = Lexicon(
    {
        "de": (
            # "Ich möchte eine Demo buchen", "Kann ich ein Angebot für 50 Nutzer bekommen?"
            r"(?:demo|produktdemo|vorführung|vorfuhrung) (?:\S+ ){0,2}"
            r"(?:buchen|vereinbaren|anfragen|anfordern|sehen)",
            r"(?:angebot|kostenvoranschlag) (?:\S+ ){0,4}"
            r"(?:anfragen|anfordern|bekommen|erhalten|einholen|schicken|senden)",
            # "Schicken Sie mir ein Angebot", "Ich hätte gerne ein Angebot", "Ich brauche ein
            # Angebot" (not "Ich möchte das Angebot nutzen": an offer of the shop's)
            r"(?:schicken|senden|schick|schicke|sende|machen|erstellen) (?:sie )?(?:mir|uns) "
            rf"(?:bitte )?{_DE_WHAT}",
            r"(?:möchte|mochte|möchten|mochten|hätte gerne?|hatte gerne?|hätten gerne?"
            r"|hatten gerne?|brauche|bräuchte|brauchte|brauchen|bräuchten|benötige|benotige"
            rf"|benötigen|benotigen) (?:bitte )?(?:gerne? )?(?:{_DE_WHAT}|{_DE_DEMO})",
            # "Können Sie uns ein Angebot für 20 Lizenzen machen?"
            r"(?:können|konnen|könnten|konnten|würden|wurden) sie (?:mir|uns) (?:bitte )?"
            rf"{_DE_WHAT} (?:\S+ ){{0,4}}(?:machen|erstellen|schicken|senden|zusenden|zuschicken"
            r"|geben|unterbreiten)",
            # A call back asked for: "Rufen Sie mich bitte zurück", "Bitte um Rückruf"
            r"(?:rufen sie mich|ruf mich|ruft mich|rufen sie uns)(?: (?:bitte|doch|mal|bitte mal"
            r"|heute|morgen|gleich|umgehend|unter(?: \d+){1,4}))* (?:zurück|zuruck|an)",
            r"(?:bitte um|um|wünsche|wunsche|möchte|mochte|hätte gerne?|hatte gerne?) (?:einen )?"
            r"(?:rückruf|ruckruf)",
            r"(?:rückruf|ruckruf) (?:bitte|erwünscht|erwunscht|gewünscht|gewunscht)",
            r"(?:meine|unsere) (?:nummer|telefonnummer|handynummer|rufnummer)(?: ist| lautet)? "
            + _DIGITS,
        ),
        "es": (
            rf"(?:reservar|agendar|programar|concertar|solicitar|pedir|recibir|obtener|ver|quiero"
            r"|quisiera|necesito|me gustaría|me gustaria|queremos|quisiéramos|quisieramos"
            rf"|necesitamos|nos gustaría|nos gustaria) {_ES_WHAT}",
            # "¿Me pueden enviar una cotización?", "Envíenme un presupuesto"
            r"(?:me|nos) (?:pueden|puede|podrían|podrian|podría|podria|podés|podes) (?:enviar"
            rf"|mandar|dar|hacer|preparar|pasar) {_ES_WHAT}",
            r"(?:enviarme|enviarnos|mandarme|mandarnos|hacerme|hacernos|prepararme|prepararnos"
            r"|envíenme|envienme|mándenme|mandenme|envíame|enviame|mándame|mandame|envíenos"
            rf"|envienos|mándenos|mandenos) {_ES_WHAT}",
            # "Llámenme por favor", "¿Me pueden llamar?"
            r"llámenme|llamenme|llámame|llamame|llámeme|llameme|márquenme|marquenme",
            r"me (?:pueden|puede|podrían|podrian|podría|podria|podés|podes) (?:llamar|marcar)",
            r"(?:pueden|puede|podrían|podrian|podría|podria) (?:llamarme|marcarme)",
            r"(?:quiero|quisiera|necesito|me gustaría|me gustaria|solicito|pido) (?:una llamada"
            r"|que me llamen)",
            r"(?:mi|nuestro) (?:número|numero|teléfono|telefono|celular|móvil|movil|whatsapp)"
            rf"(?: de (?:teléfono|telefono|celular))?(?: es)? {_DIGITS}",
        ),
        "fr": (
            rf"(?:réserver|reserver|planifier|programmer|demander|obtenir|recevoir|voir|avoir"
            r"|je veux|je voudrais|jaimerais|je souhaite|je souhaiterais|nous souhaitons"
            rf"|nous souhaiterions|nous voudrions|nous aimerions) {_FR_WHAT}",
            # "Pouvez-vous m'envoyer un devis ?", "Envoyez-moi un devis"
            r"(?:menvoyer|nous envoyer|me faire|nous faire|me faire parvenir|nous faire parvenir"
            r"|me transmettre|nous transmettre|me proposer|nous proposer|envoyez moi|envoyez nous"
            rf"|faites moi|faites nous) {_FR_WHAT}",
            r"(?:jai|nous avons|on a|ai je|avons nous) besoin (?:dun|dune|de) (?:devis|démo|demo"
            r"|démonstration|demonstration)",
            # "Rappelez-moi s'il vous plaît", "Pouvez-vous me rappeler ?"
            r"(?:rappelez|rappelle|appelez|appelle) (?:moi|nous)",
            r"me rappeler|mappeler|me téléphoner|me telephoner|nous rappeler",
            r"mon (?:numéro|numero|téléphone|telephone|portable)(?: de (?:téléphone|telephone"
            rf"|portable))?(?: est| cest)?(?: le)? {_DIGITS}",
        ),
        "pt": (
            r"(?:agendar|marcar|solicitar|pedir|receber|ver|quero|queria|gostaria de|preciso de"
            rf"|queremos|gostaríamos de|gostariamos de|precisamos de) {_PT_WHAT}",
            # "Podem me enviar um orçamento?", "Me mandem uma cotação"
            r"(?:me|nos|pra mim|para mim) (?:enviar|mandar|passar|fazer|enviem|mandem|passem"
            rf"|façam|facam|envie|mande|passe|faça|faca) {_PT_WHAT}",
            # "Me liga, por favor", "Podem me ligar?"
            r"me liga|me ligue|me liguem|me ligar|ligue para mim|liguem para mim|ligar para mim"
            r"|me telefone|me telefonem|me retorne|me retornem",
            r"(?:meu|nosso) (?:número|numero|telefone|celular|whatsapp|zap)(?: de (?:telefone"
            rf"|celular))?(?: é| e)? {_DIGITS}",
        ),
        "it": (
            rf"(?:prenotare|fissare|richiedere|chiedere|ricevere|vedere|avere|vorrei|voglio)"
            rf" {_IT_WHAT}",
            # "Potete inviarmi un preventivo?", "Mi servirebbe un preventivo"
            r"(?:inviarmi|inviarci|mandarmi|mandarci|farmi|farci|inviatemi|mandatemi|fatemi"
            r"|mi inviate|mi mandate|mi fate|ci inviate|ci mandate|mi servirebbe|ci servirebbe"
            r"|mi serve|ci serve|vorremmo|avrei bisogno di|abbiamo bisogno di|ho bisogno di)"
            rf" {_IT_WHAT}",
            r"mi richiami|mi richiamate|richiamatemi|richiamami|mi chiamate|chiamatemi",
        ),
        # Hindi, in Devanagari and in Latin letters: "मुझे डेमो चाहिए", "demo book karna hai",
        # "kya aap demo dikha sakte ho?", "mujhe call karo" ("kya demo lena zaroori hai?" is
        # none: ``need_questions``)
        "hi": _nfkc(
            rf"{_HI_WHAT} (?:चाहिए|चाहिये|चाहता हूं|चाहता हूँ|चाहती हूं|चाहती हूँ|chahiye|chaiye"
            r"|chahie|chahte hai|chahte hain|chahta hu|chahta hoon|chahti hu|chahti hoon)",
            rf"{_HI_WHAT} (?:बुक |शेड्यूल |book |schedule )?(?:करना|करनी|करवाना|करवानी|लेना|लेनी"
            rf"|देखना|देखनी|karna|karni|karwana|karwani|lena|leni|dekhna|dekhni) {_HI_SAY}",
            rf"{_HI_WHAT} (?:दिखा|दे|भेज|बुक कर|dikha|de|bhej|book kar|schedule kar|dila) "
            rf"(?:सकते|सकती|सकता|sakte|sakti|sakta) {_HI_SAY}",
            rf"{_HI_WHAT} (?:दिखाइए|दिखाएं|दिखाओ|दिखा दीजिए|दीजिए|दें|भेजिए|भेजें|भेजो|भेज दीजिए"
            r"|बुक करें|बुक कीजिए|बुक कर दीजिए|dikhao|dikhaiye|dikhayiye|dikha do|dikha dijiye"
            r"|de do|dijiye|bhejo|bhejiye|bhej do|bhej dijiye|book karo|book kijiye|book kariye"
            r"|book kar do|book kar dijiye|milega|mil sakta hai|mil sakti hai)",
            r"(?:मुझे|मुझको|हमें|mujhe|mujhko|muje|hume|humein|hamein) (?:कॉल|फ़ोन|फोन|call|phone"
            r"|fone) (?:करें|करो|कीजिए|कीजिये|कर दीजिए|कर दें|कर दो|कर देना|करना|करिए|karo|kro"
            r"|kariye|kijiye|karein|karen|kar do|kar dena|kar dijiye|karna)",
            # The number inside: "mujhe 9876543210 par call karo", "मुझे ९८७६५४३२१० पर कॉल करें"
            r"(?:मुझे|मुझको|हमें|mujhe|mujhko|muje|hume|humein|hamein) " + _DIGITS + r" (?:पर|पे"
            r"|par|pe) (?:कॉल|फ़ोन|फोन|call|phone|fone) (?:करें|करो|कीजिए|कीजिये|कर दीजिए|कर दें"
            r"|कर दो|कर देना|करना|करिए|karo|kro|kariye|kijiye|karein|karen|kar do|kar dena"
            r"|kar dijiye|karna)",
            r"(?:कॉल|फ़ोन|फोन|call|phone) (?:कीजिए|कीजिये|कर दीजिए|कर देना|कर दें|kar do|kar dena"
            r"|kar dijiye|kijiye|kariye)",
            r"(?:कॉल बैक|call back|callback) (?:चाहिए|कीजिए|करें|कर दीजिए|chahiye|karo|kijiye"
            r"|kar dena|kar dijiye)",
            r"(?:please|pls|plz) call (?:karo|kariye|kijiye|kar do|kar dena|kar dijiye)",
            # A number left: "mera number 9876543210 hai", "मेरा नंबर 98765 43210 है"
            r"(?:मेरा|हमारा|mera|hamara|humara) (?:फोन |फ़ोन |मोबाइल |कॉन्टैक्ट |phone |mobile "
            r"|contact |whatsapp )?(?:नंबर|नम्बर|number|no|num|nambar)(?: है| hai| h)? " + _DIGITS,
        ),
        "ru": (
            # "Хочу заказать демо", "Пришлите коммерческое предложение", "Перезвоните мне"
            r"(?:заказать|запросить|получить|посмотреть|увидеть|назначить|забронировать"
            r"|организовать|провести|хочу|хотим|хотел бы|хотела бы|хотелось бы|покажите"
            r"|пришлите|отправьте|вышлите|сделайте|подготовьте|проведите|нужна|нужно|нужен|нужны)"
            rf"(?: мне| нам)?(?: пожалуйста)?(?: \S+)? {_RU_WHAT}",
            r"перезвоните|перезвони|(?:позвоните|позвони|наберите|набери) (?:мне|нам)"
            r"|свяжитесь со мной|обратн(?:ый|ого) звон(?:ок|ка)",
            rf"(?:мой|наш) (?:номер|телефон|номер телефона|мобильный)(?: телефона)? {_DIGITS}",
        ),
        "ar": (
            # "أريد عرض توضيحي", "أحتاج عرض سعر", "اتصلوا بي"
            r"(?:أريد|اريد|نريد|أحتاج|احتاج|نحتاج|أود|اود|أرغب في|ارغب في|أطلب|اطلب|ممكن|أبغى"
            rf"|ابغى|أبي|ابي|حجز|طلب|احجز|أحجز)(?: \S+)? {_AR_WHAT}",
            # (without "please" or a number, "اتصلوا بي" is as well "they called me")
            r"(?:اتصلوا|اتصل|اتصلي|اتصلو|كلموني|كلمني)(?: بي| علي| عليا| معي)? (?:من فضلك|لو سمحت"
            r"|رجاء|رجاءً|على الرقم|على رقم|على \d+)|(?:أريد|اريد|أطلب|اطلب) (?:مكالمة|اتصالا|اتصال)"
            r"|(?:ممكن|أرجو|ارجو|يرجى|الرجاء|رجاء) (?:الاتصال بي|تتصلوا بي|تتصل بي|اتصلوا بي)",
            rf"(?:رقمي|رقم هاتفي|رقم جوالي|رقم موبايلي|رقم تلفوني)(?: هو)? {_DIGITS}",
        ),
    }
)
"""A demo or a quote asked for, by language."""

# Turned down in German by "kein" before the demo or the quote ("Ich will keine Demo buchen")
# or "nicht" inside ("Ich möchte die Demo nicht buchen"); in the other languages, what turns
# down a request for a person or asks whether one is needed (``human_languages.turned_down``:
# "No quiero una demo", "¿Es necesario pedir una demo?", "Faut-il avoir un devis ?").
_DE_NONE = re.compile(r"(?:^| )(?:kein|keine|keinen|keinerlei)$")
# Had already: "erhalten" and "bekommen" are also the participles, after a form of "haben"
# ("Ich habe das Angebot erhalten, aber ...", "Wir haben Ihr Angebot bekommen").
_DE_HAD = re.compile(
    r"(?:^| )(?:habe|hab|haben|hat|habt|hatte|hatten)(?: (?:ich|wir|sie|er|man))?"
    r"(?: (?:schon|bereits|gestern|heute|jetzt))?(?: (?:das|den|ein|eine|einen|ihr|ihre|ihren"
    r"|euer|mein|meine|unser|unsere|dieses|diesen|dieser))?$"
)
_PARTICIPLES = ("erhalten", "bekommen")
# The shop's offer, not a quote: "das Angebot", "dieses Angebot" ("Kann ich das Angebot für
# Studenten noch bekommen?"); "ein Angebot" is asked for.
_DE_THE = re.compile(r"(?:^| )(?:das|dieses|dies|diese|dem|den)$")
_DE_OFFER = ("angebot", "kostenvoranschlag")
# Asked whether one must, at the start of a clause ("Muss ich ein Angebot anfordern?", "Müssen
# wir vorher eine Demo buchen?"), as "Muss ich mit einem Mitarbeiter sprechen?" asks about a
# person ("Ich muss ein Angebot anfordern" still asks for one): a few words may come between
# it and the demo or the quote, which the German lead starts with.
_DE_ASKED: Checks = (
    (
        {"de": re.compile(r"(?:^|(?<=\s))(?:muss|müssen|mussen) (?:ich|wir|man)(?: \S+){0,4}$")},
        True,
    ),
)


# Chinese and Japanese write no spaces: a phrase anywhere in the run ("我想预约演示", "请给我报价",
# "デモを予約したい", "見積もりをお願いします", "折り返し電話してください").
SALES_UNSPACED = re.compile(
    r"(?:预约|預約|申请|申請|安排|看看|看一下|想看|想要|给我|給我)(?:一下|一个|一個|个|個)?(?:产品|產品)?"
    r"(?:演示|demo)|(?:请|請|麻烦|麻煩|想要|给我|給我|发|發|提供)(?:一下|一个|一份|个|份)?"
    r"(?:报价|報價)|报个价|報個價|询价|詢價"
    # A quote for something named between: "我想要20个许可证的报价", "请给我们...的报价"
    r"|(?:想要|需要|请(?!问)|請(?!問)|给我们|給我們|给我|給我|提供)[^，。？！?!,.、 ]{0,16}?的?"
    r"(?:报价|報價)(?!单|單|有效|包括|包含|是)"
    r"|(?:给我|給我)(?:打|回)(?:个|個|一个|一個)?(?:电话|電話)(?!了|过|過)"
    r"|(?:打|回)(?:个|個)?(?:电话|電話)(?:给我|給我)(?!了|过|過)|(?:请|請|给我|給我)(?:回电|回電)"
    r"|(?:请|請)(?:联系我|聯繫我)"
    r"|デモ(?:を|の)?(?:予約|申し込み|申込み|申込|お願い|見せ|見たい|希望|依頼)"
    r"(?!を?(?:キャンセル|取り消|取消|変更|確認)|の(?:キャンセル|取り消|取消|変更|確認))"
    r"|見積(?:もり|り)?(?:を|の)?(?:お願い|ください|下さい|依頼|希望|欲しい|ほしい|送って|いただけ"
    r"|頂け|もらえ|出して)|(?:折り返し|おりかえし)(?:の)?(?:お)?(?:電話|連絡)"
    r"|(?:お)?電話(?:を)?(?:ください|下さい|して(?:ください|下さい|ほしい|欲しい|もらえ|いただけ)"
    r"|お願い|いただけ|頂け)"
    # A number left: "我的电话是13812345678", "電話番号は090-1234-5678です"
    r"|(?:我的|我)(?:电话|電話|手机|手機|号码|號碼|手机号|手機號)(?:号码|號碼)?(?:是)?(?= ?\d{3})"
    r"|(?:私の)?(?:電話番号|携帯番号|番号)(?:は)(?= ?\d{3})"
)


def sales_asked(text: str, reduced: str) -> re.Match[str] | None:
    """The first demo or quote asked for in ``reduced`` (``text`` reduced by
    ``courtesy.words``) in one of the languages above, not turned down ("No quiero una demo",
    "Ich will keine Demo buchen"), asked about ("¿Es necesario pedir una demo?", "Muss ich ein
    Angebot anfordern?"), the shop's
    offer ("Kann ich das Angebot noch bekommen?") nor had already ("Ich habe das Angebot
    erhalten")."""
    marks: dict[int, str] | None = None  # the pauses, read once for every lead found
    for language, found in SALES_ELSEWHERE.found(reduced):
        if language == "de":
            before = _last_words(reduced[: found.start()].rstrip())
            what = f" {found.group(0)} "
            had = found.group(0).endswith(_PARTICIPLES) and _DE_HAD.search(before)
            the = found.group(0).startswith(_DE_OFFER) and _DE_THE.search(before)
            if _DE_NONE.search(before) or " nicht " in what or had or the:
                continue
        marks = pauses(text) if marks is None else marks
        also = _DE_ASKED if language == "de" else ()
        if not turned_down(reduced, found, language, marks, also):
            return found
    for found in SALES_UNSPACED.finditer(reduced):
        if not unspaced_turned_down(reduced, found, text):
            return found
    return None


def _last_words(head: str) -> str:
    """The whole words of the last 80 characters of ``head``: where what turns a German lead
    down is looked for, so a long message is read once, not once a lead."""
    return head if len(head) <= 80 else head[-80:].partition(" ")[2]
