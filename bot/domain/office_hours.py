"""A mentor's office hours: weekly hours in their own zone, days off, and the slots they give.

``parse_hours`` reads what a mentor types after ``/hours`` (``Пн 18:00-20:00, Чт 10:00-12:00``,
``Mon-Fri 9-11 45m``) and ``parse_days_off`` what follows ``/hours off`` (``01.05-10.05``).
Both refuse what cannot be meant (an unknown weekday, an hour that ends before it starts, two
stretches of one day that overlap) with an ``HoursError`` naming the problem. Hours are kept
in the mentor's zone as they typed them; ``slots`` turns them into moments (UTC) over the days
ahead, so each viewer sees them in their own zone, a stretch across midnight there included,
and a change of summer time moves them as it moves the mentor's own clock.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from models import Booking, OfficeHours, OfficeHoursOff, Person

DEFAULT_SLOT = timedelta(minutes=30)
SHORTEST_SLOT = timedelta(minutes=10)
LONGEST_SLOT = timedelta(hours=4)
MAX_STRETCHES = 28
MAX_DAYS_OFF = 92  # a long holiday; more is a typo more often than a plan

# Weekday names and abbreviations in Russian, English and Polish; Monday is 0.
WEEKDAYS: dict[str, int] = {}
for _number, _names in enumerate(
    [
        "пн пон понедельник mon monday pn pon poniedziałek poniedzialek",
        "вт вто вторник tue tues tuesday wt wto wtorek",
        "ср сре среда wed wednesday śr sr śro sro środa sroda",
        "чт чет четверг thu thur thurs thursday cz czw czwartek",
        "пт пят пятница fri friday pt pią pia piątek piatek",
        "сб суб суббота sat saturday sb sob sobota",
        "вс вос воскресенье sun sunday nd ndz niedz niedziela",
    ]
):
    for _name in _names.split():
        WEEKDAYS[_name] = _number

_DASH = r"\s*[-–—]\s*"
_CLOCK = r"(\d{1,2})(?:[:.](\d{2}))?"
_STRETCH = re.compile(
    rf"^(?P<days>[^\d\s,;]+(?:{_DASH}[^\d\s,;]+)?)\s*(?P<start>{_CLOCK}){_DASH}(?P<end>{_CLOCK})$"
)
_SLOT = re.compile(r"^(?:(\d{1,3})\s*(?:m|min|мин|м)|(\d)\s*(?:h|ч))\.?$", re.IGNORECASE)
_DAY = re.compile(r"^(\d{1,2})\.(\d{1,2})(?:\.(\d{4}))?$")


class Problem(enum.StrEnum):
    empty = "empty"
    unknown_weekday = "unknown_weekday"
    bad_time = "bad_time"
    inverted = "inverted"
    overlapping = "overlapping"
    bad_slot = "bad_slot"
    slot_too_long = "slot_too_long"
    too_many = "too_many"
    bad_date = "bad_date"
    past = "past"
    too_long_off = "too_long_off"


class HoursError(ValueError):
    """What the mentor typed cannot be hours; ``detail`` is the part at fault."""

    def __init__(self, problem: Problem, detail: str = "") -> None:
        super().__init__(f"{problem}: {detail}")
        self.problem = problem
        self.detail = detail


@dataclass(frozen=True, order=True)
class Stretch:
    """One weekday's hours, in the mentor's zone; ``end`` may be 24:00 (``time.max``)."""

    weekday: int
    start: time
    end: time


@dataclass(frozen=True)
class WeeklyHours:
    stretches: tuple[Stretch, ...]
    slot: timedelta = DEFAULT_SLOT


@dataclass(frozen=True)
class DaysOff:
    first: date
    last: date


@dataclass(frozen=True)
class Slot:
    starts: datetime  # UTC
    ends: datetime


def parse_hours(text: str) -> WeeklyHours:
    """``Пн 18:00-20:00, Чт 10:00-12:00`` (``Mon``/``Thu`` too), optionally ``45m``."""
    parts = [p.strip() for p in re.split(r"[,;\n]+", text.strip()) if p.strip()]
    slot = DEFAULT_SLOT
    if parts:
        # The slot length may close the last stretch ("Чт 10-12 45m") or stand alone.
        head, _sep, tail = parts[-1].rpartition(" ")
        if _SLOT.match(parts[-1]):
            slot = _slot(parts.pop())
        elif head and _SLOT.match(tail):
            slot = _slot(tail)
            parts[-1] = head.strip()
    if not parts:
        raise HoursError(Problem.empty)
    stretches: list[Stretch] = []
    for part in parts:
        stretches.extend(_stretches(part))
    if len(stretches) > MAX_STRETCHES:
        raise HoursError(Problem.too_many, str(len(stretches)))
    stretches.sort()
    for before, after in zip(stretches, stretches[1:], strict=False):
        if before.weekday == after.weekday and after.start < before.end:
            raise HoursError(Problem.overlapping, _shown(before) + ", " + _shown(after))
    for stretch in stretches:
        if _length(stretch) < slot:
            raise HoursError(Problem.slot_too_long, _shown(stretch))
    return WeeklyHours(tuple(stretches), slot)


def _slot(text: str) -> timedelta:
    match = _SLOT.match(text.strip())
    if match is None:
        raise HoursError(Problem.bad_slot, text)
    minutes = int(match.group(1)) if match.group(1) else int(match.group(2)) * 60
    slot = timedelta(minutes=minutes)
    if not SHORTEST_SLOT <= slot <= LONGEST_SLOT:
        raise HoursError(Problem.bad_slot, text)
    return slot


def _stretches(part: str) -> Iterator[Stretch]:
    match = _STRETCH.match(part)
    if match is None:
        if not re.search(r"\d", part):
            raise HoursError(Problem.bad_time, part)
        name = re.split(r"[\s\d]", part, maxsplit=1)[0]
        if name and _weekday(name) is None:
            raise HoursError(Problem.unknown_weekday, name)
        raise HoursError(Problem.bad_time, part)
    days = re.split(_DASH, match.group("days"))
    numbers = [_weekday(day) for day in days]
    for day, number in zip(days, numbers, strict=True):
        if number is None:
            raise HoursError(Problem.unknown_weekday, day)
    first, last = numbers[0], numbers[-1]
    assert first is not None and last is not None
    start = _clock(match.group(3), match.group(4), part)
    end = _clock(match.group(6), match.group(7), part, end=True)
    if end <= start:
        raise HoursError(Problem.inverted, part)
    weekday = first
    while True:
        yield Stretch(weekday, start, end)
        if weekday == last:
            return
        weekday = (weekday + 1) % 7


def _weekday(name: str) -> int | None:
    return WEEKDAYS.get(name.strip().rstrip(".").lower())


def _clock(hours: str, minutes: str | None, part: str, *, end: bool = False) -> time:
    h, m = int(hours), int(minutes or 0)
    if end and h == 24 and m == 0:
        return time.max
    if h > 23 or m > 59:
        raise HoursError(Problem.bad_time, part)
    return time(h, m)


def _length(stretch: Stretch) -> timedelta:
    return _minutes(stretch.end) - _minutes(stretch.start)


def _minutes(moment: time) -> timedelta:
    if moment == time.max:
        return timedelta(hours=24)
    return timedelta(hours=moment.hour, minutes=moment.minute)


def clock(moment: time) -> str:
    return "24:00" if moment == time.max else f"{moment:%H:%M}"


def _shown(stretch: Stretch) -> str:
    return f"{clock(stretch.start)}-{clock(stretch.end)}"


def parse_days_off(text: str, today: date) -> DaysOff:
    """``01.05-10.05``, ``01.05.2027-10.05.2027`` or one day ``09.05``; a date without a year
    is the next such date from ``today`` on."""
    pieces = [p.strip() for p in re.split(_DASH, text.strip(), maxsplit=1) if p.strip()]
    if not pieces:
        raise HoursError(Problem.bad_date, text)
    first = _day(pieces[0], today)
    last = _day(pieces[-1], first if len(pieces) > 1 else today)
    if last < first:
        raise HoursError(Problem.inverted, text)
    if last < today:
        raise HoursError(Problem.past, text)
    if (last - first).days >= MAX_DAYS_OFF:
        raise HoursError(Problem.too_long_off, text)
    return DaysOff(first, last)


def _day(text: str, not_before: date) -> date:
    match = _DAY.match(text)
    if match is None:
        raise HoursError(Problem.bad_date, text)
    day, month = int(match.group(1)), int(match.group(2))
    try:
        if match.group(3):
            return date(int(match.group(3)), month, day)
        found = date(not_before.year, month, day)
        return found if found >= not_before else date(not_before.year + 1, month, day)
    except ValueError as error:
        raise HoursError(Problem.bad_date, text) from error


# --- stored ----------------------------------------------------------------------------------


async def hours_of(session: AsyncSession, person: Person) -> WeeklyHours | None:
    rows = (
        await session.execute(
            select(OfficeHours)
            .where(OfficeHours.person_id == person.id)
            .order_by(OfficeHours.weekday, OfficeHours.starts_minute)
        )
    ).scalars()
    stretches = []
    slot = DEFAULT_SLOT
    for row in rows:
        stretches.append(Stretch(row.weekday, _time(row.starts_minute), _time(row.ends_minute)))
        slot = timedelta(minutes=row.slot_minutes)
    return WeeklyHours(tuple(stretches), slot) if stretches else None


def _time(minute: int) -> time:
    return time.max if minute >= 24 * 60 else time(minute // 60, minute % 60)


async def set_hours(
    session: AsyncSession, person: Person, hours: WeeklyHours, now: datetime
) -> None:
    """The mentor's weekly hours are now these (their earlier ones go)."""
    await clear_hours(session, person)
    session.add_all(
        OfficeHours(
            person_id=person.id,
            weekday=stretch.weekday,
            starts_minute=int(_minutes(stretch.start).total_seconds() // 60),
            ends_minute=int(_minutes(stretch.end).total_seconds() // 60),
            slot_minutes=int(hours.slot.total_seconds() // 60),
            created_at=now,
        )
        for stretch in hours.stretches
    )


async def clear_hours(session: AsyncSession, person: Person) -> None:
    await session.execute(delete(OfficeHours).where(OfficeHours.person_id == person.id))


async def add_days_off(session: AsyncSession, person: Person, days: DaysOff, now: datetime) -> None:
    session.add(
        OfficeHoursOff(
            person_id=person.id, first_day=days.first, last_day=days.last, created_at=now
        )
    )


async def days_off_of(session: AsyncSession, person: Person, today: date) -> list[DaysOff]:
    """The mentor's days off that have not ended before ``today``, soonest first."""
    rows = (
        await session.execute(
            select(OfficeHoursOff)
            .where(OfficeHoursOff.person_id == person.id, OfficeHoursOff.last_day >= today)
            .order_by(OfficeHoursOff.first_day)
        )
    ).scalars()
    return [DaysOff(row.first_day, row.last_day) for row in rows]


async def clear_days_off(session: AsyncSession, person: Person) -> None:
    await session.execute(delete(OfficeHoursOff).where(OfficeHoursOff.person_id == person.id))


async def booked_at(session: AsyncSession, mentor_id: int, starts_at: datetime) -> int | None:
    """The live booking holding that slot of the mentor, if any."""
    return await session.scalar(
        select(Booking.id).where(
            Booking.mentor_id == mentor_id, Booking.starts_at == starts_at, Booking.live.is_(True)
        )
    )


# --- slots -----------------------------------------------------------------------------------


def slots(
    hours: WeeklyHours,
    zone: tzinfo,
    *,
    now: datetime,
    days: int = 14,
    off: Sequence[DaysOff] = (),
) -> list[Slot]:
    """The slots of the next ``days`` days from ``now`` (UTC), in order; none that has begun,
    none on a day off (days in the mentor's zone)."""
    local_today = now.astimezone(zone).date()
    found: list[Slot] = []
    for offset in range(days + 1):
        day = local_today + timedelta(days=offset)
        if any(o.first <= day <= o.last for o in off):
            continue
        for stretch in hours.stretches:
            if stretch.weekday != day.weekday():
                continue
            opens = _at(day, stretch.start, zone)
            closes = (
                _at(day + timedelta(days=1), time(0, 0), zone)
                if stretch.end == time.max
                else _at(day, stretch.end, zone)
            )
            moment = opens
            while moment + hours.slot <= closes:
                if moment > now and moment < now + timedelta(days=days):
                    found.append(Slot(moment, moment + hours.slot))
                moment += hours.slot
    found.sort(key=lambda s: s.starts)
    return found


def _at(day: date, moment: time, zone: tzinfo) -> datetime:
    """That wall-clock moment in the zone, in UTC (zoneinfo settles a moment that a change of
    summer time skips or repeats)."""
    return datetime.combine(day, moment, tzinfo=zone).astimezone(UTC)
