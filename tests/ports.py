"""Free local ports for the servers a test starts (trulybot serve, redis-server, PgBouncer, SMTP).

A port the kernel hands out for ``bind(("127.0.0.1", 0))`` comes from the ephemeral range, the
same range every outgoing connection (to PostgreSQL, Redis, a fake) takes its local port from:
between the probe closing and the server binding, such a connection could take the port, and
the server then refused to start ("127.0.0.1:42075 is in use"), a test failing now and then on
a busy run. These ports lie below the ephemeral range, where no outgoing connection goes, in a
slice of their own for each xdist worker, handed out once per process, each checked free.
"""

from __future__ import annotations

import os
import random
import socket
import threading
from pathlib import Path

_SPAN = 12_000  # ports below the ephemeral range that the suite may use
_handed: set[int] = set()
_lock = threading.Lock()


def _ephemeral_low() -> int:
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768  # Linux's default
    return low


def _slice() -> range:
    """This process's ports: the range below the ephemeral one, cut into one slice per worker."""
    high = _ephemeral_low()
    low = max(1024, high - _SPAN)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    count = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    width = (high - low) // count
    start = low + (index % count) * width
    return range(start, start + width)


def _is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A local port no one listens on, outside the ephemeral range, never handed out twice by
    this process. Another suite on the same machine starts at its own random place in the slice
    and skips whatever is bound."""
    ports = _slice()
    with _lock:
        first = random.randrange(len(ports))
        for step in range(len(ports)):
            port = ports[(first + step) % len(ports)]
            if port not in _handed and _is_free(port):
                _handed.add(port)
                return port
    raise RuntimeError(f"no free port in {ports.start}-{ports.stop - 1}")
