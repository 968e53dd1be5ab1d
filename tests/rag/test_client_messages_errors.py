"""A chat turn whose workspace row is gone (a purged workspace's widget key still in a
process's cache) is told from other integrity errors by the SQLSTATE and the foreign key's
name, not by the error's detail text: that text is in the server's language (lc_messages), so
on a server set to German the purged workspace's visitors got 500 instead of 401
(tests/widget/test_purged_widget_key.py covers the English path end to end)."""

from __future__ import annotations

import asyncpg.exceptions
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from core.db import Database
from rag.chat.repository.client_messages import (
    WORKSPACE_FOREIGN_KEY_SUFFIX,
    names_a_missing_conversation,
    names_a_missing_workspace,
)


class _Adapted(Exception):
    """What SQLAlchemy's asyncpg adapter puts in ``IntegrityError.orig``: the driver's error
    as its ``__cause__``."""


def _integrity_error(fields: dict[str, str]) -> IntegrityError:
    orig = _Adapted("adapted")
    orig.__cause__ = asyncpg.exceptions.ForeignKeyViolationError.new(fields)
    return IntegrityError("INSERT INTO conversations ...", {}, orig)


def test_a_missing_workspace_is_recognised_whatever_the_servers_language() -> None:
    german = _integrity_error(
        {
            "C": "23503",
            "M": "Einfügen oder Aktualisieren in Tabelle »conversations« verletzt Fremdschlüssel",
            "D": "Schlüssel (workspace_id)=(3f2a) ist nicht in Tabelle »workspaces« vorhanden.",
            "n": "conversations_workspace_id_fkey",
            "t": "conversations",
        }
    )
    assert names_a_missing_workspace(german)
    assert not names_a_missing_conversation(german)


def test_a_missing_row_of_another_table_is_not_a_missing_workspace() -> None:
    other = _integrity_error(
        {
            "C": "23503",
            "M": 'insert or update on table "messages" violates foreign key constraint',
            "D": 'Key (conversation_id)=(3f2a) is not present in table "conversations".',
            "n": "messages_conversation_id_fkey",
            "t": "messages",
        }
    )
    assert not names_a_missing_workspace(other)
    # The message's conversation, deleted while the turn waited for it (404, not 500:
    # tests/lifecycle/test_retention_races.py end to end), told by the key's name alone.
    assert names_a_missing_conversation(other)


async def test_the_schema_names_exactly_the_workspace_foreign_keys_with_the_suffix(
    owner_db: Database,
) -> None:
    """Every foreign key named ``*_workspace_id_fkey`` refers to workspaces, and every foreign
    key from a workspace_id column to workspaces carries the name: a migration naming one
    otherwise would turn the purged workspace's 401 back into a 500."""
    async with owner_db.transaction() as session:
        rows = (
            await session.execute(
                text(
                    """
                    SELECT k.conname, r.relname AS referred,
                           array(SELECT a.attname FROM unnest(k.conkey) c(num)
                                 JOIN pg_attribute a ON a.attrelid = k.conrelid
                                  AND a.attnum = c.num) AS columns
                    FROM pg_constraint k
                    JOIN pg_class r ON r.oid = k.confrelid
                    JOIN pg_namespace n ON n.oid = r.relnamespace
                    WHERE k.contype = 'f' AND n.nspname = 'public'
                    """
                )
            )
        ).all()
    named = {row.conname for row in rows if row.conname.endswith(WORKSPACE_FOREIGN_KEY_SUFFIX)}
    to_workspaces = {
        row.conname
        for row in rows
        if row.referred == "workspaces" and list(row.columns) == ["workspace_id"]
    }
    assert "conversations_workspace_id_fkey" in to_workspaces
    assert named == to_workspaces
