"""Names in the environment or in ``.env`` that are no setting: pydantic-settings ignores a name
it does not know, so a misspelt one (``REDIS_ULR``, ``LOGLEVEL``, ``TRULYBOT_DATABASE_URL``)
left its setting at the default without a word: a worker said "REDIS_URL is not set", a
server ran on the in-process fallbacks. Every command logs each such name at start, with the
setting it looks like; the values are never shown (they may be secrets)."""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from core.config import Settings

log = logging.getLogger("trulybot.settings")

PREFIX = "TRULYBOT_"
"""A prefix an operator may put on a setting's name by habit: it has none."""

CUTOFF = 0.85
"""How alike a name must be to a setting's (difflib's ratio) to be taken for a misspelling of
it: ``REDIS_ULR``, ``DATABASE_URI``, ``JWT_SECERT`` and ``RAZORPAY_SECRET`` are; other
programs' ``REDIS_HOST``, ``SENTRY_RELEASE`` or ``HOSTNAME`` are not."""


SERVICE_LINK = re.compile(r"(?:tcp|udp|sctp)://[^/\s]+:[0-9]{1,5}")
"""The value of a variable Kubernetes sets for each service of the pod's namespace
(``<SERVICE>_PORT=tcp://10.96.12.7:8000``): with the app's own service named ``trulybot``, its
``TRULYBOT_PORT`` is no misspelt ``PORT``. Looked at, never shown."""


def setting_names() -> frozenset[str]:
    return frozenset(name.upper() for name in Settings.model_fields)


def _looks_like(name: str, known: frozenset[str]) -> str | None:
    if name.startswith(PREFIX) and name.removeprefix(PREFIX) in known:
        return name.removeprefix(PREFIX)
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=CUTOFF)
    return close[0] if close else None


def misspelt_settings(
    environ: Mapping[str, str], env_file: Iterable[str] | None = None
) -> list[str]:
    """One line per ignored name: every unknown name in ``.env`` (a file read for the settings
    only; by default the one the settings read), and in the process environment (every
    program's variables) those that look like a setting's, but for Kubernetes' service links
    (``SERVICE_LINK``)."""
    known = setting_names()
    lines = []
    for name in sorted(set(env_file_names() if env_file is None else env_file)):
        if name.upper() in known:
            continue
        guess = _looks_like(name.upper(), known)
        hint = f": did you mean {guess}?" if guess else " (every setting is in .env.example)"
        lines.append(f"{name} (in .env) is not a setting and is ignored{hint}")
    for name in sorted(environ):
        if name.upper() in known or SERVICE_LINK.fullmatch(environ[name].strip()):
            continue
        if (guess := _looks_like(name.upper(), known)) is None:
            continue
        lines.append(
            f"{name} (in the environment) is not a setting and is ignored: did you mean {guess}?"
        )
    return lines


def env_file_names() -> list[str]:
    """The names set in the ``.env`` the settings read (none without one)."""
    from dotenv import dotenv_values

    configured = Settings.model_config.get("env_file")
    if not isinstance(configured, str | Path) or not Path(configured).is_file():
        return []
    return list(dotenv_values(configured, encoding="utf-8"))


def warn_misspelt_settings(environ: Mapping[str, str]) -> None:
    for line in misspelt_settings(environ):
        log.warning(line)
