"""A mentor's office hours: weekly stretches in their own zone, and days off."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey
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
