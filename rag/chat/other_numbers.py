# ruff: noqa: RUF001 (words written in their own scripts)
"""The words that make a number typed in a message another's than the visitor's: an order's, an
invoice's, a ticket's, a parcel's, an account's, a booking's or a reference number, in every
lexicon language ("my order 5779079277 is late", "número de pedido es ...", "Bestellnummer
...", "номер заказа ...", "注文番号は ..."), and which number they name (``named_at``: the
words right before it; ``named_after``: a verb of being and the words right after it,
"5779079277 is my order number", "... ist meine Bestellnummer"). Split from
``contact_details.py`` when it reached 500 lines. A message naming such a number and asking a
call on another ("my order 5779079277 is late, please call me on +91 98765 43210") gives that
other (``contact_details.others_blanked``), and the call's number is found where it was typed,
not where an order's with its digits was (``call_phrases.number_at``)."""

from __future__ import annotations

import re

from rag.chat.courtesy import words as _words

# Words that make a number something else's ("my order number is 98765432", "ticket 1234567",
# "OTP 445566 7"): no lead.
NOT_PHONE_WORDS = frozenset(
    {"order", "invoice", "ticket", "otp", "pin", "code", "tracking", "account", "id", "ref"}
    | {"reference", "receipt", "transaction", "serial", "card", "policy", "awb"}
    # The same in the other lexicon languages, whole words: German, Spanish, French,
    # Portuguese, Italian (account, file, receipt), Hindi in Latin letters (bill, account) and
    # in Devanagari (order, bill, invoice, account, tracking, ticket, receipt, OTP, PIN, ID).
    # "बिल" alone: "बिलकुल" (absolutely) is no bill. A booking is no such word alone
    # (``booking_reference``): a visitor asking to book leaves their own number.
    | {"konto", "cuenta", "orden", "compte", "dossier", "conta", "conto", "pratica"}
    | {"bill", "khata", "ऑर्डर", "आर्डर", "ऑडर", "बिल", "इनवॉइस", "चालान", "खाता", "ट्रैकिंग"}
    | {"टिकट", "रसीद", "ओटीपी", "पिन", "आईडी", "अकाउंट"}
)
# Stems beginning a word that names such a number (compounds: "Bestellnummer",
# "Rechnungsnummer", "Sendungsnummer"; inflections: "заказа", "счёта", "замовлення"), an Italian
# or French article elided before it ("dell'ordine" is "dellordine" once the apostrophe goes).
# Nouns only: the verbs of ordering ("bestellen", "commander", "ordinare", "заказать") come with
# a sales lead's own number, and a "Paket" is also a plan.
NOT_PHONE_STEMS = re.compile(
    r"(?<!\w)(?:l|d|dell|nell|all|sull)?(?:"
    r"bestellnummer|bestellung|rechnung|auftragsnummer|sendung|kundennummer|kundennr"
    r"|kundenkonto|vertragsnummer|buchungs?(?:nummer|nr|code|referenz|bestätigung|bestatigung|id)"
    r"|reservierungs(?:nummer|nr|code|bestätigung|bestatigung)|lieferschein|vorgangsnummer|referenz|beleg|quittung"
    r"|seriennummer|paketnummer|tracking|ticket"
    r"|pedido|factur|seguimiento|rastre|albar|recibo|p[oó]liza|tarjeta|transacci"
    r"|commandes?\b|suivi|colis|billet|re[çc]u\b|contrat|r[ée]f[ée]rence"
    r"|fatura|encomendas?\b|protocolo|boleto|cart[ãa]o"
    r"|ordin[ei]\b|fattur|spedizion|tracciament|ricevuta|bigliett|contratt"
    r"|заказ(?:а|у|ом|е|ы|ов)?\b|сч[её]т|трек|отслеж|накладн|посылк|отправлени|договор"
    r"|билет|квитанц|лицев"
    r"|заявк|тикет|замовлен|рахун|відстеж|посилк|відправлен|догові|квиток)"
)
# The same in the scripts written without spaces between words (Chinese, Japanese) or with
# articles and prepositions joined to the word (Arabic): anywhere in the message. Not 号码 or
# 番号 alone: 电话号码, 電話番号 are phone numbers; nor ordering itself ("注文したい", "物流",
# "الشحن": a sales lead's own number may come with them).
NOT_PHONE_PARTS = (
    "订单", "訂單", "单号", "單號", "运单", "運單", "快递", "快遞", "发票", "發票", "账号",
    "帳號", "账户", "帳戶", "卡号", "卡號", "工单", "工單", "编号", "編號", "序列号", "验证码",
    "驗證碼", "会员号", "會員號", "客户号", "客戶號", "预订号", "預訂號", "身份证",
    "注文番号", "注文id", "注文no", "請求書", "追跡", "伝票", "問い合わせ番号", "問合せ番号",
    "会員番号", "予約番号",
    "受付番号", "口座", "アカウント", "領収書", "契約番号", "顧客番号", "お客様番号", "シリアル",
    "認証コード", "確認コード", "確認番号", "管理番号", "製造番号",
    "الطلب", "طلبي", "طلبية", "فاتور", "تتبع", "شحنة", "الشحنة", "حساب", "تذكر", "إيصال",
    "ايصال", "بوليص",
)  # fmt: skip


