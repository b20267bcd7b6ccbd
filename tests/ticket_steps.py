"""Steps the ticket tests share: filing a request, finding its card, reading the database."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.sandbox.emulator.client import TelegramClient
from bot.sandbox.emulator.models import FakeChat, FakeMessage, FakeUser
from models import Ticket, TicketEvent, TicketEventKind

NUMBER = re.compile(r"#(\d+)")


def number_in(text: str) -> int:
    match = NUMBER.search(text)
    assert match, text
    return int(match.group(1))


async def ask(tg: TelegramClient, author: FakeUser, chat: FakeChat, question: str) -> int:
    """Post ``/ask question`` and return the number of the ticket the bot acknowledged."""
    await tg.send(author, chat, f"/ask {question}")
    ack = tg.last(chat)
    assert "принят" in ack.content or "accepted" in ack.content, ack.content
    return number_in(ack.content)


def cards(tg: TelegramClient, mentor: FakeUser, n: int) -> list[FakeMessage]:
    """The bot's messages in the mentor's private chat about ticket ``n`` (newest last).

    ``#1`` is a whole number: the card of #12 is not one of #1's.
    """
    about = re.compile(rf"#{n}(?!\d)")
    return [m for m in tg.messages(mentor) if m.by_bot and about.search(m.content)]


CARD_BUTTONS = {"Взять", "Claim", "Biorę", "Решено", "Resolve", "Rozwiązane"}


def card(tg: TelegramClient, mentor: FakeUser, n: int) -> FakeMessage:
    """The mentor's card of ticket ``n``: the message with its «Claim» or «Resolve» button."""
    found = [m for m in cards(tg, mentor, n) if m.buttons and set(m.buttons) <= CARD_BUTTONS]
    assert found, f"no card of #{n} for {mentor}: {tg.messages(mentor)}"
    return found[-1]


async def ticket(db: async_sessionmaker[AsyncSession], n: int) -> Ticket:
    async with db() as session:
        found = await session.get(Ticket, n)
        assert found is not None, n
        return found


async def all_tickets(db: async_sessionmaker[AsyncSession]) -> list[Ticket]:
    async with db() as session:
        return list((await session.execute(select(Ticket).order_by(Ticket.id))).scalars())


async def event_kinds(db: async_sessionmaker[AsyncSession], n: int) -> list[TicketEventKind]:
    async with db() as session:
        rows = await session.execute(
            select(TicketEvent.kind).where(TicketEvent.ticket_id == n).order_by(TicketEvent.id)
        )
        return list(rows.scalars())
