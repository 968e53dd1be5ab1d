"""One settings object for the whole service. Every field is documented in .env.example."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEV_JWT_SECRET = "dev-only-insecure-jwt-secret-change-me"  # noqa: S105 - refused outside development


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_file_encoding="utf-8")

    # --- service ---
    environment: Literal["development", "test", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path(".trulybot")
    public_base_url: str | None = None
    workers: int = Field(default=1, ge=1, le=64)
    seed_demo: bool = True

    # --- database ---
    database_url: str | None = None
    migration_database_url: str | None = None
    app_db_role: str = "trulybot_app"
    db_pool_size: int = 10
    db_max_overflow: int = 10
    db_statement_timeout_ms: int = 15000

    # --- redis ---
    redis_url: str | None = None

    # --- auth ---
    jwt_secret: str = DEV_JWT_SECRET
    jwt_ttl_minutes: int = 60
    jwt_algorithm: str = "HS256"
    login_max_failures: int = 5
    login_lockout_seconds: int = 900

    # --- plans ---
    default_plan: str = "free"

    # --- limits ---
    max_body_bytes: int = 1_048_576
    max_upload_bytes: int = 10 * 1_048_576
    max_page_size: int = 100
    request_timeout_seconds: float = 60.0
    max_message_chars: int = 2000

    # --- CORS for the owners' dashboard ---
    dashboard_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # --- ingestion ---
    # all-MiniLM-L6-v2 reads at most 254 content tokens: longer chunks would be cut silently.
    chunk_tokens: int = 250
    chunk_overlap_tokens: int = 40
    allow_private_urls: bool = False
    fetch_timeout_seconds: float = 10.0
    fetch_max_bytes: int = 5 * 1_048_576
    fetch_max_redirects: int = 5
    sitemap_max_pages: int = 200
    # Parsing one document: wall time and address space of the parser's child process, the most
    # it may decode to (DOCX parts, PDF streams and text, text bodies) and PDF pages.
    parse_timeout_seconds: float = Field(default=60.0, gt=0)
    parse_max_memory_mb: int = Field(default=1024, ge=0)
    parse_max_decoded_bytes: int = Field(default=32 * 1_048_576, ge=1)
    parse_max_pages: int = Field(default=2000, ge=1)
    # Fairness: the most background jobs of one workspace running at once (per process for the
    # in-process queue, across all `trulybot worker` processes on Redis).
    jobs_per_workspace: int = Field(default=1, ge=1)

    # --- embeddings ---
    embedding_provider: Literal["local", "openai", "hash"] = "local"
    embedding_model: str = "all-MiniLM-L6-v2"
    embedding_dimensions: int = 384
    embedding_batch_size: int = 32
    embedding_concurrency: int = 4
    openai_embedding_batch_size: int = 2048

    # --- generation ---
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    chat_model: str = "gpt-4o-mini"
    llm_max_tokens: int = 512
    llm_temperature: float = 0.2
    llm_timeout_seconds: float = 20.0
    llm_max_retries: int = 2

    # --- answer pipeline ---
    faq_similarity_threshold: float = 0.86
    semantic_cache_similarity: float = 0.97
    cache_ttl_seconds: int = 86400
    retrieval_k: int = 5
    retrieval_min_similarity: float = 0.30
    history_turns: int = 6

    # --- billing (Razorpay) ---
    razorpay_key_id: str | None = None
    razorpay_key_secret: str | None = None
    razorpay_webhook_secret: Annotated[list[str], NoDecode] = Field(default_factory=list)
    razorpay_base_url: str | None = None
    razorpay_timeout_seconds: float = 10.0

    # --- observability ---
    sentry_dsn: str | None = None
    release: str = "trulybot@0.1.0"
    metrics_token: str | None = None
    log_json: bool = True
    log_level: str = "INFO"

    # --- rate limits (sliding window; Redis when REDIS_URL is set, else per-process memory) ---
    # auto: on, except with ENVIRONMENT=test. Also governs the login lockout.
    rate_limits: Literal["auto", "on", "off"] = "auto"
    rate_limit_ip: str = "300/minute"
    rate_limit_api_key: str = "600/minute"
    rate_limit_auth: str = "10/minute"
    rate_limit_chat_visitor: str = "20/minute"
    rate_limit_chat_ip: str = "60/minute"
    rate_limit_chat_workspace: str = "600/minute"
    rate_limit_ingest: str = "60/minute"
    login_ip_max_failures: int = 20
    # Comma-separated proxies (IPs or CIDRs, or *) whose X-Forwarded-For/-Proto are believed.
    trusted_proxies: str = ""

    @field_validator("dashboard_origins", "razorpay_webhook_secret", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> Settings:
        if self.environment == "production" and self.jwt_secret == DEV_JWT_SECRET:
            raise ValueError("JWT_SECRET must be set outside development")
        if self.environment == "production" and len(self.jwt_secret) < 32:
            raise ValueError("JWT_SECRET must be at least 32 characters in production")
        return self

    @property
    def is_development(self) -> bool:
        return self.environment != "production"

    @property
    def billing_enabled(self) -> bool:
        return bool(self.razorpay_key_id and self.razorpay_key_secret)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
