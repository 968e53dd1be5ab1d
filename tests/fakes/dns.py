"""An in-process resolver whose answers change between lookups (DNS rebinding)."""

from __future__ import annotations

import socket
from typing import Any

REBIND_HOST = "hooks.rebind.test"


class RebindingResolver:
    """A ``socket.getaddrinfo`` replacement: ``REBIND_HOST`` resolves to the next of ``answers``
    on each lookup (the last one repeats); every other name goes to the real resolver.
    Install with ``monkeypatch.setattr(socket, "getaddrinfo", resolver)``."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = answers
        self.asked: list[str] = []
        self._real = socket.getaddrinfo

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name != REBIND_HOST:
            return self._real(host, port, *args, **kwargs)
        answer = self.answers[min(len(self.asked), len(self.answers) - 1)]
        self.asked.append(answer)
        return self._real(answer, port, *args, **kwargs)


class ManyAnswersResolver:
    """A ``socket.getaddrinfo`` replacement: ``host`` resolves to all of ``answers``, in that
    order (a dual-stack name); every other name goes to the real resolver."""

    def __init__(self, host: str, answers: list[str]) -> None:
        self.host = host
        self.answers = answers
        self._real = socket.getaddrinfo

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name != self.host:
            return self._real(host, port, *args, **kwargs)
        return [
            info for answer in self.answers for info in self._real(answer, port, *args, **kwargs)
        ]
