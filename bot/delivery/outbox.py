"""The outbox: what a handler or a job says, written in its own transaction, sent after commit.

A row per message (or edit, or leaving a chat) goes into ``outbox_messages`` through the
caller's session, so a message announces only what is committed, and nothing committed goes
unannounced: the sender (``bot.delivery.sender``) sends the rows once the transaction commits,
in each chat's order, within Telegram's limits. Nothing here talks to Telegram.

A message that has not been sent yet has no Telegram id; ``MessageRef`` names it by its outbox
row, so a later edit of it or a reply to it waits for it and then gets its id. A topic of a
private chat (``open_topic``) is named the same way: a message into a topic not opened yet waits
for it and goes with its thread id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, cast

from aiogram.types import InlineKeyboardMarkup
from sqlalchemy import Table, event, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bot.db import connection_of
from bot.delivery.values import Document, FollowUp, MessageRef, Outgoing
from models import OutboxMessage, OutboxStatus

__all__ = ["Document", "FollowUp", "MessageRef", "Outbox", "Outgoing", "Row"]

# Telegram allows 1024 characters in a caption, and 128 in a topic's name.
CAPTION_LIMIT = 1024
TOPIC_NAME_LIMIT = 128
# A row written by the sending process itself is held by it from the start, this long.
LEASE = timedelta(seconds=30)


class Sender(Protocol):
    """The sender, as the outbox sees it: given the rows it holds once they are committed."""

    def holder(self) -> str | None: ...

    def adopt(self, rows: Sequence[Row]) -> None: ...


@dataclass
class Row:
    """An outbox row as the sender holds it (without its file, read when it is sent): made by
    the outbox for the rows it writes, and by the sender for the rows it claims."""

    id: int
    chat_id: int
    method: str
    params: dict[str, Any]
    has_file: bool
    refers_to_id: int | None
    withdraw_unsent: bool
    purpose: str
    person_id: int | None
    record: str | None
    attempts: int
    not_before: float
    created: float = 0.0  # when it was written to the outbox (epoch seconds)


def markup_json(markup: InlineKeyboardMarkup | None) -> dict[str, Any] | None:
    return None if markup is None else markup.model_dump(mode="json", exclude_none=True)


def _text(
    text: str, markup: InlineKeyboardMarkup | None, only_for: int | None = None
) -> dict[str, Any]:
    """The parameters of a text message, or of an edit of one; with ``only_for``, a message
    in a group that only this member (their Telegram id) sees: an ephemeral message."""
    params: dict[str, Any] = {"text": text}
    if markup is not None:
        params["reply_markup"] = markup_json(markup)
    if only_for is not None:
        params["only_for"] = only_for
    return params


def _follow(params: dict[str, Any], then: FollowUp | None, otherwise: FollowUp | None) -> None:
    if then is not None:
        params["then"] = asdict(then)
    if otherwise is not None:
        params["otherwise"] = asdict(otherwise)


# The table's own insert: the rows are values, not objects the session should know.
_TABLE = cast(Table, OutboxMessage.__table__)
_INSERT = insert(_TABLE).returning(_TABLE.c.id)


class Outbox:
    """Messages of one transaction, handed to ``sender`` once it commits.

    When this process is the one sending, its rows are held by it from the start and go
    straight into its queues after the commit; otherwise the sender finds them by polling.
    """

    def __init__(self, session: AsyncSession, sender: Sender | None = None) -> None:
        self.session = session
        self._sender = sender
        self._armed = False
        self._rows: list[Row] = []

    # --- new messages ------------------------------------------------------------------------

    async def send(
        self,
        chat_id: int,
        text: str,
        *,
        markup: InlineKeyboardMarkup | None = None,
        reply_to: int | MessageRef | None = None,
        purpose: str = "reply",
        person_id: int | None = None,
        record: str | None = None,
        then: FollowUp | None = None,
        otherwise: FollowUp | None = None,
        only_for: int | None = None,
        topic: MessageRef | None = None,
    ) -> MessageRef:
        """A text message; with ``topic``, in that topic of the chat (see ``open_topic``)."""
        params = _text(text, markup, only_for)
        _follow(params, then, otherwise)
        return await self._write_one(
            self._row(
                chat_id, "send_text", params, reply_to=reply_to, purpose=purpose,
                person_id=person_id, record=record, topic=topic,
            )
        )  # fmt: skip

    async def send_many(self, messages: Sequence[Outgoing]) -> list[MessageRef]:
        """Several text messages in this order, written in one statement: a new request's cards
        and its answer in the group."""
        if not messages:
            return []
        rows = [
            self._row(
                m.chat_id,
                "send_text",
                _text(m.text, m.markup, m.only_for),
                reply_to=m.reply_to,
                purpose=m.purpose,
                person_id=m.person_id,
                record=m.record,
                topic=m.topic,
            )  # fmt: skip
            for m in messages
        ]
        return await self._write(rows)

    async def send_file(
        self,
        chat_id: int,
        document: Document,
        *,
        photo: bool = False,
        caption: str | None = None,
        reply_to: int | MessageRef | None = None,
        purpose: str = "reply",
        person_id: int | None = None,
        record: str | None = None,
        then: FollowUp | None = None,
        otherwise: FollowUp | None = None,
        topic: MessageRef | None = None,
    ) -> MessageRef:
        """A document, or with ``photo`` a picture shown in the chat; ``caption`` is cut to
        Telegram's 1024 characters."""
        params: dict[str, Any] = {"filename": document.filename}
        if document.file_id is not None:
            params["file_id"] = document.file_id
        if caption:
            params["caption"] = caption[:CAPTION_LIMIT]
        _follow(params, then, otherwise)
        return await self._write_one(
            self._row(
                chat_id, "send_photo" if photo else "send_document", params,
                file=document.content if document.file_id is None else None,
                reply_to=reply_to, purpose=purpose, person_id=person_id, record=record,
                topic=topic,
            )
        )  # fmt: skip

    async def open_topic(
        self, chat_id: int, name: str, *, person_id: int | None, record: str | None = None
    ) -> MessageRef:
        """A topic of a private chat with the bot (where the bot has topics): its reference
        stands for its thread id, which Telegram gives once it has opened it."""
        return await self._write_one(
            self._row(
                chat_id, "open_topic", {"name": name[:TOPIC_NAME_LIMIT]}, purpose="topic",
                person_id=person_id, record=record,
            )
        )  # fmt: skip

    # --- changes to messages sent (or about to be) -------------------------------------------

    async def edit(
        self,
        chat_id: int,
        target: MessageRef,
        text: str,
        *,
        markup: InlineKeyboardMarkup | None = None,
        withdraw_unsent: bool = False,
        purpose: str = "edit",
    ) -> None:
        """Change a message's text (and buttons: none unless given).

        With ``withdraw_unsent``, a message still waiting in the outbox is not sent at all:
        a card of a request taken meanwhile has nothing left to say.
        """
        params = _text(text, markup)
        await self._write_one(
            self._row(
                chat_id, "edit_text", params, target=target, purpose=purpose,
                withdraw_unsent=withdraw_unsent,
            )
        )  # fmt: skip

    async def edit_markup(
        self,
        chat_id: int,
        target: MessageRef,
        markup: InlineKeyboardMarkup | None,
        *,
        purpose: str = "edit",
    ) -> None:
        params: dict[str, Any] = {}
        if markup is not None:
            params["reply_markup"] = markup_json(markup)
        await self._write_one(
            self._row(chat_id, "edit_markup", params, target=target, purpose=purpose)
        )

    async def edit_ephemeral(
        self,
        chat_id: int,
        receiver: int,
        ephemeral_id: int,
        text: str,
        *,
        markup: InlineKeyboardMarkup | None = None,
    ) -> None:
        """Change the text (and buttons) of an ephemeral message: known by the member who sees
        it and its own id, since it has no message id in the chat."""
        params = _text(text, markup)
        params.update(receiver=receiver, ephemeral_message_id=ephemeral_id)
        await self._write_one(self._row(chat_id, "edit_ephemeral_text", params, purpose="edit"))

    async def react(self, chat_id: int, message_id: int, emoji: str | None) -> None:
        """Set the bot's reaction on a message (one of Telegram's reaction emoji), or with
        None take it away."""
        await self._write_one(
            self._row(
                chat_id, "react", {"message_id": message_id, "emoji": emoji}, purpose="reaction"
            )
        )

    async def leave_chat(self, chat_id: int) -> None:
        await self._write_one(self._row(chat_id, "leave_chat", {}, purpose="leave"))

    # --- writing -----------------------------------------------------------------------------

    def _row(
        self,
        chat_id: int,
        method: str,
        params: dict[str, Any],
        *,
        file: bytes | None = None,
        reply_to: int | MessageRef | None = None,
        target: MessageRef | None = None,
        purpose: str,
        person_id: int | None = None,
        record: str | None = None,
        withdraw_unsent: bool = False,
        topic: MessageRef | None = None,
    ) -> dict[str, Any]:
        """The outbox row's values."""
        refers_to: int | None = None
        if isinstance(reply_to, int):
            params["reply_to"] = reply_to
        elif reply_to is not None:
            refers_to = self._resolve(reply_to, params, "reply_to")
        if target is not None:
            refers_to = self._resolve(target, params, "message_id")
        if topic is not None:
            waits = self._resolve(topic, params, "message_thread_id")
            if waits is not None:
                # A topic not opened yet: the row waits for it, unless it waits for a message
                # already; that one is in the same chat, after the topic, so opened by then.
                params["topic_of"] = waits
                refers_to = refers_to if refers_to is not None else waits
        now = datetime.now(UTC)
        owner = self._sender.holder() if self._sender is not None else None
        return {
            "chat_id": chat_id,
            "method": method,
            "params": params,
            "file": file,
            "refers_to_id": refers_to,
            "withdraw_unsent": withdraw_unsent,
            "purpose": purpose,
            "person_id": person_id,
            "record": record,
            "status": OutboxStatus.pending,
            "attempts": 0,
            "created_at": now,
            "lease_owner": owner,
            "lease_until": now + LEASE if owner is not None else None,
        }

    async def _write_one(self, row: dict[str, Any]) -> MessageRef:
        return (await self._write([row]))[0]

    async def _write(self, rows: list[dict[str, Any]]) -> list[MessageRef]:
        """Insert the rows, in their order, and return their references. One statement gives
        its rows increasing ids in the order of its values (SQLite's next row id, PostgreSQL's
        sequence), though it may return them in another order: so the ids are sorted."""
        result = await (await connection_of(self.session)).execute(_INSERT, rows)
        ids = sorted(result.scalars())
        for outbox_id, values in zip(ids, rows, strict=True):
            if values["lease_owner"] is None:
                continue
            # Held by the sender from the start: handed to it after the commit.
            self._rows.append(
                Row(
                    id=outbox_id, chat_id=values["chat_id"], method=values["method"],
                    params=dict(values["params"]), has_file=values["file"] is not None,
                    refers_to_id=values["refers_to_id"],
                    withdraw_unsent=values["withdraw_unsent"], purpose=values["purpose"],
                    person_id=values["person_id"], record=values["record"], attempts=0,
                    not_before=0.0, created=values["created_at"].timestamp(),
                )
            )  # fmt: skip
        self._arm()
        return [MessageRef(outbox_id=outbox_id) for outbox_id in ids]

    @staticmethod
    def _resolve(ref: MessageRef, params: dict[str, Any], key: str) -> int | None:
        """A known Telegram id goes into the parameters; an unsent message is waited for."""
        if ref.message_id is not None:
            params[key] = ref.message_id
            return None
        return ref.outbox_id

    def _arm(self) -> None:
        """Hand the rows to the sender once the transaction commits (``_committed``)."""
        if self._armed or self._sender is None:
            return
        self._armed = True
        self.session.sync_session.info.setdefault(_ARMED, []).append(self)

    def _committed(self) -> None:
        self._armed = False
        rows, self._rows = self._rows, []
        if self._sender is not None:
            self._sender.adopt(rows)

    def _rolled_back(self) -> None:
        self._armed = False
        self._rows = []


# Outboxes waiting for their session's commit. The hooks are the Session class's, registered
# once: listening on each session as it is used costs more than the rest of ``_arm``.
_ARMED = "mentordesk.outboxes"


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    for outbox in session.info.pop(_ARMED, ()):
        outbox._committed()


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, _previous: object) -> None:
    for outbox in session.info.pop(_ARMED, ()):
        outbox._rolled_back()
