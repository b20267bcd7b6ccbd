"""Who gets a ticket's card: active mentors of its topic with room, least loaded first.

A request in triage goes to the programme's general consultants instead: mentors whose role
has no topic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime

from sqlalchemy import bindparam, delete, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from bot.db import connection_of
from models import (
    OutboxMessage,
    OutboxStatus,
    Person,
    Role,
    RoleKind,
    Ticket,
    TicketStatus,
    Topic,
    UnreachableMentor,
    role_topics,
)
from models.person import display_name

_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Mentor:
    """A mentor as matching reads them: who they are, and how to write to them in their
    language. Plain values, not a loaded row: every new request reads its mentors."""

    id: int
    telegram_id: int
    first_name: str
    last_name: str | None
    username: str | None
    language: str | None
    telegram_language: str | None
    private_chat_open: bool

    @property
    def display_name(self) -> str:
        return display_name(self.first_name, self.last_name, self.username, self.telegram_id)


@dataclass(frozen=True)
class Candidate:
    person: Mentor
    role_id: int
    open_tickets: int
    capacity: int
    last_claim: datetime | None
    # Messages still waiting in the outbox for the mentor's chat, this transaction's included:
    # a busy chat gets a summary card instead of one more card (``bot.news.tickets``).
    waiting: int = 0

    @property
    def has_room(self) -> bool:
        return self.open_tickets < self.capacity


def _utc(moment: datetime) -> datetime:
    """``max()`` over a column comes back without the column's type (naive on SQLite)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def has_no_topic() -> ColumnElement[bool]:
    """The role carries no topic: its holder is a general consultant."""
    return ~exists().where(role_topics.c.role_id == Role.id)


async def mentors_of(
    session: AsyncSession,
    programme_id: int,
    topic_id: int | None,
    *,
    capacity: int,
    general: bool = False,
) -> list[Candidate]:
    """Active mentors of the programme (of the topic, when given; the general consultants
    only, with ``general``), in SPEC order.

    The order is fewest open tickets first, then the longest since their last claim (never
    claimed counts as longest), so work spreads evenly across the mentors of a topic.
    """
    if general:
        query, params = _GENERAL_CONSULTANTS, {"programme_id": programme_id}
    elif topic_id is not None:
        query, params = _MENTORS_OF_TOPIC, {"programme_id": programme_id, "topic_id": topic_id}
    else:
        query, params = _MENTORS, {"programme_id": programme_id}
    candidates = [
        Candidate(
            person=Mentor(*row[: len(_MENTOR_COLUMNS)]),
            role_id=row.role_id,
            open_tickets=int(row.open_tickets or 0),
            capacity=row.capacity or capacity,
            last_claim=None if row.last_claim is None else _utc(row.last_claim),
            waiting=int(row.waiting or 0),
        )
        for row in await (await connection_of(session)).execute(query, params)
    ]
    candidates.sort(key=lambda c: (c.open_tickets, c.last_claim or _NEVER, c.role_id))
    return candidates


# Built once, as every new request runs them. Each mentor's claimed tickets of the programme,
# and when they last claimed any, come with the mentor: one statement.
_OPEN_TICKETS = (
    select(func.count())
    .where(
        Ticket.assignee_id == Person.id,
        Ticket.programme_id == bindparam("programme_id"),
        Ticket.status == TicketStatus.claimed,
    )
    .scalar_subquery()
)
_LAST_CLAIM = (
    select(func.max(Ticket.claimed_at)).where(Ticket.assignee_id == Person.id).scalar_subquery()
)
_WAITING = (
    select(func.count())
    .where(
        OutboxMessage.chat_id == Person.telegram_id,
        OutboxMessage.status == OutboxStatus.pending,
    )
    .scalar_subquery()
)
# What ``Mentor`` holds of the person (its fields are the columns' names), and what matching
# needs of the role: its id and capacity.
_MENTOR_COLUMNS = tuple(getattr(Person, field.name) for field in fields(Mentor))
_MENTORS = (
    select(
        *_MENTOR_COLUMNS,
        Role.id.label("role_id"),
        Role.capacity,
        _OPEN_TICKETS.label("open_tickets"),
        _LAST_CLAIM.label("last_claim"),
        _WAITING.label("waiting"),
    )
    .join(Role, Role.person_id == Person.id)
    .where(
        Role.programme_id == bindparam("programme_id"),
        Role.kind == RoleKind.mentor,
        Role.active.is_(True),
    )
    .order_by(Role.id)
)
_GENERAL_CONSULTANTS = _MENTORS.where(has_no_topic())
# The topic's roles as a list to look up, not a join: SQLite would go through every mentor of
# the programme by ``roles.programme_id`` and test each for the topic.
_MENTORS_OF_TOPIC = _MENTORS.where(
    Role.id.in_(
        select(role_topics.c.role_id).where(role_topics.c.topic_id == bindparam("topic_id"))
    )
)


