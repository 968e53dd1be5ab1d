"""The runtime a process builds: what it says it runs is what it runs."""

from __future__ import annotations

from api.runtime import describe_defaults
from rag.chat.extractive import ExtractiveAnswerer
from rag.chat.llm import LLMGenerator
from tests.conftest import RuntimeFactory


async def test_the_startup_lines_name_the_generator_really_used(
    runtime_factory: RuntimeFactory,
) -> None:
    # A self-hosted OpenAI-compatible server (vLLM, Ollama...) often needs no key.
    async with runtime_factory(openai_base_url="http://127.0.0.1:9/v1") as runtime:
        assert isinstance(runtime.generator, LLMGenerator)
        [line] = [x for x in describe_defaults(runtime) if x.startswith("generation:")]
        assert "extractive" not in line
        assert "http://127.0.0.1:9/v1" in line
    async with runtime_factory(openai_api_key=None, openai_base_url=None) as runtime:
        assert isinstance(runtime.generator, ExtractiveAnswerer)
        [line] = [x for x in describe_defaults(runtime) if x.startswith("generation:")]
        assert "extractive" in line


async def test_one_runtime_shares_each_provider(runtime_factory: RuntimeFactory) -> None:
    async with runtime_factory() as runtime:
        assert runtime.pipeline.embedder is runtime.embedder
        assert runtime.pipeline.generator is runtime.generator
        assert runtime.pipeline.cache is runtime.cache
        assert runtime.ingestion.embedder is runtime.embedder
        assert runtime.ingestion.jobs is runtime.jobs
        assert runtime.payments is None  # billing is not configured in these settings
