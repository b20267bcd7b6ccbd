"""``/mentors``: the roster of a programme's mentors, and changing their topics and capacity.

A coordinator can also deactivate a mentor: the requests the mentor held go back to the queue
and the other mentors of each topic get the cards, as for a new request.
"""

from __future__ import annotations

import html
from datetime import datetime
from functools import partial
from typing import Any

from aiogram import Router
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import lazy_gettext as __
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.delivery import Outbox
from bot.domain import roster
from bot.domain.access import Actor
from bot.domain.errors import DomainError, NotFound
from bot.domain.programmes import get_programme, list_programmes
from bot.domain.roster import CAPACITY_CHOICES, LastTopic, RosterEntry
from bot.domain.stats import coordinated
from bot.domain.topics import get_topic, list_topics
from bot.news.tickets import TicketNews
from bot.telegram.filters import HasRole
from bot.views.roster import (
    MentorAction,
    RosterPage,
    capacity_keyboard,
    capacity_prompt,
    card_keyboard,
    card_text,
    deactivate_keyboard,
    deactivate_prompt,
    pages_of,
    programme_keyboard,
    returned_text,
    roster_keyboard,
    roster_text,
    topics_keyboard,
    topics_prompt,
)
from handlers.common import command_for, zone_of
from models import Person, Programme, RoleKind, Ticket


def router() -> Router:
    router = Router(name="roster")
    refusal = __("The list of mentors is for programme coordinators.")
    command_for(router, "mentors", mentors, HasRole(RoleKind.coordinator), refusal=refusal)
    router.callback_query.register(page_pressed, RosterPage.filter())
    router.callback_query.register(mentor_pressed, MentorAction.filter())
    return router


async def _roster_view(
    session: AsyncSession, programme: Programme, actor: Actor, settings: Settings, page: int
) -> tuple[str, InlineKeyboardMarkup | None]:
    entries = await roster.roster(session, programme.id, default_capacity=settings.mentor_capacity)
    page = min(max(page, 0), pages_of(entries) - 1)
    text = roster_text(programme, entries, page, actor.language, zone_of(actor, settings))
    return text, roster_keyboard(programme, entries, page)


async def mentors(
    message: Message, outbox: Outbox, session: AsyncSession, actor: Actor, settings: Settings
) -> None:
    programmes = await list_programmes(session, coordinated(actor))
    if not programmes:
        await outbox.answer(
            message, _("No programmes yet. An admin creates one with /newprogramme Title.")
        )
        return
    if len(programmes) > 1:
        await outbox.answer(
            message, _("Mentors of which programme?"), reply_markup=programme_keyboard(programmes)
        )
        return
    text, markup = await _roster_view(session, programmes[0], actor, settings, 0)
    await outbox.answer(message, text, reply_markup=markup)


async def page_pressed(
    query: CallbackQuery,
    outbox: Outbox,
    callback_data: RosterPage,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
) -> Any:
    programme = await get_programme(session, callback_data.programme)
    if programme is None or not isinstance(query.message, Message):
        return await outbox.callback(query, _("This button is not valid."), show_alert=True)
    if not actor.coordinates(programme.id):
        return await outbox.callback(
            query, _("Only the programme's coordinators manage its mentors."), show_alert=True
        )
    text, markup = await _roster_view(session, programme, actor, settings, callback_data.page)
    await outbox.callback(query)
    await outbox.edit_message(query.message, text, reply_markup=markup)
    return None


def _refusal(error: DomainError) -> str:
    if isinstance(error, LastTopic):
        return _("A mentor keeps at least one topic. To stop sending them requests, deactivate.")
    if isinstance(error, NotFound):
        return _("This mentor is not in your programmes.")
    return _("Only the programme's coordinators manage its mentors.")


