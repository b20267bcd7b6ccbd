"""The one scheduler that sends the outbox: each chat in order, within Telegram's limits.

One bot process sends at a time: the one holding the ``sender`` lease (``Leadership``); the
others write rows and wait to take over. The sender holds the rows its own handlers and jobs
commit from the moment they are written (``adopt``) and claims those of other processes
(``FOR UPDATE SKIP LOCKED`` with a lease on PostgreSQL), in a queue per chat. A chat's next
message goes when its own window and the bot-wide window allow (``Budget``); a chat waiting
for its budget, paused by a 429 or waiting for a retry never holds up another. Every send is
recorded in the database as soon as Telegram answers, before its slot is used again, so after
a crash only the messages that were on their way can arrive twice: one, by default
(``SEND_CONCURRENCY``); with more allowed, only as many are on their way as the bot-wide
budget needs (its rate times Telegram's answer time).

Telegram's answers decide what happens to a row: sent (its message id is noted where the
row's ``record`` says, and a follow-up waiting for it is written), retried later (429 after
``retry_after``, 5xx and network errors with backoff and jitter, a bounded number of times),
moved (a group upgraded to a supergroup), or failed for good with the reason kept (403, chat
not found, bad request). Hooks registered per purpose run in the same transaction: a card that
cannot reach its mentor tells coordinators.

Before a message goes out, later rows about it in the queue are folded in: edits of a message
not sent yet are sent as its content, an edit that withdraws an unsent message drops both,
and an edit followed by another edit of the same message is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import math
import random
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, cast

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import EditMessageReplyMarkup, EditMessageText, SendMessage, TelegramMethod
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup, Message, ReplyParameters
from sqlalchemy import BigInteger, String, Table, bindparam, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.types import TypeEngine

from bot.config import Settings
from bot.db import dialect_of, transaction
from bot.delivery.budget import Budget, RateLimits
from bot.delivery.leadership import Leadership
from bot.delivery.outbox import Outbox, Row
from bot.delivery.telegram import post_json
from bot.ops.metrics import Metrics, failure_reason
from models import (
    DeliveryFailure,
    MeetingAudience,
    OutboxMessage,
    OutboxStatus,
    Person,
    SummaryCard,
    TicketMessage,
)

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=30)
# The sender's lease: renewed every third of it; a dead sender's work moves on within it.
SENDER_LEASE = timedelta(seconds=15)
ELECTION_SECONDS = 2.0
# 429s in two chats this close together are taken for the bot-wide limit.
FLOOD_EVIDENCE_SECONDS = 2.0
POLL_SECONDS = 0.5
# When a send's outcome is to be recorded while other sends are still on their way, the record
# waits this long for theirs: the records share one transaction. It keeps its place among the
# sends on their way meanwhile, so no more are ever sent but unrecorded than before.
GATHER_SECONDS = 0.003
MAX_ATTEMPTS = 6
BACKOFF_BASE = 0.5
BACKOFF_MAX = 60.0
# Messages that count against Telegram's limits (new messages and edits).
COUNTED = frozenset({"send_text", "send_document", "send_photo", "edit_text", "edit_markup"})
SENDS = frozenset({"send_text", "send_document", "send_photo"})
EDITS = frozenset({"edit_text", "edit_markup"})
# Where a message's Telegram id is noted once it is sent: table, outbox column, id column.
LINKS: dict[str, tuple[Table, str, str]] = {
    "ticket_message": (TicketMessage.__table__, "outbox_id", "message_id"),  # type: ignore[dict-item]
    "summary_card": (SummaryCard.__table__, "outbox_id", "message_id"),  # type: ignore[dict-item]
    "announcement": (
        MeetingAudience.__table__,  # type: ignore[dict-item]
        "announcement_outbox_id",
        "announcement_message_id",
    ),
}
_QUIET_ERRORS = ("message to edit not found", "message can't be edited")
# Sent as JSON straight from their stored parameters (``post_json``), by their Bot API names.
_API_NAMES = {
    "send_text": "sendMessage",
    "edit_text": "editMessageText",
    "edit_markup": "editMessageReplyMarkup",
}
_AS_JSON = frozenset(_API_NAMES)


@dataclass(frozen=True)
class Delivered:
    """What became of a row, as hooks see it."""

    outbox_id: int
    chat_id: int
    purpose: str
    person_id: int | None
    message_id: int | None = None
    error: str | None = None
    forbidden: bool = False


# Called in the transaction that records the outcome, with an outbox of that transaction.
Hook = Callable[["Outbox", Delivered], Awaitable[None]]


@dataclass
class Outcome:
    row: Row
    status: OutboxStatus
    message_id: int | None = None
    error: str | None = None
    retry_at: float | None = None  # still pending: try again then
    attempts: int = 0
    forbidden: bool = False
    moved_to: int | None = None
    dropped: list[Row] = field(default_factory=list)  # rows folded into this one or withdrawn
    reached_telegram: bool = False


@dataclass
class Line:
    """One chat's queue."""

    chat_id: int
    rows: deque[Row] = field(default_factory=deque)
    busy: bool = False
    paused_until: float = 0.0
    ready_at: float | None = None  # when it is in the heap


class Elsewhere(Protocol):
    """The sender process of this bot's own (``bot.delivery.sender_process``), as seen from
    the bot's process, which then sends nothing itself."""

    owner: str
    leading: bool
    running: bool
    beat: float

    def adopt(self, rows: Sequence[Row]) -> None: ...

    def wake(self) -> None: ...


