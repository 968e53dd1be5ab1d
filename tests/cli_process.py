"""``trulybot ARGS...`` in its own process, as an operator runs it (the operator tests)."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass

from tests.conftest import ROOT

SETTING_PREFIXES = ("DATABASE_", "MIGRATION_", "REDIS_", "APP_DB_", "OPENAI_", "EMBEDDING_")
"""Settings of the test process's own environment left out of the command's."""


@dataclass
class Run:
    code: int
    out: str


def command_env(env: dict[str, str]) -> dict[str, str]:
    """The test process's environment, less its database, Redis and model settings, plus
    ``env``."""
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(SETTING_PREFIXES)
    }
    environment |= {"ENVIRONMENT": "test", "EMBEDDING_PROVIDER": "hash", "HF_HUB_OFFLINE": "1"}
    return environment | env


async def run_python(*args: str, env: dict[str, str]) -> Run:
    """``python ARGS...`` from the repository with exactly ``env``; stdout and stderr together."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(300):  # a guard against hanging, not a timing assertion
            out, _ = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return Run(process.returncode, out.decode(errors="replace"))


async def run_trulybot(*args: str, env: dict[str, str]) -> Run:
    """The command with the test process's environment, less its database, Redis and model
    settings, plus ``env``; stdout and stderr together."""
    return await run_python("-m", "api.cli", *args, env=command_env(env))
