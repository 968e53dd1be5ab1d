"""Metrics, structured logs and error reports as an operator sees them."""

from __future__ import annotations

import asyncio
import json
import random
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import sentry_sdk
from fastapi import FastAPI

from api import metrics
from core import heap
from core.looplag import LoopLagMonitor
from core.observability import FILTERED, init_sentry, scrub_emails, scrub_event
from tests.bounded_child import run_bounded
from tests.conftest import Owner, fresh_ip, json_logs, make_settings
from tests.hardening.conftest import ClientFactory, environment_without_settings

TOKEN = "metrics-token-for-tests-0123456789"
WORKSPACE_ROUTE = "/api/v1/workspaces/{workspace_id}"


async def test_metrics_needs_a_configured_token(app_client: ClientFactory) -> None:
    async with app_client() as unconfigured:
        assert (await unconfigured.get("/metrics")).status_code == 404
    async with app_client(metrics_token=TOKEN) as client:
        assert (await client.get("/metrics")).status_code == 401
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        ok = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200
        assert ok.headers["content-type"].startswith("text/plain")


async def test_request_durations_by_route_template_and_cross_tenant_misses(
    app_client: ClientFactory, owner: Owner, other: Owner
) -> None:
    labels = {"method": "GET", "route": WORKSPACE_ROUTE, "status": "404"}
    before_404 = metrics.sample("trulybot_http_request_duration_seconds_count", labels)
    before_miss = metrics.sample(
        "trulybot_cross_tenant_not_found_total", {"route": WORKSPACE_ROUTE}
    )
    async with app_client(metrics_token=TOKEN) as client:
        assert (await client.get(owner.url(), headers=owner.headers)).status_code == 200
        # A's credentials, B's workspace id: a 404, counted as a cross-tenant miss.
        assert (await client.get(other.url(), headers=owner.headers)).status_code == 404
        page = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    text = page.text
    assert (
        'trulybot_http_request_duration_seconds_count{method="GET",'
        'route="/api/v1/workspaces/{workspace_id}",status="200"}'
    ) in text
    assert owner.workspace_id not in text  # templates, never raw paths
    assert metrics.sample("trulybot_http_request_duration_seconds_count", labels) == before_404 + 1
    miss = metrics.sample("trulybot_cross_tenant_not_found_total", {"route": WORKSPACE_ROUTE})
    assert miss == before_miss + 1


async def test_functions_other_modules_call_show_up_in_metrics(app_client: ClientFactory) -> None:
    metrics.observe_stage("retrieval", 0.02)
    metrics.count_cache("hit")
    metrics.count_faq(hit=False)
    metrics.count_answer("faq")
    metrics.count_llm_tokens("gpt-4o-mini", prompt=120, completion=30)
    metrics.observe_llm("gpt-4o-mini", 0.8, "ok")
    metrics.observe_ingestion("file", 3.5, "ok")
    async with app_client(metrics_token=TOKEN) as client:
        text = (await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})).text
    for line in (
        'trulybot_chat_stage_seconds_count{stage="retrieval"}',
        'trulybot_cache_lookups_total{cache="response",result="hit"}',
        'trulybot_faq_lookups_total{result="miss"}',
        'trulybot_chat_answers_total{source="faq"}',
        'trulybot_llm_tokens_total{kind="prompt",model="gpt-4o-mini"}',
        'trulybot_llm_request_seconds_count{model="gpt-4o-mini",outcome="ok"}',
        'trulybot_ingestion_jobs_total{kind="file",outcome="ok"}',
        'trulybot_ingestion_job_seconds_count{kind="file"}',
    ):
        assert line in text


async def test_a_stalled_event_loop_shows_as_lag() -> None:
    """A 300 ms blocking call on the loop's thread delays the monitor's timer by at least that
    much less one interval: it shows in the histogram and the window's maximum."""
    before = metrics.sample("trulybot_event_loop_lag_seconds_count")
    lag_before = metrics.sample("trulybot_event_loop_lag_seconds_sum")
    monitor = LoopLagMonitor(interval=0.01, window=60)
    monitor.start()
    try:
        while monitor.samples < 2:
            await asyncio.sleep(0.01)
        time.sleep(0.3)  # the stall being measured
        seen = monitor.samples
        while monitor.samples < seen + 2:
            await asyncio.sleep(0.01)
    finally:
        await monitor.stop()
    assert monitor.max_lag >= 0.25
    assert metrics.sample("trulybot_event_loop_lag_seconds_count") >= before + 4
    assert metrics.sample("trulybot_event_loop_lag_seconds_sum") >= lag_before + 0.25


