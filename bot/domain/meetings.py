"""Meetings: who may call one, its audience and RSVPs, cancelling, moving, and its reminders.

A meeting's reminder rows are made here, one per configured offset; ``reminders`` runs them.
Nothing here knows about Telegram: the audience is described by chat ids, zones and languages,
and the callers render and send.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Select, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import office_hours
from bot.domain.access import Actor
from bot.domain.errors import DomainError, InvalidInput, NotAllowed, NotFound
from bot.domain.people import language_of
from bot.domain.schedule_parser import MAX_DURATION, MAX_TITLE
from models import (
    Booking,
    BookingStatus,
    GroupChat,
    Meeting,
    MeetingAudience,
    MeetingStatus,
    Person,
    Programme,
    Reminder,
    RoleKind,
    Rsvp,
    Ticket,
    TicketStatus,
    Topic,
)

DEFAULT_DURATION = timedelta(hours=1)
ROOM_PREFIX = "MentorDesk-"
UPCOMING_LIMIT = 20


@dataclass(frozen=True)
class MeetingPlan:
    """What a meeting is, once its text was read: the same for groups and ticket calls."""

    title: str
    starts_at: datetime
    zone: str
    duration: timedelta | None = None
    link: str | None = None


@dataclass(frozen=True)
class Place:
    """A chat the meeting is announced in, as the sender needs it."""

    audience: MeetingAudience
    chat_id: int
    zone: str
    language: str
    title: str  # the group's title, or the person's name
    person_id: int | None  # set for a person's private chat


@dataclass(frozen=True)
class Recipient:
    chat_id: int
    zone: str
    language: str
    person_id: int | None


@dataclass(frozen=True)
class RsvpCounts:
    coming: int = 0
    not_coming: int = 0


@dataclass(frozen=True)
class CallAbout:
    """The request a call is about, as its host is told of it: number, topic, author."""

    ticket_id: int
    topic: Topic | None
    activist: Person | None


@dataclass(frozen=True)
class PlannedReminder:
    """A reminder row's id and due time, copied out so jobs can be planned after commit."""

    id: int
    due_at: datetime


def new_room(video_base_url: str) -> str:
    """A fresh Jitsi room: 120 random bits in lower case, since Jitsi folds room names' case."""
    token = base64.b32encode(secrets.token_bytes(15)).decode().lower()
    return f"{video_base_url.rstrip('/')}/{ROOM_PREFIX}{token}"


class SlotBusy(DomainError):
    """The mentor already has another consultation booked at that moment."""


def may_schedule_for(actor: Actor, programme_id: int) -> bool:
    return actor.coordinates(programme_id)


def may_manage(actor: Actor, meeting: Meeting) -> bool:
    """The programme's coordinators, and whoever called the meeting (a mentor's ticket call)."""
    return actor.coordinates(meeting.programme_id) or meeting.created_by_id == actor.person.id


async def schedulable_groups(session: AsyncSession, actor: Actor) -> list[GroupChat]:
    """Registered groups of the programmes the person coordinates (every one, for an admin)."""
    query = select(GroupChat).where(GroupChat.programme_id.is_not(None))
    if not actor.is_admin:
        query = query.where(GroupChat.programme_id.in_(actor.programmes(RoleKind.coordinator)))
    result = await session.execute(query.order_by(GroupChat.programme_id, GroupChat.id))
    return list(result.scalars())


async def programme_titles(session: AsyncSession, ids: Sequence[int]) -> dict[int, str]:
    result = await session.execute(
        select(Programme.id, Programme.title).where(Programme.id.in_(set(ids)))
    )
    return {row.id: row.title for row in result}


def _check_plan(plan: MeetingPlan, now: datetime) -> None:
    if not plan.title or len(plan.title) > MAX_TITLE:
        raise InvalidInput("title")
    if plan.starts_at <= now:
        raise InvalidInput("past")
    if plan.duration is not None and not timedelta(0) < plan.duration <= MAX_DURATION:
        raise InvalidInput("duration")