class Scheduler:
    """Sends what the outbox holds; see the module's description."""

    def __init__(
        self,
        bot: Bot,
        session_factory: async_sessionmaker[AsyncSession],
        budget: Budget,
        *,
        owner: str,
        on_sent: dict[str, Hook] | None = None,
        on_failed: dict[str, Hook] | None = None,
        poll_seconds: float = POLL_SECONDS,
        max_in_flight: int = 1,
        metrics: Metrics | None = None,
    ) -> None:
        self.bot = bot
        self.metrics = metrics
        self.session_factory = session_factory
        self.budget = budget
        self.owner = owner
        self.on_sent = dict(on_sent or {})
        self.on_failed = dict(on_failed or {})
        self.poll_seconds = poll_seconds
        self.max_in_flight = max_in_flight
        self.max_attempts = MAX_ATTEMPTS
        self.backoff_base = BACKOFF_BASE
        self.backoff_max = BACKOFF_MAX
        self._lines: dict[int, Line] = {}
        self._rows: dict[int, Row] = {}  # every row held, by id
        self._dependents: dict[int, list[Row]] = {}  # outbox id -> rows referring to it
        self._waiting: dict[int, set[int]] = {}  # outbox id -> chats waiting for it to finish
        self._finished: OrderedDict[int, tuple[OutboxStatus, int | None]] = OrderedDict()
        self._heap: list[tuple[float, int, int]] = []
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._claim_wanted = True
        self._tasks: set[asyncio.Task[None]] = set()
        self._paused_all_until = 0.0
        self._floods: list[tuple[int, float]] = []  # recent 429s: (chat, when)
        self._answered_ids: dict[int, bool] = {}  # sends Telegram answered, for the budget
        self._latency = 0.02  # seconds a send takes, answer and record included (EWMA)
        self._stopping = False
        self._stopped = asyncio.Event()
        self._running = False
        self.leading = False
        self.beat = time.monotonic()  # the last turn of its loop: it is alive, not stuck
        self._writer = _Writer(self)
        self._elsewhere: Elsewhere | None = None

    # --- the outside ---------------------------------------------------------------------------

    def wake(self) -> None:
        """Something changed (a send finished, a pause ended): look again now."""
        if self._elsewhere is not None:
            self._elsewhere.wake()
        self._wake.set()

    def claim_soon(self) -> None:
        """Rows nobody holds were committed: claim them now, not at the next poll."""
        self._claim_wanted = True
        self._wake.set()

    def send_elsewhere(self, process: Elsewhere) -> None:
        """This process sends nothing: ``process``, a sender process of its own, does."""
        self._elsewhere = process

    def holder(self) -> str | None:
        """Who holds the rows this process writes from the moment they are written: the
        sending process, when it is this one or its own sender process; else nobody yet."""
        if self._elsewhere is not None:
            return self._elsewhere.owner if self._elsewhere.leading else None
        return self.owner if self.leading else None

    def liveness(self) -> tuple[bool, float, bool]:
        """Whether the loop runs, when it last turned (monotonic), and whether it sends: this
        process's own, or its sender process's as that one reports it."""
        if self._elsewhere is not None:
            return self._elsewhere.running, self._elsewhere.beat, self._elsewhere.leading
        return self._running, self.beat, self.leading

    def adopt(self, rows: Sequence[Row]) -> None:
        """Rows this process just committed, held by its sender from the start: they go into
        the queues without a claim (through a pipe, to a sender process of its own); rows no
        one held from the start are found by the sender's poll."""
        if self._elsewhere is not None:
            self._elsewhere.adopt(rows)
            return
        if not self.leading:
            return
        for row in rows:
            if row.id not in self._rows and row.id not in self._finished:
                self._hold(row)
        self._wake.set()

    @property
    def running(self) -> bool:
        return self._running

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def backlog(self) -> int:
        return len(self._rows)

    async def run(self) -> None:
        """Send until ``stop``, while this process holds the sender's lease.

        One process sends at a time, so each chat's order and Telegram's limits are kept in
        one place; another waits to take over. Taking over, it claims every row the previous
        sender left.
        """
        self._running = True
        leadership = Leadership(self.session_factory, "sender", self.owner, SENDER_LEASE)
        try:
            while not self._stopping:
                self.beat = time.monotonic()
                if not await leadership.hold():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopped.wait(), ELECTION_SECONDS)
                    continue
                log.info("this process sends the outbox (%s)", self.owner)
                self.leading = True
                if self.metrics is not None:
                    self.metrics.sending(True)
                try:
                    await self._lead(leadership)
                finally:
                    self.leading = False
                    if self.metrics is not None:
                        self.metrics.sending(False)
        finally:
            self._running = False
            with contextlib.suppress(Exception):
                await leadership.release()

    async def _lead(self, leadership: Leadership) -> None:
        await self._seed_budget()
        await self._claim(takeover=True)
        next_poll = time.monotonic() + self.poll_seconds
        next_renewal = time.monotonic() + SENDER_LEASE.total_seconds() / 3
        while not self._stopping:
            self._wake.clear()
            now_mono = self.beat = time.monotonic()
            if now_mono >= next_renewal:
                if not await leadership.hold():
                    log.warning("the sender's lease went to another process; stopping sends")
                    await self._let_go()
                    return
                await self._renew()
                self.budget.forget_idle()
                next_renewal = now_mono + SENDER_LEASE.total_seconds() / 3
            if self._claim_wanted or now_mono >= next_poll:
                self._claim_wanted = False
                await self._claim()
                next_poll = time.monotonic() + self.poll_seconds
            next_at = await self._dispatch()
            timeout = min(
                max(0.0, next_at - time.time()),
                next_poll - time.monotonic(),
                next_renewal - time.monotonic(),
            )
            if timeout > 0 and not self._wake.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)

    async def _let_go(self) -> None:
        """No longer the sender: finish what is on its way and forget the rest."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=10)
        self._lines.clear()
        self._rows.clear()
        self._dependents.clear()
        self._waiting.clear()
        self._heap.clear()

    async def stop(self, timeout: float = 10.0) -> None:
        """Let the messages on their way finish, then stop; the rest waits in the database."""
        self._stopping = True
        self._stopped.set()
        self._wake.set()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)
        await self._writer.close()

    async def idle(self) -> bool:
        """Nothing held, nothing on its way, nothing pending in the database."""
        if self._rows or self._tasks or self._writer.busy:
            return False
        return await self.waiting() == 0

    async def waiting(self) -> int:
        """Messages in the outbox not sent yet, whoever wrote or holds them."""
        async with self.session_factory() as session:
            waiting = await session.execute(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == OutboxStatus.pending)
            )
            return int(waiting.scalar_one())

    async def call_now(self, method: TelegramMethod[Any]) -> Any:
        """A call that waits for no queue (answering a button press); errors are only logged."""
        for attempt in range(2):
            try:
                return await self.bot(method)
            except (TelegramServerError, TelegramNetworkError) as error:
                if attempt:
                    log.info("%s failed: %s", method.__api_method__, error)
                    return None
                await asyncio.sleep(0.2 + random.random() * 0.3)  # noqa: S311 - jitter
            except TelegramAPIError as error:
                log.info("%s refused: %s", method.__api_method__, error.message)
                return None
        return None

    # --- claiming ------------------------------------------------------------------------------

    async def _claim(self, *, takeover: bool = False) -> None:
        """Take the pending rows nobody else holds (all of them, on start) into the queues."""
        now = datetime.now(UTC)
        async with transaction(self.session_factory) as session:
            query = (
                select(
                    OutboxMessage.id,
                    OutboxMessage.chat_id,
                    OutboxMessage.method,
                    OutboxMessage.params,
                    OutboxMessage.file.is_not(None),
                    OutboxMessage.refers_to_id,
                    OutboxMessage.withdraw_unsent,
                    OutboxMessage.purpose,
                    OutboxMessage.person_id,
                    OutboxMessage.record,
                    OutboxMessage.attempts,
                    OutboxMessage.not_before,
                    OutboxMessage.created_at,
                )
                .where(OutboxMessage.status == OutboxStatus.pending)
                .order_by(OutboxMessage.id)
                .limit(2000)
            )
            if not takeover:
                # Rows of processes that do not send, and any whose holder let them lapse.
                query = query.where(
                    or_(OutboxMessage.lease_owner.is_(None), OutboxMessage.lease_until < now)
                )
            if dialect_of(session) == "postgresql":
                query = query.with_for_update(skip_locked=True, of=OutboxMessage)
            found = [
                row for row in (await session.execute(query)).all() if row[0] not in self._rows
            ]
            if not found:
                return
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_([row[0] for row in found]))
                .values(lease_owner=self.owner, lease_until=now + LEASE)
                .execution_options(synchronize_session=False)
            )
        for values in found:
            not_before = values[11]
            self._hold(
                Row(
                    id=values[0],
                    chat_id=values[1],
                    method=values[2],
                    params=dict(values[3] or {}),
                    has_file=bool(values[4]),
                    refers_to_id=values[5],
                    withdraw_unsent=bool(values[6]),
                    purpose=values[7],
                    person_id=values[8],
                    record=values[9],
                    attempts=values[10],
                    not_before=not_before.timestamp() if not_before is not None else 0.0,
                    created=_epoch(values[12]),
                )
            )
        if len(found) == 2000:
            self._claim_wanted = True

    def _hold(self, row: Row) -> None:
        if row.id in self._rows or row.id in self._finished:
            return
        self._rows[row.id] = row
        line = self._lines.get(row.chat_id)
        if line is None:
            line = self._lines[row.chat_id] = Line(row.chat_id)
        if line.rows and line.rows[-1].id > row.id:
            # A transaction that committed after a later one: keep the chat's order by id.
            position = next(i for i, held in enumerate(line.rows) if held.id > row.id)
            line.rows.insert(position, row)
        else:
            line.rows.append(row)
        if row.refers_to_id is not None:
            self._dependents.setdefault(row.refers_to_id, []).append(row)
        self._schedule(line, max(row.not_before, time.time()))

    async def _renew(self) -> None:
        if not self._rows:
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

    async def _seed_budget(self) -> None:
        """Messages sent within the last minute (by an earlier sender) still count."""
        since = datetime.now(UTC) - timedelta(seconds=61)
        async with self.session_factory() as session:
            result = await session.execute(
                select(OutboxMessage.chat_id, OutboxMessage.sent_at)
                .where(OutboxMessage.sent_at >= since, OutboxMessage.method.in_(COUNTED))
                .order_by(OutboxMessage.sent_at)
            )
            self.budget.seed([(row[0], row[1].timestamp()) for row in result if row[1]])

    # --- choosing what goes next ---------------------------------------------------------------

    def _schedule(self, line: Line, at: float) -> None:
        if line.busy or not line.rows:
            return
        if line.ready_at is not None and line.ready_at <= at:
            return
        line.ready_at = at
        heapq.heappush(self._heap, (at, next(self._seq), line.chat_id))
        self._wake.set()

    def _concurrency(self) -> int:
        """Little's law: just enough on the way to use the bot-wide budget, up to the cap."""
        wanted = self.budget.limits.global_per_second * self._latency * 1.25
        return max(1, min(self.max_in_flight, math.ceil(wanted)))

    async def _dispatch(self) -> float:
        """Start sends for the chats that may send now; returns when to look again."""
        idle_until = time.time() + 3600
        if self._stopping:
            return idle_until
        limit = self._concurrency()
        deferred: list[tuple[Line, float]] = []
        room: float | None = 0.0  # the bot-wide window, looked at once a send needs it
        while self._heap and len(self._tasks) < limit:
            now = time.time()
            at, _, chat_id = self._heap[0]
            if at > now:
                break
            line = self._lines.get(chat_id)
            if line is None or line.ready_at != at or line.busy or not line.rows:
                heapq.heappop(self._heap)
                if line is not None and line.ready_at == at:
                    line.ready_at = None
                continue  # superseded by a later entry, or nothing to send
            head = line.rows[0]
            if head.method in COUNTED:
                room = self.budget.bot_delay()
                if room != 0.0:
                    # No chat may send before the bot-wide window has room: stop looking.
                    break
            heapq.heappop(self._heap)
            line.ready_at = None
            later = max(head.not_before, line.paused_until, self._paused_all_until)
            if later > now:
                deferred.append((line, later))
                continue
            if head.refers_to_id is not None and head.refers_to_id in self._rows:
                # It edits or answers a message still waiting somewhere: after that one.
                self._waiting.setdefault(head.refers_to_id, set()).add(chat_id)
                continue
            if head.method in COUNTED:
                delay = self.budget.chat_delay(chat_id)
                if delay > 0:
                    deferred.append((line, now + delay))
                    continue
                self.budget.start()
            line.busy = True
            task = asyncio.create_task(self._deliver(line, head))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            # Its place among the sends on their way is free only now, its outcome recorded.
            task.add_done_callback(lambda _task: self._wake.set())
        for line, at in deferred:
            self._schedule(line, at)
        if room is None or len(self._tasks) >= limit:
            return idle_until  # an answer on its way wakes the loop
        if room > 0:
            return time.time() + room
        return self._heap[0][0] if self._heap else idle_until

    # --- sending one row -----------------------------------------------------------------------

    async def _deliver(self, line: Line, row: Row) -> None:
        started = time.monotonic()
        try:
            outcome = await self._attempt(row)
        except Exception as error:  # noqa: BLE001 - a bug must not stop the chat forever
            log.exception("outbox %s: unexpected failure", row.id)
            outcome = self._transient(row, f"{type(error).__name__}: {error}")
        finally:
            if row.method in COUNTED and not self._answered_ids.pop(row.id, False):
                self.budget.release()
        # The chat goes on as soon as Telegram has answered, while this send keeps its place
        # among those on their way until its outcome is in the database: so never more than
        # ``max_in_flight`` messages are sent but not yet recorded, which is what a crash can
        # repeat, and the records of a busy chat's sends share transactions.
        self._settle(line, outcome)
        self._observe(outcome)
        try:
            await self._writer.record(outcome)
        except Exception:
            log.exception("outbox %s: could not record what Telegram answered", row.id)
        if outcome.reached_telegram:
            elapsed = time.monotonic() - started
            self._latency = 0.8 * self._latency + 0.2 * elapsed

    def _observe(self, outcome: Outcome) -> None:
        if self.metrics is None:
            return
        if outcome.status == OutboxStatus.sent and outcome.row.created:
            self.metrics.delivered(max(0.0, time.time() - outcome.row.created))
        elif outcome.status == OutboxStatus.failed:
            reason = failure_reason(outcome.error, forbidden=outcome.forbidden)
            self.metrics.refused(reason)

    def _settle(self, line: Line, outcome: Outcome) -> None:
        """Apply the outcome to the queues and let waiting chats go on."""
        row = outcome.row
        line.busy = False
        if outcome.moved_to is not None:
            self._move_line(line, outcome.moved_to)
            return
        if outcome.status == OutboxStatus.pending:
            row.not_before = outcome.retry_at or time.time()
            row.attempts = outcome.attempts
            self._schedule(line, row.not_before)
            return
        self._finished[row.id] = (outcome.status, outcome.message_id)
        for done in [row, *outcome.dropped]:
            self._forget(done, OutboxStatus.dropped)
        while len(self._finished) > 10_000:
            self._finished.popitem(last=False)
        self._schedule(line, time.time())
        self._wake.set()

    def _forget(self, row: Row, status: OutboxStatus) -> None:
        self._rows.pop(row.id, None)
        self._finished.setdefault(row.id, (status, None))
        line = self._lines.get(row.chat_id)
        if line is not None:
            with contextlib.suppress(ValueError):
                line.rows.remove(row)
            if not line.rows and not line.busy:
                self._lines.pop(row.chat_id, None)
            else:
                self._schedule(line, time.time())
        if row.refers_to_id is not None:
            siblings = self._dependents.get(row.refers_to_id)
            if siblings is not None and row in siblings:
                siblings.remove(row)
                if not siblings:
                    self._dependents.pop(row.refers_to_id, None)
        for chat_id in self._waiting.pop(row.id, set()):
            waiting = self._lines.get(chat_id)
            if waiting is not None:
                self._schedule(waiting, time.time())

    def _move_line(self, line: Line, new_chat_id: int) -> None:
        """A group became a supergroup: its queue goes on under the new id."""
        self._lines.pop(line.chat_id, None)
        target = self._lines.setdefault(new_chat_id, Line(new_chat_id))
        for row in line.rows:
            row.chat_id = new_chat_id
        target.rows = deque(sorted([*target.rows, *line.rows], key=lambda r: r.id))
        self._schedule(target, time.time())

    async def _attempt(self, row: Row) -> Outcome:
        folded = self._fold(row)
        if folded is not None:
            return folded
        params = dict(row.params)
        if row.refers_to_id is not None:
            status, message_id = await self._outcome_of(row.refers_to_id)
            if status == OutboxStatus.pending:
                return Outcome(row, OutboxStatus.pending, retry_at=time.time() + 0.5,
                               attempts=row.attempts)  # fmt: skip
            if status != OutboxStatus.sent or message_id is None:
                if row.method in EDITS:
                    return Outcome(row, OutboxStatus.dropped, error="its message was never sent")
            else:
                params["message_id" if row.method in EDITS else "reply_to"] = message_id
        merged = self._apply_edits(row, params) if row.method == "send_text" else []
        counted = row.method in COUNTED  # its place in the bot-wide window was taken
        try:
            result = await self._call(row, params)
        except TelegramRetryAfter as error:
            return await self._flood(row, error, counted)
        except TelegramMigrateToChat as error:
            await self._answered(row, counted)
            return Outcome(row, OutboxStatus.pending, moved_to=error.migrate_to_chat_id,
                           attempts=row.attempts)  # fmt: skip
        except TelegramUnauthorizedError as error:
            await self._answered(row, counted)
            log.error("Telegram refuses the bot token (%s): sending paused", error.message)
            self._paused_all_until = time.time() + 60
            return Outcome(row, OutboxStatus.pending, retry_at=time.time() + 60,
                           attempts=row.attempts)  # fmt: skip
        except (TelegramServerError, TelegramNetworkError, TimeoutError) as error:
            await self._answered(row, counted)
            return self._transient(row, str(error))
        except TelegramBadRequest as error:
            await self._answered(row, counted)
            if "message is not modified" in error.message:
                return Outcome(row, OutboxStatus.sent, reached_telegram=True)
            if any(quiet in error.message for quiet in _QUIET_ERRORS):
                log.info("outbox %s: %s", row.id, error.message)
            return Outcome(row, OutboxStatus.failed, error=error.message, reached_telegram=True)
        except TelegramForbiddenError as error:
            await self._answered(row, counted)
            return Outcome(row, OutboxStatus.failed, error=error.message, forbidden=True,
                           reached_telegram=True)  # fmt: skip
        except TelegramAPIError as error:
            await self._answered(row, counted)
            return Outcome(row, OutboxStatus.failed, error=error.message, reached_telegram=True)
        await self._answered(row, counted)
        message_id = (
            result.message_id
            if isinstance(result, Message)
            else result.get("message_id")
            if isinstance(result, dict)
            else None
        )
        return Outcome(row, OutboxStatus.sent, message_id=message_id, reached_telegram=True,
                       dropped=merged)  # fmt: skip

    async def _answered(self, row: Row, counted: bool) -> None:
        if counted:
            self._answered_ids[row.id] = True
            self.budget.spent(row.chat_id)

    async def _flood(self, row: Row, error: TelegramRetryAfter, counted: bool) -> Outcome:
        await self._answered(row, counted)
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
        line = self._lines.get(row.chat_id)
        if line is not None:
            line.paused_until = until
        return Outcome(row, OutboxStatus.pending, retry_at=until, attempts=row.attempts)

    def _transient(self, row: Row, error: str) -> Outcome:
        attempts = row.attempts + 1
        if attempts >= self.max_attempts:
            return Outcome(row, OutboxStatus.failed, attempts=attempts,
                           error=f"gave up after {attempts} attempts: {error}")  # fmt: skip
        delay = min(self.backoff_max, self.backoff_base * 2 ** (attempts - 1))
        delay *= 0.5 + random.random()  # noqa: S311 - jitter, not security
        log.warning("outbox %s: %s; retry %s in %.1f s", row.id, error, attempts, delay)
        return Outcome(row, OutboxStatus.pending, retry_at=time.time() + delay,
                       attempts=attempts, error=error)  # fmt: skip

    # --- folding later rows into the one about to go -------------------------------------------

    def _fold(self, row: Row) -> Outcome | None:
        """Decide from the rows behind this one whether it goes, goes changed, or not at all."""
        later = self._dependents.get(row.id, [])
        if row.method in SENDS and any(dependent.withdraw_unsent for dependent in later):
            return Outcome(row, OutboxStatus.dropped, error="withdrawn before it was sent",
                           dropped=list(later))  # fmt: skip
        if row.method in EDITS:
            line = self._lines.get(row.chat_id)
            if line is not None and any(self._supersedes(other, row) for other in line.rows):
                return Outcome(row, OutboxStatus.dropped, error="superseded by a later edit")
        return None

    @staticmethod
    def _same_target(a: Row, b: Row) -> bool:
        if a.refers_to_id is not None or b.refers_to_id is not None:
            return a.refers_to_id == b.refers_to_id
        return a.params.get("message_id") == b.params.get("message_id")

    def _supersedes(self, other: Row, row: Row) -> bool:
        if other.id <= row.id or other.method not in EDITS or not self._same_target(other, row):
            return False
        return other.method == "edit_text" or row.method == "edit_markup"

    def _apply_edits(self, row: Row, params: dict[str, Any]) -> list[Row]:
        """Edits of this message waiting behind it: send it as they would leave it."""
        edits = [r for r in self._dependents.get(row.id, []) if r.method in EDITS]
        for edit in sorted(edits, key=lambda r: r.id):
            if edit.method == "edit_text":
                params["text"] = edit.params["text"]
            # As on Telegram: an edit without buttons takes the buttons away.
            if "reply_markup" in edit.params:
                params["reply_markup"] = edit.params["reply_markup"]
            else:
                params.pop("reply_markup", None)
        return edits

    async def _outcome_of(self, outbox_id: int) -> tuple[OutboxStatus, int | None]:
        known = self._finished.get(outbox_id)
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

    # --- Telegram ------------------------------------------------------------------------------

    async def _call(self, row: Row, params: dict[str, Any]) -> Any:
        chat_id = row.chat_id
        markup_data = params.get("reply_markup")
        if row.method in _AS_JSON:
            # Text and edits, most of what is sent: the stored parameters go out as JSON.
            return await post_json(
                self.bot, *self._json_call(row.method, chat_id, params, markup_data)
            )
        markup = _markup(markup_data)
        reply = _reply(params.get("reply_to"))
        if row.method in ("send_document", "send_photo"):
            file: str | BufferedInputFile
            if "file_id" in params:
                file = params["file_id"]
            else:
                file = BufferedInputFile(await self._file(row.id), filename=params["filename"])
            send = self.bot.send_document if row.method == "send_document" else self.bot.send_photo
            return await send(
                chat_id,
                file,
                caption=params.get("caption"),
                reply_markup=markup,
                reply_parameters=reply,
            )
        if row.method == "leave_chat":
            return await self.bot.leave_chat(chat_id)
        if row.method == "chat_action":
            return await self.bot.send_chat_action(chat_id, params["action"])
        raise ValueError(f"unknown outbox method {row.method!r}")

    def _json_call(
        self, method: str, chat_id: int, params: dict[str, Any], markup: Any
    ) -> tuple[str, dict[str, Any], Callable[[], TelegramMethod[Any]]]:
        """The Bot API method, its JSON body (with the bot's defaults: HTML, no link
        previews), and how aiogram would build the call, to read a refusal of it."""
        body: dict[str, Any] = {"chat_id": chat_id}
        if method != "edit_markup":
            body["text"] = params["text"]
            default = self.bot.default
            if default.parse_mode is not None:
                body["parse_mode"] = default.parse_mode
            if default.link_preview_is_disabled:
                body["link_preview_options"] = {"is_disabled": True}
        if method == "send_text":
            reply_to = params.get("reply_to")
            if isinstance(reply_to, int):
                body["reply_parameters"] = {
                    "message_id": reply_to,
                    "allow_sending_without_reply": True,
                }
        else:
            body["message_id"] = params["message_id"]
        if markup:
            body["reply_markup"] = markup

        def call() -> TelegramMethod[Any]:
            keyboard, reply = _markup(markup), _reply(params.get("reply_to"))
            if method == "send_text":
                return SendMessage(chat_id=chat_id, text=params["text"], reply_markup=keyboard,
                                   reply_parameters=reply)  # fmt: skip
            if method == "edit_text":
                return EditMessageText(chat_id=chat_id, message_id=params["message_id"],
                                       text=params["text"], reply_markup=keyboard)  # fmt: skip
            return EditMessageReplyMarkup(
                chat_id=chat_id, message_id=params["message_id"], reply_markup=keyboard
            )

        return _API_NAMES[method], body, call

    async def _file(self, outbox_id: int) -> bytes:
        async with self.session_factory() as session:
            content = await session.scalar(
                select(OutboxMessage.file).where(OutboxMessage.id == outbox_id)
            )
        return content or b""


