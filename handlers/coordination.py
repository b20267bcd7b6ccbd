"""Looking at tickets and steering them: ``/ticket N``, ``/my``, ``/tickets``, ``/assign N``.

``/ticket N`` shows a request's history to its author, its mentor and the coordinators of its
programme, with the actions each of them may take: reassign, change topic, cancel, resolve.
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

from aiogram import F, Router
from aiogram.filters import CommandObject
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.domain import booking, matching, tickets
from bot.domain.access import Actor
from bot.domain.errors import DomainError, NotAllowed, NotFound
from bot.domain.topics import list_topics, match_topic, topics_by_id
from bot.news.tickets import TicketNews
from bot.telegram.replies import Replies
from bot.views.tickets import (
    PREFIXES,
    AssignButton,
    HistoryPage,
    ListPage,
    TicketAction,
    TicketActions,
    assign_keyboard,
    cancel_keyboard,
    event_text,
    heading,
    name,
    number,
    page_footer,
    page_keyboard,
    quote,
    stars_text,
    status_title,
    ticket_keyboard,
    ticket_line,
    topic_keyboard,
    when,
)
from handlers.common import command_for, invalid_button, parse_number
from handlers.ticket_common import refusal
from models import ACTIVE_STATUSES, RoleKind, Ticket, TicketStatus, Topic

EVENTS_PER_PAGE = 10
ASSIGN_CHOICES = 20
ACTIONS = frozenset({"assign", "topic", "cancel", "cancel_yes", "back"})

# Words for /tickets: status values, and the Russian and Polish beginnings people type.
STATUS_WORDS = {
    **{status.value: status for status in TicketStatus},
    "откр": TicketStatus.open,
    "нов": TicketStatus.open,
    "ждут": TicketStatus.open,
    "работ": TicketStatus.claimed,
    "взят": TicketStatus.claimed,
    "реш": TicketStatus.resolved,
    "закр": TicketStatus.closed,
    "отмен": TicketStatus.cancelled,
    "otwart": TicketStatus.open,
    "oczek": TicketStatus.open,
    "przyj": TicketStatus.claimed,
    "rozwi": TicketStatus.resolved,
    "zamkn": TicketStatus.closed,
    "anul": TicketStatus.cancelled,
}


def router() -> Router:
    router = Router(name="coordination")
    command_for(router, "ticket", show_ticket)
    command_for(router, "my", my_tickets)
    command_for(router, "tickets", all_tickets)
    command_for(router, "assign", assign_command)
    router.callback_query.register(history_page, HistoryPage.filter())
    router.callback_query.register(ticket_action, TicketAction.filter())
    router.callback_query.register(assign_pressed, AssignButton.filter())
    router.callback_query.register(list_page, ListPage.filter(F.view.in_({"my", "all"})))
    router.callback_query.register(
        invalid_button, F.data.func(lambda data: str(data).split(":", 1)[0] in PREFIXES)
    )
    return router


# --- one ticket ------------------------------------------------------------------------------


async def ticket_view(
    session: AsyncSession, ticket: Ticket, actor: Actor, settings: Settings, page: int | None
) -> tuple[str, InlineKeyboardMarkup | None]:
    """The ticket's state and one page of its history (the last page when ``page`` is None)."""
    events = await tickets.history(session, ticket.id)
    people = await tickets.people_by_id(
        session,
        [ticket.author_id, ticket.assignee_id]
        + [e.actor_id for e in events]
        + [int(e.details.get("to") or 0) or None for e in events],
    )
    topics = await list_topics(session, ticket.programme_id, archived=True)
    topic = next((t for t in topics if t.id == ticket.topic_id), None)
    language = actor.language
    zone_name = actor.person.timezone or settings.default_timezone
    pages = max(1, -(-len(events) // EVENTS_PER_PAGE))
    page = pages - 1 if page is None else min(max(page, 0), pages - 1)
    shown = events[page * EVENTS_PER_PAGE : (page + 1) * EVENTS_PER_PAGE]

    lines = [
        f"{heading(ticket, topic, language)} · {status_title(ticket.status)}",
        _("Author: {author}").format(
            author=_("(erased)") if ticket.erased_at else name(people.get(ticket.author_id))
        ),
        _("Mentor: {mentor}").format(mentor=name(people.get(ticket.assignee_id or 0))),
    ]
    if ticket.rating is not None:
        rating = _("Rating: {stars}").format(stars=stars_text(ticket.rating))
        if ticket.rating_comment:
            rating += f" «{quote(ticket.rating_comment, 200)}»"
        lines.append(rating)
    lines.append("")
    by_code = {t.code: t for t in topics}
    lines += [
        f"{when(e.created_at, zone_name)} — "
        + event_text(e, people, by_code, language, erased=ticket.erased_at is not None)
        for e in shown
    ]
    if pages > 1:
        lines.append("\n" + _("Page {page} of {pages}").format(page=page + 1, pages=pages))

    active = ticket.status in ACTIVE_STATUSES
    actions = TicketActions(
        assign=active and actor.coordinates(ticket.programme_id),
        topic=active and tickets.may_set_topic(actor, ticket),
        cancel=active and tickets.may_cancel(actor, ticket),
        book=active and booking.may_book(actor, ticket),
        resolve=ticket.status == TicketStatus.claimed and tickets.may_resolve(actor, ticket),
    )
    return "\n".join(lines), ticket_keyboard(ticket, actions, page, pages)


async def _visible_ticket(session: AsyncSession, actor: Actor, n: int) -> Ticket:
    """The ticket, if this person may see it; otherwise the same refusal as for none at all."""
    ticket = await tickets.get_ticket(session, n)
    if not await tickets.may_follow(session, actor, ticket):
        raise tickets.TicketNotFound(n)
    return ticket


async def show_ticket(
    message: Message,
    outbox: Replies,
    command: CommandObject,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
) -> None:
    n, _rest = parse_number(command.args)
    if n is None:
        await outbox.answer(
            message, _("Usage: /ticket N, for example /ticket 42. Your requests: /my")
        )
        return
    try:
        ticket = await tickets.get_ticket(session, n)
    except DomainError as error:
        await outbox.answer(message, refusal(error))
        return
    if not await tickets.may_follow(session, actor, ticket):
        await outbox.answer(
            message,
            _(
                "Request #{n} is visible only to its author, its mentor and the programme's "
                "coordinators."
            ).format(n=n),
        )
        return
    text, markup = await ticket_view(session, ticket, actor, settings, None)
    await outbox.answer(message, text, reply_markup=markup)


async def history_page(
    query: CallbackQuery,
    outbox: Replies,
    callback_data: HistoryPage,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
) -> Any:
    try:
        ticket = await _visible_ticket(session, actor, callback_data.ticket)
    except DomainError as error:
        return await outbox.callback(query, refusal(error), show_alert=True)
    if not isinstance(query.message, Message):
        return await outbox.callback(query)
    text, markup = await ticket_view(session, ticket, actor, settings, callback_data.page)
    await outbox.callback(query)
    await outbox.edit_message(query.message, text, reply_markup=markup)
    return None


async def _assign_markup(
    session: AsyncSession, ticket: Ticket, settings: Settings
) -> InlineKeyboardMarkup | None:
    """Mentors of the ticket's topic first, then the programme's other mentors, with load."""
    of_topic = await matching.mentors_of(
        session, ticket.programme_id, ticket.topic_id, capacity=settings.mentor_capacity
    )
    others = await matching.mentors_of(
        session, ticket.programme_id, None, capacity=settings.mentor_capacity
    )
    seen = {c.person.id for c in of_topic}
    choices = of_topic + [c for c in others if c.person.id not in seen]
    choices = [c for c in choices if c.person.id != ticket.assignee_id][:ASSIGN_CHOICES]
    if not choices:
        return None
    return assign_keyboard(ticket, choices)


async def ticket_action(
    query: CallbackQuery,
    callback_data: TicketAction,
    session: AsyncSession,
    actor: Actor,
    outbox: Replies,
    settings: Settings,
    news: TicketNews,
) -> Any:
    action = callback_data.action
    message = query.message
    if action not in ACTIONS or not isinstance(message, Message):
        return await outbox.callback(query, _("This button is not valid."), show_alert=True)
    try:
        ticket = await _visible_ticket(session, actor, callback_data.ticket)
    except DomainError as error:
        return await outbox.callback(query, refusal(error), show_alert=True)
    if action == "back":
        text, markup = await ticket_view(session, ticket, actor, settings, None)
        await outbox.callback(query)
        await outbox.edit_message(message, text, reply_markup=markup)
        return None
    if ticket.status not in ACTIVE_STATUSES:
        return await outbox.callback(query, refusal(tickets.WrongStatus(ticket)), show_alert=True)
    if action == "assign":
        if not actor.coordinates(ticket.programme_id):
            return await outbox.callback(
                query, _("Only a coordinator can reassign."), show_alert=True
            )
        assign_markup = await _assign_markup(session, ticket, settings)
        if assign_markup is None:
            return await outbox.callback(
                query, _("This programme has no other mentors."), show_alert=True
            )
        await outbox.callback(query)
        await outbox.edit_message_markup(message, assign_markup)
        return None
    if action == "topic":
        if not tickets.may_set_topic(actor, ticket):
            return await outbox.callback(query, refusal(NotAllowed("topic")), show_alert=True)
        await outbox.callback(query)
        markup = topic_keyboard(
            ticket, await list_topics(session, ticket.programme_id), actor.language
        )
        await outbox.edit_message_markup(message, markup)
        return None
    if not tickets.may_cancel(actor, ticket):
        return await outbox.callback(query, refusal(NotAllowed("cancel")), show_alert=True)
    if action == "cancel":
        await outbox.callback(query)
        await outbox.edit_message_markup(message, cancel_keyboard(ticket))
        return None
    await cancel(ticket, actor, news)
    await outbox.callback(query, _("Cancelled."))
    text, markup = await ticket_view(session, ticket, actor, settings, None)
    await outbox.edit_message(message, text, reply_markup=markup)
    return None


async def cancel(ticket: Ticket, actor: Actor, news: TicketNews) -> None:
    await tickets.cancel_ticket(news.session, ticket, actor, news.now)
    await news.withdraw_cards(ticket)
    if ticket.assignee_id is not None and ticket.assignee_id != actor.person.id:
        await news.tell_person(
            await news.person(ticket.assignee_id),
            lambda _language: _("Request {number} was cancelled by {who}.").format(
                number=number(ticket), who=name(actor.person)
            ),
        )
    await news.tell_author(
        ticket,
        lambda _language: _("Request {number} was cancelled by {who}.").format(
            number=f"<b>{number(ticket)}</b>", who=name(actor.person)
        ),
    )


# --- reassignment --------------------------------------------------------------------------------


async def assign_command(
    message: Message,
    outbox: Replies,
    command: CommandObject,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
) -> None:
    n, _rest = parse_number(command.args)
    if n is None:
        await outbox.answer(message, _("Usage: /assign N, for example /assign 42"))
        return
    try:
        ticket = await tickets.get_ticket(session, n)
    except DomainError as error:
        await outbox.answer(message, refusal(error))
        return
    if not actor.coordinates(ticket.programme_id):
        await outbox.answer(
            message, _("Only a coordinator of the request's programme can reassign it.")
        )
        return
    if ticket.status not in ACTIVE_STATUSES:
        await outbox.answer(message, refusal(tickets.WrongStatus(ticket)))
        return
    markup = await _assign_markup(session, ticket, settings)
    if markup is None:
        await outbox.answer(
            message, _("This programme has no other mentors. Invite one: /invite mentor")
        )
        return
    await outbox.answer(
        message,
        _("Who should take request {number}? In brackets: requests in progress / limit.").format(
            number=number(ticket)
        ),
        reply_markup=markup,
    )


async def assign_pressed(
    query: CallbackQuery,
    callback_data: AssignButton,
    session: AsyncSession,
    actor: Actor,
    outbox: Replies,
    news: TicketNews,
    now: datetime,
) -> Any:
    try:
        ticket = await tickets.get_ticket(session, callback_data.ticket)
        mentor = await news.person(callback_data.mentor)
        if mentor is None:
            raise NotFound("mentor")
        previous = await tickets.reassign_ticket(session, ticket, mentor, actor, now)
    except DomainError as error:
        return await outbox.callback(query, refusal(error), show_alert=True)
    await outbox.callback(query, _("Done."))
    await news.give_card(ticket, mentor, None)
    await news.withdraw_cards(ticket, taken_by=mentor)
    if previous is not None:
        await news.tell_person(
            previous,
            lambda _language: _("Request {number} was passed to {mentor} by {who}.").format(
                number=number(ticket), mentor=name(mentor), who=name(actor.person)
            ),
        )
    await news.tell_author(
        ticket,
        lambda _language: _("Your request {number} is now with mentor {mentor}.").format(
            number=f"<b>{number(ticket)}</b>", mentor=name(mentor)
        ),
    )
    if isinstance(query.message, Message):
        await outbox.edit_message(
            query.message,
            _("Request {number} is now with {mentor}.").format(
                number=number(ticket), mentor=name(mentor)
            ),
        )
    return None


# --- lists ---------------------------------------------------------------------------------------


async def _list_view(
    session: AsyncSession,
    actor: Actor,
    view: str,
    *,
    page: int,
    status: TicketStatus | None = None,
    topic: Topic | None = None,
) -> tuple[str, InlineKeyboardMarkup | None]:
    if view == "my":
        found = await tickets.tickets_of_author(session, actor.person.id, page=page)
        title = _("Your requests: {count}").format(count=found.total)
        empty = _("You have no requests yet. In your group: /ask and your question.")
    else:
        programmes = None if actor.is_admin else actor.programmes(RoleKind.coordinator)
        found = await tickets.list_tickets(
            session, programmes, status=status, topic_code=topic.code if topic else None, page=page
        )
        title = _("Requests: {count}").format(count=found.total)
        empty = _("No requests match.")
    if not found.total:
        return empty, None
    topics = await topics_by_id(session, list({t.programme_id for t in found.tickets}))
    lines = [title] + [
        ticket_line(ticket, topics.get(ticket.topic_id or 0), actor.language)
        for ticket in found.tickets
    ]
    markup = page_keyboard(
        found,
        view,
        status=status.value if status else "",
        topic=topic.id if topic else 0,
    )
    hint = "\n\n" + _("Details: /ticket N")
    return "\n\n".join(lines) + page_footer(found) + hint, markup


async def my_tickets(
    message: Message, outbox: Replies, session: AsyncSession, actor: Actor
) -> None:
    text, markup = await _list_view(session, actor, "my", page=0)
    await outbox.answer(message, text, reply_markup=markup)


def tickets_usage(topics: list[Topic]) -> str:
    return _(
        "Usage: /tickets [status] [topic]. Statuses: open, claimed, resolved, closed, "
        "cancelled. Topics: {codes}. Example: /tickets open legal"
    ).format(codes=", ".join(dict.fromkeys(topic.code for topic in topics)))


async def all_tickets(
    message: Message, outbox: Replies, command: CommandObject, session: AsyncSession, actor: Actor
) -> None:
    if not (actor.is_admin or actor.has(RoleKind.coordinator)):
        await outbox.answer(message, _("The list of all requests is for coordinators. Yours: /my"))
        return
    programmes = None if actor.is_admin else actor.programmes(RoleKind.coordinator)
    # Active topics first: a code names an archived topic only where no active one has it.
    topics = sorted(
        (await topics_by_id(session, programmes)).values(),
        key=lambda t: (not t.active, t.position, t.id),
    )
    status: TicketStatus | None = None
    topic: Topic | None = None
    for word in (command.args or "").lower().split()[:3]:
        found_status = next(
            (value for key, value in STATUS_WORDS.items() if word.startswith(key)), None
        )
        found_topic = match_topic(topics, word)
        if found_status is not None and status is None:
            status = found_status
        elif found_topic is not None and topic is None:
            topic = found_topic
        else:
            await outbox.answer(
                message,
                _("I do not understand «{word}».").format(word=html.escape(word[:40]))
                + "\n"
                + tickets_usage([t for t in topics if t.active]),
            )
            return
    text, markup = await _list_view(session, actor, "all", page=0, status=status, topic=topic)
    await outbox.answer(message, text, reply_markup=markup)


async def list_page(
    query: CallbackQuery,
    outbox: Replies,
    callback_data: ListPage,
    session: AsyncSession,
    actor: Actor,
) -> Any:
    if not isinstance(query.message, Message):
        return await outbox.callback(query)
    status = STATUS_WORDS.get(callback_data.status) if callback_data.status else None
    topic = (
        await session.get(Topic, callback_data.topic) if 0 < callback_data.topic < 2**62 else None
    )
    if topic is not None and not (actor.is_admin or actor.coordinates(topic.programme_id)):
        topic = None
    invalid = (callback_data.status and status is None) or (callback_data.topic and topic is None)
    if callback_data.view == "all" and not (actor.is_admin or actor.has(RoleKind.coordinator)):
        invalid = True
    if invalid:
        return await outbox.callback(query, _("This button is not valid."), show_alert=True)
    text, markup = await _list_view(
        session, actor, callback_data.view, page=callback_data.page, status=status, topic=topic
    )
    await outbox.callback(query)
    await outbox.edit_message(query.message, text, reply_markup=markup)
    return None
