"""The mentor's side: claiming a request, ``/queue`` of open requests, resolving."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.delivery import Delivery
from bot.domain import tickets
from bot.domain.access import Actor
from bot.domain.errors import DomainError
from bot.domain.topics import list_topics
from bot.ticket_notices import TicketNotices
from bot.views.tickets import (
    ClaimButton,
    ListPage,
    ResolveButton,
    name,
    number,
    page_footer,
    page_keyboard,
    taken_card_text,
    ticket_line,
)
from handlers.ticket_common import parse_number, refusal
from models import Person, RoleKind, Ticket, TicketMessageKind


def router() -> Router:
    router = Router(name="mentors")
    router.callback_query.register(claim_pressed, ClaimButton.filter())
    router.callback_query.register(resolve_pressed, ResolveButton.filter())
    router.callback_query.register(queue_page, ListPage.filter(F.view == "queue"))
    router.message.register(queue, Command("queue"))
    router.message.register(resolve_command, Command("resolve"))
    return router


# --- claiming ------------------------------------------------------------------------------------


async def claim_pressed(
    query: CallbackQuery,
    callback_data: ClaimButton,
    session: AsyncSession,
    actor: Actor,
    delivery: Delivery,
    i18n: I18n,
    settings: Settings,
    now: datetime,
) -> Any:
    notices = TicketNotices(session, delivery, i18n, settings, now)
    try:
        ticket = await tickets.get_ticket(session, callback_data.ticket)
        await tickets.claim_ticket(
            session, ticket, actor.person, now, capacity=settings.mentor_capacity
        )
    except tickets.AlreadyTaken as taken:
        if taken.assignee is not None and taken.assignee.id == actor.person.id:
            return await query.answer(
                _("Request {number} is yours.").format(number=number(taken.ticket))
            )
        await query.answer(refusal(taken), show_alert=True)
        if isinstance(query.message, Message) and taken.assignee is not None:
            await _show_taken(query.message, taken.ticket, taken.assignee, actor, notices)
        return None
    except DomainError as error:
        return await query.answer(refusal(error), show_alert=True)
    await query.answer(_("Request {number} is yours.").format(number=number(ticket)))
    await claimed(ticket, actor, notices, pressed_on=query.message)
    return None


async def _show_taken(
    message: Message, ticket: Ticket, assignee: Person, actor: Actor, notices: TicketNotices
) -> None:
    """The presser's card, if it was one, now says who has the request."""
    cards = await tickets.messages_of(notices.session, ticket.id, TicketMessageKind.card)
    here = (message.chat.id, message.message_id)
    if any((card.chat_telegram_id, card.message_id) == here for card in cards):
        topic = await notices.topic(ticket)
        text = taken_card_text(ticket, topic, assignee, actor.language)
        await notices.edit(message.chat.id, message.message_id, text)


async def claimed(ticket: Ticket, actor: Actor, notices: TicketNotices, *, pressed_on: Any) -> None:
    """After a won claim: the mentor's card, the other cards, and the author's news."""
    mentor = actor.person
    cards = await tickets.messages_of(notices.session, ticket.id, TicketMessageKind.card)
    mine = [c for c in cards if c.person_id == mentor.id]
    if isinstance(pressed_on, Message):
        here = (pressed_on.chat.id, pressed_on.message_id)
        # The card pressed, else the card the mentor got (when they claimed from /queue).
        mine.sort(key=lambda c: (c.chat_telegram_id, c.message_id) == here)
    if mine:
        text, markup = await notices.claimed_card(ticket, mentor)
        await notices.edit(mine[-1].chat_telegram_id, mine[-1].message_id, text, markup)
        await notices.send_request_files(ticket, mentor, reply_to=mine[-1].message_id)
    else:
        await notices.send_claimed_card(ticket, mentor)
    await notices.withdraw_cards(ticket, taken_by=mentor)
    await notices.tell_author(
        ticket,
        lambda _language: _(
            "{mentor} took your request {number}. The answer will come here; reply to it to "
            "continue the conversation."
        ).format(mentor=name(mentor), number=f"<b>{number(ticket)}</b>"),
    )


# --- the queue -----------------------------------------------------------------------------------


async def queue(message: Message, session: AsyncSession, actor: Actor, settings: Settings) -> None:
    if not actor.has(RoleKind.mentor):
        await message.answer(_("The queue is for mentors; you are not one yet."))
        return
    text, markup = await _queue_view(session, actor, settings, page=0)
    await message.answer(text, reply_markup=markup)


async def queue_page(
    query: CallbackQuery,
    callback_data: ListPage,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
) -> Any:
    if not actor.has(RoleKind.mentor) or not isinstance(query.message, Message):
        return await query.answer(_("This button is not valid."), show_alert=True)
    text, markup = await _queue_view(session, actor, settings, page=callback_data.page)
    await query.answer()
    await query.message.edit_text(text, reply_markup=markup)
    return None


async def _queue_view(
    session: AsyncSession, actor: Actor, settings: Settings, *, page: int
) -> tuple[str, Any]:
    found = await tickets.queue_of(session, actor.person, page=page, per_page=8)
    topics = {topic.id: topic for topic in await list_topics(session)}
    if not found.total:
        return _("No open requests on your topics right now."), None
    lines = [_("Open requests on your topics: {count}").format(count=found.total)]
    builder = InlineKeyboardBuilder()
    for ticket in found.tickets:
        lines.append(ticket_line(ticket, topics.get(ticket.topic_id or 0), actor.language))
        builder.button(
            text=_("Claim {number}").format(number=number(ticket)),
            callback_data=ClaimButton(ticket=ticket.id),
        )
    builder.adjust(2)
    markup = page_keyboard(found, "queue", builder=builder)
    return "\n\n".join(lines) + page_footer(found), markup


# --- resolving -----------------------------------------------------------------------------------


async def resolve(ticket: Ticket, actor: Actor, notices: TicketNotices) -> None:
    await tickets.resolve_ticket(notices.session, ticket, actor, notices.now)
    mentor = await notices.person(ticket.assignee_id) or actor.person
    await notices.ask_rating(ticket, mentor)


async def resolve_pressed(
    query: CallbackQuery,
    callback_data: ResolveButton,
    session: AsyncSession,
    actor: Actor,
    delivery: Delivery,
    i18n: I18n,
    settings: Settings,
    now: datetime,
) -> Any:
    notices = TicketNotices(session, delivery, i18n, settings, now)
    try:
        ticket = await tickets.get_ticket(session, callback_data.ticket)
        await resolve(ticket, actor, notices)
    except DomainError as error:
        return await query.answer(refusal(error), show_alert=True)
    await query.answer(_("Resolved."))
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)
        await query.message.reply(
            _("Request {number} is resolved; the author is asked to rate the answer.").format(
                number=number(ticket)
            )
        )
    return None


async def resolve_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    actor: Actor,
    delivery: Delivery,
    i18n: I18n,
    settings: Settings,
    now: datetime,
) -> None:
    n, _rest = parse_number(command.args)
    if n is None:
        await message.answer(_("Usage: /resolve N, for example /resolve 42"))
        return
    notices = TicketNotices(session, delivery, i18n, settings, now)
    try:
        ticket = await tickets.get_ticket(session, n)
        await resolve(ticket, actor, notices)
    except DomainError as error:
        await message.answer(refusal(error))
        return
    await message.answer(
        _("Request {number} is resolved; the author is asked to rate the answer.").format(
            number=number(ticket)
        )
    )
