"""All SQL of the answer pipeline, one module per concern.

- ``faqs``: the FAQ knowledge base (questions and their variants' vectors) and the re-embedding of
  the pipeline's stored vectors after a model change.
- ``conversations``: conversations, messages (recorded with the usage counters in one
  statement), feedback and unanswered questions.
- ``deliveries``: the outbox of webhooks to the owner.
"""

from __future__ import annotations

from typing import Any

from pgvector.sqlalchemy import VECTOR
from sqlalchemy import REAL, bindparam, cast
from sqlalchemy.dialects.postgresql import ARRAY


def vector_param(name: str, vector_type: Any = VECTOR) -> Any:
    """A bind parameter for one vector, sent as a float4[] (asyncpg's binary array encoding) and
    cast to ``vector_type``: the same float32 components as pgvector's text form of it, without
    formatting 384 floats as decimal text (about 1 ms of CPU per vector)."""
    return cast(bindparam(name, type_=ARRAY(REAL)), vector_type)
