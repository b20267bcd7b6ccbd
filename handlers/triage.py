"""«General, then specialist»: ``/triage on|off`` for coordinators, and a general consultant
passing a request to a specialist.

The claimed card of a request in triage carries «Pass to a specialist»: the consultant picks a
topic, then writes a note in the next message or presses «Without a note». ``/escalate N topic
[note]`` does the same in one command. Every step loads the request again and checks the
presser: buttons are never trusted.
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery.outbox import MessageRef
from bot.domain import tickets, triage
from bot.domain.access import Actor
from bot.domain.errors import DomainError
from bot.domain.matching import general_consultants
from bot.domain.programmes import get_programme, list_programmes
from bot.domain.topics import get_topic, list_topics, match_topic
from bot.news.tickets import TicketNews
from bot.telegram.replies import Replies
from bot.views.tickets import (
    EscalateButton,
    escalate_note_keyboard,
    escalate_topics_keyboard,
    number,
    topic_title,
)
from bot.views.triage import (
    TriageSwitch,
    escalate_usage,
    note_prompt,
    passed_text,
    switch_keyboard,
    triage_state,
    triage_usage,
)
from handlers.common import (
    IN_PRIVATE,
    NotCommand,
    command_for,
    content_of,
    invalid_button,
    parse_number,
)
from handlers.ticket_common import refusal
from models import GroupChat, Programme, RoleKind, Ticket, TicketStatus, Topic

ON_WORDS = frozenset({"on", "вкл", "включить", "да", "włącz", "wlacz", "tak"})
OFF_WORDS = frozenset({"off", "выкл", "выключить", "нет", "wyłącz", "wylacz", "nie"})
TICKET_KEY = "escalate_ticket"
TOPIC_KEY = "escalate_topic"
PROMPT_KEY = "escalate_prompt"


class Escalation(StatesGroup):
    """A general consultant chose a topic and is writing the note for the specialists."""

    note = State()


def router() -> Router:
    router = Router(name="triage")
    router.message.register(triage_command, Command("triage"))
    router.callback_query.register(switch_pressed, TriageSwitch.filter())
    # A switch whose data does not even parse (forged): answered, not left spinning.
    router.callback_query.register(invalid_button, F.data.startswith(f"{TriageSwitch.__prefix__}:"))
    command_for(router, "escalate", escalate_command)
    router.message.register(
        cancel_note, Command("cancel"), IN_PRIVATE, StateFilter(Escalation.note)
    )
    router.message.register(note_given, StateFilter(Escalation.note), IN_PRIVATE, NotCommand())
    router.callback_query.register(escalate_pressed, EscalateButton.filter())
    return router


# --- the switch ---------------------------------------------------------------------------------


async def _states(session: AsyncSession, programmes: list[Programme]) -> str:
    return "\n\n".join(
        [triage_state(p, await general_consultants(session, p.id)) for p in programmes]
    )


async def triage_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    outbox: Replies,
    actor: Actor,
    now: datetime,
    group: GroupChat | None = None,
) -> None:
    word = (command.args or "").strip().lower()
    wanted = True if word in ON_WORDS else False if word in OFF_WORDS else None
    if word and wanted is None:
        await outbox.answer(message, triage_usage())
        return
    if message.chat.type != "private":
        if group is None or group.programme_id is None:
            await outbox.reply(message, _("Register this group first: /register"))
            return
        programmes = [p for p in [await get_programme(session, group.programme_id)] if p]
    else:
        ids = None if actor.is_admin else actor.programmes(RoleKind.coordinator)
        programmes = await list_programmes(session, ids)
    programmes = [p for p in programmes if triage.may_switch(actor, p.id)]
    if not programmes:
        await outbox.answer(message, _("Only a coordinator of the programme can switch triage."))
        return
    if wanted is None:
        await outbox.answer(
            message, await _states(session, programmes), reply_markup=switch_keyboard(programmes)
        )
        return
    if len(programmes) > 1:
        await outbox.answer(
            message,
            _("Switch triage in which programme?"),
            reply_markup=switch_keyboard(programmes, turn_to=wanted),
        )
        return
    await triage.set_triage(session, programmes[0], wanted, actor, now)
    await outbox.answer(message, await _states(session, programmes))


async def switch_pressed(
    query: CallbackQuery,
    callback_data: TriageSwitch,
    session: AsyncSession,
    outbox: Replies,
    actor: Actor,
    now: datetime,
) -> Any:
    programme = await get_programme(session, callback_data.programme)
    if programme is None or callback_data.on not in (0, 1):
        return await outbox.callback(query, _("This button is not valid."), show_alert=True)
    try:
        await triage.set_triage(session, programme, bool(callback_data.on), actor, now)
    except DomainError as error:
        return await outbox.callback(query, refusal(error), show_alert=True)
    await outbox.callback(query, _("Done."))
    if isinstance(query.message, Message):
        await outbox.edit_message(query.message, await _states(session, [programme]))
    return None


# --- passing a request on -----------------------------------------------------------------------


async def _pass_on(
    ticket: Ticket, topic: Topic, note: str | None, actor: Actor, news: TicketNews
) -> str:
    """Escalate, tell everyone concerned; what the consultant reads back."""
    await triage.escalate_ticket(news.session, ticket, actor.person, topic, note, news.now)
    offered = await news.escalated(ticket, actor.person)
    return passed_text(ticket, topic, offered, actor.language)


def _refusal(error: DomainError, actor: Actor) -> str:
    if isinstance(error, triage.TopicArchived):
        return _("The topic «{topic}» is archived: choose an active one.").format(
            topic=topic_title(error.topic, actor.language)
        )
    return refusal(error)


async def _forget(state: FSMContext, ticket_id: int | None = None) -> None:
    """Leave the note step (only if it was about ``ticket_id``, when given)."""
    if await state.get_state() != Escalation.note.state:
        return
    data = await state.get_data()
    if ticket_id is None or data.get(TICKET_KEY) == ticket_id:
        await state.set_state(None)
        await state.update_data({TICKET_KEY: None, TOPIC_KEY: None, PROMPT_KEY: None})


async def escalate_pressed(
    query: CallbackQuery,
    callback_data: EscalateButton,
    session: AsyncSession,
    outbox: Replies,
    actor: Actor,
    state: FSMContext,
    news: TicketNews,
) -> Any:
    message = query.message
    action = callback_data.action
    # These buttons live on a consultant's card and prompt, in private: anywhere else they
    # are forged.
    if (
        action not in ("start", "topic", "skip", "back", "cancel")
        or not isinstance(message, Message)
        or message.chat.type != "private"
    ):
        return await outbox.callback(query, _("This button is not valid."), show_alert=True)
    try:
        ticket = await tickets.get_ticket(session, callback_data.ticket)
    except DomainError as error:
        return await outbox.callback(query, refusal(error), show_alert=True)
    if action in ("cancel", "back"):
        await _step_back(query, message, action, ticket, actor, state, news, outbox)
        return None
    try:
        await triage.check_escalation(session, actor.person, ticket)
    except DomainError as error:
        return await outbox.callback(query, _refusal(error, actor), show_alert=True)
    if action == "start":
        topics = await list_topics(session, ticket.programme_id)
        await outbox.callback(query, _("Choose the topic of the specialists below."))
        await outbox.edit_message_markup(
            message, escalate_topics_keyboard(ticket, topics, actor.language)
        )
        return None
    topic = await get_topic(session, ticket.programme_id, callback_data.topic, archived=True)
    if topic is None:
        return await outbox.callback(query, _("This button is not valid."), show_alert=True)
    try:
        triage.check_topic(ticket, topic)
    except DomainError as error:
        return await outbox.callback(query, _refusal(error, actor), show_alert=True)
    if action == "topic":
        await outbox.callback(query)
        _text, markup = await news.claimed_card(ticket, actor.person)
        await outbox.edit_message_markup(message, markup)
        prompt = await outbox.send(
            message.chat.id,
            note_prompt(ticket, topic, actor.language),
            markup=escalate_note_keyboard(ticket, topic),
            reply_to=message.message_id,
            purpose="escalation",
            person_id=actor.person.id,
        )
        await state.set_state(Escalation.note)
        await state.update_data(
            {TICKET_KEY: ticket.id, TOPIC_KEY: topic.id, PROMPT_KEY: prompt.outbox_id}
        )
        return None
    # «Without a note»
    try:
        text = await _pass_on(ticket, topic, None, actor, news)
    except DomainError as error:
        return await outbox.callback(query, _refusal(error, actor), show_alert=True)
    await _forget(state, ticket.id)
    await outbox.callback(query, _("Passed on."))
    await outbox.edit_message(message, text)
    return None


async def _step_back(
    query: CallbackQuery,
    message: Message,
    action: str,
    ticket: Ticket,
    actor: Actor,
    state: FSMContext,
    news: TicketNews,
    outbox: Replies,
) -> None:
    """«Cancel» under the note's prompt, or «Back» under the topics: nothing is passed on."""
    if ticket.assignee_id != actor.person.id:
        await _forget(state, ticket.id)
        await outbox.callback(query, _("This button is not valid."), show_alert=True)
        return
    if action == "cancel":
        await _forget(state, ticket.id)
        await outbox.callback(query)
        await outbox.edit_message(
            message,
            _("Nothing was passed on: request {number} stays as it was.").format(
                number=number(ticket)
            ),
        )
        return
    await outbox.callback(query)
    if ticket.status == TicketStatus.claimed:
        _text, markup = await news.claimed_card(ticket, actor.person)
        await outbox.edit_message_markup(message, markup)
    else:
        await outbox.edit_message_markup(message, None)


