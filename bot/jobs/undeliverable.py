"""When a message cannot be delivered, or an update cannot be handled: who is told.

The sender calls these hooks in the transaction that records Telegram's answer, so what
they say is written to the outbox exactly when the failure is recorded. A card that cannot
reach its mentor (they never started the bot, or blocked it): the programme's coordinators
hear once, and if no other mentor has the request either, they are asked to assign it by hand.
(A relay or an announcement that cannot be posted carries its own follow-up for its writer:
``bot.delivery.outbox.FollowUp``.)

``apologise`` answers an update whose handling kept failing, so nobody waits for nothing.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from aiogram import Bot
from aiogram.methods import AnswerCallbackQuery
from aiogram.types import Update
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.db import transaction
from bot.delivery.outbox import Outbox
from bot.delivery.recording import Delivered
from bot.delivery.sender import Sender
from bot.domain import summaries
from bot.i18n import locale
from bot.languages import spoken
from bot.news.tickets import TicketNews
from models import (
    OutboxMessage,
    OutboxStatus,
    SummaryCard,
    SummaryCardEntry,
    Ticket,
    TicketMessage,
    TicketMessageKind,
    TicketStatus,
)

log = logging.getLogger(__name__)

_ALIVE = (OutboxStatus.pending, OutboxStatus.sent)


class Undeliverable:
    """The hooks and the apology, with what they need to speak."""

    def __init__(
        self,
        i18n: I18n,
        settings: Settings,
        sender: Sender,
        bot: Bot,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        username: str | None = None,
    ) -> None:
        """``username``: the bot's, when known; else asked of ``bot``, whose answer the bot's
        start has cached (the hooks run inside a transaction, where no call may be made)."""
        self.i18n = i18n
        self.settings = settings
        self.sender = sender
        self.bot = bot
        self.session_factory = session_factory
        self.username = username

    def register(self) -> None:
        self.sender.on_failed["ticket_card"] = self.card_refused

    # --- cards -------------------------------------------------------------------------------

    async def card_refused(self, outbox: Outbox, delivered: Delivered) -> None:
        session = outbox.session
        offered = await _tickets_offered_by(session, delivered.outbox_id)
        if not offered:
            return
        news = TicketNews(session, outbox, self.i18n, self.settings, datetime.now(UTC))
        mentor = await news.person(delivered.person_id)
        if delivered.forbidden and mentor is not None:
            username = self.username
            if username is None:
                username = (await self.bot.me()).username or ""
            await news.report_unreachable(mentor, offered[0].programme_id, username)
        for ticket in offered:
            if ticket.status != TicketStatus.open or await _offered_elsewhere(
                session, ticket.id, delivered.outbox_id
            ):
                continue
            await news.alert_nobody_has(ticket)

    # --- an update that could not be handled -------------------------------------------------

    async def apologise(self, update: Update) -> None:
        """Tell the person their message or button could not be handled, in their language."""
        query = update.callback_query
        message = update.message or update.edited_message
        chat_id = message.chat.id if message is not None else None
        if query is not None and query.message is not None:
            chat_id = query.message.chat.id
        sender = query.from_user if query is not None else (message.from_user if message else None)
        told = spoken(sender.language_code) if sender is not None else None
        language = told or self.settings.default_language
        with locale(self.i18n, language):
            text = _(
                "Sorry, something went wrong on my side and I could not handle this. "
                "Please try again in a while."
            )
        try:
            async with transaction(self.session_factory) as session:
                outbox = Outbox(session, self.sender)
                if chat_id is not None and query is None:
                    await outbox.send(chat_id, text, purpose="apology")
        except Exception:
            log.exception("could not apologise for update %s", update.update_id)
        if query is not None:
            await self.sender.call_now(
                AnswerCallbackQuery(callback_query_id=query.id, text=text[:200], show_alert=True)
            )


async def _tickets_offered_by(session: AsyncSession, outbox_id: int) -> list[Ticket]:
    """The tickets a card (one ticket) or a summary card (several) put before a mentor."""
    link = await session.scalar(
        select(TicketMessage).where(
            TicketMessage.outbox_id == outbox_id, TicketMessage.kind == TicketMessageKind.card
        )
    )
    if link is not None:
        ticket = await session.get(Ticket, link.ticket_id)
        return [ticket] if ticket is not None else []
    card = await session.scalar(select(SummaryCard).where(SummaryCard.outbox_id == outbox_id))
    return await summaries.tickets_on(session, card) if card is not None else []


async def _offered_elsewhere(session: AsyncSession, ticket_id: int, failed_outbox_id: int) -> bool:
    """Whether another card or summary of the ticket is on its way or arrived."""
    card = await session.scalar(
        select(func.count())
        .select_from(TicketMessage)
        .join(OutboxMessage, OutboxMessage.id == TicketMessage.outbox_id)
        .where(
            TicketMessage.ticket_id == ticket_id,
            TicketMessage.kind == TicketMessageKind.card,
            OutboxMessage.id != failed_outbox_id,
            OutboxMessage.status.in_(_ALIVE),
        )
    )
    if card:
        return True
    listed = await session.scalar(
        select(
            exists()
            .where(SummaryCardEntry.ticket_id == ticket_id)
            .where(SummaryCardEntry.summary_id == SummaryCard.id)
            .where(SummaryCard.outbox_id == OutboxMessage.id)
            .where(OutboxMessage.id != failed_outbox_id)
            .where(OutboxMessage.status.in_(_ALIVE))
        )
    )
    return bool(listed)
