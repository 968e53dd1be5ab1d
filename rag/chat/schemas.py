"""Request and response shapes of the answer pipeline and the owners' views of it."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.text import LineBreaks
from rag.chat.intents import Intent

SESSION_ID_PATTERN = r"^[A-Za-z0-9._:\-]{1,128}$"
CLIENT_MESSAGE_ID_PATTERN = r"^[A-Za-z0-9._:\-]{8,64}$"
ClientMessageId = Annotated[
    str | None,
    Field(
        pattern=CLIENT_MESSAGE_ID_PATTERN,
        description=(
            "The client's id for this message (a UUID, or 8..64 letters, digits and . _ : -), new"
            " for each message and the same on every try of it: a try after the first records and"
            " meters nothing again; it gets the recorded answer, or 409 message_in_progress with"
            " Retry-After while the answer is being written"
        ),
    ),
]


MESSAGE_DESCRIPTION = (
    "The message: some visible text, at most MAX_MESSAGE_CHARS characters once the whitespace"
    " around it is removed (422 message_empty, message_too_long); the schema's maxLength is"
    " the server's setting"
)


class ChatIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = Field(description=MESSAGE_DESCRIPTION)
    session_id: str = Field(pattern=SESSION_ID_PATTERN, description="The visitor's session id")
    conversation_id: uuid.UUID | None = None
    client_message_id: ClientMessageId = None


class OwnerChatIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = Field(description=MESSAGE_DESCRIPTION)
    session_id: str | None = Field(default=None, pattern=SESSION_ID_PATTERN)
    conversation_id: uuid.UUID | None = None
    client_message_id: ClientMessageId = None


class CitationOut(BaseModel):
    n: int
    document_id: str | None = None
    chunk_id: str | None = None
    title: str | None = None
    url: str | None = None
    page: int | None = None
    snippet: str | None = None


class ChatOut(BaseModel):
    conversation_id: uuid.UUID
    message_id: uuid.UUID
    answer: str
    intent: Intent
    source: Literal["faq", "cache", "rag", "fallback", "handoff", "refused"]
    citations: list[CitationOut]
    lead_capture: bool
    """Offer the contact form (a request for a person, a sales question, "I don't know"); never
    when the workspace's lead capture is "Never" (``off``)."""
    timings_ms: dict[str, float]
    extractive: bool = False
    lead_saved: bool = False
    """The email address the visitor typed in this message was taken as their contact details
    (the widget then stops offering its contact form)."""


FAQ_QUESTION_CHARS = 1000
AltQuestion = Annotated[str, Field(max_length=FAQ_QUESTION_CHARS)]
"""Another phrasing of an FAQ's question: bounded like the question itself."""


class FaqIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(min_length=1, max_length=FAQ_QUESTION_CHARS)
    answer: Annotated[str, LineBreaks] = Field(min_length=1, max_length=10_000)
    alt_questions: list[AltQuestion] = Field(default_factory=list, max_length=20)
    enabled: bool = True


class FaqUpdateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str | None = Field(default=None, min_length=1, max_length=FAQ_QUESTION_CHARS)
    answer: Annotated[str | None, LineBreaks] = Field(default=None, min_length=1, max_length=10_000)
    alt_questions: list[AltQuestion] | None = Field(default=None, max_length=20)
    enabled: bool | None = None


class FaqOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    question: str
    answer: str
    alt_questions: list[str]
    enabled: bool
    created_at: datetime
    updated_at: datetime


class FaqPage(BaseModel):
    items: list[FaqOut]
    total: int
    next_cursor: str | None = Field(
        default=None, description="the `cursor` of the next page; null on the last one"
    )


class ConversationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    session_id: str
    channel: str
    status: Literal["open", "handoff", "closed"]
    lead_id: uuid.UUID | None
    message_count: int
    created_at: datetime
    last_message_at: datetime


class ConversationPage(BaseModel):
    items: list[ConversationOut]
    next_cursor: str | None = Field(
        default=None,
        description="the `cursor` of the next page (same `order`); null on the last one",
    )
    next_before: datetime | None = Field(
        default=None,
        description="deprecated (order=recent only): send as before, with next_before_id",
    )
    next_before_id: uuid.UUID | None = Field(
        default=None, description="deprecated: send as before_id with next_before"
    )


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    role: Literal["user", "assistant"]
    text: str
    intent: str | None
    source: str | None
    citations: list[dict[str, Any]]
    prompt_tokens: int
    completion_tokens: int
    latency_ms: int | None
    created_at: datetime
    interrupted: bool = False
    """The model's streamed answer broke off partway: the visitor saw its start, then this
    text (the fallback); its tokens are counted."""
    truncated: bool = False
    """The model stopped before its answer's end (at LLM_MAX_TOKENS, or the cap on a reply's
    length): the visitor got what it wrote, ending with "…"."""


