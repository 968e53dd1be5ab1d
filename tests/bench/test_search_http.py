"""bench.search_http reads the server's own numbers: its access log and its /metrics text."""

from __future__ import annotations

import json
import uuid

import httpx

from bench.chat_workload import workspace_with_key
from bench.search_http import SEARCH_ROUTE, access_log_ms, metric_sums, pages_until
from core import metrics
from core.embedded import EmbeddedPostgres


def test_query_embedding_time_is_read_from_the_real_metrics_text() -> None:
    name, labels = "trulybot_embedding_call_seconds", 'kind="query"'
    before = metric_sums(metrics.render().decode(), name, labels)
    metrics.observe_embedding_batch("query", 3, 0.25)
    metrics.observe_embedding_batch("document", 4, 1.0)  # not a query: not counted
    after = metric_sums(metrics.render().decode(), name, labels)
    assert after[1] - before[1] == 1
    assert abs((after[0] - before[0]) - 0.25) < 1e-9


def test_only_successful_searches_count_in_the_access_log() -> None:
    def line(route: str, status: int, ms: float) -> str:
        return json.dumps({"route": route, "status": status, "duration_ms": ms, "logger": "x"})

    lines = [
        line(SEARCH_ROUTE, 200, 12.5),
        line(SEARCH_ROUTE, 500, 99.0),
        line("/api/v1/workspaces/{workspace_id}/documents", 200, 7.0),
        "uvicorn started, duration_ms unknown",
        line(SEARCH_ROUTE, 200, 3.25),
    ]
    assert access_log_ms(lines) == [12.5, 3.25]


def test_pages_are_taken_until_the_chunk_target_is_reached() -> None:
    counts = [("a", 400), ("b", 500), ("c", 300), ("d", 900)]
    assert pages_until(counts, 900) == ["a", "b"]
    assert pages_until(counts, 901) == ["a", "b", "c"]


async def test_the_bench_workspace_gets_an_api_key_that_searches(
    client: httpx.AsyncClient, pg: EmbeddedPostgres
) -> None:
    # An API key needs a verified email: the bench verifies it from the mail outbox, as a new
    # owner would from the link (it stopped at a 403 email_unverified before).
    workspace_id, key = await workspace_with_key(client, f"bench {uuid.uuid4()}", pg.owner_url())
    response = await client.post(
        f"/api/v1/workspaces/{workspace_id}/search",
        json={"query": "anything"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200, response.text
