"""Stored updates fed to the aiogram dispatcher: one chat's in the order they came, different
chats side by side.

An update whose handling fails is tried again a few times, then given up with the person told
(``gave_up``); a database that does not answer is not the update's fault and counts against no
attempt: the update waits and is tried again once it is back.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from collections.abc import Awaitable, Callable, Iterable

from aiogram import Bot, Dispatcher
from aiogram.types import Update

from bot.db import database_unreachable
from bot.delivery.inbox import Arrived, Inbox, Stored, Superseded
from bot.delivery.retry import RetryPolicy
from bot.logs import described
from bot.ops.metrics import Metrics

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
RETRY_DELAYS = (1.0, 5.0)

GaveUp = Callable[[Update], Awaitable[None]]


class UpdateRunner:
    """Feeds stored updates to the dispatcher: one chat in order, chats side by side."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        bot: Bot,
        inbox: Inbox,
        *,
        concurrency: int = 8,
        ordered_across_processes: bool = False,
        gave_up: GaveUp | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.bot = bot
        self.inbox = inbox
        # Several processes may receive a chat's updates (webhook replicas): then each update
        # also waits for the earlier ones that other processes hold.
        self.ordered_across_processes = ordered_across_processes
        self.gave_up = gave_up
        self.metrics = metrics
        self.retry = RetryPolicy(base=1.0, cap=15.0)
        self._slots = asyncio.Semaphore(concurrency)
        # Each chat's updates by update id; an update taken over from a dead process may be
        # earlier than the ones already here, and goes before them.
        self._lines: dict[int, list[Stored]] = {}
        self._current: dict[int, Stored] = {}  # chat -> the update being handled
        self._held: set[int] = set()
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._stopping = False

    def submit(self, stored: Iterable[Stored]) -> None:
        for item in stored:
            if self._stopping or item.update_id in self._held:
                continue
            self._held.add(item.update_id)
            bisect.insort(
                self._lines.setdefault(item.chat_key, []), item, key=lambda s: s.update_id
            )
            if item.chat_key not in self._workers:
                self._workers[item.chat_key] = asyncio.create_task(self._work(item.chat_key))

    @property
    def backlog(self) -> int:
        return len(self._held)

    def idle(self) -> bool:
        return not self._held

    async def stop(self, timeout: float = 15.0) -> None:
        """Finish the updates being handled now; the others stay in the inbox for next time."""
        self._stopping = True
        for key, line in self._lines.items():
            current = self._current.get(key)
            for item in [i for i in line if i is not current]:
                line.remove(item)
                self._held.discard(item.update_id)
        if self._workers:
            await asyncio.wait(list(self._workers.values()), timeout=timeout)

    async def _work(self, key: int) -> None:
        line = self._lines[key]
        try:
            while line:
                item = line[0]
                if self.ordered_across_processes and not await self._turn_of(item, line):
                    continue  # an earlier update of the chat joined the line: it goes first
                self._current[key] = item
                try:
                    async with self._slots:
                        await self._handle(item)
                finally:
                    self._current.pop(key, None)
                line.remove(item)
                self._held.discard(item.update_id)
        finally:
            self._workers.pop(key, None)
            if not line:
                self._lines.pop(key, None)

    async def _turn_of(self, item: Stored, line: list[Stored]) -> bool:
        """Wait, without taking a slot, until the chat's earlier updates that other processes
        hold are handled. False once the line changed under it: an earlier update taken over
        from a dead process joined this line (and must go first, or both would wait for each
        other), or the runner is stopping."""
        while await self._patiently(self.inbox.earlier_waiting, item):
            await asyncio.sleep(0.2)
            if not line or line[0] is not item:
                return False
        return True

    async def _patiently(self, work: Callable[[Stored], Awaitable[bool]], item: Stored) -> bool:
        """``work(item)``, tried again for as long as the database does not answer."""
        failures = 0
        while True:
            try:
                return await work(item)
            except Exception as error:
                if not database_unreachable(error) or self._stopping:
                    raise
                failures += 1
                await asyncio.sleep(self.retry.delay(failures))

    async def _handle(self, item: Stored) -> None:
        update = await self._read(item)
        if update is None:
            return
        away = 0  # attempts that found the database away
        while True:
            try:
                await self.dispatcher.feed_update(self.bot, update, inbox_update_id=item.update_id)
            except Superseded:
                log.info("update %s was handled by another process", item.update_id)
                return
            except Exception as error:  # noqa: BLE001 - one update's bug must not stop the chat
                if self._stopping:
                    return
                if database_unreachable(error):
                    away += 1
                    if away == 1:
                        log.warning("update %s waits for the database (%s)",
                                    item.update_id, type(error).__name__)  # fmt: skip
                    await asyncio.sleep(self.retry.delay(away))
                    continue
                if await self._failed(item, update, error):
                    return
                continue
            if self.metrics is not None:
                self.metrics.updates_handled.inc()
            return

    async def _read(self, item: Stored) -> Update | None:
        """The update, read from the inbox if it was not just now; one stored readable that
        can no longer be read (aiogram changed meanwhile) is set aside."""
        if item.update is None:
            arrived = Arrived.read(item.update_id, item.payload, self.bot)
            if arrived.unreadable is not None:
                log.warning("update %s set aside: %s", item.update_id, arrived.unreadable)
                item.attempts = MAX_ATTEMPTS

                async def set_aside(stored: Stored) -> bool:
                    await self.inbox.failed(stored, str(arrived.unreadable), final=True)
                    return True

                await self._patiently(set_aside, item)
            item.update = arrived.update
        return item.update

    async def _failed(self, item: Stored, update: Update, error: Exception) -> bool:
        """Note a failed attempt; True once the update is given up."""
        item.attempts += 1
        final = item.attempts >= MAX_ATTEMPTS
        log.exception(
            "update %s failed (attempt %s%s)",
            item.update_id,
            item.attempts,
            ", giving up" if final else "",
            exc_info=error,
        )

        async def note(stored: Stored) -> bool:
            await self.inbox.failed(stored, described(error), final=final)
            return True

        await self._patiently(note, item)
        if final and self.gave_up is not None:
            await self.gave_up(update)
        if not final:
            await asyncio.sleep(RETRY_DELAYS[min(item.attempts, len(RETRY_DELAYS)) - 1])
        return final
