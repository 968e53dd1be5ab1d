"""Local fakes of external services, used by tests and benchmarks (never in production code)."""

from tests.fakes.openai_server import FakeOpenAI, RecordedRequest

__all__ = ["FakeOpenAI", "RecordedRequest"]
