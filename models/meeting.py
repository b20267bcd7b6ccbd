"""Scheduled video conferences and ticket calls: audience, RSVPs and one reminder per offset."""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, synonym

from models.base import Base, utcnow


class MeetingStatus(enum.StrEnum):
    scheduled = "scheduled"
    cancelled = "cancelled"
    done = "done"


class Meeting(Base):
    """A conference called by a coordinator, or a call a mentor set up for one ticket.

    Its id is the number people use in ``/cancel_meeting 7``; ``uid`` stays the same when the
    meeting moves, so calendars update the event instead of adding a second one.
    """

    __tablename__ = "meetings"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    uid: Mapped[str] = mapped_column(String(64), unique=True)
    programme_id: Mapped[int] = mapped_column(
        ForeignKey("programmes.id", ondelete="CASCADE"), index=True
    )
    # Set for a call about one ticket; its audience is then the ticket's author.
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime] = mapped_column(index=True)
    duration_minutes: Mapped[int] = mapped_column(Integer)
    # The zone the time was given in (canonical name), shown next to the chat's own zone.
    zone: Mapped[str] = mapped_column(String(64))
    video_url: Mapped[str] = mapped_column(String(512))
    status: Mapped[MeetingStatus] = mapped_column(
        Enum(MeetingStatus, native_enum=False, length=16, validate_strings=True),
        default=MeetingStatus.scheduled,
        index=True,
    )
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Bumped on every change, as iCalendar's SEQUENCE, so calendars take the newer version.
    revision: Mapped[int] = mapped_column(Integer, default=0)
    cancelled_at: Mapped[datetime | None]

    audience: Mapped[list[MeetingAudience]] = relationship(
        lazy="selectin", order_by="MeetingAudience.id", cascade="all, delete-orphan"
    )

    number = synonym("id")

    @property
    def duration(self) -> timedelta:
        return timedelta(minutes=self.duration_minutes)

    @property
    def ends_at(self) -> datetime:
        return self.starts_at + self.duration


class MeetingAudience(Base):
    """Where a meeting is announced: a group chat, or one person (a ticket's author)."""

    __tablename__ = "meeting_audiences"
    __table_args__ = (
        CheckConstraint("(group_id IS NULL) <> (person_id IS NULL)", name="group_or_person"),
        UniqueConstraint("meeting_id", "group_id"),
        UniqueConstraint("meeting_id", "person_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    meeting_id: Mapped[int] = mapped_column(
        ForeignKey("meetings.id", ondelete="CASCADE"), index=True
    )
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("group_chats.id", ondelete="CASCADE"), index=True
    )
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), index=True
    )
    # The announcement with the RSVP buttons, edited as answers come in; until Telegram has it,
    # the outbox row that sends it.
    announcement_message_id: Mapped[int | None]
    announcement_outbox_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbox_messages.id", ondelete="SET NULL")
    )


class Rsvp(Base):
    """A person's answer to "will you come?"; the latest answer replaces the earlier one."""

    __tablename__ = "meeting_rsvps"

    meeting_id: Mapped[int] = mapped_column(
        ForeignKey("meetings.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    coming: Mapped[bool] = mapped_column(Boolean)
    answered_at: Mapped[datetime] = mapped_column(default=utcnow)


class Reminder(Base):
    """One reminder of a meeting, due ``offset_seconds`` before it starts.

    ``sent_at`` is taken with a conditional UPDATE before anything is sent, so whichever bot
    process gets there first sends it and every other one sees it already taken. A reminder
    that could not go out in time (the meeting had begun) is marked ``skipped``.
    """

    __tablename__ = "meeting_reminders"
    __table_args__ = (
        UniqueConstraint("meeting_id", "offset_seconds"),
        # The start-up rebuild and the sweep look for unsent reminders due before a moment.
        Index("ix_meeting_reminders_pending", "sent_at", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    meeting_id: Mapped[int] = mapped_column(
        ForeignKey("meetings.id", ondelete="CASCADE"), index=True
    )
    offset_seconds: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    skipped: Mapped[bool] = mapped_column(Boolean, default=False)
