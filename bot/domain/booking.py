"""Booking a consultation: an activist takes a free slot of a mentor's office hours for their
ticket, and the booking makes a meeting for both.

The slots offered are the ticket mentor's (or, while nobody has claimed it, those of every
mentor of its topic with room for it), over the next two weeks, less the ones booked. A
booking is atomic: the slot is held by a unique (mentor, start, live) row, so of two presses
at once, on any replica, exactly one books it and the other hears it was taken. Booking an
unclaimed ticket gives it to that mentor through the same conditional claim as «Claim».
The activist moves a booking to another free slot of the same mentor the same way: the new
slot is taken atomically, the old one is free again, and the meeting and its reminders move.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot.domain import matching, meetings, office_hours, tickets
from bot.domain.access import Actor
from bot.domain.errors import DomainError, NotAllowed
from bot.domain.meetings import MeetingPlan
from bot.domain.office_hours import Slot
from bot.time.zones import zone
from models import Booking, BookingStatus, Meeting, MeetingStatus, Person, Ticket, TicketStatus

BOOKING_DAYS = 14
BOOKABLE = (TicketStatus.open, TicketStatus.claimed)


class SlotTaken(DomainError):
    """Somebody booked this slot a moment earlier."""


class NotASlot(DomainError):
    """The moment is not a free slot of that mentor (past, outside their hours, a day off)."""


class AlreadyBooked(DomainError):
    """The ticket already has an upcoming consultation."""

    def __init__(self, booking: Booking) -> None:
        super().__init__(booking.id)
        self.booking = booking


class NotBookable(DomainError):
    """The ticket is closed, or nobody could take it."""


@dataclass(frozen=True)
class Offer:
    """One mentor's free slots."""

    mentor: Person
    slots: list[Slot]


def may_book(actor: Actor, ticket: Ticket) -> bool:
    return ticket.author_id == actor.person.id


async def upcoming_booking(session: AsyncSession, ticket: Ticket, now: datetime) -> Booking | None:
    return await session.scalar(
        select(Booking).where(
            Booking.ticket_id == ticket.id,
            Booking.live.is_(True),
            Booking.ends_at > now,
        )
    )


async def _mentors(session: AsyncSession, ticket: Ticket, *, capacity: int) -> list[Person]:
    if ticket.status == TicketStatus.claimed and ticket.assignee_id is not None:
        assignee = await session.get(Person, ticket.assignee_id)
        return [assignee] if assignee is not None else []
    found = await matching.candidates_for(session, ticket, capacity=capacity)
    people = await tickets.people_by_id(session, [c.person.id for c in found])
    return [people[c.person.id] for c in found if c.person.id in people]


async def free_slots(
    session: AsyncSession, mentor: Person, *, now: datetime, days: int, default_zone: str
) -> list[Slot] | None:
    """The mentor's slots from ``now`` over ``days`` days that nobody has booked, on days they
    are not off; None for a mentor without office hours."""
    hours = await office_hours.hours_of(session, mentor)
    if hours is None:
        return None
    mentor_zone = zone(mentor.timezone or default_zone)
    off = await office_hours.days_off_of(session, mentor, now.astimezone(mentor_zone).date())
    booked = set(
        (
            await session.execute(
                select(Booking.starts_at).where(
                    Booking.mentor_id == mentor.id,
                    Booking.live.is_(True),
                    Booking.starts_at > now,
                )
            )
        ).scalars()
    )
    return [
        s
        for s in office_hours.slots(hours, mentor_zone, now=now, days=days, off=off)
        if s.starts not in booked
    ]


async def offers(
    session: AsyncSession,
    ticket: Ticket,
    *,
    now: datetime,
    capacity: int,
    default_zone: str,
    days: int = BOOKING_DAYS,
    mentor_id: int | None = None,
) -> list[Offer]:
    """Who can be booked for the ticket (or only ``mentor_id``, if they can), with their free
    slots; mentors without any are left out."""
    found = []
    for mentor in await _mentors(session, ticket, capacity=capacity):
        if mentor_id is not None and mentor.id != mentor_id:
            continue
        free = await free_slots(session, mentor, now=now, days=days, default_zone=default_zone)
        if free:
            found.append(Offer(mentor, free))
    return found


