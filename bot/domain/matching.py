"""Who gets a ticket's card: active mentors of its topic with room, least loaded first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.tickets import open_load
from models import Person, Role, RoleKind, Ticket, UnreachableMentor, role_topics

_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Candidate:
    person: Person
    role: Role
    open_tickets: int
    capacity: int
    last_claim: datetime | None

    @property
    def has_room(self) -> bool:
        return self.open_tickets < self.capacity


async def _last_claims(session: AsyncSession, person_ids: list[int]) -> dict[int, datetime]:
    if not person_ids:
        return {}
    result = await session.execute(
        select(Ticket.assignee_id, func.max(Ticket.claimed_at))
        .where(Ticket.assignee_id.in_(person_ids))
        .group_by(Ticket.assignee_id)
    )
    return {person_id: at for person_id, at in result if person_id is not None and at}


async def mentors_of(
    session: AsyncSession, programme_id: int, topic_id: int | None, *, capacity: int
) -> list[Candidate]:
    """Active mentors of the programme (of the topic, when given), in SPEC order.

    The order is fewest open tickets first, then the longest since their last claim (never
    claimed counts as longest), so work spreads evenly across the mentors of a topic.
    """
    query = (
        select(Role)
        .where(
            Role.programme_id == programme_id,
            Role.kind == RoleKind.mentor,
            Role.active.is_(True),
        )
        .order_by(Role.id)
    )
    if topic_id is not None:
        query = query.join(role_topics, role_topics.c.role_id == Role.id).where(
            role_topics.c.topic_id == topic_id
        )
    roles = list((await session.execute(query)).scalars().unique())
    person_ids = [role.person_id for role in roles]
    people = {
        person.id: person
        for person in (
            await session.execute(select(Person).where(Person.id.in_(person_ids)))
        ).scalars()
    }
    load = await open_load(session, person_ids, programme_id)
    last = await _last_claims(session, person_ids)
    candidates = [
        Candidate(
            person=people[role.person_id],
            role=role,
            open_tickets=load.get(role.person_id, 0),
            capacity=role.capacity or capacity,
            last_claim=last.get(role.person_id),
        )
        for role in roles
    ]
    candidates.sort(key=lambda c: (c.open_tickets, c.last_claim or _NEVER, c.role.id))
    return candidates


async def candidates_for(
    session: AsyncSession, ticket: Ticket, *, capacity: int
) -> list[Candidate]:
    """The mentors who get the ticket's card: of its topic, under capacity, not its author."""
    if ticket.topic_id is None:
        return []
    return [
        candidate
        for candidate in await mentors_of(
            session, ticket.programme_id, ticket.topic_id, capacity=capacity
        )
        if candidate.has_room and candidate.person.id != ticket.author_id
    ]


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
    """A card reached the mentor: should they become unreachable again, coordinators hear."""
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
