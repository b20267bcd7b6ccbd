"""Dialogue state that changes with the transaction of the update that changed it.

aiogram keeps a dialogue's state and data (``FSMContext``) in a storage of its own, memory or
Redis, written at once. An update whose transaction is rolled back would still have moved its
dialogue on, and handled again, it would be taken for the dialogue's next step. So the storage
is wrapped: while an update is handled (``TransactionalStorage.hold``), what its handler sets
is held and read back from there, and it reaches the storage only after the commit (``apply``);
after a rollback it is forgotten.

A crash between the commit and ``apply`` loses that step of the dialogue, as a crash loses
every dialogue kept in memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey

# Per dialogue (storage key): its new "state" and/or "data", while a transaction is open.
Changes = dict[StorageKey, dict[str, Any]]

_held: ContextVar[Changes | None] = ContextVar("mentordesk_fsm_changes", default=None)


class TransactionalStorage(BaseStorage):
    """Another storage, changed only by ``apply`` while changes are held (``hold``)."""

    def __init__(self, inner: BaseStorage) -> None:
        self.inner = inner

    @staticmethod
    @contextmanager
    def hold() -> Iterator[Changes]:
        """Hold the changes made inside (in this task); ``apply`` them once committed."""
        changes: Changes = {}
        token = _held.set(changes)
        try:
            yield changes
        finally:
            _held.reset(token)

    async def apply(self, changes: Changes) -> None:
        for key, change in changes.items():
            if "state" in change:
                await self.inner.set_state(key, change["state"])
            if "data" in change:
                await self.inner.set_data(key, change["data"])

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        held = _held.get()
        if held is None:
            await self.inner.set_state(key, state)
            return
        held.setdefault(key, {})["state"] = state.state if isinstance(state, State) else state

    async def get_state(self, key: StorageKey) -> str | None:
        held = _held.get()
        if held is not None and "state" in held.get(key, {}):
            state: str | None = held[key]["state"]
            return state
        return await self.inner.get_state(key)

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        held = _held.get()
        if held is None:
            await self.inner.set_data(key, data)
            return
        held.setdefault(key, {})["data"] = dict(data)

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        held = _held.get()
        if held is not None and "data" in held.get(key, {}):
            return dict(held[key]["data"])
        return await self.inner.get_data(key)

    async def close(self) -> None:
        await self.inner.close()


@asynccontextmanager
async def held_dialogues(storage: object) -> AsyncIterator[None]:
    """Around an update's transaction: the dialogue changes made inside are held, and applied
    once it has ended without an error (committed); with another storage, written at once."""
    if not isinstance(storage, TransactionalStorage):
        yield
        return
    with storage.hold() as changes:
        yield
    await storage.apply(changes)
