"""Weekly digests already taken for sending: one row per coordinator, programme and week."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class WeeklyDigest(Base):
    """A coordinator's digest of one programme for the week starting ``week_start``.

    The row is inserted before anything is sent and its primary key makes a second insert
    fail, so a digest goes out once per week whatever restarts or replicas there are.
    """

    __tablename__ = "weekly_digests"

    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    programme_id: Mapped[int] = mapped_column(
        ForeignKey("programmes.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    # Monday of the reported week, in the coordinator's zone.
    week_start: Mapped[date] = mapped_column(Date, primary_key=True)
    taken_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set once the digest was handed to Telegram; None if there was nothing to report.
    sent_at: Mapped[datetime | None]
