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
