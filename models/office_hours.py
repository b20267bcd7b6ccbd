"""A mentor's office hours (weekly stretches in their own zone, days off) and bookings."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Enum, ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class OfficeHours(Base):
    """One weekday's stretch of a mentor's hours, as wall-clock minutes in the mentor's zone
    (the zone is the person's own: hours follow it when it changes, as the mentor's day does).
    """

    __tablename__ = "office_hours"
    __table_args__ = (
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday"),
        CheckConstraint("starts_minute < ends_minute", name="stretch"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    weekday: Mapped[int]  # Monday is 0
    starts_minute: Mapped[int]  # minutes after midnight
    ends_minute: Mapped[int]  # up to 1440, the end of the day
    slot_minutes: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OfficeHoursOff(Base):
    """Days (in the mentor's zone, both included) on which a mentor's hours do not hold."""

    __tablename__ = "office_hours_off"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    first_day: Mapped[date]
    last_day: Mapped[date]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BookingStatus(enum.StrEnum):
    booked = "booked"  # held, once it has ended
    cancelled = "cancelled"
    no_show = "no_show"  # the activist did not come, as the mentor marked it


class Booking(Base):
    """An activist's consultation in a mentor's slot, with the meeting it made.

    ``live`` is true while the booking holds its slot and NULL once it no longer does: the
    unique (mentor, start, live) lets one live booking per slot exist, however many presses
    race for it, on any database, and any number of cancelled ones beside it.
    """

    __tablename__ = "bookings"
    __table_args__ = (UniqueConstraint("mentor_id", "starts_at", "live"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    mentor_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    activist_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    # Indexed: a meeting's change (cancel, move, no-show) finds its booking by it.
    meeting_id: Mapped[int | None] = mapped_column(
        ForeignKey("meetings.id", ondelete="SET NULL"), index=True
    )
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    status: Mapped[BookingStatus] = mapped_column(
        Enum(BookingStatus, native_enum=False, length=16, validate_strings=True),
        default=BookingStatus.booked,
    )
    live: Mapped[bool | None] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
