"""The programme's schedule of consultations for one week: each mentor's free and booked
slots, and the meetings (booked consultations, calls, conferences) of its programmes."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import booking, matching
from bot.domain.errors import InvalidInput
from bot.domain.office_hours import Slot
from bot.domain.tickets import people_by_id
from models import Booking, Meeting, MeetingStatus, Person

THIS_WEEK = frozenset({"", "week", "неделя", "эта", "tydzień", "tydzien"})
NEXT_WEEK = frozenset({"next", "следующая", "след", "następny", "nastepny"})
_DAY = re.compile(r"^(\d{1,2})\.(\d{1,2})(?:\.(\d{4}))?$")


@dataclass(frozen=True)
class MentorWeek:
    mentor: Person
    free: list[Slot]
    booked: list[Slot]


@dataclass(frozen=True)
class Week:
    first_day: date  # a Monday, in the viewer's zone
    starts: datetime  # UTC
    ends: datetime
    mentors: list[MentorWeek]
    meetings: list[Meeting]


def parse_week(text: str | None, today: date) -> date:
    """The Monday of the week asked for: this one, ``next``, or the week of ``DD.MM``."""
    word = (text or "").strip().lower()
    monday = today - timedelta(days=today.weekday())
    if word in THIS_WEEK:
        return monday
    if word in NEXT_WEEK:
        return monday + timedelta(days=7)
    match = _DAY.match(word)
    if match is None:
        raise InvalidInput("week")
    try:
        year = int(match.group(3)) if match.group(3) else today.year
        day = date(year, int(match.group(2)), int(match.group(1)))
    except ValueError as error:
        raise InvalidInput("week") from error
    return day - timedelta(days=day.weekday())


async def week(
    session: AsyncSession,
    programme_ids: Sequence[int],
    first_day: date,
    viewer_zone: tzinfo,
    *,
    now: datetime,
    default_zone: str,
    capacity: int,
) -> Week:
    starts = datetime.combine(first_day, time(0), tzinfo=viewer_zone).astimezone(UTC)
    ends = datetime.combine(first_day + timedelta(days=7), time(0), tzinfo=viewer_zone).astimezone(
        UTC
    )
    ids: list[int | None] = []
    for programme_id in programme_ids:
        mentors_here = await matching.mentors_of(session, programme_id, None, capacity=capacity)
        ids.extend(candidate.person.id for candidate in mentors_here)
    mentors = await people_by_id(session, ids)
    rows = []
    for mentor in sorted(mentors.values(), key=lambda p: p.display_name.lower()):
        booked_rows = (
            await session.execute(
                select(Booking).where(
                    Booking.mentor_id == mentor.id,
                    Booking.live.is_(True),
                    Booking.starts_at >= starts,
                    Booking.starts_at < ends,
                )
            )
        ).scalars()
        booked = sorted((Slot(b.starts_at, b.ends_at) for b in booked_rows), key=lambda s: s.starts)
        since = max(now, starts)
        free = await booking.free_slots(
            session, mentor, now=since, days=max(0, (ends - since).days + 1),
            default_zone=default_zone,
        )  # fmt: skip
        if free is not None or booked:
            in_week = [s for s in free or [] if starts <= s.starts < ends]
            rows.append(MentorWeek(mentor, in_week, booked))
    found = (
        await session.execute(
            select(Meeting)
            .where(
                Meeting.programme_id.in_(list(programme_ids)),
                Meeting.status == MeetingStatus.scheduled,
                Meeting.starts_at >= starts,
                Meeting.starts_at < ends,
            )
            .order_by(Meeting.starts_at, Meeting.id)
        )
    ).scalars()
    return Week(first_day, starts, ends, rows, list(found))
