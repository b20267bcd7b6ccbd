"""The consultation: replies to the bot's ticket messages travel between mentor and author.

A mentor replies to the ticket's card (or to a relayed question) in private, writes in the
ticket's own topic of that chat (where the bot has topics in private chats), or sends
``/reply N text``; the bot posts it as a reply to the request. The author replies to any of
the bot's messages about the ticket; the bot passes it to the mentor. A reply to the rating
prompt is a comment on the answer.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from aiogram import Bot, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject, Filter
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery.outbox import FollowUp
from bot.domain import tickets
from bot.domain.access import Actor
from bot.domain.errors import DomainError
from bot.domain.tickets import FileRef
from bot.news.tickets import TicketNews
from bot.telegram.replies import Replies
from bot.views.tickets import name, number
from handlers.common import IN_PRIVATE, content_of, files_of, parse_number
from handlers.ticket_common import refusal
from models import Ticket, TicketMessage, TicketMessageKind, TicketStatus

MENTOR_SIDE = frozenset({TicketMessageKind.card, TicketMessageKind.question})


def router() -> Router:
    router = Router(name="conversation")
    router.message.register(reply_command, Command("reply"), IN_PRIVATE)
    router.message.register(reply_on_ticket, RepliesToTicket())
    router.message.register(write_in_topic, InTicketTopic())
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
        if found is None or found[1].kind == TicketMessageKind.alert:
            return False  # a coordinators' alert is no part of the conversation
        ticket, link = found
        return {"ticket": ticket, "link": link}


class InTicketTopic(Filter):
    """A message (not a command) in the topic of a ticket in the writer's private chat with the
    bot; passes ``ticket``. A reply to one of the ticket's messages there is ``RepliesToTicket``'s;
    any other message in a topic replies to the topic's opening, as in a forum."""

    async def __call__(self, message: Message, session: AsyncSession) -> bool | dict[str, Any]:
        thread = message.message_thread_id
        if thread is None or message.chat.type != ChatType.PRIVATE:
            return False
        if content_of(message).startswith("/"):
            return False
        found = await tickets.ticket_in_topic(session, message.chat.id, thread)
        if found is None:
            return False
        return {"ticket": found[0]}


async def write_in_topic(
    message: Message, ticket: Ticket, outbox: Replies, actor: Actor, news: TicketNews
) -> None:
    """Whatever the assignee writes in the ticket's topic answers it, as a reply to its card
    would."""
    if ticket.assignee_id != actor.person.id:
        await outbox.reply(message, _("You cannot do this with this request."))
        return
    await mentor_says(message, outbox, ticket, actor, content_of(message), files_of(message), news)


async def reply_on_ticket(
    message: Message,
    ticket: Ticket,
    link: TicketMessage,
    session: AsyncSession,
    outbox: Replies,
    actor: Actor,
    news: TicketNews,
    now: datetime,
) -> None:
    text, files = content_of(message), files_of(message)
    me = actor.person.id
    if link.kind in MENTOR_SIDE:
        if me == ticket.assignee_id:
            await mentor_says(message, outbox, ticket, actor, text, files, news)
        elif ticket.status == TicketStatus.open and tickets.mentor_role(actor.person, ticket):
            await outbox.reply(
                message, _("Press «Claim» on the card first: then your answer goes to the author.")
            )
        else:
            await outbox.reply(message, _("You cannot do this with this request."))
        return
    if me != ticket.author_id:
        await outbox.reply(
            message,
            _(
                "Only the author of request {number} continues it here. Your own question: /ask"
            ).format(number=number(ticket)),
        )
        return
    if link.kind == TicketMessageKind.rating:
        try:
            await tickets.comment_ticket(session, ticket, actor.person, text, now)
        except DomainError as error:
            await outbox.reply(message, refusal(error))
            return
        await outbox.reply(message, _("Thank you, your comment is saved."))
        mentor = await news.person(ticket.assignee_id)
        await news.tell_person(
            mentor,
            lambda _language: _("{author} commented on your answer to {number}: «{text}»").format(
                author=name(actor.person),
                number=number(ticket),
                text=html.escape(ticket.rating_comment or ""),
            ),
            about=ticket,
        )
        return
    await author_says(message, outbox, ticket, actor, text, files, news)


async def mentor_says(
    message: Message,
    outbox: Replies,
    ticket: Ticket,
    actor: Actor,
    text: str,
    files: Sequence[FileRef],
    news: TicketNews,
) -> None:
    try:
        await tickets.add_mentor_message(news.session, ticket, actor.person, text, files, news.now)
    except DomainError as error:
        await outbox.reply(message, refusal(error))
        return
    # Telegram's answer about the relayed message decides which of the two the mentor reads.
    posted = FollowUp(
        message.chat.id,
        _("✓ Sent to {number}.").format(number=number(ticket)),
        reply_to=message.message_id,
    )
    not_posted = FollowUp(
        message.chat.id,
        _(
            "Saved on {number}, but I could not post it: the group or the author cannot be "
            "reached. The coordinators can see it with /ticket {n}."
        ).format(number=number(ticket), n=ticket.id),
        reply_to=message.message_id,
    )
    if not await news.relay_answer(
        ticket, actor.person, text, files, then=posted, otherwise=not_posted
    ):
        await outbox.reply(message, not_posted.text)


async def author_says(
    message: Message,
    outbox: Replies,
    ticket: Ticket,
    actor: Actor,
    text: str,
    files: Sequence[FileRef],
    news: TicketNews,
) -> None:
    try:
        reopened = await tickets.add_author_message(
            news.session,
            ticket,
            actor.person,
            text,
            files,
            news.now,
            reopen_window=news.settings.reopen_window,
        )
    except DomainError as error:
        await outbox.reply(message, refusal(error))
        return
    if ticket.assignee_id is None:
        await outbox.reply(
            message,
            _("Added to request {number}; the mentor who takes it will see it.").format(
                number=number(ticket)
            ),
        )
        return
    unreachable = FollowUp(
        message.chat.id,
        _("Saved on {number}, but the mentor cannot be reached right now.").format(
            number=number(ticket)
        ),
        reply_to=message.message_id,
    )
    delivered = await news.relay_question(
        ticket, actor.person, text, files, reopened=reopened, otherwise=unreachable
    )
    if reopened:
        await news.restore_card(ticket)
        await outbox.reply(
            message,
            _("Request {number} is reopened; the mentor has your message.").format(
                number=number(ticket)
            ),
        )
    elif not delivered:
        await outbox.reply(message, unreachable.text)


async def reply_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    outbox: Replies,
    actor: Actor,
    news: TicketNews,
) -> None:
    n, text = parse_number(command.args)
    files = files_of(message)
    if n is None or (not text and not files):
        await outbox.answer(
            message, _("Usage: /reply N text, for example /reply 42 Here is the answer.")
        )
        return
    try:
        ticket = await tickets.get_ticket(session, n)
    except DomainError as error:
        await outbox.answer(message, refusal(error))
        return
    if ticket.assignee_id != actor.person.id:
        await outbox.answer(
            message,
            _("Only the mentor who took request {number} can answer it.").format(
                number=number(ticket)
            ),
        )
        return
    await mentor_says(message, outbox, ticket, actor, text, files, news)
