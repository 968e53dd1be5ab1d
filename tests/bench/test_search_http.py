"""bench.search_http reads the server's own numbers: its access log and its /metrics text."""

from __future__ import annotations

import json

from bench.search_http import SEARCH_ROUTE, access_log_ms, metric_sums, pages_until
from core import metrics


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