async def cancel_note(message: Message, outbox: Replies, state: FSMContext) -> None:
    await _forget(state)
    await outbox.answer(message, _("Nothing was passed on: the request stays with you."))


async def note_given(
    message: Message,
    session: AsyncSession,
    outbox: Replies,
    actor: Actor,
    state: FSMContext,
    news: TicketNews,
) -> None:
    """The note for the specialists, in the message after the topic was chosen."""
    data = await state.get_data()
    text = content_of(message).strip()
    if not text:
        await outbox.reply(
            message, _("Write the note as text, or press «Without a note». To stop: /cancel")
        )
        return
    try:
        note = triage.clean_note(text)
        ticket = await tickets.get_ticket(session, int(data.get(TICKET_KEY) or 0))
    except tickets.RequestTooLong as error:
        await outbox.reply(message, refusal(error))  # the consultant may shorten it
        return
    except DomainError as error:
        await _forget(state)
        await outbox.reply(message, refusal(error))
        return
    prompt = MessageRef.of(None, data.get(PROMPT_KEY))
    topic_id = int(data.get(TOPIC_KEY) or 0)
    topic = await get_topic(session, ticket.programme_id, topic_id, archived=True)
    await _forget(state)
    if topic is None:
        await outbox.reply(message, _("This topic is gone. Press «Pass to a specialist» again."))
        return
    try:
        passed = await _pass_on(ticket, topic, note, actor, news)
    except DomainError as error:
        await outbox.reply(message, _refusal(error, actor))
        return
    if prompt is not None:
        await outbox.edit_markup(message.chat.id, prompt, None)
    await outbox.reply(message, passed)


