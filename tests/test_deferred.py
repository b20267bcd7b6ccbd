"""Rows deferred to the end of their transaction (``bot.deferred``): a transaction that files
several requests writes their first events and message links in one statement per table, and
nothing can tell the rows were late. On a real migrated database (SQLite, or PostgreSQL in CI).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Table, delete, event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.db import create_engine, create_session_factory, transaction, upgrade
from bot.deferred import defer_insert
from bot.domain import tickets
from bot.domain.people import Identity, upsert_person
from bot.domain.programmes import find_or_create_programme
from bot.domain.topics import list_topics
from models import (
    Person,
    Programme,
    Ticket,
    TicketEvent,
    TicketEventKind,
    TicketMessage,
    TicketMessageKind,
    Topic,
)

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
EVENTS = TicketEvent.__table__


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    await upgrade(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_factory(engine)


@pytest.fixture
def statements(engine: AsyncEngine) -> list[str]:
    """Every statement the engine sends from now on, as its SQL."""
    seen: list[str] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _seen(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        seen.append(" ".join(sql.split()))

    return seen


@pytest.fixture
async def author(factory: async_sessionmaker[AsyncSession]) -> tuple[Programme, Topic, Person]:
    async with transaction(factory) as session:
        programme, _ = await find_or_create_programme(session, "Школа", T0)
        topic = (await list_topics(session, programme.id))[0]
        person = await upsert_person(
            session, Identity(telegram_id=777, first_name="Ольга"), T0, private=True
        )
    return programme, topic, person


async def _file(
    session: AsyncSession, place: tuple[Programme, Topic, Person], message_id: int
) -> Ticket:
    programme, topic, person = place
    ticket, created = await tickets.open_ticket(
        session,
        programme_id=programme.id,
        author=person,
        text=f"Вопрос {message_id}",
        chat_telegram_id=-100,
        message_id=message_id,
        group_id=None,
        topic=topic,
        topic_confirmed=True,
        now=T0,
    )
    assert created
    await tickets.link_message(
        session, ticket, TicketMessageKind.ack, -100, T0, message_id=message_id + 1000
    )
    return ticket


def _inserts_into(statements: list[str], table: str) -> int:
    return sum(1 for sql in statements if sql.startswith(f"INSERT INTO {table} "))


async def _count(factory: async_sessionmaker[AsyncSession], table: Any) -> int:
    async with factory() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)


async def test_a_transaction_of_several_requests_writes_each_table_once(
    factory: async_sessionmaker[AsyncSession],
    author: tuple[Programme, Topic, Person],
    statements: list[str],
) -> None:
    async with transaction(factory) as session:
        for n in range(1, 6):
            await _file(session, author, n)
        assert _inserts_into(statements, "ticket_events") == 0  # nothing yet: all at the end
    assert _inserts_into(statements, "ticket_events") == 1
    assert _inserts_into(statements, "ticket_messages") == 1
    assert await _count(factory, EVENTS) == 10  # created and topic_set, for each
    assert await _count(factory, TicketMessage.__table__) == 5
    async with factory() as session:
        kinds = await session.execute(
            select(TicketEvent.ticket_id, TicketEvent.kind).order_by(TicketEvent.id)
        )
        firsts = [kind for _ticket, kind in kinds if kind == TicketEventKind.created]
    assert len(firsts) == 5


async def test_a_read_in_the_same_transaction_sees_them(
    factory: async_sessionmaker[AsyncSession], author: tuple[Programme, Topic, Person]
) -> None:
    async with transaction(factory) as session:
        ticket = await _file(session, author, 1)
        events = await session.scalars(
            select(TicketEvent.kind)
            .where(TicketEvent.ticket_id == ticket.id)
            .order_by(TicketEvent.id)
        )
        assert list(events) == [TicketEventKind.created, TicketEventKind.topic_set]
        # A read of the table through a join or a subquery sees them as well.
        inner = select(TicketMessage.ticket_id).scalar_subquery()
        assert await session.scalar(select(Ticket.id).where(Ticket.id.in_(inner))) == ticket.id


async def test_a_change_elsewhere_waits_for_them(
    factory: async_sessionmaker[AsyncSession], author: tuple[Programme, Topic, Person]
) -> None:
    """A delete of the ticket they belong to comes after them, so it takes them with it
    (and no insert is left to refer to a ticket that is gone)."""
    async with transaction(factory) as session:
        ticket = await _file(session, author, 1)
        await session.execute(delete(Ticket).where(Ticket.id == ticket.id))
        session.expunge(ticket)
    assert await _count(factory, EVENTS) == 0
    assert await _count(factory, TicketMessage.__table__) == 0


async def test_a_rollback_drops_them(
    factory: async_sessionmaker[AsyncSession],
    author: tuple[Programme, Topic, Person],
    statements: list[str],
) -> None:
    with pytest.raises(RuntimeError):
        async with transaction(factory) as session:
            await _file(session, author, 1)
            raise RuntimeError
    # The next transaction on the same pooled connection starts with nothing pending.
    async with transaction(factory) as session:
        await _file(session, author, 2)
    assert await _count(factory, EVENTS) == 2
    assert await _count(factory, Ticket.__table__) == 1
    assert _inserts_into(statements, "ticket_events") == 1


async def test_a_rollback_to_a_savepoint_drops_only_what_came_after_it(
    factory: async_sessionmaker[AsyncSession], author: tuple[Programme, Topic, Person]
) -> None:
    table: Table = EVENTS  # type: ignore[assignment]

    def row(ticket: Ticket, kind: TicketEventKind) -> dict[str, Any]:
        return {
            "ticket_id": ticket.id,
            "kind": kind,
            "actor_id": None,
            "created_at": T0,
            "text": None,
            "details": None,
        }

    async with transaction(factory) as session:
        ticket = await _file(session, author, 1)
        await defer_insert(session, table, [row(ticket, TicketEventKind.edited)])
        with pytest.raises(RuntimeError):
            async with session.begin_nested():
                await defer_insert(session, table, [row(ticket, TicketEventKind.resolved)])
                raise RuntimeError
        await defer_insert(session, table, [row(ticket, TicketEventKind.closed)])
    async with factory() as session:
        kinds = await session.scalars(select(TicketEvent.kind).order_by(TicketEvent.id))
        assert list(kinds) == [
            TicketEventKind.created,
            TicketEventKind.topic_set,
            TicketEventKind.edited,
            TicketEventKind.closed,
        ]


async def test_a_connection_lost_mid_transaction_leaves_only_its_own_error(
    factory: async_sessionmaker[AsyncSession], author: tuple[Programme, Topic, Person]
) -> None:
    """A connection invalidated with its transaction open (a cancelled statement, a server
    gone) is rolled back with nothing left to drop: the error is the one that happened."""
    with pytest.raises(RuntimeError, match="lost"):
        async with transaction(factory) as session:
            await _file(session, author, 1)
            await (await session.connection()).invalidate()
            raise RuntimeError("lost")
    async with transaction(factory) as session:
        await _file(session, author, 2)
    assert await _count(factory, EVENTS) == 2
