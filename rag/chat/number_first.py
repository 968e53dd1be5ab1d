"""A phone number typed BEFORE the words giving it as the visitor's, in the languages of
``other_numbers`` ("98765 43210 is my number", "9876543210 is my whatsapp", "612 345 678 es mi
número", "0171 2345678 ist meine Nummer", "06 12 34 56 78, c'est mon portable", "11 91234 5678
é o meu número", "333 123 4567 è il mio numero", "9876543210 mera number hai", "+7 916 123 45
67 — это мой номер", "13812345678是我的手机号", "090-1234-5678が私の電話番号です"): the visitor
leaving their number, as "my number is ..." first is (``lead_phrases``, ``lead_languages``).
Before, such a message was a question with no lead unless the bot had asked for contact
details (a reviewer's finding).

Read only where a number is left (``contact_details.leaves_a_phone``, ``number_left``), which
check the number is the message's one and no order's: no sales lead of its own, so a number
named as another's after these words ("... es mi número de pedido", "... мой номер заказа")
stays a question, as before. A number asked about ("is 9876543210 your number?", "... is your
support number?") or denied ("... is not my number", "... no es mi número", "... nahi hai")
has none of these phrases."""

from __future__ import annotations

import re

from rag.chat.courtesy import Lexicon
from rag.chat.lead_phrases import OWN_NUMBER, PHONE_DIGITS

_N = PHONE_DIGITS

GIVEN_FIRST = Lexicon(
    {
        "en": (
            # "... is my number", "... its my mobile"
            rf"{_N} (?:is|its) (?:my|our) {OWN_NUMBER}",
        ),
        "es": (
            # "... es mi número (de teléfono)", "... este es mi celular"
            rf"{_N}(?: este)? es (?:mi|nuestro) (?:número|numero|teléfono|telefono|celular|móvil"
            r"|movil|whatsapp)(?: de (?:teléfono|telefono|celular))?",
        ),
        "de": (
            # "... ist meine Nummer", "... das ist meine Handynummer"
            rf"{_N}(?: das)? ist (?:meine|unsere) (?:nummer|telefonnummer|handynummer|rufnummer)",
        ),
        "fr": (
            # "... est mon numéro", "..., c'est mon portable"
            rf"{_N} (?:est|cest) (?:mon|notre) (?:numéro|numero|téléphone|telephone|portable)"
            r"(?: de (?:téléphone|telephone|portable))?",
        ),
        "pt": (
            # "... é o meu número", "... é meu celular"
            rf"{_N} (?:é|e) (?:o )?(?:meu|nosso) (?:número|numero|telefone|celular|whatsapp"
            r"|zap)(?: de (?:telefone|celular))?",
        ),
        "it": (
            # "... è il mio numero", "... è il mio cellulare"
            rf"{_N} (?:è|e) (?:il )?(?:mio|nostro) (?:numero|cellulare|telefono)"
            r"(?: di (?:telefono|cellulare))?",
        ),
        "hi": (
            # Its verb last: "... mera number hai", "... मेरा नंबर है"
            rf"{_N} (?:मेरा|हमारा|mera|hamara|humara) (?:फोन |मोबाइल |phone |mobile |whatsapp )?"
            r"(?:नंबर|नम्बर|number|no|num|nambar) (?:है|hai|h)",
        ),
        "ru": (
            # "... — это мой номер", "... мой номер телефона"
            rf"{_N}(?: это)? (?:мой|наш) (?:номер|телефон|номер телефона|мобильный)"
            r"(?: телефона)?",
        ),
    }
)
"""The number first, then the words giving it as the visitor's, by language."""
# Chinese and Japanese write no spaces: "13812345678是我的手机号",
# "090-1234-5678が私の電話番号です".
_UNSPACED = re.compile(
    r"\d ?(?:是|就是)(?:我的|我)(?:电话|電話|手机|手機|号码|號碼)(?:号码|號碼|号|號)?"
    r"|\d ?(?:が|は)(?:(?:私の)?(?:電話番号|携帯番号)|私の(?:携帯|番号))"
)


def given_first(words: str) -> re.Match[str] | None:
    """The phrase of ``words`` (a message reduced by ``courtesy.words``) giving a number as the
    visitor's after it; None for none."""
    return GIVEN_FIRST.pattern.search(words) or _UNSPACED.search(words)