async def escalate_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    outbox: Replies,
    actor: Actor,
    state: FSMContext,
    news: TicketNews,
) -> None:
    n, rest = parse_number(command.args)
    word, _space, note = rest.partition(" ")
    if n is None:
        codes = []
        for programme_id in actor.programmes(RoleKind.mentor):
            codes += [topic.code for topic in await list_topics(session, programme_id)]
        await outbox.answer(message, escalate_usage(list(dict.fromkeys(codes))))
        return
    try:
        ticket = await tickets.get_ticket(session, n)
        await triage.check_escalation(session, actor.person, ticket)
    except DomainError as error:
        await outbox.answer(message, _refusal(error, actor))
        return
    active = await list_topics(session, ticket.programme_id)
    codes = [t.code for t in active]
    if not word:
        await outbox.answer(message, escalate_usage(codes))
        return
    topic = match_topic(active, word)
    if topic is None:
        every = await list_topics(session, ticket.programme_id, archived=True)
        archived = match_topic([t for t in every if not t.active], word)
        if archived is not None:
            refused = _refusal(triage.TopicArchived(archived), actor)
            await outbox.answer(message, refused + "\n" + escalate_usage(codes))
            return
        await outbox.answer(
            message,
            _("Unknown topic: {word}.").format(word=html.escape(word[:40]))
            + "\n"
            + escalate_usage(codes),
        )
        return
    try:
        text = await _pass_on(ticket, topic, note, actor, news)
    except DomainError as error:
        await outbox.answer(message, _refusal(error, actor))
        return
    await _forget(state, ticket.id)
    await outbox.answer(message, text)