def create_delivery(
    settings: Settings,
    bot: Bot,
    session_factory: async_sessionmaker[AsyncSession],
    owner: str,
    metrics: Metrics | None = None,
) -> Scheduler:
    """The delivery scheduler, with Telegram's limits as the settings give them."""
    budget = Budget(
        RateLimits(
            global_per_second=settings.rate_global_per_second,
            private_per_second=settings.rate_private_per_second,
            group_per_minute=settings.rate_group_per_minute,
        )
    )
    return Scheduler(
        bot,
        session_factory,
        budget,
        owner=owner,
        max_in_flight=settings.send_concurrency,
        metrics=metrics,
    )


# What the writer says of the rows, built once: every batch of sends uses them.
_OUTBOX = cast(Table, OutboxMessage.__table__)
_FINAL = (
    _OUTBOX.update()
    .where(_OUTBOX.c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        attempts=bindparam("b_attempts"),
        error=bindparam("b_error"),
        sent_at=bindparam("b_sent_at"),
        message_id=bindparam("b_message_id"),
        file=None,
        lease_until=None,
    )
)
# On PostgreSQL the batch goes as arrays: one execution for all its rows, where asyncpg's
# ``executemany`` has the server execute the statement once per row.
_FINAL_COLUMNS = ("status", "attempts", "error", "sent_at", "message_id")


