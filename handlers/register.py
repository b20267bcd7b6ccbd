"""Who is reached: the answers to the town and organisation question, ``/profile`` for a
person's own, and ``/people``, the programmes' register, for their coordinators."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiogram import Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import lazy_gettext as __
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.domain import register, stats
from bot.domain.access import Actor
from bot.domain.programmes import list_programmes
from bot.domain.register import RegisterFilter
from bot.telegram.filters import HasRole
from bot.telegram.replies import Replies
from bot.views.register import (
    CHANGE,
    ORGANISATION,
    SKIP,
    TOWN,
    WRITE_OWN,
    PeoplePage,
    ProfileButton,
    empty_answer_text,
    filter_text,
    pages_of,
    people_keyboard,
    people_text,
    profile_keyboard,
    profile_text,
    question,
    question_keyboard,
    saved_text,
    skipped_text,
    thanks_text,
    unknown_filter_text,
    write_prompt,
)
from handlers.common import IN_PRIVATE, NotCommand, command_for, zone_of
from models import RoleKind, Topic


class ProfileAnswer(StatesGroup):
    """A town or an organisation written in private, after «Another …»."""

    town = State()
    organisation = State()


def router() -> Router:
    router = Router(name="register")
    router.message.register(show_profile, Command("profile"), IN_PRIVATE)
    router.message.register(
        written, StateFilter(ProfileAnswer.town, ProfileAnswer.organisation), IN_PRIVATE,
        NotCommand(),
    )  # fmt: skip
    router.callback_query.register(profile_pressed, ProfileButton.filter())
    command_for(
        router,
        "people",
        people_command,
        HasRole(RoleKind.coordinator),
        refusal=__("The register of people is for programme coordinators."),
    )
    router.callback_query.register(people_page, PeoplePage.filter())
    return router


# --- the question and /profile ---------------------------------------------------------------


async def show_profile(
    message: Message, outbox: Replies, session: AsyncSession, actor: Actor, state: FSMContext
) -> None:
    await state.clear()
    profile = await register.profile_of(session, actor.person.id)
    await outbox.answer(message, profile_text(profile), reply_markup=profile_keyboard())


async def _offered(session: AsyncSession, what: str, programme_ids: list[int]) -> list[str]:
    if what == TOWN:
        return await register.known_towns(session, programme_ids, register.OFFERED)
    return await register.known_organisations(session, programme_ids, register.OFFERED)


async def profile_pressed(
    query: CallbackQuery,
    callback_data: ProfileButton,
    session: AsyncSession,
    outbox: Replies,
    actor: Actor,
    state: FSMContext,
    now: datetime,
) -> Any:
    message = query.message
    what, pick = callback_data.what, callback_data.pick
    if what not in (TOWN, ORGANISATION) or not isinstance(message, Message):
        return await outbox.callback(query, _("This button is not valid."), show_alert=True)
    private = message.chat.type == "private"
    mine = await register.person_programmes(session, actor.person.id)
    programme_ids = [callback_data.programme] if callback_data.programme in mine else mine
    if pick == CHANGE:
        offered = await _offered(session, what, programme_ids)
        await outbox.callback(query)
        return await outbox.edit_message(
            message,
            question(what, private=private),
            reply_markup=question_keyboard(what, offered, programme_ids[0] if programme_ids
                                           else 0, private=private),
        )  # fmt: skip
    if pick == SKIP:
        await register.skip(session, actor.person, now)
        await outbox.callback(query)
        return await outbox.edit_message(message, skipped_text())
    if pick == WRITE_OWN:
        if not private:
            return await outbox.callback(query, _("This button is not valid."), show_alert=True)
        await state.set_state(ProfileAnswer.town if what == TOWN else ProfileAnswer.organisation)
        await outbox.callback(query)
        return await outbox.edit_message(message, write_prompt(what))
    # An offered answer, found again by its place: the button carries no text.
    if callback_data.programme not in mine:
        return await outbox.callback(query, _("This button is not valid."), show_alert=True)
    offered = await _offered(session, what, [callback_data.programme])
    if not 0 <= pick < len(offered):
        return await outbox.callback(query, _("This button is not valid."), show_alert=True)
    await outbox.callback(query)
    text, markup = await _save(session, actor, what, offered[pick], [callback_data.programme],
                               now, private=private)  # fmt: skip
    return await outbox.edit_message(message, text, reply_markup=markup)


async def _save(
    session: AsyncSession,
    actor: Actor,
    what: str,
    answer: str,
    programme_ids: list[int],
    now: datetime,
    *,
    private: bool,
) -> tuple[str, Any]:
    """Store the answer; the text to show, and the organisation question after a town when
    the person has not named one yet."""
    if what == TOWN:
        saved = await register.set_town(session, actor.person, answer, now)
    else:
        saved = await register.set_organisation(session, actor.person, answer, now)
    text = saved_text(what, saved)
    profile = await register.profile_of(session, actor.person.id)
    if what == TOWN and profile is not None and profile.organisation is None and programme_ids:
        offered = await _offered(session, ORGANISATION, programme_ids)
        markup = question_keyboard(ORGANISATION, offered, programme_ids[0], private=private)
        return text + "\n\n" + question(ORGANISATION, private=private), markup
    return text + "\n" + thanks_text(), None


async def written(
    message: Message,
    session: AsyncSession,
    outbox: Replies,
    actor: Actor,
    state: FSMContext,
    now: datetime,
) -> None:
    what = TOWN if await state.get_state() == ProfileAnswer.town.state else ORGANISATION
    try:
        text, markup = await _save(
            session, actor, what, message.text or "",
            await register.person_programmes(session, actor.person.id), now, private=True,
        )  # fmt: skip
    except register.EmptyAnswer:
        await outbox.answer(message, empty_answer_text(what))
        return
    await state.clear()
    await outbox.answer(message, text, reply_markup=markup)


# --- /people ---------------------------------------------------------------------------------


async def people_command(
    message: Message,
    outbox: Replies,
    command: CommandObject,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    now: datetime,
) -> None:
    programmes = await list_programmes(session, stats.coordinated(actor))
    ids = [p.id for p in programmes]
    try:
        chosen = await register.parse_filter(session, ids, command.args)
    except register.UnknownFilter:
        await outbox.answer(message, unknown_filter_text(command.args or ""))
        return
    except register.EmptyAnswer:
        await outbox.answer(message, unknown_filter_text(command.args or ""))
        return
    kind, value = await _filter_ref(session, ids, chosen)
    await _show_people(message, outbox, session, actor, settings, ids, chosen, 0, (kind, value),
                       now, edit=False)  # fmt: skip


async def people_page(
    query: CallbackQuery,
    callback_data: PeoplePage,
    session: AsyncSession,
    outbox: Replies,
    actor: Actor,
    settings: Settings,
    now: datetime,
) -> Any:
    message = query.message
    if not isinstance(message, Message) or not (actor.is_admin or actor.has(RoleKind.coordinator)):
        return await outbox.callback(query, _("This button is not valid."), show_alert=True)
    programmes = await list_programmes(session, stats.coordinated(actor))
    ids = [p.id for p in programmes]
    chosen = await _filter_of(session, ids, callback_data.kind, callback_data.value)
    if chosen is None:
        return await outbox.callback(query, _("This button is not valid."), show_alert=True)
    await outbox.callback(query)
    await _show_people(message, outbox, session, actor, settings, ids, chosen,
                       callback_data.page, (callback_data.kind, callback_data.value), now,
                       edit=True)  # fmt: skip
    return None


async def _filter_ref(
    session: AsyncSession, ids: list[int], chosen: RegisterFilter
) -> tuple[str, int]:
    """The filter as the page buttons carry it: a kind and a number, never the text."""
    if chosen.town:
        return "t", (await register.known_towns(session, ids)).index(chosen.town)
    if chosen.organisation:
        return "o", (await register.known_organisations(session, ids)).index(chosen.organisation)
    if chosen.topic:
        topic = await session.scalar(
            select(Topic.id).where(Topic.programme_id.in_(ids), Topic.code == chosen.topic)
        )
        return "c", int(topic or 0)
    return "", 0


async def _filter_of(
    session: AsyncSession, ids: list[int], kind: str, value: int
) -> RegisterFilter | None:
    if kind == "":
        return RegisterFilter()
    if kind in ("t", "o"):
        known = await (register.known_towns if kind == "t" else register.known_organisations)(
            session, ids
        )
        if not 0 <= value < len(known):
            return None
        return (
            RegisterFilter(town=known[value])
            if kind == "t"
            else RegisterFilter(organisation=known[value])
        )
    if kind == "c":
        topic = await session.get(Topic, value)
        if topic is None or topic.programme_id not in ids:
            return None
        return RegisterFilter(topic=topic.code)
    return None


async def _show_people(
    message: Message,
    outbox: Replies,
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    ids: list[int],
    chosen: RegisterFilter,
    page: int,
    ref: tuple[str, int],
    now: datetime,
    *,
    edit: bool,
) -> None:
    programmes = await list_programmes(session, ids)
    entries = await register.register(session, ids, chosen, now)
    pages = pages_of(entries)
    page = min(max(page, 0), pages - 1)
    topic_title = None
    if chosen.topic:
        topic = await session.scalar(
            select(Topic).where(Topic.programme_id.in_(ids), Topic.code == chosen.topic)
        )
        topic_title = topic.title(actor.language) if topic is not None else None
    text = people_text(
        entries,
        page,
        [p.title for p in programmes],
        filter_text(chosen, topic_title),
        zone_of(actor, settings),
    )
    markup = people_keyboard(page, pages, *ref)
    if edit:
        await outbox.edit_message(message, text, reply_markup=markup)
    else:
        await outbox.answer(message, text, reply_markup=markup)
    register.record_view(session, actor.person.id, ids, chosen, len(entries), now)
