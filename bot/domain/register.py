"""Who is reached: a person's town and organisation, the programmes' register of people, and
the people reached in a period counted by town and organisation.

A programme's people are those with an activist role in it or a request filed in it. Towns
and organisations are written as people type them, cleaned so that «г. Стаханов» and
«Стаханов» are one town, and matched to a spelling the programme already has.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, CompoundSelect, func, inspect, select, union
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from bot.domain import audit
from bot.domain.errors import InvalidInput
from bot.domain.stats import ConsultationState, Period, consultation_state, in_period
from models import (
    AuditAction,
    Booking,
    Meeting,
    MeetingStatus,
    Person,
    Profile,
    Role,
    RoleKind,
    Rsvp,
    Ticket,
    Topic,
)

TOWN_LIMIT = 100
ORGANISATION_LIMIT = 200
# How many towns or organisations the question offers as buttons.
OFFERED = 6

# Words people put before a town's name: «г. Стаханов», «город Стаханов», «пгт Луганское»,
# «с. Каменка», «м. Стаханов» (Ukrainian «місто»), «miasto Łódź». Only before the name.
_TOWN_PREFIX = re.compile(
    r"^(?:г\.|г(?=\s)|гор\.|город|пгт\.?|посёлок|поселок|пос\.|п\.|с\.|село|м\.|місто"
    r"|miasto|m\.|wieś|city of|town of)\s*",
    re.IGNORECASE,
)
_SPACES = re.compile(r"\s+")
_QUOTES = str.maketrans("", "", "«»\"“”„'")


class EmptyAnswer(InvalidInput):
    """Nothing left of the answer once cleaned."""


def _clean(text: str, limit: int) -> str:
    return _SPACES.sub(" ", text).strip()[:limit].strip()


def town_name(text: str) -> str:
    """A town as typed, without «г.», «город», «пгт» and the like, spaces collapsed, the first
    letter capital: «  г.  стаханов » -> «Стаханов»."""
    cleaned = _clean(text, TOWN_LIMIT * 2)
    while True:
        stripped = _TOWN_PREFIX.sub("", cleaned, count=1).strip()
        if stripped == cleaned:
            break
        cleaned = stripped
    cleaned = cleaned.strip(" .,;")[:TOWN_LIMIT]
    if not cleaned:
        raise EmptyAnswer("no town in the answer")
    return cleaned[0].upper() + cleaned[1:]


def organisation_name(text: str) -> str:
    cleaned = _clean(text, ORGANISATION_LIMIT).strip(" .,;")
    if not cleaned:
        raise EmptyAnswer("no organisation in the answer")
    return cleaned


def _key(name: str) -> str:
    return _SPACES.sub(" ", name.translate(_QUOTES)).strip().casefold().replace("ё", "е")


def same_as_known(name: str, known: Sequence[str]) -> str:
    """The spelling the programme already has for this name, else the name itself."""
    key = _key(name)
    return next((k for k in known if _key(k) == key), name)


# --- a programme's people ---------------------------------------------------------------------


def members(programme_ids: Sequence[int]) -> CompoundSelect[int]:
    """The ids of the programmes' people: activists of them and authors of their requests."""
    return (
        select(Role.person_id.label("person_id"))
        .where(Role.programme_id.in_(programme_ids), Role.kind == RoleKind.activist)
        .union(
            select(Ticket.author_id.label("person_id")).where(
                Ticket.programme_id.in_(programme_ids)
            )
        )
    )


async def person_programmes(session: AsyncSession, person_id: int) -> list[int]:
    """The programmes a person belongs to as an activist or an author of requests."""
    query = union(
        select(Role.programme_id.label("programme_id")).where(
            Role.person_id == person_id, Role.kind == RoleKind.activist
        ),
        select(Ticket.programme_id.label("programme_id")).where(Ticket.author_id == person_id),
    )
    return sorted({int(pid) for pid in (await session.execute(query)).scalars()})


async def known_towns(
    session: AsyncSession, programme_ids: Sequence[int], limit: int | None = None
) -> list[str]:
    return await _known(session, Profile.town, programme_ids, limit)


async def known_organisations(
    session: AsyncSession, programme_ids: Sequence[int], limit: int | None = None
) -> list[str]:
    return await _known(session, Profile.organisation, programme_ids, limit)


async def _known(
    session: AsyncSession,
    column: InstrumentedAttribute[str | None],
    programme_ids: Sequence[int],
    limit: int | None,
) -> list[str]:
    """The answers the programmes' people gave, the most frequent first."""
    if not programme_ids:
        return []
    ids = members(programme_ids).subquery()
    query = (
        select(column, func.count())
        .where(Profile.person_id.in_(select(ids.c.person_id)), column.is_not(None))
        .group_by(column)
        .order_by(func.count().desc(), column)
    )
    if limit is not None:
        query = query.limit(limit)
    return [str(name) for name, _count in await session.execute(query)]


# --- a person's profile -----------------------------------------------------------------------


async def profile_of(session: AsyncSession, person_id: int) -> Profile | None:
    return await session.get(Profile, person_id)


