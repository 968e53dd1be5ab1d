"""The runtime a process builds: what it says it runs is what it runs."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import pytest

from api.runtime import describe_defaults
from core.embedded import EmbeddedPostgres
from rag.chat.extractive import ExtractiveAnswerer
from rag.chat.llm import LLMGenerator
from rag.knowledge.embeddings import LocalEmbedder
from tests.conftest import APP_ROLE, RuntimeFactory, make_settings, seed_onnx_graph, started_app
from tests.own_database import SERVED_APP, without_live_workspaces


async def test_the_startup_lines_name_the_generator_really_used(
    runtime_factory: RuntimeFactory,
) -> None:
    # A self-hosted OpenAI-compatible server (vLLM, Ollama...) often needs no key.
    async with runtime_factory(openai_base_url="http://127.0.0.1:9/v1") as runtime:
        assert isinstance(runtime.generator, LLMGenerator)
        [line] = [x for x in describe_defaults(runtime) if x.startswith("generation:")]
        assert "extractive" not in line
        assert "http://127.0.0.1:9/v1" in line
    async with runtime_factory(openai_api_key=None, openai_base_url=None) as runtime:
        assert isinstance(runtime.generator, ExtractiveAnswerer)
        [line] = [x for x in describe_defaults(runtime) if x.startswith("generation:")]
        assert "extractive" in line


async def test_the_payments_line_names_the_webhook_address_and_a_missing_webhook_secret(
    runtime_factory: RuntimeFactory,
) -> None:
    """With the keys set and no RAZORPAY_WEBHOOK_SECRET every payment webhook is refused (400),
    and the start said only "payments: Razorpay"; nor did anything name the address to give
    Razorpay's dashboard."""
    keys = {
        "razorpay_key_id": "rzp_test_startlines",
        "razorpay_key_secret": "start-lines-secret",
        "public_base_url": "https://bot.example.com/tb/",
    }
    hook = "https://bot.example.com/tb/api/v1/billing/webhooks/razorpay"
    async with runtime_factory(razorpay_webhook_secret=[], **keys) as runtime:
        [line] = [x for x in describe_defaults(runtime) if x.startswith("payments:")]
        assert hook in line
        assert "RAZORPAY_WEBHOOK_SECRET is not set: every payment webhook is refused" in line
    async with runtime_factory(razorpay_webhook_secret=["whsec-start-lines"], **keys) as runtime:
        [line] = [x for x in describe_defaults(runtime) if x.startswith("payments:")]
        assert hook in line
        assert "refused" not in line


async def test_the_startup_lines_name_the_local_models_runtime(
    runtime_factory: RuntimeFactory, tmp_path: Path
) -> None:
    """The local model is loaded when the runtime starts (not by the first visitor), and the
    startup lines say which runtime encodes: onnx, or torch when onnx could not run."""
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("the graph cannot be cached here")
    for cache, expected in ((None, "onnx"), (blocked, "torch")):
        overrides = {"embedding_provider": "local", "embed_model_cache_dir": cache}
        async with runtime_factory(**overrides) as runtime:
            assert isinstance(runtime.embedder, LocalEmbedder)
            assert runtime.embedder.runtime_used == expected
            [line] = [x for x in describe_defaults(runtime) if x.startswith("embeddings:")]
            assert line == f"embeddings: local (all-MiniLM-L6-v2, {expected})"


async def test_the_startup_lines_say_int8_questions_only_when_they_run(
    runtime_factory: RuntimeFactory, tmp_path: Path, onnx_graph: Path
) -> None:
    """EMBED_QUERY_PRECISION=int8 is named when questions run on int8, not with torch."""
    from rag.knowledge import onnx_minilm
    from rag.knowledge.embeddings import get_local_model

    seed_onnx_graph(onnx_graph, tmp_path)
    full = onnx_minilm.load(tmp_path, 1, lambda: get_local_model(1))
    try:
        onnx_minilm.load_quantized(full, threads=1)
    except RuntimeError as exc:
        pytest.skip(f"int8 kernels on this CPU fail the check: {exc}")
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("the graph cannot be cached here")
    for cache, expected in ((tmp_path, "onnx, int8 questions"), (blocked, "torch")):
        overrides = {
            "embedding_provider": "local",
            "embed_model_cache_dir": cache,
            "embed_query_precision": "int8",
        }
        async with runtime_factory(**overrides) as runtime:
            [line] = [x for x in describe_defaults(runtime) if x.startswith("embeddings:")]
            assert line == f"embeddings: local (all-MiniLM-L6-v2, {expected})"


async def test_one_runtime_shares_each_provider(runtime_factory: RuntimeFactory) -> None:
    async with runtime_factory() as runtime:
        assert runtime.pipeline.embedder is runtime.embedder
        assert runtime.pipeline.generator is runtime.generator
        assert runtime.pipeline.cache is runtime.cache
        assert runtime.ingestion.embedder is runtime.embedder
        assert runtime.ingestion.jobs is runtime.jobs
        assert runtime.payments is None  # billing is not configured in these settings


async def test_an_api_replica_with_only_the_app_role_starts_without_migrating(
    pg: EmbeddedPostgres, tmp_path: Path
) -> None:
    """Production's layout: `trulybot migrate` runs once per deploy with the owner's
    connection; API replicas have only the app role's DATABASE_URL. They start and serve (it
    refused before: 'MIGRATION_DATABASE_URL (the owner role) is needed to apply migrations')."""
    # Not the suite's database, whose every workspace the start went through (SERVED_APP).
    served = await without_live_workspaces(pg, SERVED_APP)
    settings = make_settings(
        database_url=served.app_url(APP_ROLE),
        migration_database_url=None,
        redis_url=None,
        data_dir=str(tmp_path),
    )
    async with started_app(settings) as client:
        ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text


async def test_the_api_starts_and_serves_while_redis_is_down(
    pg: EmbeddedPostgres, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """deploy.md: with Redis down the API keeps working on per-process substitutes. A replica
    restarted during the outage must come back (it stopped at start, on the job queue's first
    connection): /readyz says what is missing, a sign-up still answers, its mail waits."""
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    settings = make_settings(
        database_url=pg.app_url(APP_ROLE),
        migration_database_url=None,
        redis_url=f"redis://127.0.0.1:{closed}/0",
        data_dir=str(tmp_path),
        rate_limits="off",
    )
    async with started_app(settings) as client:
        app = client.app  # type: ignore[attr-defined]
        ready = await client.get("/readyz")
        signed_up = await client.post(
            "/api/v1/auth/signup",
            json={
                "email": f"outage-{uuid.uuid4().hex[:10]}@example.com",
                "password": "correct horse battery",
                "workspace_name": "Outage",
            },
        )
        await app.state.runtime.mailer.settle()
    # The start-up lines say that with Redis the uploads and mail wait for `trulybot worker`
    # (a tester's uploads stayed queued with nothing said).
    [line] = [x for x in describe_defaults(app.state.runtime) if x.startswith("redis:")]
    assert "`trulybot worker`" in line
    assert ready.status_code == 200  # it serves: a balancer must keep it
    assert ready.json()["status"] == "degraded"
    assert ready.json()["checks"]["redis"].startswith("unavailable")
    assert ready.json()["checks"]["database"] == "ok"
    assert signed_up.status_code == 202, signed_up.text
    warned = [r.getMessage() for r in caplog.records if r.name == "trulybot.mail"]
    # Said at start and again after the sign-up's commit (its verification mail): that kick
    # raised in a task nobody awaited before.
    assert sum("no flush requested" in line for line in warned) >= 2, warned