def _array_of(name: str) -> TypeEngine[Any]:
    return String() if name == "status" else _OUTBOX.c[name].type  # the status as its text


_BATCH = (
    func.unnest(
        bindparam("b_id_list", type_=ARRAY(_OUTBOX.c.id.type)),
        *(bindparam(f"b_{name}_list", type_=ARRAY(_array_of(name))) for name in _FINAL_COLUMNS),
    )
    .table_valued("id", *_FINAL_COLUMNS)
    .render_derived(name="batch")
)
_FINAL_ARRAYS = (
    _OUTBOX.update()
    .where(_OUTBOX.c.id == _BATCH.c.id)
    .values({name: _BATCH.c[name] for name in _FINAL_COLUMNS} | {"file": None, "lease_until": None})
)
_RETRY = (
    _OUTBOX.update()
    .where(_OUTBOX.c.id == bindparam("b_id"))
    .values(
        attempts=bindparam("b_attempts"),
        not_before=bindparam("b_not_before"),
        error=bindparam("b_error"),
    )
)
_DROPPED = (
    _OUTBOX.update()
    .where(_OUTBOX.c.id.in_(bindparam("b_ids", expanding=True)))
    .values(
        status=OutboxStatus.dropped,
        file=None,
        lease_until=None,
        error="folded into another message, or withdrawn",
    )
)
# The message ids just written to the outbox rows (``_FINAL``), copied to their links: one
# statement for a batch, where one per message would cost the server an execution each.
_LINKED = {
    record: link_table.update()
    .where(link_table.c[outbox_column].in_(bindparam("b_ids", expanding=True)))
    .values(
        {
            id_column: select(_OUTBOX.c.message_id)
            .where(_OUTBOX.c.id == link_table.c[outbox_column])
            .scalar_subquery()
        }
    )
    for record, (link_table, outbox_column, id_column) in LINKS.items()
}

