"""One settings object for the whole service. Every field is documented in .env.example."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, PrivateAttr, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core.jwt_secret import JWT_SECRET_FILE, load_or_create_secret
from core.settings_validators import LOCAL_DIMENSIONS as LOCAL_DIMENSIONS
from core.settings_validators import PUBLISHED_JWT_SECRETS as PUBLISHED_JWT_SECRETS
from core.settings_validators import RATE_LIMIT_SETTINGS as RATE_LIMIT_SETTINGS
from core.settings_validators import SettingsValidators, check_together

RAZORPAY_CHECKOUT_SCRIPT_URL = "https://checkout.razorpay.com/v1/checkout.js"

PG_MAX_MS = 2_147_483_647
"""The most milliseconds PostgreSQL takes for statement_timeout and lock_timeout."""


class Settings(SettingsValidators, BaseSettings):
    """Every setting, in sections; each value's validators and the checks across settings are
    in ``core.settings_validators``."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_file_encoding="utf-8")

    # --- service ---
    environment: Literal["development", "test", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    data_dir: Path = Path(".trulybot")
    public_base_url: str | None = None
    workers: int = Field(default=1, ge=1, le=64)
    seed_demo: bool = True
    # /docs, /redoc and /openapi.json. auto: served except with ENVIRONMENT=production.
    api_docs: Literal["auto", "on", "off"] = "auto"

    # --- database ---
    database_url: str | None = None
    # What DATABASE_URL reaches: PostgreSQL itself (none) or PgBouncer in transaction mode.
    database_pooler: Literal["none", "pgbouncer"] = "none"
    # A streaming read replica for reads that may lag (owners' lists, exports, analytics,
    # playground search); the app role, through the same kind of pooler as DATABASE_URL.
    database_replica_url: str | None = None
    # Over this lag (or down), those reads go to the primary; a workspace an owner wrote to
    # reads the primary for twice this long.
    database_replica_max_lag_s: float = Field(default=5.0, gt=0, le=3600)
    # The owner role, straight to the primary (never through a pooler): migrations, index builds.
    migration_database_url: str | None = None
    # How long a migration's statement waits for a table's lock (0: forever), and how many more
    # times a revision that timed out is tried (a growing pause between): an ALTER waiting behind
    # a long export or reindex made every chat statement on that table wait behind it.
    migration_lock_timeout_ms: int = Field(default=5000, ge=0, le=PG_MAX_MS)
    migration_lock_retries: int = Field(default=5, ge=0, le=100)
    app_db_role: str = "trulybot_app"
    db_pool_size: int = Field(default=10, ge=1, le=1000)
    db_max_overflow: int = Field(default=10, ge=0, le=1000)
    # How long a request waits for a pooled connection when all are busy before it is answered
    # 503 ``database_busy`` with Retry-After; well below REQUEST_TIMEOUT_SECONDS.
    db_pool_timeout_seconds: float = Field(default=5.0, gt=0, le=300)
    # Chat turns in their database part at once per process (the rest wait in order in front,
    # not for a pooled connection); 0: DB_POOL_SIZE. The models (a follow-up's rewrite, the
    # embedding, generation, an LLM reranker) are outside the limit.
    chat_concurrent_turns: int = Field(default=0, ge=0, le=10000)
    db_statement_timeout_ms: int = Field(default=15000, ge=0, le=PG_MAX_MS)

    # --- redis ---
    redis_url: str | None = None

    # --- auth ---
    # Unset: generated once and kept in DATA_DIR/jwt-secret (refused in production).
    jwt_secret: str | None = None
    # Access token lifetime; sessions (refresh tokens, web cookies): see workspaces/sessions.py.
    jwt_ttl_minutes: int = Field(default=15, ge=1, le=1440)
    # Upper bounds: ten years of session, a month for a verification link, three months for an
    # invitation (beyond them an expiry date overflows, or a link is as good as permanent).
    refresh_token_ttl_days: int = Field(default=30, ge=1, le=3650)
    web_session_ttl_days: int = Field(default=7, ge=1, le=3650)
    session_max_days: int = Field(default=90, ge=1, le=3650)
    email_verification_ttl_hours: int = Field(default=48, ge=1, le=720)
    invitation_ttl_days: int = Field(default=7, ge=1, le=90)
    # The key is a shared secret: an HMAC algorithm.
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    # Argon2 hashes computed at once per process (worker threads); 0: one per CPU core.
    password_hash_concurrency: int = Field(default=0, ge=0, le=256)
    # Failed logins lock the source IP and slow the account (never lock it): see LoginGuard.
    login_max_failures: int = Field(default=5, ge=0)
    login_lockout_seconds: int = Field(default=900, ge=1, le=31_536_000)
    login_slowdown_seconds: int = Field(default=1, ge=0, le=86_400)
    login_slowdown_max_seconds: int = Field(default=60, ge=1, le=86_400)

    # --- mail (core/mail.py) ---
    # smtp://user:pass@host:587 or smtps://host:465; unset: messages go to DATA_DIR/outbox/*.eml.
    smtp_url: str | None = None
    smtp_starttls: Literal["auto", "on", "off"] = "auto"
    # A user and password over plain SMTP (SMTP_STARTTLS=off) to a relay not on this machine:
    # refused at start unless this is true.
    smtp_allow_plaintext_auth: bool = False
    smtp_timeout_seconds: float = Field(default=10.0, gt=0, le=3600)
    # PEM file of the CA(s) that signed the SMTP server's certificate (a private relay); unset:
    # the system's trust store.
    smtp_ca_file: str | None = None
    mail_from: str = "TrulyBot <no-reply@trulybot.local>"
    mail_reply_to: str | None = None
    mail_max_attempts: int = Field(default=8, ge=1, le=100)
    mail_retry_seconds: float = Field(default=1.0, ge=0, le=3600)
    # Owner notifications (workspaces/notifications.py): the UTC hour the daily digest is sent.
    notification_digest_hour: int = Field(default=8, ge=0, le=23)
    # "New lead" mails per workspace and clock hour (UTC); leads past it are stored as always and
    # the members get one summary mail ("N more new leads") once the hour is over.
    notification_lead_mails_per_hour: int = Field(default=20, ge=1, le=10_000)
    # Handoff request mails ("a visitor asks for a human") per workspace and clock hour (UTC), a
    # budget of their own (a flood of leads never delays them); requests past it are handed off
    # as always and summed up, with the latest visitors' first words, once the hour is over.
    notification_handoff_mails_per_hour: int = Field(default=10, ge=1, le=10_000)

    # --- plans ---
    # One of workspaces.plans.PLANS (tests/test_settings_documented.py keeps the two equal): a
    # workspace made on an unknown plan answered 500 to every request that reads its limits.
    default_plan: Literal["free", "starter", "pro", "unlimited"] = "free"
    # How many workspaces one account may own on DEFAULT_PLAN (or free) with no paid period
    # running: each has the plan's own quotas, so more would multiply them. Workspaces with a
    # paid period running do not count; nor does the limit apply with DEFAULT_PLAN=unlimited.
    # A further workspace (beyond the account's first) also needs a confirmed email.
    free_workspaces_per_account: int = Field(default=2, ge=1)

    # --- limits ---
    max_body_bytes: int = Field(default=1_048_576, ge=1)
    max_upload_bytes: int = Field(default=10 * 1_048_576, ge=1)
    max_page_size: int = Field(default=100, ge=1, le=1000)
    request_timeout_seconds: float = Field(default=60.0, ge=0, le=3600)
    # On SIGTERM: how long requests under way may finish before they are cancelled (uvicorn's
    # graceful shutdown). Give the orchestrator's grace period (terminationGracePeriodSeconds)
    # more than this.
    shutdown_grace_seconds: int = Field(default=25, ge=0, le=3600)
    max_message_chars: int = Field(default=2000, ge=1, le=100_000)

    # --- CORS for the owners' dashboard ---
    dashboard_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # --- ingestion ---
    # The most tokens of document text per chunk; each section's chunks are also cut so that
    # the "title > headings" line plus the chunk fit the model's 256 word pieces (chunking.py).
    chunk_tokens: int = Field(default=250, ge=1)
    chunk_overlap_tokens: int = Field(default=40, ge=0)
    # A section shorter than this joins the next one (a heading with a line under it, a man
    # page's NAME); 0 turns the floor off (docs/retrieval.md measured 40).
    chunk_min_tokens: int = Field(default=40, ge=0)
    allow_private_urls: bool = False
    fetch_timeout_seconds: float = Field(default=10.0, gt=0, le=3600)
    fetch_max_bytes: int = Field(default=5 * 1_048_576, ge=1)
    fetch_max_redirects: int = Field(default=5, ge=0)
    sitemap_max_pages: int = Field(default=200, ge=1)
    # Sitemaps posted by owners are downloaded in the request, without a database connection;
    # at most this many at once per process, half of them (at least one) per workspace (more
    # wait their turn).
    sitemap_fetches_at_once: int = Field(default=4, ge=1)
    # Sources that re-sync (rag/knowledge/sync.py): pages one sync checks (a larger sitemap
    # continues at the next tick), how long a sync's lease lasts before another process
    # presumes it crashed and runs it again, how many due sources one tick claims, and after
    # how many failed syncs in a row a source is flagged failing.
    source_sync_max_pages: int = Field(default=100, ge=1, le=10_000)
    source_sync_lease_seconds: int = Field(default=1800, ge=30, le=86_400)
    source_sync_batch: int = Field(default=20, ge=1, le=1000)
    source_failing_after: int = Field(default=3, ge=1, le=100)
    # Parsing one document: wall time and address space of the parser's child process, the most
    # it may decode to (DOCX parts, PDF streams and text, text bodies) and PDF pages.
    parse_timeout_seconds: float = Field(default=60.0, gt=0, le=3600)
    parse_max_memory_mb: int = Field(default=1024, ge=0)
    parse_max_decoded_bytes: int = Field(default=32 * 1_048_576, ge=1)
    parse_max_pages: int = Field(default=2000, ge=1)
    # Fairness: the most background jobs of one workspace running at once (per process for the
    # in-process queue, across all `trulybot worker` processes on Redis).
    jobs_per_workspace: int = Field(default=1, ge=1)
    # How long `trulybot worker` waits for a lost Redis to answer again (pauses of 0.5, 1, 2,
    # then 4 s between tries) before it exits for its supervisor to restart it.
    worker_redis_patience_seconds: float = Field(default=31.5, ge=0.5, le=600)
    # Periodic jobs (core/scheduler.py): how often a driver looks for due jobs. Driven by
    # `trulybot serve` without REDIS_URL, by `trulybot worker` with it; off: no driver at all.
    scheduler_enabled: bool = True
    scheduler_poll_seconds: float = Field(default=30.0, gt=0, le=3600)
    # Workspace exports (lifecycle/exports.py): how long a built zip may be downloaded.
    export_ttl_hours: int = Field(default=24, ge=1, le=24 * 30)
    # Workspace deletion (lifecycle/deletion.py): hours an owner may restore a deleted workspace
    # before the purge deletes every row; 0 purges at once.
    workspace_deletion_grace_hours: int = Field(default=72, ge=0, le=24 * 90)

    # --- embeddings ---
    embedding_provider: Literal["local", "openai", "hash"] = "local"
    embedding_model: str = "all-MiniLM-L6-v2"
    embedding_dimensions: int = 384
    embedding_batch_size: int = Field(default=32, ge=1)
    embedding_concurrency: int = Field(default=4, ge=1)
    openai_embedding_batch_size: int = Field(default=2048, ge=1)
    # Concurrent query embeddings encoded together (local model and OpenAI), gathered for at
    # most EMBED_BATCH_WAIT_MS once queries overlap, up to EMBED_BATCH_MAX; document batches cut
    # into slices of at most EMBED_DOCUMENT_SLICE chunks and EMBED_DOCUMENT_SLICE_CHARS
    # characters, queued behind waiting queries.
    embed_batching: bool = True
    embed_batch_max: int = Field(default=64, ge=1, le=2048)
    embed_batch_wait_ms: float = Field(default=2.0, ge=0, le=1000)
    embed_document_slice: int = Field(default=4, ge=1, le=2048)
    embed_document_slice_chars: int = Field(default=1200, ge=1, le=1_000_000)
    # Query vectors kept per process (LRU by normalized text); 0: off.
    embed_query_cache_size: int = Field(default=2048, ge=0)
    # The local model's threads; 0: one per core (the runtime's default).
    embed_threads: int = Field(default=1, ge=0, le=256)
    # The local model's runtime: onnx (the same vectors as torch within 1e-5, about half the
    # CPU; the graph is exported once from the bundled weights into EMBED_MODEL_CACHE_DIR) or
    # torch (sentence-transformers). onnx falls back to torch, with a log line, when it cannot run.
    embed_runtime: Literal["onnx", "torch"] = "onnx"
    # Where the exported graph is kept; unset: $XDG_CACHE_HOME/trulybot/models (~/.cache/...).
    embed_model_cache_dir: Path | None = None
    # Questions (not documents) encoded by the onnx graph with int8 weights (quantized once into
    # EMBED_MODEL_CACHE_DIR, checked against full precision as it loads; fp32 when the check
    # fails on this CPU or with torch). Off by default: it costs the retrieval eval a question
    # or two per half (docs/retrieval.md, "Eighth session").
    embed_query_precision: Literal["fp32", "int8"] = "fp32"

    # Widget keys resolved from a per-process cache for up to this many seconds (checked against
    # the workspace row in each chat turn's first statement: workspaces/widget_keys.py); 0: off.
    widget_key_cache_seconds: float = Field(default=5.0, ge=0, le=300)

    # --- generation ---
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    chat_model: str = "gpt-4o-mini"
    llm_max_tokens: int = Field(default=512, ge=1, le=100_000)
    llm_temperature: float = Field(default=0.2, ge=0, le=2)  # OpenAI's range
    # One try's time limit and the retries after it (the SDK's, with back-off). A chat turn's
    # model time is two thirds of REQUEST_TIMEOUT_SECONDS (``chat_model_seconds``); the tries
    # should fit in it (``model_time_problem``, said at start).
    llm_timeout_seconds: float = Field(default=15.0, gt=0, le=3600)
    llm_max_retries: int = Field(default=1, ge=0)

    # --- answer pipeline ---
    # Cosines: above 1 nothing would ever match, silently (exact FAQ matches aside).
    faq_similarity_threshold: float = Field(default=0.86, gt=0, le=1)
    semantic_cache_similarity: float = Field(default=0.97, gt=0, le=1)
    cache_ttl_seconds: int = Field(default=86400, ge=1, le=31_536_000)
    retrieval_k: int = Field(default=5, ge=1, le=50)
    # A passage is relevant when its cosine to the question reaches retrieval_min_similarity,
    # or reaches retrieval_word_match_similarity and holds at least retrieval_word_match_share
    # of the question's content words; no relevant passage: "I don't know". Chosen on the tune
    # halves of answerable and unanswerable questions over three corpora (docs/retrieval.md,
    # "When to say I don't know"; python -m bench.dont_know).
    retrieval_min_similarity: float = Field(default=0.38, ge=-1.0, le=1.0)
    retrieval_word_match_similarity: float = Field(default=0.21, ge=-1.0, le=1.0)
    retrieval_word_match_share: float = Field(default=0.67, ge=0.0, le=1.0)
    # Vector search ranks a page by its best chunk + this x its second best candidate chunk
    # (rag.knowledge.retrieval.SECOND_CHUNK_WEIGHT, chosen in docs/retrieval.md); 0: best alone.
    retrieval_second_chunk_weight: float = Field(default=0.5, ge=0.0, le=2.0)
    # Grouped vector search moves the query vector this far towards the mean of its 10 best
    # candidates and searches again (rag.knowledge.retrieval.FEEDBACK_WEIGHT); 0: one search.
    retrieval_feedback_weight: float = Field(default=0.25, ge=0.0, le=2.0)
    # Grouped vector search fuses its page order with the workspace's Okapi BM25 order:
    # (1 - w) x minmax(vector page scores) + w x minmax(BM25 page scores)
    # (rag.knowledge.lexical, docs/retrieval.md twelfth session; 0.3 measured better on both
    # eval sets); 0: the vector order alone, and ingestion stores no BM25 terms (`trulybot
    # reindex` fills them once it is above 0).
    retrieval_lexical_weight: float = Field(default=0.3, ge=0.0, le=1.0)
    # The BM25 statement's budget: the rarest question terms whose chunk counts sum to at most
    # this are scored over their postings; the other candidates are the vector search's
    # (rag.knowledge.lexical.POSTINGS, docs/retrieval.md fourteenth session).
    retrieval_lexical_postings: int = Field(default=4000, ge=0, le=10_000_000)
    # Grouped vector search adds this x each candidate page's cosine between the question and
    # the page's first chunk (its lead: a man page's name and synopsis, a module's
    # introduction) to the fused page score (rag.knowledge.lexical.fused, docs/retrieval.md
    # eighteenth session); 0: no lead statement.
    retrieval_lead_weight: float = Field(default=0.0, ge=0.0, le=2.0)
    # Messages of the conversation so far sent with a question (and read to rewrite a follow-up
    # to stand alone); 0: none, each question is answered on its own.
    history_turns: int = Field(default=6, ge=0, le=100)
    # Reranking the fused candidates (rag.knowledge.rerank): none, llm (the chat model above),
    # maxsim (late interaction over the local MiniLM's token states, rag.knowledge.maxsim_rerank)
    # or the path of a local sentence-transformers CrossEncoder directory.
    reranker: str = "none"
    # Pages reordered; unset: 24, or 10 with maxsim (as measured).
    reranker_candidates: int = Field(default=24, ge=2, le=100)
    reranker_timeout_ms: int = Field(default=1500, ge=1, le=60_000)
    reranker_max_tokens: int = Field(default=2500, ge=200, le=100_000)
    reranker_cache_size: int = Field(default=2048, ge=0)
    # RERANKER=maxsim: the MaxSim side's weight against the retrieval page score (min-max each).
    reranker_maxsim_weight: float = Field(default=0.3, ge=0.0, le=1.0)

    # --- billing (Razorpay) ---
    razorpay_key_id: str | None = None
    razorpay_key_secret: str | None = None
    razorpay_webhook_secret: Annotated[list[str], NoDecode] = Field(default_factory=list)
    razorpay_base_url: str | None = None
    # Each Razorpay call waits at most this long (plus 1 s); bounded so an owner's order never
    # waits on a minute-long call.
    razorpay_timeout_seconds: float = Field(default=10.0, gt=0, le=30)
    # Razorpay Checkout's script, loaded by the dashboard's plan page (the one script from another
    # origin; the page's CSP allows exactly its origin). Tests point it at a local stand-in.
    razorpay_checkout_script_url: str = RAZORPAY_CHECKOUT_SCRIPT_URL

    # --- observability ---
    sentry_dsn: str | None = None
    release: str = "trulybot@0.1.0"
    metrics_token: str | None = None
    log_json: bool = True
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

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
    rate_limit_billing_orders: str = "10/hour"
    rate_limit_widget_leads: str = "10/hour"
    # Password-reset requests: per client IP and per email address (known or not).
    rate_limit_password_reset_ip: str = "20/hour"  # noqa: S105 - a rate, not a password
    rate_limit_password_reset_email: str = "5/hour"  # noqa: S105 - a rate, not a password
    # Invitations made: per workspace, and per invited address from any workspace.
    rate_limit_invitations: str = "30/hour"
    rate_limit_invitations_address: str = "5/day"
    # New conversations through the public widget key, per hour (owners may override the first
    # two in their widget settings). A caller without an Origin header is not a browser page.
    widget_conversations_per_ip_per_hour: int = Field(default=20, ge=1)
    widget_conversations_per_hour: int = Field(default=300, ge=1)
    widget_server_conversations_per_ip_per_hour: int = Field(default=5, ge=1)
    login_ip_max_failures: int = Field(default=20, ge=0)
    # Comma-separated proxies (IPs or CIDRs, or *) whose X-Forwarded-For/-Proto are believed.
    trusted_proxies: str = ""

    @model_validator(mode="after")
    def _together(self) -> Settings:
        check_together(self)
        return self

    def mail_problem(self) -> str | None:
        """What stops production from sending mail, for the commands that send it (serve,
        worker; not migrate): without SMTP_URL verification, invitation and reset mails were
        files in the container nobody reads."""
        if self.environment == "production" and not self.smtp_url:
            return (
                "SMTP_URL must be set in production (sign-up, invitation and password reset"
                " mails; without it they are files in DATA_DIR/outbox)"
            )
        return None

    @property
    def chat_model_seconds(self) -> float | None:
        """A chat turn's time for the model, from the turn's start: its follow-up's rewrite and
        its answer with the retries (a streamed answer until its first words). Two thirds of
        REQUEST_TIMEOUT_SECONDS: the rest is the turn's transactions and the recording of the
        fallback, and on the default 60 s the widget's 45 s wait hears it. None when
        REQUEST_TIMEOUT_SECONDS is 0 (no limit): the model's own limits then."""
        if self.request_timeout_seconds <= 0:
            return None
        return self.request_timeout_seconds * 2 / 3

    @property
    def llm_tries_seconds(self) -> float:
        """The longest one model call can take: LLM_TIMEOUT_SECONDS per try, LLM_MAX_RETRIES
        retries, and the SDK's back-off between them (0.5 s, doubling, at most 8 s)."""
        backoff = sum(min(0.5 * 2**n, 8.0) for n in range(self.llm_max_retries))
        return self.llm_timeout_seconds * (self.llm_max_retries + 1) + backoff

    @property
    def chat_drain_seconds(self) -> float:
        """How long shutdown waits for streamed answers still being written: a turn's model
        time and a little for recording (the model's tries, a rewrite's and an answer's, with
        no request timeout)."""
        model = self.chat_model_seconds
        return (2 * self.llm_tries_seconds if model is None else model) + 5

    def model_time_problem(self) -> str | None:
        """Model settings that cannot fit a chat turn (said at start): a hung model's tries
        would outlast the turn's model time, so the last retries never run."""
        model = self.chat_model_seconds
        if model is None or not (self.openai_api_key or self.openai_base_url):
            return None
        tries = self.llm_tries_seconds
        if tries <= model:
            return None
        return (
            f"LLM_TIMEOUT_SECONDS={self.llm_timeout_seconds:g} with LLM_MAX_RETRIES="
            f"{self.llm_max_retries} takes up to {tries:g} s, more than a chat turn's model time"
            f" ({model:g} s, two thirds of REQUEST_TIMEOUT_SECONDS={self.request_timeout_seconds:g}"
            "): a hung model gets the fallback at that time and the last tries never run; lower"
            " LLM_TIMEOUT_SECONDS or LLM_MAX_RETRIES, or raise REQUEST_TIMEOUT_SECONDS"
        )

    _jwt_secret_source: str = PrivateAttr(default="")

    @property
    def jwt_key(self) -> str:
        """The secret that signs access tokens; resolved at startup (``with_jwt_secret``)."""
        if self.jwt_secret is None:
            raise RuntimeError("JWT secret not resolved: call Settings.with_jwt_secret() first")
        return self.jwt_secret

    @property
    def jwt_secret_source(self) -> str:
        """Where the secret comes from, for the startup line; never the secret itself."""
        return self._jwt_secret_source or ("JWT_SECRET (configured)" if self.jwt_secret else "")

    def with_jwt_secret(self) -> Settings:
        """These settings with a JWT secret: the configured one, else the one kept in
        DATA_DIR/jwt-secret, generated there the first time (every process of one server
        agrees on it)."""
        if self.jwt_secret is not None:
            return self
        path = Path(self.data_dir) / JWT_SECRET_FILE
        secret, created = load_or_create_secret(path)
        resolved = self.model_copy(update={"jwt_secret": secret})
        where = path.resolve()
        resolved._jwt_secret_source = (
            f"generated and stored at {where}" if created else f"loaded from {where}"
        )
        return resolved

    @property
    def is_development(self) -> bool:
        return self.environment != "production"

    @property
    def api_docs_enabled(self) -> bool:
        if self.api_docs == "auto":
            return self.environment != "production"
        return self.api_docs == "on"

    @property
    def billing_enabled(self) -> bool:
        return bool(self.razorpay_key_id and self.razorpay_key_secret)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