# A booking or a reservation, in every lexicon language (whole words once reduced by
# ``courtesy.words``; the Arabic with its article or pronoun joined: "الحجز", "حجزي").
BOOKINGS = frozenset(
    {"booking", "bookings", "reservation", "reservations", "reserva", "reservas", "buchung"}
    | {"reservierung", "réservation", "réservations", "prenotazione", "prenotazioni"}
    | {"бронь", "брони", "бронью", "бронирование", "бронирования", "бронированию"}
    | {"बुकिंग", "حجز", "الحجز", "حجزي", "حجزك", "بالحجز"}
)
# The verbs of booking and reserving ("I'd like to book a table", "reservar una mesa").
TO_BOOK = frozenset(
    {"book", "reserve", "reservar", "buchen", "reservieren", "réserver", "reserver"}
    | {"prenotare", "бронировать", "забронировать", "बुक", "احجز", "أحجز"}
)
# What names a booking's own number or reference beside the word ("booking number",
# "reserva nº", "numéro de réservation", "номер брони", "बुकिंग नंबर", "رقم الحجز"), and the
# words that may stand between such a word and the number ("my booking number is 4432 8871",
# "Buchung Nr. 4432 8871", "prenotazione: 4432 8871"). "de", "di", "da" join a number to the
# booking it is of ("número de reserva"); no possessive does ("una reserva, mi número es ..."
# is the visitor's own number).
REFERENCES = frozenset(
    {"number", "no", "nr", "n", "num", "ref", "reference", "id", "code", "confirmation"}
    | {"nummer", "referenz", "número", "numero", "numéro", "referencia", "référence"}
    | {"referência", "riferimento", "código", "codice", "confirmación", "confirmação"}
    | {"номер", "नंबर", "नम्बर", "رقم"}
)
JOINERS = frozenset({"de", "di", "du", "da", "do", "del", "della", "des", "la", "of", "the"})
LINKS = REFERENCES | {"is", "es", "ist", "est", "lautet", "è", "é", "e", "هو", "है"}
# Where a message's clauses part: a number in another clause than the booking is not its
# ("Quiero una reserva, mi número es 612 345 678"). A full stop after a word of 4 letters or
# more ("tonight."), not after an abbreviation ("Nr. 4432 8871") nor inside a number.
CLAUSES = re.compile(r"[,;!?\n،，。！？、]|(?<=[^\W\d]{4})\.(?=\s)")


# How far before a number its booking word is looked for: the word and what links it to the
# number ("réservation numéro", "my booking number is").
BOOKING_REACH = 100


# Words naming a parcel's or a shipment's number before it ("parcel 5779079277 never arrived"),
# only there: a visitor asking about parcels may leave their own number with no number named.
_PARCELS = frozenset({"parcel", "parcels", "shipment", "consignment"})
# The words that may stand between the word naming a number and the number ("order number
# is", "número de pedido es", "Bestellung Nr.", "my booking reference:"): the links above and
# the possessives ("my order 5779079277", "mi pedido ...", "ma commande ...").
_MY = (
    frozenset({"my", "our", "mi", "mis", "nuestro", "mon", "ma", "mes", "notre", "mein", "meine"})
    | {"meiner", "unsere", "meu", "minha", "nosso", "mio", "mia", "mera", "meri", "मेरा"}
    | {"मेरी", "мой", "моя", "моего", "моей", "мого", "моєї"}
)
_BETWEEN = LINKS | JOINERS | _MY


def named_at(text: str, start: int) -> int | None:
    """Where the words naming the number typed at ``start`` in ``text`` as another's begin: the
    last word before it in its clause, past the words between (``_BETWEEN``), is an order's, an
    invoice's, a parcel's, an account's, a booking's or a reference's ("my order 5779079277",
    "invoice no. ...", "Mi número de pedido es ...", "Meine Bestellung ...", "Ma commande ...",
    "注文番号は ..."); None for a number not named so ("call me on ...", "my number is ...",
    and past an order's word: "5779079277 is my order number my number is ...", which before
    made the visitor's number the order's, and the order's their contact phone)."""
    reach = max(0, start - BOOKING_REACH)
    ends = [m.end() for m in CLAUSES.finditer(text, reach, start)]
    begin = ends[-1] if ends else reach
    tokens = list(re.finditer(r"\S+", text[begin:start]))
    if begin == reach and reach:
        tokens = tokens[1:]  # (the first may be cut: not read)
    then = ""  # the word after the one read
    for token in reversed(tokens):
        # Of a token holding digits, what follows them: Chinese and Japanese write no spaces
        # ("订单5779079277还没到请打电话给我 ...": the call's words, not the order's).
        after = re.split(r"\d", token[0])[-1]
        said = _words(after if after.strip() else token[0]).split()
        # (a reference's word links a booking to its number, and alone names one: "ref ...")
        while said and said[-1] in _BETWEEN and not names_a_number(said[-1]):
            if said[-1] in _MY and then in REFERENCES:
                return None  # "... order number my number is ...": the visitor's own
            then = said.pop()
        if said:
            return begin + token.start() if names_a_number(said[-1]) else None
    return None


