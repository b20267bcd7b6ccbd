"""The sender's rows in the database: claiming them with a lease, keeping the lease, what was
sent lately (it counts against Telegram's windows), and what the sender reads of a row while
sending it. Recording outcomes is ``bot.delivery.recording``'s."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import dialect_of, transaction
from bot.delivery.outbox import Row
from bot.delivery.queues import COUNTED
from models import OutboxMessage, OutboxStatus

# A row the sender holds stays its own this long after its last renewal.
LEASE = timedelta(seconds=30)
CLAIM_BATCH = 2000


@dataclass
class Claims:
    """The outbox as one sending process (``owner``) claims and reads it."""

    session_factory: async_sessionmaker[AsyncSession]
    owner: str

    async def claim(self, held: Callable[[int], bool], *, takeover: bool) -> tuple[list[Row], bool]:
        """The pending rows nobody else holds (every one not ``held`` here, on taking over),
        now leased to this process; and whether there may be more than one batch brought."""
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
            found = list((await session.execute(query)).all())
            claimed = [values for values in found if not held(values.id)]
            if claimed:
                await session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id.in_([values.id for values in claimed]))
                    .values(lease_owner=self.owner, lease_until=now + LEASE)
                    .execution_options(synchronize_session=False)
                )
        return [_row_of(values) for values in claimed], len(found) == CLAIM_BATCH

    async def renew(self) -> None:
        """Keep the lease of every row this process holds."""
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

    async def sent_lately(self) -> list[tuple[int, float]]:
        """Messages sent within the last minute, by any sender, oldest first: (chat, moment)."""
        since = datetime.now(UTC) - timedelta(seconds=61)
        async with self.session_factory() as session:
            result = await session.execute(
                select(OutboxMessage.chat_id, OutboxMessage.sent_at)
                .where(OutboxMessage.sent_at >= since, OutboxMessage.method.in_(COUNTED))
                .order_by(OutboxMessage.sent_at)
            )
            return [(chat, sent.timestamp()) for chat, sent in result if sent]

    async def waiting(self) -> int:
        """Messages in the outbox not sent yet, whoever wrote or holds them."""
        async with self.session_factory() as session:
            waiting = await session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == OutboxStatus.pending)
            )
        return int(waiting or 0)

    async def outcome_of(self, outbox_id: int) -> tuple[OutboxStatus, int | None]:
        """What became of a row (and its message id): for a row that refers to it."""
        query = select(OutboxMessage.status, OutboxMessage.message_id)
        async with self.session_factory() as session:
            found = (await session.execute(query.where(OutboxMessage.id == outbox_id))).first()
        return (found[0], found[1]) if found is not None else (OutboxStatus.dropped, None)

    async def file(self, outbox_id: int) -> bytes:
        """The file the bot made for a row, read when it is sent."""
        query = select(OutboxMessage.file).where(OutboxMessage.id == outbox_id)
        async with self.session_factory() as session:
            return await session.scalar(query) or b""


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
