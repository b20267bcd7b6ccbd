"""Consent to the processing of personal data: each answer a person gave, and the requests
that wait for one."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Enum, ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class ConsentKind(enum.StrEnum):
    general = "general"  # the programme's notice
    health = "health"  # data about health: a special category, consented to explicitly


class Consent(Base):
    """One answer to a programme's notice (given or refused), at the notice's version then;
    rows are only ever added, the latest of a kind counts."""

    __tablename__ = "consents"
    __table_args__ = (Index("ix_consents_person_programme", "person_id", "programme_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id", ondelete="CASCADE"))
    kind: Mapped[ConsentKind] = mapped_column(
        Enum(ConsentKind, native_enum=False, length=16, validate_strings=True)
    )
    notice_version: Mapped[int]
    given: Mapped[bool]
    at: Mapped[datetime] = mapped_column(default=utcnow)


class HeldRequest(Base):
    """A request that waits for its author's consent. It holds no text: the request is the
    update kept in the inbox (``update_id``), filed from there once consented to and blanked
    there when refused."""

    __tablename__ = "held_requests"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id", ondelete="CASCADE"))
    kind: Mapped[ConsentKind] = mapped_column(
        Enum(ConsentKind, native_enum=False, length=16, validate_strings=True)
    )
    update_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
