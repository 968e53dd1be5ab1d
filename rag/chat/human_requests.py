"""Requests for a person in English: "I want to talk to a human", "connect me to an agent",
"real person please". A person named as a feature of the product ("do you offer human
support?", "is there human review?"), a part of the product named after one ("a live chat
widget", "a live agent seat"), a noun a person word modifies ("a human resources tool", "a
representative sample"), someone else's people ("people in my workspace") or a request turned
down or asked about just before it ("I don't need a human", "do I need to talk to a person to
cancel?", "do I need a human to approve refunds?") make no request. ``rag.chat.intents`` reads
them with the other languages' (``rag.chat.human_languages``)."""

from __future__ import annotations

import re

from rag.chat.courtesy import phrases
from rag.chat.courtesy import words as _words

# What a person of the team is called. The generic "person", "people", "someone" and "the team"
# count unless they are somebody else's ("people in my workspace", "someone from another team",
# "people in the community": a question about the product, not a request for a person).
_ELSEWHERE = (
    r"(?! (?:in|on|from|at|of|across|within|inside|outside) "
    r"(?!(?:your|the|ur) (?:team|company|support|staff|office|business|shop|store|side|end)"
    r"(?!\S)))"
)
_HUMAN_NOUN = (
    r"(?:human(?: being| agent| person)?|real (?:person|human|agent|people)"
    r"|live (?:agent|person|human|chat|support|operator)|actual (?:person|human)"
    rf"|(?:person|people|someone|somebody|your team|the team){_ELSEWHERE}"
    r"|agent|representative|rep|operator|staff"
    r"|customer (?:service|support|care)(?: team| agent| rep| representative)?"
    r"|support (?:team|agent|staff|person)|a manager|manager)"
)
# A person named as a feature of the product ("human support", "live agent support", "human
# review of the answers", "a human in the loop"): asking whether there is one is a question.
_FEATURE = (
    r"(?! (?:support|review|reviews|reviewed|reviewer|reviewers|oversight|moderation"
    r"|moderators?|approval|approvals|checks?|verification|translation|translators"
    r"|in the loop|handoff|handover|escalation|backup|fallback|option|options|feature"
    r"|features|plan|plans|tier|chat|assistance|help"
    r"|(?:with|on|in|for) (?:the |my |your |a |an )?(?:\S+ )?(?:plan|tier|subscription))(?!\S))"
)
_DET = r"(?:(?:a|an|the|some|your|one of your|real|actual|live) )?"
_PERSON = (
    r"(?:human(?: being| agent)?|real (?:person|human|agent)|live (?:agent|person|human)"
    r"|actual (?:person|human)|representative|operator)"
)
# A part of the product named after a person ("a live chat widget", "the operator console"):
# connecting something to it is no request for a person.
_PRODUCT_PART = (
    r"(?! (?:widget|console|api|app|integration|plugin|software|dashboard|tool|window|box"
    r"|button|feature|system|platform|module|sdk|script|panel|role|view|page|mode|inbox"
    r"|queue|seat|license|licence|account)s?(?!\S))"
)
# A noun the person word modifies ("a human resources tool", "a representative sample"): no
# person either.
_MODIFIER = r"(?! (?:resources?|rights|error|errors|nature|sample|samples|example|examples)(?!\S))"
# A person wanted or got, whole ("human agent", never just its "human" before a "seat"
# that follows), then neither a product part nor a noun it modifies ("I need a live agent
# dashboard", "can I get a human agent seat?": a tester's finding, each was handed off).
_WANTED = rf"{_DET}(?>{_PERSON}){_PRODUCT_PART}{_MODIFIER}"
# Who connects: the visitor ("connect with an agent", "i want to connect to a person"), not
# something of the product ("can the bot connect to a live chat widget?").
_VISITOR_CONNECTS = (
    r"(?:^|(?<=\bi )|(?<=\bwe )|(?<=\bme )|(?<=\bus )|(?<=\bto )|(?<=\bplease ))"
    r"(?:connect|communicate)"
)
_HUMAN = phrases(
    # Asking to talk to one, or to be put through: whatever follows.
    rf"(?:talk|speak|chat) (?:to|with) {_DET}{_HUMAN_NOUN}{_PRODUCT_PART}",
    rf"{_VISITOR_CONNECTS} (?:to|with) {_DET}{_HUMAN_NOUN}{_PRODUCT_PART}",
    rf"(?:connect|transfer|put|pass|forward|redirect) me (?:through )?(?:to|with) "
    rf"{_DET}{_HUMAN_NOUN}",
    rf"(?:want|need|request|prefer|give me|bring|find me|bring me) {_WANTED}",
    # Wanting one, or asking whether one is there, unless it is a feature asked about ("does
    # the plan get human support?", "is there any human review?").
    rf"get {_WANTED}{_FEATURE}",
    rf"(?:real|live|actual) (?:person|human|agent|operator){_FEATURE}{_PRODUCT_PART}",
    r"human (?:agent|being|please|pls)" + _FEATURE + _PRODUCT_PART,
    rf"(?:is|are) (?:there|there any) (?:a |any )?(?:human|real person|live agent|person)s?"
    rf"{_FEATURE}",
)
# What, just before a request for a person, turns it down or asks about it ("I don't want to
# talk to a human", "no human please", "please don't connect me to an agent", "do I need to
# talk to a person to cancel?"): no hand-off, the rest of the message is answered. Only these
# words, right before it: "no, I want a human" and "why can't I talk to a person?" still ask
# for one.
_DECLINED = re.compile(
    r"(?:^|\s)(?:"
    r"(?:dont|do not|didnt|did not|never|dont really|do not really) "
    r"(?:want|need|wanna|wish|care)(?: to)?"
    r"|dont|do not|never|no|no need (?:for|to)|(?:rather|prefer|d rather) not(?: to)?"
    r"|(?:do|would|will|should) (?:i|we) (?:need|have) to|must (?:i|we)|without"
    r")$"
)
# Whether one is needed, just before "need a human" ("do I need a human to approve refunds?",
# "does it need a real person to verify my ID?"): asked about, not asked for.
_ASKED_IF_NEEDED = re.compile(
    r"(?:^|\s)(?:do|does|did|would|will|should|could|might|must) "
    r"(?:i|we|you|it|one|they|customers|visitors|users)(?: really| still| always| ever)?$"
)
# A person word as the first part of a hyphenated word is a modifier ("human-readable",
# "agent-based"): joined to the rest, it names no person ("live-agent" still does).
_COMPOUND = re.compile(
    r"\b(human|agent|operator|person|people|staff|representative|rep|team)[-\u2010\u2011](?=\w)",
    re.IGNORECASE,
)
# The whole message (after fillers) is just one of these words: "human", "agent please".
HUMAN_ALONE = frozenset(
    {"human", "agent", "operator", "representative", "person", "real person", "live agent"}
    | {"human support", "live support", "live agent support", "human agent", "real human"}
)


