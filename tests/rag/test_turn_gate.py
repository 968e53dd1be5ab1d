"""The gate in front of the chat turns' database part (rag.chat.clock.TurnGate)."""

from __future__ import annotations

import asyncio

import pytest

from rag.chat.clock import TurnGate


async def _enter(
    gate: TurnGate, name: str, order: list[str], release: asyncio.Event, **kw: bool
) -> None:
    async with gate.slot(**kw):
        order.append(name)
        await release.wait()


async def test_finishing_turns_go_before_new_ones_and_each_waits_in_order() -> None:
    gate = TurnGate(1)
    order: list[str] = []
    release = asyncio.Event()
    holder = asyncio.create_task(_enter(gate, "holder", order, release))
    await asyncio.sleep(0)
    waiting = [
        asyncio.create_task(_enter(gate, "new-1", order, release)),
        asyncio.create_task(_enter(gate, "new-2", order, release)),
        asyncio.create_task(_enter(gate, "finish-1", order, release, finishing=True)),
        asyncio.create_task(_enter(gate, "finish-2", order, release, finishing=True)),
    ]
    await asyncio.sleep(0)
    assert order == ["holder"]  # one slot: the others wait
    release.set()
    await asyncio.gather(holder, *waiting)
    assert order == ["holder", "finish-1", "finish-2", "new-1", "new-2"]


async def test_a_cancelled_waiter_gives_its_place_up_and_no_slot_is_lost() -> None:
    gate = TurnGate(1)
    order: list[str] = []
    release = asyncio.Event()
    holder = asyncio.create_task(_enter(gate, "holder", order, release))
    await asyncio.sleep(0)
    gone = asyncio.create_task(_enter(gate, "gone", order, release))
    kept = asyncio.create_task(_enter(gate, "kept", order, release))
    await asyncio.sleep(0)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    release.set()
    await asyncio.gather(holder, kept)
    assert order == ["holder", "kept"]
    # Both slots handed back: two more enter at once.
    both = TurnGate(2)
    async with both.slot(), both.slot():
        pass
    async with gate.slot():
        order.append("again")
    assert order[-1] == "again"


async def test_a_waiter_cancelled_just_after_it_was_let_in_passes_the_slot_on() -> None:
    gate = TurnGate(1)
    order: list[str] = []
    release = asyncio.Event()
    held = gate.slot()
    await held.__aenter__()
    first = asyncio.create_task(_enter(gate, "first", order, release))
    second = asyncio.create_task(_enter(gate, "second", order, release))
    await asyncio.sleep(0)
    await held.__aexit__(None, None, None)  # the slot is handed to "first" ...
    first.cancel()  # ... which is cancelled before it runs again
    with pytest.raises(asyncio.CancelledError):
        await first
    release.set()
    await second
    assert order == ["second"]
