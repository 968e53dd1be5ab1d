"""bench.chat_http --quick makes a run smaller without dropping what the command line asks."""

from __future__ import annotations

from bench import chat_http


def test_quick_keeps_the_configs_and_levels_given() -> None:
    argv = ["--configs", "1:memory", "--scenarios", "rag,sse,ingest", "--levels", "1,10,16,64"]
    args = chat_http.parse_args([*argv, "--latencies", "0", "--quick"])
    assert [(c.servers, c.redis) for c in args.configs] == [(1, False)]
    assert args.levels == [1, 10, 16, 64]
    assert args.rag_requests == 60  # what --quick makes smaller where nothing was asked


def test_quick_alone_is_the_smoke_run() -> None:
    args = chat_http.parse_args(["--quick"])
    assert args.levels == [1, 16]
    assert [(c.servers, c.redis) for c in args.configs] == [(1, False), (2, True)]
    assert (args.requests, args.rag_requests, args.cap) == (100, 60, 6.0)


def test_the_lean_load_generator_is_an_option_beside_the_default() -> None:
    import pytest

    from bench.chat_args import Config

    assert chat_http.parse_args([]).clients == ["httpx"]
    assert chat_http.parse_args(["--clients", "httpx,lean"]).clients == ["httpx", "lean"]
    with pytest.raises(SystemExit):
        chat_http.parse_args(["--clients", "curl"])
    assert Config(1, False, True, client="lean").label == "1 proc, memory, batching on, lean bench"
    assert Config(1, False, True).label == "1 proc, memory, batching on"


def test_each_load_generator_has_its_own_goal_tables() -> None:
    from bench.chat_workload import Cell

    def cell(config: str, overhead: float) -> Cell:
        return Cell(config, "sse", 0.0, 16, wall=1.0, client_ms=[1.0], overhead_ms=[overhead])

    default = cell("1 proc, memory, batching on", 100.0)
    lean = cell("1 proc, memory, batching on, lean bench", 50.0)
    default_tables = dict(chat_http.goal_tables([default]))
    lean_tables = dict(chat_http.goal_tables([lean], " (lean bench)"))
    sse = "streamed answers at zero LLM latency: time to the first token (ms)"
    assert default_tables[sse].rows[0][-1] == "100.0 / 100.0"
    assert lean_tables[sse + " (lean bench)"].rows[0][-1] == "50.0 / 50.0"
