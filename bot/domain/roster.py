"""The mentors of a programme as its coordinators manage them: topics, capacity, deactivation.

Deactivating a mentor hands their requests in progress back to the queue: each becomes open
again, with a history entry saying who returned it, so the matching can offer it to the
other mentors of its topic. Every change is written to the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import audit, tickets
from bot.domain.access import Actor
from bot.domain.errors import InvalidInput, NotAllowed, NotFound
from models import AuditAction, Person, Role, RoleKind, Ticket, TicketEventKind, TicketStatus, Topic

CAPACITY_CHOICES = (1, 2, 3, 4, 5, 6, 8, 10, 15, 20)
MAX_CAPACITY = 100


class LastTopic(InvalidInput):
    """A mentor keeps at least one topic; to stop sending them requests, deactivate them."""


@dataclass(frozen=True)
class RosterEntry:
    role: Role
    person: Person
    capacity: int
    open_tickets: int

    @property
    def topics(self) -> list[Topic]:
        return sorted(self.role.topics, key=lambda t: (t.position, t.id))

    @property
    def reachable(self) -> bool:
        """Whether the bot may write to them in private (they opened it and did not block it)."""
        return self.person.private_chat_open

    @property
    def last_seen(self) -> datetime:
        return self.person.last_seen_at


async def roster(
    session: AsyncSession, programme_id: int, *, default_capacity: int
) -> list[RosterEntry]:
    """Mentors of the programme: active ones first, then by name."""
    rows = (
        await session.execute(
            select(Role, Person)
            .join(Person, Person.id == Role.person_id)
            .where(Role.programme_id == programme_id, Role.kind == RoleKind.mentor)
        )
    ).all()
    load = await tickets.open_load(session, [person.id for _role, person in rows], programme_id)
    entries = [
        RosterEntry(
            role=role,
            person=person,
            capacity=role.capacity or default_capacity,
            open_tickets=load.get(person.id, 0),
        )
        for role, person in rows
    ]
    entries.sort(key=lambda e: (not e.role.active, e.person.display_name.lower(), e.role.id))
    return entries


async def entry(session: AsyncSession, role: Role, *, default_capacity: int) -> RosterEntry:
    person = await session.get_one(Person, role.person_id)
    load = await tickets.open_load(session, [person.id], role.programme_id)
    return RosterEntry(
        role=role,
        person=person,
        capacity=role.capacity or default_capacity,
        open_tickets=load.get(person.id, 0),
    )


async def mentor_role(session: AsyncSession, actor: Actor, role_id: int) -> Role:
    """A mentor's role the person may manage: they coordinate its programme (or are an admin)."""
    role = await session.get(Role, role_id) if 0 < role_id < 2**62 else None
    if role is None or role.kind != RoleKind.mentor:
        raise NotFound("mentor")
    if not actor.coordinates(role.programme_id):
        raise NotAllowed("only the programme's coordinators manage its mentors")
    return role


def _changed(
    session: AsyncSession, actor: Actor, role: Role, now: datetime, **details: object
) -> None:
    audit.record(
        session,
        AuditAction.mentor_changed,
        now,
        actor_id=actor.person.id,
        programme_id=role.programme_id,
        person_id=role.person_id,
        details=dict(details),
    )


async def toggle_topic(
    session: AsyncSession, actor: Actor, role: Role, topic: Topic, now: datetime
) -> bool:
    """Add the topic to the mentor, or take it away; True when it was added."""
    if not actor.coordinates(role.programme_id):
        raise NotAllowed("topics")
    if topic in role.topics:
        if len(role.topics) == 1:
            raise LastTopic(topic.code)
        role.topics.remove(topic)
        added = False
    else:
        if not topic.active:
            raise NotFound("topic")
        role.topics.append(topic)
        added = True
    codes = [t.code for t in sorted(role.topics, key=lambda t: (t.position, t.id))]
    _changed(session, actor, role, now, topics=codes)
    await session.flush()
    return added


async def set_capacity(
    session: AsyncSession, actor: Actor, role: Role, capacity: int, now: datetime
) -> None:
    if not actor.coordinates(role.programme_id):
        raise NotAllowed("capacity")
    if not 1 <= capacity <= MAX_CAPACITY:
        raise InvalidInput("capacity")
    if role.capacity == capacity:
        return
    previous = role.capacity
    role.capacity = capacity
    _changed(session, actor, role, now, capacity=capacity, previous=previous)
    await session.flush()


async def deactivate(
    session: AsyncSession, actor: Actor, role: Role, now: datetime
) -> list[Ticket]:
    """Withdraw the mentor role; returns the requests it held, now open again."""
    if not actor.coordinates(role.programme_id):
        raise NotAllowed("deactivate")
    if not role.active:
        return []
    role.active = False
    held = list(
        (
            await session.execute(
                select(Ticket)
                .where(
                    Ticket.programme_id == role.programme_id,
                    Ticket.assignee_id == role.person_id,
                    Ticket.status == TicketStatus.claimed,
                )
                .order_by(Ticket.id)
            )
        ).scalars()
    )
    for ticket in held:
        ticket.status = TicketStatus.open
        ticket.assignee_id = None
        ticket.claimed_at = None
        ticket.answer_reminded_at = None
        # The coordinator who returns the requests is told about them right away, so the
        # SLA job does not alert again for this unclaimed stretch.
        ticket.claim_alerted_at = now
        tickets.record(
            session,
            ticket,
            TicketEventKind.reassigned,
            now,
            actor=actor.person,
            details={"from": role.person_id, "to": None, "returned": True},
        )
    audit.record(
        session,
        AuditAction.role_removed,
        now,
        actor_id=actor.person.id,
        programme_id=role.programme_id,
        person_id=role.person_id,
        details={"role": RoleKind.mentor.value, "returned": [t.id for t in held]},
    )
    await session.flush()
    return held


async def reactivate(session: AsyncSession, actor: Actor, role: Role, now: datetime) -> None:
    if not actor.coordinates(role.programme_id):
        raise NotAllowed("reactivate")
    if role.active:
        return
    role.active = True
    audit.record(
        session,
        AuditAction.role_granted,
        now,
        actor_id=actor.person.id,
        programme_id=role.programme_id,
        person_id=role.person_id,
        details={
            "role": RoleKind.mentor.value,
            "topics": [t.code for t in role.topics],
            "reactivated": True,
        },
    )
    await session.flush()
