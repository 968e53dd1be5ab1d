"""The JWT secret: never a published constant, generated and kept under DATA_DIR when unset.

The attack (a token signed with the constant that older versions used when JWT_SECRET was unset)
is replayed against a real `trulybot serve` in test_serve_defaults.py; here the pieces: what the
settings refuse, how the secret file is created and shared, and that an app on default settings
refuses such a token.
"""

from __future__ import annotations

import multiprocessing
import os
import secrets
import stat
import uuid
from pathlib import Path

import pytest
from pydantic import ValidationError
from redis.asyncio import Redis

from core.config import Settings
from core.db import Database
from core.errors import ConfigError
from tests.conftest import PRODUCTION_SERVICES, REDIS_URL, client_for, make_runtime, signup
from tests.hardening.conftest import PUBLISHED, forged_token, fresh_ip
from tests.hardening.secret_race import resolve_after_barrier

STRONG = "k7Q2vX9pLm4Rt8Wn3Yb6Zc1Hd5Jf0Gs2Ae4Ui7Oq9Tx"


def default_settings(data_dir: Path, **overrides: object) -> Settings:
    """What a server gets with nothing configured, apart from where its state lives."""
    values: dict[str, object] = {"data_dir": data_dir} | overrides
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _no_secret_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("JWT_SECRET", "ENVIRONMENT", "DATA_DIR"):
        monkeypatch.delenv(name, raising=False)


async def test_an_app_on_default_settings_refuses_a_token_signed_with_the_published_constant(
    tmp_path: Path, db: Database, redis_client: Redis
) -> None:
    settings = default_settings(tmp_path, redis_url=REDIS_URL, embedding_provider="hash")
    assert settings.environment == "development"
    async with (
        make_runtime(settings, db, redis_client) as runtime,
        client_for(runtime, ip=fresh_ip()) as client,
    ):
        victim = await signup(client, "Victim")
        own = await client.get("/api/v1/me", headers=victim.headers)
        assert own.status_code == 200  # the server's own tokens work
        forged = {"Authorization": f"Bearer {forged_token(victim.user_id)}"}
        me = await client.get("/api/v1/me", headers=forged)
        assert me.status_code == 401, me.text
        assert me.json()["error"]["code"] == "invalid_token"
        workspace = await client.get(victim.url(), headers=forged)
        assert workspace.status_code == 401


def test_a_missing_secret_is_generated_once_kept_private_and_reused(tmp_path: Path) -> None:
    data_dir = tmp_path / "state"
    first = default_settings(data_dir).with_jwt_secret()
    path = data_dir / "jwt-secret"
    assert first.jwt_secret_source == f"generated and stored at {path}"
    assert len(first.jwt_key) >= 43  # 32 random bytes, url-safe base64
    assert first.jwt_key != PUBLISHED
    assert path.read_text().strip() == first.jwt_key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.jwt_key not in first.jwt_secret_source
    again = default_settings(data_dir).with_jwt_secret()
    assert again.jwt_key == first.jwt_key
    assert again.jwt_secret_source == f"loaded from {path}"
    elsewhere = default_settings(tmp_path / "other").with_jwt_secret()
    assert elsewhere.jwt_key != first.jwt_key  # random, not derived from anything public


def test_a_configured_secret_is_used_and_no_file_is_written(tmp_path: Path) -> None:
    settings = default_settings(tmp_path, jwt_secret=STRONG).with_jwt_secret()
    assert settings.jwt_key == STRONG
    assert settings.jwt_secret_source == "JWT_SECRET (configured)"
    assert not (tmp_path / "jwt-secret").exists()


def test_an_empty_jwt_secret_means_unset(tmp_path: Path) -> None:
    """`cp .env.example .env` leaves `JWT_SECRET=`: that must generate, not sign with ''."""
    settings = default_settings(tmp_path, jwt_secret="").with_jwt_secret()
    assert settings.jwt_secret_source.startswith("generated and stored at")
    assert len(settings.jwt_key) >= 43


def test_an_unresolved_secret_is_never_used_silently() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.jwt_secret is None
    with pytest.raises(RuntimeError, match="not resolved"):
        _ = settings.jwt_key


