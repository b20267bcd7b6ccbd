"""Consent: the answers to a programme's notice, and ``/privacy`` for its coordinators.

A request that waited for its author's consent (``handlers.tickets``) is filed from the inbox
once they consent, exactly as if it had just arrived, and discarded, text included, if not.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from aiogram import Bot, Router
from aiogram.filters import CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, Update
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import lazy_gettext as __
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.domain import consent
from bot.domain.access import Actor
from bot.domain.errors import InvalidInput
from bot.domain.programmes import list_programmes
from bot.domain.topic_learning import Suggesters
from bot.domain.topics import ActiveTopics, list_topics
from bot.news.tickets import TicketNews
from bot.telegram.filters import HasRole
from bot.telegram.replies import Replies
from bot.views.consent import (
    ConsentButton,
    answered_text,
    consent_keyboard,
    consent_question,
    notice_text,
    privacy_state,
    privacy_usage,
    retention_text,
)
from bot.views.tickets import name
from handlers.common import command_for, content_of
from handlers.tickets import Draft, discard_draft, file_in_group, request_text, resume_draft
from models import GroupChat, HeldRequest, Programme, RoleKind

_WORD_AND_REST = re.compile(r"(\S*)\s*(.*)", re.DOTALL)
_ON = frozenset({"on", "вкл", "да", "tak", "yes"})
_OFF = frozenset({"off", "выкл", "нет", "nie", "no"})


def router() -> Router:
    router = Router(name="consent")
    router.callback_query.register(consent_pressed, ConsentButton.filter())
    command_for(
        router, "privacy", privacy, HasRole(RoleKind.coordinator),
        refusal=__("This command is for coordinators and admins."),
    )  # fmt: skip
    return router


# --- the answers -----------------------------------------------------------------------------


async def consent_pressed(
    query: CallbackQuery,
    callback_data: ConsentButton,
    session: AsyncSession,
    outbox: Replies,
    actor: Actor,
    state: FSMContext,
    news: TicketNews,
    suggesters: Suggesters,
    active_topics: ActiveTopics,
    bot: Bot,
    now: datetime,
    group: GroupChat | None = None,
    programme: Programme | None = None,
    inbox_update_id: int | None = None,
) -> Any:
    message = query.message
    if callback_data.held and inbox_update_id is not None:
        # The press quotes the question, which quotes the request: kept no longer than the
        # request itself.
        await consent.blank_update(session, inbox_update_id)
    asked = await session.get(Programme, callback_data.programme)
    if not isinstance(message, Message) or asked is None:
        return await outbox.callback(query, _("This button is not valid."), show_alert=True)
    held: HeldRequest | None = None
    if callback_data.held:
        held = await consent.held_request(session, callback_data.held)
        if held is None or held.programme_id != asked.id or held.kind != callback_data.kind:
            return await outbox.callback(
                query, _("This question has already been answered."), show_alert=True
            )
        if held.person_id != actor.person.id:
            asked_person = await news.person(held.person_id)
            return await outbox.callback(
                query,
                _("Only {name} can answer this.").format(name=name(asked_person)),
                show_alert=True,
            )
    kind, given = callback_data.kind, callback_data.yes
    if callback_data.version != asked.notice_version:
        # The notice changed since it was shown: the answer would be to a text not read.
        await outbox.callback(query, _("The notice has changed: please read it again."))
        await outbox.edit_message(
            message,
            consent_question(asked, kind, None, actor.language),
            reply_markup=consent_keyboard(asked, kind, callback_data.held),
        )
        return None
    await consent.answer(session, actor.person.id, asked, kind, given=given, now=now)
    if held is not None:
        await consent.release(session, held)
        return await _held_answered(
            query, message, held, given, bot, outbox, actor, news, suggesters, active_topics,
            group, programme,
        )  # fmt: skip
    data = await state.get_data()
    if (
        await state.get_state() == Draft.consent.state
        and data.get("programme_id") == asked.id
        and data.get("consent_kind") == kind.value
    ):
        if given:
            await outbox.callback(query, answered_text(kind, given=True))
            await resume_draft(message, session, outbox, actor, state, suggesters)
        else:
            await discard_draft(session, state)
            await outbox.edit_message(message, answered_text(kind, given=False))
        return None
    # The notice shown with an invitation: nothing waits for the answer.
    answer = answered_text(kind, given=True) if given else _("Your answer is recorded: no consent.")
    await outbox.edit_message(message, notice_text(asked) + "\n\n" + answer)
    return None


async def _held_answered(
    query: CallbackQuery,
    message: Message,
    held: HeldRequest,
    given: bool,
    bot: Bot,
    outbox: Replies,
    actor: Actor,
    news: TicketNews,
    suggesters: Suggesters,
    active_topics: ActiveTopics,
    group: GroupChat | None,
    programme: Programme | None,
) -> None:
    session = news.session
    if not given:
        if held.update_id is not None:
            await consent.blank_update(session, held.update_id)
        await outbox.edit_message(message, answered_text(held.kind, given=False))
        return
    await outbox.edit_message(message, answered_text(held.kind, given=True))
    payload = None if held.update_id is None else await consent.kept_update(session, held.update_id)
    request = None
    if payload is not None:
        request = Update.model_validate_json(payload, context={"bot": bot}).message
    if request is None:
        await outbox.callback(
            query, _("Your request is no longer kept: please send it again."), show_alert=True
        )
        return
    me = await bot.me()
    await file_in_group(
        request, request_text(content_of(request), me.username), outbox, actor, news, suggesters,
        active_topics, group, programme, update_id=held.update_id,
    )  # fmt: skip


# --- /privacy --------------------------------------------------------------------------------


async def privacy(
    message: Message,
    outbox: Replies,
    command: CommandObject,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    now: datetime,
) -> None:
    """``/privacy``: the operator and the notice of the coordinator's programmes; with
    ``operator Name``, ``notice Text``, ``default`` or ``health code on|off``, changed in every
    one of them."""
    match = _WORD_AND_REST.match((command.args or "").strip())
    word, rest = (match.group(1).casefold(), match.group(2).strip()) if match else ("", "")
    ids = None if actor.is_admin else actor.programmes(RoleKind.coordinator)
    found = [p for p in await list_programmes(session, ids) if actor.coordinates(p.id)]
    if not found:
        await outbox.answer(
            message, _("No programmes yet. An admin creates one with /newprogramme Title.")
        )
        return
    try:
        if word == "operator" and rest:
            for programme in found:
                await consent.set_operator(session, programme, rest, actor, now)
        elif word == "notice" and rest:
            for programme in found:
                await consent.set_notice(session, programme, rest, actor, now)
        elif word == "default" and not rest:
            for programme in found:
                await consent.set_notice(session, programme, None, actor, now)
        elif word == "health" and rest:
            await _mark_health(session, found, rest, actor, now)
        elif word:
            raise InvalidInput(word)
    except InvalidInput:
        await outbox.answer(message, privacy_usage())
        return
    states = []
    for programme in found:
        topics = await list_topics(session, programme.id)
        states.append(privacy_state(programme, [t for t in topics if t.health], actor.language))
    states.append(retention_text(settings.retention))
    if not word:
        states.append(privacy_usage())
    await outbox.answer(message, "\n\n".join(states))


async def _mark_health(
    session: AsyncSession, programmes: list[Programme], rest: str, actor: Actor, now: datetime
) -> None:
    """``code on|off``: every topic of that code among the programmes, or nothing."""
    code, _sep, switch = rest.casefold().partition(" ")
    switch = switch.strip()
    if switch not in _ON | _OFF:
        raise InvalidInput(rest)
    marked = []
    for programme in programmes:
        topic = next((t for t in await list_topics(session, programme.id) if t.code == code), None)
        if topic is not None:
            marked.append((programme, topic))
    if not marked:
        raise InvalidInput(code)
    for programme, topic in marked:
        await consent.set_health(session, programme, topic, switch in _ON, actor, now)