# The default topic of requests about something else: guessed, it says the request is vague.
OTHER_TOPIC = "other"


async def takers(session: AsyncSession, programme_id: int, topic_id: int, *, capacity: int) -> int:
    """How many active mentors of the topic have room for one more request."""
    found = await mentors_of(session, programme_id, topic_id, capacity=capacity)
    return sum(1 for candidate in found if candidate.open_tickets < candidate.capacity)


async def guess_stands(
    session: AsyncSession, programme_id: int, topic: Topic, *, capacity: int
) -> bool:
    """Whether a guessed topic may go to its mentors without asking the author: it is not
    "other" (a vague request is asked), and someone of it has room to take the request."""
    if topic.code == OTHER_TOPIC:
        return False
    return await takers(session, programme_id, topic.id, capacity=capacity) > 0


async def topics_with_room(
    session: AsyncSession, programme_id: int, topics: Sequence[Topic], *, capacity: int
) -> list[Topic]:
    """Those of the topics (in their order) with a mentor who has room for a request."""
    return [
        topic
        for topic in topics
        if await takers(session, programme_id, topic.id, capacity=capacity) > 0
    ]


async def candidates_for(
    session: AsyncSession, ticket: Ticket, *, capacity: int
) -> list[Candidate]:
    """The mentors who get the ticket's card: of its topic (the general consultants, while it
    is in triage), under capacity, not its author."""
    if ticket.in_triage:
        found = await mentors_of(
            session, ticket.programme_id, None, capacity=capacity, general=True
        )
    elif ticket.topic_id is None:
        return []
    else:
        found = await mentors_of(session, ticket.programme_id, ticket.topic_id, capacity=capacity)
    return [
        candidate
        for candidate in found
        if candidate.has_room and candidate.person.id != ticket.author_id
    ]


# A mentor who would wait longer than this for their new-request cards gets a summary card.
SUMMARY_AFTER_SECONDS = 3.0


@dataclass(frozen=True)
class Offer:
    """A mentor the ticket is put before, and how: a card of its own, or a line on the
    mentor's summary card when their chat already has more waiting than it takes in a few
    seconds (Telegram lets a private chat have a message a second)."""

    mentor: Mentor
    on_summary: bool


async def offers_for(
    session: AsyncSession, ticket: Ticket, *, capacity: int, per_second: float
) -> list[Offer]:
    """Who gets the ticket, and how (``per_second``: the messages a private chat takes)."""
    return [
        Offer(candidate.person, candidate.waiting / per_second > SUMMARY_AFTER_SECONDS)
        for candidate in await candidates_for(session, ticket, capacity=capacity)
        # Telegram refused this mentor before (blocked, or never opened the bot); the
        # coordinators were told then. Writing to them again opens their chat.
        if candidate.person.private_chat_open
    ]


async def general_consultants(
    session: AsyncSession, programme_id: int, *, but: int | None = None
) -> int:
    """How many active general consultants the programme has (not counting ``but``)."""
    query = select(func.count(Role.id)).where(
        Role.programme_id == programme_id,
        Role.kind == RoleKind.mentor,
        Role.active.is_(True),
        has_no_topic(),
    )
    if but is not None:
        query = query.where(Role.person_id != but)
    return int((await session.execute(query)).scalar_one())


async def note_unreachable(
    session: AsyncSession, person_id: int, programme_id: int, now: datetime
) -> bool:
    """Remember that coordinators are being told; False if they were told already."""
    known = await session.get(UnreachableMentor, (person_id, programme_id))
    if known is not None:
        return False
    session.add(UnreachableMentor(person_id=person_id, programme_id=programme_id, reported_at=now))
    await session.flush()
    return True


async def note_reachable(session: AsyncSession, person_id: int) -> None:
    """The mentor can be written to again: should that change, coordinators hear anew."""
    await session.execute(delete(UnreachableMentor).where(UnreachableMentor.person_id == person_id))


async def coordinators_of(session: AsyncSession, programme_id: int) -> list[Person]:
    result = await session.execute(
        select(Person)
        .join(Role, Role.person_id == Person.id)
        .where(
            Role.programme_id == programme_id,
            Role.kind == RoleKind.coordinator,
            Role.active.is_(True),
        )
        .order_by(Person.id)
    )
    return list(result.scalars().unique())