def test_a_server_freezes_its_start_up_objects_and_times_each_collection(tmp_path: Path) -> None:
    """In a process of its own (a frozen object is never freed, so not in the suite's): after
    the app is built, ``freeze_startup_heap`` leaves a full collection nothing of it to walk, and
    every collection's pause lands in the histogram of its generation."""
    script = """
import gc, json
from api.app import create_app
from core import heap, metrics
create_app()
gc.disable()  # only the collections below: the counts are exact
heap.install_pause_metrics()
heap.install_pause_metrics()  # once per process
before = len(gc.get_objects())
frozen = heap.freeze_startup_heap()
gc.collect(0)
timed_before_drain = metrics.sample("trulybot_gc_pause_seconds_count", {"generation": "2"})
drained = heap.drain_pauses()
print(json.dumps({
    "timed_before_drain": timed_before_drain,
    "drained": drained,
    "before": before,
    "frozen": frozen,
    "after": len(gc.get_objects()),
    "gauge": metrics.sample("trulybot_gc_frozen_objects"),
    "gen0": metrics.sample("trulybot_gc_pause_seconds_count", {"generation": "0"}),
    "gen2": metrics.sample("trulybot_gc_pause_seconds_count", {"generation": "2"}),
    "callbacks": gc.callbacks.count(heap._on_collection),
    "threshold": gc.get_threshold(),
}))
"""
    env = environment_without_settings()
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=tmp_path,  # no .env read, the generated JWT secret written here
        env=env,
    )
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["before"] > 50_000  # what the app's modules hold after start-up
    assert seen["frozen"] >= seen["before"] * 0.9
    assert seen["after"] < seen["before"] / 20  # left for the collector to walk
    assert seen["gauge"] == seen["frozen"]
    # the histogram is fed outside the collections, when drained (core.heap)
    assert (seen["timed_before_drain"], seen["drained"]) == (0, 2)
    assert (seen["gen0"], seen["gen2"], seen["callbacks"]) == (1, 1, 1)
    # the youngest generation collected every GEN0_THRESHOLD allocations, the older ones as before
    assert seen["threshold"] == [heap.GEN0_THRESHOLD, 10, 10]


async def test_metrics_show_the_pool_and_its_waits(app_client: ClientFactory, owner: Owner) -> None:
    waits = metrics.sample("trulybot_db_pool_wait_seconds_count")
    async with app_client(metrics_token=TOKEN) as client:
        assert (await client.get(owner.url(), headers=owner.headers)).status_code == 200
        text = (await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})).text
    assert metrics.sample("trulybot_db_pool_wait_seconds_count") > waits
    assert 'trulybot_db_pool_connections{state="size"}' in text
    assert 'trulybot_db_pool_connections{state="checked_out"}' in text
    assert "trulybot_event_loop_lag_seconds_bucket" in text
    assert metrics.sample("trulybot_db_pool_connections", {"state": "size"}) >= 1


async def test_rate_limit_rejections_are_counted(app_client: ClientFactory) -> None:
    before = metrics.sample("trulybot_rate_limited_total", {"route_class": "api"})
    async with app_client(rate_limits="on", rate_limit_ip="1/minute") as client:
        await client.get("/api/v1/me")
        assert (await client.get("/api/v1/me")).status_code == 429
    assert metrics.sample("trulybot_rate_limited_total", {"route_class": "api"}) == before + 1


async def test_json_access_log_line_with_request_and_workspace_ids(
    app_client: ClientFactory, owner: Owner
) -> None:
    with json_logs() as lines:
        async with app_client() as client:
            response = await client.get(
                owner.url("/leads"), headers=owner.headers | {"X-Request-ID": "req-log-1"}
            )
        assert response.status_code == 200
    access = [line for line in lines if line.get("logger") == "trulybot.access"]
    assert len(access) == 1
    entry = access[0]
    assert entry["route"] == "/api/v1/workspaces/{workspace_id}/leads"
    assert entry["status"] == 200
    assert entry["http_method"] == "GET"
    assert entry["duration_ms"] >= 0
    assert entry["request_id"] == "req-log-1"
    assert entry["workspace_id"] == owner.workspace_id
    assert entry["level"] == "info"
    assert "timestamp" in entry


