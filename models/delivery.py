"""The delivery pipeline's tables: updates as they arrived, messages to send, refusals.

``InboxUpdate`` holds every Telegram update from the moment it arrives until it has been
handled; ``OutboxMessage`` holds every message (or edit) the bot is to send, written in the
same transaction as the change it announces; ``DeliveryFailure`` keeps what Telegram refused.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class InboxUpdate(Base):
    """A Telegram update, stored raw before Telegram is told it arrived.

    It is handled from here, in the order of its chat (``chat_key``); the handler's transaction
    sets ``handled_at``, so an update is handled once even if it arrives twice. ``lease_owner``
    and ``lease_until`` say which bot process is handling it; a lapsed lease is taken over.
    """

    __tablename__ = "inbox_updates"
    __table_args__ = (Index("ix_inbox_updates_waiting", "handled_at", "chat_key", "update_id"),)

    update_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    # The chat whose order the update keeps: the chat of its message or button, else the user.
    chat_key: Mapped[int]
    payload: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    handled_at: Mapped[datetime | None]
    # Why the last attempt failed; kept on an update given up after its last attempt.
    error: Mapped[str | None] = mapped_column(Text)


class OutboxStatus(enum.StrEnum):
    pending = "pending"  # waiting for its chat's turn, its budget, or a retry
    sent = "sent"
    failed = "failed"  # refused by Telegram for good, or out of retries
    dropped = "dropped"  # not needed any more: merged into another message, or withdrawn


class OutboxMessage(Base):
    """A message the bot is to send (or an edit, or leaving a chat), in its chat's order.

    ``refers_to_id`` names the outbox row of the message this one replies to or edits while
    that one may not have been sent yet; the scheduler waits for it and puts in its Telegram id.
    ``record`` names what to note once Telegram answers with the new message's id.
    """

    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index("ix_outbox_messages_waiting", "status", "chat_id", "id"),
        Index("ix_outbox_messages_sent_at", "sent_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    chat_id: Mapped[int]
    method: Mapped[str] = mapped_column(String(24))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # A file the bot made (an .ics, a chart, an export), kept until it is sent.
    file: Mapped[bytes | None] = mapped_column(LargeBinary)
    refers_to_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbox_messages.id", ondelete="SET NULL"), index=True
    )
    # An edit that, if its message was never sent, withdraws that message instead.
    withdraw_unsent: Mapped[bool] = mapped_column(default=False)
    purpose: Mapped[str] = mapped_column(String(32))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    record: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[OutboxStatus] = mapped_column(
        Enum(OutboxStatus, native_enum=False, length=16, validate_strings=True),
        default=OutboxStatus.pending,
    )
    attempts: Mapped[int] = mapped_column(default=0)
    not_before: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    message_id: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)


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


class Lease(Base):
    """A role one bot process holds at a time (the sender of the outbox), until ``until``.

    The holder renews it well before it lapses; another process takes it over once it has.
    """

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    until: Mapped[datetime]
