"""The outbox as a handler holds it: answers to the update at hand.

Handlers speak of aiogram's ``Message`` and ``CallbackQuery``; the outbox (``bot.delivery``)
and the domain know only chats, texts and references. ``Replies`` turns the one into the
other, keeps a quiet group quiet (an answer to a person there is for their eyes only), and
collects the answers to button presses, which the middleware sends right after the commit.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery.outbox import Document, MessageRef, Outbox, Sender


@dataclass(frozen=True)
class CallbackAnswer:
    query_id: str
    text: str | None = None
    show_alert: bool = False


class Replies(Outbox):
    """An ``Outbox`` with the answers a handler gives to the message or press it handles."""

    def __init__(self, session: AsyncSession, sender: Sender | None = None) -> None:
        super().__init__(session, sender)
        self.callback_answers: list[CallbackAnswer] = []
        # Set for an update from a group whose programme keeps it quiet: replies to a
        # person's message there go to that person alone.
        self.quiet = False

    async def answer(
        self, message: Message, text: str, *, reply_markup: InlineKeyboardMarkup | None = None
    ) -> MessageRef:
        """A message in the chat of ``message`` (``message.answer`` in aiogram's words); in a
        quiet group, for the eyes of the one who wrote only."""
        return await self.send(
            message.chat.id, text, markup=reply_markup, only_for=self._only_for(message)
        )

    async def reply(
        self, message: Message, text: str, *, reply_markup: InlineKeyboardMarkup | None = None
    ) -> MessageRef:
        """An answer to the person's message; in a quiet group, for their eyes only."""
        return await self.send(
            message.chat.id, text, markup=reply_markup, reply_to=message.message_id,
            only_for=self._only_for(message),
        )  # fmt: skip

    async def edit_message(
        self, message: Message, text: str, *, reply_markup: InlineKeyboardMarkup | None = None
    ) -> None:
        """Change one of the bot's messages the person is looking at (pressed a button on). An
        ephemeral one (message id 0) is known by its receiver and its own id."""
        ephemeral = message.ephemeral_message_id
        if ephemeral is not None and message.receiver_user is not None:
            await self.edit_ephemeral(
                message.chat.id, message.receiver_user.id, ephemeral, text, markup=reply_markup
            )
            return
        await self.edit(message.chat.id, MessageRef(message.message_id), text, markup=reply_markup)

    async def edit_message_markup(
        self, message: Message, reply_markup: InlineKeyboardMarkup | None
    ) -> None:
        if message.ephemeral_message_id is not None:
            # Its buttons are changed with its text (edit_message): an ephemeral message
            # that only loses them keeps them until it fades.
            return
        await self.edit_markup(message.chat.id, MessageRef(message.message_id), reply_markup)

    async def answer_file(
        self,
        message: Message,
        document: Document,
        *,
        photo: bool = False,
        caption: str | None = None,
    ) -> MessageRef:
        return await self.send_file(message.chat.id, document, photo=photo, caption=caption)

    def _only_for(self, message: Message) -> int | None:
        """Who alone sees an answer to ``message``: its author, in a quiet group."""
        if self.quiet and message.chat.type != "private" and message.from_user is not None:
            return message.from_user.id
        return None

    async def callback(
        self, query: CallbackQuery, text: str | None = None, *, show_alert: bool = False
    ) -> None:
        """Answer the button press; it goes out right after the commit, ahead of any queue."""
        if not any(a.query_id == query.id for a in self.callback_answers):
            self.callback_answers.append(CallbackAnswer(query.id, text, show_alert))
