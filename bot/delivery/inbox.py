"""The inbox: every update is stored before Telegram is told it arrived, and handled from here.

``Inbox.store`` commits a batch of updates (duplicates are ignored) before the poller asks for
the next batch, which is what confirms the previous one to Telegram, and before the webhook
answers 200. ``UpdateRunner`` then feeds them to the aiogram dispatcher: the updates of one
chat one after another in the order they came, different chats side by side. The handler's
transaction marks its update handled (``Inbox.finish``), so a crash at any moment leaves the
update either handled with everything it did, or not handled at all and handled again after
the restart; never twice.

Under a burst, updates of different chats that are ready at once are handled one after another
in one transaction (``Shared``), one such transaction at a time: a transaction's fixed costs
(its start and commit, on SQLite the write-ahead log pages of every index it touches, on
PostgreSQL two round trips) are paid once for all of them. If any of them fails, the shared
transaction is rolled back, so nothing of it was announced, and each is handled again alone,
as it would have been.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from aiogram import Bot, Dispatcher
from aiogram.types import Update
from sqlalchemy import Table, bindparam, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import core, dialect_of, transaction, write_lock
from bot.ops.metrics import Metrics
from bot.telegram.fsm import held_dialogues
from models import InboxUpdate

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=15)
MAX_ATTEMPTS = 3
RETRY_DELAYS = (1.0, 5.0)
KEPT = timedelta(days=7)  # Telegram redelivers for a day at most


# At most this many updates share one transaction: under a burst, enough for its fixed costs to
# vanish; few enough that a chat waits little for the others (a few milliseconds each).
SHARED_LIMIT = 8


class Superseded(Exception):  # noqa: N818 - not an error: someone else was first
    """Another bot process finished this update first; this attempt is rolled back."""


def chat_key(update: Update) -> int:
    """The chat whose order an update keeps: its message's or button's chat, else its sender."""
    for event in (
        update.message,
        update.edited_message,
        update.channel_post,
        update.edited_channel_post,
        update.my_chat_member,
        update.chat_member,
        update.chat_join_request,
    ):
        if event is not None:
            return int(event.chat.id)
    query = update.callback_query
    if query is not None:
        return int(query.message.chat.id if query.message is not None else query.from_user.id)
    for other in (update.inline_query, update.chosen_inline_result, update.poll_answer):
        user = getattr(other, "from_user", None) or getattr(other, "user", None)
        if user is not None:
            return int(user.id)
    return 0


@dataclass
class Stored:
    """An update in the inbox, as the runner needs it."""

    update_id: int
    chat_key: int
    payload: str
    attempts: int = 0
    update: Update | None = None  # already parsed, when it has just arrived


@dataclass
class Shared:
    """A transaction in which several updates are handled one after another: each handler's
    middleware (``bot.telegram.middlewares.DbSessionMiddleware``) works in ``session`` instead of a
    transaction of its own, and marks ``failed`` when its handler raises."""

    session: AsyncSession
    failed: bool = False
    handled: list[int] = field(default_factory=list)  # marked handled together, at the end
    # The updates of the transaction, for its first handler to read ahead what they will need
    # (``bot.telegram.middlewares.ActorMiddleware``), which empties it.
    ahead: list[Update] = field(default_factory=list)


class _Abandoned(Exception):  # noqa: N818 - not an error: the updates are handled alone
    """An update of a shared transaction failed: the transaction is rolled back."""


class Inbox:
    """The ``inbox_updates`` table, seen by one bot process (``owner``)."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession], owner: str) -> None:
        self.session_factory = session_factory
        self.owner = owner

    async def store(
        self, updates: Sequence[Update], raw: Sequence[str] | None = None
    ) -> list[Stored]:
        """Commit the updates; returns those new to the inbox (a redelivery is not)."""
        if not updates:
            return []
        now = datetime.now(UTC)
        payloads = list(raw) if raw is not None else [_dump(u) for u in updates]
        rows: list[dict[str, Any]] = [
            {
                "update_id": u.update_id,
                "chat_key": chat_key(u),
                "payload": payload,
                "received_at": now,
                "attempts": 0,
                "lease_owner": self.owner,
                "lease_until": now + LEASE,
            }
            for u, payload in zip(updates, payloads, strict=True)
        ]
        async with transaction(self.session_factory) as session:
            # One statement for any number of rows (SQLAlchemy batches them into multi-row
            # inserts): built once, where rows in ``.values()`` would be compiled anew for
            # each batch size.
            new = set((await session.execute(_STORE[dialect_of(session)], rows)).scalars())
        return [
            Stored(row["update_id"], row["chat_key"], row["payload"], update=u)
            for u, row in zip(updates, rows, strict=True)
            if row["update_id"] in new
        ]

    async def take_waiting(self, *, all_of_them: bool) -> list[Stored]:
        """Unhandled updates to take on: those whose lease lapsed, or every one (on start of
        the only process that polls, when whoever held them is gone)."""
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
            found = list((await session.execute(query)).scalars())
            for row in found:
                row.lease_owner = self.owner
                row.lease_until = now + LEASE
        return [Stored(r.update_id, r.chat_key, r.payload, attempts=r.attempts) for r in found]

    async def finish(self, session: AsyncSession, update_id: int) -> None:
        """Mark the update handled in the handler's own transaction (or refuse: Superseded)."""
        await self.finish_all(session, [update_id])

    async def finish_all(self, session: AsyncSession, update_ids: Sequence[int]) -> None:
        """Mark the updates of a transaction handled, in one statement; Superseded when
        another process has finished any of them first (then the transaction rolls back)."""
        if not update_ids:
            return
        result = await (await core(session)).execute(
            _FINISH,
            {
                "the_updates": list(update_ids),
                "the_owner": self.owner,
                "handled_now": datetime.now(UTC),
            },
        )
        if getattr(result, "rowcount", 0) != len(update_ids):
            raise Superseded(update_ids)

    async def failed(self, stored: Stored, error: str, *, final: bool) -> None:
        """Note a failed attempt; after the last one the update is given up (kept, with why)."""
        stored.attempts += 1
        now = datetime.now(UTC)
        values: dict[str, Any] = {"attempts": stored.attempts, "error": error[:4000]}
        if final:
            values.update(handled_at=now, lease_owner=None, lease_until=None)
        async with transaction(self.session_factory) as session:
            await session.execute(
                update(InboxUpdate)
                .where(InboxUpdate.update_id == stored.update_id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )

    async def renew(self) -> None:
        """Keep the leases of the updates this process holds."""
        async with transaction(self.session_factory) as session:
            await session.execute(
                update(InboxUpdate)
                .where(InboxUpdate.lease_owner == self.owner, InboxUpdate.handled_at.is_(None))
                .values(lease_until=datetime.now(UTC) + LEASE)
                .execution_options(synchronize_session=False)
            )

    async def earlier_waiting(self, stored: Stored) -> bool:
        """Whether an earlier update of the same chat is still unhandled (by anyone)."""
        async with self.session_factory() as session:
            found = await session.scalar(
                select(func.count())
                .select_from(InboxUpdate)
                .where(
                    InboxUpdate.chat_key == stored.chat_key,
                    InboxUpdate.handled_at.is_(None),
                    InboxUpdate.update_id < stored.update_id,
                )
            )
        return bool(found)

    async def waiting(self) -> int:
        async with self.session_factory() as session:
            found = await session.scalar(
                select(func.count())
                .select_from(InboxUpdate)
                .where(InboxUpdate.handled_at.is_(None))
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


# Built once, on the table rather than the mapped class: an ORM update would cost more than
# the rest of the handler's writes. Its flush comes with the commit.
_TABLE = cast(Table, InboxUpdate.__table__)
_FINISH = (
    update(_TABLE)
    .where(
        _TABLE.c.update_id.in_(bindparam("the_updates", expanding=True)),
        _TABLE.c.handled_at.is_(None),
        or_(_TABLE.c.lease_owner.is_(None), _TABLE.c.lease_owner == bindparam("the_owner")),
    )
    .values(handled_at=bindparam("handled_now"), lease_owner=None, lease_until=None)
)


_STORE = {
    name: insert(_TABLE)
    .on_conflict_do_nothing(index_elements=["update_id"])
    .returning(_TABLE.c.update_id)
    for name, insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}


def _dump(update: Update) -> str:
    return update.model_dump_json(exclude_unset=True, by_alias=True)


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
        shared_limit: int = SHARED_LIMIT,
    ) -> None:
        self.dispatcher = dispatcher
        self.metrics = metrics
        self.bot = bot
        self.inbox = inbox
        # Several processes may receive a chat's updates (webhook replicas): then each update
        # also waits for the earlier ones that other processes hold.
        self.ordered_across_processes = ordered_across_processes
        self.gave_up = gave_up
        self._slots = asyncio.Semaphore(concurrency)
        self.shared_limit = shared_limit
        # Updates ready to be handled, each the first of its chat's line, with what its
        # chat's worker waits on; taken in turns of up to ``shared_limit`` (``_take_turns``).
        self._ready: list[tuple[Stored, asyncio.Future[None]]] = []
        self._turns: asyncio.Task[None] | None = None
        # Shared transactions run one at a time (a single update runs beside them): two side
        # by side would each hold row locks the other may want (a mentor's summary card), and
        # neither would see the other's messages when it counts what waits for a chat.
        self._one_shared = asyncio.Lock()
        self._running_turns: set[asyncio.Task[None]] = set()
        # Each chat's updates by update id; an update taken over from a dead process may be
        # earlier than the ones already here, and goes before them.
        self._lines: dict[int, list[Stored]] = {}
        self._current: dict[int, Stored] = {}  # chat -> the update being handled
        self._held: set[int] = set()
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._stopping = False
        self.handled_total = 0

    def submit(self, stored: Iterable[Stored]) -> None:
        for item in stored:
            if self._stopping or item.update_id in self._held:
                continue
            self._held.add(item.update_id)
            bisect.insort(
                self._lines.setdefault(item.chat_key, []), item, key=lambda s: s.update_id
            )
            if item.chat_key not in self._workers:
                worker = asyncio.create_task(self._work(item.chat_key))
                self._workers[item.chat_key] = worker

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
                    await self._in_turn(item)
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
        while await self.inbox.earlier_waiting(item):
            await asyncio.sleep(0.2)
            if not line or line[0] is not item:
                return False
        return True

    async def _in_turn(self, item: Stored) -> None:
        """Handle the update once a slot is free: a message together with the others ready
        by then, anything else (a button, a member change) alone."""
        update = self._parsed(item)
        if self.shared_limit <= 1 or update.message is None:
            async with self._slots:
                await self._handle(item)
            return
        done = asyncio.get_running_loop().create_future()
        self._ready.append((item, done))
        if self._turns is None or self._turns.done():
            self._turns = asyncio.create_task(self._take_turns())
        await done

    async def _take_turns(self) -> None:
        """While updates are ready: once a slot is free and the shared transaction before has
        ended, start a turn with those ready then. While they wait, more gather (the chats of
        the turn before among them), so the busier the bot, the fuller its turns."""
        while self._ready:
            await self._slots.acquire()
            await self._one_shared.acquire()
            turn, self._ready = self._ready[: self.shared_limit], self._ready[self.shared_limit :]
            if len(turn) < 2:
                self._one_shared.release()  # one update alone shares nothing
            task = asyncio.create_task(self._turn(turn))
            self._running_turns.add(task)
            task.add_done_callback(self._running_turns.discard)

    async def _turn(self, turn: list[tuple[Stored, asyncio.Future[None]]]) -> None:
        try:
            if len(turn) == 1:
                await self._handle(turn[0][0])
            elif turn:
                await self._handle_together([item for item, _ in turn])
        except BaseException as error:
            for _, done in turn:
                if not done.done():
                    done.set_exception(error)
            raise
        else:
            for _, done in turn:
                if not done.done():
                    done.set_result(None)
        finally:
            # The chats of this turn are told first, so their next updates are ready by the
            # time the next turn is taken.
            self._slots.release()
            if len(turn) > 1:
                self._one_shared.release()

    async def _handle_together(self, items: list[Stored]) -> None:
        """The updates one after another in one transaction; if one fails, each alone.

        On SQLite, when another process asks for a turn at writing (``WriteLock.lend``), the
        transaction ends after the update at hand, and the rest wait for the next one."""
        lock = write_lock(self.inbox.session_factory)
        done = 0
        try:
            dialogues = held_dialogues(self.dispatcher.fsm.storage)
            async with dialogues, transaction(self.inbox.session_factory) as session:
                shared = Shared(session, ahead=[self._parsed(item) for item in items])
                for item in items:
                    await self.dispatcher.feed_update(
                        self.bot, self._parsed(item), inbox_update_id=item.update_id,
                        shared=shared,
                    )  # fmt: skip
                    if shared.failed:  # its error was handled by an error handler
                        raise _Abandoned
                    done += 1
                    if done == len(items):
                        break
                    if lock is not None:
                        # Handlers on SQLite never wait: here the loop reads what came
                        # meanwhile (another process asking for a turn).
                        await asyncio.sleep(0)
                        if lock.asked:
                            break
                await self.inbox.finish_all(session, shared.handled)
        except Exception as error:  # noqa: BLE001 - rolled back: each is handled alone
            log.info(
                "%s updates handled together were rolled back (%s: %s); handling each alone",
                len(items), type(error).__name__, error,
            )  # fmt: skip
            for item in items:
                await self._handle(item)
            return
        self.handled_total += done
        if self.metrics is not None:
            self.metrics.updates_handled.inc(done)
        rest = items[done:]
        if len(rest) > 1:
            await self._handle_together(rest)
        elif rest:
            await self._handle(rest[0])

    def _parsed(self, item: Stored) -> Update:
        if item.update is None:
            item.update = Update.model_validate_json(item.payload, context={"bot": self.bot})
        return item.update

    async def _handle(self, item: Stored) -> None:
        update = self._parsed(item)
        while True:
            try:
                await self.dispatcher.feed_update(self.bot, update, inbox_update_id=item.update_id)
            except Superseded:
                log.info("update %s was handled by another process", item.update_id)
                return
            except Exception as error:  # noqa: BLE001 - one update's bug must not stop the chat
                final = item.attempts + 1 >= MAX_ATTEMPTS and not self._stopping
                log.exception(
                    "update %s failed (attempt %s%s)",
                    item.update_id,
                    item.attempts + 1,
                    ", giving up" if final else "",
                )
                await self.inbox.failed(item, f"{type(error).__name__}: {error}", final=final)
                if final and self.gave_up is not None:
                    await self.gave_up(update)
                if final or self._stopping:
                    return
                await asyncio.sleep(RETRY_DELAYS[min(item.attempts, len(RETRY_DELAYS)) - 1])
                continue
            self.handled_total += 1
            if self.metrics is not None:
                self.metrics.updates_handled.inc()
            return
