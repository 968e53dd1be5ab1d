"""The stages that settle a turn before retrieval, each an ``Answer`` or None (not theirs to
answer): ``courtesy``, ``handoff`` (a request for a person), ``contact`` (contact details typed
into the chat), ``faq_exact``, ``cache_exact``, ``faq_semantic`` and ``cache_semantic``. The
turn, the answer and the recording of the message are in ``rag.chat.stages``."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Literal, cast

from sqlalchemy.ext.asyncio import AsyncSession

from core.db import Database
from core.direct import Executor
from rag.chat import faq as faq_service
from rag.chat import notify, session_locks
from rag.chat.cache import CacheHit, ResponseCache
from rag.chat.contact_beside import contact_beside
from rag.chat.contact_details import (
    EMAIL_IN_TEXT,
    PHONE_IN_TEXT,
    callback_number,
    contact_email,
    contact_phone,
    number_left,
)
from rag.chat.contact_names import NAME_REPLY, given_name, name_before, name_in_conversation
from rag.chat.intents import COURTESY, NO_CONTACT_HINT, detail_typed, persona_reply
from rag.chat.links import safe_links
from rag.chat.normalize import normalize_question
from rag.chat.reply_language import Language, conversation_language
from rag.chat.repository import conversations as conversation_repo
from rag.chat.stages import Answer, Turn
from rag.chat.translations import Reply, erasure_reply, translated, unavailable_reply
from workspaces import leads, notifications
from workspaces.widget_texts import with_bot_name, with_email


def courtesy(turn: Turn) -> Answer | None:
    """Greetings, thanks and goodbyes get the persona's reply: the owner's greeting, and their
    replies to thanks and goodbyes (widget settings' ``texts``), first. A message without a
    word that is no courtesy ("😡", "???") is asked what the visitor needs. Asked whether a bot
    answers ("are you a bot?"), the bot says it is one (the owner's ``bot_identity_reply``
    first): no hand-off, nothing unanswered. Without the owner's text (or greeting), a reply is in
    the visitor's language where it has a translation (``rag.chat.translations``)."""
    if turn.intent == "unclear":
        reply = turn.text("unclear_reply") or translated("unclear", _language(turn))
        return Answer(reply or persona_reply("unclear", turn.bot_name), "fallback")
    if turn.intent == "bot_identity":
        return Answer(identity_reply(turn), "fallback")
    if turn.intent not in COURTESY:
        return None
    own = {"thanks": "thanks_reply", "goodbye": "goodbye_reply"}.get(turn.intent)
    if own is not None and (reply := turn.text(own)):  # type: ignore[arg-type]
        return Answer(with_bot_name(reply, turn.bot_name), "fallback")
    greeting = (turn.workspace.widget_config or {}).get("greeting")
    owners_greeting = turn.intent == "greeting" and isinstance(greeting, str) and greeting.strip()
    language = None if owners_greeting else _language(turn)
    if own_language := translated(cast(Reply, turn.intent), language, name=turn.bot_name):
        return Answer(own_language, "fallback")
    return Answer(persona_reply(turn.intent, turn.bot_name, greeting), "fallback")


async def handoff(session: AsyncSession, turn: Turn) -> Answer | None:
    """A request for a human: the conversation is handed off and the owner's webhook told (by
    the try that recorded the message: a resumed turn only answers). One
    ``conversation.handoff`` delivery per hand-off: a conversation already handed off is not
    announced again for each further request (the visitor gets the same reply); one the team
    opened or closed again since is. A removal of the visitor's details asked (intent
    ``erasure``: "98765 43210 is my number, delete it") is handed off so too, the request marked
    ``erasure`` for the owner (the mail says so), and answered with ``erasure_reply``: the chat
    kept no contact, the business can erase; no contact details asked for."""
    if turn.intent not in ("human", "erasure"):
        return None
    erasure = turn.intent == "erasure"
    typed = erasure and detail_typed(turn.message)
    reply = _erasure_reply(turn, typed=typed) if erasure else _handoff_reply(turn)
    if turn.resumed:
        return Answer(reply, "handoff")
    handed_off = await conversation_repo.set_conversation_status(
        session,
        workspace_id=turn.workspace.id,
        conversation_id=turn.conversation_id,
        status="handoff",
    )
    key = str(turn.conversation_id)
    data: dict[str, object] = {"conversation_id": key}
    if erasure:
        # A data-protection request: the owner is told of it even in a conversation handed
        # off already (a person asked for first), once per conversation and kind (a detail
        # typed or none), so asking again sends nothing more.
        key += ":erasure:detail" if typed else ":erasure:data"
        data |= {"erasure": True, "typed": typed}
    told = await notifications.emit(session, turn.workspace.id, "handoff.requested", key, data)
    delivery = None
    if handed_off or (erasure and told):
        delivery = await notify.enqueue(
            session,
            turn.workspace,
            "conversation.handoff",
            {
                "conversation_id": str(turn.conversation_id),
                "session_id": turn.session_id,
                "message": turn.message,
                "reason": "erasure" if erasure else "person",
            },
        )
    return Answer(reply, "handoff", handoff_delivery=delivery)


def _handoff_reply(turn: Turn) -> str:
    """The owner's hand-off reply (widget settings' ``texts.handoff``), else the default."""
    return turn.text("handoff") or _persona(turn, "human", address_left=turn.lead_given)


def _erasure_reply(turn: Turn, *, typed: bool) -> str:
    """The reply to a removal of the visitor's details asked, in their language, with the
    owner's words for where to reach the team (``no_contact_hint``) when they wrote them. Not
    the owner's hand-off text, which may ask for an address. ``typed``: the message holds the
    detail (the reply says it was not saved)."""
    return erasure_reply(_language(turn), turn.text("no_contact_hint"), typed=typed)


def _language(turn: Turn) -> Language | None:
    """The visitor's language for a canned reply: the message's, else the conversation's."""
    return conversation_language(turn.message, turn.history)


def identity_reply(turn: Turn) -> str:
    """What the bot says asked whether a bot answers: the owner's ``bot_identity_reply``, else
    the default in the visitor's language (English without a translation)."""
    if own := turn.text("bot_identity_reply"):
        return with_bot_name(own, turn.bot_name)
    name = turn.bot_name.strip() or "the assistant"
    own_language = translated("bot_identity", _language(turn), name=name)
    return own_language or persona_reply("bot_identity", turn.bot_name)


def unavailable(turn: Turn) -> str:
    """What a visitor gets when the model failed: the owner's ``unavailable`` text, else the
    default in the visitor's language."""
    own = turn.text("unavailable")
    return own or unavailable_reply(_language(turn), offer_contact=turn.offers_contact)


def disclosure(turn: Turn) -> str:
    """What an answer starts with when the visitor asked whether a bot answers before their
    question ("are you a bot? what are your opening hours?"): the reply to that, then the
    answer; when they asked to be called back on a number beside it, or left their address
    or number (``callback``): the call or the mail promised (or, under lead capture "Never",
    their details not passed on). Empty for any other message."""
    told = identity_reply(turn) + "\n\n" if turn.asked_identity else ""
    if turn.callback == "saved":
        told += _thanks(turn, *_left_beside(turn.message)) + "\n\n"
    elif turn.callback == "declined":
        told += _persona(turn, "contact") + "\n\n"
    return told


def _persona(
    turn: Turn,
    intent: Literal["human", "contact", "contact_test"],
    *,
    address_left: bool = False,
) -> str:
    """The persona's reply, with the owner's words for where to reach the team
    (``no_contact_hint``) when their bot asks for no contact details (lead capture "Never"), in
    the visitor's language where it has a translation (the owner's hint as they wrote it)."""
    offer = turn.asks_for_contact
    language = None if intent == "contact_test" else _language(turn)
    hint = None if offer else turn.text("no_contact_hint")
    hint = hint or translated("no_contact_hint", language)
    if intent == "human":
        key: Reply = (
            "human_no_contact" if not offer else "human_address_left" if address_left else "human"
        )
    else:
        key = "contact_declined"
    own_language = translated(key, language) if intent == "human" or not offer else None
    if own_language is not None:
        return f"{own_language} {hint}" if not offer else own_language
    reply = persona_reply(intent, turn.bot_name, offer_contact=offer, address_left=address_left)
    return reply.replace(NO_CONTACT_HINT, hint) if hint else reply


async def contact(session: AsyncSession, turn: Turn) -> Answer | None:
    """A visitor typed their email address (or, without one, left their phone number): it
    becomes a lead (or a submission to the known lead), linked to the conversation, as the
    widget's contact form does; the owner's own test chats leave no lead, and neither does any
    chat when lead capture is "Never" (the visitor is told their details were not passed on).
    Courtesy: no "I don't know" to someone answering the bot's request."""
    if turn.intent != "contact":
        return None
    email = contact_email(turn.message)
    # The phone number they left: without an address, the one number ("call me on +91 98765
    # 43210", or a number alone where the bot asked); beside one, a number left as theirs.
    phone = contact_phone(turn.message) if email is None else number_left(turn.message)
    if email is None and phone is None:
        if given_name(turn.message) is None:
            return None
        # Their name where the bot asked for contact details: thanked, asked for the address
        # the team needs (the form still offered), and not left as a question.
        reply = translated("name_given", _language(turn)) or NAME_REPLY
        return Answer(reply, "fallback", lead_capture=turn.offers_contact)
    if turn.channel != "widget":
        return Answer(_persona(turn, "contact_test"), "fallback")
    if not turn.asks_for_contact:
        return Answer(_persona(turn, "contact"), "fallback")
    await _save_contact(session, turn, email, phone)
    return Answer(_thanks(turn, email, phone), "fallback", lead_saved=True)


class ErasureRunning(Exception):
    """A turn's message may hold an address or a number and an erasure of its workspace runs
    (``wait_for_erasure``): its transaction is rolled back, and the turn waits for the erasure
    out of its gate slot (``after_erasure``), then starts again."""


async def wait_for_erasure(
    session: AsyncSession, workspace_id: uuid.UUID, message: str, *, opens_in: str | None = None
) -> None:
    """First in a turn's transaction, before its conversation is read or locked: a message
    that may hold an address or a phone number (what ``contact`` and ``callback`` save, and
    what an erasure by email or phone reads in messages) takes the lock a running erasure of
    the workspace holds (``leads.wait_for_erasure``, as a widget form does), or, while one
    runs, raises ``ErasureRunning``. Typed in a new conversation, it took no lock of the
    erasure's and committed before it, after its last read: the conversation and the lead made
    of it escaped the erasure (a number on the visitor's lead being deleted failed: 500). Now
    it is a new conversation after the erasure. Taken before the conversation (then the number,
    then the lead), it never waits holding what the erasure locks; other messages do not wait.
    Never waited for here: the turn holds a slot of the process's turn gate, and with as many
    such turns as slots every turn of the process (any workspace's) waited for the erasure.
    ``opens_in``: the turn opens a conversation in this session, so it takes the session's
    lock too, or (an erasure of the session runs) raises ``ErasureRunning``: opened while the
    erasure ran, it outlived it (``session_locks``)."""
    may_hold = EMAIL_IN_TEXT.search(message) or PHONE_IN_TEXT.search(message)
    if may_hold and not await leads.wait_for_erasure(session, workspace_id, wait=False):
        raise ErasureRunning(str(workspace_id))
    if opens_in is not None and not await session_locks.no_erasure_of(
        session, workspace_id, opens_in
    ):
        raise ErasureRunning(str(workspace_id))


async def after_erasure(db: Database, workspace_id: uuid.UUID) -> None:
    """Until the erasure of the workspace that ran (``ErasureRunning``) has committed, in a
    transaction of its own, holding no slot of the turn gate (as a widget form waits). A wait
    that outlasts the statement timeout (DB_STATEMENT_TIMEOUT_MS: a large workspace's erasure)
    is waited again (``leads.wait_out_erasure``), the request's own timeout its bound: before,
    the visitor got 500."""
    async with db.transaction(workspace_id=workspace_id, durable=False) as session:
        await leads.wait_out_erasure(session, workspace_id)


_CALLED_BACK = ("question", "lead", "human")
"""The intents whose message may ask for a call on its number beside what it asks."""


async def callback(session: AsyncSession, turn: Turn) -> Turn:
    """A call asked on a number beside a question or a complaint ("my order is late, please
    call me on +91 98765 43210": ``contact_details.callback_number``): the number goes on a
    lead with the message (the conversation's, when it has one), as ``contact`` does, and the
    question is answered all the same, the call promised first (``disclosure``). Under lead
    capture "Never" the number is not taken, and the visitor told; the owners' own chats
    leave no lead. The turn, with what was done (``Turn.callback``). An address or a number
    left beside the question ("hi, my email is ..., how do I ...?": ``contact_beside``) is
    taken so too."""
    if turn.intent not in _CALLED_BACK:
        return turn
    email, number = _left_beside(turn.message)
    if (email is None and number is None) or turn.channel != "widget":
        return turn
    if not turn.asks_for_contact:
        return replace(turn, callback="declined")
    await _save_contact(session, turn, email, number)
    return replace(turn, callback="saved", lead_given=True)


def _left_beside(message: str) -> tuple[str | None, str | None]:
    """The (address, number) a message leaves beside what it asks: a number to call back on
    (``callback_number``), else the details ``contact_beside`` reads; (None, None) for none."""
    number = callback_number(message)
    if number is not None:
        return None, number
    beside = contact_beside(message)
    return (None, None) if beside is None else (beside.email, beside.phone)


async def _save_contact(
    session: AsyncSession, turn: Turn, email: str | None, phone: str | None
) -> None:
    """The contact details typed in the chat on the conversation's lead, or on a new lead (with
    the visitor's name and the message) linked to the conversation."""
    conversation = await conversation_repo.get_conversation(
        session, workspace_id=turn.workspace.id, conversation_id=turn.conversation_id
    )
    # One lead per conversation from the chat: a visitor typing address after address makes
    # no more (the form has its own limit; a conversation's count is capped per visitor).
    if conversation is None or conversation.lead_id is None:
        # Their name: the message before (they gave it as asked), else one given earlier in
        # the conversation where the bot asked for contact details.
        name = name_before(turn.history) or await name_in_conversation(
            session, workspace_id=turn.workspace.id, conversation_id=turn.conversation_id
        )
        lead_id = await leads.submit_from_visitor(
            session,
            workspace_id=turn.workspace.id,
            values={"email": email, "phone": phone, "name": name, "message": turn.message},
            conversation_id=turn.conversation_id,
            source="chat",
        )
        await conversation_repo.link_conversation_lead(
            session,
            workspace_id=turn.workspace.id,
            conversation_id=turn.conversation_id,
            lead_id=lead_id,
        )
    elif phone is not None and callback_number(turn.message) == phone:
        # A call asked on a number: the one the team must call, the lead's latest ("actually
        # call me on ... instead"), its earlier ones kept in the lead's submissions.
        await leads.call_back_from_chat(
            session,
            workspace_id=turn.workspace.id,
            lead_id=conversation.lead_id,
            phone=phone,
            message=turn.message,
            conversation_id=turn.conversation_id,
        )
    else:
        # A number left after the address, or an address after the number: on the
        # conversation's lead (it went nowhere while the visitor was promised a call or mail).
        await leads.add_contact_from_chat(
            session,
            workspace_id=turn.workspace.id,
            lead_id=conversation.lead_id,
            email=email,
            phone=phone,
        )


def _thanks(turn: Turn, email: str | None, phone: str | None) -> str:
    """The owner's thanks for contact details left (the widget's form says the same), else the
    default in the visitor's language. A number left is promised a call ("{email}" in the
    owner's text is the number then)."""
    thanks = turn.text("lead_thanks")
    key: Reply = "contact" if email is not None else "contact_phone"
    if thanks:
        return with_email(thanks, email or phone or "")
    return translated(key, _language(turn)) or persona_reply(
        "contact", turn.bot_name, by_phone=email is None
    )


def faq_exact(turn: Turn) -> Answer | None:
    """An FAQ whose question (or a variant) normalizes to the message's words (looked up with
    the message's record, ``record``)."""
    return None if turn.exact_faq is None else Answer(turn.exact_faq, "faq")


# --- between the transactions: no connection is held -------------------------------------------


def _from_cache(turn: Turn, hit: CacheHit | None) -> Answer | None:
    """The cached answer."""
    if hit is None:
        return None
    citations = tuple(hit.entry.get("citations", []))
    text = safe_links(turn.workspace.widget_config, str(hit.entry["answer"]), citations)
    extractive = bool(hit.entry.get("extractive"))
    return Answer(text, "cache", citations, extractive=extractive, drawn=True)


async def cache_exact(cache: ResponseCache, turn: Turn, *, model: bool) -> Answer | None:
    """The same question answered before at this knowledge version (no embedding needed). With
    a language ``model`` to answer, not an answer quoted without it (made before a key was set,
    or under the daily token cap): the model answers anew, and the lookup is no hit."""
    hit = await cache.get_exact(
        turn.workspace.id,
        turn.cache_version,
        turn.normalized,
        count_miss=False,
        extractive=not model,
    )
    return _from_cache(turn, hit)


# --- the read transaction: what needs the question's embedding ---------------------------------


async def faq_semantic(session: Executor, turn: Turn, *, threshold: float) -> Answer | None:
    """An FAQ variant within ``threshold`` cosine similarity of the question (a rewritten
    follow-up is also matched exactly first)."""
    match = await faq_service.match(
        session,
        workspace_id=turn.workspace.id,
        normalized=normalize_question(turn.standalone) if turn.follow_up else "",
        embedding=turn.embedding,
        threshold=threshold,
        question=turn.standalone,
    )
    return None if match is None else Answer(match.answer, "faq")


async def cache_semantic(cache: ResponseCache, turn: Turn, *, model: bool) -> Answer | None:
    """A cached question close enough in meaning, at this knowledge version (``model`` as for
    ``cache_exact``)."""
    hit = await cache.get_semantic(
        turn.workspace.id,
        turn.cache_version,
        turn.embedding,
        extractive=not model,
        question=turn.standalone,
    )
    return _from_cache(turn, hit)
