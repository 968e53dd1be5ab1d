"""Run in separate processes by test_jwt_secret: many processes resolve a missing secret at once.

Kept apart from the test module so each spawned process imports only core.config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def resolve_after_barrier(data_dir: str, barrier: Any, results: Any) -> None:
    from core.config import Settings

    settings = Settings(_env_file=None, environment="development", data_dir=Path(data_dir))  # type: ignore[call-arg]
    barrier.wait(timeout=60)
    resolved = settings.with_jwt_secret()
    results.put((resolved.jwt_key, resolved.jwt_secret_source))