async def test_behind_a_tls_proxy_lines_and_metrics_keep_the_route(
    app_client: ClientFactory, owner: Owner
) -> None:
    """Behind a balancer that terminates TLS (`X-Forwarded-Proto: https` from a trusted proxy,
    deploy/haproxy.cfg) every access line and every duration series said `<unmatched>`: the
    security headers' layer handed the router a copy of the request's scope with the scheme
    https, and the route was written into that copy, never seen by the access log outside it."""
    labels = {"method": "GET", "route": "/api/v1/workspaces/{workspace_id}/leads", "status": "200"}
    before = metrics.sample("trulybot_http_request_duration_seconds_count", labels)
    proxy = fresh_ip()
    with json_logs() as lines:
        async with app_client(ip=proxy, trusted_proxies=proxy) as client:
            response = await client.get(
                owner.url("/leads"),
                headers=owner.headers
                | {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"},
            )
    assert response.status_code == 200
    assert "strict-transport-security" in response.headers  # the proxy's https was believed
    access = [line for line in lines if line.get("logger") == "trulybot.access"]
    assert [line["route"] for line in access] == [labels["route"]]
    assert metrics.sample("trulybot_http_request_duration_seconds_count", labels) == before + 1


async def test_passing_health_checks_are_not_logged_at_info(app_client: ClientFactory) -> None:
    """A balancer checks `/readyz` every 2 s (deploy/haproxy.cfg), an orchestrator `/healthz`
    too: at INFO each check was an access line, 43,200 a day per process and checker, drowning
    the requests. A passing check is logged at DEBUG; one that fails stays at INFO, and every
    check is still counted in /metrics."""
    labels = {"method": "GET", "route": "/healthz", "status": "200"}
    before = metrics.sample("trulybot_http_request_duration_seconds_count", labels)
    with json_logs() as lines:
        async with app_client() as client:
            assert (await client.get("/healthz")).status_code == 200
            assert (await client.get("/readyz")).status_code == 200
            assert (await client.get("/api/v1/me")).status_code == 401
    access = [line["route"] for line in lines if line.get("logger") == "trulybot.access"]
    assert access == ["/api/v1/me"]
    assert metrics.sample("trulybot_http_request_duration_seconds_count", labels) == before + 1


def test_sentry_events_are_scrubbed_of_personal_data() -> None:
    event: dict[str, Any] = {
        "message": "login failed for jane.doe@example.com",
        "request": {
            "url": "https://api.example.com/api/v1/auth/login",
            "data": {"email": "jane.doe@example.com", "password": "hunter2hunter2"},
            "cookies": {"session": "abc"},
            "query_string": "email=jane.doe@example.com",
            "headers": {
                "Authorization": "Bearer eyJhbGciOi.secret",
                "X-Widget-Key": "pk_live_abcdef123456",
                "Cookie": "session=abc",
                "User-Agent": "pytest",
            },
        },
        "user": {"id": "u1", "email": "jane.doe@example.com", "ip_address": "203.0.113.9"},
        "extra": {"password": "hunter2hunter2", "note": "key tb_abcdef123456789 leaked"},
        "breadcrumbs": {"values": [{"message": "sent to jane.doe@example.com"}]},
    }
    scrubbed = scrub_event(event, {})
    text = json.dumps(scrubbed)
    for secret in (
        "jane.doe@example.com",
        "hunter2",
        "eyJhbGciOi",
        "pk_live",
        "tb_abcdef",
        "203.0",
    ):
        assert secret not in text
    assert "data" not in scrubbed["request"]
    assert "cookies" not in scrubbed["request"]
    assert scrubbed["request"]["headers"]["Authorization"] == FILTERED
    assert scrubbed["request"]["headers"]["User-Agent"] == "pytest"
    assert scrubbed["user"] == {"id": "u1"}


async def test_sentry_reports_unhandled_errors_with_release_and_without_pii(
    app_client: ClientFactory, owner: Owner
) -> None:
    sent: list[dict[str, Any]] = []

    class Capture(sentry_sdk.transport.Transport):
        def capture_envelope(self, envelope: Any) -> None:
            for item in envelope.items:
                if item.type == "event":
                    sent.append(item.payload.json)

    settings = make_settings(sentry_dsn="http://public@127.0.0.1:1/1", release="trulybot@9.9.9")
    try:
        assert init_sentry(settings, transport=Capture)
        assert sentry_sdk.get_client().should_send_default_pii() is False
        async with app_client() as client:
            app: FastAPI = client.app  # type: ignore[attr-defined]

            @app.get("/api/v1/_test/boom")
            async def boom() -> None:
                raise RuntimeError(f"boom for {owner.email}")

            response = await client.get(
                "/api/v1/_test/boom",
                headers=owner.headers | {"X-Widget-Key": "pk_secret_value_1"},
            )
        assert response.status_code == 500
        sentry_sdk.flush()
    finally:
        # Sentry off for the rest of the process: a client initialized without a DSN still
        # runs its integrations (httpx requests then carry sentry-trace and baggage headers,
        # which tests/bench/test_chat_raw_client.py, in the same worker, saw one run in many).
        sentry_sdk.get_global_scope().set_client(None)
    assert sent, "no event reached the transport"
    event = sent[-1]
    assert event["release"] == "trulybot@9.9.9"
    assert event["environment"] == "test"
    text = json.dumps(event)
    assert owner.email not in text
    assert owner.token not in text
    assert "pk_secret_value_1" not in text


async def test_an_unexpected_error_is_a_500_a_person_can_trace(
    app_client: ClientFactory, owner: Owner
) -> None:
    """A 500 carries the request's id (header and body), the security headers every answer
    gets, and the id in the error's log line and the access line: what support asks a visitor
    for finds the traceback. Starlette's own 500 is sent outside every middleware, with none of
    them."""
    with json_logs() as lines:
        async with app_client() as client:
            app: FastAPI = client.app  # type: ignore[attr-defined]

            @app.get("/api/v1/_test/boom")
            async def boom() -> None:
                raise RuntimeError("boom")

            response = await client.get(
                "/api/v1/_test/boom", headers=owner.headers | {"X-Request-ID": "req-boom-1"}
            )
    assert response.status_code == 500
    assert response.json()["error"] == {
        "code": "internal_error",
        "message": "Something went wrong on our side",
        "details": {"request_id": "req-boom-1"},
    }
    assert response.headers["x-request-id"] == "req-boom-1"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    errors = [line for line in lines if line.get("level") == "error"]
    assert len(errors) == 1
    assert errors[0]["request_id"] == "req-boom-1"
    assert "RuntimeError: boom" in json.dumps(errors[0])
    access = [line for line in lines if line.get("logger") == "trulybot.access"]
    assert [(a["status"], a["request_id"]) for a in access] == [(500, "req-boom-1")]


# The address expression the scrubber used before: what it filters stays what this matches.
# It retried from every character of a run of letters (20,000 letters took 2.6 s of the loop
# that captured the error; an error's message can quote a visitor's input).
OLD_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
EMAIL_PIECES = ["a", "B", "7", ".", "_", "%", "+", "-", "@", "@", "co", "x.io", " ", ",", "é"]


def test_addresses_are_filtered_where_the_old_expression_found_them() -> None:
    """The same text as the expression's substitution, on 20,000 texts made of what addresses
    are made of (fixed seed), and on the cases where its backtracking chose."""
    cases = ["a@b.com.x@c.com", "a@b.com_x@c.com", "x@y.z", "@a.io", "a@.io", "a.@b.c.de"]
    cases += ["mail a@b.co, c@d.io.", "a@b.c1de.fg", "a@b-c.d-e.fg", "a@@b.io", "é@b.io"]
    rng = random.Random(20261205)
    cases += ["".join(rng.choice(EMAIL_PIECES) for _ in range(rng.randrange(0, 25)))]
    cases += ["".join(rng.choice(EMAIL_PIECES) for _ in range(25)) for _ in range(20_000)]
    for text in cases:
        assert scrub_emails(text) == OLD_EMAIL.sub(FILTERED, text), text


def test_a_long_run_of_letters_is_scrubbed_in_linear_time() -> None:
    """In a process of its own, with a generous bound: the old expression needed minutes for
    these (quadratic), the scrubber milliseconds."""
    shapes = '["a" * 200_000, "a" * 100_000 + "@", "a@" + "a." * 50_000, "a@a" * 50_000]'
    script = (
        "from core.observability import scrub_event\n"
        f"scrub_event({{'message': 'x', 'extra': {{'v': {shapes}}}}})\n"
    )
    run_bounded(
        script,
        env=environment_without_settings(),
        seconds=60,
        too_slow="scrubbing an event took over 60 s on 500 KB of letters: not linear",
    )