class TranscriptOut(BaseModel):
    conversation: ConversationOut
    messages: list[MessageOut] = Field(
        description="a page of the messages, in the order they were sent"
    )
    next_cursor: str | None = Field(
        default=None,
        description="send as cursor, with the same order, for the next page: later messages"
        " (order=oldest) or earlier ones (order=newest); null when none is left",
    )


class ConversationUpdateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["open", "handoff", "closed"]


class UnansweredGroup(BaseModel):
    question: str
    count: int
    last_asked_at: datetime
    examples: list[str]
    ids: list[str]


class ResolveUnansweredIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[uuid.UUID] = Field(min_length=1, max_length=2000)


class ResolvedOut(BaseModel):
    resolved: int


class FeedbackIn(BaseModel):
    """An owner's rating of an answer (any conversation of their workspace)."""

    model_config = ConfigDict(extra="forbid")
    message_id: uuid.UUID
    rating: Literal["up", "down"]
    comment: str | None = Field(default=None, max_length=2000)
    session_id: str | None = Field(default=None, pattern=SESSION_ID_PATTERN)


class WidgetFeedbackIn(FeedbackIn):
    """A visitor's rating: only of an answer in their own conversation, which the session id
    proves (the message id alone is not a secret)."""

    session_id: str = Field(pattern=SESSION_ID_PATTERN)


class ChatStatsOut(BaseModel):
    cache: dict[str, Any]
    feedback: dict[str, int] = Field(
        description="Visitors' ratings (up, down) and the team's (team_up, team_down)"
    )


# --- analytics (rag/chat/analytics.py says what each figure counts) ----------------------------


class AnalyticsTotals(BaseModel):
    conversations: int
    visitor_messages: int
    answers: int
    answered: int = Field(description="Answers from an FAQ, the cache or retrieval")
    unanswered: int = Field(
        description="Questions the bot could not answer (the Unanswered page's questions)"
    )
    sales_routed: int = Field(
        description="Sales leads sent to the team with the contact form instead of an answer:"
        " neither answered nor unanswered"
    )
    feedback_up: int
    feedback_down: int
    leads: int
    handoffs: int


class AnalyticsDay(AnalyticsTotals):
    day: date


class StageShare(BaseModel):
    count: int
    share: float | None = Field(description="Of all answers; null when there were none")


class TeamFeedback(BaseModel):
    up: int
    down: int


class AnalyticsFeedback(BaseModel):
    up: int = Field(description="Visitors' thumbs up")
    down: int = Field(description="Visitors' thumbs down")
    rated_share: float | None = Field(description="Answers visitors rated / answers")
    up_rate: float | None = Field(description="Thumbs up / answers visitors rated")
    down_rate: float | None = Field(description="Thumbs down / answers visitors rated")
    team: TeamFeedback = Field(
        description="The team's ratings (POST /workspaces/{id}/feedback): not in the figures above"
    )


class AnalyticsResolution(BaseModel):
    counted: int = Field(description="Conversations judged: window closed or thumbs up")
    resolved: int
    rate: float | None


class TopQuestion(BaseModel):
    question: str
    count: int
    examples: list[str]
    last_asked_at: datetime


class TopQuestionsWindow(BaseModel):
    questions: int = Field(description="Questions the top list was grouped from")
    max: int = Field(description="The range's latest questions considered, at most")


class AnalyticsOut(BaseModel):
    from_: date = Field(alias="from", serialization_alias="from")
    to: date
    refreshed_at: datetime | None = Field(description="When the daily rollup was last refreshed")
    totals: AnalyticsTotals
    stages: dict[Literal["faq", "cache", "rag", "fallback", "handoff", "refused"], StageShare]
    answer_rate: float | None = Field(
        description="answered / (answered + unanswered + refused by the output guard):"
        " sales leads sent to the team are in neither part"
    )
    feedback: AnalyticsFeedback
    resolution: AnalyticsResolution
    days: list[AnalyticsDay]
    top_questions: list[TopQuestion]
    top_questions_window: TopQuestionsWindow
