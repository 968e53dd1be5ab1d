"""No embedded PostgreSQL outlives the server that started it, or the test that ran it."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import psutil
import pytest

from tests import clusters
from tests.e2e.conftest import running_server, start_server, stop_server, wait_ready

QUICK = {"SEED_DEMO": "false", "EMBEDDING_PROVIDER": "hash"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One DATA_DIR for the module's servers, one after another, each test ending with its
    cluster stopped: empty for the first, a stopped cluster for the next. A fresh directory per
    test made each of them create and migrate a cluster (about a third of a server's start),
    while what they check is the stop; the first start on an empty directory is the first
    test's."""
    return tmp_path_factory.mktemp("server-cleanup")


def _terminate_leaves_no_cluster(process: subprocess.Popen[str], pgdata: Path) -> None:
    """SIGTERM (what an operator, a container runtime or a test sends): the server ends, and
    the embedded cluster with it."""
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) is not None
    assert clusters.postgres_processes(pgdata) == []


def test_serve_stops_its_embedded_cluster_when_it_is_terminated(data_dir: Path) -> None:
    """`trulybot serve` on an empty DATA_DIR starts a cluster; SIGTERM (what an operator, a
    container runtime or a test sends) ends the server, and the cluster with it."""
    pgdata = data_dir / "pgdata"
    assert not pgdata.exists()  # the module's first test
    clusters.STARTED.add(pgdata)
    process, base_url = start_server(data_dir, **QUICK)
    try:
        wait_ready(process, base_url, data_dir)
        assert clusters.postgres_processes(pgdata)  # the server started one
        _terminate_leaves_no_cluster(process, pgdata)
    finally:
        stop_server(process)
        clusters.stop_clusters(pgdata)


def test_the_server_fixture_stops_the_cluster_of_a_server_that_died(data_dir: Path) -> None:
    """A crashed server cleans up nothing of its own: the fixture's teardown stops its cluster,
    also when the test itself failed."""
    pgdata = data_dir / "pgdata"
    assert clusters.postgres_processes(pgdata) == []  # the server starts it
    with (  # noqa: PT012
        pytest.raises(AssertionError, match="the test failed"),
        running_server(data_dir, **QUICK),
    ):
        [postmaster] = clusters.postgres_processes(pgdata)
        # This test's server, not another test's (the session's demo server is a child too).
        server = next(
            p
            for p in psutil.Process().children()
            if "serve" in " ".join(p.cmdline()) and p.environ().get("DATA_DIR") == str(data_dir)
        )
        server.kill()  # no signal handler, no exit hook
        server.wait(timeout=30)
        assert postmaster.is_running()  # left behind
        raise AssertionError("the test failed")
    assert clusters.postgres_processes(pgdata) == []


def test_a_server_started_after_a_crash_still_stops_the_cluster(data_dir: Path) -> None:
    """A server killed outright (kill -9, the OOM killer) leaves its pid in the cluster's list
    of users; the next server on that DATA_DIR must not count it, or no clean stop ever
    stops the cluster again."""
    pgdata = data_dir / "pgdata"
    assert clusters.postgres_processes(pgdata) == []  # the first server starts it
    clusters.STARTED.add(pgdata)
    crashed, base_url = start_server(data_dir, **QUICK)
    try:
        wait_ready(crashed, base_url, data_dir)
        crashed.kill()
        crashed.wait(timeout=30)
        assert clusters.postgres_processes(pgdata)  # left running, as a crash leaves it
        process, base_url = start_server(data_dir, **QUICK)
        try:
            wait_ready(process, base_url, data_dir)
            _terminate_leaves_no_cluster(process, pgdata)
        finally:
            stop_server(process)
    finally:
        stop_server(crashed)
        clusters.stop_clusters(pgdata)
