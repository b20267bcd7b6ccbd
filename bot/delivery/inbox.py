"""The inbox: every update is stored before Telegram is told it arrived, and handled from here.

``Inbox.store`` commits a batch of updates (a redelivery is ignored) before the poller asks for
the next batch, which is what confirms the previous one to Telegram, and before the webhook
answers 200 (both in ``bot.delivery.telegram``). Each update is stored as Telegram wrote it and
read on its own: one that aiogram cannot read is kept all the same, set aside (handled, with
why), and never holds up the ones after it.

The ``UpdateRunner`` then feeds the others to the dispatcher: one chat's in the order they came,
different chats side by side. The handler's transaction marks its update handled (``finish``),
so a crash at any moment leaves an update either handled with everything it did, or not handled
at all and handled again after the restart; never twice. An update whose handling fails is
tried again a few times, then given up with the person told (``gave_up``); a database that does
not answer is not the update's fault: the update waits and is tried again once it is back.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

from aiogram import Bot, Dispatcher
from aiogram.types import CallbackQuery, Update
from aiogram.types.update import UpdateTypeLookupError
from pydantic import ValidationError
from sqlalchemy import ColumnElement, Table, bindparam, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import connection_of, database_unreachable, dialect_of, transaction
from bot.delivery.retry import RetryPolicy
from bot.logs import described
from bot.ops.metrics import Metrics
from models import InboxUpdate

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=15)
KEPT = timedelta(days=7)  # Telegram redelivers for a day at most
UNREADABLE = "unreadable"  # how the error of an update set aside begins
MAX_ATTEMPTS = 3
RETRY_DELAYS = (1.0, 5.0)
# The table itself for the statement every update ends with, built once: no objects involved.
_TABLE = cast(Table, InboxUpdate.__table__)
_FINISH = (
    update(_TABLE)
    .where(
        _TABLE.c.update_id == bindparam("b_update_id"),
        _TABLE.c.handled_at.is_(None),
        or_(_TABLE.c.lease_owner.is_(None), _TABLE.c.lease_owner == bindparam("b_owner")),
    )
    .values(handled_at=bindparam("b_now"), lease_owner=None, lease_until=None)
)


class Superseded(Exception):  # noqa: N818 - not an error: someone else was first
    """Another bot process finished this update first; this attempt is rolled back."""


def chat_key(update: Update) -> int:
    """The chat whose order an update keeps: its event's chat (a button's, its message's), else
    whoever sent it; 0 for an update of neither."""
    try:
        event: Any = update.event
    except UpdateTypeLookupError:
        return 0
    if isinstance(event, CallbackQuery) and event.message is not None:
        event = event.message
    chat = getattr(event, "chat", None)
    person = getattr(event, "from_user", None) or getattr(event, "user", None)
    return int(chat.id if chat is not None else person.id if person is not None else 0)


@dataclass
class Stored:
    """An update as Telegram sent it (``payload``), read by aiogram (``update``), or not
    (``unreadable`` says why)."""

    update_id: int
    payload: str
    update: Update | None = None
    unreadable: str | None = None
    chat_key: int = 0
    attempts: int = 0

    @classmethod
    def read(cls, update_id: int, payload: str, bot: Bot, attempts: int = 0) -> Stored:
        try:
            update = Update.model_validate_json(payload, context={"bot": bot})
        except ValidationError as error:
            return cls(update_id, payload, unreadable=_why(error), attempts=attempts)
        return cls(update_id, payload, update, chat_key=chat_key(update), attempts=attempts)


def _why(error: ValidationError) -> str:
    """Where aiogram could not read an update: the fields and the kinds of error, never the
    values (a person's text)."""
    places = [
        f"{'.'.join(str(part) for part in found['loc'])}: {found['type']}"
        for found in error.errors()[:3]
    ]
    return f"{UNREADABLE}: {error.error_count()} errors ({'; '.join(places)})"


class Inbox:
    """The ``inbox_updates`` table, seen by one bot process (``owner``)."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession], owner: str) -> None:
        self.session_factory = session_factory
        self.owner = owner

    async def store(self, arrived: Sequence[Stored]) -> list[Stored]:
        """Commit the updates; returns those new to the inbox that can be handled."""
        if not arrived:
            return []
        now = datetime.now(UTC)
        async with transaction(self.session_factory) as session:
            ids = [a.update_id for a in arrived]
            known = set(
                await session.scalars(
                    select(InboxUpdate.update_id).where(InboxUpdate.update_id.in_(ids))
                )
            )
            new = {a.update_id: a for a in arrived if a.update_id not in known}.values()
            session.add_all(self._row(a, now) for a in new)
        for item in new:
            if item.unreadable is not None:
                log.warning("update %s set aside: %s", item.update_id, item.unreadable)
        return [a for a in new if a.update is not None]

    def _row(self, arrived: Stored, now: datetime) -> InboxUpdate:
        if arrived.update is None:  # kept as it came, and never handled
            return InboxUpdate(
                update_id=arrived.update_id, chat_key=0, payload=arrived.payload,
                received_at=now, attempts=0, handled_at=now, error=arrived.unreadable,
            )  # fmt: skip
        return InboxUpdate(
            update_id=arrived.update_id, chat_key=arrived.chat_key, payload=arrived.payload,
            received_at=now, attempts=0, lease_owner=self.owner, lease_until=now + LEASE,
        )  # fmt: skip

    async def take_waiting(self, *, all_of_them: bool) -> list[Stored]:
        """Unhandled updates to take on: those whose lease lapsed, or every one (on start of
        the only process that polls, when whoever held them is gone). Read when handled."""
        now = datetime.now(UTC)
        async with transaction(self.session_factory) as session:
            query = (
                select(InboxUpdate)
                .where(InboxUpdate.handled_at.is_(None))
                .order_by(InboxUpdate.update_id)
                .limit(5000)
            )
            if not all_of_them:
                query = query.where(
                    or_(InboxUpdate.lease_until.is_(None), InboxUpdate.lease_until < now)
                )
            if dialect_of(session) == "postgresql":
                query = query.with_for_update(skip_locked=True)
            found = list(await session.scalars(query))
            for row in found:
                row.lease_owner = self.owner
                row.lease_until = now + LEASE
        return [
            Stored(r.update_id, r.payload, chat_key=r.chat_key, attempts=r.attempts) for r in found
        ]

    async def finish(self, session: AsyncSession, update_id: int) -> None:
        """Mark the update handled in the handler's own transaction; Superseded when another
        process has finished it first (then the transaction rolls back)."""
        result = await (await connection_of(session)).execute(
            _FINISH, {"b_update_id": update_id, "b_owner": self.owner, "b_now": datetime.now(UTC)}
        )
        if getattr(result, "rowcount", 0) != 1:
            raise Superseded(update_id)

    async def failed(self, stored: Stored, error: str, *, final: bool) -> None:
        """Note a failed attempt; after the last one the update is given up (kept, with why)."""
        values: dict[str, Any] = {"attempts": stored.attempts, "error": error[:4000]}
        if final:
            values.update(handled_at=datetime.now(UTC), lease_owner=None, lease_until=None)
        await self._update(InboxUpdate.update_id == stored.update_id, **values)

    async def renew(self) -> None:
        """Keep the leases of the updates this process holds."""
        await self._update(
            InboxUpdate.lease_owner == self.owner,
            InboxUpdate.handled_at.is_(None),
            lease_until=datetime.now(UTC) + LEASE,
        )

    async def _update(self, *where: ColumnElement[bool], **values: Any) -> None:
        async with transaction(self.session_factory) as session:
            await session.execute(
                update(InboxUpdate)
                .where(*where)
                .values(**values)
                .execution_options(synchronize_session=False)
            )

    async def earlier_waiting(self, stored: Stored) -> bool:
        """Whether an earlier update of the same chat is still unhandled (by anyone)."""
        return bool(
            await self._count(
                InboxUpdate.chat_key == stored.chat_key,
                InboxUpdate.handled_at.is_(None),
                InboxUpdate.update_id < stored.update_id,
            )
        )

    async def waiting(self) -> int:
        return await self._count(InboxUpdate.handled_at.is_(None))

    async def set_aside(self) -> int:
        """Updates kept but never handled: aiogram could not read them."""
        return await self._count(InboxUpdate.error.startswith(UNREADABLE))

    async def _count(self, *where: ColumnElement[bool]) -> int:
        async with self.session_factory() as session:
            found = await session.scalar(
                select(func.count()).select_from(InboxUpdate).where(*where)
            )
        return int(found or 0)

    async def prune(self, now: datetime | None = None) -> int:
        """Forget handled updates once Telegram can no longer send them again."""
        moment = (now or datetime.now(UTC)) - KEPT
        async with transaction(self.session_factory) as session:
            result = await session.execute(
                delete(InboxUpdate).where(
                    InboxUpdate.handled_at.is_not(None), InboxUpdate.handled_at < moment
                )
            )
        return int(getattr(result, "rowcount", 0))


async def renew_leases(inbox: Inbox, submit: Callable[[list[Stored]], None], every: float) -> None:
    """Keep this process's inbox leases while it works; take over lapsed ones of others."""
    while True:
        await asyncio.sleep(every)
        try:
            await inbox.renew()
            submit(await inbox.take_waiting(all_of_them=False))
        except Exception as error:  # noqa: BLE001 - tried again at the next turn
            log.warning("renewing inbox leases failed (%s)", type(error).__name__)


# --- handling ---------------------------------------------------------------------------------

GaveUp = Callable[[Update], Awaitable[None]]
T = TypeVar("T")


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
        while await self._patiently(lambda: self.inbox.earlier_waiting(item)):
            await asyncio.sleep(0.2)
            if not line or line[0] is not item:
                return False
        return True

    async def _patiently(self, work: Callable[[], Awaitable[T]]) -> T:
        """``work()``, made again for as long as the database does not answer."""
        failures = 0
        while True:
            try:
                return await work()
            except Exception as error:
                if not database_unreachable(error) or self._stopping:
                    raise
                failures += 1
                await asyncio.sleep(self.retry.delay(failures))

    async def _handle(self, item: Stored) -> None:
        update = await self._read(item)
        away = 0  # attempts that found the database away
        while update is not None:
            try:
                await self.dispatcher.feed_update(self.bot, update, inbox_update_id=item.update_id)
            except Superseded:
                log.info("update %s was handled by another process", item.update_id)
                return
            except Exception as error:  # noqa: BLE001 - one update's bug must not stop the chat
                if self._stopping:
                    return
                if not database_unreachable(error):
                    if await self._failed(item, update, error):
                        return
                    continue
                away += 1
                if away == 1:
                    log.warning("update %s waits for the database (%s)",
                                item.update_id, type(error).__name__)  # fmt: skip
                await asyncio.sleep(self.retry.delay(away))
                continue
            if self.metrics is not None:
                self.metrics.updates_handled.inc()
            return

    async def _read(self, item: Stored) -> Update | None:
        """The update, read from the inbox if it was not just now; one stored readable that
        can no longer be read (aiogram changed meanwhile) is set aside."""
        if item.update is None:
            read = Stored.read(item.update_id, item.payload, self.bot, MAX_ATTEMPTS)
            if read.unreadable is not None:
                log.warning("update %s set aside: %s", item.update_id, read.unreadable)
                await self._patiently(
                    lambda: self.inbox.failed(read, str(read.unreadable), final=True)
                )
            item.update = read.update
        return item.update

    async def _failed(self, item: Stored, update: Update, error: Exception) -> bool:
        """Note a failed attempt; True once the update is given up."""
        item.attempts += 1
        final = item.attempts >= MAX_ATTEMPTS
        log.exception("update %s failed (attempt %s%s)", item.update_id, item.attempts,
                      ", giving up" if final else "", exc_info=error)  # fmt: skip
        await self._patiently(lambda: self.inbox.failed(item, described(error), final=final))
        if final and self.gave_up is not None:
            await self.gave_up(update)
        if not final:
            await asyncio.sleep(RETRY_DELAYS[min(item.attempts, len(RETRY_DELAYS)) - 1])
        return final