def _new_meeting(
    plan: MeetingPlan, programme_id: int, actor: Actor | None, video_base_url: str, now: datetime
) -> Meeting:
    duration = plan.duration or DEFAULT_DURATION
    return Meeting(
        uid=uuid.uuid4().hex,
        programme_id=programme_id,
        title=plan.title,
        starts_at=plan.starts_at,
        duration_minutes=max(1, int(duration.total_seconds() // 60)),
        zone=plan.zone,
        video_url=plan.link or new_room(video_base_url),
        status=MeetingStatus.scheduled,
        created_by_id=actor.person.id if actor is not None else None,
        created_at=now,
        revision=0,
        audience=[],
    )


async def schedule_for_groups(
    session: AsyncSession,
    actor: Actor,
    groups: Sequence[GroupChat],
    plan: MeetingPlan,
    *,
    offsets: Sequence[timedelta],
    video_base_url: str,
    now: datetime,
) -> Meeting:
    """A conference for one or more groups of one programme, called by its coordinator."""
    _check_plan(plan, now)
    if not groups:
        raise InvalidInput("no groups")
    programmes = {group.programme_id for group in groups}
    if None in programmes or len(programmes) != 1:
        raise InvalidInput("groups of one programme")
    programme_id = next(iter(programmes))
    assert programme_id is not None
    if not may_schedule_for(actor, programme_id):
        raise NotAllowed("only coordinators schedule conferences")
    meeting = _new_meeting(plan, programme_id, actor, video_base_url, now)
    meeting.audience = [MeetingAudience(group_id=group.id) for group in groups]
    session.add(meeting)
    await session.flush()
    _add_reminders(session, meeting, offsets, now)
    await session.flush()
    return meeting


def may_call_about(actor: Actor, ticket: Ticket) -> bool:
    return ticket.assignee_id == actor.person.id and ticket.status == TicketStatus.claimed


async def schedule_ticket_call(
    session: AsyncSession,
    actor: Actor,
    ticket: Ticket,
    plan: MeetingPlan,
    *,
    offsets: Sequence[timedelta],
    video_base_url: str,
    now: datetime,
) -> Meeting:
    """A call between the mentor who holds the ticket and its author."""
    _check_plan(plan, now)
    if not may_call_about(actor, ticket):
        raise NotAllowed("only the mentor who holds the ticket")
    meeting = _new_meeting(plan, ticket.programme_id, actor, video_base_url, now)
    meeting.ticket_id = ticket.id
    meeting.audience = [MeetingAudience(person_id=ticket.author_id)]
    session.add(meeting)
    await session.flush()
    _add_reminders(session, meeting, offsets, now)
    await session.flush()
    return meeting


async def schedule_booked_call(
    session: AsyncSession,
    ticket: Ticket,
    mentor: Person,
    plan: MeetingPlan,
    *,
    offsets: Sequence[timedelta],
    video_base_url: str,
    now: datetime,
) -> Meeting:
    """The consultation an activist booked in a mentor's slot: announced to both of them,
    hosted by the mentor."""
    _check_plan(plan, now)
    meeting = _new_meeting(plan, ticket.programme_id, None, video_base_url, now)
    meeting.created_by_id = mentor.id
    meeting.ticket_id = ticket.id
    meeting.audience = [
        MeetingAudience(person_id=ticket.author_id),
        MeetingAudience(person_id=mentor.id),
    ]
    session.add(meeting)
    await session.flush()
    _add_reminders(session, meeting, offsets, now)
    await session.flush()
    return meeting


def _add_reminders(
    session: AsyncSession, meeting: Meeting, offsets: Sequence[timedelta], now: datetime
) -> None:
    """One row per offset; one whose moment has already passed is recorded as skipped."""
    for offset in sorted(set(offsets), reverse=True):
        due_at = meeting.starts_at - offset
        passed = due_at <= now
        session.add(
            Reminder(
                meeting_id=meeting.id,
                offset_seconds=int(offset.total_seconds()),
                due_at=due_at,
                sent_at=now if passed else None,
                skipped=passed,
            )
        )


async def pending_of(session: AsyncSession, meeting_id: int) -> list[PlannedReminder]:
    result = await session.execute(
        select(Reminder.id, Reminder.due_at)
        .where(Reminder.meeting_id == meeting_id, Reminder.sent_at.is_(None))
        .order_by(Reminder.due_at)
    )
    return [PlannedReminder(row.id, row.due_at) for row in result]


async def get_meeting(session: AsyncSession, number: int) -> Meeting:
    meeting = await session.get(Meeting, number) if 0 < number < 2**62 else None
    if meeting is None:
        raise NotFound(f"meeting {number}")
    return meeting


def may_cancel(actor: Actor, meeting: Meeting) -> bool:
    """Those who may manage it, and either side of a call about a ticket (a booked
    consultation included): the activist may call it off as well as the mentor."""
    if may_manage(actor, meeting):
        return True
    return meeting.ticket_id is not None and any(
        a.person_id == actor.person.id for a in meeting.audience
    )


def _check_changeable(
    actor: Actor, meeting: Meeting, now: datetime, *, cancelling: bool = False
) -> None:
    allowed = may_cancel(actor, meeting) if cancelling else may_manage(actor, meeting)
    if not allowed:
        raise NotAllowed("not your meeting")
    if meeting.status != MeetingStatus.scheduled or meeting.ends_at <= now:
        raise InvalidInput("meeting is over or cancelled")


async def cancel_meeting(
    session: AsyncSession, meeting: Meeting, actor: Actor, now: datetime
) -> list[int]:
    """Cancel it and drop its unsent reminders; returns their ids (jobs to remove)."""
    _check_changeable(actor, meeting, now, cancelling=True)
    return await _cancel(session, meeting, now)


async def cancel_bookings_of(
    session: AsyncSession, person: Person, now: datetime
) -> tuple[list[Meeting], list[int]]:
    """Cancel the consultations still ahead that the person booked or hosts (they asked to
    be erased): the meetings and the reminders dropped (jobs to remove; one that fires finds
    its reminder gone and sends nothing)."""
    ahead = list(
        await session.scalars(
            select(Meeting)
            .join(Booking, Booking.meeting_id == Meeting.id)
            .where(
                or_(Booking.activist_id == person.id, Booking.mentor_id == person.id),
                Booking.live.is_(True),
                Meeting.status == MeetingStatus.scheduled,
                Booking.ends_at > now,
            )
            .order_by(Meeting.starts_at)
        )
    )
    dropped: list[int] = []
    for meeting in ahead:
        dropped += await _cancel(session, meeting, now)
    return ahead, dropped


async def _cancel(session: AsyncSession, meeting: Meeting, now: datetime) -> list[int]:
    dropped = [reminder.id for reminder in await pending_of(session, meeting.id)]
    meeting.status = MeetingStatus.cancelled
    meeting.cancelled_at = now
    meeting.revision += 1
    await session.execute(
        delete(Reminder)
        .where(Reminder.meeting_id == meeting.id, Reminder.sent_at.is_(None))
        .execution_options(synchronize_session=False)
    )
    # A booked consultation's slot is free again.
    await session.execute(
        update(Booking)
        .where(Booking.meeting_id == meeting.id, Booking.live.is_(True))
        .values(status=BookingStatus.cancelled, live=None)
        .execution_options(synchronize_session=False)
    )
    await session.flush()
    return dropped


async def reschedule_meeting(
    session: AsyncSession,
    meeting: Meeting,
    actor: Actor,
    starts_at: datetime,
    zone: str,
    now: datetime,
    *,
    duration: timedelta | None = None,
) -> list[PlannedReminder]:
    """Move the meeting, its booked slot if it has one, and its reminders; RSVPs stay as they
    are. Returns the reminders to plan."""
    _check_changeable(actor, meeting, now)
    if starts_at <= now:
        raise InvalidInput("past")
    booked = await session.scalar(
        select(Booking).where(Booking.meeting_id == meeting.id, Booking.live.is_(True))
    )
    if booked is not None:
        if (
            starts_at != booked.starts_at
            and await office_hours.booked_at(session, booked.mentor_id, starts_at) is not None
        ):
            raise SlotBusy(starts_at)
        # A booked consultation moves with its slot, and the old one is free again; a moment
        # booked by someone else in the meantime stops it here (the unique live slot).
        try:
            async with session.begin_nested():
                booked.starts_at = starts_at
                booked.ends_at = starts_at + (duration or meeting.duration)
                await session.flush()
        except IntegrityError as error:
            raise SlotBusy(starts_at) from error
    meeting.zone = zone
    return await move_meeting(session, meeting, starts_at, now, duration=duration)


async def move_meeting(
    session: AsyncSession,
    meeting: Meeting,
    starts_at: datetime,
    now: datetime,
    *,
    duration: timedelta | None = None,
) -> list[PlannedReminder]:
    """Move the meeting and each of its reminders with it; the caller checked who may.

    A reminder already sent for the old time is armed again for the new one, and one whose
    new moment has passed is skipped. Returns the reminders to plan.
    """
    meeting.starts_at = starts_at
    if duration is not None:
        meeting.duration_minutes = max(1, int(duration.total_seconds() // 60))
    meeting.revision += 1
    result = await session.execute(select(Reminder).where(Reminder.meeting_id == meeting.id))
    for reminder in result.scalars():
        reminder.due_at = starts_at - timedelta(seconds=reminder.offset_seconds)
        passed = reminder.due_at <= now
        reminder.sent_at = now if passed else None
        reminder.skipped = passed
    await session.flush()
    return await pending_of(session, meeting.id)


async def places(
    session: AsyncSession, meeting: Meeting, default_zone: str, default_language: str
) -> list[Place]:
    """The chats the meeting is announced in, each with its zone and language."""
    found: list[Place] = []
    for audience in meeting.audience:
        if audience.group_id is not None:
            group = await session.get(GroupChat, audience.group_id)
            if group is None:
                continue
            found.append(
                Place(
                    audience=audience,
                    chat_id=group.telegram_id,
                    zone=group.timezone or default_zone,
                    language=group.language or default_language,
                    title=group.title,
                    person_id=None,
                )
            )
        elif audience.person_id is not None:
            person = await session.get(Person, audience.person_id)
            if person is None:
                continue
            found.append(
                Place(
                    audience=audience,
                    chat_id=person.telegram_id,
                    zone=person.timezone or default_zone,
                    language=language_of(person, default_language),
                    title=person.display_name,
                    person_id=person.id,
                )
            )
    return found


def hosts_here(meeting: Meeting, place: Place) -> bool:
    """Whether the place is the private chat of the host of a call about a request (the mentor
    of a booked consultation): they are told who booked it, and not asked whether they come."""
    return (
        meeting.ticket_id is not None
        and place.person_id is not None
        and place.person_id == meeting.created_by_id
    )


async def call_about(session: AsyncSession, meeting: Meeting) -> CallAbout | None:
    """The request a call is about, with its topic and author; None for a conference."""
    if meeting.ticket_id is None:
        return None
    ticket = await session.get(Ticket, meeting.ticket_id)
    if ticket is None:
        return None
    topic = await session.get(Topic, ticket.topic_id) if ticket.topic_id is not None else None
    return CallAbout(ticket.id, topic, await session.get(Person, ticket.author_id))


async def may_answer(session: AsyncSession, meeting: Meeting, chat_id: int, person: Person) -> bool:
    """Whether a press in ``chat_id`` by ``person`` is an answer from the meeting's audience;
    the host of a call about a request does not answer for their own call."""
    if meeting.ticket_id is not None and meeting.created_by_id == person.id:
        return False
    for audience in meeting.audience:
        if audience.person_id is not None:
            if audience.person_id == person.id and chat_id == person.telegram_id:
                return True
        elif audience.group_id is not None:
            group = await session.get(GroupChat, audience.group_id)
            if group is not None and group.telegram_id == chat_id:
                return True
    return False


async def answer(
    session: AsyncSession, meeting: Meeting, person: Person, coming: bool, now: datetime
) -> bool:
    """Record the person's answer; False when it was already their answer."""
    if meeting.status != MeetingStatus.scheduled or meeting.ends_at <= now:
        raise InvalidInput("meeting is over or cancelled")
    rsvp = await session.get(Rsvp, (meeting.id, person.id))
    if rsvp is None:
        session.add(
            Rsvp(meeting_id=meeting.id, person_id=person.id, coming=coming, answered_at=now)
        )
        await session.flush()
        return True
    if rsvp.coming == coming:
        return False
    rsvp.coming = coming
    rsvp.answered_at = now
    await session.flush()
    return True


async def counts(session: AsyncSession, meeting_id: int) -> RsvpCounts:
    result = await session.execute(
        select(Rsvp.coming, func.count()).where(Rsvp.meeting_id == meeting_id).group_by(Rsvp.coming)
    )
    by_answer = {bool(coming): int(count) for coming, count in result.all()}
    return RsvpCounts(coming=by_answer.get(True, 0), not_coming=by_answer.get(False, 0))


async def coming_people(session: AsyncSession, meeting_id: int) -> list[Person]:
    result = await session.execute(
        select(Person)
        .join(Rsvp, Rsvp.person_id == Person.id)
        .where(Rsvp.meeting_id == meeting_id, Rsvp.coming.is_(True))
        .order_by(Rsvp.answered_at, Rsvp.person_id)
    )
    return list(result.scalars())


async def recipients(
    session: AsyncSession, meeting: Meeting, default_zone: str, default_language: str
) -> list[Recipient]:
    """Who hears a reminder: the audience chats, those who said yes, the host of a ticket call."""
    found: dict[int, Recipient] = {}
    for place in await places(session, meeting, default_zone, default_language):
        found.setdefault(
            place.chat_id, Recipient(place.chat_id, place.zone, place.language, place.person_id)
        )
    people = await coming_people(session, meeting.id)
    if meeting.ticket_id is not None and meeting.created_by_id is not None:
        host = await session.get(Person, meeting.created_by_id)
        if host is not None:
            people.append(host)
    for person in people:
        found.setdefault(
            person.telegram_id,
            Recipient(
                person.telegram_id,
                person.timezone or default_zone,
                language_of(person, default_language),
                person.id,
            ),
        )
    return list(found.values())


async def upcoming(
    session: AsyncSession,
    actor: Actor,
    now: datetime,
    *,
    group: GroupChat | None = None,
    limit: int = UPCOMING_LIMIT,
) -> list[Meeting]:
    """Scheduled meetings not yet over that the reader may see, soonest first.

    In a group: that group's. In private: those whose audience includes the person, and every
    conference of the programmes they coordinate (every one, for an admin).
    """
    query = (
        select(Meeting)
        .where(
            Meeting.status == MeetingStatus.scheduled,
            Meeting.starts_at > now - MAX_DURATION,
        )
        .order_by(Meeting.starts_at, Meeting.id)
    )
    if group is not None:
        query = query.where(
            Meeting.id.in_(
                select(MeetingAudience.meeting_id).where(MeetingAudience.group_id == group.id)
            )
        )
    else:
        query = query.where(_seen_by(actor))
    meetings = [
        meeting for meeting in (await session.execute(query)).scalars() if meeting.ends_at > now
    ]
    return meetings[:limit]


def _seen_by(actor: Actor) -> ColumnElement[bool]:
    """The meetings whose audience includes the person: those of the groups they are known in
    (they filed a request there), those about their requests (as author or mentor), those they
    were invited to, answered or called; and the conferences of programmes they coordinate.

    A group's member who has not written there yet sees its meetings with /meetings in the
    group: the bot learns who is in a group only from what they write.
    """
    person_id = actor.person.id
    their_groups = select(Ticket.group_id).where(
        Ticket.author_id == person_id, Ticket.group_id.is_not(None)
    )
    their_tickets = select(Ticket.id).where(
        (Ticket.author_id == person_id) | (Ticket.assignee_id == person_id)
    )
    in_audience = select(MeetingAudience.meeting_id).where(
        (MeetingAudience.person_id == person_id) | MeetingAudience.group_id.in_(their_groups)
    )
    answered = select(Rsvp.meeting_id).where(Rsvp.person_id == person_id)
    seen = (
        Meeting.id.in_(in_audience)
        | Meeting.id.in_(answered)
        | Meeting.ticket_id.in_(their_tickets)
        | (Meeting.created_by_id == person_id)
    )
    if actor.is_admin:
        return seen | Meeting.ticket_id.is_(None)
    coordinated = actor.programmes(RoleKind.coordinator)
    return seen | (Meeting.ticket_id.is_(None) & Meeting.programme_id.in_(coordinated))


# --- reminders ---------------------------------------------------------------------------


def _live_meetings(now: datetime) -> Select[int]:
    return select(Meeting.id).where(
        Meeting.status == MeetingStatus.scheduled, Meeting.starts_at > now
    )


async def take_reminder(session: AsyncSession, reminder_id: int, now: datetime) -> bool:
    """Mark the reminder sent unless another process did; True if it is ours to send.

    The conditional UPDATE is the only arbiter between processes: it succeeds for exactly one
    of them, and only while the reminder is due and its meeting is still ahead.
    """
    result = await session.execute(
        update(Reminder)
        .where(
            Reminder.id == reminder_id,
            Reminder.sent_at.is_(None),
            Reminder.due_at <= now,
            Reminder.meeting_id.in_(_live_meetings(now)),
        )
        .values(sent_at=now, skipped=False)
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


async def skip_reminders(session: AsyncSession, reminder_ids: Sequence[int], now: datetime) -> int:
    """Mark reminders that will not be sent (their meeting began, or a later one supersedes)."""
    if not reminder_ids:
        return 0
    result = await session.execute(
        update(Reminder)
        .where(Reminder.id.in_(list(reminder_ids)), Reminder.sent_at.is_(None))
        .values(sent_at=now, skipped=True)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0))


@dataclass(frozen=True)
class DueReminder:
    id: int
    meeting_id: int
    due_at: datetime
    meeting_starts_at: datetime
    meeting_status: MeetingStatus


async def unsent_before(session: AsyncSession, moment: datetime) -> list[DueReminder]:
    """Every unsent reminder due before ``moment``, with its meeting's start and status."""
    result = await session.execute(
        select(Reminder.id, Reminder.meeting_id, Reminder.due_at, Meeting.starts_at, Meeting.status)
        .join(Meeting, Meeting.id == Reminder.meeting_id)
        .where(Reminder.sent_at.is_(None), Reminder.due_at <= moment)
        .order_by(Reminder.due_at, Reminder.id)
    )
    return [DueReminder(*row) for row in result.all()]


async def finish_meetings(session: AsyncSession, now: datetime) -> int:
    """Mark meetings that have ended as done."""
    result = await session.execute(
        select(Meeting).where(Meeting.status == MeetingStatus.scheduled, Meeting.starts_at <= now)
    )
    finished = 0
    for meeting in result.scalars():
        if meeting.ends_at <= now:
            meeting.status = MeetingStatus.done
            finished += 1
    await session.flush()
    return finished
