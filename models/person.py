"""People the bot knows and the roles they hold in programmes."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Column, Enum, ForeignKey, Index, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import ID, Base, utcnow
from models.topic import Topic

if TYPE_CHECKING:
    from models.profile import Profile


class RoleKind(enum.StrEnum):
    activist = "activist"
    mentor = "mentor"
    coordinator = "coordinator"


class Person(Base):
    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    telegram_id: Mapped[int] = mapped_column(unique=True)
    first_name: Mapped[str] = mapped_column(String(255), default="")
    last_name: Mapped[str | None] = mapped_column(String(255))
    username: Mapped[str | None] = mapped_column(String(64))
    telegram_language: Mapped[str | None] = mapped_column(String(16))
    # Chosen with /lang; overrides the language Telegram reports.
    language: Mapped[str | None] = mapped_column(String(8))
    timezone: Mapped[str | None] = mapped_column(String(64))
    # Whether the bot may write to the person in private: set when they open the bot,
    # cleared when Telegram answers 403.
    private_chat_open: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the person was last told they are over the requests cap (told once an hour).
    capped_notice_at: Mapped[datetime | None]
    # When the person's names and everything they wrote were erased (/forget); names given
    # again later (they wrote to the bot once more) are theirs anew.
    erased_at: Mapped[datetime | None]

    roles: Mapped[list[Role]] = relationship(
        back_populates="person",
        lazy="selectin",
        cascade="all, delete-orphan",
        foreign_keys="Role.person_id",
    )
    # Read with the person by every update (``bot.domain.people``), never loaded on its own:
    # whether they were asked their town costs no query of its own.
    profile: Mapped[Profile | None] = relationship(lazy="raise", viewonly=True)

    @property
    def display_name(self) -> str:
        return display_name(self.first_name, self.last_name, self.username, self.telegram_id)


def display_name(
    first_name: str, last_name: str | None, username: str | None, telegram_id: int
) -> str:
    """How a person is named to others: their names, else their @username, else their id."""
    full = " ".join(part for part in (first_name, last_name) if part)
    return full or (f"@{username}" if username else str(telegram_id))


role_topics = Table(
    "role_topics",
    Base.metadata,
    Column("role_id", ID, ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
    Column("topic_id", ID, ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True),
    # A topic's mentors are found from it (matching, for every new request).
    Index("ix_role_topics_topic_id", "topic_id"),
)


class Role(Base):
    """A person's role in one programme; a mentor's role carries topics and capacity."""

    __tablename__ = "roles"
    __table_args__ = (UniqueConstraint("person_id", "programme_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    programme_id: Mapped[int] = mapped_column(
        ForeignKey("programmes.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[RoleKind] = mapped_column(
        Enum(RoleKind, native_enum=False, length=16, validate_strings=True)
    )
    active: Mapped[bool] = mapped_column(default=True)
    capacity: Mapped[int | None]
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))

    person: Mapped[Person] = relationship(back_populates="roles", foreign_keys=[person_id])
    topics: Mapped[list[Topic]] = relationship(secondary=role_topics, lazy="selectin")
