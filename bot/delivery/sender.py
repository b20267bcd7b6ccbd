"""The sender: one loop that sends the outbox, each chat in order, within Telegram's limits.

One process sends at a time: the one holding the ``sender`` lease (``Leadership``); the others
write rows and stand by to take over. The sender holds the rows its own process commits from
the moment they are written (``adopt``) and claims the others' (``FOR UPDATE SKIP LOCKED``
with a lease on PostgreSQL), in a queue per chat (``bot.delivery.queues``). A chat's next
message goes when its own window and the bot-wide window allow (``bot.delivery.windows``).
Every send is recorded as soon as Telegram answers (``bot.delivery.recording``) before its
place among the sends on their way is used again, so after a crash only the messages that
were on their way can arrive twice (``SEND_CONCURRENCY``).

What Telegram answers decides what happens to a row (``bot.delivery.retry``): sent, tried
again (429 after ``retry_after``; 5xx and network errors with backoff, for as long as it takes),
moved (a group upgraded to a supergroup), or failed for good with the reason kept. The database
may go away too: the loop keeps what it holds, waits, and goes on where it was once it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.methods import TelegramMethod
from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.db import database_unreachable, dialect_of, transaction
from bot.delivery.leadership import Leadership
from bot.delivery.outbox import Row
from bot.delivery.queues import COUNTED, EDITS, Line, Queues
from bot.delivery.recording import Hook, Outcome, Recorder
from bot.delivery.retry import TRANSIENT, Reachability, RetryPolicy
from bot.delivery.telegram import call_for, message_id_of
from bot.delivery.windows import RateLimits, Windows
from bot.ops.metrics import Metrics, failure_reason
from models import OutboxMessage, OutboxStatus

log = logging.getLogger(__name__)

# A row the sender holds stays its own this long after its last renewal.
LEASE = timedelta(seconds=30)
# The sender's role: renewed every third of it; a dead sender's work moves on within it.
SENDER_LEASE = timedelta(seconds=15)
ELECTION_SECONDS = 2.0
# 429s in two chats this close together are taken for the bot-wide limit.
FLOOD_EVIDENCE_SECONDS = 2.0
POLL_SECONDS = 0.5
CLAIM_BATCH = 2000
_IDLE = 3600.0


class Sender:
    """Sends what the outbox holds; see the module's description."""

    def __init__(
        self,
        bot: Bot,
        session_factory: async_sessionmaker[AsyncSession],
        limits: RateLimits,
        *,
        owner: str,
        max_in_flight: int = 1,
        metrics: Metrics | None = None,
        reach: Reachability | None = None,
    ) -> None:
        self.bot = bot
        self.session_factory = session_factory
        self.owner = owner
        self.max_in_flight = max_in_flight
        self.metrics = metrics
        self.poll_seconds = POLL_SECONDS
        self.retry = RetryPolicy()
        self.reach = reach or Reachability()
        self.reach.on_recovery = self._recovered
        self.windows = Windows(limits)
        self.queues = Queues()
        self.recorder = Recorder(session_factory, self, self.retry)
        self.leading = False
        self._taken_over = False
        self.beat = time.monotonic()  # the last turn of its loop: it is alive, not stuck
        self.database_down_since: float | None = None  # as the loop found it
        self._running = False
        self._stopping = False
        self._stopped = asyncio.Event()
        self._wake = asyncio.Event()
        self._claim_wanted = True
        self._tasks: set[asyncio.Task[None]] = set()
        self._paused_all_until = 0.0
        self._floods: list[tuple[int, float]] = []  # recent 429s: (chat, when)
        self._latency = 0.02  # seconds a send takes, its record included (EWMA)

    # --- the outside ---------------------------------------------------------------------------

    @property
    def on_sent(self) -> dict[str, Hook]:
        return self.recorder.on_sent

    @property
    def on_failed(self) -> dict[str, Hook]:
        return self.recorder.on_failed

    def holder(self) -> str | None:
        """Who holds the rows this process writes from the moment they are written: this
        process when it sends, else nobody yet (the sender claims them)."""
        return self.owner if self.leading else None

    def adopt(self, rows: Sequence[Row]) -> None:
        """Rows this process just committed, held from the start: queued without a claim."""
        if not self.leading:
            return
        for row in rows:
            self.queues.hold(row)
        self._wake.set()

    def claim_soon(self) -> None:
        """Rows nobody holds were committed: claim them now, not at the next poll."""
        self._claim_wanted = True
        self._wake.set()

    @property
    def state(self) -> str:
        """``sending``, ``standing by`` (another process sends), ``paused`` (the database does
        not answer) or ``stopped``."""
        if not self._running or self._stopping:
            return "stopped"
        if self.database_down_since is not None or self.recorder.unreachable_since is not None:
            return "paused"
        return "sending" if self.leading else "standing by"

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def backlog(self) -> int:
        return len(self.queues)

    async def idle(self) -> bool:
        """Nothing held, nothing on its way, nothing pending in the database."""
        if self.queues.rows or self._tasks or self.recorder.busy:
            return False
        return await self.waiting() == 0

    async def waiting(self) -> int:
        """Messages in the outbox not sent yet, whoever wrote or holds them."""
        async with self.session_factory() as session:
            waiting = await session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == OutboxStatus.pending)
            )
        return int(waiting or 0)

    async def call_now(self, method: TelegramMethod[Any]) -> Any:
        """A call that waits for no queue (answering a button press); errors are only logged."""
        for attempt in range(2):
            try:
                result = await self.bot(method)
            except TRANSIENT as error:
                self.reach.failed()
                if attempt:
                    log.info("%s failed: %s", method.__api_method__, error)
                    return None
                await asyncio.sleep(0.2 + random.random() * 0.3)  # noqa: S311 - jitter
            except TelegramAPIError as error:
                self.reach.answered()
                log.info("%s refused: %s", method.__api_method__, error.message)
                return None
            else:
                self.reach.answered()
                return result
        return None

    # --- the loop ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Send until ``stop``, while this process holds the sender's lease.

        One process sends at a time, so each chat's order and Telegram's limits are kept in
        one place; another stands by to take over, and taking over claims every row left.
        """
        self._running = True
        leadership = Leadership(self.session_factory, "sender", self.owner, SENDER_LEASE)
        try:
            while not self._stopping:
                self.beat = time.monotonic()
                if await self._database(leadership.hold) is True:
                    if not self.leading:
                        log.info("this process sends the outbox (%s)", self.owner)
                    await self._lead(leadership)
                if not self._stopping:
                    await self._pause(ELECTION_SECONDS)
        finally:
            self._running = False
            self._set_leading(False)
            with contextlib.suppress(Exception):
                await leadership.release()

    async def stop(self, timeout: float = 10.0) -> None:
        """Let the messages on their way finish, then stop; the rest waits in the database."""
        self._stopping = True
        self._stopped.set()
        self._wake.set()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)
        await self.recorder.close()

    async def _lead(self, leadership: Leadership) -> None:
        """Send while the lease is this process's; return when it is lost or the database
        fails (the caller tries again)."""
        if not self.leading:
            self._set_leading(True)
            self._taken_over = False
        if not self._taken_over:  # what was sent lately counts, and every row left is claimed
            if not await self._database(self._seed_windows) or not await self._database(
                self._claim, takeover=True
            ):
                return
            self._taken_over = True
        renewed = time.monotonic()
        next_poll = time.monotonic() + self.poll_seconds
        next_renewal = renewed + SENDER_LEASE.total_seconds() / 3
        while not self._stopping:
            self._wake.clear()
            now = self.beat = time.monotonic()
            if now >= next_renewal:
                held = await self._database(leadership.hold)
                if held is False:
                    log.warning("the sender's lease went to another process; stopping sends")
                    await self._let_go()
                    return
                if held is None and now - renewed > SENDER_LEASE.total_seconds():
                    return  # no longer sure of the lease: hold back until the database answers
                if held:
                    renewed = now
                    await self._database(self._renew)
                self.windows.forget_idle()
                next_renewal = time.monotonic() + SENDER_LEASE.total_seconds() / 3
            if self._claim_wanted or now >= next_poll:
                self._claim_wanted = False
                await self._database(self._claim)
                next_poll = time.monotonic() + self.poll_seconds
            next_at = self._dispatch()
            timeout = min(next_at - time.time(), next_poll - now, next_renewal - now)
            if timeout > 0 and not self._wake.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)

    async def _database(self, work: Any, **kwargs: Any) -> Any:
        """Run one of the loop's database steps; None when the database did not answer."""
        try:
            result = await work(**kwargs)
        except Exception as error:  # noqa: BLE001 - the loop goes on; the step comes again
            if self.database_down_since is None:
                self.database_down_since = time.time()
                if database_unreachable(error):
                    log.warning("the sender cannot reach the database (%s); it waits",
                                type(error).__name__)  # fmt: skip
                else:
                    log.exception("a step of the sender failed; it comes again")
            return None
        if self.database_down_since is not None:
            log.warning("the sender reaches the database again after %.0f s",
                        time.time() - self.database_down_since)  # fmt: skip
            self.database_down_since = None
            self._wake.set()
        return True if result is None else result

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), seconds)

    async def _let_go(self) -> None:
        """No longer the sender: finish what is on its way and forget the rest."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=10)
        self.queues.clear()
        self._set_leading(False)

    def _set_leading(self, leading: bool) -> None:
        self.leading = leading
        if self.metrics is not None:
            self.metrics.sending(leading)

    # --- claiming ------------------------------------------------------------------------------

    async def _claim(self, *, takeover: bool = False) -> None:
        """Take the pending rows nobody else holds (all of them, on taking over)."""
        now = datetime.now(UTC)
        async with transaction(self.session_factory) as session:
            query = (
                select(*_ROW_COLUMNS)
                .where(OutboxMessage.status == OutboxStatus.pending)
                .order_by(OutboxMessage.id)
                .limit(CLAIM_BATCH)
            )
            if not takeover:
                # Rows of processes that do not send, and any whose holder let them lapse.
                query = query.where(
                    or_(OutboxMessage.lease_owner.is_(None), OutboxMessage.lease_until < now)
                )
            if dialect_of(session) == "postgresql":
                query = query.with_for_update(skip_locked=True, of=OutboxMessage)
            found = [
                values
                for values in (await session.execute(query)).all()
                if not self.queues.holds(values.id)
            ]
            if found:
                await session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id.in_([values.id for values in found]))
                    .values(lease_owner=self.owner, lease_until=now + LEASE)
                    .execution_options(synchronize_session=False)
                )
        for values in found:
            self.queues.hold(_row_of(values))
        if len(found) == CLAIM_BATCH:
            self._claim_wanted = True

    async def _renew(self) -> None:
        if not self.queues.rows:
            return
        async with transaction(self.session_factory) as session:
            await session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.lease_owner == self.owner,
                    OutboxMessage.status == OutboxStatus.pending,
                )
                .values(lease_until=datetime.now(UTC) + LEASE)
                .execution_options(synchronize_session=False)
            )

    async def _seed_windows(self) -> None:
        """Messages sent within the last minute (by an earlier sender) still count."""
        since = datetime.now(UTC) - timedelta(seconds=61)
        async with self.session_factory() as session:
            result = await session.execute(
                select(OutboxMessage.chat_id, OutboxMessage.sent_at)
                .where(OutboxMessage.sent_at >= since, OutboxMessage.method.in_(COUNTED))
                .order_by(OutboxMessage.sent_at)
            )
            self.windows.seed([(chat, sent.timestamp()) for chat, sent in result if sent])

    # --- choosing what goes next ---------------------------------------------------------------

    def _concurrency(self) -> int:
        """Little's law: just enough on the way to use the bot-wide budget, up to the cap."""
        wanted = self.windows.limits.global_per_second * self._latency * 1.25
        return max(1, min(self.max_in_flight, math.ceil(wanted)))

    def _dispatch(self) -> float:
        """Start sends for the chats that may send now; returns when to look again."""
        now = time.time()
        limit = self._concurrency()
        if self._stopping or self.database_down_since is not None or len(self._tasks) >= limit:
            return now + _IDLE  # an answer on its way, or the database back, wakes the loop
        if self._paused_all_until > now:
            return self._paused_all_until
        room: float | None = 0.0  # the bot-wide window, looked at once a send needs it
        for line in self.queues.ready(now):
            head = line.rows[0]
            if head.method in COUNTED:
                room = self.windows.bot_delay()
                if room != 0.0:  # no chat may send before the bot-wide window has room
                    self.queues.put_back(line)
                    break
            later = max(head.not_before, line.paused_until)
            if later > now:
                self.queues.schedule(line, later)
                continue
            if head.refers_to_id is not None and self.queues.wait_for(head.refers_to_id, line):
                continue  # it edits or answers a message still waiting: after that one
            if head.method in COUNTED:
                delay = self.windows.chat_delay(line.chat_id)
                if delay > 0:
                    self.queues.schedule(line, now + delay)
                    continue
                self.windows.start()
            line.busy = True
            task = asyncio.create_task(self._deliver(line, head))
            self._tasks.add(task)
            task.add_done_callback(self._finished)
            if len(self._tasks) >= limit:
                return now + _IDLE
        if room is None:
            return now + _IDLE
        if room > 0:
            return now + room
        return self.queues.next_at() or now + _IDLE

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._wake.set()  # its place among the sends on their way is free only now

    # --- sending one row -----------------------------------------------------------------------

    async def _deliver(self, line: Line, row: Row) -> None:
        started = time.monotonic()
        counted = row.method in COUNTED
        try:
            outcome = await self._attempt(row)
        except Exception as error:  # noqa: BLE001 - a bug or the database: tried again later
            if not database_unreachable(error):
                log.exception("outbox %s: unexpected failure", row.id)
            outcome = self._again(row, f"{type(error).__name__}: {error}", telegram=False)
        if counted:
            if outcome.reached_telegram:
                self.windows.spent(row.chat_id)
            else:
                self.windows.release()
        # The chat goes on as soon as Telegram has answered, while this send keeps its place
        # among those on their way until its outcome is in the database: never more than
        # ``max_in_flight`` messages are sent but not recorded, which is what a crash repeats.
        self.queues.settle(line, outcome)
        self._observe(outcome)
        await self.recorder.record(outcome)
        if outcome.reached_telegram:
            self._latency = 0.8 * self._latency + 0.2 * (time.monotonic() - started)

    async def _attempt(self, row: Row) -> Outcome:
        folded = self.queues.fold(row)
        if folded is not None:
            return folded
        params = dict(row.params)
        if row.refers_to_id is not None:
            status, message_id = await self._outcome_of(row.refers_to_id)
            if status == OutboxStatus.pending:  # held by another process: after it goes
                return Outcome(row, OutboxStatus.pending, retry_at=time.time() + 0.5,
                               attempts=row.attempts)  # fmt: skip
            if status != OutboxStatus.sent or message_id is None:
                if row.method in EDITS:
                    return Outcome(row, OutboxStatus.dropped, error="its message was never sent")
            else:
                params["message_id" if row.method in EDITS else "reply_to"] = message_id
        merged = self.queues.apply_edits(row, params) if row.method == "send_text" else []
        file = await self._file(row.id) if row.has_file and "file_id" not in params else None
        try:
            result = await self.bot(call_for(row, params, file))
        except TelegramRetryAfter as error:
            self._answered()
            return self._flood(row, error)
        except TelegramMigrateToChat as error:
            self._answered()
            return Outcome(row, OutboxStatus.pending, moved_to=error.migrate_to_chat_id,
                           attempts=row.attempts, reached_telegram=True)  # fmt: skip
        except TelegramUnauthorizedError as error:
            self._answered()
            log.error("Telegram refuses the bot token (%s): sending paused", error.message)
            self._paused_all_until = time.time() + 60
            return Outcome(row, OutboxStatus.pending, retry_at=time.time() + 60,
                           attempts=row.attempts, reached_telegram=True)  # fmt: skip
        except TRANSIENT as error:
            return self._again(row, str(error), telegram=True)
        except TelegramAPIError as error:
            self._answered()
            return self._refused(row, error)
        self._answered()
        return Outcome(row, OutboxStatus.sent, message_id=message_id_of(result),
                       reached_telegram=True, dropped=merged)  # fmt: skip

    def _refused(self, row: Row, error: TelegramAPIError) -> Outcome:
        """Telegram's permanent answer: the message ends here."""
        if isinstance(error, TelegramBadRequest) and "message is not modified" in error.message:
            return Outcome(row, OutboxStatus.sent, reached_telegram=True)
        forbidden = isinstance(error, TelegramForbiddenError)
        return Outcome(row, OutboxStatus.failed, error=error.message, forbidden=forbidden,
                       reached_telegram=True)  # fmt: skip

    def _answered(self) -> None:
        self.reach.answered()

    def _recovered(self) -> None:
        """Telegram answers again after an outage: what waited goes now, within the limits."""
        log.warning("Telegram answers again; the messages that waited go out now")
        self._paused_all_until = 0.0
        self.queues.retry_all_now()
        self._wake.set()

    def _again(self, row: Row, error: str, *, telegram: bool) -> Outcome:
        """Not sent, for no fault of the message: it goes again after a pause. While Telegram
        does not answer at all, every chat waits, and only a probe goes now and then."""
        attempts = row.attempts + 1
        now = time.time()
        if telegram:
            was_reachable = self.reach.reachable
            self.reach.failed()
            if not self.reach.reachable:
                if was_reachable:
                    log.warning("Telegram does not answer (%s); messages wait", error)
                pause = self.retry.delay(self.reach.failures)
                self._paused_all_until = max(self._paused_all_until, now + pause)
        log.info("outbox %s: %s; attempt %s failed", row.id, error, attempts)
        return Outcome(row, OutboxStatus.pending, retry_at=now + self.retry.delay(attempts),
                       attempts=attempts, error=error[:500])  # fmt: skip

    def _flood(self, row: Row, error: TelegramRetryAfter) -> Outcome:
        if self.metrics is not None:
            self.metrics.flooded()
        now = time.time()
        until = now + error.retry_after + 0.05
        # Telegram does not say whose limit it was. One chat refused: that chat waits. Two
        # different chats refused within a moment: the bot's own limit, so every chat waits.
        recent = [chat for chat, at in self._floods if now - at < FLOOD_EVIDENCE_SECONDS]
        self._floods = [(chat, at) for chat, at in self._floods if now - at < 60]
        self._floods.append((row.chat_id, now))
        if any(chat != row.chat_id for chat in recent):
            log.warning("429s in several chats: every chat waits %s s", error.retry_after)
            self._paused_all_until = max(self._paused_all_until, until)
        else:
            log.warning("429 for chat %s: it waits %s s", row.chat_id, error.retry_after)
        line = self.queues.lines.get(row.chat_id)
        if line is not None:
            line.paused_until = until
        return Outcome(row, OutboxStatus.pending, retry_at=until, attempts=row.attempts,
                       reached_telegram=True)  # fmt: skip

    def _observe(self, outcome: Outcome) -> None:
        if self.metrics is None:
            return
        if outcome.status == OutboxStatus.sent and outcome.row.created:
            self.metrics.delivered(max(0.0, time.time() - outcome.row.created))
        elif outcome.status == OutboxStatus.failed:
            self.metrics.refused(failure_reason(outcome.error, forbidden=outcome.forbidden))

    async def _outcome_of(self, outbox_id: int) -> tuple[OutboxStatus, int | None]:
        known = self.queues.finished.get(outbox_id)
        if known is not None:
            return known
        async with self.session_factory() as session:
            found = (
                await session.execute(
                    select(OutboxMessage.status, OutboxMessage.message_id).where(
                        OutboxMessage.id == outbox_id
                    )
                )
            ).first()
        if found is None:
            return OutboxStatus.dropped, None
        return found[0], found[1]

    async def _file(self, outbox_id: int) -> bytes:
        async with self.session_factory() as session:
            content = await session.scalar(
                select(OutboxMessage.file).where(OutboxMessage.id == outbox_id)
            )
        return content or b""


