"""What a running API process holds: settings, the database, Redis and the providers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from core.config import Settings
from core.db import Database


@dataclass
class Container:
    settings: Settings
    db: Database
    redis: Redis | None = None
    embedded: Any = None
    extras: dict[str, Any] = field(default_factory=dict)

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()
        await self.db.dispose()
