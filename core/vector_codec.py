"""pgvector's ``vector`` type in its binary form on every connection the app opens.

pgvector's binary format (its type's send and receive functions): int16 dimensions, int16
unused (0), then each component as a big-endian float4. ``register`` installs an asyncpg codec
for it (``create_engine`` calls it on each new connection, see ``core.db``), so a vector
parameter is sent, and a vector column read, as these bytes: numpy converts a whole vector at
once, with no work per component in Python, and PostgreSQL stores exactly the float32
components it was given. Before, vectors went as decimal text of 7 significant digits (float32
needs 9 to come back the same: most components of a stored vector differed from the model's
in the last bits, and formatting 384 of them cost about 1 ms) or as a ``real[]``, which asyncpg
checks element by element.

What the encoder takes (``pack``): a float32-convertible 1-D array or sequence, pgvector's text
form (``"[1,2,3]"``, what pgvector's own SQLAlchemy type binds), or bytes already in the binary
form (``pack``'s own output; the only way to bind an array of vectors, ``vector[]``, since
asyncpg would take a nested sequence for another dimension of the array). The decoder returns
a float32 array (``unpack``).
"""

from __future__ import annotations

import re
import struct
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import numpy as np
from pgvector.sqlalchemy import VECTOR

_HEADER = struct.Struct(">HH")
_BIG_ENDIAN_FLOAT4 = np.dtype(">f4")
MAX_DIMENSIONS = 16000
"""pgvector's limit for a ``vector``."""


def pack(vector: Any) -> bytes:
    """One vector in pgvector's binary form."""
    if isinstance(vector, bytes):
        return vector
    if isinstance(vector, str):
        vector = _from_text(vector)
    components = np.asarray(vector, dtype=_BIG_ENDIAN_FLOAT4)
    if components.ndim != 1 or not 0 < len(components) <= MAX_DIMENSIONS:
        raise ValueError(f"a vector has 1 to {MAX_DIMENSIONS} components, not {components.shape}")
    return _HEADER.pack(len(components), 0) + components.tobytes()


def pack_rows(matrix: Any) -> list[bytes]:
    """Each row of ``matrix`` in pgvector's binary form: the value of a ``vector[]`` parameter
    (one conversion for the whole matrix)."""
    rows = np.asarray(matrix, dtype=_BIG_ENDIAN_FLOAT4)
    if rows.ndim != 2 or not 0 < rows.shape[1] <= MAX_DIMENSIONS:
        raise ValueError(f"vectors of 1 to {MAX_DIMENSIONS} components, not {rows.shape}")
    header = _HEADER.pack(rows.shape[1], 0)
    return [header + row.tobytes() for row in rows]


def unpack(data: bytes) -> np.ndarray:
    """A vector in pgvector's binary form as a float32 array."""
    dimensions, unused = _HEADER.unpack_from(data)
    if unused != 0 or len(data) != _HEADER.size + 4 * dimensions:
        raise ValueError("not pgvector's binary form of a vector")
    return np.frombuffer(data, dtype=_BIG_ENDIAN_FLOAT4, offset=_HEADER.size).astype(np.float32)


def _from_text(value: str) -> np.ndarray:
    inner = value.strip()
    if not (inner.startswith("[") and inner.endswith("]")):
        raise ValueError("not pgvector's text form of a vector")
    return np.array(inner[1:-1].split(","), dtype=np.float32)


# The extension's schema when it is not in ``public`` (CREATE EXTENSION puts it in the first
# schema of the search path): the type the app's unqualified ``vector`` resolves to.
_SCHEMA_OF_VECTOR = (
    "SELECT n.nspname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace"
    " WHERE t.oid = to_regtype('vector')"
)


async def register(connection: Any) -> bool:
    """Install the codec on one asyncpg connection (one round trip, two when the extension is
    not in ``public``). False when the database has no ``vector`` type yet (a fresh database
    before its first migration, the maintenance database): that connection binds no vector,
    even once the extension is created ("expected str, got bytes"), until it is replaced.

    The codec knows the type by the oid it had when the connection was made: a connection
    that outlives its database's ``vector`` type (a restore behind PgBouncer, whose client
    connections outlive the server's; the extension dropped and created again), or was made
    before it, fails its first vector statement ("cache lookup failed for type ...", or
    "expected str, got bytes"): ``is_stale`` tells, and the engine treats that as a lost
    connection (``core.db``): the pool's connections are replaced, with the codec."""
    try:
        await _set_codec(connection, "public")
    except ValueError:  # asyncpg: "unknown type: public.vector"
        schema = await connection.fetchval(_SCHEMA_OF_VECTOR)
        if schema is None:
            return False
        await _set_codec(connection, schema)
    return True


async def _set_codec(connection: Any, schema: str) -> None:
    await connection.set_type_codec(
        "vector", schema=schema, encoder=pack, decoder=unpack, format="binary"
    )


_STALE_ON_SERVER = "cache lookup failed for type"
"""PostgreSQL's internal error for a statement prepared with a type since dropped."""
_UNENCODED = "expected str, got bytes"
"""asyncpg's refusal of a vector (``pack``'s bytes) for a type it has no binary codec for."""
_BINDS_A_VECTOR = re.compile(r'(?:::|\bAS\b)\s*(?:"?\w+"?\.)?"?vector"?(?![\w$"])', re.IGNORECASE)
"""A cast to the ``vector`` type (``$1::VECTOR``, ``CAST($1 AS vector[])``, schema-qualified
or quoted): where a statement binds one. Not ``tsvector``, ``to_tsvector(...)`` or
``vector_dims(...)``, which any "vector" in the statement matched before."""


def is_stale(error: BaseException, statement: str | None) -> bool:
    """``error`` (raised by ``statement``, or its ``orig``/cause) says the connection's vector
    codec (or a statement it prepared) is for a ``vector`` type that is no longer the
    database's, or that it has none: made before ``CREATE EXTENSION vector``, or across the
    extension dropped and created again (a restore). Such a connection fails every vector
    statement until replaced."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        message = str(current)
        if isinstance(current, asyncpg.InternalServerError) and _STALE_ON_SERVER in message:
            return True
        if (
            isinstance(current, asyncpg.DataError)
            and _UNENCODED in message
            and _BINDS_A_VECTOR.search(statement or "")
        ):
            return True
        current = getattr(current, "orig", None) or current.__cause__
    return False


class BinaryVector(VECTOR):
    """pgvector's SQLAlchemy type, with the conversion left to the connection's codec: a value
    is bound as it is (an array, a sequence of floats or ``pack``'s bytes) and read back as a
    float32 array, not through pgvector's text form. A bound value carries an explicit
    ``::VECTOR`` cast, so PostgreSQL types the parameter whatever the expression around it."""

    cache_ok = True
    render_bind_cast = True

    def bind_processor(self, dialect: Any) -> None:
        return None

    def result_processor(self, dialect: Any, coltype: Any) -> None:
        return None