_ROW_COLUMNS = (
    OutboxMessage.id,
    OutboxMessage.chat_id,
    OutboxMessage.method,
    OutboxMessage.params,
    OutboxMessage.file.is_not(None).label("has_file"),
    OutboxMessage.refers_to_id,
    OutboxMessage.withdraw_unsent,
    OutboxMessage.purpose,
    OutboxMessage.person_id,
    OutboxMessage.record,
    OutboxMessage.attempts,
    OutboxMessage.not_before,
    OutboxMessage.created_at,
)


def _row_of(values: Any) -> Row:
    return Row(
        id=values.id, chat_id=values.chat_id, method=values.method,
        params=dict(values.params or {}), has_file=bool(values.has_file),
        refers_to_id=values.refers_to_id, withdraw_unsent=bool(values.withdraw_unsent),
        purpose=values.purpose, person_id=values.person_id, record=values.record,
        attempts=values.attempts,
        not_before=values.not_before.timestamp() if values.not_before is not None else 0.0,
        created=values.created_at.timestamp() if values.created_at is not None else 0.0,
    )  # fmt: skip


def create_sender(
    settings: Settings,
    bot: Bot,
    session_factory: async_sessionmaker[AsyncSession],
    owner: str,
    metrics: Metrics | None = None,
    reach: Reachability | None = None,
) -> Sender:
    """The sender, with Telegram's limits as the settings give them."""
    limits = RateLimits(
        global_per_second=settings.rate_global_per_second,
        private_per_second=settings.rate_private_per_second,
        group_per_minute=settings.rate_group_per_minute,
    )
    return Sender(
        bot, session_factory, limits, owner=owner, max_in_flight=settings.send_concurrency,
        metrics=metrics, reach=reach,
    )  # fmt: skip
