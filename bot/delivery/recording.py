"""What became of each message the sender tried: written to the database once Telegram answered.

A row is marked sent (with its Telegram message id, copied to whatever links to it: a ticket's
message, a summary card, a meeting's announcement), failed (with Telegram's reason, kept in
``delivery_failures``; a person who blocked the bot is not written to again), dropped (folded
into another message, or withdrawn), or moved (a group that became a supergroup: its waiting
rows go to the new id); a retry is noted with its attempt count and the time it may go again.
The follow-up a message waited for is written then, and for a message that failed, the hook
registered for its purpose runs in the same transaction (a card that cannot reach its mentor
tells the coordinators).

Outcomes that arrive together share one transaction. While the database does not answer, the
outcomes wait here and are written once it is back: a message Telegram has taken is never sent
again because its record failed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import connection_of, database_unreachable, transaction
from bot.delivery.outbox import Outbox, Row, Sender
from models import (
    DeliveryFailure,
    MeetingAudience,
    OutboxMessage,
    OutboxStatus,
    Person,
    SummaryCard,
    TicketMessage,
    TicketTopic,
)

log = logging.getLogger(__name__)

# How long an outcome waits for those of the other sends on its way, to share a transaction.
GATHER_SECONDS = 0.003
# Errors of edits that find their message gone or unchangeable: nothing worth keeping.
QUIET_ERRORS = ("message to edit not found", "message can't be edited")
# Why a row folded into another message, or withdrawn with it, was not sent itself.
_FOLDED = "folded into another message, or withdrawn"

# Where a sent message's Telegram id is noted: table, its outbox column, its id column.
LINKS: dict[str, tuple[Table, str, str]] = {
    "ticket_message": (TicketMessage.__table__, "outbox_id", "message_id"),  # type: ignore[dict-item]
    # A topic's "message id" is its thread id (``bot.delivery.telegram.send``).
    "ticket_topic": (TicketTopic.__table__, "outbox_id", "thread_id"),  # type: ignore[dict-item]
    "summary_card": (SummaryCard.__table__, "outbox_id", "message_id"),  # type: ignore[dict-item]
    "announcement": (
        MeetingAudience.__table__,  # type: ignore[dict-item]
        "announcement_outbox_id",
        "announcement_message_id",
    ),
}


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
Hook = Callable[[Outbox, Delivered], Awaitable[None]]


@dataclass
class Outcome:
    """What an attempt to send a row came to."""

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


class Recorder:
    """Writes outcomes; those that arrive together share a transaction."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        sender: Sender,
        delay: Callable[[int], float],
        on_the_way: Callable[[], int],
    ) -> None:
        """``delay``: the pause before trying again, given how many tries failed;
        ``on_the_way``: how many sends are on their way now (their outcomes are to come)."""
        self.session_factory = session_factory
        self.sender = sender
        self.delay = delay
        self.on_the_way = on_the_way
        self.on_failed: dict[str, Hook] = {}
        self.unreachable_since: float | None = None  # the database, as recording found it
        self._queue: list[tuple[Outcome, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    @property
    def busy(self) -> bool:
        return bool(self._queue) or (self._task is not None and not self._task.done())

    async def record(self, outcome: Outcome) -> None:
        """Return once the outcome is in the database (however long that takes)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((outcome, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name="recording")
        await future

    async def close(self, timeout: float = 5.0) -> None:
        if self._task is not None:
            await asyncio.wait([self._task], timeout=timeout)
            self._task.cancel()

    async def _drain(self) -> None:
        failures = 0
        while self._queue:
            # Outcomes of the sends on their way join this batch if they come within a moment:
            # one transaction for them all.
            await asyncio.sleep(GATHER_SECONDS if self.on_the_way() > len(self._queue) else 0)
            batch = list(self._queue)
            outcomes = [outcome for outcome, _ in batch]
            try:
                await self._write_with_hooks(outcomes)
            except Exception as error:  # noqa: BLE001 - the outcomes wait and are written later
                failures += 1
                if self.unreachable_since is None:
                    self.unreachable_since = time.time()
                    log.warning("recording %s outcomes failed (%s); trying again",
                                len(outcomes), type(error).__name__)  # fmt: skip
                await asyncio.sleep(self.delay(failures))
                continue
            if self.unreachable_since is not None:
                log.warning("outcomes recorded again after %.0f s",
                            time.time() - self.unreachable_since)  # fmt: skip
            failures, self.unreachable_since = 0, None
            del self._queue[: len(batch)]
            for _, future in batch:
                if not future.done():
                    future.set_result(None)

    async def _write_with_hooks(self, outcomes: Sequence[Outcome]) -> None:
        try:
            await self._write(outcomes, hooks=True)
        except Exception as error:
            if database_unreachable(error):
                raise
            # A hook's own failure must not keep the outcomes from being written.
            log.exception("recording %s outcomes with their hooks failed", len(outcomes))
            await self._write(outcomes, hooks=False)

    async def _write(self, outcomes: Sequence[Outcome], *, hooks: bool) -> None:
        now = datetime.now(UTC)
        finals: list[dict[str, Any]] = []
        retries: list[dict[str, Any]] = []
        links: dict[str, list[dict[str, Any]]] = {}
        async with transaction(self.session_factory) as session:
            outbox = Outbox(session, self.sender)
            for outcome in outcomes:
                row = outcome.row
                if outcome.moved_to is not None:
                    await _move(session, row.chat_id, outcome.moved_to)
                elif outcome.status == OutboxStatus.pending:
                    retries.append(_retry(outcome))
                else:
                    finals.extend(
                        _final(Outcome(done, OutboxStatus.dropped, error=_FOLDED), now)
                        for done in outcome.dropped
                    )
                    finals.append(_final(outcome, now))
                    if outcome.status == OutboxStatus.sent and row.record and outcome.message_id:
                        links.setdefault(row.record, []).append(
                            {"b_outbox": row.id, "b_message": outcome.message_id}
                        )
                    elif outcome.status == OutboxStatus.failed:
                        await _note_failure(session, outcome, now)
                    if outcome.status != OutboxStatus.dropped:
                        await _follow_up(outbox, outcome)
                    if hooks and outcome.status == OutboxStatus.failed:
                        await self._hook(outbox, outcome)
            connection = await connection_of(session)
            if finals:
                await connection.execute(_FINAL, finals)
            if retries:
                await connection.execute(_RETRY, retries)
            for record, values in links.items():
                await connection.execute(_LINKED[record], values)

    async def _hook(self, outbox: Outbox, outcome: Outcome) -> None:
        row = outcome.row
        hook = self.on_failed.get(row.purpose)
        if hook is not None:
            await hook(
                outbox,
                Delivered(
                    outbox_id=row.id, chat_id=row.chat_id, purpose=row.purpose,
                    person_id=row.person_id, message_id=outcome.message_id,
                    error=outcome.error, forbidden=outcome.forbidden,
                ),
            )  # fmt: skip


_OUTBOX = cast(Table, OutboxMessage.__table__)
_FINAL = (
    update(_OUTBOX)
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
_RETRY = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("b_id"))
    .values(
        attempts=bindparam("b_attempts"),
        not_before=bindparam("b_not_before"),
        error=bindparam("b_error"),
    )
)
_LINKED = {
    record: update(table)
    .where(table.c[outbox_column] == bindparam("b_outbox"))
    .values({id_column: bindparam("b_message")})
    for record, (table, outbox_column, id_column) in LINKS.items()
}


def _final(outcome: Outcome, now: datetime) -> dict[str, Any]:
    sent = outcome.status == OutboxStatus.sent
    return {
        "b_id": outcome.row.id,
        "b_status": outcome.status,
        "b_attempts": outcome.attempts or outcome.row.attempts,
        "b_error": outcome.error,
        "b_sent_at": now if sent else None,
        "b_message_id": outcome.message_id if sent else None,
    }


def _retry(outcome: Outcome) -> dict[str, Any]:
    return {
        "b_id": outcome.row.id,
        "b_attempts": outcome.attempts or outcome.row.attempts,
        "b_not_before": datetime.fromtimestamp(outcome.retry_at or time.time(), UTC),
        "b_error": outcome.error,
    }


async def _move(session: AsyncSession, chat_id: int, new_chat_id: int) -> None:
    """A group became a supergroup: every message still waiting for it goes to the new id."""
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.chat_id == chat_id, OutboxMessage.status == OutboxStatus.pending)
        .values(chat_id=new_chat_id)
        .execution_options(synchronize_session=False)
    )


async def _note_failure(session: AsyncSession, outcome: Outcome, now: datetime) -> None:
    """Keep what Telegram refused; a person who blocked the bot is not written to again."""
    row = outcome.row
    if outcome.error and any(quiet in outcome.error for quiet in QUIET_ERRORS):
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
