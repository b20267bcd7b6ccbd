"""Coordinators' figures: requests by status and topic, people served, times, ratings, load.

The figures describe the requests *filed* in a period (a cohort): their status now, their
topics, their authors, how long they waited for a mentor, for a first answer and for the
resolution, and how they were rated. Counts, distinct authors and rating means are SQL
aggregates. Durations are computed in SQL as well, by ``seconds_between`` (julianday
arithmetic on SQLite, ``EXTRACT(EPOCH ...)`` on PostgreSQL); their median and 90th percentile
are then taken in Python from the selected durations, because SQLite has no percentile
function (PostgreSQL's ``percentile_cont`` has no portable twin). Percentiles interpolate
linearly between the closest ranks, exactly as ``percentile_cont`` does.

Time to claim counts from filing to the first time a mentor got the request (their claim or a
coordinator's assignment, from the ticket's history), so a later reassignment does not hide
how long the request first waited.

Triage figures count the requests that went to general consultants first: those a general
consultant resolved without passing them on (general consultations), those passed to a
specialist (and of them, those resolved), the escalation rate and the time from filing to
escalation.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    SQLColumnExpression,
    Subquery,
    case,
    distinct,
    func,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from bot.domain.access import Actor
from bot.domain.errors import InvalidInput, NotAllowed
from bot.time.zones import zone
from models import (
    Booking,
    BookingStatus,
    Meeting,
    MeetingStatus,
    Person,
    Programme,
    Role,
    RoleKind,
    Rsvp,
    Ticket,
    TicketAttachment,
    TicketEvent,
    TicketEventKind,
    TicketStatus,
    Topic,
)

# --- durations in SQL ---------------------------------------------------------------------


class seconds_between(FunctionElement[float]):  # noqa: N801 - reads as the SQL function it is
    """Seconds from the first timestamp to the second; NULL when either is NULL."""

    type = Float()
    name = "seconds_between"
    inherit_cache = True


@compiles(seconds_between)
def _seconds_between(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = list(element.clauses)
    return f"EXTRACT(EPOCH FROM ({compiler.process(end, **kw)} - {compiler.process(start, **kw)}))"


@compiles(seconds_between, "sqlite")
def _seconds_between_sqlite(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = list(element.clauses)
    return (
        f"((julianday({compiler.process(end, **kw)}) - "
        f"julianday({compiler.process(start, **kw)})) * 86400.0)"
    )


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """The q-th quantile of sorted values, interpolated like PostgreSQL's percentile_cont.

    Rounded to the millisecond: the inputs are whole seconds, and the rounding keeps float
    noise (``0.6000000000000001``) out of the figures.
    """
    if not ordered:
        return None
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return round(ordered[low] + (ordered[high] - ordered[low]) * (position - low), 3)


@dataclass(frozen=True)
class Durations:
    """Median and 90th percentile of some durations, in seconds; None when there are none."""

    count: int = 0
    median: float | None = None
    p90: float | None = None

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Durations:
        ordered = sorted(seconds)
        return cls(len(ordered), percentile(ordered, 0.5), percentile(ordered, 0.9))


# --- periods --------------------------------------------------------------------------------


class PeriodKind(enum.StrEnum):
    week = "week"
    month = "month"
    quarter = "quarter"
    all = "all"
    range = "range"


ROLLING_DAYS = {PeriodKind.week: 7, PeriodKind.month: 30, PeriodKind.quarter: 90}
DEFAULT_PERIOD = PeriodKind.month
MAX_RANGE_DAYS = 3700

# What people type after /stats, in each language; those with letters beyond ASCII by their
# beginnings (недели, miesiąca).
PERIOD_WORDS = {
    "week": PeriodKind.week,
    "month": PeriodKind.month,
    "quarter": PeriodKind.quarter,
    "all": PeriodKind.all,
    "недел": PeriodKind.week,
    "месяц": PeriodKind.month,
    "квартал": PeriodKind.quarter,
    "все": PeriodKind.all,
    "всё": PeriodKind.all,
    "tydzień": PeriodKind.week,
    "tydzien": PeriodKind.week,
    "miesiąc": PeriodKind.month,
    "miesiac": PeriodKind.month,
    "kwartał": PeriodKind.quarter,
    "kwartal": PeriodKind.quarter,
    "wszystko": PeriodKind.all,
}
_DATE = r"(\d{1,2})\.(\d{1,2})\.(\d{4})"
_RANGE = re.compile(rf"^{_DATE}\s*(?:-|–|—|\.\.)\s*{_DATE}$")
_TOKEN = re.compile(r"^(\d{8})-(\d{8})$")


class PeriodUnknown(InvalidInput):
    """The text after the command names no period we know."""


@dataclass(frozen=True)
class Period:
    """Days from ``first_day`` to ``last_day`` inclusive, in a zone; the bounds are in UTC.

    ``first_day`` is None for "all time". ``token`` names the period in button data, where the
    rolling periods are re-read when the button is pressed.
    """

    kind: PeriodKind
    zone: str
    first_day: date | None
    last_day: date

    @property
    def start(self) -> datetime | None:
        return None if self.first_day is None else local_midnight(self.first_day, self.zone)

    @property
    def end(self) -> datetime:
        return local_midnight(self.last_day + timedelta(days=1), self.zone)

    @property
    def token(self) -> str:
        if self.kind != PeriodKind.range or self.first_day is None:
            return self.kind.value
        return f"{self.first_day:%Y%m%d}-{self.last_day:%Y%m%d}"

    @classmethod
    def days(cls, first_day: date, last_day: date, zone_name: str) -> Period:
        if first_day > last_day:
            raise InvalidInput("the period ends before it begins")
        if (last_day - first_day).days > MAX_RANGE_DAYS:
            raise InvalidInput("the period is too long")
        return cls(PeriodKind.range, zone_name, first_day, last_day)

    @classmethod
    def rolling(cls, kind: PeriodKind, now: datetime, zone_name: str) -> Period:
        today = now.astimezone(zone(zone_name)).date()
        if kind == PeriodKind.all:
            return cls(kind, zone_name, None, today)
        return cls(kind, zone_name, today - timedelta(days=ROLLING_DAYS[kind] - 1), today)


def at_or_ahead(moment: SQLColumnExpression[datetime], period: Period) -> list[ColumnElement[bool]]:
    """Meetings and consultations are counted at their moment in the period and, where the
    period runs up to today, ahead of it too: what is planned beside what happened. A range of
    days keeps to its days."""
    conditions: list[ColumnElement[bool]] = []
    if period.start is not None:
        conditions.append(moment >= period.start)
    if period.kind == PeriodKind.range:
        conditions.append(moment < period.end)
    return conditions


def local_midnight(day: date, zone_name: str) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone(zone_name)).astimezone(UTC)


def local_date(moment: datetime, zone_name: str) -> date:
    return moment.astimezone(zone(zone_name)).date()


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _day(day: str, month: str, year: str) -> date:
    try:
        return date(int(year), int(month), int(day))
    except ValueError as error:
        raise PeriodUnknown(f"{day}.{month}.{year}") from error


def parse_period(text: str | None, now: datetime, zone_name: str) -> Period:
    """``week``, ``month``, ``quarter``, ``all`` (or their Russian words) or ``DD.MM.YYYY-
    DD.MM.YYYY``; nothing means the last month. Raises ``InvalidInput`` otherwise."""
    cleaned = " ".join((text or "").lower().split())
    if not cleaned:
        return Period.rolling(DEFAULT_PERIOD, now, zone_name)
    for word, kind in PERIOD_WORDS.items():
        if cleaned == word or (not word.isascii() and cleaned.startswith(word)):
            return Period.rolling(kind, now, zone_name)
    match = _RANGE.match(cleaned)
    if match:
        parts = match.groups()
        return Period.days(_day(*parts[:3]), _day(*parts[3:]), zone_name)
    token = _TOKEN.match(cleaned)
    if token:
        first, last = token.groups()
        return Period.days(
            _day(first[6:], first[4:6], first[:4]), _day(last[6:], last[4:6], last[:4]), zone_name
        )
    raise PeriodUnknown(cleaned[:40])


# --- who may see what -----------------------------------------------------------------------


def coordinated(actor: Actor) -> list[int] | None:
    """Programmes whose figures the person may see: those they coordinate (None: all, admins)."""
    return None if actor.is_admin else actor.programmes(RoleKind.coordinator)


def check_scope(actor: Actor, programme_ids: Sequence[int]) -> None:
    if not programme_ids or not all(actor.coordinates(pid) for pid in programme_ids):
        raise NotAllowed("statistics are for the programme's coordinators")


# --- the figures ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TopicCount:
    topic: Topic | None
    count: int


@dataclass(frozen=True)
class Ratings:
    count: int = 0
    mean: float | None = None
    high: int = 0  # rated 4 or 5

    @property
    def high_share(self) -> float | None:
        return self.high / self.count if self.count else None


@dataclass(frozen=True)
class MentorLoad:
    person: Person
    in_progress: int  # requests of the period still with the mentor
    resolved: int  # requests of the period the mentor resolved (closed ones included)
    first_answer: Durations  # from filing to the first answer, on the mentor's requests


@dataclass(frozen=True)
class MeetingFigures:
    held: int = 0  # meetings of the period that took place (begun, not cancelled)
    coming: int = 0  # "I'll come" answers to those meetings
    planned: int = 0  # meetings still to come (scheduled, not begun)


class ConsultationState(enum.StrEnum):
    """How a booked consultation went, as the figures and the export count it."""

    upcoming = "upcoming"  # booked, not ended yet
    held = "held"  # booked, ended, and not marked a no-show
    cancelled = "cancelled"
    no_show = "no_show"


def consultation_state(
    status: BookingStatus, ends_at: datetime, now: datetime
) -> ConsultationState:
    if status == BookingStatus.cancelled:
        return ConsultationState.cancelled
    if status == BookingStatus.no_show:
        return ConsultationState.no_show
    return ConsultationState.held if ends_at <= now else ConsultationState.upcoming


@dataclass(frozen=True)
class ConsultationCount:
    booked: int = 0  # every consultation booked for a moment of the period or ahead of it
    held: int = 0  # booked, ended, neither cancelled nor marked a no-show
    cancelled: int = 0
    no_show: int = 0
    planned: int = 0  # booked and not ended yet


@dataclass(frozen=True)
class ConsultationFigures:
    total: ConsultationCount = field(default_factory=ConsultationCount)
    by_mentor: list[tuple[Person, ConsultationCount]] = field(default_factory=list)
    by_topic: list[tuple[Topic | None, ConsultationCount]] = field(default_factory=list)


@dataclass(frozen=True)
class WeeklySeries:
    """Requests per week (Mondays in the period's zone) and topic, for the chart."""

    weeks: list[date] = field(default_factory=list)
    topics: list[Topic | None] = field(default_factory=list)
    counts: list[list[int]] = field(default_factory=list)  # per topic, per week

    @property
    def total(self) -> int:
        return sum(sum(row) for row in self.counts)


@dataclass(frozen=True)
class TriageFigures:
    """Requests of the period that went to general consultants first, and what became of them."""

    triaged: int = 0
    general: int = 0  # resolved by a general consultant, not passed on
    escalated: int = 0  # passed to a specialist
    specialist: int = 0  # passed to a specialist and resolved
    to_escalation: Durations = field(default_factory=Durations)

    @property
    def escalation_rate(self) -> float | None:
        return self.escalated / self.triaged if self.triaged else None


@dataclass(frozen=True)
class Stats:
    period: Period
    programmes: list[Programme]
    total: int
    by_status: dict[TicketStatus, int]
    by_topic: list[TopicCount]
    people_served: int
    to_claim: Durations
    to_first_answer: Durations
    to_resolution: Durations
    ratings: Ratings
    mentors: list[MentorLoad]
    meetings: MeetingFigures
    weekly: WeeklySeries
    consultations: ConsultationFigures = field(default_factory=ConsultationFigures)
    triage: TriageFigures = field(default_factory=TriageFigures)

    @property
    def empty(self) -> bool:
        return self.total == 0


RESOLVED = (TicketStatus.resolved, TicketStatus.closed)


def in_period(programme_ids: Sequence[int], period: Period) -> list[ColumnElement[bool]]:
    """The conditions selecting the requests filed in the period in these programmes."""
    conditions = [Ticket.programme_id.in_(programme_ids), Ticket.created_at < period.end]
    if period.start is not None:
        conditions.append(Ticket.created_at >= period.start)
    return conditions


def per_ticket(
    model: type[TicketEvent] | type[TicketAttachment],
    column: ColumnElement[Any],
    conditions: list[ColumnElement[bool]],
    *extra: ColumnElement[bool],
) -> Subquery:
    """One aggregate of a ticket's child rows per ticket of the cohort: ``ticket_id``, ``value``.

    Grouped once and joined, rather than a subquery per ticket: PostgreSQL then never picks
    a plan that walks the whole events table for each ticket, whatever its statistics say.
    """
    return (
        select(model.ticket_id.label("ticket_id"), column.label("value"))
        .where(model.ticket_id.in_(select(Ticket.id).where(*conditions)), *extra)
        .group_by(model.ticket_id)
        .subquery()
    )


def first_claims(conditions: list[ColumnElement[bool]]) -> Subquery:
    """When each ticket of the cohort first got a mentor: its first claim or assignment."""
    return per_ticket(
        TicketEvent,
        func.min(TicketEvent.created_at),
        conditions,
        TicketEvent.kind.in_([TicketEventKind.claimed, TicketEventKind.reassigned]),
    )


def first_claim_at(first: Subquery) -> ColumnElement[datetime]:
    """The first claim, else ``claimed_at`` (for a ticket whose history lacks it)."""
    return func.coalesce(first.c.value, Ticket.claimed_at)


def _seconds(value: Any) -> float | None:
    return None if value is None else float(round(float(value)))


@dataclass
class _Row:
    created_at: datetime
    topic_id: int | None
    assignee_id: int | None
    to_claim: float | None
    to_answer: float | None
    to_resolve: float | None


async def _rows(session: AsyncSession, conditions: list[ColumnElement[bool]]) -> list[_Row]:
    first = first_claims(conditions)
    result = await session.execute(
        select(
            Ticket.created_at,
            Ticket.topic_id,
            Ticket.assignee_id,
            seconds_between(Ticket.created_at, first_claim_at(first)),
            seconds_between(Ticket.created_at, Ticket.first_answer_at),
            seconds_between(Ticket.created_at, Ticket.resolved_at),
        )
        .outerjoin(first, first.c.ticket_id == Ticket.id)
        .where(*conditions)
    )
    return [
        _Row(created, topic, assignee, _seconds(claim), _seconds(answer), _seconds(resolve))
        for created, topic, assignee, claim, answer, resolve in result
    ]


async def _topics(session: AsyncSession, programme_ids: Sequence[int]) -> dict[int, Topic]:
    """The programmes' topics, archived ones too (old tickets keep theirs), by id."""
    result = await session.execute(
        select(Topic)
        .where(Topic.programme_id.in_(programme_ids))
        .order_by(Topic.programme_id, Topic.position, Topic.id)
    )
    return {topic.id: topic for topic in result.scalars()}


def _one_per_code(topics: dict[int, Topic]) -> dict[int, int]:
    """Topic id -> the id of the first topic with its code: the figures of several
    programmes count «legal» once, not once per programme."""
    first: dict[str, int] = {}
    for topic_id, topic in topics.items():
        first.setdefault(topic.code, topic_id)
    return {topic_id: first[topic.code] for topic_id, topic in topics.items()}


def _topic_order(topic: Topic | None) -> tuple[int, int]:
    return (1, 0) if topic is None else (0, topic.position * 1_000_000 + topic.id)


def week_starts(first: date, last: date) -> list[date]:
    """Mondays of the weeks from the one holding ``first`` to the one holding ``last``."""
    weeks: list[date] = []
    current = monday(first)
    while current <= last:
        weeks.append(current)
        current += timedelta(days=7)
    return weeks


def weekly_series(
    created: Sequence[tuple[datetime, int | None]], period: Period, topics: dict[int, Topic]
) -> WeeklySeries:
    days = [(local_date(at, period.zone), topic_id) for at, topic_id in created]
    if not days:
        return WeeklySeries()
    first = period.first_day or min(day for day, _topic in days)
    weeks = week_starts(first, period.last_day)
    index = {week: i for i, week in enumerate(weeks)}
    keys = sorted(
        {topic_id for _day_, topic_id in days}, key=lambda t: _topic_order(topics.get(t or 0))
    )
    row_of = {key: i for i, key in enumerate(keys)}
    counts = [[0] * len(weeks) for _ in keys]
    for day, topic_id in days:
        week = index.get(monday(day))
        if week is not None:
            counts[row_of[topic_id]][week] += 1
    return WeeklySeries(weeks, [topics.get(key or 0) for key in keys], counts)


async def weekly(
    session: AsyncSession, programme_ids: Sequence[int], period: Period
) -> WeeklySeries:
    """Only the chart's series, e.g. for a digest's longer view."""
    result = await session.execute(
        select(Ticket.created_at, Ticket.topic_id).where(*in_period(programme_ids, period))
    )
    topics = await _topics(session, programme_ids)
    same = _one_per_code(topics)
    return weekly_series(
        [(at, same.get(topic, topic) if topic else topic) for at, topic in result], period, topics
    )


async def collect(
    session: AsyncSession, programme_ids: Sequence[int], period: Period, now: datetime
) -> Stats:
    """Every figure of ``/stats`` for the programmes and the period."""
    conditions = in_period(programme_ids, period)
    programmes = list(
        (
            await session.execute(
                select(Programme).where(Programme.id.in_(programme_ids)).order_by(Programme.id)
            )
        ).scalars()
    )
    topics = await _topics(session, programme_ids)
    same = _one_per_code(topics)

    by_status = {
        TicketStatus(status): count
        for status, count in await session.execute(
            select(Ticket.status, func.count()).where(*conditions).group_by(Ticket.status)
        )
    }
    per_topic: dict[int | None, int] = {}
    for topic_id, count in await session.execute(
        select(Ticket.topic_id, func.count()).where(*conditions).group_by(Ticket.topic_id)
    ):
        key = same.get(topic_id, topic_id) if topic_id else None
        per_topic[key] = per_topic.get(key, 0) + count
    topic_counts = [TopicCount(topics.get(key or 0), count) for key, count in per_topic.items()]
    topic_counts.sort(key=lambda tc: (-tc.count, _topic_order(tc.topic)))
    people_served = (
        await session.execute(select(func.count(distinct(Ticket.author_id))).where(*conditions))
    ).scalar_one()
    rated, mean, high = (
        await session.execute(
            select(
                func.count(Ticket.rating),
                func.avg(Ticket.rating),
                func.coalesce(func.sum(case((Ticket.rating >= 4, 1), else_=0)), 0),
            ).where(*conditions)
        )
    ).one()
    rows = await _rows(session, conditions)

    return Stats(
        period=period,
        programmes=programmes,
        total=sum(by_status.values()),
        by_status=by_status,
        by_topic=topic_counts,
        people_served=int(people_served),
        to_claim=Durations.of([r.to_claim for r in rows if r.to_claim is not None]),
        to_first_answer=Durations.of([r.to_answer for r in rows if r.to_answer is not None]),
        to_resolution=Durations.of([r.to_resolve for r in rows if r.to_resolve is not None]),
        ratings=Ratings(
            count=int(rated), mean=None if mean is None else float(mean), high=int(high)
        ),
        mentors=await _mentor_loads(session, programme_ids, conditions, rows),
        meetings=await _meetings(session, programme_ids, period, now),
        weekly=weekly_series(
            [
                (r.created_at, same.get(r.topic_id, r.topic_id) if r.topic_id else None)
                for r in rows
            ],
            period,
            topics,
        ),
        consultations=await _consultations(session, programme_ids, period, now, topics, same),
        triage=await _triage(session, conditions),
    )


async def _triage(session: AsyncSession, conditions: list[ColumnElement[bool]]) -> TriageFigures:
    """General against specialist consultations among the requests that were triaged."""
    escalated = Ticket.escalated_at.is_not(None)
    resolved = Ticket.status.in_(RESOLVED)

    def count(condition: ColumnElement[bool]) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    triaged, general, passed, specialist = (
        await session.execute(
            select(
                func.count(),
                count(~escalated & resolved),
                count(escalated),
                count(escalated & resolved),
            ).where(*conditions, Ticket.triage.is_(True))
        )
    ).one()
    if not triaged:
        return TriageFigures()
    seconds = (
        await session.execute(
            select(seconds_between(Ticket.created_at, Ticket.escalated_at)).where(
                *conditions, Ticket.triage.is_(True), escalated
            )
        )
    ).scalars()
    return TriageFigures(
        triaged=int(triaged),
        general=int(general),
        escalated=int(passed),
        specialist=int(specialist),
        to_escalation=Durations.of([s for s in map(_seconds, seconds) if s is not None]),
    )


async def _consultations(
    session: AsyncSession,
    programme_ids: Sequence[int],
    period: Period,
    now: datetime,
    topics: dict[int, Topic],
    same: dict[int, int],
) -> ConsultationFigures:
    """Consultations booked for moments of the period or ahead, by how they went (or that they
    are still to come), mentor and topic."""
    query = (
        select(Booking.mentor_id, Ticket.topic_id, Booking.status, Booking.ends_at)
        .join(Ticket, Ticket.id == Booking.ticket_id)
        .where(Ticket.programme_id.in_(programme_ids), *at_or_ahead(Booking.starts_at, period))
    )
    total = [0, 0, 0, 0, 0]
    per_mentor: dict[int, list[int]] = {}
    per_topic: dict[int | None, list[int]] = {}
    for mentor_id, topic_id, status, ends_at in await session.execute(query):
        state = consultation_state(status, ends_at, now)
        row = [1, int(state == ConsultationState.held),
               int(state == ConsultationState.cancelled),
               int(state == ConsultationState.no_show),
               int(state == ConsultationState.upcoming)]  # fmt: skip
        total = _add(total, row)
        per_mentor[mentor_id] = _add(per_mentor.get(mentor_id, [0] * len(row)), row)
        key = same.get(topic_id, topic_id) if topic_id else None
        per_topic[key] = _add(per_topic.get(key, [0] * len(row)), row)
    if not total[0]:
        return ConsultationFigures()
    people = {
        p.id: p
        for p in (
            await session.execute(select(Person).where(Person.id.in_(list(per_mentor))))
        ).scalars()
    }
    by_mentor = sorted(
        (
            (people[key], ConsultationCount(*row))
            for key, row in per_mentor.items()
            if key in people
        ),
        key=lambda pair: (-pair[1].booked, pair[0].display_name),
    )
    by_topic = sorted(
        (
            (topics.get(key) if key is not None else None, ConsultationCount(*row))
            for key, row in per_topic.items()
        ),
        key=lambda pair: (-pair[1].booked, _topic_order(pair[0])),
    )
    return ConsultationFigures(ConsultationCount(*total), by_mentor, by_topic)


def _add(a: list[int], b: list[int]) -> list[int]:
    return [x + y for x, y in zip(a, b, strict=True)]


async def _mentor_loads(
    session: AsyncSession,
    programme_ids: Sequence[int],
    conditions: list[ColumnElement[bool]],
    rows: list[_Row],
) -> list[MentorLoad]:
    """Every active mentor of the programmes, and anyone else who held a request of the period."""
    counts: dict[int, dict[TicketStatus, int]] = {}
    for person_id, status, count in await session.execute(
        select(Ticket.assignee_id, Ticket.status, func.count())
        .where(*conditions, Ticket.assignee_id.is_not(None))
        .group_by(Ticket.assignee_id, Ticket.status)
    ):
        if person_id is not None:
            counts.setdefault(person_id, {})[TicketStatus(status)] = count
    mentor_ids = set(
        (
            await session.execute(
                select(Role.person_id).where(
                    Role.programme_id.in_(programme_ids),
                    Role.kind == RoleKind.mentor,
                    Role.active.is_(True),
                )
            )
        ).scalars()
    )
    wanted = mentor_ids | set(counts)
    if not wanted:
        return []
    people = (await session.execute(select(Person).where(Person.id.in_(wanted)))).scalars()
    answers: dict[int, list[float]] = {}
    for row in rows:
        if row.assignee_id is not None and row.to_answer is not None:
            answers.setdefault(row.assignee_id, []).append(row.to_answer)
    loads = [
        MentorLoad(
            person=person,
            in_progress=counts.get(person.id, {}).get(TicketStatus.claimed, 0),
            resolved=sum(counts.get(person.id, {}).get(status, 0) for status in RESOLVED),
            first_answer=Durations.of(answers.get(person.id, [])),
        )
        for person in people
    ]
    loads.sort(key=lambda m: (-m.resolved, -m.in_progress, m.person.display_name.lower()))
    return loads


async def _meetings(
    session: AsyncSession, programme_ids: Sequence[int], period: Period, now: datetime
) -> MeetingFigures:
    held = select(Meeting.id).where(
        Meeting.programme_id.in_(programme_ids),
        Meeting.status != MeetingStatus.cancelled,
        Meeting.starts_at < min(period.end, now),
    )
    if period.start is not None:
        held = held.where(Meeting.starts_at >= period.start)
    count = (await session.execute(select(func.count()).select_from(held.subquery()))).scalar_one()
    coming = (
        await session.execute(
            select(func.count()).where(Rsvp.meeting_id.in_(held), Rsvp.coming.is_(True))
        )
    ).scalar_one()
    planned = await session.scalar(
        select(func.count()).where(
            Meeting.programme_id.in_(programme_ids),
            Meeting.status == MeetingStatus.scheduled,
            Meeting.starts_at >= now,
            *at_or_ahead(Meeting.starts_at, period),
        )
    )
    return MeetingFigures(held=int(count), coming=int(coming), planned=int(planned or 0))
