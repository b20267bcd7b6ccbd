"""What a person says of themselves for the programmes' register: their town and organisation."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class Profile(Base):
    """One per person, written when they are first asked (after their first request).

    One town and one organisation per person, not per programme: a person lives in one town,
    and a second programme asking again would only annoy them. Empty answers stay None; a
    person who pressed «Skip» is not asked again (``skipped``), but may still use ``/profile``.
    """

    __tablename__ = "profiles"

    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )
    town: Mapped[str | None] = mapped_column(String(100), index=True)
    organisation: Mapped[str | None] = mapped_column(String(200))
    asked_at: Mapped[datetime] = mapped_column(default=utcnow)
    skipped: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime | None]
