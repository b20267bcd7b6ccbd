"""Records of what the bot could not deliver, and of updates it has already handled."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class DeliveryFailure(Base):
    """A message Telegram refused (403 and the like), kept so coordinators can be told."""

    __tablename__ = "delivery_failures"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    chat_telegram_id: Mapped[int] = mapped_column(index=True)
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(32))
    error: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProcessedUpdate(Base):
    """Telegram update ids already handled: a redelivered update is skipped, on any replica."""

    __tablename__ = "processed_updates"

    update_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    processed_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
