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
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramRetryAfter, TelegramUnauthorizedError
from aiogram.methods import TelegramMethod
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.db import database_unreachable
from bot.delivery.claims import Claims
from bot.delivery.leadership import Leadership
from bot.delivery.outbox import Row
from bot.delivery.queues import COUNTED, EDITS, Line, Queues
from bot.delivery.recording import Hook, Outcome, Recorder
from bot.delivery.retry import TRANSIENT, Reachability, RetryPolicy, Waits
from bot.delivery.telegram import call_now, send
from bot.delivery.windows import RateLimits, Windows
from bot.logs import described
from bot.ops.metrics import Metrics, failure_reason
from models import OutboxStatus

log = logging.getLogger(__name__)

# The sender's role: renewed every third of it; a dead sender's work moves on within it.
SENDER_LEASE = timedelta(seconds=15)
ELECTION_SECONDS = 2.0
POLL_SECONDS = 0.5
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
        self.claims = Claims(session_factory, owner)
        self.waits = Waits(self.retry, self.reach)
        self.recorder = Recorder(session_factory, self, self.retry.delay, lambda: len(self._tasks))
        self.leading = False
        self._taken_over = False
        self.beat = time.monotonic()  # the last turn of its loop: it is alive, not stuck
        self.database_down_since: float | None = None  # as the loop found it
        self._running = False
        self._stopping = False
        self._stopped = asyncio.Event()
        self._wake = asyncio.Event()
        self._claim_wanted = True
        self.decided = asyncio.Event()  # its first election is over: it sends or stands by
        self._tasks: set[asyncio.Task[None]] = set()
        self._latency = 0.02  # seconds a send takes, its record included (EWMA)

    # --- the outside ---------------------------------------------------------------------------

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
        return await self.claims.waiting()

    async def someone_sends(self) -> bool:
        """Whether a process holds the sender's lease (for a process that does not send)."""
        return await self._leadership().held_by_anyone()

    async def call_now(self, method: TelegramMethod[Any]) -> Any:
        """A call that waits for no queue (answering a button press); errors are only logged."""
        return await call_now(self.bot, method, self.reach)

    # --- the loop ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Send until ``stop``, while this process holds the sender's lease.

        One process sends at a time, so each chat's order and Telegram's limits are kept in
        one place; another stands by to take over, and taking over claims every row left.
        """
        self._running = True
        leadership = self._leadership()
        try:
            while not self._stopping:
                self.beat = time.monotonic()
                if await self._database(leadership.hold) is True:
                    await self._lead(leadership)
                elif not self.leading:
                    self.decided.set()  # another process sends (or the database is away)
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
            log.info("this process sends the outbox (%s)", self.owner)
            self._set_leading(True)
            self._taken_over = False
        if not self._taken_over:  # what was sent lately counts, and every row left is claimed
            if not await self._database(self._seed_windows) or not await self._database(
                self._claim, takeover=True
            ):
                return
            self._taken_over = True
        self.decided.set()
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
                    if self.queues.rows:
                        await self._database(self.claims.renew)
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

    def _leadership(self) -> Leadership:
        return Leadership(self.session_factory, "sender", self.owner, SENDER_LEASE)

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
        rows, more = await self.claims.claim(self.queues.holds, takeover=takeover)
        for row in rows:
            self.queues.hold(row)
        self._claim_wanted = self._claim_wanted or more

    async def _seed_windows(self) -> None:
        """Messages sent within the last minute (by an earlier sender) still count."""
        self.windows.seed(await self.claims.sent_lately())

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
        if self.waits.everyone_until > now:
            return self.waits.everyone_until
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
            outcome = self.waits.again(row, described(error), telegram=False)
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
        waits = await self._refer(row, params)
        if waits is not None:
            return waits
        merged = self.queues.apply_edits(row, params) if row.method == "send_text" else []
        file = await self.claims.file(row.id) if row.has_file and "file_id" not in params else None
        try:
            outcome = await send(self.bot, row, params, file, merged)
        except TelegramRetryAfter as error:
            if self.metrics is not None:
                self.metrics.flooded()
            outcome = self.waits.flood(row, error)
            line = self.queues.lines.get(row.chat_id)
            if line is not None:
                line.paused_until = outcome.retry_at or 0.0
        except TelegramUnauthorizedError as error:
            outcome = self.waits.unauthorized(row, error)
        except TRANSIENT as error:
            return self.waits.again(row, str(error), telegram=True)
        self.reach.answered()
        return outcome

    async def _refer(self, row: Row, params: dict[str, Any]) -> Outcome | None:
        """Fill in the Telegram ids of what the row refers to: the message it edits or answers,
        the topic it goes to. An outcome when it cannot go now: what it refers to is held by
        another process (after it goes), or an edit's message was never sent."""
        topic_of = params.pop("topic_of", None)
        if topic_of is not None:
            status, thread_id = await self._outcome_of(topic_of)
            if status == OutboxStatus.pending:
                return Outcome(row, OutboxStatus.pending, retry_at=time.time() + 0.5,
                               attempts=row.attempts)  # fmt: skip
            if thread_id is not None:  # a topic that could not be opened: the chat itself
                params["message_thread_id"] = thread_id
        if row.refers_to_id is None or row.refers_to_id == topic_of:
            return None
        status, message_id = await self._outcome_of(row.refers_to_id)
        if status == OutboxStatus.pending:
            return Outcome(row, OutboxStatus.pending, retry_at=time.time() + 0.5,
                           attempts=row.attempts)  # fmt: skip
        if status != OutboxStatus.sent or message_id is None:
            if row.method in EDITS:
                return Outcome(row, OutboxStatus.dropped, error="its message was never sent")
        else:
            params["message_id" if row.method in EDITS else "reply_to"] = message_id
        return None

    def _recovered(self) -> None:
        """Telegram answers again after an outage: what waited goes now, within the limits."""
        log.warning("Telegram answers again; the messages that waited go out now")
        self.waits.everyone_until = 0.0
        self.queues.retry_all_now()
        self._wake.set()

    def _observe(self, outcome: Outcome) -> None:
        if self.metrics is None:
            return
        if outcome.status == OutboxStatus.sent and outcome.row.created:
            self.metrics.delivered(max(0.0, time.time() - outcome.row.created))
        elif outcome.status == OutboxStatus.failed:
            self.metrics.refused(failure_reason(outcome.error, forbidden=outcome.forbidden))

    async def _outcome_of(self, outbox_id: int) -> tuple[OutboxStatus, int | None]:
        known = self.queues.finished.get(outbox_id)
        return known if known is not None else await self.claims.outcome_of(outbox_id)


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
