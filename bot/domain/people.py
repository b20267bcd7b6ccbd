"""Keeping the people table in step with who Telegram says is writing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVarTuple

from sqlalchemy import BigInteger, Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import contains_eager

from bot.domain.matching import note_reachable
from bot.languages import LANGUAGES, spoken
from bot.time.zones import normalize_zone
from models import GroupChat, Person, Profile, Programme, Role, RoleKind, Topic, role_topics

# Seen-at is refreshed at most this often, so a busy chat does not rewrite the row each message.
_SEEN_RESOLUTION = timedelta(minutes=5)


@dataclass(frozen=True)
class Identity:
    """What Telegram tells about a user, copied out of aiogram's types at the edge."""

    telegram_id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None


async def find_person(session: AsyncSession, telegram_id: int) -> Person | None:
    """The person with their roles and the roles' topics, in one query (every update asks)."""
    result = await session.execute(_FIND_PERSON, {"telegram_id": telegram_id})
    return result.unique().scalar_one_or_none()


# The person's roles and their topics, joined one table after another. A joined load of
# ``Role.topics`` nests ``(role_topics JOIN topics)`` inside the outer join, and SQLite then
# builds that join for every role of every person before it looks for this one: each
# update cost time in proportion to all the mentors' topics (3,000 mentors: 35 ms from a
# group, 130 ms in private). Flat, each step is an index lookup.
_Columns = TypeVarTuple("_Columns")
_ROLES_AND_TOPICS = contains_eager(Person.roles).contains_eager(Role.topics)
_PROFILE = contains_eager(Person.profile)


def _with_roles(query: Select[*_Columns]) -> Select[*_Columns]:
    return (
        query.outerjoin(Role, Role.person_id == Person.id)
        .outerjoin(role_topics, role_topics.c.role_id == Role.id)
        .outerjoin(Topic, Topic.id == role_topics.c.topic_id)
        .outerjoin(Profile, Profile.person_id == Person.id)
        .options(_ROLES_AND_TOPICS, _PROFILE)
    )


# Built once: the hottest query there is. Building a statement and its cache key each time
# costs as much as running it.
_FIND_PERSON = _with_roles(select(Person)).where(Person.telegram_id == bindparam("telegram_id"))


async def find_person_in_group(
    session: AsyncSession, telegram_id: int, chat_telegram_id: int
) -> tuple[Person | None, GroupChat | None, Programme | None]:
    """The person as ``find_person`` reads them, the group they write in and the programme it
    is registered to: each None when unknown. One query for every update from a group."""
    result = await session.execute(
        _PERSON_IN_GROUP, {"telegram_id": telegram_id, "chat_id": chat_telegram_id}
    )
    found = result.unique().first()
    if found is None:
        return None, None, None
    return found[0], found[1], found[2]


# Outer joins from the pair of ids, so a person or a group not known yet comes back as None.
# Built once: building a statement and its cache key costs as much as running it.
_PAIR = select(
    bindparam("telegram_id", type_=BigInteger).label("telegram_id"),
    bindparam("chat_id", type_=BigInteger).label("chat_id"),
).subquery("pair")
_PERSON_IN_GROUP = (
    _with_roles(
        select(Person, GroupChat, Programme)
        .select_from(_PAIR)
        .outerjoin(Person, Person.telegram_id == _PAIR.c.telegram_id)
    )
    .outerjoin(GroupChat, GroupChat.telegram_id == _PAIR.c.chat_id)
    .outerjoin(Programme, Programme.id == GroupChat.programme_id)
)


async def upsert_person(
    session: AsyncSession, identity: Identity, now: datetime, *, private: bool = False
) -> Person:
    """Create the person or refresh their names; ``private`` marks that they opened the bot."""
    found = await find_person(session, identity.telegram_id)
    return await update_person(session, found, identity, now, private=private)


async def update_person(
    session: AsyncSession,
    person: Person | None,
    identity: Identity,
    now: datetime,
    *,
    private: bool = False,
) -> Person:
    """What ``upsert_person`` does with the person it found (None: not known yet)."""
    if person is None:
        person = Person(
            telegram_id=identity.telegram_id,
            first_name=identity.first_name,
            last_name=identity.last_name,
            username=identity.username,
            telegram_language=identity.language_code,
            private_chat_open=private,
            created_at=now,
            last_seen_at=now,
            roles=[],
        )
        session.add(person)
        await session.flush()
        return person
    changes = {
        "first_name": identity.first_name,
        "last_name": identity.last_name,
        "username": identity.username,
        "telegram_language": identity.language_code,
    }
    for name, value in changes.items():
        if getattr(person, name) != value:
            setattr(person, name, value)
    if private and not person.private_chat_open:
        # They opened the bot (again): cards reach them, and coordinators would hear anew
        # should Telegram refuse them later.
        person.private_chat_open = True
        await note_reachable(session, person.id)
    if now - person.last_seen_at > _SEEN_RESOLUTION:
        person.last_seen_at = now
    return person


class Speaker(Protocol):
    """Whoever the bot writes to: a person's row, or a mentor as matching reads them."""

    @property
    def id(self) -> int: ...

    @property
    def language(self) -> str | None: ...

    @property
    def telegram_language(self) -> str | None: ...


def language_of(person: Speaker | None, default: str) -> str:
    """The person's chosen language, else Telegram's if we have it, else the default."""
    if person is None:
        return default
    if person.language in LANGUAGES:
        return person.language
    return spoken(person.telegram_language) or default


def set_language(person: Person, language: str) -> None:
    if language not in LANGUAGES:
        raise ValueError(language)
    person.language = language


def set_timezone(person: Person, text: str) -> str:
    """Store the person's zone; raises ``UnknownZoneError`` for text that names none."""
    person.timezone = normalize_zone(text)
    return person.timezone


async def ensure_role(
    session: AsyncSession,
    person: Person,
    programme_id: int,
    kind: RoleKind,
    *,
    granted_by_id: int | None = None,
    now: datetime,
) -> Role:
    """Give the person the role (reactivating it if it was withdrawn) and return it."""
    for role in person.roles:
        if role.programme_id == programme_id and role.kind == kind:
            role.active = True
            return role
    role = Role(
        person_id=person.id,
        programme_id=programme_id,
        kind=kind,
        active=True,
        granted_by_id=granted_by_id,
        granted_at=now,
        topics=[],
    )
    person.roles.append(role)
    await session.flush()
    return role
