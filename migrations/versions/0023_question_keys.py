"""Recompute the normalized question keys after the normalization kept signs and folded accents.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-04

``rag.chat.normalize.normalize_question`` (KEY_VERSION 2) keeps math signs, a number's minus
sign or leading point and emoji as tokens (other symbols, "™ © °", are dropped), and folds
Latin and Greek accents (chat review, F1 and F4): "orders < $50" is no longer the key of "orders > $50", "-40°C" no longer that of
"40°C", "café" is "cafe". The keys stored with an FAQ's questions (``faq_questions.normalized``,
the exact match) and with the unanswered questions (``unanswered_questions.normalized``, their
grouping) are recomputed from the stored text with a copy of that function frozen here (a
migration imports no application code, which may change or move); a workspace whose FAQ keys
changed gets its knowledge version bumped. Response-cache entries keyed by the old
normalization retire by the cache version, which carries KEY_VERSION.

Two FAQ questions of a workspace that the old keys kept apart may now share a key ("¿Cuánto
cuesta el té?" and "... el te?"); the exact match then answers with the older FAQ. Each such key
is logged (workspace, key, how many FAQs) so the operator can tell the owners, who merge or
reword them (a new pair like that is refused with 409 ``faq_duplicate``).

Both tables FORCE row-level security keyed on the transaction's workspace; the migration (run
by the tables' owner) lifts the FORCE for its own transaction and puts it back. Data only, no
schema change; downgrade leaves the new keys (the old code only misses more exact matches).
"""

import logging
import re
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000

# --- rag.chat.normalize.normalize_question as of KEY_VERSION 2, frozen: a migration must give
# the same keys whatever the application code becomes (tests/rag/test_question_keys_migration.py
# checks the copy against the code of this revision).
_APOSTROPHES = frozenset("'\u2018\u2019\u02bc\u0060\u00b4")
_ALWAYS_KEEP = frozenset("+#@$%&")
_INFIX_KEEP = frozenset(".,:-/_")
_NUMBER_PREFIX = frozenset("-.")
_INVISIBLE = frozenset("\ufe0e\ufe0f")
_FOLDED_SCRIPTS = ("LATIN", "GREEK")
_SPACES = re.compile(r"\s+")
_MATH_SIGNS = frozenset("<>=\u2260\u2264\u2265\u2248\u00b1\u00d7\u00f7")
_EMOJI_FROM = "\u2600"
_TRADEMARKS = str.maketrans("", "", "\u2122\u2120")


def _is_word_char(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "LMN"


def _fold(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    if folded.isascii():
        return folded
    out: list[str] = []
    base = ""
    for ch in unicodedata.normalize("NFD", folded):
        if unicodedata.category(ch) == "Mn":
            if base and unicodedata.name(base, "").startswith(_FOLDED_SCRIPTS):
                continue
        else:
            base = ch
        out.append(ch)
    return unicodedata.normalize("NFC", "".join(out))


def normalize_question(text: str) -> str:
    """A question's key, version 2."""
    chars = [
        "-" if ch == "\u2212" else ch
        for ch in _fold(text.translate(_TRADEMARKS))
        if ch not in _APOSTROPHES and ch not in _INVISIBLE
    ]
    out: list[str] = []
    last = len(chars) - 1
    for i, ch in enumerate(chars):
        if _is_word_char(ch) or ch in _ALWAYS_KEEP or unicodedata.category(ch) == "Sc":
            out.append(ch)
        elif ch in _INFIX_KEEP:
            between = 0 < i < last and _is_word_char(chars[i - 1]) and _is_word_char(chars[i + 1])
            signed = ch in _NUMBER_PREFIX and i < last and chars[i + 1].isdigit()
            out.append(ch if between or signed else " ")
        elif ch in _MATH_SIGNS or (ch >= _EMOJI_FROM and unicodedata.category(ch) == "So"):
            out.append(f" {ch} ")
        else:
            out.append(" ")
    return _SPACES.sub(" ", "".join(out)).strip()


# --- the migration
log = logging.getLogger("trulybot.migrate")
# Keys two or more FAQs of one workspace now share.
COLLISIONS = (
    "SELECT workspace_id, normalized, count(DISTINCT faq_id) FROM faq_questions"
    " GROUP BY workspace_id, normalized HAVING count(DISTINCT faq_id) > 1"
    " ORDER BY workspace_id, normalized"
)
# Each table's rows (id, workspace, the text asked, its key) and the update of one key.
STATEMENTS = {
    "faq_questions": (
        "SELECT id, workspace_id, text, normalized FROM faq_questions",
        "UPDATE faq_questions SET normalized = :key WHERE id = CAST(:id AS uuid)",
    ),
    "unanswered_questions": (
        "SELECT id, workspace_id, question, normalized FROM unanswered_questions",
        "UPDATE unanswered_questions SET normalized = :key WHERE id = CAST(:id AS uuid)",
    ),
}


def _recompute(table: str) -> set[str]:
    """Recompute ``table``'s keys; the workspaces whose keys changed."""
    bind = op.get_bind()
    select, update = STATEMENTS[table]
    op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    changed: list[dict[str, str]] = []
    workspaces: set[str] = set()
    rows = bind.execute(sa.text(select))
    for row_id, workspace_id, text, normalized in rows:
        key = normalize_question(text)
        if key != normalized:
            changed.append({"id": str(row_id), "key": key})
            workspaces.add(str(workspace_id))
    for start in range(0, len(changed), BATCH):
        bind.execute(sa.text(update), changed[start : start + BATCH])
    if table == "faq_questions":
        for workspace_id, key, faqs in bind.execute(sa.text(COLLISIONS)):
            log.warning(
                "workspace %s: %d FAQs now share the question key %r; the oldest answers it",
                workspace_id,
                faqs,
                key,
            )
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    return workspaces


def upgrade() -> None:
    changed = _recompute("faq_questions")
    _recompute("unanswered_questions")
    if changed:
        op.execute("ALTER TABLE workspaces NO FORCE ROW LEVEL SECURITY")
        op.get_bind().execute(
            sa.text(
                "UPDATE workspaces SET knowledge_version = knowledge_version + 1"
                " WHERE id = ANY(CAST(:ids AS uuid[]))"
            ),
            {"ids": sorted(changed)},
        )
        op.execute("ALTER TABLE workspaces FORCE ROW LEVEL SECURITY")


def downgrade() -> None:
    pass
