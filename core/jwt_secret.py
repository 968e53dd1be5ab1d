"""The JWT secret kept under DATA_DIR when JWT_SECRET is unset: made once, atomically, shared by
every process of one server, and refused when others can read it or it is too short; and what
makes a configured secret too weak. Settings (core/config.py) resolve theirs through it."""

from __future__ import annotations

import itertools
import os
import secrets
import stat
from pathlib import Path

from core.errors import ConfigError

JWT_SECRET_FILE = "jwt-secret"  # noqa: S105 - a file name, not a secret
JWT_SECRET_MIN_LENGTH = 32
_PLACEHOLDER_WORDS = ("changeme", "change-me", "change_me", "insecure", "placeholder")


IN_ORDER = 16
"""A run of this many characters in order, 0-9 then a-z (each the last one again or the next,
or each the last one again or the one before, eight different at least: ``0123456789abcdef``,
``00112233...``), is a pattern: a random secret holds one about once in 10**12. A run of one
character repeated is not counted here (``operator-test-sssss...``)."""
_RANKS = {c: i for i, c in enumerate("0123456789abcdefghijklmnopqrstuvwxyz")}


def jwt_secret_weakness(secret: str) -> str | None:
    """Why a secret is too weak to sign tokens with, or None. Whitespace around it counts for
    nothing (eight characters padded with spaces to 38 are eight characters). Length is
    counted in characters: 32 random hex digits carry 128 bits, enough; but a pattern of them
    is no secret however long: a short one repeated, or characters in order, passed with
    eight distinct characters or more ("12345678" * 4, "0123456789abcdef" * 2)."""
    secret = secret.strip()
    if len(secret) < JWT_SECRET_MIN_LENGTH:
        return f"must be at least {JWT_SECRET_MIN_LENGTH} characters"
    if len(set(secret)) < 8:
        return "must be random (it repeats a few characters)"
    folded = secret.casefold()
    if any(word in folded for word in _PLACEHOLDER_WORDS):
        return "looks like a placeholder from an example"
    if _period(secret) <= len(secret) // 2:
        return "must be random (it repeats a shorter string)"
    if _runs_in_order(secret):
        return f"must be random ({IN_ORDER} or more of its characters run in order: 0123...)"
    return None


def _period(text: str) -> int:
    """The length of the shortest string that ``text`` repeats, the last time in part
    (``len(text)``: none); from the longest prefix that is also a suffix (KMP), linear."""
    border = [0] * len(text)
    for i in range(1, len(text)):
        k = border[i - 1]
        while k and text[i] != text[k]:
            k = border[k - 1]
        border[i] = k + 1 if text[i] == text[k] else 0
    return len(text) - (border[-1] if text else 0)


def _runs_in_order(text: str) -> bool:
    """Whether ``IN_ORDER`` characters in a row run in order (``IN_ORDER``)."""
    ranks = [_RANKS.get(ch.lower(), 100 + ord(ch)) for ch in text]
    for direction in (1, -1):
        length, rises = 1, 0
        for before, after in itertools.pairwise(ranks):
            step = (after - before) * direction
            length, rises = (length + 1, rises + step) if step in (0, 1) else (1, 0)
            if length >= IN_ORDER and rises >= 7:
                return True
    return False


def _read_secret(path: Path) -> str:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{path} is readable by other users; run: chmod 600 {path}")
    secret = path.read_text(encoding="utf-8").strip()
    if len(secret) < JWT_SECRET_MIN_LENGTH:
        raise ConfigError(f"{path} is too short to be a secret; delete it to generate a new one")
    return secret


def check_kept_secret(data_dir: str | Path, *, configured: bool) -> None:
    """Before any process starts: the JWT secret kept under ``data_dir``, if there is one already
    and none is ``configured``, can be used (ConfigError saying how to fix it otherwise).
    Nothing is created here: the server's first process does that, and says so."""
    if not configured:
        path = Path(data_dir) / JWT_SECRET_FILE
        if path.exists():
            _read_secret(path)


def load_or_create_secret(path: Path) -> tuple[str, bool]:
    """The secret kept in ``path`` and whether this call created it.

    Created atomically: the secret is written to a private temporary file that is then
    hard-linked to ``path``, which fails if another process got there first; the loser reads the
    winner's secret. So processes starting at once agree on one secret and nobody ever reads a
    half-written file. The file is 0600 and its directory 0700 when created here.
    """
    try:
        return _read_secret(path), False
    except FileNotFoundError:
        pass
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(temporary, path)
            created = True
        except FileExistsError:
            created = False
    except OSError as exc:
        raise ConfigError(
            f"cannot keep a generated JWT secret at {path} ({exc.strerror}); "
            f"set JWT_SECRET or make {path.parent} writable"
        ) from exc
    finally:
        temporary.unlink(missing_ok=True)
    return _read_secret(path), created
