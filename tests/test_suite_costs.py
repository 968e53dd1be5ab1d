"""What keeps the suite's time down (tests/conftest.py): `make test`'s order of files (the long
ones first, the rest as pytest-xdist ordered them, most tests first, each file's tests in their
own order), FastAPI's analysis of the routes and their response fields made once for the apps
of every test, a test cluster that waits for no disk flush, and the collected suite frozen
out of the garbage collector's walks."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, cast

import pytest
from fastapi import routing
from sqlalchemy import text

from api.runtime import Runtime
from core.db import Database
from tests.conftest import (
    LONGEST_FIRST,
    NO_FLUSH,
    ROOT,
    client_for,
    file_order,
    share_response_fields,
    share_route_analysis,
)


@dataclass
class Item:
    nodeid: str


def test_every_long_file_named_exists() -> None:
    """A renamed file would silently go back to the end of the run."""
    assert [name for name in LONGEST_FIRST if not (ROOT / name).is_file()] == []
    assert len(set(LONGEST_FIRST)) == len(LONGEST_FIRST)


def test_long_files_first_then_by_their_number_of_tests() -> None:
    names = [
        "tests/a.py::one",
        "tests/b.py::one",
        "tests/b.py::two",
        f"{LONGEST_FIRST[1]}::only",
        "tests/c.py::one",
        f"{LONGEST_FIRST[0]}::first",
        f"{LONGEST_FIRST[0]}::second",
        "tests/c.py::two",
        "tests/c.py::three",
    ]
    ordered = file_order(cast(Any, [Item(name) for name in names]))
    assert [item.nodeid for item in ordered] == [
        f"{LONGEST_FIRST[0]}::first",
        f"{LONGEST_FIRST[0]}::second",
        f"{LONGEST_FIRST[1]}::only",
        "tests/c.py::one",
        "tests/c.py::two",
        "tests/c.py::three",
        "tests/b.py::one",
        "tests/b.py::two",
        "tests/a.py::one",
    ]


async def test_a_second_app_analyses_no_route_again(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each test's client is an app of its own; FastAPI worked out every route's dependencies
    again for each (0.2 to 0.5 s of CPU per test on a busy host). False here means FastAPI
    changed: the suite still passes, only slower, until share_route_analysis follows it."""
    assert share_route_analysis()
    analysed: list[str] = []
    real = routing.get_dependant

    def counted(*, path: str, **kwargs: Any) -> Any:
        analysed.append(path)
        return real(path=path, **kwargs)

    monkeypatch.setattr(routing, "get_dependant", counted)
    # As in a process whose tests made no app yet.
    monkeypatch.setattr(routing._build_dependant_with_parameterless_dependencies, "built", {})
    documents = f"/api/v1/workspaces/{uuid.uuid4()}/documents"
    for app in ("first", "second"):
        analysed.clear()
        async with client_for(runtime) as client:
            assert (await client.get("/api/v1/me")).status_code == 401
            assert (await client.get(documents)).status_code == 401
        api = [path for path in analysed if path.startswith("/api/")]
        if app == "first":
            assert api, "the first app analysed nothing: the test sees no analysis"
    assert api == []  # the dashboard's few routes made in install(app) are each app's own


async def test_a_second_app_builds_no_response_field_again(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The response models' pydantic adapters, made once per route for every app; False means
    FastAPI changed (the suite is slower, not wrong)."""
    assert share_response_fields()
    built: dict[Any, Any] = {}
    monkeypatch.setattr(routing.create_model_field, "built", built)  # as in a fresh process
    sizes = []
    for _ in ("first", "second"):
        async with client_for(runtime) as client:
            assert (await client.get("/api/v1/me")).status_code == 401
        sizes.append(len(built))
    assert sizes[0] > 0, "the first app built no field: the test sees nothing"
    assert sizes[1] == sizes[0]


async def test_the_test_cluster_waits_for_no_disk_flush(owner_db: Database) -> None:
    async with owner_db.transaction() as session:
        for name, value in NO_FLUSH.items():
            assert (await session.execute(text(f"SHOW {name}"))).scalar_one() == value


def test_the_collected_suite_is_frozen_out_of_the_collectors_walks() -> None:
    import gc

    from core import heap

    assert gc.get_freeze_count() > 50_000  # the project and the test modules, at least
    assert gc.get_threshold()[0] == heap.GEN0_THRESHOLD