async def begin_asking(session: AsyncSession, person: Person, now: datetime) -> bool:
    """Note that the person is being asked; False when they were asked before (or answered
    through ``/profile``), so they are asked once."""
    loaded = inspect(person).dict  # a person read by an update comes with their profile
    known = loaded["profile"] if "profile" in loaded else await profile_of(session, person.id)
    if known is not None:
        return False
    session.add(Profile(person_id=person.id, asked_at=now))
    await session.flush()
    return True


async def _own(session: AsyncSession, person: Person, now: datetime) -> Profile:
    found = await profile_of(session, person.id)
    if found is None:
        found = Profile(person_id=person.id, asked_at=now)
        session.add(found)
    return found


async def set_town(session: AsyncSession, person: Person, text: str, now: datetime) -> str:
    """Store the person's town, spelt as their programmes already spell it; raises
    ``EmptyAnswer`` for an answer with no town in it."""
    name = town_name(text)
    known = await known_towns(session, await person_programmes(session, person.id))
    profile = await _own(session, person, now)
    profile.town = same_as_known(name, known)
    profile.updated_at = now
    return profile.town


async def set_organisation(session: AsyncSession, person: Person, text: str, now: datetime) -> str:
    name = organisation_name(text)
    known = await known_organisations(session, await person_programmes(session, person.id))
    profile = await _own(session, person, now)
    profile.organisation = same_as_known(name, known)
    profile.updated_at = now
    return profile.organisation


async def skip(session: AsyncSession, person: Person, now: datetime) -> None:
    """The person would rather not say: they are not asked again."""
    profile = await _own(session, person, now)
    profile.skipped = True
    profile.updated_at = now


# --- the register -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RegisterFilter:
    """Whom ``/people`` lists: everyone, or those of a town, an organisation or a topic."""

    town: str | None = None
    organisation: str | None = None
    topic: str | None = None  # a topic code

    @property
    def token(self) -> str:
        """The filter as its audit entry records it (at most 40 characters)."""
        for kind, value in (("t", self.town), ("o", self.organisation), ("c", self.topic)):
            if value:
                return f"{kind}:{value}"[:40]
        return ""


class UnknownFilter(InvalidInput):
    """The words after ``/people`` name no town, organisation or topic of the programmes."""


_TOWN_WORDS = {"town", "city", "город", "г.", "miasto"}
_ORGANISATION_WORDS = {"organisation", "organization", "org", "организация", "орг", "organizacja"}
_TOPIC_WORDS = {"topic", "тема", "temat"}


async def parse_filter(
    session: AsyncSession, programme_ids: Sequence[int], text: str | None
) -> RegisterFilter:
    """``/people``, ``/people legal``, ``/people town Стаханов``, ``/people Стаханов``,
    ``/people организация Луч``: a filter, or ``UnknownFilter``."""
    words = _clean(text or "", 300)
    if not words:
        return RegisterFilter()
    first, _sep, rest = words.partition(" ")
    kind = first.casefold()
    codes = {
        code.casefold(): code
        for code in (
            await session.execute(
                select(Topic.code).where(Topic.programme_id.in_(programme_ids)).distinct()
            )
        ).scalars()
    }
    towns = await known_towns(session, programme_ids)
    organisations = await known_organisations(session, programme_ids)
    if kind in _TOPIC_WORDS and rest.casefold() in codes:
        return RegisterFilter(topic=codes[rest.casefold()])
    if kind in _TOWN_WORDS and rest:
        return _found(RegisterFilter, "town", same_as_known(town_name(rest), towns), towns)
    if kind in _ORGANISATION_WORDS and rest:
        name = same_as_known(organisation_name(rest), organisations)
        return _found(RegisterFilter, "organisation", name, organisations)
    if words.casefold().lstrip("#") in codes:
        return RegisterFilter(topic=codes[words.casefold().lstrip("#")])
    try:
        town = same_as_known(town_name(words), towns)
    except EmptyAnswer:
        town = ""
    if town in towns:
        return RegisterFilter(town=town)
    organisation = same_as_known(words, organisations)
    if organisation in organisations:
        return RegisterFilter(organisation=organisation)
    raise UnknownFilter(words)


def _found(
    kind: type[RegisterFilter], field: str, name: str, known: Sequence[str]
) -> RegisterFilter:
    if name not in known:
        raise UnknownFilter(name)
    return kind(**{field: name})


@dataclass(frozen=True)
class RegisterEntry:
    """One person of the register, with what they got from the programmes."""

    person: Person
    town: str | None
    organisation: str | None
    requests: int
    consultations: int  # booked and not cancelled
    meetings: int  # held meetings they said they would come to
    last_contact: datetime | None


