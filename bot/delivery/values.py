"""What the outbox takes and gives back as values: a reference to one of the bot's messages,
a file, a message written later depending on another's fate, a text message."""

from __future__ import annotations

from dataclasses import dataclass

from aiogram.types import InlineKeyboardMarkup


@dataclass(frozen=True)
class MessageRef:
    """One of the bot's messages: by its Telegram id once known, else by the outbox row."""

    message_id: int | None = None
    outbox_id: int | None = None

    @classmethod
    def of(cls, message_id: int | None, outbox_id: int | None) -> MessageRef | None:
        if message_id is None and outbox_id is None:
            return None
        return cls(message_id=message_id, outbox_id=outbox_id)


@dataclass(frozen=True)
class Document:
    """A file to send: bytes the bot made, or a file Telegram already holds (by its id)."""

    filename: str
    content: bytes | None = None
    file_id: str | None = None


@dataclass(frozen=True)
class FollowUp:
    """A message that depends on how another one went: written when Telegram has answered
    about that one, if it arrived (``then``) or if it could not be delivered (``otherwise``)."""

    chat_id: int
    text: str
    reply_to: int | None = None
    purpose: str = "follow_up"
    person_id: int | None = None


@dataclass(frozen=True)
class Outgoing:
    """A text message for ``Outbox.send_many``: what ``Outbox.send`` takes, as a value."""

    chat_id: int
    text: str
    markup: InlineKeyboardMarkup | None = None
    reply_to: int | MessageRef | None = None
    purpose: str = "reply"
    person_id: int | None = None
    record: str | None = None
    only_for: int | None = None  # in a group: the member who alone sees it (ephemeral)
    topic: MessageRef | None = None  # in a private chat: the topic it goes into
