"""The consultation: replies to the bot's ticket messages travel between mentor and author.

A mentor replies to the ticket's card (or to a relayed question) in private, or sends
``/reply N text``; the bot posts it as a reply to the request. The author replies to any of
the bot's messages about the ticket; the bot passes it to the mentor. A reply to the rating
prompt is a comment on the answer.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject, Filter
from aiogram.types import Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.delivery import Delivery
from bot.domain import tickets
from bot.domain.access import Actor
from bot.domain.errors import DomainError
from bot.domain.tickets import FileRef
from bot.ticket_notices import TicketNotices
from bot.views.tickets import name, number
from handlers.ticket_common import content_of, files_of, parse_number, refusal
from models import Ticket, TicketMessage, TicketMessageKind, TicketStatus

MENTOR_SIDE = frozenset({TicketMessageKind.card, TicketMessageKind.question})


def router() -> Router:
    router = Router(name="conversation")
    router.message.register(reply_command, Command("reply"), F.chat.type == "private")
    router.message.register(reply_on_ticket, RepliesToTicket())
    return router


class RepliesToTicket(Filter):
    """A reply (not a command) to a bot message bound to a ticket; passes ``ticket``, ``link``."""

    async def __call__(
        self, message: Message, bot: Bot, session: AsyncSession
    ) -> bool | dict[str, Any]:
        reply = message.reply_to_message
        if reply is None or reply.from_user is None or reply.from_user.id != bot.id:
            return False
        if content_of(message).startswith("/"):
            return False
        found = await tickets.ticket_of_message(session, message.chat.id, reply.message_id)
        if found is None:
            return False
        ticket, link = found
        return {"ticket": ticket, "link": link}


async def reply_on_ticket(
    message: Message,
    ticket: Ticket,
    link: TicketMessage,
    session: AsyncSession,
    actor: Actor,
    delivery: Delivery,
    i18n: I18n,
    settings: Settings,
    now: datetime,
) -> None:
    notices = TicketNotices(session, delivery, i18n, settings, now)
    text, files = content_of(message), files_of(message)
    me = actor.person.id
    if link.kind in MENTOR_SIDE:
        if me == ticket.assignee_id:
            await mentor_says(message, ticket, actor, text, files, notices)
        elif ticket.status == TicketStatus.open and tickets.mentor_role(actor.person, ticket):
            await message.reply(
                _("Press «Claim» on the card first: then your answer goes to the author.")
            )
        else:
            await message.reply(_("You cannot do this with this request."))
        return
    if me != ticket.author_id:
        await message.reply(
            _(
                "Only the author of request {number} continues it here. Your own question: /ask"
            ).format(number=number(ticket))
        )
        return
    if link.kind == TicketMessageKind.rating:
        try:
            await tickets.comment_ticket(session, ticket, actor.person, text, now)
        except DomainError as error:
            await message.reply(refusal(error))
            return
        await message.reply(_("Thank you, your comment is saved."))
        mentor = await notices.person(ticket.assignee_id)
        await notices.tell_person(
            mentor,
            lambda _language: _("{author} commented on your answer to {number}: «{text}»").format(
                author=name(actor.person),
                number=number(ticket),
                text=html.escape(ticket.rating_comment or ""),
            ),
        )
        return
    await author_says(message, ticket, actor, text, files, notices)


async def mentor_says(
    message: Message,
    ticket: Ticket,
    actor: Actor,
    text: str,
    files: Sequence[FileRef],
    notices: TicketNotices,
) -> None:
    try:
        await tickets.add_mentor_message(
            notices.session, ticket, actor.person, text, files, notices.now
        )
    except DomainError as error:
        await message.reply(refusal(error))
        return
    if await notices.relay_answer(ticket, actor.person, text, files):
        await message.reply(_("✓ Sent to {number}.").format(number=number(ticket)))
    else:
        await message.reply(
            _(
                "Saved on {number}, but I could not post it: the group or the author cannot be "
                "reached. The coordinators can see it with /ticket {n}."
            ).format(number=number(ticket), n=ticket.id)
        )


async def author_says(
    message: Message,
    ticket: Ticket,
    actor: Actor,
    text: str,
    files: Sequence[FileRef],
    notices: TicketNotices,
) -> None:
    try:
        reopened = await tickets.add_author_message(
            notices.session,
            ticket,
            actor.person,
            text,
            files,
            notices.now,
            reopen_window=notices.settings.reopen_window,
        )
    except DomainError as error:
        await message.reply(refusal(error))
        return
    if ticket.assignee_id is None:
        await message.reply(
            _("Added to request {number}; the mentor who takes it will see it.").format(
                number=number(ticket)
            )
        )
        return
    delivered = await notices.relay_question(ticket, actor.person, text, files, reopened=reopened)
    if reopened:
        await notices.restore_card(ticket)
        await message.reply(
            _("Request {number} is reopened; the mentor has your message.").format(
                number=number(ticket)
            )
        )
    elif not delivered:
        await message.reply(
            _("Saved on {number}, but the mentor cannot be reached right now.").format(
                number=number(ticket)
            )
        )


async def reply_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    actor: Actor,
    delivery: Delivery,
    i18n: I18n,
    settings: Settings,
    now: datetime,
) -> None:
    n, text = parse_number(command.args)
    files = files_of(message)
    if n is None or (not text and not files):
        await message.answer(_("Usage: /reply N text, for example /reply 42 Here is the answer."))
        return
    try:
        ticket = await tickets.get_ticket(session, n)
    except DomainError as error:
        await message.answer(refusal(error))
        return
    if ticket.assignee_id != actor.person.id:
        await message.answer(
            _("Only the mentor who took request {number} can answer it.").format(
                number=number(ticket)
            )
        )
        return
    notices = TicketNotices(session, delivery, i18n, settings, now)
    await mentor_says(message, ticket, actor, text, files, notices)
