"""The providers a process uses, built once and kept in the container."""

from __future__ import annotations

from api.container import Container
from rag.chat.cache import ResponseCache
from rag.chat.generator import Generator
from rag.chat.llm import make_generator
from rag.chat.notify import Notifier
from rag.chat.pipeline import AnswerPipeline
from rag.knowledge.embeddings import Embedder, build_embedder


def embedder(container: Container) -> Embedder:
    found = container.extras.get("embedder")
    if found is None:
        found = container.extras["embedder"] = build_embedder(container.settings)
    return found


def generator(container: Container) -> Generator:
    found = container.extras.get("generator")
    if found is None:
        found = container.extras["generator"] = make_generator(container.settings)
    return found


def response_cache(container: Container) -> ResponseCache:
    found = container.extras.get("cache")
    if found is None:
        found = container.extras["cache"] = ResponseCache(
            container.redis,
            ttl_seconds=container.settings.cache_ttl_seconds,
            semantic_similarity=container.settings.semantic_cache_similarity,
        )
    return found


def notifier(container: Container) -> Notifier:
    found = container.extras.get("notifier")
    if found is None:
        found = container.extras["notifier"] = Notifier(
            container.db, allow_private=container.settings.allow_private_urls
        )
    return found


def pipeline(container: Container) -> AnswerPipeline:
    found = container.extras.get("pipeline")
    if found is None:
        found = container.extras["pipeline"] = AnswerPipeline(
            db=container.db,
            settings=container.settings,
            embedder=embedder(container),
            generator=generator(container),
            cache=response_cache(container),
            notifier=notifier(container),
        )
    return found
