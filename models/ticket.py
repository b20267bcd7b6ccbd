"""Consultation tickets: the request, its attachments, its append-only history and its messages."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, synonym

from models.base import Base, utcnow


def _enum(kind: type[enum.StrEnum], length: int) -> Enum:
    return Enum(kind, native_enum=False, length=length, validate_strings=True)


class TicketStatus(enum.StrEnum):
    open = "open"  # waiting for a mentor to claim it
    claimed = "claimed"  # a mentor took it; the consultation goes on
    resolved = "resolved"  # the mentor closed it; a reply within the reopen window reopens it
    closed = "closed"  # resolved and past the reopen window
    cancelled = "cancelled"  # withdrawn by its author or a coordinator


ACTIVE_STATUSES = (TicketStatus.open, TicketStatus.claimed)


class TicketEventKind(enum.StrEnum):
    created = "created"
    edited = "edited"
    topic_set = "topic_set"
    claimed = "claimed"
    mentor_message = "mentor_message"
    author_message = "author_message"
    reassigned = "reassigned"
    resolved = "resolved"
    reopened = "reopened"
    rated = "rated"
    commented = "commented"
    cancelled = "cancelled"
    closed = "closed"
    escalated = "escalated"  # a general consultant passed it to a topic's specialists


class TicketMessageKind(enum.StrEnum):
    """What a Telegram message bound to a ticket is, so replies to it find their way."""

    ack = "ack"  # the bot's acknowledgement in the thread of the request
    card = "card"  # the request as sent to a mentor in private
    answer = "answer"  # a mentor's message relayed to the author's side
    question = "question"  # the author's message relayed to the mentor
    rating = "rating"  # the rating prompt; a reply to it is a comment
    alert = "alert"  # a coordinator told that nobody could get it; edited once that passed


class Ticket(Base):
    """A request from an activist; its id is the number people see as ``#42``."""

    __tablename__ = "tickets"
    # The message that carries the request: the same update twice makes one ticket.
    __table_args__ = (
        UniqueConstraint("chat_telegram_id", "request_message_id"),
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
        # Matching counts each mentor's claimed requests for every new one; it also serves
        # what looks requests up by assignee alone.
        Index("ix_tickets_assignee_status", "assignee_id", "status"),
        # Matching reads when each mentor last took a request: from here, not their history.
        Index("ix_tickets_assignee_claimed", "assignee_id", "claimed_at"),
        # Every request counts its author's open requests and those of the last hour (the
        # cap): each count reads only those, however many the author filed before.
        Index("ix_tickets_author_status", "author_id", "status"),
        Index("ix_tickets_author_created", "author_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    programme_id: Mapped[int] = mapped_column(
        ForeignKey("programmes.id", ondelete="CASCADE"), index=True
    )
    # The group the request came from; None when it was filed in private.
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("group_chats.id", ondelete="SET NULL"), index=True
    )
    chat_telegram_id: Mapped[int]
    request_message_id: Mapped[int]
    author_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    topic_id: Mapped[int | None] = mapped_column(ForeignKey("topics.id", ondelete="SET NULL"))
    # False while the topic is only the bot's suggestion.
    topic_confirmed: Mapped[bool] = mapped_column(default=False)
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[TicketStatus] = mapped_column(
        _enum(TicketStatus, 16), default=TicketStatus.open, index=True
    )
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None]
    first_answer_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    rating: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str | None] = mapped_column(Text)
    rated_at: Mapped[datetime | None]
    # When coordinators were alerted of the current unclaimed stretch, and when the assignee was
    # reminded of a missing answer; cleared when the stretch ends, so each breach alerts once.
    claim_alerted_at: Mapped[datetime | None]
    answer_reminded_at: Mapped[datetime | None]
    # Triage: the request went first to the programme's general consultants; ``escalated_at`` is
    # when one of them passed it to the specialists of a topic (the event holds who and why).
    triage: Mapped[bool] = mapped_column(default=False)
    escalated_at: Mapped[datetime | None]
    # When the request's text, history and files were erased (its author's /forget, or the
    # retention); its topic, times, status and rating stay for the figures.
    erased_at: Mapped[datetime | None]

    attachments: Mapped[list[TicketAttachment]] = relationship(
        lazy="selectin", order_by="TicketAttachment.id", cascade="all, delete-orphan"
    )

    number = synonym("id")

    @property
    def in_triage(self) -> bool:
        """With the general consultants still: triaged and not passed to a specialist yet."""
        return self.triage and self.escalated_at is None


