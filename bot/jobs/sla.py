"""The periodic ticket check: unclaimed and unanswered tickets past their SLA, expired windows.

``check_tickets`` runs every minute from the scheduler. Each alert is claimed with a
conditional UPDATE (its timestamp still empty) in the same transaction that writes the alert
to the outbox, so with several replicas, a run that overlaps the previous one, or a run that
fails half-way, every breach is announced once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.db import transaction
from bot.delivery.outbox import Outbox, Sender
from bot.domain.tickets import close_resolved
from bot.news.tickets import TicketNews
from bot.views.tickets import heading, name
from models import Person, Ticket, TicketStatus, Topic

log = logging.getLogger(__name__)

CHECK_EVERY_SECONDS = 60


@dataclass(frozen=True)
class SlaReport:
    unclaimed: int = 0
    unanswered: int = 0
    closed: int = 0


async def _take(session: AsyncSession, ticket: Ticket, column: str, now: datetime) -> bool:
    """Mark the alert as sent unless someone else already did; True if it is ours to send."""
    marker = getattr(Ticket, column)
    result = await session.execute(
        update(Ticket)
        .where(Ticket.id == ticket.id, marker.is_(None))
        .values({column: now})
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


async def check_tickets(
    session_factory: async_sessionmaker[AsyncSession],
    sender: Sender,
    i18n: I18n,
    settings: Settings,
    now: datetime | None = None,
) -> SlaReport:
    now = now or datetime.now(UTC)
    async with transaction(session_factory) as session:
        news = TicketNews(session, Outbox(session, sender), i18n, settings, now)
        unclaimed = await _alert_unclaimed(session, news, settings, now)
        unanswered = await _remind_assignees(session, news, settings, now)
        closed = await close_resolved(session, now, settings.reopen_window)
    report = SlaReport(unclaimed, unanswered, closed)
    if report != SlaReport():
        log.info("ticket check: %s", report)
    return report


def _unclaimed_text(ticket: Ticket, topic: Topic | None, hours: int, language: str) -> str:
    return _(
        "⏰ Request {heading} has waited {hours} h and nobody has taken it. Assign it: /assign {n}"
    ).format(heading=heading(ticket, topic, language), hours=hours, n=ticket.id)


def _unanswered_text(
    ticket: Ticket, topic: Topic | None, author: Person | None, language: str
) -> str:
    return _(
        "⏰ Request {heading} from {author} still has no answer. Reply to its card, "
        "or /reply {n} text."
    ).format(heading=heading(ticket, topic, language), author=name(author), n=ticket.id)


async def _alert_unclaimed(
    session: AsyncSession, news: TicketNews, settings: Settings, now: datetime
) -> int:
    result = await session.execute(
        select(Ticket)
        .where(
            Ticket.status == TicketStatus.open,
            Ticket.claim_alerted_at.is_(None),
            # A request passed on to specialists waits for them from that moment.
            func.coalesce(Ticket.escalated_at, Ticket.created_at) < now - settings.claim_sla,
        )
        .order_by(Ticket.id)
    )
    count = 0
    for ticket in result.scalars().all():
        if not await _take(session, ticket, "claim_alerted_at", now):
            continue
        topic = await news.topic(ticket)
        waiting_since = ticket.escalated_at or ticket.created_at
        hours = int((now - waiting_since).total_seconds() // 3600)
        await news.alert_coordinators(
            ticket.programme_id, partial(_unclaimed_text, ticket, topic, hours)
        )
        count += 1
    return count


async def _remind_assignees(
    session: AsyncSession, news: TicketNews, settings: Settings, now: datetime
) -> int:
    result = await session.execute(
        select(Ticket)
        .where(
            Ticket.status == TicketStatus.claimed,
            Ticket.first_answer_at.is_(None),
            Ticket.answer_reminded_at.is_(None),
            Ticket.claimed_at < now - settings.answer_sla,
        )
        .order_by(Ticket.id)
    )
    count = 0
    for ticket in result.scalars().all():
        if not await _take(session, ticket, "answer_reminded_at", now):
            continue
        mentor = await news.person(ticket.assignee_id)
        author = await news.person(ticket.author_id)
        topic = await news.topic(ticket)
        await news.tell_person(
            mentor, partial(_unanswered_text, ticket, topic, author), about=ticket
        )
        count += 1
    return count
