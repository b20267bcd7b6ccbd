"""``/mentors``: the roster of a programme's mentors, and changing their topics and capacity.

A coordinator can also deactivate a mentor: the requests the mentor held go back to the queue
and the other mentors of each topic get the cards, as for a new request.
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from aiogram import Router
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import lazy_gettext as __
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.domain import roster
from bot.domain.access import Actor
from bot.domain.errors import DomainError, NotFound
from bot.domain.programmes import get_programme, list_programmes
from bot.domain.roster import CAPACITY_CHOICES, LastTopic, RosterEntry
from bot.domain.stats import coordinated
from bot.domain.topics import get_topic, list_topics
from bot.news.tickets import TicketNews
from bot.telegram.filters import HasRole
from bot.telegram.replies import Replies
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
from models import Person, Programme, Role, RoleKind, Ticket


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
    message: Message, outbox: Replies, session: AsyncSession, actor: Actor, settings: Settings
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
    outbox: Replies,
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
    outbox: Replies,
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
    action = CARD_ACTIONS.get(callback_data.action)
    if programme is None or action is None:
        return await outbox.callback(query, _("This button is not valid."), show_alert=True)
    card = MentorCard(
        query=query,
        message=message,
        role=role,
        programme=programme,
        actor=actor,
        zone_name=zone_of(actor, settings),
        default_capacity=settings.mentor_capacity,
        session=session,
        outbox=outbox,
        news=news,
        now=now,
    )
    try:
        await action(card, callback_data.value)
    except DomainError as error:
        return await outbox.callback(query, _refusal(error), show_alert=True)
    return None


@dataclass(frozen=True)
class MentorCard:
    """A mentor's card in the roster, with what each of its buttons needs."""

    query: CallbackQuery
    message: Message
    role: Role
    programme: Programme
    actor: Actor
    zone_name: str
    default_capacity: int
    session: AsyncSession
    outbox: Replies
    news: TicketNews
    now: datetime

    async def entry(self) -> RosterEntry:
        """The mentor's roster entry as it is now."""
        return await roster.entry(self.session, self.role, default_capacity=self.default_capacity)

    async def show(self, note: str | None = None) -> None:
        """The card itself (under a note), in place of what the message showed."""
        found = await self.entry()
        text = card_text(found, self.programme, self.actor.language, self.zone_name)
        await self.outbox.edit_message(
            self.message, f"{note}\n\n{text}" if note else text, reply_markup=card_keyboard(found)
        )

    async def answer(self, text: str | None = None) -> None:
        await self.outbox.callback(self.query, text)

    async def invalid(self) -> None:
        await self.outbox.callback(self.query, _("This button is not valid."), show_alert=True)


async def _open(card: MentorCard, _value: int) -> None:
    await card.answer()
    await card.show()


async def _choose_topics(card: MentorCard, _value: int) -> None:
    found = await card.entry()
    topics = await list_topics(card.session, card.role.programme_id)
    await card.answer()
    await card.outbox.edit_message(
        card.message,
        topics_prompt(found),
        reply_markup=topics_keyboard(found, topics, card.actor.language),
    )


async def _toggle_topic(card: MentorCard, topic_id: int) -> None:
    topic = await get_topic(card.session, card.role.programme_id, topic_id)
    if topic is None:
        await card.invalid()
        return
    added = await roster.toggle_topic(card.session, card.actor, card.role, topic, card.now)
    title = topic.title(card.actor.language)
    await card.answer((_("Added: {topic}") if added else _("Removed: {topic}")).format(topic=title))
    topics = await list_topics(card.session, card.role.programme_id)
    await card.outbox.edit_message_markup(
        card.message, topics_keyboard(await card.entry(), topics, card.actor.language)
    )


async def _choose_capacity(card: MentorCard, _value: int) -> None:
    found = await card.entry()
    await card.answer()
    await card.outbox.edit_message(
        card.message, capacity_prompt(found), reply_markup=capacity_keyboard(found)
    )


async def _set_capacity(card: MentorCard, capacity: int) -> None:
    if capacity not in CAPACITY_CHOICES:
        await card.invalid()
        return
    await roster.set_capacity(card.session, card.actor, card.role, capacity, card.now)
    await card.answer(_("Capacity: {count}").format(count=capacity))
    await card.show()


async def _ask_to_deactivate(card: MentorCard, _value: int) -> None:
    found = await card.entry()
    await card.answer()
    if not card.role.active:
        await card.show()
        return
    await card.outbox.edit_message(
        card.message, deactivate_prompt(found), reply_markup=deactivate_keyboard(found)
    )


async def _deactivate(card: MentorCard, _value: int) -> None:
    was_active = card.role.active
    returned = await roster.deactivate(card.session, card.actor, card.role, card.now)
    mentor = await card.session.get_one(Person, card.role.person_id)
    cards = (
        await release(returned, mentor, card.programme, card.actor, card.news) if was_active else 0
    )
    await card.answer(_("Deactivated."))
    await card.show(returned_text(await card.entry(), [t.id for t in returned], cards))


async def _reactivate(card: MentorCard, _value: int) -> None:
    await roster.reactivate(card.session, card.actor, card.role, card.now)
    await card.answer(_("Reactivated."))
    await card.show()


# What each button of a mentor's card does, by its action; its value is the action's number.
CARD_ACTIONS: dict[str, Callable[[MentorCard, int], Awaitable[None]]] = {
    "card": _open,
    "topics": _choose_topics,
    "topic": _toggle_topic,
    "capacity": _choose_capacity,
    "cap": _set_capacity,
    "off": _ask_to_deactivate,
    "off_yes": _deactivate,
    "on": _reactivate,
}


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