def asks_for_human(text: str) -> bool:
    """A request for a person in English, not turned down nor asked about just before it
    (``_DECLINED``): "I don't need a human, what's the refund policy?" is a question (a tester's
    finding: it was handed off, the owner alerted, and the refund policy never answered)."""
    reduced = _words(_COMPOUND.sub(r"\1", text))
    return any(
        not _declined(reduced[: found.start()].rstrip(), found.group(0))
        for found in _HUMAN.finditer(reduced)
    )


# A person turned down and nothing more ("I don't want to talk to a human", "no need for an
# agent, thanks"): no question to answer, so no "I don't know" (it was answered so, and listed
# among the owner's unanswered questions).
_SOMEONE = (
    r"(?:a |an |any |the |some )?(?:real |live |human )?"
    r"(?:human|humans|person|people|agent|agents|operator|representative|rep|someone|anyone|staff)"
)
_DECLINED_ALONE = re.compile(
    r"(?:(?:no|nah|nope|ok|okay|thanks|thank you) )*"
    r"(?:"
    r"(?:(?:i|we) )?(?:dont|do not|didnt|did not) (?:really )?(?:want|need|wanna|wish)(?: to)?"
    r"(?: (?:talk|speak|chat) (?:to|with))? " + _SOMEONE + r"|no need (?:for|of) " + _SOMEONE + r")"
    r"(?: (?:right now|now|anymore|thanks|thank you|please|yet))*"
)


def declines_a_person_only(text: str) -> bool:
    """The message only turns a person down (English): nothing is asked."""
    return _DECLINED_ALONE.fullmatch(_words(text)) is not None


def _declined(before: str, request: str) -> bool:
    """What comes ``before`` a ``request`` for a person turns it down or asks about it; a
    demo or a quote likewise ("I don't want a demo", "do I have to request a quote?",
    ``rag.chat.intents``)."""
    if _DECLINED.search(before):
        return True
    return request.startswith("need ") and _ASKED_IF_NEEDED.search(before) is not None


turned_down_before = _declined

__all__ = ["HUMAN_ALONE", "asks_for_human", "declines_a_person_only", "turned_down_before"]