# The words saying what a number is, right after it ("5779079277 is my order number", "... es
# mi número de pedido", "... ist die Rechnungsnummer", "... est ma commande", "... è il mio
# ordine", "... — это номер заказа"): a verb of being, or a dash.
_IS = frozenset({"is", "was", "es", "era", "ist", "war", "est", "était", "é", "è", "это", "це"})
_DASHES = frozenset({"-", "–", "—", ":"})
# The articles a name may take after that verb ("the invoice", "die Rechnungsnummer", "el
# pedido", "le numéro", "il mio ordine", "o meu pedido").
_ARTICLES = frozenset(
    {"the", "a", "an", "el", "la", "le", "les", "der", "die", "das", "il", "lo", "o", "um"}
    | {"uma", "un", "una", "une"}
)
# Hindi says it last: "5779079277 mera order number hai".
_HINDI_IS = frozenset({"hai", "h", "है"})
# After a number, in the unspaced scripts, the verb of being before the name ("5779079277是我
# 的订单号", "5779079277は注文番号です").
_UNSPACED_IS = ("是", "为", "為", "は", "が")


def named_after(text: str, end: int) -> int | None:
    """Where the words naming the number typed up to ``end`` in ``text`` as another's end, when
    they follow it in its clause: a verb of being (``_IS``, a dash) then the name past the words
    between (``_BETWEEN``, articles): "5779079277 is my order number", "... is the invoice",
    "... es mi número de pedido", "... ist meine Bestellnummer", "... est ma commande",
    "...是我的订单号", "...は注文番号です", "... mera order number hai". None for a number not
    named so ("98765 43210 is my number", "... is the number on my account"), and where the
    clause goes on to a number the words name ("... - my order 5779079277 is late": that
    one's); a number they do not name is where the clause ends ("5779079277 is my order number
    my number is 98765 43210", unpunctuated: the first is the order's)."""
    closing = CLAUSES.search(text, end, end + BOOKING_REACH)
    stop = closing.start() if closing else min(len(text), end + BOOKING_REACH)
    digit = next((at for at in range(end, stop) if text[at].isdigit()), None)
    if digit is not None:
        # The clause goes on to another number: the words before it name that one, or none.
        if named_at(text, digit) is not None:
            return None
        stop = digit
    tail = text[end:stop]
    if tail.lstrip().startswith(_UNSPACED_IS):
        return stop if any(part in tail for part in NOT_PHONE_PARTS) else None
    said = [
        (token.end(), word)
        for token in re.finditer(r"\S+", tail)
        for word in (_words(token[0]).split() or [token[0]])
    ]
    if not said:
        return None
    first, last = said[0][1], said[-1][1]
    if not (first in _IS or first in _DASHES or (first in _BETWEEN and last in _HINDI_IS)):
        return None
    for i, (_, word) in enumerate(said[1:], 1):
        if names_a_number(word):
            # (with the name's own words after it: "order number", "Bestellung Nr.")
            while i + 1 < len(said) and (
                said[i + 1][1] in REFERENCES or names_a_number(said[i + 1][1])
            ):
                i += 1
            return end + said[i][0]
        if word not in _BETWEEN and word not in _ARTICLES and word not in _IS:
            return None  # (_IS: "— это номер заказа")
    return None


def named_span(text: str, start: int, end: int) -> tuple[int, int] | None:
    """The span of the number typed at ``start``:``end`` in ``text`` with the words naming it as
    another's, before it (``named_at``) or after it (``named_after``); None for a number not
    named so."""
    before = named_at(text, start)
    if before is not None:
        return before, end
    after = named_after(text, end)
    return None if after is None else (start, after)


def names_a_number(word: str) -> bool:
    """Whether ``word`` (reduced by ``courtesy.words``) names another's number when it comes
    right before one: an order, an invoice, a ticket, a parcel, an account, a booking..."""
    return (
        word in NOT_PHONE_WORDS
        or word in BOOKINGS
        or word in _PARCELS
        or NOT_PHONE_STEMS.search(word) is not None
        or any(part in word for part in NOT_PHONE_PARTS)
    )