class TicketAttachment(Base):
    """A photo or document sent with the request or later in the conversation (by file id)."""

    __tablename__ = "ticket_attachments"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[int | None] = mapped_column(
        ForeignKey("ticket_events.id", ondelete="SET NULL")
    )
    kind: Mapped[str] = mapped_column(String(16))  # "photo" or "document"
    file_id: Mapped[str] = mapped_column(String(255))
    file_name: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TicketEvent(Base):
    """One entry of a ticket's history; rows are only ever added."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    kind: Mapped[TicketEventKind] = mapped_column(_enum(TicketEventKind, 16), index=True)
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    text: Mapped[str | None] = mapped_column(Text)
    # Facts of the event: {"topic": "legal"}, {"from": 3, "to": 5}, {"rating": 4}.
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class TicketMessage(Base):
    """A message the bot sent about a ticket, found again when someone replies to it.

    It is written with the outbox row that sends the message; ``message_id`` is filled in once
    Telegram has the message (until then, edits and replies refer to ``outbox_id``).
    """

    __tablename__ = "ticket_messages"
    __table_args__ = (UniqueConstraint("chat_telegram_id", "message_id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    kind: Mapped[TicketMessageKind] = mapped_column(_enum(TicketMessageKind, 16))
    chat_telegram_id: Mapped[int]
    message_id: Mapped[int | None]
    outbox_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbox_messages.id", ondelete="SET NULL"), index=True
    )
    # The mentor a card went to, or whoever the message was addressed to.
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UnreachableMentor(Base):
    """Coordinators were told the bot cannot write to this mentor; cleared once a card arrives."""

    __tablename__ = "unreachable_mentors"

    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    programme_id: Mapped[int] = mapped_column(
        ForeignKey("programmes.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    reported_at: Mapped[datetime] = mapped_column(default=utcnow)


class SummaryCard(Base):
    """One message listing several new requests for a mentor whose chat has a backlog.

    Instead of a card per request queued behind many others, the mentor gets this list with a
    «Claim» button per request; it is edited as requests join it or are taken. ``closed_at`` is
    set when it is full, so the next request starts a new one.
    """

    __tablename__ = "summary_cards"
    # A press on a card's button finds the card by its message.
    __table_args__ = (Index("ix_summary_cards_message", "chat_telegram_id", "message_id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    chat_telegram_id: Mapped[int]
    outbox_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbox_messages.id", ondelete="SET NULL"), index=True
    )
    message_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]


class SummaryCardEntry(Base):
    """A request listed on a summary card, in the order it joined."""

    __tablename__ = "summary_card_entries"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    summary_id: Mapped[int] = mapped_column(
        ForeignKey("summary_cards.id", ondelete="CASCADE"), index=True
    )
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)


class TicketTopic(Base):
    """The topic of a mentor's private chat with the bot that holds one ticket (where the bot has
    topics in private chats): opened when the mentor takes the ticket.

    Written with the outbox row that opens it; ``thread_id`` is filled in once Telegram has
    opened it (until then, messages into it wait for ``outbox_id``).
    """

    __tablename__ = "ticket_topics"
    __table_args__ = (
        UniqueConstraint("ticket_id", "person_id"),
        # A message in a topic finds its ticket by the chat and the thread.
        Index("ix_ticket_topics_thread", "chat_telegram_id", "thread_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    chat_telegram_id: Mapped[int]
    outbox_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbox_messages.id", ondelete="SET NULL"), index=True
    )
    thread_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