async def mentor_pressed(
    query: CallbackQuery,
    callback_data: MentorAction,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    outbox: Outbox,
    news: TicketNews,
    now: datetime,
) -> Any:
    message = query.message
    if not isinstance(message, Message):
        return await outbox.callback(query, _("This button is not valid."), show_alert=True)
    try:
        role = await roster.mentor_role(session, actor, callback_data.role)
    except DomainError as error:
        return await outbox.callback(query, _refusal(error), show_alert=True)
    programme = await get_programme(session, role.programme_id)
    if programme is None:
        return await outbox.callback(query, _("This button is not valid."), show_alert=True)
    zone_name = zone_of(actor, settings)

    async def current() -> RosterEntry:
        return await roster.entry(session, role, default_capacity=settings.mentor_capacity)

    async def show_card(note: str | None = None) -> None:
        found = await current()
        text = card_text(found, programme, actor.language, zone_name)
        await outbox.edit_message(
            message, f"{note}\n\n{text}" if note else text, reply_markup=card_keyboard(found)
        )

    action, value = callback_data.action, callback_data.value
    try:
        if action == "card":
            await outbox.callback(query)
            await show_card()
        elif action == "topics":
            found = await current()
            topics = await list_topics(session, role.programme_id)
            await outbox.callback(query)
            await outbox.edit_message(
                message,
                topics_prompt(found),
                reply_markup=topics_keyboard(found, topics, actor.language),
            )
        elif action == "topic":
            topic = await get_topic(session, role.programme_id, value)
            if topic is None:
                return await outbox.callback(query, _("This button is not valid."), show_alert=True)
            added = await roster.toggle_topic(session, actor, role, topic, now)
            title = topic.title(actor.language)
            await outbox.callback(
                query, (_("Added: {topic}") if added else _("Removed: {topic}")).format(topic=title)
            )
            topics = await list_topics(session, role.programme_id)
            await outbox.edit_message_markup(
                message, topics_keyboard(await current(), topics, actor.language)
            )
        elif action == "capacity":
            found = await current()
            await outbox.callback(query)
            await outbox.edit_message(
                message, capacity_prompt(found), reply_markup=capacity_keyboard(found)
            )
        elif action == "cap":
            if value not in CAPACITY_CHOICES:
                return await outbox.callback(query, _("This button is not valid."), show_alert=True)
            await roster.set_capacity(session, actor, role, value, now)
            await outbox.callback(query, _("Capacity: {count}").format(count=value))
            await show_card()
        elif action == "off":
            found = await current()
            await outbox.callback(query)
            if not role.active:
                await show_card()
                return None
            await outbox.edit_message(
                message, deactivate_prompt(found), reply_markup=deactivate_keyboard(found)
            )
        elif action == "off_yes":
            was_active = role.active
            returned = await roster.deactivate(session, actor, role, now)
            mentor = await session.get_one(Person, role.person_id)
            cards = await release(returned, mentor, programme, actor, news) if was_active else 0
            await outbox.callback(query, _("Deactivated."))
            await show_card(returned_text(await current(), [t.id for t in returned], cards))
        elif action == "on":
            await roster.reactivate(session, actor, role, now)
            await outbox.callback(query, _("Reactivated."))
            await show_card()
        else:
            return await outbox.callback(query, _("This button is not valid."), show_alert=True)
    except DomainError as error:
        return await outbox.callback(query, _refusal(error), show_alert=True)
    return None


# --- after a deactivation ------------------------------------------------------------------------


def _waiting_again(ticket: Ticket, _language: str) -> str:
    return _(
        "Request {number} is waiting for a new mentor: the previous one no longer takes "
        "requests. I will tell you here when someone takes it."
    ).format(number=f"<b>#{ticket.id}</b>")


def _mentor_notice(
    programme: Programme, who: Person, returned: list[Ticket], _language: str
) -> str:
    text = _(
        "{who} deactivated you as a mentor of «{programme}»: no new requests will come."
    ).format(who=html.escape(who.display_name), programme=html.escape(programme.title))
    if returned:
        text += " " + _("Your requests {numbers} went to other mentors.").format(
            numbers=", ".join(f"#{t.id}" for t in returned)
        )
    return text


async def release(
    returned: list[Ticket],
    mentor: Person,
    programme: Programme,
    actor: Actor,
    news: TicketNews,
) -> int:
    """Offer each returned request to the mentors of its topic; to how many, in all."""
    cards = 0
    for ticket in returned:
        cards += await news.offer(ticket)
        await news.tell_author(ticket, partial(_waiting_again, ticket))
    await news.tell_person(mentor, partial(_mentor_notice, programme, actor.person, returned))
    return cards
