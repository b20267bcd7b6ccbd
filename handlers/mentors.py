"""The mentor's side: claiming a request, ``/queue`` of open requests, resolving."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.domain import summaries, tickets
from bot.domain.access import Actor
from bot.domain.errors import DomainError
from bot.domain.topics import topics_by_id
from bot.news.tickets import TicketNews
from bot.telegram.replies import Replies
from bot.views.tickets import (
    ClaimButton,
    ListPage,
    ResolveButton,
    name,
    number,
    page_footer,
    queue_keyboard,
    taken_card_text,
    ticket_line,
)
from handlers.common import parse_number
from handlers.ticket_common import refusal
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
    outbox: Replies,
    actor: Actor,
    settings: Settings,
    news: TicketNews,
    now: datetime,
) -> Any:
    """«Claim» on a card, on a summary card or under ``/queue``: the first press wins."""
    try:
        ticket = await tickets.get_ticket(session, callback_data.ticket)
        await tickets.claim_ticket(
            session, ticket, actor.person, now, capacity=settings.mentor_capacity
        )
    except tickets.AlreadyTaken as taken:
        if taken.assignee is not None and taken.assignee.id == actor.person.id:
            return await outbox.callback(
                query, _("Request {number} is yours.").format(number=number(taken.ticket))
            )
        await outbox.callback(query, refusal(taken), show_alert=True)
        if isinstance(query.message, Message) and taken.assignee is not None:
            await _show_taken(query.message, outbox, taken.ticket, taken.assignee, actor, news)
        return None
    except DomainError as error:
        return await outbox.callback(query, refusal(error), show_alert=True)
    await outbox.callback(query, _("Request {number} is yours.").format(number=number(ticket)))
    await claimed(ticket, actor.person, news, pressed_on=query.message)
    return None


async def _show_taken(
    message: Message,
    outbox: Replies,
    ticket: Ticket,
    assignee: Person,
    actor: Actor,
    news: TicketNews,
) -> None:
    """The presser's card, if it was one, now says who has the request."""
    cards = await tickets.messages_of(news.session, ticket.id, TicketMessageKind.card)
    here = (message.chat.id, message.message_id)
    if any((card.chat_telegram_id, card.message_id) == here for card in cards):
        topic = await news.topic(ticket)
        text = taken_card_text(ticket, topic, assignee, actor.language)
        await outbox.edit_message(message, text)
    elif await summaries.find(news.session, message.chat.id, message.message_id) is not None:
        await news.refresh_summaries(ticket)


async def claimed(
    ticket: Ticket, mentor: Person, news: TicketNews, *, pressed_on: Any, booked: bool = False
) -> None:
    """After a won claim (by «Claim», or by the author booking the mentor's time): the
    mentor's card, the other cards and summaries, the author's news."""
    cards = await tickets.messages_of(news.session, ticket.id, TicketMessageKind.card)
    mine = [c for c in cards if c.person_id == mentor.id]
    if isinstance(pressed_on, Message):
        here = (pressed_on.chat.id, pressed_on.message_id)
        # The card pressed, else the card the mentor got (when they claimed from /queue or
        # from a summary card, which lists the request without its full text).
        mine.sort(key=lambda c: (c.chat_telegram_id, c.message_id) == here)
    await news.give_card(ticket, mentor, mine[-1] if mine else None)
    await news.withdraw_cards(ticket, taken_by=mentor)
    await news.show_state(ticket, "✍")
    if booked:
        return  # the author booked this mentor's time and is told of the booking itself
    await news.tell_author(
        ticket,
        lambda _language: _(
            "{mentor} took your request {number}. The answer will come here; reply to it to "
            "continue the conversation."
        ).format(mentor=name(mentor), number=f"<b>{number(ticket)}</b>"),
        bookable=True,
    )


# --- the queue -----------------------------------------------------------------------------------


async def queue(
    message: Message, session: AsyncSession, outbox: Replies, actor: Actor, settings: Settings
) -> None:
    if not actor.has(RoleKind.mentor):
        await outbox.answer(message, _("The queue is for mentors; you are not one yet."))
        return
    text, markup = await _queue_view(session, actor, settings, page=0)
    await outbox.answer(message, text, reply_markup=markup)


async def queue_page(
    query: CallbackQuery,
    callback_data: ListPage,
    session: AsyncSession,
    outbox: Replies,
    actor: Actor,
    settings: Settings,
) -> Any:
    if not actor.has(RoleKind.mentor):
        return await outbox.callback(
            query, _("Only the programme's mentors can press this button."), show_alert=True
        )
    if not isinstance(query.message, Message):
        return await outbox.callback(query, _("This button is not valid."), show_alert=True)
    text, markup = await _queue_view(session, actor, settings, page=callback_data.page)
    await outbox.edit_message(query.message, text, reply_markup=markup)
    return None


async def _queue_view(
    session: AsyncSession, actor: Actor, settings: Settings, *, page: int
) -> tuple[str, Any]:
    found = await tickets.queue_of(session, actor.person, page=page, per_page=8)
    topics = await topics_by_id(session, list({ticket.programme_id for ticket in found.tickets}))
    # A general consultant's queue is the requests in triage, whatever their topic.
    general = not any(role.topics for role in actor.roles if role.kind == RoleKind.mentor)
    if not found.total:
        if general:
            return _("No requests are waiting for a general consultant right now."), None
        return _("No open requests on your topics right now."), None
    if general:
        lines = [_("Requests waiting for a general consultant: {count}").format(count=found.total)]
    else:
        lines = [_("Open requests on your topics: {count}").format(count=found.total)]
    lines += [
        ticket_line(ticket, topics.get(ticket.topic_id or 0), actor.language)
        for ticket in found.tickets
    ]
    return "\n\n".join(lines) + page_footer(found), queue_keyboard(found)


# --- resolving -----------------------------------------------------------------------------------


async def resolve(ticket: Ticket, actor: Actor, news: TicketNews) -> None:
    await tickets.resolve_ticket(news.session, ticket, actor, news.now)
    mentor = await news.person(ticket.assignee_id) or actor.person
    await news.show_state(ticket, "👌")
    await news.ask_rating(ticket, mentor)


def _resolved_text(ticket: Ticket) -> str:
    return _("Request {number} is resolved; the author is asked to rate the answer.").format(
        number=number(ticket)
    )


async def resolve_pressed(
    query: CallbackQuery,
    callback_data: ResolveButton,
    session: AsyncSession,
    outbox: Replies,
    actor: Actor,
    news: TicketNews,
) -> Any:
    try:
        ticket = await tickets.get_ticket(session, callback_data.ticket)
        await resolve(ticket, actor, news)
    except DomainError as error:
        return await outbox.callback(query, refusal(error), show_alert=True)
    await outbox.callback(query, _("Resolved."))
    if isinstance(query.message, Message):
        await outbox.edit_message_markup(query.message, None)
        await outbox.reply(query.message, _resolved_text(ticket))
    return None


async def resolve_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    outbox: Replies,
    actor: Actor,
    news: TicketNews,
) -> None:
    n, _rest = parse_number(command.args)
    if n is None:
        await outbox.answer(message, _("Usage: /resolve N, for example /resolve 42"))
        return
    try:
        ticket = await tickets.get_ticket(session, n)
        await resolve(ticket, actor, news)
    except DomainError as error:
        await outbox.answer(message, refusal(error))
        return
    await outbox.answer(message, _resolved_text(ticket))
