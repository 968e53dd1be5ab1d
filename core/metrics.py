"""Prometheus metrics behind plain functions, so no other module imports prometheus-client.

Everything is registered in ``REGISTRY``, this module's own registry (not prometheus-client's
global default): importing the module twice in tests or running several apps in one process never
collides, and ``/metrics`` shows only TrulyBot's series. Every label value passed in is bounded
by the callers (route templates, stage names, a handful of results), never user input.

Any layer may call these (``core`` imports no domain): ``rag``, ``billing`` and the jobs report
through ``core.metrics``; ``api.metrics`` re-exports them and serves ``GET /metrics``.

Several processes behind one address (``trulybot serve`` with WORKERS over 1): the server sets
``PROMETHEUS_MULTIPROC_DIR`` to a fresh directory before its worker processes start, so each
one keeps its values in files there (prometheus-client's multiprocess mode) and ``render``
answers for all of them, whichever one takes the scrape: counters and histograms summed, the
gauges as each one's ``multiprocess_mode`` says (a process that is gone leaves the live ones).
``sample`` reads this process's own values in either mode.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Final, Literal, get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

MULTIPROCESS_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
# Read once, as prometheus-client did when it chose where values live (at its import).
MULTIPROCESS_DIR: Final = os.environ.get(MULTIPROCESS_ENV) or None
_LIVE_GAUGE_FILE = re.compile(r"^gauge_live[a-z]+_(\d+)\.db$")

REGISTRY: Final = CollectorRegistry(auto_describe=True)
CONTENT_TYPE: Final = CONTENT_TYPE_LATEST

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_JOB_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)

HTTP_DURATION = Histogram(
    "trulybot_http_request_duration_seconds",
    "HTTP request duration by method, route template and status.",
    ("method", "route", "status"),
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
HTTP_IN_PROGRESS = Gauge(
    "trulybot_http_requests_in_progress",
    "HTTP requests being served (by every process of the server, summed).",
    multiprocess_mode="livesum",
    registry=REGISTRY,
)
CHAT_STAGE = Histogram(
    "trulybot_chat_stage_seconds",
    "Time spent in each answer-pipeline stage (intent, faq, cache, retrieval, generation...).",
    ("stage",),
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
CHAT_ANSWERS = Counter(
    "trulybot_chat_answers_total",
    "Answers by the source that produced them (faq, cache, rag, fallback, intent...).",
    ("source",),
    registry=REGISTRY,
)
CACHE_LOOKUPS = Counter(
    "trulybot_cache_lookups_total",
    "Response-cache lookups by cache and result (hit, miss, error).",
    ("cache", "result"),
    registry=REGISTRY,
)
FAQ_LOOKUPS = Counter(
    "trulybot_faq_lookups_total",
    "FAQ knowledge-base lookups by result (hit, miss).",
    ("result",),
    registry=REGISTRY,
)
LLM_TOKENS = Counter(
    "trulybot_llm_tokens_total",
    "LLM tokens by model and kind (prompt, completion).",
    ("model", "kind"),
    registry=REGISTRY,
)
LLM_LATENCY = Histogram(
    "trulybot_llm_request_seconds",
    "LLM request latency by model and outcome (ok, error, timeout).",
    ("model", "outcome"),
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
RERANKS = Counter(
    "trulybot_rerank_total",
    "Reranks by reranker (llm, maxsim, cross-encoder) and outcome: ok, cached, or why the"
    " retrieval order was kept (timeout, error, malformed, no_model, skipped).",
    ("reranker", "outcome"),
    registry=REGISTRY,
)
RERANK_LATENCY = Histogram(
    "trulybot_rerank_seconds",
    "Time of the reranks that produced an order (not cached), by reranker.",
    ("reranker",),
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
INGEST_JOBS = Counter(
    "trulybot_ingestion_jobs_total",
    "Ingestion jobs by kind (file, url, sitemap...) and outcome (ok, failed, retried).",
    ("kind", "outcome"),
    registry=REGISTRY,
)
INGEST_DURATION = Histogram(
    "trulybot_ingestion_job_seconds",
    "Ingestion job duration by kind.",
    ("kind",),
    buckets=_JOB_BUCKETS,
    registry=REGISTRY,
)
RATE_LIMITED = Counter(
    "trulybot_rate_limited_total",
    "Requests refused with 429 by route class (api, auth, chat, ingest, login_locked).",
    ("route_class",),
    registry=REGISTRY,
)
DB_READS = Counter(
    "trulybot_db_reads_total",
    "Reads that may lag, by where they went (replica, primary) and why (replica, off, wrote,"
    " lagging, down).",
    ("target", "reason"),
    registry=REGISTRY,
)
CROSS_TENANT_MISSES = Counter(
    "trulybot_cross_tenant_not_found_total",
    "404 not_found answers for ids the caller cannot see: another workspace's, or none at all.",
    ("route",),
    registry=REGISTRY,
)

EMBEDDING_BATCH = Histogram(
    "trulybot_embedding_batch_size",
    "Texts per model call by kind (query: micro-batched questions, document: one slice).",
    ("kind",),
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
    registry=REGISTRY,
)
EMBEDDING_CALL = Histogram(
    "trulybot_embedding_call_seconds",
    "Duration of one model call (a query batch or a document slice) by kind.",
    ("kind",),
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
LOOP_LAG = Histogram(
    "trulybot_event_loop_lag_seconds",
    "How late the event loop ran a periodic timer: time it could not serve anything else.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    registry=REGISTRY,
)
LOOP_LAG_MAX = Gauge(
    "trulybot_event_loop_lag_max_seconds",
    "The largest event-loop lag seen in the last 10 to 20 seconds (the worst process's).",
    multiprocess_mode="livemax",
    registry=REGISTRY,
)
GC_PAUSE = Histogram(
    "trulybot_gc_pause_seconds",
    "How long one collection of the cyclic garbage collector held the process, by generation "
    "(the loop's thread stops for it).",
    ("generation",),
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
    registry=REGISTRY,
)
GC_FROZEN = Gauge(
    "trulybot_gc_frozen_objects",
    "Objects moved to the collector's permanent generation after start-up (never walked again;"
    " the largest of the server's processes).",
    multiprocess_mode="livemax",
    registry=REGISTRY,
)
DB_POOL = Gauge(
    "trulybot_db_pool_connections",
    "Database pool connections by state (checked_out, idle, overflow) and the pool size"
    " (the server's processes summed).",
    ("state",),
    multiprocess_mode="livesum",
    registry=REGISTRY,
)
DB_POOL_WAIT = Histogram(
    "trulybot_db_pool_wait_seconds",
    "Time a unit of work waited for a pooled database connection (including a new connect).",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0),
    registry=REGISTRY,
)
RAZORPAY_CANCEL_SWEEP_STOPS = Counter(
    "trulybot_razorpay_cancel_sweeps_stopped_total",
    "Razorpay cancel sweep jobs stopped before the due cancels were all sent, by reason"
    " (keys_refused: HTTP 401; rate_limited: HTTP 429; unreachable: timeouts in a row).",
    ("reason",),
    registry=REGISTRY,
)

CacheResult = Literal["hit", "miss", "error"]
SweepStop = Literal["keys_refused", "rate_limited", "unreachable"]

# Each known label value of the trulybot_razorpay_* counters, shown at 0 from the start: a
# series first seen at 1 has no earlier sample, so ``increase()``/``rate()`` read nothing of
# its first event and an alert on it stayed silent. Before, each appeared at its first count.
KNOWN_LABELS: Final = ((RAZORPAY_CANCEL_SWEEP_STOPS, "reason", get_args(SweepStop)),)


def _start_at_zero() -> None:
    for counter, label, values in KNOWN_LABELS:
        for value in values:
            counter.labels(**{label: value})


_start_at_zero()  # at import: every process (server, worker, command) starts with them


def observe_http(method: str, route: str, status: int, seconds: float) -> None:
    HTTP_DURATION.labels(method=method, route=route, status=str(status)).observe(seconds)


def observe_stage(stage: str, seconds: float) -> None:
    """One answer-pipeline stage took ``seconds`` (stage: intent, faq, cache, retrieval...)."""
    CHAT_STAGE.labels(stage=stage).observe(max(0.0, seconds))


def count_answer(source: str) -> None:
    """An answer was produced by ``source`` (faq, cache, rag, fallback, handoff, refused)."""
    CHAT_ANSWERS.labels(source=source).inc()


def count_cache(result: CacheResult, cache: str = "response") -> None:
    CACHE_LOOKUPS.labels(cache=cache, result=result).inc()


def count_faq(hit: bool) -> None:
    FAQ_LOOKUPS.labels(result="hit" if hit else "miss").inc()


def count_llm_tokens(model: str, *, prompt: int, completion: int) -> None:
    if prompt > 0:
        LLM_TOKENS.labels(model=model, kind="prompt").inc(prompt)
    if completion > 0:
        LLM_TOKENS.labels(model=model, kind="completion").inc(completion)


def observe_llm(model: str, seconds: float, outcome: str = "ok") -> None:
    """One LLM call: outcome is ok, error or timeout."""
    LLM_LATENCY.labels(model=model, outcome=outcome).observe(max(0.0, seconds))


def count_rerank(reranker: str, outcome: str) -> None:
    RERANKS.labels(reranker=reranker, outcome=outcome).inc()


def observe_rerank(reranker: str, seconds: float) -> None:
    RERANK_LATENCY.labels(reranker=reranker).observe(max(0.0, seconds))


def observe_ingestion(kind: str, seconds: float, outcome: str = "ok") -> None:
    """One ingestion job finished: kind is file, url, sitemap...; outcome ok, failed, retried."""
    INGEST_JOBS.labels(kind=kind, outcome=outcome).inc()
    INGEST_DURATION.labels(kind=kind).observe(max(0.0, seconds))


def count_rate_limited(route_class: str) -> None:
    RATE_LIMITED.labels(route_class=route_class).inc()


def count_razorpay_cancel_sweep_stop(reason: SweepStop) -> None:
    RAZORPAY_CANCEL_SWEEP_STOPS.labels(reason=reason).inc()


def count_db_read(target: Literal["replica", "primary"], reason: str) -> None:
    DB_READS.labels(target=target, reason=reason).inc()


def count_cross_tenant_miss(route: str) -> None:
    CROSS_TENANT_MISSES.labels(route=route).inc()


def observe_embedding_batch(kind: str, size: int, seconds: float) -> None:
    """One model call encoded ``size`` texts of ``kind`` (query or document) in ``seconds``."""
    EMBEDDING_BATCH.labels(kind=kind).observe(size)
    EMBEDDING_CALL.labels(kind=kind).observe(max(0.0, seconds))


def observe_loop_lag(seconds: float) -> None:
    LOOP_LAG.observe(max(0.0, seconds))


def set_loop_lag_max(seconds: float) -> None:
    LOOP_LAG_MAX.set(max(0.0, seconds))


def observe_gc_pause(generation: int, seconds: float) -> None:
    GC_PAUSE.labels(generation=str(generation)).observe(max(0.0, seconds))


def set_gc_frozen(count: int) -> None:
    GC_FROZEN.set(count)


def set_db_pool(*, size: int, checked_out: int, idle: int, overflow: int) -> None:
    """The pool's state, read when /metrics is served."""
    DB_POOL.labels(state="size").set(size)
    DB_POOL.labels(state="checked_out").set(checked_out)
    DB_POOL.labels(state="idle").set(idle)
    DB_POOL.labels(state="overflow").set(max(0, overflow))


def observe_db_pool_wait(seconds: float) -> None:
    DB_POOL_WAIT.observe(max(0.0, seconds))


def render() -> bytes:
    """The text exposition of every TrulyBot metric: this process's, or with
    ``MULTIPROCESS_DIR`` every process's of the server."""
    if MULTIPROCESS_DIR is None:
        return bytes(generate_latest(REGISTRY))
    forget_dead_processes(MULTIPROCESS_DIR)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=MULTIPROCESS_DIR)
    return bytes(generate_latest(registry))


def forget_dead_processes(directory: str) -> None:
    """The live gauges (requests in progress, pool connections...) of processes that are gone:
    a worker process the server replaced would otherwise count in them for good. Their
    counters and histograms stay: what they counted happened."""
    for path in Path(directory).iterdir():
        found = _LIVE_GAUGE_FILE.match(path.name)
        if found is None:
            continue
        pid = int(found.group(1))
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            with contextlib.suppress(OSError):
                mark_process_dead(pid, directory)
        except PermissionError:
            continue  # alive, as another user


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    """The current value of one sample (0.0 when absent): for tests and health pages."""
    value = REGISTRY.get_sample_value(name, labels or {})
    return float(value) if value is not None else 0.0
