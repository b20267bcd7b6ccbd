"""Summary cards: one message listing new requests for a mentor whose chat has a backlog.

A mentor's private chat takes one message a second. When new requests would make the mentor
wait several seconds for their cards, the requests join one summary card instead (with a
«Claim» button each), which is edited as more join; a full card, or one grown old, is closed
and the next request starts another.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import raiseload

from models import Person, SummaryCard, SummaryCardEntry, Ticket

# Requests on one card: its text and one button each stay well inside Telegram's limits.
SUMMARY_SIZE = 25
# A card further back in the chat than this is not where a mentor looks for new requests.
SUMMARY_FRESH = timedelta(minutes=30)


async def hold_for(session: AsyncSession, person_id: int) -> None:
    """Take the mentor's summary cards for this transaction (their row, ``FOR UPDATE``).

    Requests arriving side by side each render the whole card; without taking turns, the
    edit written last could show a card without the request written next to it.
    """
    await session.execute(_HOLD, {"person_id": person_id})


async def current(session: AsyncSession, person_id: int, now: datetime) -> SummaryCard | None:
    """The mentor's summary card still taking requests, if there is one."""
    found = await session.scalar(_CURRENT, {"person_id": person_id})
    if found is not None and found.created_at < now - SUMMARY_FRESH:
        found.closed_at = now
        return None
    return found


# Built once: every request for a mentor with a backlog runs them, and building a statement
# costs about as much as running it.
_HOLD = select(Person.id).where(Person.id == bindparam("person_id")).with_for_update()
_CURRENT = (
    select(SummaryCard)
    .where(SummaryCard.person_id == bindparam("person_id"), SummaryCard.closed_at.is_(None))
    .order_by(SummaryCard.id.desc())
    .limit(1)
)


async def start(
    session: AsyncSession, person_id: int, chat_telegram_id: int, now: datetime
) -> SummaryCard:
    card = SummaryCard(person_id=person_id, chat_telegram_id=chat_telegram_id, created_at=now)
    session.add(card)
    await session.flush()
    return card


async def add(
    session: AsyncSession, card: SummaryCard, ticket: Ticket, now: datetime
) -> list[Ticket]:
    """List the request on the card; the requests it lists now, in their order. The card
    closes when it is full."""
    # A Core insert: nothing else pending is flushed for it, and nothing reads the entry back.
    await session.execute(_ENTRY, {"summary_id": card.id, "ticket_id": ticket.id})
    listed = list((await session.execute(_LISTED_FOR_CARD, {"summary_id": card.id})).scalars())
    if len(listed) >= SUMMARY_SIZE:
        card.closed_at = now
    return listed


async def tickets_on(session: AsyncSession, card: SummaryCard) -> list[Ticket]:
    result = await session.execute(_LISTED, {"summary_id": card.id})
    return list(result.scalars())


_ENTRY = insert(cast(Table, SummaryCardEntry.__table__))
_LISTED = (
    select(Ticket)
    .join(SummaryCardEntry, SummaryCardEntry.ticket_id == Ticket.id)
    .where(SummaryCardEntry.summary_id == bindparam("summary_id"))
    .order_by(SummaryCardEntry.id)
)
# What a card shows of its requests, while a new one is filed: not their files, which would be
# read for up to a card's worth of them each time, and which nothing in that transaction reads
# (the new request's own are loaded already). Read by mistake, they raise.
_LISTED_FOR_CARD = _LISTED.options(raiseload(Ticket.attachments))


async def cards_listing(session: AsyncSession, ticket_id: int) -> list[SummaryCard]:
    """The summary cards a request is listed on (one per mentor at most)."""
    result = await session.execute(
        select(SummaryCard)
        .join(SummaryCardEntry, SummaryCardEntry.summary_id == SummaryCard.id)
        .where(SummaryCardEntry.ticket_id == ticket_id)
        .order_by(SummaryCard.id)
    )
    return list(result.scalars().unique())


async def find(session: AsyncSession, chat_telegram_id: int, message_id: int) -> SummaryCard | None:
    """The summary card a button was pressed on."""
    return await session.scalar(
        select(SummaryCard).where(
            SummaryCard.chat_telegram_id == chat_telegram_id,
            SummaryCard.message_id == message_id,
        )
    )
