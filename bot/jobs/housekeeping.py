"""Forgetting what is no longer needed: handled updates, and outbox rows long finished."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import transaction
from bot.delivery.inbox import Inbox
from models import OutboxMessage, OutboxStatus

log = logging.getLogger(__name__)

# Sent rows say which message is which for a while after (and seed the send budget on start).
OUTBOX_KEPT = timedelta(days=2)


async def prune(
    inbox: Inbox, session_factory: async_sessionmaker[AsyncSession], now: datetime | None = None
) -> tuple[int, int]:
    moment = now or datetime.now(UTC)
    updates = await inbox.prune(moment)
    async with transaction(session_factory) as session:
        result = await session.execute(
            delete(OutboxMessage).where(
                OutboxMessage.status != OutboxStatus.pending,
                OutboxMessage.created_at < moment - OUTBOX_KEPT,
            )
        )
    messages = int(getattr(result, "rowcount", 0))
    if updates or messages:
        log.info("pruned %s handled updates and %s finished messages", updates, messages)
    return updates, messages