def test_processes_starting_at_once_agree_on_one_secret(tmp_path: Path) -> None:
    """`trulybot serve --workers N`: every worker resolves the secret as it starts."""
    context = multiprocessing.get_context("spawn")
    count = 6
    barrier = context.Barrier(count)
    results = context.Queue()
    processes = [
        context.Process(target=resolve_after_barrier, args=(str(tmp_path), barrier, results))
        for _ in range(count)
    ]
    for process in processes:
        process.start()
    try:
        answers = [results.get(timeout=120) for _ in range(count)]
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    assert all(p.exitcode == 0 for p in processes)
    secrets_seen = {secret for secret, _ in answers}
    assert len(secrets_seen) == 1
    sources = sorted(source.split(" ")[0] for _, source in answers)
    assert sources == ["generated"] + ["loaded"] * (count - 1)
    assert (tmp_path / "jwt-secret").read_text().strip() in secrets_seen
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "jwt-secret"]
    assert leftovers == []  # no temporary files left behind


def test_a_secret_file_others_can_read_is_refused(tmp_path: Path) -> None:
    default_settings(tmp_path).with_jwt_secret()
    path = tmp_path / "jwt-secret"
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        default_settings(tmp_path).with_jwt_secret()


def test_a_truncated_secret_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "jwt-secret"
    path.write_text("short\n")
    os.chmod(path, 0o600)
    with pytest.raises(ConfigError, match="too short"):
        default_settings(tmp_path).with_jwt_secret()


@pytest.mark.parametrize("environment", ["development", "test", "production"])
def test_the_published_constant_is_refused_in_every_environment(environment: str) -> None:
    with pytest.raises(ValidationError, match="published"):
        Settings(_env_file=None, environment=environment, jwt_secret=PUBLISHED)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        ("too-short-secret", "at least 32"),
        ("s" * 40, "random"),
        ("abababababababababababababababab", "random"),
        # Hex-looking, with eight or more distinct characters: accepted before.
        ("0123456789abcdef" * 2, "random"),  # a shorter secret repeated
        ("12345678" * 4, "random"),
        ("a1b2c3d4" * 4, "random"),
        ("1234567890" * 4, "random"),
        ("0123456789abcdefghijklmnopqrstuv", "random"),  # counting up
        ("00112233445566778899aabbccddeeff", "random"),
        ("zyxwvutsrqponmlkjihgfedcba987654", "random"),  # counting down
        ("please-change-me-to-a-long-random-value-1234", "placeholder"),
        ("your-jwt-secret-changeme-0123456789abcdef", "placeholder"),
    ],
)
@pytest.mark.parametrize("environment", ["development", "production"])
def test_weak_secrets_are_refused_outside_tests(secret: str, reason: str, environment: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        Settings(_env_file=None, environment=environment, jwt_secret=secret)  # type: ignore[call-arg]
    # The test suite may use short fixed values (never the published one).
    assert Settings(_env_file=None, environment="test", jwt_secret=secret).jwt_key == secret  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        # Spaces count for nothing: eight characters padded to 38 are eight characters.
        ("k7Q2vX9p" + " " * 30, "at least 32"),
        ("\t" * 10 + "k7Q2vX9pLm4Rt8Wn" + "\n" * 10, "at least 32"),
    ],
)
@pytest.mark.parametrize("environment", ["development", "production"])
def test_whitespace_does_not_make_a_short_secret_long(
    secret: str, reason: str, environment: str
) -> None:
    values = {"public_base_url": "https://bot.example.com", **PRODUCTION_SERVICES}
    with pytest.raises(ValidationError, match=reason):
        Settings(_env_file=None, environment=environment, jwt_secret=secret, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize("environment", ["development", "test", "production"])
def test_the_published_constant_with_spaces_around_is_still_refused(environment: str) -> None:
    with pytest.raises(ValidationError, match="published"):
        Settings(_env_file=None, environment=environment, jwt_secret=f"  {PUBLISHED}\n")  # type: ignore[call-arg]


def test_production_refuses_a_missing_secret() -> None:
    with pytest.raises(ValidationError, match="JWT_SECRET must be set in production"):
        Settings(_env_file=None, environment="production")  # type: ignore[call-arg]
    ok = Settings(  # type: ignore[call-arg]
        _env_file=None,
        environment="production",
        jwt_secret=STRONG,
        public_base_url="https://bot.example.com",
        **PRODUCTION_SERVICES,
    )
    assert ok.with_jwt_secret().jwt_key == STRONG


def test_a_random_hex_or_urlsafe_secret_is_accepted() -> None:
    """32 random hex digits (``openssl rand -hex 16``) carry 128 bits: accepted, as 43
    url-safe characters (256 bits) are. (A random secret runs 16 characters in order, or is
    periodic, about once in 10**12.)"""
    hexes = (uuid.uuid4().hex + uuid.uuid4().hex, secrets.token_hex(16))
    for secret in (*hexes, secrets.token_urlsafe(32), STRONG):
        assert Settings(_env_file=None, jwt_secret=secret).jwt_key == secret  # type: ignore[call-arg]
