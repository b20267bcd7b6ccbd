"""A programme (a school, a cohort) and the group chats registered to it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, true
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class Programme(Base):
    __tablename__ = "programmes"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(200))
    # "General, then specialist": new requests go first to the programme's general consultants
    # (mentors without a topic), who answer them or pass them to a topic's specialists.
    triage: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Moved by database triggers whenever one of the programme's topics is written (migration
    # 0013): a process holding the topics in memory knows when to read them again.
    topics_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # In its groups, what concerns one person goes to that person alone (ephemeral messages)
    # and a request shows its state as a reaction; off, every reply is for the whole group.
    quiet_groups: Mapped[bool] = mapped_column(default=True, server_default=true())
    # Who keeps the people's data (the operator, in 152-FZ's word), and the notice they consent
    # to before their first request: None is the default notice. The version grows with each
    # change, and a consent counts for the version it was given to.
    privacy_operator: Mapped[str | None] = mapped_column(String(200))
    privacy_notice: Mapped[str | None] = mapped_column(Text)
    notice_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")


class GroupChat(Base):
    """A Telegram group the bot was added to; it is served once bound to a programme."""

    __tablename__ = "group_chats"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    telegram_id: Mapped[int] = mapped_column(unique=True)
    title: Mapped[str] = mapped_column(String(255), default="")
    programme_id: Mapped[int | None] = mapped_column(
        ForeignKey("programmes.id", ondelete="SET NULL"), index=True
    )
    timezone: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(8))
    registered_at: Mapped[datetime | None]
    registered_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def registered(self) -> bool:
        return self.programme_id is not None