async def book(
    session: AsyncSession,
    actor: Actor,
    ticket: Ticket,
    mentor_id: int,
    starts_at: datetime,
    *,
    now: datetime,
    capacity: int,
    default_zone: str,
    title: str,
    offsets: Sequence[timedelta],
    video_base_url: str,
) -> tuple[Booking, Meeting, bool]:
    """Book the slot for the ticket's author; returns the booking, its meeting, and whether
    the booking gave the ticket to the mentor (it was unclaimed)."""
    if not may_book(actor, ticket):
        raise NotAllowed("only the ticket's author")
    if ticket.status not in BOOKABLE:
        raise NotBookable(ticket.id)
    existing = await upcoming_booking(session, ticket, now)
    if existing is not None:
        raise AlreadyBooked(existing)
    offered = await offers(
        session, ticket, now=now, capacity=capacity, default_zone=default_zone,
        mentor_id=mentor_id,
    )  # fmt: skip
    slot = next((s for o in offered for s in o.slots if s.starts == starts_at), None)
    if slot is None:
        if await office_hours.booked_at(session, mentor_id, starts_at) is not None:
            raise SlotTaken(starts_at)
        raise NotASlot(starts_at)
    booking = Booking(
        ticket_id=ticket.id,
        mentor_id=mentor_id,
        activist_id=actor.person.id,
        starts_at=slot.starts,
        ends_at=slot.ends,
        status=BookingStatus.booked,
        live=True,
        created_at=now,
    )
    mentor = await session.scalar(
        select(Person)
        .where(Person.id == mentor_id)
        .options(selectinload(Person.roles))
        .execution_options(populate_existing=True)
    )
    assert mentor is not None
    claimed = ticket.status == TicketStatus.open
    try:
        # The slot and the claim together: a claim lost to another mentor takes the booking
        # back with it, and a slot lost to another activist leaves the ticket as it was.
        async with session.begin_nested():
            session.add(booking)
            await session.flush()
            if claimed:
                await tickets.claim_ticket(session, ticket, mentor, now, capacity=capacity)
    except IntegrityError as error:
        raise SlotTaken(starts_at) from error
    meeting = await meetings.schedule_booked_call(
        session,
        ticket,
        mentor,
        MeetingPlan(
            title=title,
            starts_at=slot.starts,
            zone=mentor.timezone or default_zone,
            duration=slot.ends - slot.starts,
        ),
        offsets=offsets,
        video_base_url=video_base_url,
        now=now,
    )
    booking.meeting_id = meeting.id
    await session.flush()
    return booking, meeting, claimed


class NotMovable(DomainError):
    """The consultation has begun, or was cancelled: there is nothing to move."""


@dataclass(frozen=True)
class Move:
    """A booking moved to another slot: what changed, for the news and the reminder jobs."""

    booking: Booking
    meeting: Meeting
    previous: datetime
    reminders: list[meetings.PlannedReminder]


def may_move(actor: Actor, found: Booking) -> bool:
    """The activist who booked it; the mentor moves a consultation with ``/reschedule``."""
    return found.activist_id == actor.person.id


async def movable_booking(
    session: AsyncSession, actor: Actor, booking_id: int, now: datetime
) -> tuple[Booking, Meeting]:
    """The actor's booking that is still ahead and live, with its meeting; else why not."""
    found = await session.get(Booking, booking_id) if 0 < booking_id < 2**62 else None
    if found is None or not may_move(actor, found):
        raise NotAllowed("only the activist who booked it")
    meeting = await session.get(Meeting, found.meeting_id) if found.meeting_id else None
    if (
        meeting is None
        or found.live is not True
        or found.starts_at <= now
        or meeting.status != MeetingStatus.scheduled
    ):
        raise NotMovable(booking_id)
    return found, meeting


async def booking_of_meeting(session: AsyncSession, meeting_id: int) -> Booking | None:
    """The booking a consultation's meeting was made for (cancelled or not), if it is one."""
    if not 0 < meeting_id < 2**62:
        return None
    return await session.scalar(
        select(Booking).where(Booking.meeting_id == meeting_id).order_by(Booking.id.desc()).limit(1)
    )


async def move_offers(
    session: AsyncSession, found: Booking, *, now: datetime, default_zone: str
) -> list[Offer]:
    """The booking mentor's free slots (theirs only: the request stays with them)."""
    mentor = await session.get(Person, found.mentor_id)
    if mentor is None:
        return []
    free = await free_slots(session, mentor, now=now, days=BOOKING_DAYS, default_zone=default_zone)
    return [Offer(mentor, free)] if free else []


async def move(
    session: AsyncSession,
    actor: Actor,
    booking_id: int,
    starts_at: datetime,
    *,
    now: datetime,
    default_zone: str,
) -> Move:
    """Move the activist's booking to another free slot of the same mentor, with its meeting
    and reminders. Atomic like booking: of two people taking one slot at once, exactly one
    gets it, and the other's booking stays where it was."""
    found, meeting = await movable_booking(session, actor, booking_id, now)
    offered = await move_offers(session, found, now=now, default_zone=default_zone)
    slot = next((s for o in offered for s in o.slots if s.starts == starts_at), None)
    if slot is None:
        holder = await office_hours.booked_at(session, found.mentor_id, starts_at)
        if holder is not None and holder != found.id:
            raise SlotTaken(starts_at)
        raise NotASlot(starts_at)
    previous = found.starts_at
    try:
        async with session.begin_nested():
            found.starts_at = slot.starts
            found.ends_at = slot.ends
            await session.flush()
    except IntegrityError as error:
        raise SlotTaken(starts_at) from error
    reminders = await meetings.move_meeting(
        session, meeting, slot.starts, now, duration=slot.ends - slot.starts
    )
    return Move(found, meeting, previous, reminders)


class NotOver(DomainError):
    """The consultation has not ended yet."""


async def mark_no_show(
    session: AsyncSession, actor: Actor, meeting_id: int, now: datetime
) -> Booking:
    """The mentor marks that the activist did not come to a booked consultation that ended."""
    found = await session.scalar(select(Booking).where(Booking.meeting_id == meeting_id))
    if found is None or found.mentor_id != actor.person.id:
        raise NotAllowed("only the mentor of a booked consultation")
    if found.status == BookingStatus.cancelled:
        raise NotBookable(found.ticket_id)
    if found.ends_at > now:
        raise NotOver(meeting_id)
    found.status = BookingStatus.no_show
    await session.flush()
    return found
