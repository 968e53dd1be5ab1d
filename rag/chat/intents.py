"""Fast intent detection without any LLM: a lexicon plus word-bounded regular expressions.

Courtesy intents (greeting, thanks, goodbye) win only when the message is *nothing but* courtesy:
the courtesy phrases and a few filler words are removed, and whatever content is left makes the
message a question ("hi, how do I reset my password?" is a question). Requests for a human and
sales leads are recognised anywhere in the message; a person named as a feature ("do you offer
human support?", "is there human review?") or someone else's people ("people in my workspace")
make no request for a human (the English lexicon is ``rag.chat.human_requests``); a visitor
asking whether a bot answers ("are you a bot?", "am I talking to a human?") is no request for one
(``bot_identity``: ``rag.chat.bot_identity``). Requests for
a person in other languages (German, Spanish, French, Portuguese, Italian, Hindi and a few
more) are ``rag.chat.human_languages``', and sales leads in them (a demo, a quote, a call back)
``rag.chat.lead_languages``'; the other intents' lexicons are English.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from rag.chat.bot_identity import asks_only_if_a_bot, identity_then_question
from rag.chat.call_requests import COMPLAINT_WORDS, beside_the_call, call_asked, without_callback
from rag.chat.contact_beside import contact_beside, without_contact
from rag.chat.contact_details import (
    EMAIL_IN_TEXT,
    PHONE_IN_TEXT,
    leaves_a_phone,
    leaves_an_address,
    number_withheld,
)
from rag.chat.courtesy import (
    ACKNOWLEDGEMENTS,
    ASKING_GREETING_ALONE,
    DECLINING,
    FILLER,
    GOODBYE,
    GREETING,
    GREETING_EMOJI,
    QUESTION_STARTERS,
    THANKS,
    THANKS_EMOJI,
    has_question_mark,
    phrases,
)
from rag.chat.courtesy import words as _words
from rag.chat.details_withheld import data_erasure_asked, removal_asked
from rag.chat.human_languages import (
    HUMAN_WORD_ALONE,
    HUMAN_WORD_WITH_PLEASE,
    PLEASE,
    asks_for_a_person,
)
from rag.chat.human_requests import (
    HUMAN_ALONE,
    asks_for_human,
    declines_a_person_only,
)
from rag.chat.lead_languages import sales_asked
from rag.chat.lead_phrases import LEAD, SALES, first_asked
from rag.chat.normalize import stem
from rag.chat.problems import states_a_problem
from workspaces.widget_texts import TEXT_FIELDS

Intent = Literal[
    "greeting",
    "thanks",
    "goodbye",
    "human",
    "lead",
    "contact",
    "unclear",
    "bot_identity",
    "question",
    "erasure",
]
COURTESY: tuple[Intent, ...] = ("greeting", "thanks", "goodbye")
NEVER_UNANSWERED: tuple[Intent, ...] = (*COURTESY, "contact", "unclear", "bot_identity")
"""Intents whose canned answer is no "I don't know" (analytics' answer rate leaves them out)."""
NOT_QUESTIONS: tuple[Intent, ...] = (
    *COURTESY,
    "human",
    "contact",
    "unclear",
    "bot_identity",
    "erasure",
)
"""Intents answered without retrieval: no question embedded, no FAQ looked up, no model."""


def question_of(message: str, intent: Intent) -> str:
    """What to answer of a question: the message, or, when it starts by asking whether a bot
    answers ("are you a bot? what are your opening hours?"), the question after it (the
    answer then says what the bot is first: ``stages.Turn.asked_identity``); an address left
    after it ("are you a bot? jane@example.com") likewise (its thanks follow the reply). A
    call asked on a number beside the question is left out (``without_callback``): the number
    goes on a lead, the question is what the FAQs, the cache and the model answer; so is an
    address or a number left beside it (``contact_beside``: "my email is ..., how do I ...?")."""
    if intent in NOT_QUESTIONS and intent != "contact":
        return message
    question = identity_then_question(message) or message
    return question if intent == "contact" else without_contact(without_callback(question))


def asks_identity_first(message: str, intent: Intent) -> bool:
    """The message asks whether a bot answers before its question (``question_of``)."""
    if intent in NOT_QUESTIONS and intent != "contact":
        return False
    return identity_then_question(message) is not None


@dataclass(frozen=True, slots=True)
class IntentResult:
    intent: Intent
    confidence: float


def _strip(pattern: re.Pattern[str], text: str) -> tuple[str, list[str]]:
    found = [m.group(0) for m in pattern.finditer(text)]
    return " ".join(pattern.sub(" ", text).split()), found


# Words of a request, not anybody's name: "perfect, cancel", "ok so refund", "pay later" ask
# for something (a reviewer's finding: they got "You're welcome!" or "Have a great day!").
_REQUEST_WORDS = (
    "cancel cancellation refund return exchange pay payment paid order ship shipping shipment "
    "deliver delivery track tracking account password login signin signup register invoice "
    "receipt bill billing charge card plan subscription subscribe unsubscribe renew renewal "
    "upgrade downgrade trial price cost fee discount coupon promo delete remove reset change "
    "update install setup download warranty repair broken error bug issue problem booking "
    "appointment reschedule status address email phone contact stock size"
)
_REQUEST_STEMS = frozenset(stem(word) for word in _REQUEST_WORDS.split())
# Greetings that are questions ("hi, how are you?"): courtesy though they end in "?".
_ASKING_GREETING = phrases(
    r"how (?:are|r) (?:you|u|ya)", r"how (?:is|s) it going", r"hows it going", r"whats? up"
)
_WORD_IN_TEXT = re.compile(r"\w+")


def _latin(word: str) -> bool:
    letters = [ch for ch in word if ch.isalpha()]
    return bool(letters) and all(unicodedata.name(ch, "").startswith("LATIN") for ch in letters)


def _addressee(text: str, word: str) -> bool:
    """The one word left beside courtesy names whom it greets or thanks ("hi bob", "thanks
    tina"): any Latin-script word but a request's, or even a request's word written as a name,
    capitalized inside a sentence ("Thanks, Bill"). A word of another script is taken for
    content ("你好 退款", "مرحبا الأسعار"): the request words are English, so a name cannot be
    told from a question there, and a question taken for courtesy is never answered nor listed
    as unanswered, while a name taken for a question costs only a reply other than "Hi!"."""
    if not _latin(word):
        return False
    if stem(word) not in _REQUEST_STEMS:
        return True
    for found in _WORD_IN_TEXT.finditer(text):
        if found.group(0).casefold() == word and found.group(0)[0].isupper():
            before = text[: found.start()].rstrip()
            if before and before[-1] not in ".!?":
                return True
    return False


def _wordless(text: str) -> IntentResult:
    """A message without a word: "👍", "🙏🏽" and the like thank (as "ok" does, not surely), "👋"
    greets; a sign asked about ("🍕?") is a question; anything else ("😡", "🤔", "???") is
    ``unclear``: the visitor is asked what they need, and no question goes on the owner's
    Unanswered page (a tester's finding: "😡" got "I don't know" and was listed there)."""
    signs = {
        ch
        for ch in set(text)  # each distinct character once: "?" x 4,000 costs what "?" does
        if not ch.isspace()
        and unicodedata.category(ch)[0] not in "PMC"
        and ch not in "\ufe0f"
        and not "\U0001f3fb" <= ch <= "\U0001f3ff"
    }
    if signs and signs <= THANKS_EMOJI | GREETING_EMOJI:
        return IntentResult("thanks" if signs & THANKS_EMOJI else "greeting", 0.6)
    if signs and has_question_mark(text):
        return IntentResult("question", 0.0)
    return IntentResult("unclear", 0.8)


def detect_intent(text: str, *, bot_name: str | None = None) -> IntentResult:
    """Classify a visitor message without any model call.

    Confidence is 0.9-0.97 for unambiguous short messages, lower when the rule is weaker (a bare
    acknowledgement such as "ok", a pricing word inside a long sentence, a one-word question).
    """
    words = _words(text)
    if not words:
        return _wordless(text)
    if erasure_asked(text):
        # "98765 43210 is my number, delete it", "please delete my email jo@...": no lead,
        # handed to the team, who can erase it (``shortcuts.handoff``).
        return IntentResult("erasure", 0.9)
    beside = contact_beside(text)
    if beside is not None:
        # "hi, my email is jo@example.com, how do I upload a document?": the address is taken
        # (``shortcuts.callback``) and the question read as if asked alone.
        asked = detect_intent(beside.question, bot_name=bot_name)
        if asked.intent in ("question", "lead", "human"):
            return asked
    asks = has_question_mark(text)
    if not asks and leaves_an_address(text):
        # "my email is jane@example.com", "contact me at ...": what the bot asked for after
        # "I don't know" or a request for a human; the team gets it as a lead.
        return IntentResult("contact", 0.95)
    # "my order is late, please call me on ...", "the app crashes, call me on ...": the number
    # is taken (``stages.Turn.callback``) and what is wrong answered; the call asked is no sales
    # lead; however short, a complaint that states a problem is no number merely left.
    # (``call_requests.complains_beside_a_call``, ``asks_only_a_call``: the words beside the
    # call are counted once)
    own = beside_the_call(text, words)
    complaint = own is not None and own >= COMPLAINT_WORDS
    if not asks and leaves_a_phone(text) and not (complaint and states_a_problem(text, words)):
        # "call me on +91 98765 43210", "mera number 98765 43210 hai": a lead by its number.
        return IntentResult("contact", 0.9)
    if own is not None and not complaint:
        # The same call asked politely or as a question ("Could you call me back on ...?",
        # "Können Sie mich unter ... zurückrufen?", "Potete richiamarmi al ...?"): a number
        # left as "call me on ..." is, thanked and promised the call; no sales lead.
        return IntentResult("contact", 0.9)
    n_words = len(words.split())

    if asks_only_if_a_bot(text):
        # "am I talking to a human?", "are you a bot?": told it is one; no hand-off.
        return IntentResult("bot_identity", 0.9)
    after = identity_then_question(text)
    if after is not None and not has_question_mark(after) and leaves_an_address(after):
        # "Are you a bot? jane@example.com": told what the bot is, and the address taken.
        return IntentResult("contact", 0.9)
    if declines_a_person_only(text):
        # "I don't want to talk to a human" and nothing more: invited to ask, as a greeting is.
        return IntentResult("greeting", 0.6)
    if asks_for_human(text) or asks_for_a_person(text):
        return IntentResult("human", 0.93 if n_words <= 12 else 0.8)

    # A call asked on a number beside an order or a booking asked as a question ("I want to
    # order 50 units, can you call me on ...?"): a sales lead, its number on the lead
    # (``shortcuts.callback``).
    lead = (
        None
        if complaint
        else first_asked(LEAD, words) or sales_asked(text, words) or call_asked(text, words)
    )
    if lead is not None and (
        removal_asked(text) or (PHONE_IN_TEXT.search(lead.group(0)) and number_withheld(text))
    ):
        # "please delete my number ...", "请删除我的手机号...", "what's my number 9876543210":
        # no number left (``contact_details.number_withheld``), so no sales lead either.
        lead = None

    # Remove courtesy phrases, then filler words and the bot's own name; what remains is content.
    rest, goodbyes = _strip(GOODBYE, words)
    rest, thanks = _strip(THANKS, rest)
    rest, greetings = _strip(GREETING, rest)
    name_words = set(_words(bot_name).split()) if bot_name else set()
    leftover = [w for w in rest.split() if w not in FILLER and w not in name_words]
    leftover_text = " ".join(leftover)
    if ASKING_GREETING_ALONE.fullmatch(leftover_text):
        # "как вы?", "привет, как ты": how are you, and nothing more.
        greetings, leftover, leftover_text = [*greetings, leftover_text], [], ""

    only_no = False
    if leftover and set(leftover) <= DECLINING:
        # "no", "nope", "no thanks, I'm good": nothing more to ask (a bare "no", not surely).
        only_no = not (goodbyes or thanks or greetings)
        goodbyes, leftover, leftover_text = [*goodbyes, *leftover], [], ""
    alone = " ".join(PLEASE.sub(" ", leftover_text).split())
    pleased = alone != leftover_text and alone in HUMAN_WORD_WITH_PLEASE  # "persona por favor"
    if alone in HUMAN_ALONE or alone in HUMAN_WORD_ALONE or pleased:
        return IntentResult("human", 0.85)

    if lead:
        # "pricing" / "book a demo" alone is a clear lead; inside a long question less so.
        lead_words = len(lead.group(0).split())
        content = max(len(leftover), 1)
        confidence = 0.92 if content <= lead_words + 3 else 0.7
        return IntentResult("lead", confidence)

    if goodbyes or thanks or greetings:
        if asks and (goodbyes or thanks) and not _ASKING_GREETING.search(words):
            # "later today?", "ok, refund?": a question, whatever courtesy it holds.
            return IntentResult("question", 0.9 if leftover else 0.55)
        if not leftover:
            acknowledgement_only = (
                not goodbyes and not greetings and set(thanks) <= ACKNOWLEDGEMENTS
            )
            if goodbyes:
                intent: Intent = "goodbye"
            elif thanks:
                intent = "thanks"
            else:
                intent = "greeting"
            kinds = sum(1 for found in (goodbyes, thanks, greetings) if found)
            if acknowledgement_only or only_no:
                confidence = 0.6
            elif kinds > 1:
                confidence = 0.85
            else:
                confidence = 0.97 if n_words <= 4 else 0.9
            return IntentResult(intent, confidence)
        if (
            len(leftover) == 1
            and not asks
            and leftover[0] not in QUESTION_STARTERS
            and _addressee(text, leftover[0])
        ):
            # "hi bob", "thanks tina": most likely still courtesy, but not certain.
            intent = "goodbye" if goodbyes else "thanks" if thanks else "greeting"
            return IntentResult(intent, 0.6)
        return IntentResult("question", 0.9 if asks or leftover[0] in QUESTION_STARTERS else 0.75)

    if asks or words.split()[0] in QUESTION_STARTERS:
        return IntentResult("question", 0.9)
    return IntentResult("question", 0.75 if n_words >= 3 else 0.55)


def erasure_asked(text: str) -> bool:
    """A visitor typing their number or address with its removal asked ("98765 43210 is my
    number, delete it", "please delete my email jo@example.com", "borra mi número ...",
    ``details_withheld.removal_asked``), or asking to erase their data typing none ("please
    delete my data", "forget me", ``details_withheld.data_erasure_asked``; not "how do I
    delete my account?"): intent ``erasure``, no lead, no question for the knowledge. The chat
    cannot erase; the team can, and the conversation is handed to them."""
    if detail_typed(text):
        return removal_asked(text)
    return data_erasure_asked(text)


def detail_typed(text: str) -> bool:
    """Whether ``text`` holds an email address or a phone number."""
    return (EMAIL_IN_TEXT.search(text) or PHONE_IN_TEXT.search(text)) is not None


def price_question(text: str) -> bool:
    """A lead that only asks what something costs ("How much does shipping to Germany cost?"),
    asking for no quote, demo, sales or purchase: answered from the knowledge, it needs no
    contact form (a reviewer's finding: the form slid in under the cited answer)."""
    words = _words(text)
    if not first_asked(LEAD, words):
        return False
    # A sales lead in another language around an English price word ("hamari team ke liye
    # pricing kya hai?": pricing for the visitor's team) asks for more than a price.
    return not (first_asked(SALES, words) or sales_asked(text, words))


def is_sales_lead(intent: str | None, message: str) -> bool:
    """A message of intent ``lead`` asking more than a price ("book a demo", "get a quote"):
    the team answers it (the contact form, the Unanswered page leaves it out). A number left
    beside a price asked ("my number is ... What does the Pro plan cost?") asks the price."""
    return intent == "lead" and not price_question(without_contact(message))


UNCLEAR_REPLY = TEXT_FIELDS["unclear_reply"].default
"""The reply to a message without a word that is no courtesy ("😡", "???")."""
NO_CONTACT_HINT = "To reach the team, please use the contact details on this website."
"""Where a bot whose owner collects no contact details (lead capture "Never") sends a visitor
who wants the team."""


def persona_reply(
    intent: Intent | Literal["contact_test"],
    bot_name: str,
    greeting: str | None = None,
    *,
    offer_contact: bool = True,
    address_left: bool = False,
    hint: str | None = None,
    by_phone: bool = False,
) -> str:
    """Canned answer for intents that need no retrieval.

    ``greeting`` is the workspace's configured welcome message, used for the greeting intent.
    ``offer_contact``: the owner lets the bot ask for contact details; with lead capture
    "Never" it asks for none, and an address typed into the chat is not taken.
    ``address_left``: the visitor left their email address (or phone number) in this
    conversation: a request for a person or a sales lead asks for it no more. ``hint``: the
    owner's words for where to reach the team (a sales lead's reply under lead capture
    "Never"). ``by_phone``: the contact left is a phone number (the team will call, not email).
    """
    name = bot_name.strip() or "the assistant"
    if intent == "unclear":
        return UNCLEAR_REPLY
    if intent == "bot_identity":  # TEXT_FIELDS["bot_identity_reply"].default, with the name
        return (
            f"I'm an automated assistant for {name}. If you'd like a person from the team, "
            "just say so."
        )
    if intent == "greeting":
        if greeting and greeting.strip():
            return greeting.strip()
        return f"Hi! I'm {name}. How can I help you today?"
    if intent == "thanks":
        return TEXT_FIELDS["thanks_reply"].default
    if intent == "goodbye":  # TEXT_FIELDS["goodbye_reply"].default, with the bot's name
        return f"Thanks for chatting with {name}. Have a great day!"
    if intent == "human":
        if not offer_contact:
            return (
                "I'm an automated assistant, so I can't connect you with a person in this chat. "
                f"I've noted your request for the team. {NO_CONTACT_HINT}"
            )
        if address_left:
            return (
                "I'm an automated assistant, but I've asked a person from the team to follow "
                "up: they will get back to you using the contact details you left."
            )
        return (
            "I'm an automated assistant, but I can get a person from the team to follow up. "
            "Please leave your email address, and someone will get back to you."
        )
    if intent == "lead":  # a sales lead the knowledge says nothing about (``stages.retrieve``)
        offer = "I'd be happy to connect you with our team about plans, pricing or a demo."
        if address_left:
            left = "They can see your request and follow up using the contact details you left."
            return f"{offer} {left}"
        if not offer_contact:
            return f"I can't arrange a demo, a quote or a purchase here. {hint or NO_CONTACT_HINT}"
        return f"{offer} Please leave your email address and someone will get back to you shortly."
    declined = (
        "Thanks, but this chat doesn't collect contact details, so your details were not passed "
        f"on. {NO_CONTACT_HINT}"
    )
    if intent == "contact":
        if not offer_contact:
            return declined
        reach = "call" if by_phone else "email"
        return f"Thank you! I've passed your message on; someone from the team will {reach} you."
    if intent == "contact_test":  # the workspace's own people trying the bot: no lead is made
        if not offer_contact:
            return (
                "Lead capture is set to Never: a visitor who types their email address here "
                f"becomes no lead and gets: {declined}"
            )
        return (
            "A visitor who types their email address here becomes a lead and gets: Thank you! "
            "I've passed your message on; someone from the team will email you."
        )
    raise ValueError(f"no canned reply for intent {intent!r}")


__all__ = ["Intent", "IntentResult", "detect_intent", "persona_reply", "price_question"]
