"""The ports tests hand to the servers they start lie outside the kernel's ephemeral range."""

import socket

import pytest

from tests import ports


def test_ports_are_below_the_ephemeral_range_free_and_never_handed_twice() -> None:
    handed = [ports.free_port() for _ in range(200)]
    assert len(set(handed)) == len(handed)
    assert all(1024 <= port < ports._ephemeral_low() for port in handed)


def test_a_port_someone_listens_on_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    slice_ = ports._slice()
    k = next(i for i, p in enumerate(slice_) if p not in ports._handed and ports._is_free(p))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", slice_[k]))
        taken.listen()
        monkeypatch.setattr(ports.random, "randrange", lambda n: k)  # the search starts there
        port = ports.free_port()
    assert port != slice_[k]
    assert port in slice_


def test_each_xdist_worker_has_a_slice_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    first = ports._slice()
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    second = ports._slice()
    assert first.stop <= second.start
    assert len(first) >= 1000