async def register(
    session: AsyncSession,
    programme_ids: Sequence[int],
    chosen: RegisterFilter,
    now: datetime,
) -> list[RegisterEntry]:
    """The programmes' people who match the filter, the most recently in touch first."""
    ids = members(programme_ids).subquery()
    query = (
        select(Person, Profile.town, Profile.organisation)
        .outerjoin(Profile, Profile.person_id == Person.id)
        .where(Person.id.in_(select(ids.c.person_id)))
    )
    if chosen.town:
        query = query.where(Profile.town == chosen.town)
    if chosen.organisation:
        query = query.where(Profile.organisation == chosen.organisation)
    if chosen.topic:
        query = query.where(
            Person.id.in_(
                select(Ticket.author_id)
                .join(Topic, Topic.id == Ticket.topic_id)
                .where(Ticket.programme_id.in_(programme_ids), Topic.code == chosen.topic)
            )
        )
    people = list((await session.execute(query)).all())
    if not people:
        return []
    wanted = [person.id for person, _town, _organisation in people]
    requests: dict[int, tuple[int, datetime | None]] = {
        author: (count, last)
        for author, count, last in await session.execute(
            select(Ticket.author_id, func.count(), func.max(Ticket.created_at))
            .where(Ticket.programme_id.in_(programme_ids), Ticket.author_id.in_(wanted))
            .group_by(Ticket.author_id)
        )
    }
    consultations: Counter[int] = Counter()
    last_booked: dict[int, datetime] = {}
    for activist, status, starts_at, ends_at in await session.execute(
        select(Booking.activist_id, Booking.status, Booking.starts_at, Booking.ends_at)
        .join(Ticket, Ticket.id == Booking.ticket_id)
        .where(Ticket.programme_id.in_(programme_ids), Booking.activist_id.in_(wanted))
    ):
        if consultation_state(status, ends_at, now) != ConsultationState.cancelled:
            consultations[activist] += 1
            if starts_at <= now:
                last_booked[activist] = max(starts_at, last_booked.get(activist, starts_at))
    attended: Counter[int] = Counter()
    last_met: dict[int, datetime] = {}
    for person_id, starts_at in await session.execute(
        select(Rsvp.person_id, Meeting.starts_at)
        .join(Meeting, Meeting.id == Rsvp.meeting_id)
        .where(*_held(programme_ids, now), Rsvp.coming.is_(True), Rsvp.person_id.in_(wanted))
    ):
        attended[person_id] += 1
        last_met[person_id] = max(starts_at, last_met.get(person_id, starts_at))
    entries = []
    for person, town, organisation in people:
        count, last_request = requests.get(person.id, (0, None))
        moments = [
            m for m in (last_request, last_booked.get(person.id), last_met.get(person.id)) if m
        ]
        entries.append(
            RegisterEntry(
                person=person,
                town=town,
                organisation=organisation,
                requests=int(count),
                consultations=consultations[person.id],
                meetings=attended[person.id],
                last_contact=max(moments) if moments else None,
            )
        )
    entries.sort(key=lambda e: (e.last_contact is None, -(e.last_contact or now).timestamp(),
                                e.person.display_name.casefold()))  # fmt: skip
    return entries


def _held(programme_ids: Sequence[int], now: datetime) -> list[ColumnElement[bool]]:
    return [
        Meeting.programme_id.in_(programme_ids),
        Meeting.status != MeetingStatus.cancelled,
        Meeting.starts_at < now,
    ]


def record_view(
    session: AsyncSession,
    actor_id: int,
    programme_ids: Sequence[int],
    chosen: RegisterFilter,
    shown: int,
    now: datetime,
) -> None:
    """One audit entry per programme whose register was read, so each trail shows it."""
    for programme_id in programme_ids:
        audit.record(
            session,
            AuditAction.register_viewed,
            now,
            actor_id=actor_id,
            programme_id=programme_id,
            details={"filter": chosen.token, "people": shown},
        )


# --- people reached, for the report -----------------------------------------------------------


@dataclass(frozen=True)
class Reached:
    """People reached in a period: those who filed a request, or came to a meeting held then."""

    total: int = 0
    by_town: list[tuple[str | None, int]] = field(default_factory=list)
    by_organisation: list[tuple[str | None, int]] = field(default_factory=list)


async def reached(
    session: AsyncSession, programme_ids: Sequence[int], period: Period, now: datetime
) -> Reached:
    authors = select(Ticket.author_id.label("person_id")).where(*in_period(programme_ids, period))
    held = _held(programme_ids, min(now, period.end))
    if period.start is not None:
        held.append(Meeting.starts_at >= period.start)
    attendees = (
        select(Rsvp.person_id.label("person_id"))
        .join(Meeting, Meeting.id == Rsvp.meeting_id)
        .where(*held, Rsvp.coming.is_(True))
    )
    ids = union(authors, attendees).subquery()
    rows = list(
        await session.execute(
            select(ids.c.person_id, Profile.town, Profile.organisation).outerjoin(
                Profile, Profile.person_id == ids.c.person_id
            )
        )
    )
    if not rows:
        return Reached()
    towns = Counter(town for _id, town, _organisation in rows)
    organisations = Counter(organisation for _id, _town, organisation in rows)
    return Reached(total=len(rows), by_town=_ranked(towns), by_organisation=_ranked(organisations))


def _ranked(counts: Counter[str | None]) -> list[tuple[str | None, int]]:
    """Most first, by name among equals; «not given» last."""
    return sorted(counts.items(), key=lambda p: (p[0] is None, -p[1], (p[0] or "").casefold()))
