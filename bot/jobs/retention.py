"""Erasure's jobs: the retention, which erases the content of requests ended longer ago than
``RETENTION`` (daily), and the WAL's truncation after any erasure (every minute, on SQLite).

The retention erases request by request, the way ``/forget`` does (``bot.domain.erasure``), in
transactions of a few hundred requests with the edits of the mentors' cards that quoted them.
``/forget`` erases in its handler's transaction; the truncation that follows it comes from here,
within the minute.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from aiogram.utils.i18n import I18n
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.db import transaction, truncate_wal
from bot.delivery.outbox import Outbox, Sender
from bot.domain.erasure import erase_requests, expired_requests
from bot.news.tickets import TicketNews
from models import AuditAction, AuditEntry

log = logging.getLogger(__name__)

RETENTION_EVERY_HOURS = 24
TRUNCATE_EVERY_SECONDS = 30


async def erase_expired(
    session_factory: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    sender: Sender,
    i18n: I18n,
    settings: Settings,
    now: datetime | None = None,
) -> int:
    """Erase the content of every request ended longer than the retention ago; how many."""
    if settings.retention is None:
        return 0
    moment = now or datetime.now(UTC)
    erased = 0
    while True:
        async with transaction(session_factory) as session:
            requests = await expired_requests(session, moment, settings.retention)
            if requests:
                news = TicketNews(session, Outbox(session, sender), i18n, settings, moment)
                await erase_requests(session, requests, moment)
                for ticket in requests:
                    await news.erased(ticket)
        erased += len(requests)
        if not requests:
            break
    if erased:
        await truncate_wal(engine)
        log.info("retention: the content of %s requests erased", erased)
    return erased


class WalAfterErasure:
    """Truncates the WAL once after each erasure committed since its last run."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession], engine: AsyncEngine):
        self.session_factory = session_factory
        self.engine = engine
        self.seen: int | None = None  # the newest erasure's audit entry when last truncated

    async def run(self) -> bool:
        """True if it truncated (there was an erasure since the last run, or it is the first)."""
        if self.engine.dialect.name != "sqlite":
            return False
        async with self.session_factory() as session:
            newest = await session.scalar(
                select(func.max(AuditEntry.id)).where(
                    AuditEntry.action == AuditAction.person_erased
                )
            )
        if newest is None or newest == self.seen:
            return False
        await truncate_wal(self.engine)
        self.seen = newest
        return True
