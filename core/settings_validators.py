"""How the settings are checked as they load (``core.config.Settings``): each value's own
validator (``SettingsValidators``, the mixin ``Settings`` inherits) and the checks across
settings (``check_together``, run once every value passed its own). Checks of single values
that need more than a line live in ``core.setting_checks``."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from limits import parse as parse_rate
from pydantic import ValidationInfo, field_validator

from core.jwt_secret import jwt_secret_weakness
from core.proxies import parse_trusted_proxies
from core.setting_checks import (
    check_ca_file,
    check_chunk_overlap,
    check_database_url,
    check_http_url,
    check_mailbox,
    check_origins,
    check_production_base_url,
    check_public_base_url,
    check_redis_url,
    check_script_url,
    check_sentry_dsn,
    check_smtp_plaintext_auth,
    check_smtp_url,
    split_csv,
)

if TYPE_CHECKING:
    from core.config import Settings

# Values that were ever published as a default: anyone can sign tokens with them.
PUBLISHED_JWT_SECRETS = frozenset({"dev-only-insecure-jwt-secret-change-me"})
_HOW_TO_GENERATE = "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"


LOCAL_DIMENSIONS = 384
"""What the local embedder (all-MiniLM-L6-v2) produces."""

RATE_LIMIT_SETTINGS = (
    "rate_limit_ip",
    "rate_limit_api_key",
    "rate_limit_auth",
    "rate_limit_chat_visitor",
    "rate_limit_chat_ip",
    "rate_limit_chat_workspace",
    "rate_limit_ingest",
    "rate_limit_billing_orders",
    "rate_limit_widget_leads",
    "rate_limit_password_reset_ip",
    "rate_limit_password_reset_email",
    "rate_limit_invitations",
    "rate_limit_invitations_address",
)
"""Every rate (N/minute...) among the settings: checked at start, raised by the benchmarks."""


class SettingsValidators:
    """Each setting's own validators, in the order ``Settings`` had them (a plain class:
    pydantic collects them from ``Settings``' bases and checks their field names there)."""

    @field_validator("dashboard_origins", "razorpay_webhook_secret", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return split_csv(value)

    @field_validator(
        "smtp_url",
        "mail_reply_to",
        "smtp_ca_file",
        "embed_model_cache_dir",
        # .env.example ships these blank: "" is unset (an OPENAI_BASE_URL of "" was taken as
        # the address of every model call, and each one failed).
        "openai_api_key",
        "openai_base_url",
        "razorpay_key_id",
        "razorpay_key_secret",
        "razorpay_base_url",
        "sentry_dsn",
        "metrics_token",
        mode="before",
    )
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("dashboard_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        return check_origins(value)

    @field_validator("openai_base_url", "razorpay_base_url")
    @classmethod
    def _http_base_url(cls, value: str | None) -> str | None:
        if value is not None:
            value = value.strip()
            check_http_url(value)
        return value

    @field_validator("sentry_dsn")
    @classmethod
    def _sentry_dsn(cls, value: str | None) -> str | None:
        if value is not None:
            value = value.strip()
            check_sentry_dsn(value)
        return value

    @field_validator("smtp_url")
    @classmethod
    def _smtp_scheme(cls, value: str | None) -> str | None:
        if value is not None:
            check_smtp_url(value.strip())
            return value.strip()
        return value

    @field_validator("smtp_ca_file")
    @classmethod
    def _ca_file(cls, value: str | None) -> str | None:
        return check_ca_file(value) if value is not None else None

    @field_validator("mail_from", "mail_reply_to")
    @classmethod
    def _mailbox(cls, value: str | None) -> str | None:
        if value is not None:
            check_mailbox(value.strip())
            return value.strip()
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: str) -> str:
        """Parsed once here: a host name or a typo made every request answer 500 while the
        health checks stayed green."""
        parse_trusted_proxies(value)
        return value

    @field_validator("redis_url", "database_url", "database_replica_url", "migration_database_url")
    @classmethod
    def _url_scheme(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if info.field_name == "redis_url":
            value = check_redis_url(value)
        else:
            check_database_url(value)
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator(*RATE_LIMIT_SETTINGS)
    @classmethod
    def _rate(cls, value: str) -> str:
        """A limit the limiter can read ("20/minute", "5 per hour"): a malformed one made every
        request it governs answer 500, or (RATE_LIMIT_IP) silently let everything through."""
        try:
            parse_rate(value)
        except ValueError:
            raise ValueError(
                f"{value!r} is not a rate: write N/second, N/minute, N/hour or N/day"
            ) from None
        return value

    @field_validator("data_dir", mode="before")
    @classmethod
    def _blank_data_dir(cls, value: object) -> object:
        """Blank is unset (.trulybot), as every blank setting is: it was the working directory,
        and the embedded cluster, the JWT secret and the outbox went wherever a command ran."""
        return ".trulybot" if isinstance(value, str) and not value.strip() else value

    @field_validator("default_plan", mode="before")
    @classmethod
    def _blank_plan_is_free(cls, value: object) -> object:
        return "free" if isinstance(value, str) and not value.strip() else value

    @field_validator("jwt_secret", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("public_base_url", mode="before")
    @classmethod
    def _public_base_url(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip() or None
        if value is not None:
            check_public_base_url(str(value))
        return value

    @field_validator("razorpay_checkout_script_url")
    @classmethod
    def _checkout_script_url(cls, value: str) -> str:
        value = value.strip()
        check_script_url(value)
        return value


def check_together(settings: Settings) -> None:
    """The checks across settings, in this order (the first that fails is the one said)."""
    _smtp_credentials_in_clear(settings)
    _chunk_overlap(settings)
    _embedding_choice(settings)
    _refuse_weak_secrets(settings)
    _checkout_script_over_https(settings)
    _require_public_base_url(settings)
    _production_database(settings)


def _smtp_credentials_in_clear(settings: Settings) -> None:
    if settings.smtp_url:
        check_smtp_plaintext_auth(
            settings.smtp_url, settings.smtp_starttls, settings.smtp_allow_plaintext_auth
        )


def _chunk_overlap(settings: Settings) -> None:
    """Every upload failed at its job (chunking's ValueError) when this did not hold."""
    check_chunk_overlap(settings.chunk_overlap_tokens, settings.chunk_tokens)


def _embedding_choice(settings: Settings) -> None:
    """What the embedder needs, checked with the settings (before, a start-up traceback)."""
    if settings.embedding_provider == "local" and settings.embedding_dimensions != LOCAL_DIMENSIONS:
        raise ValueError(
            f"EMBEDDING_DIMENSIONS must be {LOCAL_DIMENSIONS} with the local embedder"
            f" (all-MiniLM-L6-v2), not {settings.embedding_dimensions}"
        )
    if settings.embedding_provider == "openai" and not settings.openai_api_key:
        raise ValueError("EMBEDDING_PROVIDER=openai needs OPENAI_API_KEY")


def _refuse_weak_secrets(settings: Settings) -> None:
    secret = settings.jwt_secret
    if secret is None:
        if settings.environment == "production":
            raise ValueError(f"JWT_SECRET must be set in production; {_HOW_TO_GENERATE}")
        return
    if secret.strip() in PUBLISHED_JWT_SECRETS:
        raise ValueError(
            f"JWT_SECRET is a published value: anyone can sign tokens with it; {_HOW_TO_GENERATE}"
        )
    if settings.environment != "test":
        problem = jwt_secret_weakness(secret)
        if problem:
            raise ValueError(f"JWT_SECRET {problem}; {_HOW_TO_GENERATE}")


def _checkout_script_over_https(settings: Settings) -> None:
    if (
        settings.environment == "production"
        and urlsplit(settings.razorpay_checkout_script_url).scheme != "https"
    ):
        raise ValueError("RAZORPAY_CHECKOUT_SCRIPT_URL must be an https:// URL in production")


def _require_public_base_url(settings: Settings) -> None:
    # The widget snippet owners paste into their sites is built from it; never from a
    # request's Host header, which whoever reaches the server chooses.
    if settings.environment == "production":
        check_production_base_url(settings.public_base_url)


def _production_database(settings: Settings) -> None:
    """Production keeps its data: without DATABASE_URL each replica started a PostgreSQL
    of its own inside its container, lost with it."""
    if settings.environment == "production" and not settings.database_url:
        raise ValueError(
            "DATABASE_URL must be set in production (the embedded PostgreSQL is for"
            " development: its data stays in this machine's DATA_DIR)"
        )