# A batch of plain sends (``_Writer._plain``) on PostgreSQL, in one statement run on its own:
# the rows' outcomes and their links' message ids, with no BEGIN and COMMIT around it. The
# links take the ids from the batch, as the statement's parts all see the rows as they were.
_LINK_BATCH = (
    func.unnest(
        bindparam("l_id_list", type_=ARRAY(BigInteger())),
        bindparam("l_message_id_list", type_=ARRAY(BigInteger())),
        bindparam("l_record_list", type_=ARRAY(String())),
    )
    .table_valued("id", "message_id", "record")
    .render_derived(name="linked")
)
_SENT_ARRAYS = select(literal(1)).add_cte(
    _FINAL_ARRAYS.returning(_OUTBOX.c.id).cte("recorded"),
    *(
        link_table.update()
        .where(link_table.c[outbox_column] == _LINK_BATCH.c.id, _LINK_BATCH.c.record == record)
        .values({id_column: _LINK_BATCH.c.message_id})
        .returning(link_table.c[outbox_column])
        .cte(f"linked_{record}")
        for record, (link_table, outbox_column, id_column) in LINKS.items()
    ),
)


class _Writer:
    """Records outcomes; sends finishing together share one transaction (group commit)."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        self._queue: list[tuple[Outcome, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None
        # PostgreSQL: the engine as it runs a statement without a transaction around it.
        bind = scheduler.session_factory.kw.get("bind")
        self._on_its_own: AsyncEngine | None = (
            bind.execution_options(isolation_level="AUTOCOMMIT")
            if isinstance(bind, AsyncEngine) and bind.dialect.name == "postgresql"
            else None
        )

    @property
    def busy(self) -> bool:
        return bool(self._queue) or (self._task is not None and not self._task.done())

    async def record(self, outcome: Outcome) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((outcome, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        await future

    async def close(self) -> None:
        if self._task is not None:
            await asyncio.wait([self._task], timeout=5)

    async def _drain(self) -> None:
        while self._queue:
            if self.scheduler.in_flight > len(self._queue):
                await asyncio.sleep(GATHER_SECONDS)
            batch, self._queue = self._queue, []
            try:
                await self._write([outcome for outcome, _ in batch], hooks=True)
            except Exception:
                log.exception(
                    "recording %s outcomes failed; recording them without hooks", len(batch)
                )
                try:
                    await self._write([outcome for outcome, _ in batch], hooks=False)
                except Exception as error:  # noqa: BLE001 - handed to the senders
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(error)
                    continue
            for _, future in batch:
                if not future.done():
                    future.set_result(None)

    def _plain(self, outcomes: Sequence[Outcome]) -> bool:
        """Every outcome a send that went out, and nothing more to write for it: no hook, no
        message waiting for it, no row it folded, no chat moved."""
        on_sent = self.scheduler.on_sent
        return all(
            outcome.status == OutboxStatus.sent
            and outcome.moved_to is None
            and not outcome.dropped
            and outcome.row.purpose not in on_sent
            and not isinstance(outcome.row.params.get("then"), dict)
            for outcome in outcomes
        )

    async def _write_sent(self, outcomes: Sequence[Outcome]) -> None:
        """``_write`` for plain sends on PostgreSQL: one statement, one round trip."""
        assert self._on_its_own is not None
        now = datetime.now(UTC)
        linked = [o for o in outcomes if o.row.record and o.message_id]
        params = _as_arrays([_final(outcome, now) for outcome in outcomes]) | {
            "l_id_list": [o.row.id for o in linked],
            "l_message_id_list": [o.message_id for o in linked],
            "l_record_list": [o.row.record for o in linked],
        }
        async with self._on_its_own.connect() as connection:
            await connection.execute(_SENT_ARRAYS, params)

    async def _write(self, outcomes: Sequence[Outcome], *, hooks: bool) -> None:
        if self._on_its_own is not None and self._plain(outcomes):
            await self._write_sent(outcomes)
            return
        scheduler = self.scheduler
        now = datetime.now(UTC)
        finals: list[dict[str, Any]] = []
        retries: list[dict[str, Any]] = []
        dropped: list[int] = []
        links: dict[str, list[int]] = {}
        async with transaction(scheduler.session_factory) as session:
            outbox = Outbox(session, scheduler)
            for outcome in outcomes:
                row = outcome.row
                attempts = outcome.attempts or row.attempts
                if outcome.moved_to is not None:
                    await session.execute(
                        update(OutboxMessage)
                        .where(
                            OutboxMessage.chat_id == row.chat_id,
                            OutboxMessage.status == OutboxStatus.pending,
                        )
                        .values(chat_id=outcome.moved_to)
                        .execution_options(synchronize_session=False)
                    )
                    continue
                if outcome.status == OutboxStatus.pending:
                    retry = datetime.fromtimestamp(outcome.retry_at or time.time(), UTC)
                    retries.append(
                        {"b_id": row.id, "b_attempts": attempts, "b_not_before": retry,
                         "b_error": outcome.error}
                    )  # fmt: skip
                    continue
                sent = outcome.status == OutboxStatus.sent
                finals.append(_final(outcome, now))
                dropped.extend(r.id for r in outcome.dropped)
                if sent:
                    if row.record and outcome.message_id:
                        links.setdefault(row.record, []).append(row.id)
                elif outcome.status == OutboxStatus.failed:
                    await _note_failure(session, outcome, now)
                if outcome.status in (OutboxStatus.sent, OutboxStatus.failed):
                    await _follow_up(outbox, outcome)
                    if hooks:
                        await self._hook(session, outcome, outbox)
            if finals:
                if dialect_of(session) == "postgresql":
                    await session.execute(_FINAL_ARRAYS, _as_arrays(finals))
                else:
                    await session.execute(_FINAL, finals)
            if retries:
                await session.execute(_RETRY, retries)
            if dropped:
                await session.execute(_DROPPED, {"b_ids": dropped})
            for record, ids in links.items():
                await session.execute(_LINKED[record], {"b_ids": ids})

    async def _hook(self, session: AsyncSession, outcome: Outcome, outbox: Outbox) -> None:
        row = outcome.row
        hooks = (
            self.scheduler.on_sent
            if outcome.status == OutboxStatus.sent
            else (self.scheduler.on_failed)
        )
        hook = hooks.get(row.purpose)
        if hook is None:
            return
        await hook(
            outbox,
            Delivered(
                outbox_id=row.id,
                chat_id=row.chat_id,
                purpose=row.purpose,
                person_id=row.person_id,
                message_id=outcome.message_id,
                error=outcome.error,
                forbidden=outcome.forbidden,
            ),
        )


async def _note_failure(session: AsyncSession, outcome: Outcome, now: datetime) -> None:
    """Keep what Telegram refused; a person who blocked the bot is not written to again."""
    row = outcome.row
    if outcome.error and any(quiet in outcome.error for quiet in _QUIET_ERRORS):
        return
    log.info("undeliverable %s to %s: %s", row.purpose, row.chat_id, outcome.error)
    session.add(
        DeliveryFailure(
            chat_telegram_id=row.chat_id,
            person_id=row.person_id,
            purpose=row.purpose,
            error=outcome.error or "",
            created_at=now,
        )
    )
    if outcome.forbidden and row.chat_id > 0:
        await session.execute(
            update(Person)
            .where(Person.telegram_id == row.chat_id)
            .values(private_chat_open=False)
            .execution_options(synchronize_session=False)
        )


async def _follow_up(outbox: Outbox, outcome: Outcome) -> None:
    """Write the message that waited for this outcome (see ``FollowUp``), if there is one."""
    key = "then" if outcome.status == OutboxStatus.sent else "otherwise"
    spec = outcome.row.params.get(key)
    if isinstance(spec, dict):
        await outbox.send(
            spec["chat_id"],
            spec["text"],
            reply_to=spec.get("reply_to"),
            purpose=spec.get("purpose") or "follow_up",
            person_id=spec.get("person_id"),
        )


def _final(outcome: Outcome, now: datetime) -> dict[str, Any]:
    """A sent, failed or dropped outcome as ``_FINAL`` takes it."""
    sent = outcome.status == OutboxStatus.sent
    return {
        "b_id": outcome.row.id,
        "b_status": outcome.status,
        "b_attempts": outcome.attempts or outcome.row.attempts,
        "b_error": outcome.error,
        "b_sent_at": now if sent else None,
        "b_message_id": outcome.message_id if sent else None,
    }


def _as_arrays(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """``_FINAL``'s rows as ``_FINAL_ARRAYS`` takes them: a list of each column's values."""
    return {f"{key}_list": [row[key] for row in rows] for key in rows[0]}


def _epoch(moment: datetime | None) -> float:
    return moment.timestamp() if moment is not None else 0.0


def _markup(data: Any) -> InlineKeyboardMarkup | None:
    return InlineKeyboardMarkup.model_validate(data) if data else None


def _reply(message_id: Any) -> ReplyParameters | None:
    if not isinstance(message_id, int):
        return None
    return ReplyParameters(message_id=message_id, allow_sending_without_reply=True)
