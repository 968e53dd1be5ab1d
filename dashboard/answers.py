"""How the dashboard names what answered a message (the playground, transcripts)."""

from __future__ import annotations

from rag.chat.intents import COURTESY, is_sales_lead

STAGES = {
    "faq": "an FAQ",
    "cache": "the answer cache",
    "rag": "retrieval from your documents",
    "fallback": "the fallback (nothing relevant was found, or the model found no answer in it)",
    "handoff": "the hand-off to your team",
    "refused": "the output guard (the model's answer was withheld: it tried to reveal the bot's"
    " rules or repeated your persona, so the visitor got a refusal)",
}


def answered_by(source: str | None, intent: str | None, asked: str | None = None) -> str:
    """``source`` as an owner reads it. A courtesy reply and the reply to an email address or a
    phone number typed in chat are canned answers whose source is ``fallback``; they are not
    "nothing was found". Nor is the reply to a sales lead (``asked``, the visitor's message,
    asks for a quote, a demo or a call, not only a price): the team answers those, and the
    Unanswered page leaves them out (``rag.chat.recording.knowledge_gap``)."""
    if source == "fallback" and intent in COURTESY:
        return "small talk (a greeting, thanks or goodbye)"
    if source == "fallback" and intent == "unclear":
        return "the request for words (a message without any, such as an emoji)"
    if source == "fallback" and intent == "bot_identity":
        return "the reply to a visitor asking whether a bot answers (it says it is one)"
    if source == "fallback" and intent == "contact":
        return "the contact reply (an email address or phone number a visitor types becomes a lead)"
    if source == "fallback" and asked and is_sales_lead(intent, asked):
        return (
            "the reply to a sales lead (a quote, a demo, a call: passed to your team, no gap"
            " in your knowledge)"
        )
    return STAGES.get(source or "", source or "")
